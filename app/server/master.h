/* master.h: `aispm serve`, the prefork supervisor. */
#ifndef AISPM_SERVER_MASTER_H
#define AISPM_SERVER_MASTER_H

int master_run(const char *config_path);

#endif
