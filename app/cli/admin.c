/*
 * admin.c: operator commands. They use the same modules as the server (no
 * second implementation of any rule) and record evidence with the actor
 * "system:cli" for every change they make to a tenant.
 */
#include "cli/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/evidence.h"
#include "reports/evidence_rooms.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/ref.h"
#include "core/text.h"
#include "core/timeutil.h"
#include "crypto/keys.h"
#include "db/db.h"
#include "db/migrate.h"
#include "render/template.h"
#include "reports/export_packages.h"
#include "reports/ingestion.h"
#include "reports/scheduler.h"
#include "reports/retention.h"
#include "reports/renderer.h"
#include "reports/recipients.h"
#include "server/auth.h"
#include "server/rbac.h"

typedef struct {
    config_t cfg;
    db_t *db;
} admin_t;

static const char *opt(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static int need_db(admin_t *a) {
    if (db_connect(&a->cfg, false, true, &a->db) != 0) {
        fprintf(stderr, "aispm: cannot connect to the database as %s (run `aispm admin migrate` first?)\n",
                a->cfg.db_user);
        return 1;
    }
    return 0;
}

/* actor used for CLI changes: a system actor bound to one tenant */
static int load_tenant(admin_t *a, const char *slug, actor_t *out) {
    memset(out, 0, sizeof *out);
    db_res_t *res;
    if (db_query(a->db, "SELECT id, ref, slug, name FROM tenants WHERE slug = ?", DB_ARGS(DBS(slug)), &res)) return 1;
    int found = db_res_next(res);
    if (found) {
        out->kind = ACTOR_SYSTEM;
        out->tenant_id = db_res_int(res, 0);
        snprintf(out->tenant_ref, sizeof out->tenant_ref, "%s", db_res_str(res, 1));
        snprintf(out->tenant_slug, sizeof out->tenant_slug, "%s", db_res_str(res, 2));
        snprintf(out->tenant_name, sizeof out->tenant_name, "%s", db_res_str(res, 3));
        snprintf(out->user_ref, sizeof out->user_ref, "system:cli");
        snprintf(out->role, sizeof out->role, "platform_operator");
        out->licence_ok = true;
    }
    db_res_free(res);
    return found ? 0 : AISPM_ENOTFOUND;
}

static bool slug_ok(const char *s) {
    if (!*s || strlen(s) > 63) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-')) return false;
    return true;
}

static int create_tenant(admin_t *a, const char *slug, const char *name, actor_t *out, bool *created) {
    *created = false;
    if (load_tenant(a, slug, out) == 0) return 0;
    char ref[REF_MAX];
    ref_new("tenant", ref);
    int rc = db_begin(a->db);
    if (!rc)
        rc = db_exec(a->db, "INSERT INTO tenants (ref, slug, name) VALUES (?, ?, ?)",
                     DB_ARGS(DBS(ref), DBS(slug), DBS(name)), NULL, NULL);
    if (!rc) rc = db_commit(a->db);
    else db_rollback(a->db);
    if (rc) return rc;
    if ((rc = load_tenant(a, slug, out))) return rc;
    json_object *d = json_object_new_object();
    json_object_object_add(d, "slug", json_object_new_string(slug));
    rc = db_begin(a->db);
    if (!rc) rc = auth_evidence(a->db, out, "tenant.created", out->tenant_ref, "success", NULL, d, NULL);
    if (!rc) rc = db_commit(a->db);
    json_object_put(d);
    *created = true;
    return rc;
}

/* creates the user, or resets the password when reset and it exists */
static int upsert_user(admin_t *a, const actor_t *t, const char *email, const char *role, const char *name,
                       const char *password, bool reset, char user_ref[REF_MAX], long long *user_id) {
    if (!email_valid(email)) return AISPM_EINVAL;
    if (!rbac_role_valid(role)) return AISPM_EINVAL;
    char hash[256];
    int rc = password_hash(password, hash, sizeof hash);
    if (rc) return rc;
    char lower[256];
    snprintf(lower, sizeof lower, "%s", email);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z') *p += 32;
    db_res_t *res;
    rc = db_query(a->db, "SELECT id, ref, tenant_id FROM users WHERE email = ?", DB_ARGS(DBS(lower)), &res);
    if (rc) return rc;
    bool exists = db_res_next(res);
    long long uid = exists ? db_res_int(res, 0) : 0, tid = exists ? db_res_int(res, 2) : 0;
    if (exists) snprintf(user_ref, REF_MAX, "%s", db_res_str(res, 1));
    db_res_free(res);
    if (exists && tid != t->tenant_id) return AISPM_ECONFLICT;
    rc = db_begin(a->db);
    const char *action = "user.created";
    if (exists) {
        if (!reset) {
            db_rollback(a->db);
            *user_id = uid;
            return AISPM_ECONFLICT;
        }
        action = "user.password_reset";
        rc = db_exec(a->db, "UPDATE users SET password_hash = ?, role = ? WHERE id = ? AND tenant_id = ?",
                     DB_ARGS(DBS(hash), DBS(role), DBI(uid), DBI(t->tenant_id)), NULL, NULL);
    } else {
        ref_new("user", user_ref);
        uint64_t id = 0;
        if (!rc)
            rc = db_exec(a->db,
                         "INSERT INTO users (ref, tenant_id, email, display_name, role, password_hash) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         DB_ARGS(DBS(user_ref), DBI(t->tenant_id), DBS(lower), DBS(name), DBS(role), DBS(hash)), NULL,
                         &id);
        uid = (long long)id;
    }
    if (!rc) {
        json_object *d = json_object_new_object();
        json_object_object_add(d, "role", json_object_new_string(role));
        rc = auth_evidence(a->db, t, action, user_ref, "success", NULL, d, NULL);
        json_object_put(d);
    }
    if (rc) {
        db_rollback(a->db);
        return rc;
    }
    *user_id = uid;
    return db_commit(a->db);
}

static int cmd_create_tenant(admin_t *a, int argc, char **argv) {
    const char *slug = opt(argc, argv, "--slug"), *name = opt(argc, argv, "--name");
    if (!slug || !name || !slug_ok(slug) || strlen(name) > 200) {
        fprintf(stderr, "usage: aispm admin create-tenant --slug [a-z0-9-]+ --name NAME\n");
        return 2;
    }
    if (need_db(a)) return 1;
    actor_t t;
    bool created;
    if (create_tenant(a, slug, name, &t, &created)) {
        fprintf(stderr, "aispm: cannot create tenant\n");
        return 1;
    }
    printf("%s\n", t.tenant_ref);
    return 0;
}

static int cmd_create_user(admin_t *a, int argc, char **argv) {
    const char *slug = opt(argc, argv, "--tenant"), *email = opt(argc, argv, "--email"),
               *role = opt(argc, argv, "--role"), *name = opt(argc, argv, "--name");
    const char *pw = getenv("AISPM_PASSWORD");
    if (!slug || !email || !role) {
        fprintf(stderr, "usage: AISPM_PASSWORD=... aispm admin create-user --tenant S --email E --role R [--name N]\n");
        return 2;
    }
    if (!pw || strlen(pw) < 12) {
        fprintf(stderr, "aispm: set AISPM_PASSWORD to a password of at least 12 characters\n");
        return 2;
    }
    if (!rbac_role_valid(role)) {
        fprintf(stderr, "aispm: unknown role %s\n", role);
        return 2;
    }
    if (need_db(a)) return 1;
    actor_t t;
    if (load_tenant(a, slug, &t)) {
        fprintf(stderr, "aispm: no tenant %s\n", slug);
        return 1;
    }
    char ref[REF_MAX];
    long long uid;
    int rc = upsert_user(a, &t, email, role, name ? name : email, pw, false, ref, &uid);
    if (rc) {
        fprintf(stderr, "aispm: cannot create user (%s)\n", rc == AISPM_ECONFLICT ? "exists" : "invalid");
        return 1;
    }
    printf("%s\n", ref);
    return 0;
}

static int cmd_create_token(admin_t *a, int argc, char **argv) {
    const char *slug = opt(argc, argv, "--tenant"), *email = opt(argc, argv, "--user"),
               *scopes_s = opt(argc, argv, "--scopes"), *name = opt(argc, argv, "--name"),
               *ttl_s = opt(argc, argv, "--ttl-days");
    unsigned scopes;
    if (!slug || !email || !scopes_s || rbac_scopes_parse(scopes_s, &scopes)) {
        fprintf(stderr, "usage: aispm admin create-token --tenant S --user EMAIL --scopes "
                        "reports:read,reports:write,ingest,admin [--name N] [--ttl-days D]\n");
        return 2;
    }
    if (need_db(a)) return 1;
    actor_t t;
    if (load_tenant(a, slug, &t)) {
        fprintf(stderr, "aispm: no tenant %s\n", slug);
        return 1;
    }
    db_res_t *res;
    if (db_query(a->db, "SELECT id, ref, role FROM users WHERE email = ? AND tenant_id = ?",
                 DB_ARGS(DBS(email), DBI(t.tenant_id)), &res))
        return 1;
    if (!db_res_next(res)) {
        db_res_free(res);
        fprintf(stderr, "aispm: no user %s in tenant %s\n", email, slug);
        return 1;
    }
    long long uid = db_res_int(res, 0);
    char uref[REF_MAX], role[33];
    snprintf(uref, sizeof uref, "%s", db_res_str(res, 1));
    snprintf(role, sizeof role, "%s", db_res_str(res, 2));
    db_res_free(res);
    token_created_t tc;
    int rc = tokens_create(a->db, &t, uid, uref, role, name ? name : "cli", scopes, ttl_s ? atoi(ttl_s) : 90, NULL, &tc);
    if (rc) {
        fprintf(stderr, "aispm: cannot create token (%s)\n",
                rc == AISPM_EFORBIDDEN ? "the user's role cannot use one of these scopes" : "invalid request");
        return 1;
    }
    printf("%s\n", tc.token);
    memset(tc.token, 0, sizeof tc.token);
    return 0;
}

#define PACKAGE_CERT_DAYS 3650

/* the package signing key (RSA-3072) and its self-signed certificate, each
 * created when missing */
static int package_keygen(admin_t *a) {
    if (access(a->cfg.package_key, F_OK) != 0) {
        if (key_generate(a->cfg.package_key, KEY_RSA, 3072)) {
            fprintf(stderr, "aispm: cannot create %s\n", a->cfg.package_key);
            return 1;
        }
        printf("created package signing key %s\n", a->cfg.package_key);
    }
    if (access(a->cfg.package_cert, F_OK) == 0) return 0;
    signing_key_t *k;
    if (key_load(a->cfg.package_key, &k)) {
        fprintf(stderr, "aispm: cannot load %s\n", a->cfg.package_key);
        return 1;
    }
    char cn[80];
    snprintf(cn, sizeof cn, "AISPM export package signing key %s", key_kid(k));
    buf_t pem = BUF_INIT;
    int rc = key_certificate(k, cn, now_ms() / 1000 - 300, PACKAGE_CERT_DAYS, &pem);
    if (!rc) rc = key_write_public_file(a->cfg.package_cert, pem.data, pem.len);
    if (rc)
        fprintf(stderr, "aispm: cannot create %s\n", a->cfg.package_cert);
    else
        printf("created package signing certificate %s (kid %s)\n", a->cfg.package_cert, key_kid(k));
    buf_free(&pem);
    key_free(k);
    return rc ? 1 : 0;
}

/* registers the current package key's JWK and certificate so they are
 * published (and stay published after a rotation) */
static int package_register(admin_t *a) {
    if (!a->db && need_db(a)) return 1;
    signing_key_t *k = NULL;
    buf_t der = BUF_INIT;
    int rc = packages_signing_material(a->db, &a->cfg, &k, &der);
    if (rc) fprintf(stderr, "aispm: the package key and certificate do not load or do not match\n");
    else printf("package signing key %s registered in /.well-known/jwks.json\n", key_kid(k));
    key_free(k);
    buf_free(&der);
    return rc ? 1 : 0;
}

/* --rotate-package-key: the old key and certificate (already registered, so
 * old packages keep verifying by kid) move aside as <path>.<kid>.retired and
 * a new pair takes their place; packages built from now on use it */
static int package_rotate(admin_t *a) {
    if (package_register(a)) return 1;
    signing_key_t *k;
    if (key_load(a->cfg.package_key, &k)) return 1;
    char kpath[1100], cpath[1100];
    snprintf(kpath, sizeof kpath, "%s.%s.retired", a->cfg.package_key, key_kid(k));
    snprintf(cpath, sizeof cpath, "%s.%s.retired", a->cfg.package_cert, key_kid(k));
    printf("retired package signing key %s\n", key_kid(k));
    key_free(k);
    if (rename(a->cfg.package_key, kpath) || rename(a->cfg.package_cert, cpath)) {
        fprintf(stderr, "aispm: cannot move the old package key aside: %s\n", strerror(errno));
        return 1;
    }
    if (package_keygen(a)) return 1;
    return package_register(a);
}

static int cmd_keygen(admin_t *a, int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--rotate-package-key")) return package_rotate(a);
    if (access(a->cfg.evidence_key, F_OK) == 0) {
        printf("evidence key exists: %s\n", a->cfg.evidence_key);
    } else {
        int rc = key_generate(a->cfg.evidence_key, KEY_ED25519, 0);
        if (rc) {
            fprintf(stderr, "aispm: cannot create %s\n", a->cfg.evidence_key);
            return 1;
        }
        printf("created evidence key %s\n", a->cfg.evidence_key);
    }
    if (package_keygen(a)) return 1;
    /* publishing needs the database; a keygen before migrate still succeeds
     * (the first package build registers the key) */
    if (db_connect(&a->cfg, false, true, &a->db) == 0) return package_register(a);
    printf("package key not registered yet (no database); the first package build registers it\n");
    return 0;
}

static int cmd_export_key(admin_t *a) {
    signing_key_t *k;
    if (key_load(a->cfg.evidence_key, &k)) {
        fprintf(stderr, "aispm: cannot load %s\n", a->cfg.evidence_key);
        return 1;
    }
    buf_t pem = BUF_INIT;
    json_object *jwk;
    key_public_pem(k, &pem);
    key_public_jwk(k, &jwk);
    printf("%s%s\n", buf_cstr(&pem), json_object_to_json_string_ext(jwk, JSON_C_TO_STRING_PLAIN));
    buf_free(&pem);
    json_object_put(jwk);
    key_free(k);
    return 0;
}

static void emit_line(const char *line, void *ctx) {
    (void)ctx;
    puts(line);
}

static const char *const demo_names[ROLE_COUNT] = {
    "Tara Admin", "Casey CSO", "Sam Security", "Riley Operator", "Avery Approver",
    "Alex Auditor", "Gray GRC", "Parker Platform", "Toni Trial", "Eve Evaluator",
};

#define DEMO_EVENTS 600
#define DEMO_DAYS 56
#define DEMO_BATCH 100

/* Loads the demo tenant's generated AISPM history through the ingestion
 * module (the API's code path), in batches. Idempotent: event ids are fixed,
 * so a second run finds only duplicates. */
static int seed_history(admin_t *a, const actor_t *t) {
    json_object *all = ingestion_demo_envelopes(t->tenant_ref, now_ms(), DEMO_EVENTS, DEMO_DAYS);
    int n = (int)json_object_array_length(all), accepted = 0, dup = 0, rejected = 0, rc = 0;
    for (int off = 0; off < n && !rc; off += DEMO_BATCH) {
        json_object *body = json_object_new_object(), *arr = json_object_new_array();
        for (int i = off; i < n && i < off + DEMO_BATCH; i++)
            json_object_array_add(arr, json_object_get(json_object_array_get_idx(all, (size_t)i)));
        json_object_object_add(body, "envelopes", arr);
        ingestion_outcome_t o;
        rc = ingestion_ingest_batch(a->db, t, body, NULL, &o);
        if (!rc && o.status == 200) {
            json_object *v;
            if (json_object_object_get_ex(o.body, "accepted", &v)) accepted += json_object_get_int(v);
            if (json_object_object_get_ex(o.body, "duplicates", &v)) dup += json_object_get_int(v);
            if (json_object_object_get_ex(o.body, "rejected", &v)) rejected += json_object_get_int(v);
        } else if (!rc) {
            rc = AISPM_EINVAL; /* the generator produced envelopes the validator refuses: a bug */
        }
        ingestion_outcome_free(&o);
        json_object_put(body);
    }
    json_object_put(all);
    if (rc || rejected) {
        fprintf(stderr, "aispm: loading the demo AISPM history failed (%d rejected)\n", rejected);
        return 1;
    }
    printf("demo AISPM history: %d events accepted, %d already present\n", accepted, dup);
    return 0;
}

/* hidden: prints the demo history as JSON lines (conformance tests) */
static int seed_dry_run(admin_t *a) {
    actor_t t;
    char ref[REF_MAX] = "tenant:00000000000000000000000000";
    if (db_connect(&a->cfg, false, true, &a->db) == 0 && load_tenant(a, "acme", &t) == 0)
        snprintf(ref, sizeof ref, "%s", t.tenant_ref);
    json_object *all = ingestion_demo_envelopes(ref, now_ms(), DEMO_EVENTS, DEMO_DAYS);
    for (size_t i = 0; i < json_object_array_length(all); i++)
        puts(json_object_to_json_string_ext(json_object_array_get_idx(all, i),
                                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(all);
    return 0;
}

/* a weekly board pack for the demo tenant, delivered to the CSO's portal
 * inbox on Monday mornings in London, so the schedules page, its preview and
 * the operations dashboard show something real on first login */
static int seed_demo_schedule(admin_t *a, const actor_t *t) {
    json_object *body = json_tokener_parse(
        "{\"name\": \"Weekly board pack\", \"report_ids\": [\"pdf_board_pack\"], \"formats\": [\"pdf\"],"
        " \"rrule\": \"FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=0\", \"timezone\": \"Europe/London\","
        " \"recipients\": [\"cso@acme.example\"], \"delivery_mode\": \"download\"}");
    schedule_outcome_t o;
    int rc = scheduler_create(a->db, t, body, "seed-demo", &o);
    json_object_put(body);
    if (!rc && o.status >= 300) {
        fprintf(stderr, "aispm: the demo schedule was refused (%d %s): %s\n", o.status, o.code ? o.code : "",
                o.body ? json_object_to_json_string(o.body) : "");
        rc = AISPM_EINVAL;
    }
    schedule_outcome_free(&o);
    return rc;
}

static int cmd_seed_demo(admin_t *a, int argc, char **argv) {
    const char *logins = opt(argc, argv, "--logins-file"), *base = opt(argc, argv, "--base-url");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--dry-run-json")) return seed_dry_run(a);
    if (need_db(a)) return 1;
    actor_t t;
    bool created;
    if (create_tenant(a, "acme", "Acme Financial (demo)", &t, &created)) {
        fprintf(stderr, "aispm: cannot create the demo tenant\n");
        return 1;
    }
    if (seed_history(a, &t)) return 1;
    /* a recipient policy to look at: acme.example internal, auditor.example
     * needs approval, competitor.example denied, one group */
    if (recipients_seed_default(a->db, t.tenant_id, t.tenant_ref, "acme.example")) {
        fprintf(stderr, "aispm: cannot seed the demo recipient policy\n");
        return 1;
    }
    if (created && seed_demo_schedule(a, &t)) {
        fprintf(stderr, "aispm: cannot seed the demo schedule\n");
        return 1;
    }
    /* keep existing logins when the file is there; otherwise (re)set passwords */
    if (logins && access(logins, R_OK) == 0 && !created) {
        FILE *f = fopen(logins, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
        if (f) fclose(f);
        return 0;
    }
    buf_t out = BUF_INIT;
    buf_printf(&out, "AISPM Report Center demo logins (tenant: %s, %s)\n", t.tenant_name, t.tenant_ref);
    if (base) buf_printf(&out, "Portal: %s/portal/login\n", base);
    buf_puts(&out, "\nrole              email                               password\n");
    for (int i = 0; i < ROLE_COUNT; i++) {
        char email[128], pw[40];
        uint8_t raw[15];
        random_bytes(raw, sizeof raw);
        b64url_encode(raw, sizeof raw, pw);
        snprintf(email, sizeof email, "%s@acme.example", rbac_roles[i]);
        for (char *p = email; *p; p++)
            if (*p == '_') *p = '.';
        char ref[REF_MAX];
        long long uid;
        int rc = upsert_user(a, &t, email, rbac_roles[i], demo_names[i], pw, true, ref, &uid);
        if (rc) {
            fprintf(stderr, "aispm: cannot create demo user %s\n", email);
            buf_free(&out);
            return 1;
        }
        buf_printf(&out, "%-17s %-35s %s\n", rbac_roles[i], email, pw);
    }
    if (logins) {
        FILE *f = NULL;
        int fd = open(logins, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            fchmod(fd, 0600);
            f = fdopen(fd, "w");
        }
        if (!f) {
            fprintf(stderr, "aispm: cannot write %s: %s\n", logins, strerror(errno));
            buf_free(&out);
            return 1;
        }
        fputs(buf_cstr(&out), f);
        fclose(f);
    }
    fputs(buf_cstr(&out), stdout);
    buf_free(&out);
    return 0;
}

static long long tenant_id_opt(admin_t *a, int argc, char **argv, bool *bad) {
    const char *slug = opt(argc, argv, "--tenant");
    *bad = false;
    if (!slug) return 0;
    actor_t t;
    if (load_tenant(a, slug, &t)) {
        fprintf(stderr, "aispm: no tenant %s\n", slug);
        *bad = true;
        return 0;
    }
    return t.tenant_id;
}

static int cmd_verify(admin_t *a, int argc, char **argv) {
    if (need_db(a)) return 1;
    bool bad;
    long long only = tenant_id_opt(a, argc, argv, &bad);
    if (bad) return 1;
    db_res_t *res;
    if (db_query(a->db, "SELECT id, slug FROM tenants WHERE (? = 0 OR id = ?) ORDER BY id",
                 DB_ARGS(DBI(only), DBI(only)), &res))
        return 1;
    long long ids[1024];
    char slugs[1024][64];
    int n = 0;
    while (n < 1024 && db_res_next(res)) {
        ids[n] = db_res_int(res, 0);
        snprintf(slugs[n], 64, "%s", db_res_str(res, 1));
        n++;
    }
    db_res_free(res);
    int failures = 0;
    for (int i = 0; i < n; i++) {
        evidence_verify_result_t v;
        if (evidence_verify(a->db, ids[i], a->cfg.evidence_max_link_delay_ms, &v)) {
            fprintf(stderr, "aispm: verification of %s could not run\n", slugs[i]);
            return 1;
        }
        if (v.ok) {
            printf("%s: OK %lld events, %lld checkpoints verified, %lld pending, head seq %lld digest %s\n", slugs[i],
                   v.events, v.checkpoints, v.pending, v.head_seq, v.head_digest);
        } else {
            failures++;
            printf("%s: FAILED %s at seq %lld%s%s: %s\n", slugs[i], v.problem, v.bad_seq, v.bad_ref[0] ? " event " : "",
                   v.bad_ref, v.message);
        }
        /* the evidence rooms' access-event chains */
        rooms_verify_result_t rv;
        if (rooms_verify(a->db, ids[i], &rv)) {
            fprintf(stderr, "aispm: verification of %s's evidence rooms could not run\n", slugs[i]);
            return 1;
        }
        if (rv.ok) {
            printf("%s: rooms OK %lld rooms, %lld access events verified\n", slugs[i], rv.rooms, rv.events);
        } else {
            failures++;
            printf("%s: rooms FAILED %s in %s at seq %lld: %s\n", slugs[i], rv.problem, rv.room_ref, rv.bad_seq,
                   rv.message);
        }
    }
    return failures ? 1 : 0;
}

static int cmd_link(admin_t *a) {
    if (need_db(a)) return 1;
    int total = 0, n;
    do {
        n = 0;
        if (evidence_link_pending(a->db, 0, 1000, &n)) return 1;
        total += n;
    } while (n > 0);
    printf("linked %d events\n", total);
    return 0;
}

static int cmd_checkpoint(admin_t *a, int argc, char **argv) {
    if (need_db(a)) return 1;
    bool bad;
    long long only = tenant_id_opt(a, argc, argv, &bad);
    if (bad) return 1;
    signing_key_t *k;
    if (key_load(a->cfg.evidence_key, &k)) {
        fprintf(stderr, "aispm: cannot load %s\n", a->cfg.evidence_key);
        return 1;
    }
    int n = 0;
    evidence_link_pending(a->db, only, 100000, NULL);
    int rc = evidence_checkpoint(a->db, k, only, 0, &n);
    key_free(k);
    printf("signed %d checkpoints\n", n);
    return rc ? 1 : 0;
}

/* one scheduler pass as of --now (default: the clock); prints its counts */
static int cmd_scheduler_tick(admin_t *a, int argc, char **argv) {
    int64_t now = now_ms();
    const char *at = opt(argc, argv, "--now");
    if (at && rfc3339_parse(at, &now)) {
        fprintf(stderr, "aispm: --now must be an RFC 3339 date-time\n");
        return 2;
    }
    if (need_db(a)) return 1;
    scheduler_stats_t st = {0};
    int rc = scheduler_tick(a->db, now, &st);
    char t[RFC3339_MAX];
    rfc3339_format(now, 0, t);
    printf("{\"now\":\"%s\",\"claimed\":%d,\"lost\":%d,\"skipped\":%d,\"deferred\":%d,\"blocked\":%d,"
           "\"rendering\":%d,\"delivered\":%d,\"retried\":%d,\"failed\":%d,\"ok\":%s}\n",
           t, st.claimed, st.lost, st.skipped, st.deferred, st.blocked, st.rendering, st.delivered, st.retried,
           st.failed, rc ? "false" : "true");
    return rc ? 1 : 0;
}

static int cmd_retention_sweep(admin_t *a, int argc, char **argv) {
    if (need_db(a)) return 1;
    bool bad;
    long long only = tenant_id_opt(a, argc, argv, &bad);
    if (bad) return 1;
    const char *at = opt(argc, argv, "--now");
    int64_t ms = now_ms();
    if (at && rfc3339_parse(at, &ms)) {
        fprintf(stderr, "usage: aispm admin retention-sweep [--now RFC3339] [--tenant S]\n");
        return 2;
    }
    retention_sweep_stats_t st;
    if (retention_sweep(a->db, &a->cfg, only, ms, &st)) {
        fprintf(stderr, "aispm: retention sweep failed\n");
        return 1;
    }
    evidence_link_pending(a->db, only, 100000, NULL);
    printf("archived %d, on legal hold %d, requests expired %d, purged %d\n", st.archived, st.held_skipped,
           st.requests_expired, st.purged);
    return 0;
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* YYYY-MM-DD -> ms of its 00:00 UTC */
static int day_ms(const char *d, int64_t *ms) {
    char t[40];
    if (!d || strlen(d) != 10) return 1;
    snprintf(t, sizeof t, "%sT00:00:00Z", d);
    return rfc3339_parse(t, ms) ? 1 : 0;
}

/* renders a report in-process (no queue, no artifact): the data is read
 * once, the render repeated N times; prints each render's time, then a
 * RESULT line with the median and the process's peak RSS (getrusage) */
static int cmd_render(admin_t *a, int argc, char **argv) {
    const char *slug = opt(argc, argv, "--tenant"), *report = opt(argc, argv, "--report"),
               *format = opt(argc, argv, "--format"), *outp = opt(argc, argv, "--out"),
               *rep = opt(argc, argv, "--repeat"), *from = opt(argc, argv, "--from"), *to = opt(argc, argv, "--to");
    int repeat = rep ? atoi(rep) : 1;
    if (!slug || !report || !format || !outp || repeat < 1 || repeat > RENDER_DIRECT_MAX) {
        fprintf(stderr, "usage: aispm admin render --tenant S --report ID --format F --out FILE [--repeat N (1-%d)] "
                        "[--from YYYY-MM-DD --to YYYY-MM-DD]\n", RENDER_DIRECT_MAX);
        return 2;
    }
    int64_t ps, pe;
    if (from || to) {
        if (day_ms(from, &ps) || day_ms(to, &pe) || pe < ps) {
            fprintf(stderr, "aispm: --from and --to must both be YYYY-MM-DD, from <= to\n");
            return 2;
        }
    } else {
        pe = now_ms() / 86400000 * 86400000;
        ps = pe - 29 * 86400000LL;
    }
    pe += 86400000; /* the end date is inclusive */
    char ps_sql[RFC3339_MAX], pe_sql[RFC3339_MAX];
    sql_datetime_format(ps, ps_sql);
    sql_datetime_format(pe, pe_sql);
    if (need_db(a)) return 1;
    actor_t t;
    if (load_tenant(a, slug, &t)) {
        fprintf(stderr, "aispm: no tenant %s\n", slug);
        return 1;
    }
    tmpl_set_t *tmpl = NULL;
    char terr[256];
    if (tmpl_set_load(a->cfg.templates_dir, &tmpl, terr, sizeof terr)) tmpl = NULL; /* html/md then fail */
    render_direct_stats_t *st = xcalloc(1, sizeof *st);
    buf_t out = BUF_INIT;
    int rc = renderer_render_direct(a->db, tmpl, &t, report, format, ps_sql, pe_sql, repeat, st, &out);
    tmpl_set_free(tmpl);
    if (rc) {
        fprintf(stderr, "aispm: render failed (%d)%s\n", rc, rc == AISPM_EINVAL ? ": report/format not renderable here" : "");
        free(st);
        buf_free(&out);
        return 1;
    }
    FILE *f = fopen(outp, "wb");
    if (!f || fwrite(out.data, 1, out.len, f) != out.len || fclose(f)) {
        fprintf(stderr, "aispm: cannot write %s\n", outp);
        free(st);
        buf_free(&out);
        return 1;
    }
    char digest[65];
    sha256_hex(out.data ? out.data : "", out.len, digest);
    double sum = 0, sorted[RENDER_DIRECT_MAX];
    for (int i = 0; i < st->n; i++) {
        printf("render %d %.3f ms\n", i + 1, st->ms[i]);
        sum += st->ms[i];
        sorted[i] = st->ms[i];
    }
    qsort(sorted, (size_t)st->n, sizeof sorted[0], cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT report=%s format=%s n=%d load_ms=%.3f median_ms=%.3f mean_ms=%.3f min_ms=%.3f max_ms=%.3f "
           "maxrss_kib=%ld bytes=%zu sha256=%s brand_digest=%s\n",
           report, format, st->n, st->load_ms, sorted[st->n / 2], sum / st->n, sorted[0], sorted[st->n - 1],
           ru.ru_maxrss, out.len, digest, *st->brand_digest ? st->brand_digest : "-");
    free(st);
    buf_free(&out);
    return 0;
}

int admin_main(const char *config_path, int argc, char **argv) {
    const char *cmd = argv[0];
    /* `aispm admin <command> --config F` works as well as `aispm -c F admin` */
    const char *late_config = opt(argc, argv, "--config");
    if (late_config) config_path = late_config;
    if (!strcmp(cmd, "rbac-matrix")) {
        rbac_matrix_markdown(emit_line, NULL);
        return 0;
    }
    admin_t a = {0};
    char err[512];
    /* `aispm admin CMD --config F` is accepted as well as `aispm -c F admin CMD` */
    const char *cfg_opt = opt(argc, argv, "--config");
    if (cfg_opt) config_path = cfg_opt;
    if (config_load(config_path, &a.cfg, err, sizeof err) != 0) {
        fprintf(stderr, "aispm: %s\n", err);
        return 2;
    }
    log_level_t lvl;
    if (log_level_parse(a.cfg.log_level, &lvl) == 0) log_set_level(lvl > LOG_WARN ? lvl : LOG_WARN);
    int rc;
    if (!strcmp(cmd, "migrate")) {
        int applied;
        rc = db_migrate(&a.cfg, &applied, err, sizeof err);
        if (rc) fprintf(stderr, "aispm: migrate: %s\n", err);
        else printf("schema at version %d (%d migration%s applied now)\n", db_latest_version(), applied,
                    applied == 1 ? "" : "s");
        return rc ? 1 : 0;
    }
    if (!strcmp(cmd, "keygen")) rc = cmd_keygen(&a, argc, argv);
    else if (!strcmp(cmd, "export-public-key")) rc = cmd_export_key(&a);
    else if (!strcmp(cmd, "create-tenant")) rc = cmd_create_tenant(&a, argc, argv);
    else if (!strcmp(cmd, "create-user")) rc = cmd_create_user(&a, argc, argv);
    else if (!strcmp(cmd, "create-token")) rc = cmd_create_token(&a, argc, argv);
    else if (!strcmp(cmd, "seed-demo")) rc = cmd_seed_demo(&a, argc, argv);
    else if (!strcmp(cmd, "verify-audit")) rc = cmd_verify(&a, argc, argv);
    else if (!strcmp(cmd, "link-evidence")) rc = cmd_link(&a);
    else if (!strcmp(cmd, "checkpoint")) rc = cmd_checkpoint(&a, argc, argv);
    else if (!strcmp(cmd, "scheduler-tick")) rc = cmd_scheduler_tick(&a, argc, argv);
    else if (!strcmp(cmd, "retention-sweep")) rc = cmd_retention_sweep(&a, argc, argv);
    else if (!strcmp(cmd, "render")) rc = cmd_render(&a, argc, argv);
    else {
        fprintf(stderr, "aispm: unknown admin command %s (see aispm --help)\n", cmd);
        rc = 2;
    }
    db_close(a.db);
    return rc;
}
