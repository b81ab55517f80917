/* test_template.c: unit tests for the auto-escaping template engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/buf.h"
#include "core/err.h"
#include "render/template.h"

/* compiles `src` as template "t", renders it with the JSON text `data` and
 * returns the output (caller frees) */
static char *render_str(const char *src, const char *data) {
    tmpl_set_t *set = NULL;
    char err[256];
    int rc = tmpl_set_add(&set, "t", src, err, sizeof err);
    if (rc != 0) fail_msg("compile failed: %s", err);
    struct json_object *d = data ? json_tokener_parse(data) : NULL;
    if (data) assert_non_null(d);
    buf_t out = BUF_INIT;
    assert_int_equal(tmpl_render(set, "t", d, &out), 0);
    json_object_put(d);
    tmpl_set_free(set);
    return buf_steal(&out);
}

#define assert_render(src, data, expect)                                                          \
    do {                                                                                          \
        char *got_ = render_str(src, data);                                                       \
        assert_string_equal(got_, expect);                                                        \
        free(got_);                                                                               \
    } while (0)

/* compile must fail with AISPM_EINVAL, leave the set untouched and report
 * an error starting with `prefix` that contains `needle` */
static void assert_compile_error(const char *src, const char *prefix, const char *needle) {
    tmpl_set_t *set = NULL;
    char err[256] = "";
    int rc = tmpl_set_add(&set, "t", src, err, sizeof err);
    if (rc != AISPM_EINVAL) fail_msg("expected EINVAL for %s, got %d", src, rc);
    assert_null(set);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s' (source %s)", err, prefix, src);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s' (source %s)", err, needle, src);
}

static void test_html_default_escaped(void **state) {
    (void)state;
    assert_render("<p>{{x}}</p>", "{\"x\":\"<script>alert(\\\"x\\\")&'\"}",
                  "<p>&lt;script&gt;alert(&quot;x&quot;)&amp;&#39;</p>");
    /* whitespace inside tags, nested paths */
    assert_render("{{ a.b }}|{{a.b}}", "{\"a\":{\"b\":\"<i>\"}}", "&lt;i&gt;|&lt;i&gt;");
    /* text around the tags is emitted verbatim */
    assert_render("<b>&amp;</b>{{x}}", "{\"x\":\"plain\"}", "<b>&amp;</b>plain");
}

static void test_attr_context(void **state) {
    (void)state;
    assert_render("<input value=\"{{x|attr}}\">", "{\"x\":\"a\\\" onfocus=\\\"evil()\\\" b='c'\"}",
                  "<input value=\"a&quot; onfocus=&quot;evil()&quot; b=&#39;c&#39;\">");
    assert_render("<a title='{{ x | attr }}'>", "{\"x\":\"it's <b>\"}",
                  "<a title='it&#39;s &lt;b&gt;'>");
}

static void test_url_context(void **state) {
    (void)state;
    assert_render("<a href=\"/s?q={{q|url}}\">", "{\"q\":\"a b&c/d?e=\xc3\xa9\"}",
                  "<a href=\"/s?q=a%20b%26c%2Fd%3Fe%3D%C3%A9\">");
    assert_render("{{q|url}}", "{\"q\":\"AZaz09-._~\\\"'<>%+\"}", "AZaz09-._~%22%27%3C%3E%25%2B");

    buf_t b = BUF_INIT;
    url_escape(&b, "x y\n", 4);
    assert_string_equal(buf_cstr(&b), "x%20y%0A");
    buf_reset(&b);
    html_escape(&b, "a<b>&\"'z", 8);
    assert_string_equal(buf_cstr(&b), "a&lt;b&gt;&amp;&quot;&#39;z");
    buf_free(&b);
}

static void test_js_filter(void **state) {
    (void)state;
    assert_render("<script>var s = {{s|js}};</script>",
                  "{\"s\":\"</script><b>&'\\\"\\\\\\n\\u2028\\u2029\\u0001\"}",
                  "<script>var s = \"\\u003c/script\\u003e\\u003cb\\u003e\\u0026\\u0027\\\"\\\\\\n"
                  "\\u2028\\u2029\\u0001\";</script>");
    /* non-strings become string literals of their text form; missing is "" */
    assert_render("{{n|js}} {{b|js}} {{missing|js}} {{o|js}}", "{\"n\":5,\"b\":true,\"o\":{\"k\":\"<\"}}",
                  "\"5\" \"true\" \"\" \"{\\\"k\\\":\\\"\\u003c\\\"}\"");
    /* non-ASCII other than U+2028/9 passes through as UTF-8 */
    assert_render("{{s|js}}", "{\"s\":\"\xc3\xa9\xe2\x82\xac\"}", "\"\xc3\xa9\xe2\x82\xac\"");
}

static void test_raw_and_json(void **state) {
    (void)state;
    const char *data = "{\"svg\":\"<svg><rect width=\\\"1\\\"/></svg>\"}";
    assert_render("{{svg|raw}}", data, "<svg><rect width=\"1\"/></svg>");
    assert_render("{{svg}}", data, "&lt;svg&gt;&lt;rect width=&quot;1&quot;/&gt;&lt;/svg&gt;");
    assert_render("{{ o | json }}", "{\"o\":{\"a\":\"<b>\",\"n\":[1,2]}}",
                  "{&quot;a&quot;:&quot;&lt;b&gt;&quot;,&quot;n&quot;:[1,2]}");
    assert_render("[{{s|json}}][{{n|json}}][{{z|json}}][{{missing|json}}]",
                  "{\"s\":\"a/b\",\"n\":7,\"z\":null}", "[&quot;a/b&quot;][7][null][]");
}

static void test_value_forms(void **state) {
    (void)state;
    assert_render("{{i}}|{{neg}}|{{d}}|{{t}}|{{f}}|{{z}}|{{arr}}|{{obj}}",
                  "{\"i\":42,\"neg\":-7,\"d\":1.5,\"t\":true,\"f\":false,\"z\":null,"
                  "\"arr\":[1,\"x\"],\"obj\":{\"k\":\"v\"}}",
                  "42|-7|1.5|true|false||[1,&quot;x&quot;]|{&quot;k&quot;:&quot;v&quot;}");
    assert_render("{{big}}", "{\"big\":18446744073709551615}", "18446744073709551615");
}

static void test_missing_values(void **state) {
    (void)state;
    assert_render("[{{nope}}][{{a.b.c}}][{{a.x}}][{{@index}}][{{@first}}][{{@root.nope.deeper}}]",
                  "{\"a\":{\"b\":1}}", "[][][][][][]");
    /* NULL data is allowed */
    assert_render("[{{x}}][{{.}}]", NULL, "[][]");
    /* numeric segments index arrays */
    assert_render("{{list.1}}|{{list.5}}|{{m.0}}", "{\"list\":[\"a\",\"b\"],\"m\":{\"0\":\"zero\"}}",
                  "b||zero");
}

static void test_nested_each(void **state) {
    (void)state;
    const char *data = "{\"title\":\"T\",\"groups\":["
                       "{\"name\":\"g1\",\"items\":[\"a\",\"b\",\"c\"]},"
                       "{\"name\":\"g2\",\"items\":[\"d\"]}]}";
    const char *src = "{{#each groups}}[{{@index}}:{{name}}"
                      "{{#if @first}}F{{/if}}{{#if @last}}L{{/if}}:"
                      "{{#each items}}{{.}}{{@index}}{{#if @first}}f{{/if}}{{#if @last}}l{{/if}}"
                      "/{{name}}/{{title}}/{{@root.title}}{{#unless @last}},{{/unless}}{{/each}}]"
                      "{{/each}}";
    assert_render(src, data,
                  "[0:g1F:a0f/g1/T/T,b1/g1/T/T,c2l/g1/T/T]"
                  "[1:g2L:d0fl/g2/T/T]");
    /* the item is searched first: an inner key shadows an outer one */
    assert_render("{{#each xs}}{{name}}{{/each}}|{{name}}",
                  "{\"name\":\"outer\",\"xs\":[{\"name\":\"in\"},{\"other\":1}]}", "inouter|outer");
    /* a key present with null on the item still shadows the outer value */
    assert_render("{{#each xs}}[{{name}}]{{/each}}", "{\"name\":\"outer\",\"xs\":[{\"name\":null}]}",
                  "[]");
    /* each over object values; else on empty / missing / non-container */
    assert_render("{{#each o}}{{@index}}={{.}};{{/each}}", "{\"o\":{\"a\":1,\"b\":2}}", "0=1;1=2;");
    assert_render("{{#each e}}x{{else}}none{{/each}}|{{#each m}}x{{else}}none{{/each}}|"
                  "{{#each s}}x{{else}}none{{/each}}|{{#each eo}}x{{else}}none{{/each}}",
                  "{\"e\":[],\"s\":\"str\",\"eo\":{}}", "none|none|none|none");
    /* @index outside the loop is missing again */
    assert_render("{{#each a}}{{@index}}{{/each}}[{{@index}}]", "{\"a\":[1,2]}", "01[]");
}

static void test_truthiness(void **state) {
    (void)state;
    static const struct {
        const char *data;
        const char *expect;
    } cases[] = {
        {"{\"v\":0}", "F|U"},       {"{\"v\":0.0}", "F|U"},      {"{\"v\":\"\"}", "F|U"},
        {"{\"v\":[]}", "F|U"},      {"{\"v\":{}}", "F|U"},       {"{\"v\":null}", "F|U"},
        {"{\"v\":false}", "F|U"},   {"{}", "F|U"},               {"{\"v\":1}", "T|N"},
        {"{\"v\":-1}", "T|N"},      {"{\"v\":0.5}", "T|N"},      {"{\"v\":\"0\"}", "T|N"},
        {"{\"v\":\"false\"}", "T|N"}, {"{\"v\":[0]}", "T|N"},    {"{\"v\":{\"a\":0}}", "T|N"},
        {"{\"v\":true}", "T|N"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = render_str("{{#if v}}T{{else}}F{{/if}}|{{#unless v}}U{{else}}N{{/unless}}",
                               cases[i].data);
        if (strcmp(got, cases[i].expect) != 0)
            fail_msg("data %s: got '%s', want '%s'", cases[i].data, got, cases[i].expect);
        free(got);
    }
    /* if without else renders nothing when falsy; special vars are truthy-tested too */
    assert_render("a{{#if v}}X{{/if}}b", "{\"v\":0}", "ab");
    assert_render("{{#each a}}{{#if @index}}+{{/if}}{{.}}{{/each}}", "{\"a\":[1,2,3]}", "1+2+3");
}

static void test_comments(void **state) {
    (void)state;
    assert_render("a{{! note }}b{{!-- has }} inside --}}c", "{}", "abc");
    /* text after a block is not merged into the block body */
    assert_render("{{#if v}}x{{/if}}y", "{\"v\":false}", "y");
    assert_render("{{#if v}}x{{! c }}z{{/if}}y", "{\"v\":true}", "xzy");
}

static void test_includes(void **state) {
    (void)state;
    tmpl_set_t *set = NULL;
    char err[256];
    assert_int_equal(tmpl_set_add(&set, "page", "<ul>{{#each items}}{{> partials/item}}{{/each}}</ul>"
                                                "{{>footer}}",
                                  err, sizeof err),
                     0);
    /* an include may name a template that is added later */
    assert_int_equal(tmpl_set_add(&set, "partials/item", "<li>{{@index}}:{{name}}@{{site}}</li>", err,
                                  sizeof err),
                     0);
    assert_int_equal(tmpl_set_add(&set, "footer", "<p>{{ site }}</p>", err, sizeof err), 0);
    struct json_object *d =
        json_tokener_parse("{\"site\":\"S&P\",\"items\":[{\"name\":\"<a>\"},{\"name\":\"b\"}]}");
    buf_t out = BUF_INIT;
    buf_puts(&out, "pre:");
    assert_int_equal(tmpl_render(set, "page", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "pre:<ul><li>0:&lt;a&gt;@S&amp;P</li><li>1:b@S&amp;P</li></ul>"
                                        "<p>S&amp;P</p>");

    /* replacing a template takes effect for includes */
    assert_int_equal(tmpl_set_add(&set, "footer", "<footer/>", err, sizeof err), 0);
    buf_reset(&out);
    assert_int_equal(tmpl_render(set, "page", d, &out), 0);
    assert_string_equal(buf_cstr(&out),
                        "<ul><li>0:&lt;a&gt;@S&amp;P</li><li>1:b@S&amp;P</li></ul><footer/>");

    /* unknown templates */
    buf_reset(&out);
    assert_int_equal(tmpl_render(set, "nope", d, &out), AISPM_ENOTFOUND);
    assert_int_equal(tmpl_set_add(&set, "broken", "x{{> missing}}y", err, sizeof err), 0);
    buf_puts(&out, "keep");
    assert_int_equal(tmpl_render(set, "broken", d, &out), AISPM_ENOTFOUND);
    assert_string_equal(buf_cstr(&out), "keep");
    assert_int_equal(out.len, 4);

    buf_free(&out);
    json_object_put(d);
    tmpl_set_free(set);
}

static void test_include_recursion_limit(void **state) {
    (void)state;
    tmpl_set_t *set = NULL;
    char err[256];
    assert_int_equal(tmpl_set_add(&set, "self", "x{{> self}}", err, sizeof err), 0);
    assert_int_equal(tmpl_set_add(&set, "a", "a{{#if go}}{{> b}}{{/if}}", err, sizeof err), 0);
    assert_int_equal(tmpl_set_add(&set, "b", "b{{> a}}", err, sizeof err), 0);
    struct json_object *d = json_tokener_parse("{\"go\":true}");
    buf_t out = BUF_INIT;
    buf_puts(&out, "head");
    int rc = tmpl_render(set, "self", d, &out);
    assert_int_equal(rc, AISPM_ERR);
    assert_string_equal(buf_cstr(&out), "head"); /* partial output rolled back */
    assert_int_equal(tmpl_render(set, "a", d, &out), AISPM_ERR);
    assert_string_equal(buf_cstr(&out), "head");

    /* a bounded chain below the limit works */
    json_object_object_add(d, "go", json_object_new_boolean(0));
    assert_int_equal(tmpl_render(set, "b", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "headba");
    buf_free(&out);
    json_object_put(d);
    tmpl_set_free(set);
}

static void test_scope_depth_limit(void **state) {
    (void)state;
    /* 40 nested {{#each .}} over 40 nested arrays exceeds the scope stack */
    buf_t src = BUF_INIT;
    for (int i = 0; i < 40; i++) buf_puts(&src, "{{#each .}}");
    buf_puts(&src, "x");
    for (int i = 0; i < 40; i++) buf_puts(&src, "{{/each}}");
    struct json_object *d = json_object_new_int(1);
    for (int i = 0; i < 40; i++) { /* built by hand: json-c's parser stops at depth 32 */
        struct json_object *a = json_object_new_array();
        json_object_array_add(a, d);
        d = a;
    }
    tmpl_set_t *set = NULL;
    char err[256];
    assert_int_equal(tmpl_set_add(&set, "deep", buf_cstr(&src), err, sizeof err), 0);
    buf_t out = BUF_INIT;
    assert_int_equal(tmpl_render(set, "deep", d, &out), AISPM_ERR);
    assert_int_equal(out.len, 0);
    /* ten levels are fine */
    json_object_put(d);
    buf_reset(&src);
    for (int i = 0; i < 10; i++) buf_puts(&src, "{{#each .}}");
    buf_puts(&src, "{{.}}");
    for (int i = 0; i < 10; i++) buf_puts(&src, "{{/each}}");
    assert_int_equal(tmpl_set_add(&set, "ten", buf_cstr(&src), err, sizeof err), 0);
    d = json_tokener_parse("[[[[[[[[[[7]]]]]]]]]]");
    assert_int_equal(tmpl_render(set, "ten", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "7");
    json_object_put(d);
    buf_free(&out);
    buf_free(&src);
    tmpl_set_free(set);
}

static void test_compile_errors(void **state) {
    (void)state;
    assert_compile_error("line1\n{{x|bogus}}", "t:2: ", "unknown filter 'bogus'");
    assert_compile_error("a\n\n{{#if x}}\nb", "t:3: ", "unclosed {{#if}}");
    assert_compile_error("{{#each xs}}\n{{#if x}}\n{{/each}}", "t:3: ", "opened on line 2");
    assert_compile_error("x\n{{else}}", "t:2: ", "{{else}} outside a block");
    assert_compile_error("\n\n\n{{/if}}", "t:4: ", "without matching");
    assert_compile_error("a\nb\nc {{x", "t:3: ", "unterminated tag");
    assert_compile_error("a {{! never closed", "t:1: ", "unterminated comment");
    assert_compile_error("{{#if a}}1{{else}}2{{else}}3{{/if}}", "t:1: ", "second {{else}}");
    assert_compile_error("{{#with a}}{{/with}}", "t:1: ", "unknown block");
    assert_compile_error("{{#if}}{{/if}}", "t:1: ", "needs a path");
    assert_compile_error("\n{{  }}", "t:2: ", "empty tag");
    assert_compile_error("{{a..b}}", "t:1: ", "invalid path");
    assert_compile_error("{{a.}}", "t:1: ", "invalid path");
    assert_compile_error("{{a b}}", "t:1: ", "invalid path");
    assert_compile_error("{{@foo}}", "t:1: ", "unknown variable");
    assert_compile_error("{{@index.x}}", "t:1: ", "has no fields");
    assert_compile_error("{{x|}}", "t:1: ", "missing filter");
    assert_compile_error("{{{x}}}", "t:1: ", "triple braces");
    assert_compile_error("{{>}}", "t:1: ", "needs a template name");
    /* a tag spanning lines reports the line it starts on; later lines count */
    assert_compile_error("{{ a\n }}\n{{ b | nope }}", "t:3: ", "unknown filter");
    assert_compile_error("{{!-- a\nb\n--}}\n{{/each}}", "t:4: ", "{{/each}}");

    /* a failed add leaves an existing set and its templates intact */
    tmpl_set_t *set = NULL;
    char err[256];
    assert_int_equal(tmpl_set_add(&set, "ok", "fine", err, sizeof err), 0);
    assert_int_equal(tmpl_set_add(&set, "ok", "{{#if}}", err, sizeof err), AISPM_EINVAL);
    assert_non_null(strstr(err, "ok:1:"));
    buf_t out = BUF_INIT;
    assert_int_equal(tmpl_render(set, "ok", NULL, &out), 0);
    assert_string_equal(buf_cstr(&out), "fine");
    buf_free(&out);
    tmpl_set_free(set);
}

/* ---- tmpl_set_load ---- */

static void write_file(const char *dir, const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void rm_path(const char *dir, const char *rel) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (unlink(path) != 0) assert_int_equal(rmdir(path), 0);
}

static void test_set_load(void **state) {
    (void)state;
    char dir[] = "/tmp/aispm_tmpl_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/reports", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/reports/deep", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    write_file(dir, "index.html", "<h1>{{title}}</h1>{{> reports/summary}}");
    write_file(dir, "reports/summary.md", "# {{title}} ({{count}})");
    write_file(dir, "reports/deep/note.txt", "note {{x|url}}");
    write_file(dir, "logo.svg", "<svg>{{c}}</svg>");
    write_file(dir, "feed.xml", "<feed/>");
    write_file(dir, "data.json", "{{ not a template");
    write_file(dir, ".hidden.html", "{{#if}}");

    tmpl_set_t *set = NULL;
    char err[256] = "";
    int rc = tmpl_set_load(dir, &set, err, sizeof err);
    if (rc) fail_msg("load failed: %d %s", rc, err);
    assert_non_null(set);
    struct json_object *d = json_tokener_parse("{\"title\":\"A<B\",\"count\":3,\"x\":\"a b\",\"c\":\"&\"}");
    buf_t out = BUF_INIT;
    assert_int_equal(tmpl_render(set, "index", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "<h1>A&lt;B</h1># A&lt;B (3)");
    buf_reset(&out);
    assert_int_equal(tmpl_render(set, "reports/deep/note", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "note a%20b");
    buf_reset(&out);
    assert_int_equal(tmpl_render(set, "logo", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "<svg>&amp;</svg>");
    buf_reset(&out);
    assert_int_equal(tmpl_render(set, "feed", d, &out), 0);
    assert_string_equal(buf_cstr(&out), "<feed/>");
    assert_int_equal(tmpl_render(set, "data", d, &out), AISPM_ENOTFOUND);
    assert_int_equal(tmpl_render(set, "index.html", d, &out), AISPM_ENOTFOUND);
    assert_int_equal(tmpl_render(set, "summary", d, &out), AISPM_ENOTFOUND);
    tmpl_set_free(set);

    /* a compile error names the file and line; no set is returned */
    write_file(dir, "reports/deep/bad.html", "ok\n{{#each xs}}\n{{/if}}\n");
    set = (tmpl_set_t *)&rc; /* must be overwritten */
    assert_int_equal(tmpl_set_load(dir, &set, err, sizeof err), AISPM_EINVAL);
    assert_null(set);
    if (!strstr(err, "reports/deep/bad.html:3: "))
        fail_msg("error lacks file:line: %s", err);
    rm_path(dir, "reports/deep/bad.html");

    /* two files mapping to the same name are rejected */
    write_file(dir, "reports/summary.txt", "dup");
    assert_int_equal(tmpl_set_load(dir, &set, err, sizeof err), AISPM_EINVAL);
    assert_null(set);
    assert_non_null(strstr(err, "duplicate template name 'reports/summary'"));
    rm_path(dir, "reports/summary.txt");

    /* a missing directory is an I/O error */
    snprintf(path, sizeof path, "%s/nope", dir);
    assert_int_equal(tmpl_set_load(path, &set, err, sizeof err), AISPM_EIO);
    assert_null(set);

    buf_free(&out);
    json_object_put(d);
    rm_path(dir, "reports/deep/note.txt");
    rm_path(dir, "reports/deep");
    rm_path(dir, "reports/summary.md");
    rm_path(dir, "reports");
    rm_path(dir, "index.html");
    rm_path(dir, "logo.svg");
    rm_path(dir, "feed.xml");
    rm_path(dir, "data.json");
    rm_path(dir, ".hidden.html");
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_default_escaped),
        cmocka_unit_test(test_attr_context),
        cmocka_unit_test(test_url_context),
        cmocka_unit_test(test_js_filter),
        cmocka_unit_test(test_raw_and_json),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_missing_values),
        cmocka_unit_test(test_nested_each),
        cmocka_unit_test(test_truthiness),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_includes),
        cmocka_unit_test(test_include_recursion_limit),
        cmocka_unit_test(test_scope_depth_limit),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_set_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
