/*
 * main.c: `aispm` subcommand dispatch.
 *
 *   aispm [-c CONFIG] serve
 *   aispm [-c CONFIG] admin <command> [options]   (see usage())
 *
 * CONFIG defaults to $AISPM_CONFIG, then /etc/aispm/aispm.conf.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "cli/admin.h"
#include "reports/scheduler.h"
#include "core/log.h"
#include "reports/delivery.h"
#include "reports/evidence_rooms.h"
#include "reports/retention.h"
#include "server/master.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: aispm [-c CONFIG] <command>\n"
            "\n"
            "commands:\n"
            "  serve                          run the prefork FastCGI server (SIGTERM drains, SIGHUP reloads)\n"
            "  admin migrate                  create/upgrade the schema and the application user\n"
            "  admin keygen                   create the evidence and package signing keys if missing\n"
            "  admin keygen --rotate-package-key  retire the package signing key, create a new one\n"
            "  admin create-tenant --slug S --name N\n"
            "  admin create-user --tenant S --email E --role R [--name N] (password from $AISPM_PASSWORD)\n"
            "  admin create-token --tenant S --user EMAIL --scopes a,b [--name N] [--ttl-days D]\n"
            "  admin seed-demo [--logins-file F] [--base-url URL]\n"
            "  admin link-evidence            link pending evidence events into their chains now\n"
            "  admin checkpoint [--tenant S]  sign chain-head checkpoints now\n"
            "  admin scheduler-tick [--now RFC3339]  run the report scheduler once as of that time\n"
            "  admin verify-audit [--tenant S] verify evidence chains and checkpoints (exit 1 if broken)\n"
            "  admin retention-sweep [--now RFC3339] [--tenant S]\n"
            "                                 archive expired reports (not those on legal hold), expire undecided\n"
            "                                 retention requests, purge deleted content (--now: as if it were then)\n"
            "  admin render --tenant S --report ID --format F --out FILE [--repeat N] [--from D --to D]\n"
            "                                 render in-process (no queue, no artifact), print per-render ms and peak RSS\n"
            "  admin export-public-key        print the evidence key's public key (PEM) and JWK\n"
            "  admin rbac-matrix              print the role/permission matrix (Markdown)\n");
}

int main(int argc, char **argv) {
    /* every time the program handles is UTC; libraries that use local time
     * (libzip entry times) must not vary with the host's zone */
    setenv("TZ", "UTC", 1);
    tzset();
    /* libcurl's global state (TLS backends) before any thread or fork;
     * approval handlers of the areas registered once per process */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    delivery_init();
    rooms_init();
    scheduler_init();
    retention_init();
    const char *config = getenv("AISPM_CONFIG");
    if (!config) config = "/etc/aispm/aispm.conf";
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[i + 1];
            i += 2;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[i], "serve")) return master_run(config);
    if (!strcmp(argv[i], "admin") && i + 1 < argc) {
        log_set_proc("admin");
        return admin_main(config, argc - i - 1, argv + i + 1);
    }
    usage(stderr);
    return 2;
}
