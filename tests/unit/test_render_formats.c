/* test_render_formats.c: the report format writers — RFC 4180 CSV with
 * formula neutralisation, Markdown escaping (md_escape and the `md` filter,
 * the default in *.md templates) and the posture-based renderers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/err.h"
#include "render/csvw.h"
#include "render/template.h"
#include "reports/renderer.h"

static void one_row(const char *const *cells, int n, const char *expect) {
    buf_t b = BUF_INIT;
    csvw_t w;
    csvw_init(&w, &b);
    for (int i = 0; i < n; i++) csvw_str(&w, cells[i]);
    csvw_end_row(&w);
    assert_string_equal(buf_cstr(&b), expect);
    buf_free(&b);
}

static void test_csv_plain_and_crlf(void **s) {
    (void)s;
    const char *c[] = {"a", "b c", ""};
    one_row(c, 3, "a,b c,\r\n");
    buf_t b = BUF_INIT;
    csvw_t w;
    csvw_init(&w, &b);
    csvw_str(&w, "x");
    csvw_int(&w, -42);
    csvw_end_row(&w);
    csvw_str(&w, NULL);
    csvw_end_row(&w);
    /* integers are never neutralised: -42 stays a number */
    assert_string_equal(buf_cstr(&b), "x,-42\r\n\r\n");
    buf_free(&b);
}

static void test_csv_quoting(void **s) {
    (void)s;
    const char *c[] = {"a,b", "say \"hi\"", "line1\nline2", "cr\rhere", "\"", "plain"};
    one_row(c, 6, "\"a,b\",\"say \"\"hi\"\"\",\"line1\nline2\",\"cr\rhere\",\"\"\"\",plain\r\n");
}

static void test_csv_formula_neutralised(void **s) {
    (void)s;
    const char *c[] = {"=SUM(A1:A2)", "+1", "-2", "@cmd", "\tx", "\rx", "a=b", "'quoted"};
    one_row(c, 8, "'=SUM(A1:A2),'+1,'-2,'@cmd,'\tx,\"'\rx\",a=b,'quoted\r\n");
    /* neutralised and quoted at once: the apostrophe goes inside the quotes */
    const char *d[] = {"=HYPERLINK(\"http://x\",\"y\")"};
    one_row(d, 1, "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\r\n");
}

static void test_csv_utf8_passthrough(void **s) {
    (void)s;
    const char *c[] = {"Zürich", "日本", "emoji \xf0\x9f\x98\x80"};
    one_row(c, 3, "Zürich,日本,emoji \xf0\x9f\x98\x80\r\n");
}

static char *md(const char *in) {
    buf_t b = BUF_INIT;
    md_escape(&b, in, strlen(in));
    return buf_steal(&b);
}

#define assert_md(in, expect)                \
    do {                                     \
        char *g_ = md(in);                   \
        assert_string_equal(g_ ? g_ : "", expect); \
        free(g_);                            \
    } while (0)

static void test_md_escape(void **s) {
    (void)s;
    assert_md("plain text 42", "plain text 42");
    assert_md("2026-12-04T10:00:00.000Z", "2026-12-04T10:00:00.000Z");
    assert_md("a|b", "a\\|b");
    assert_md("*bold* _it_ `code`", "\\*bold\\* \\_it\\_ \\`code\\`");
    assert_md("[x](javascript:alert(1))", "\\[x\\]\\(javascript:alert\\(1\\)\\)");
    assert_md("<script>&amp;", "\\<script\\>\\&amp;");
    assert_md("# heading", "\\# heading");
    assert_md("- item", "\\- item");
    assert_md("+ item", "\\+ item");
    assert_md("1. item", "1\\. item");
    assert_md("1.5", "1\\.5");
    assert_md("a-b", "a-b");
    assert_md("row\nbreak\r\tx", "row break  x");
    assert_md("back\\slash", "back\\\\slash");
    assert_md("![img](x)", "\\!\\[img\\]\\(x\\)");
}

static void test_md_filter(void **s) {
    (void)s;
    tmpl_set_t *set = NULL;
    char err[256];
    /* `| md` escapes for Markdown; without a filter the engine stays HTML-safe */
    assert_int_equal(tmpl_set_add(&set, "t", "{{ v }}/{{ v | md }}", err, sizeof err), 0);
    json_object *d = json_tokener_parse("{\"v\":\"<b>|x\"}");
    buf_t b = BUF_INIT;
    assert_int_equal(tmpl_render(set, "t", d, &b), 0);
    assert_string_equal(buf_cstr(&b), "&lt;b&gt;|x/\\<b\\>\\|x");
    buf_free(&b);
    json_object_put(d);
    tmpl_set_free(set);
}

/* every value tag of the Markdown report templates uses | md (the engine's
 * default is HTML escaping, safe but wrong for Markdown) */
static void test_md_templates_use_md_filter(void **s) {
    (void)s;
    const char *src = getenv("AISPM_SOURCE_DIR");
    assert_non_null(src);
    const char *files[] = {"executive_risk_brief.md", "soc2_audit_summary.md"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/templates/reports/md/%s", src, files[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char text[65536];
        size_t n = fread(text, 1, sizeof text - 1, f);
        fclose(f);
        text[n] = 0;
        int tags = 0;
        for (char *p = strstr(text, "{{"); p; p = strstr(p + 2, "{{")) {
            char *e = strstr(p, "}}");
            assert_non_null(e);
            char tag[256];
            snprintf(tag, sizeof tag, "%.*s", (int)(e - p - 2), p + 2);
            char *t = tag;
            while (*t == ' ') t++;
            if (*t == '#' || *t == '/' || *t == '!' || *t == '>' || !strncmp(t, "else", 4)) continue;
            if (!strstr(t, "| md")) fail_msg("%s: {{%s}} lacks | md", files[i], tag);
            tags++;
        }
        assert_true(tags > 10);
    }
}

static const char *POSTURE =
    "{\"totals\":{\"events\":10,\"agents\":2,\"sessions\":3},"
    "\"decisions\":{\"allow\":5,\"warn\":1,\"block\":2,\"require_approval\":2,\"allow_with_attestation\":0,"
    "\"audit_only\":0,\"not_applicable\":0},"
    "\"findings\":{\"total\":4,\"by_severity\":{\"low\":1,\"medium\":1,\"high\":1,\"critical\":1},"
    "\"by_risk_classification\":[]},"
    "\"agents\":[{\"agent_id\":\"=cmd|' /C calc'!A0\",\"highest_severity\":\"high\",\"events\":7,\"sessions\":2,"
    "\"decision_count\":7,\"decisions\":{\"allow\":4,\"warn\":1,\"block\":1,\"require_approval\":1,"
    "\"allow_with_attestation\":0,\"audit_only\":0,\"not_applicable\":0},\"connectors\":[{\"connector_type\":"
    "\"codex\",\"connector_id\":\"c,1\"}],\"first_seen_at\":\"2026-10-01T00:00:00.000Z\",\"last_seen_at\":"
    "\"2026-10-02T00:00:00.000Z\"}],"
    "\"control_coverage\":[{\"policy_pack\":\"pack\",\"events\":3,\"blocked\":1,\"approval_required\":1,"
    "\"warned\":0,\"evidence_refs\":1,\"last_event_at\":\"2026-10-02T00:00:00.000Z\",\"last_evidence_at\":null}],"
    "\"evidence_freshness\":[],"
    "\"timeline\":[{\"date\":\"2026-09-30\",\"events\":4,\"blocked\":1,\"high_critical\":1},"
    "{\"date\":\"2026-10-01\",\"events\":6,\"blocked\":1,\"high_critical\":1}]}";

static void test_render_agent_register(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_object_new_object();
    assert_non_null(p);
    buf_t b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "agent_risk_register", "csv", p, meta, NULL, &b), 0);
    const char *csv = buf_cstr(&b);
    assert_non_null(strstr(csv, "agent_id,highest_severity,events,sessions,decision_count,"));
    assert_non_null(strstr(csv, "\r\n'=cmd|' /C calc'!A0,high,7,2,7,4,1,1,1,0,0,0,\"codex:c,1\","
                                "2026-10-01T00:00:00.000Z,2026-10-02T00:00:00.000Z\r\n"));
    buf_reset(&b);
    assert_int_equal(renderer_render_posture(NULL, "control_coverage_export", "csv", p, meta, NULL, &b), 0);
    assert_non_null(strstr(buf_cstr(&b), "\r\npack,3,1,1,0,1,0.33,2026-10-02T00:00:00.000Z,\r\n"));
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

static void test_render_kpis_deterministic(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(
                                                       "{\"tenant_ref\":\"tenant:x\",\"as_of\":\"2026-10-02T00:00:00.000Z\","
                                                       "\"period\":{\"start\":\"2026-09-01T00:00:00Z\",\"end\":"
                                                       "\"2026-10-03T00:00:00Z\"}}");
    buf_t a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "board_kpi_pack", "json", p, meta, NULL, &a), 0);
    assert_int_equal(renderer_render_posture(NULL, "board_kpi_pack", "json", p, meta, NULL, &b), 0);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b));
    json_object *k = json_tokener_parse(buf_cstr(&a)), *kp, *v;
    assert_non_null(k);
    assert_true(json_object_object_get_ex(k, "kpis", &kp));
    assert_true(json_object_object_get_ex(kp, "blocks", &v));
    assert_int_equal(json_object_get_int(v), 2);
    assert_true(json_object_object_get_ex(kp, "high_critical_findings", &v));
    assert_int_equal(json_object_get_int(v), 2);
    /* Q3 and Q4 2026 in the timeline: quarter over quarter is available */
    assert_true(json_object_object_get_ex(k, "quarter_over_quarter", &kp));
    assert_true(json_object_object_get_ex(kp, "available", &v));
    assert_true(json_object_get_boolean(v));
    json_object_put(k);
    /* unsupported combinations and missing templates */
    buf_reset(&a);
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "json", p, meta, NULL, &a), AISPM_EINVAL);
    assert_int_equal(renderer_render_posture(NULL, "executive_risk_brief", "html", p, meta, NULL, &a), AISPM_ENOTFOUND);
    assert_false(renderer_supported("board_kpi_pack", "html"));
    assert_true(renderer_supported("siem_jsonl_export", "jsonl"));
    buf_free(&a);
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

/* a small board pack renders as a PDF, the same bytes for the same as_of */
static void test_render_pdf_board_pack(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(
                                                        "{\"as_of\":\"2026-11-03T10:00:00Z\",\"tenant_ref\":\"tenant:t1\","
                                                        "\"tenant_name\":\"Acme\",\"period\":{\"start\":"
                                                        "\"2026-10-01T00:00:00Z\",\"end\":\"2026-11-01T00:00:00Z\"}}");
    assert_non_null(p);
    assert_non_null(meta);
    assert_true(renderer_supported("pdf_board_pack", "pdf"));
    buf_t a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", p, meta, NULL, &a), 0);
    assert_true(a.len > 1000);
    assert_memory_equal(a.data, "%PDF-", 5);
    assert_non_null(memmem(a.data, a.len, "%%EOF", 5));
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", p, meta, NULL, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    /* cover, contents, key indicators, findings, agents */
    assert_non_null(memmem(a.data, a.len, "/Count 5\n", 9));
    /* 150 agents: the agents table breaks across pages */
    json_object *agents = NULL;
    assert_true(json_object_object_get_ex(p, "agents", &agents));
    for (int i = 0; i < 150; i++) {
        json_object *g = NULL;
        assert_int_equal(json_object_deep_copy(json_object_array_get_idx(agents, 0), &g, NULL), 0);
        char id[64];
        snprintf(id, sizeof id, "agent-%03d", i);
        json_object_object_add(g, "agent_id", json_object_new_string(id));
        json_object_array_add(agents, g);
    }
    buf_reset(&b);
    assert_int_equal(renderer_render_posture(NULL, "pdf_board_pack", "pdf", p, meta, NULL, &b), 0);
    assert_memory_equal(b.data, "%PDF-", 5);
    assert_null(memmem(b.data, b.len, "/Count 5\n", 9));
    buf_free(&a);
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

static void test_report_templates_compile_and_escape(void **s) {
    (void)s;
    const char *src = getenv("AISPM_SOURCE_DIR");
    assert_non_null(src);
    char dir[1024], err[512];
    snprintf(dir, sizeof dir, "%s/templates", src);
    tmpl_set_t *set = NULL;
    if (tmpl_set_load(dir, &set, err, sizeof err)) fail_msg("templates: %s", err);
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(
                                                       "{\"title\":\"T\",\"tenant_name\":\"<Acme> | *Corp*\","
                                                       "\"tenant_ref\":\"tenant:x\",\"as_of\":null,\"period\":{"
                                                       "\"start\":\"2026-09-01T00:00:00Z\",\"end\":"
                                                       "\"2026-10-03T00:00:00Z\"},\"timezone\":\"UTC\"}");
    buf_t b = BUF_INIT;
    assert_int_equal(renderer_render_posture(set, "executive_risk_brief", "markdown", p, meta, NULL, &b), 0);
    assert_non_null(strstr(buf_cstr(&b), "\\<Acme\\> \\| \\*Corp\\*"));
    assert_non_null(strstr(buf_cstr(&b), "| blocked actions | 2 |"));
    buf_reset(&b);
    assert_int_equal(renderer_render_posture(set, "soc2_audit_summary", "html", p, meta, NULL, &b), 0);
    assert_non_null(strstr(buf_cstr(&b), "&lt;Acme&gt; | *Corp*"));
    assert_null(strstr(buf_cstr(&b), "<Acme>"));
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
    tmpl_set_free(set);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_plain_and_crlf),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_formula_neutralised),
        cmocka_unit_test(test_csv_utf8_passthrough),
        cmocka_unit_test(test_md_escape),
        cmocka_unit_test(test_md_filter),
        cmocka_unit_test(test_md_templates_use_md_filter),
        cmocka_unit_test(test_render_agent_register),
        cmocka_unit_test(test_render_kpis_deterministic),
        cmocka_unit_test(test_render_pdf_board_pack),
        cmocka_unit_test(test_report_templates_compile_and_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
