/* test_router.c: route matching, parameters, 405 Allow lists, the refusal of
 * routes without a permission, and the RBAC matrix invariants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "server/rbac.h"
#include "server/router.h"

static void h(req_t *r) { (void)r; }

static const route_t table[] = {
    {"GET", "/enterprise/aispm/reports/catalog", PERM_CATALOG_READ, h, 0, "catalog"},
    {"PUT", "/enterprise/aispm/reports/catalog/{report_id}", PERM_CATALOG_MANAGE, h, 0, "catalog_set"},
    {"GET", "/portal/tokens/{token_ref}/revoke", PERM_TOKENS_MANAGE, h, 0, "a"},
    {"POST", "/portal/tokens/{token_ref}/revoke", PERM_TOKENS_MANAGE, h, 0, "b"},
    {"GET", "/portal/", PERM_SELF, h, 0, "home"},
    {0, 0, PERM_NONE, 0, 0, 0},
};

static void test_match_static_and_params(void **state) {
    (void)state;
    char err[128];
    assert_int_equal(router_init(table, err, sizeof err), 0);
    req_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(router_match(&r, "GET", "/enterprise/aispm/reports/catalog", NULL, 0), 0);
    assert_string_equal(r.route->name, "catalog");
    memset(&r, 0, sizeof r);
    assert_int_equal(router_match(&r, "PUT", "/enterprise/aispm/reports/catalog/pdf_board_pack", NULL, 0), 0);
    assert_string_equal(req_param(&r, "report_id"), "pdf_board_pack");
    assert_null(req_param(&r, "report"));
    memset(&r, 0, sizeof r);
    assert_int_equal(router_match(&r, "POST", "/portal/tokens/token:01JF3Q8YH6W9V1X2Z3A4B5C6D7/revoke", NULL, 0), 0);
    assert_string_equal(req_param(&r, "token_ref"), "token:01JF3Q8YH6W9V1X2Z3A4B5C6D7");
    /* HEAD is served by GET routes */
    memset(&r, 0, sizeof r);
    assert_int_equal(router_match(&r, "HEAD", "/portal/", NULL, 0), 0);
}

static void test_not_found_and_method(void **state) {
    (void)state;
    char err[128], allow[64];
    assert_int_equal(router_init(table, err, sizeof err), 0);
    req_t r;
    memset(&r, 0, sizeof r);
    assert_int_equal(router_match(&r, "GET", "/enterprise/aispm/reports/catalogx", NULL, 0), AISPM_ENOTFOUND);
    assert_int_equal(router_match(&r, "GET", "/enterprise/aispm/reports/catalog/a/b", NULL, 0), AISPM_ENOTFOUND);
    assert_int_equal(router_match(&r, "GET", "/portal", NULL, 0), AISPM_ENOTFOUND);
    assert_int_equal(router_match(&r, "GET", "relative", NULL, 0), AISPM_ENOTFOUND);
    /* a parameter never spans segments or carries odd characters */
    assert_int_equal(router_match(&r, "PUT", "/enterprise/aispm/reports/catalog/a%2Fb", NULL, 0), AISPM_ENOTFOUND);
    assert_int_equal(router_match(&r, "PUT", "/enterprise/aispm/reports/catalog/<x>", NULL, 0), AISPM_ENOTFOUND);
    assert_int_equal(router_match(&r, "DELETE", "/enterprise/aispm/reports/catalog", allow, sizeof allow),
                     AISPM_ECONFLICT);
    assert_string_equal(allow, "GET");
    assert_int_equal(router_match(&r, "PUT", "/portal/tokens/x/revoke", allow, sizeof allow), AISPM_ECONFLICT);
    assert_string_equal(allow, "GET, POST");
}

static void test_route_without_permission_refused(void **state) {
    (void)state;
    static const route_t bad[] = {
        {"GET", "/ok", PERM_PUBLIC, h, 0, "ok"},
        {"GET", "/forgot", PERM_NONE, h, 0, "forgot"},
        {0, 0, PERM_NONE, 0, 0, 0},
    };
    char err[128] = "";
    assert_int_equal(router_init(bad, err, sizeof err), AISPM_EINVAL);
    assert_non_null(strstr(err, "/forgot"));
    static const route_t dup[] = {
        {"GET", "/a", PERM_PUBLIC, h, 0, "a"},
        {"GET", "/a", PERM_PUBLIC, h, 0, "a2"},
        {0, 0, PERM_NONE, 0, 0, 0},
    };
    assert_int_equal(router_init(dup, err, sizeof err), AISPM_EINVAL);
}

static void test_application_table_is_valid(void **state) {
    (void)state;
    char err[256] = "";
    assert_int_equal(router_init(aispm_routes, err, sizeof err), 0);
    for (int i = 0; i < router_count(); i++) {
        const route_t *rt = router_at(i);
        assert_true(rt->perm > PERM_NONE && rt->perm < PERM__COUNT);
        /* nothing under /enterprise/ is public */
        if (!strncmp(rt->pattern, "/enterprise/", 12)) assert_int_not_equal(rt->perm, PERM_PUBLIC);
    }
}

static void test_rbac_matrix(void **state) {
    (void)state;
    for (int i = 0; i < ROLE_COUNT; i++) {
        assert_true(rbac_role_valid(rbac_roles[i]));
        assert_true(rbac_role_has(rbac_roles[i], PERM_SELF));
    }
    assert_false(rbac_role_valid("root"));
    assert_false(rbac_role_has("root", PERM_CATALOG_READ));
    assert_false(rbac_role_has("auditor", PERM_SETTINGS_WRITE));
    assert_false(rbac_role_has("evaluator", PERM_CATALOG_MANAGE));
    assert_true(rbac_role_has("tenant_admin", PERM_SETTINGS_WRITE));
    assert_false(rbac_role_has("tenant_admin", PERM_NONE));
    unsigned s;
    assert_int_equal(rbac_scopes_parse("reports:read,ingest", &s), 0);
    assert_int_equal(s, SCOPE_REPORTS_READ | SCOPE_INGEST);
    assert_int_equal(rbac_scopes_parse("reports:read,root", &s), AISPM_EINVAL);
    assert_int_equal(rbac_scopes_parse("", &s), AISPM_EINVAL);
    char buf[64];
    rbac_scopes_format(SCOPE_ADMIN | SCOPE_REPORTS_WRITE, buf, sizeof buf);
    assert_string_equal(buf, "reports:write,admin");
    assert_int_equal(rbac_perm_scope(PERM_CATALOG_READ), SCOPE_REPORTS_READ);
    assert_false(rbac_role_can_use_scope("auditor", SCOPE_ADMIN));
    assert_true(rbac_role_can_use_scope("auditor", SCOPE_REPORTS_READ));
}

/* docs/rbac.md must show the matrix the code enforces */
typedef struct {
    char *doc;
    int missing;
} doc_ctx;
static void check_line(const char *line, void *ctx) {
    doc_ctx *d = ctx;
    if (!strstr(d->doc, line)) {
        print_error("docs/rbac.md lacks: %s\n", line);
        d->missing++;
    }
}
static void test_rbac_doc_in_sync(void **state) {
    (void)state;
    const char *src = getenv("AISPM_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/rbac.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    doc_ctx d = {doc, 0};
    rbac_matrix_markdown(check_line, &d);
    assert_int_equal(d.missing, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_static_and_params),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_route_without_permission_refused),
        cmocka_unit_test(test_application_table_is_valid),
        cmocka_unit_test(test_rbac_matrix),
        cmocka_unit_test(test_rbac_doc_in_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
