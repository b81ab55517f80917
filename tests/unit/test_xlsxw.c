/* test_xlsxw.c: the XLSX writer (render/xlsxw.h) and the evidence workbook
 * renderer, checked without libxlsxwriter: the bytes are read as a zip by a
 * small reader here (central directory, raw deflate through zlib) and the
 * parts are searched as text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/err.h"
#include "render/xlsxw.h"
#include "render/zipw.h"
#include "reports/renderer.h"

static unsigned rd16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }
static uint32_t rd32(const unsigned char *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }

/* the uncompressed part `name` of the zip in b (NUL-terminated, caller
 * frees), or NULL when the central directory does not list it */
static char *zip_part(const buf_t *b, const char *name) {
    const unsigned char *z = (const unsigned char *)b->data;
    size_t n = b->len;
    assert_true(n > 22);
    size_t eocd = n - 22;
    while (eocd > 0 && rd32(z + eocd) != 0x06054b50) eocd--;
    assert_int_equal(rd32(z + eocd), 0x06054b50);
    unsigned entries = rd16(z + eocd + 10);
    size_t off = rd32(z + eocd + 16);
    for (unsigned i = 0; i < entries; i++) {
        assert_true(off + 46 <= n);
        assert_int_equal(rd32(z + off), 0x02014b50);
        unsigned method = rd16(z + off + 10), nlen = rd16(z + off + 28), elen = rd16(z + off + 30),
                 clen = rd16(z + off + 32);
        uint32_t csize = rd32(z + off + 20), usize = rd32(z + off + 24), local = rd32(z + off + 42);
        if (nlen == strlen(name) && !memcmp(z + off + 46, name, nlen)) {
            assert_int_equal(rd32(z + local), 0x04034b50);
            size_t data = local + 30 + rd16(z + local + 26) + rd16(z + local + 28);
            assert_true(data + csize <= n);
            char *out = calloc(1, usize + 1);
            assert_non_null(out);
            if (method == 0) {
                memcpy(out, z + data, usize);
            } else {
                assert_int_equal(method, 8);
                z_stream s;
                memset(&s, 0, sizeof s);
                assert_int_equal(inflateInit2(&s, -15), Z_OK);
                s.next_in = (unsigned char *)z + data;
                s.avail_in = csize;
                s.next_out = (unsigned char *)out;
                s.avail_out = usize;
                assert_int_equal(inflate(&s, Z_FINISH), Z_STREAM_END);
                assert_int_equal(s.total_out, usize);
                inflateEnd(&s);
            }
            return out;
        }
        off += 46 + nlen + elen + clen;
    }
    return NULL;
}

static void assert_part_has(const buf_t *b, const char *part, const char *needle) {
    char *x = zip_part(b, part);
    if (!x) fail_msg("no part %s", part);
    if (!strstr(x, needle)) fail_msg("%s lacks %s", part, needle);
    free(x);
}

static void test_small_workbook(void **s) {
    (void)s;
    xlsxw_props_t p = {.title = "T", .subject = "S", .comments = "as_of 2026-10-02T00:00:00.000Z",
                       .created = 1790899200 /* 2026-10-02T00:00:00Z */};
    buf_t b = BUF_INIT;
    xlsxw_t *x;
    assert_int_equal(xlsxw_new(NULL, &p, &x), 0);
    rowsink_t *w = xlsxw_sheet(x, "Data");
    static const char *const head[] = {"name", "count", "ratio", NULL};
    rs_header(w, head);
    rs_str(w, "=1+1");
    rs_int(w, 42);
    rs_hundredths(w, 162);
    rs_end_row(w);
    rs_str(w, "@SUM(A1)");
    rs_int(w, -7);
    rs_str(w, NULL);
    rs_end_row(w);
    assert_int_equal(xlsxw_finish(x, &b), 0);
    assert_true(b.len > 100);
    assert_memory_equal(b.data, "PK\x03\x04", 4);
    assert_non_null(memmem(b.data, b.len, "xl/workbook.xml", 15));
    assert_part_has(&b, "[Content_Types].xml", "spreadsheetml");
    assert_part_has(&b, "xl/workbook.xml", "name=\"Data\"");
    /* formula-looking text is a shared string, and no cell is a formula */
    assert_part_has(&b, "xl/sharedStrings.xml", ">=1+1<");
    assert_part_has(&b, "xl/sharedStrings.xml", ">@SUM(A1)<");
    char *sheet = zip_part(&b, "xl/worksheets/sheet1.xml");
    assert_non_null(sheet);
    assert_null(strstr(sheet, "<f>"));
    assert_non_null(strstr(sheet, "<v>42</v>"));
    assert_non_null(strstr(sheet, "<v>-7</v>"));
    assert_non_null(strstr(sheet, "<v>1.62</v>"));
    assert_non_null(strstr(sheet, "state=\"frozen\""));
    assert_non_null(strstr(sheet, "<col "));
    free(sheet);
    assert_part_has(&b, "xl/styles.xml", "<b/>");
    assert_part_has(&b, "xl/styles.xml", "formatCode=\"0.00\"");
    assert_part_has(&b, "docProps/core.xml", "<dc:title>T</dc:title>");
    assert_part_has(&b, "docProps/core.xml", "2026-10-02T00:00:00Z");
    assert_part_has(&b, "docProps/core.xml", "as_of 2026-10-02T00:00:00.000Z");
    buf_free(&b);
}

/* a posture as GET /posture returns it (trimmed) */
static const char *POSTURE =
    "{\"tenant_ref\":\"tenant:x\",\"totals\":{\"events\":10,\"agents\":2,\"sessions\":3},"
    "\"decisions\":{\"allow\":5,\"warn\":1,\"block\":2,\"require_approval\":2,\"allow_with_attestation\":0,"
    "\"audit_only\":0,\"not_applicable\":0},"
    "\"findings\":{\"total\":4,\"by_severity\":{\"none\":0,\"low\":1,\"medium\":1,\"high\":1,\"critical\":1},"
    "\"by_risk_classification\":[{\"risk_classification\":\"data_exfiltration\",\"findings\":4,\"by_severity\":"
    "{\"none\":0,\"low\":1,\"medium\":1,\"high\":1,\"critical\":1},\"last_finding_at\":\"2026-10-01T00:00:00.000Z\"}]},"
    "\"agents\":[{\"agent_id\":\"=cmd|' /C calc'!A0\",\"highest_severity\":\"high\",\"events\":7,\"sessions\":2,"
    "\"decision_count\":7,\"decisions\":{\"allow\":4,\"warn\":1,\"block\":1,\"require_approval\":1,"
    "\"allow_with_attestation\":0,\"audit_only\":0,\"not_applicable\":0},\"connectors\":[{\"connector_type\":"
    "\"codex\",\"connector_id\":\"c,1\"}],\"first_seen_at\":\"2026-10-01T00:00:00.000Z\",\"last_seen_at\":"
    "\"2026-10-02T00:00:00.000Z\"}],"
    "\"control_coverage\":[{\"policy_pack\":\"pack\",\"events\":3,\"blocked\":1,\"approval_required\":1,"
    "\"warned\":0,\"evidence_refs\":1,\"last_event_at\":\"2026-10-02T00:00:00.000Z\",\"last_evidence_at\":null}],"
    "\"evidence_freshness\":[{\"policy_pack\":\"pack\",\"risk_classification\":\"data_exfiltration\",\"events\":3,"
    "\"newest_event_at\":\"2026-08-01T00:00:00.000Z\",\"age_days\":62}],"
    "\"timeline\":[]}";

static const char *META = "{\"report_id\":\"xlsx_evidence_workbook\",\"title\":\"XLSX Evidence Workbook\","
                          "\"format\":\"xlsx\",\"tenant_ref\":\"tenant:x\",\"tenant_name\":\"Acme\","
                          "\"as_of\":\"2026-10-02T00:00:00.000Z\",\"period\":{\"start\":\"2026-09-01T00:00:00Z\","
                          "\"end\":\"2026-10-03T00:00:00Z\"},\"timezone\":\"UTC\"}";

static void test_evidence_workbook(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(META);
    assert_non_null(p);
    assert_non_null(meta);
    assert_true(renderer_supported("xlsx_evidence_workbook", "xlsx"));
    buf_t a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "xlsx_evidence_workbook", "xlsx", p, meta, NULL, &a), 0);
    assert_memory_equal(a.data, "PK", 2);
    char *wb = zip_part(&a, "xl/workbook.xml");
    assert_non_null(wb);
    const char *names[] = {"Summary", "Agents", "Controls", "Evidence freshness", "Findings"};
    char *at = wb;
    for (int i = 0; i < 5; i++) { /* in this order */
        char q[64];
        snprintf(q, sizeof q, "name=\"%s\"", names[i]);
        char *h = strstr(at, q);
        if (!h) fail_msg("sheet %s missing or out of order", names[i]);
        at = h;
    }
    free(wb);
    for (int i = 1; i <= 5; i++) {
        char part[64];
        snprintf(part, sizeof part, "xl/worksheets/sheet%d.xml", i);
        char *x = zip_part(&a, part);
        assert_non_null(x);
        assert_null(strstr(x, "<f>"));
        assert_non_null(strstr(x, "state=\"frozen\""));
        free(x);
    }
    assert_part_has(&a, "xl/sharedStrings.xml", ">=cmd|' /C calc'!A0<");
    assert_part_has(&a, "xl/sharedStrings.xml", ">codex:c,1<");
    assert_part_has(&a, "xl/sharedStrings.xml", ">evidence_refs_per_event<");
    assert_part_has(&a, "xl/sharedStrings.xml", ">last_finding_at<");
    assert_part_has(&a, "xl/sharedStrings.xml", ">tenant:x<");
    assert_part_has(&a, "docProps/core.xml", "<dc:title>XLSX Evidence Workbook</dc:title>");
    assert_part_has(&a, "docProps/core.xml", "2026-10-02T00:00:00Z");
    assert_part_has(&a, "docProps/core.xml", "as_of 2026-10-02T00:00:00.000Z");
    /* the same data gives the same bytes */
    assert_int_equal(renderer_render_posture(NULL, "xlsx_evidence_workbook", "xlsx", p, meta, NULL, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

/* the CSV exports are unchanged by the shared row builders */
static void test_csv_exports_unchanged(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(META);
    buf_t b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "control_coverage_export", "csv", p, meta, NULL, &b), 0);
    assert_string_equal(buf_cstr(&b), "policy_pack,events,blocked,approval_required,warned,evidence_refs,"
                                      "evidence_refs_per_event,last_event_at,last_evidence_at\r\n"
                                      "pack,3,1,1,0,1,0.33,2026-10-02T00:00:00.000Z,\r\n");
    buf_reset(&b);
    assert_int_equal(renderer_render_posture(NULL, "evidence_freshness_export", "csv", p, meta, NULL, &b), 0);
    assert_string_equal(buf_cstr(&b), "policy_pack,risk_classification,events,newest_event_at,age_days,stale\r\n"
                                      "pack,data_exfiltration,3,2026-08-01T00:00:00.000Z,62,yes\r\n");
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

/* the DOCX audit narrative (render/zipw.h + WordprocessingML): the same data
 * gives the same bytes, the parts are there, text is escaped */
static void test_docx_narrative(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE),
                *meta = json_tokener_parse("{\"report_id\":\"docx_audit_narrative\",\"title\":\"A <&> Narrative\","
                                           "\"format\":\"docx\",\"tenant_ref\":\"tenant:x\",\"tenant_name\":\"Acme\","
                                           "\"as_of\":\"2026-10-02T00:00:00.000Z\",\"period\":{\"start\":"
                                           "\"2026-09-01T00:00:00Z\",\"end\":\"2026-10-03T00:00:00Z\"},\"timezone\":\"UTC\"}");
    assert_true(renderer_supported("docx_audit_narrative", "docx"));
    buf_t a = BUF_INIT, b = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "docx_audit_narrative", "docx", p, meta, NULL, &a), 0);
    assert_memory_equal(a.data, "PK\x03\x04", 4);
    char *doc = zip_part(&a, "word/document.xml");
    assert_non_null(doc);
    const char *heads[] = {"A &lt;&amp;&gt; Narrative", "Scope and period", "Summary", "Control coverage",
                           "Findings by severity and risk class", "Evidence freshness", "Agents"};
    char *at = doc;
    for (int i = 0; i < 7; i++) {
        char *h = strstr(at, heads[i]);
        if (!h) fail_msg("heading %s missing or out of order", heads[i]);
        at = h;
    }
    assert_non_null(strstr(doc, "Events: 10."));
    assert_non_null(strstr(doc, ">=cmd|' /C calc'!A0<"));
    assert_non_null(strstr(doc, "<w:tbl>"));
    free(doc);
    assert_part_has(&a, "word/styles.xml", "w:styleId=\"Heading1\"");
    assert_part_has(&a, "word/styles.xml", "w:styleId=\"Heading2\"");
    assert_part_has(&a, "word/styles.xml", "w:styleId=\"Normal\"");
    assert_part_has(&a, "[Content_Types].xml", "wordprocessingml.document.main+xml");
    assert_part_has(&a, "_rels/.rels", "word/document.xml");
    assert_part_has(&a, "docProps/core.xml", "<dc:title>A &lt;&amp;&gt; Narrative</dc:title>");
    assert_part_has(&a, "docProps/core.xml", "2026-10-02T00:00:00.000Z</dcterms:created>");
    assert_int_equal(renderer_render_posture(NULL, "docx_audit_narrative", "docx", p, meta, NULL, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);
    json_object_put(p);
    json_object_put(meta);
}

/* the zip writer: entries in order, fixed time, same calls give same bytes */
static void test_zipw_deterministic(void **s) {
    (void)s;
    buf_t a = BUF_INIT, b = BUF_INIT;
    for (int k = 0; k < 2; k++) {
        zipw_t *z;
        assert_int_equal(zipw_new(0, &z), 0);
        zipw_add(z, "a.txt", "hello", 5);
        zipw_add(z, "dir/b.bin", "", 0);
        assert_int_equal(zipw_finish(z, k ? &b : &a), 0);
    }
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    char *x = zip_part(&a, "a.txt");
    assert_string_equal(x, "hello");
    free(x);
    x = zip_part(&a, "dir/b.bin");
    assert_string_equal(x, "");
    free(x);
    buf_free(&a);
    buf_free(&b);
}

/* the GRC upload package: the standalone renders, SHA256SUMS and manifest;
 * the same data gives the same bytes */
static void test_grc_package(void **s) {
    (void)s;
    json_object *p = json_tokener_parse(POSTURE), *meta = json_tokener_parse(META);
    json_object_object_add(meta, "report_id", json_object_new_string("grc_upload_package"));
    assert_true(renderer_supported("grc_upload_package", "zip"));
    buf_t a = BUF_INIT, b = BUF_INIT, csv = BUF_INIT;
    assert_int_equal(renderer_render_posture(NULL, "grc_upload_package", "zip", p, meta, NULL, &a), 0);
    assert_int_equal(renderer_render_posture(NULL, "control_coverage_export", "csv", p, meta, NULL, &csv), 0);
    char *x = zip_part(&a, "control_coverage_export.csv");
    assert_non_null(x);
    assert_string_equal(x, buf_cstr(&csv));
    free(x);
    x = zip_part(&a, "SHA256SUMS");
    assert_non_null(strstr(x, "  control_coverage_export.csv\n"));
    assert_non_null(strstr(x, "  xlsx_evidence_workbook.xlsx\n"));
    assert_non_null(strstr(x, "  manifest.json\n"));
    free(x);
    assert_part_has(&a, "manifest.json", "\"package_type\":\"grc_upload\"");
    assert_part_has(&a, "manifest.json", "\"as_of\":\"2026-10-02T00:00:00.000Z\"");
    assert_part_has(&a, "board_kpi_pack.json", "\"tenant_ref\":\"tenant:x\"");
    assert_int_equal(renderer_render_posture(NULL, "grc_upload_package", "zip", p, meta, NULL, &b), 0);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    buf_free(&a);
    buf_free(&b);
    buf_free(&csv);
    json_object_put(p);
    json_object_put(meta);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_workbook),
        cmocka_unit_test(test_evidence_workbook),
        cmocka_unit_test(test_csv_exports_unchanged),
        cmocka_unit_test(test_docx_narrative),
        cmocka_unit_test(test_zipw_deterministic),
        cmocka_unit_test(test_grc_package),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
