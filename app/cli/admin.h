/* admin.h: `aispm admin ...` operator commands. */
#ifndef AISPM_CLI_ADMIN_H
#define AISPM_CLI_ADMIN_H

/* argv[0] is the admin command name; returns the process exit status */
int admin_main(const char *config_path, int argc, char **argv);

#endif
