/*
 * test_retention.c: the pure rules of reports/retention.c — the retrieval
 * decision (status and reason code for every lifecycle combination, in
 * precedence order), the lifecycle state users see, and which report ids a
 * role may see.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reports/retention.h"

static void expect(bool found, bool role_ok, const char *state, bool held, bool revoked, bool expired, int status,
                   const char *code) {
    retention_verdict_t v;
    memset(&v, 0xab, sizeof v);
    retention_decide(found, role_ok, state, held, revoked, expired, &v);
    assert_int_equal(v.status, status);
    if (code) {
        assert_non_null(v.code);
        assert_string_equal(v.code, code);
        assert_non_null(v.detail);
    } else {
        assert_null(v.code);
    }
}

static void test_decide(void **state) {
    (void)state;
    expect(true, true, "retained", false, false, false, 200, NULL);
    expect(false, true, NULL, false, false, false, 404, "not_found");
    expect(true, false, "retained", false, false, false, 403, "audience_restricted");
    expect(true, true, "deleted", false, false, false, 410, "deleted");
    expect(true, true, "deleted", true, true, true, 410, "deleted"); /* deletion wins over everything */
    expect(true, true, "retained", false, true, false, 403, "revoked");
    expect(true, true, "retained", true, true, false, 403, "revoked"); /* a hold does not undo a revocation */
    expect(true, true, "archived", false, false, true, 410, "archived_past_retention");
    expect(true, true, "retained", false, false, true, 410, "expired");
    /* a legal hold keeps an object retrievable past its expiry */
    expect(true, true, "retained", true, false, true, 200, NULL);
    expect(true, true, "archived", true, false, true, 200, NULL);
}

static void test_lifecycle_state(void **state) {
    (void)state;
    assert_string_equal(retention_lifecycle_state("retained", false, false, false), "retained");
    assert_string_equal(retention_lifecycle_state("retained", false, false, true), "expired");
    assert_string_equal(retention_lifecycle_state("archived", false, false, true), "archived");
    assert_string_equal(retention_lifecycle_state("archived", false, true, true), "pending_approval");
    assert_string_equal(retention_lifecycle_state("archived", true, true, true), "legal_hold");
    assert_string_equal(retention_lifecycle_state("deleted", true, true, true), "deleted");
}

static void test_role_audiences(void **state) {
    (void)state;
    assert_true(retention_role_may_see("tenant_admin", "executive_risk_brief"));
    assert_true(retention_role_may_see("cso", "grc_upload_package"));
    /* auditors reach only their evidence rooms, where the room is the audience */
    assert_true(retention_role_may_see("auditor", "executive_risk_brief"));
    assert_true(retention_role_may_see("grc_analyst", "soc2_audit_summary"));
    assert_true(retention_role_may_see("grc_analyst", "xlsx_evidence_workbook"));
    assert_false(retention_role_may_see("grc_analyst", "executive_risk_brief"));
    assert_false(retention_role_may_see("grc_analyst", "board_kpi_pack"));
    assert_false(retention_role_may_see("grc_analyst", "no_such_report"));
    assert_true(retention_role_may_see("grc_analyst", "docx_audit_narrative"));
    assert_true(retention_role_may_see("evaluator", "board_kpi_pack"));
    assert_false(retention_role_may_see("evaluator", "pdf_board_pack"));
    /* delivery audit exports: audience audit, not a catalog report */
    assert_true(retention_role_may_see("grc_analyst", RETENTION_REPORT_DELIVERY_AUDIT));
    assert_false(retention_role_may_see("trial_operator", RETENTION_REPORT_DELIVERY_AUDIT));
    assert_true(retention_role_may_see("cso", RETENTION_REPORT_DELIVERY_AUDIT));
    char ids[2048];
    retention_role_report_ids("tenant_admin", ids, sizeof ids);
    assert_string_equal(ids, "");
    retention_role_report_ids("grc_analyst", ids, sizeof ids);
    assert_non_null(strstr(ids, "soc2_audit_summary"));
    assert_null(strstr(ids, "executive_risk_brief"));
    assert_non_null(strstr(ids, "," RETENTION_REPORT_DELIVERY_AUDIT));
    retention_role_report_ids("evaluator", ids, sizeof ids);
    assert_non_null(strstr(ids, "board_kpi_pack"));
    assert_null(strstr(ids, RETENTION_REPORT_DELIVERY_AUDIT));
    assert_null(strstr(ids, "siem_jsonl_export"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_lifecycle_state),
        cmocka_unit_test(test_role_audiences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
