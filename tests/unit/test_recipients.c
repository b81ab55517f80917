/*
 * test_recipients.c: the recipient evaluator (reports/recipients.c), the one
 * place allow / block / needs-approval is decided — domain rules (longest
 * suffix match, blocked, internal, external with and without approval),
 * unknown domains under each default action, channel eligibility, invalid
 * addresses, encryption flags, disabled policies, recipient refs (stable per
 * tenant, case-insensitive, never containing the address), document
 * validation that never echoes an address, and the SMTP message the provider
 * sends (stable Message-ID, attachment, no header injection).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/hash.h"
#include "providers/provider.h"
#include "reports/approvals.h"
#include "reports/recipients.h"

static const char *DOC =
    "{\"policy\":{\"name\":\"T\",\"status\":\"active\",\"default_action\":\"deny\","
    "\"external_delivery_default\":\"require_approval\"},"
    "\"domain_rules\":["
    "{\"domain\":\"corp.example\",\"classification\":\"internal\",\"allowed\":true,\"approval_required\":false,"
    "\"encryption_required\":false},"
    "{\"domain\":\"secret.corp.example\",\"classification\":\"internal\",\"allowed\":true,"
    "\"approval_required\":true,\"encryption_required\":true},"
    "{\"domain\":\"audit.example\",\"classification\":\"external_auditor\",\"allowed\":true,"
    "\"approval_required\":false,\"encryption_required\":true},"
    "{\"domain\":\"bad.example\",\"classification\":\"blocked\",\"allowed\":false,\"approval_required\":false,"
    "\"encryption_required\":false}],"
    "\"delivery_channel_eligibility\":[{\"channel\":\"smtp\",\"allowed\":true},{\"channel\":\"portal\","
    "\"allowed\":true},{\"channel\":\"webhook\",\"allowed\":false},{\"channel\":\"grc_upload\",\"allowed\":true}],"
    "\"approval_policy\":{\"external_recipient_approval_required\":false,\"new_domain_approval_required\":false,"
    "\"recipient_group_change_approval_required\":true,\"approver_group\":\"approver\"},"
    "\"encryption_policy\":{\"attachment_encryption_required\":false,\"minimum_transport\":\"tls_1_2\"}}";

static recipient_policy_t *policy(const char *edit_from, const char *edit_to) {
    char text[4096];
    snprintf(text, sizeof text, "%s", DOC);
    if (edit_from) {
        char *p = strstr(text, edit_from);
        assert_non_null(p);
        char rest[4096];
        snprintf(rest, sizeof rest, "%s", p + strlen(edit_from));
        snprintf(p, sizeof text - (size_t)(p - text), "%s%s", edit_to, rest);
    }
    json_object *doc = json_tokener_parse(text), *errors = NULL;
    assert_non_null(doc);
    recipient_policy_t *pol = NULL;
    assert_int_equal(recipients_policy_from_doc(doc, "tenant:01ARZ3NDEKTSV4RRFFQ69G5FAV", &pol, &errors), 0);
    json_object_put(doc);
    return pol;
}

static void expect(const recipient_policy_t *p, const char *addr, delivery_channel_t ch, rcpt_decision_t d,
                   const char *reason) {
    rcpt_verdict_t v;
    recipient_evaluate(p, addr, ch, &v);
    assert_int_equal(v.decision, d);
    assert_string_equal(v.reason, reason);
}

static void test_domain_rules(void **state) {
    (void)state;
    recipient_policy_t *p = policy(NULL, NULL);
    expect(p, "a@corp.example", CHANNEL_SMTP, RCPT_ALLOW, "internal_domain");
    expect(p, "a@Mail.CORP.example", CHANNEL_SMTP, RCPT_ALLOW, "internal_domain"); /* subdomain, any case */
    expect(p, "a@secret.corp.example", CHANNEL_SMTP, RCPT_NEEDS_APPROVAL, "domain_requires_approval"); /* longest */
    expect(p, "a@x.secret.corp.example", CHANNEL_SMTP, RCPT_NEEDS_APPROVAL, "domain_requires_approval");
    expect(p, "a@notcorp.example", CHANNEL_SMTP, RCPT_BLOCK, "domain_not_allowed"); /* no suffix confusion */
    expect(p, "a@bad.example", CHANNEL_SMTP, RCPT_BLOCK, "domain_denied");
    /* external: the default requires approval even when the rule does not */
    expect(p, "a@audit.example", CHANNEL_SMTP, RCPT_NEEDS_APPROVAL, "external_recipient");
    rcpt_verdict_t v;
    recipient_evaluate(p, "a@audit.example", CHANNEL_SMTP, &v);
    assert_true(v.external && v.encryption_required);
    assert_string_equal(v.approval_type, APPROVAL_EXTERNAL_DELIVERY_EXCEPTION);
    assert_string_equal(v.domain, "audit.example");
    recipients_policy_free(p);
    /* allow_with_audit lets external domains through; deny blocks them */
    p = policy("\"external_delivery_default\":\"require_approval\"", "\"external_delivery_default\":\"allow_with_audit\"");
    expect(p, "a@audit.example", CHANNEL_SMTP, RCPT_ALLOW, "external_allowed_with_audit");
    recipients_policy_free(p);
    p = policy("\"external_delivery_default\":\"require_approval\"", "\"external_delivery_default\":\"deny\"");
    expect(p, "a@audit.example", CHANNEL_SMTP, RCPT_BLOCK, "external_denied");
    expect(p, "a@corp.example", CHANNEL_SMTP, RCPT_ALLOW, "internal_domain");
    recipients_policy_free(p);
}

static void test_unknown_domains(void **state) {
    (void)state;
    recipient_policy_t *p = policy("\"default_action\":\"deny\"", "\"default_action\":\"require_approval\"");
    expect(p, "a@new.example", CHANNEL_SMTP, RCPT_NEEDS_APPROVAL, "new_domain");
    rcpt_verdict_t v;
    recipient_evaluate(p, "a@new.example", CHANNEL_SMTP, &v);
    assert_string_equal(v.approval_type, APPROVAL_NEW_DOMAIN);
    recipients_policy_free(p);
    p = policy("\"default_action\":\"deny\"", "\"default_action\":\"allow\"");
    expect(p, "a@new.example", CHANNEL_SMTP, RCPT_ALLOW, "default_allow");
    recipients_policy_free(p);
    p = policy("\"new_domain_approval_required\":false", "\"new_domain_approval_required\":true");
    expect(p, "a@new.example", CHANNEL_SMTP, RCPT_BLOCK, "domain_not_allowed"); /* deny still wins */
    recipients_policy_free(p);
}

static void test_channels_and_addresses(void **state) {
    (void)state;
    recipient_policy_t *p = policy(NULL, NULL);
    expect(p, NULL, CHANNEL_WEBHOOK, RCPT_BLOCK, "channel_not_allowed");
    expect(p, NULL, CHANNEL_GRC_UPLOAD, RCPT_ALLOW, "channel_endpoint");
    expect(p, "a@corp.example", CHANNEL_PORTAL, RCPT_ALLOW, "internal_domain");
    expect(p, "not an address", CHANNEL_SMTP, RCPT_BLOCK, "invalid_address");
    expect(p, NULL, CHANNEL_SMTP, RCPT_BLOCK, "invalid_address");
    expect(p, "a@@corp.example", CHANNEL_SMTP, RCPT_BLOCK, "invalid_address");
    recipients_policy_free(p);
    p = policy("\"status\":\"active\"", "\"status\":\"disabled\"");
    expect(p, "a@corp.example", CHANNEL_SMTP, RCPT_BLOCK, "policy_disabled");
    recipients_policy_free(p);
    p = policy("\"attachment_encryption_required\":false", "\"attachment_encryption_required\":true");
    rcpt_verdict_t v;
    recipient_evaluate(p, "a@corp.example", CHANNEL_SMTP, &v);
    assert_true(v.decision == RCPT_ALLOW && v.encryption_required);
    recipients_policy_free(p);
    delivery_channel_t ch;
    assert_int_equal(channel_parse("email", &ch), 0);
    assert_int_equal(ch, CHANNEL_SMTP);
    assert_int_equal(channel_parse("download", &ch), 0);
    assert_int_equal(ch, CHANNEL_PORTAL);
    assert_int_not_equal(channel_parse("fax", &ch), 0);
}

static void test_recipient_refs(void **state) {
    (void)state;
    char a[RECIPIENT_REF_MAX], b[RECIPIENT_REF_MAX], c[RECIPIENT_REF_MAX];
    recipient_ref_of("tenant:A", "Alice@Corp.example", a);
    recipient_ref_of("tenant:A", "alice@corp.example", b);
    recipient_ref_of("tenant:B", "alice@corp.example", c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c); /* not linkable across tenants */
    assert_int_equal(strlen(a), 5 + 32);
    assert_null(strstr(a, "alice"));
    assert_memory_equal(a, "rcpt:", 5);
}

static void test_document_errors_never_echo(void **state) {
    (void)state;
    json_object *doc = json_tokener_parse(
        "{\"policy\":{\"default_action\":\"maybe\",\"external_delivery_default\":\"deny\"},"
        "\"recipient_groups\":[{\"display_name\":\"G\",\"role_scope\":\"cso\",\"members\":[\"canary-x@@y\"]}],"
        "\"domain_rules\":[{\"domain\":\"-bad-\",\"classification\":\"internal\"}],\"extra\":1}");
    json_object *errors = NULL;
    recipient_policy_t *p = NULL;
    assert_int_equal(recipients_policy_from_doc(doc, "tenant:A", &p, &errors), -4);
    assert_null(p);
    const char *txt = json_object_to_json_string(errors);
    assert_non_null(strstr(txt, "policy.default_action"));
    assert_non_null(strstr(txt, "recipient_groups[0]"));
    assert_non_null(strstr(txt, "domain_rules[0]"));
    assert_non_null(strstr(txt, "extra"));
    assert_null(strstr(txt, "canary-x"));
    json_object_put(errors);
    json_object_put(doc);
}

static void test_smtp_message(void **state) {
    (void)state;
    provider_settings_t s;
    memset(&s, 0, sizeof s);
    snprintf(s.from, sizeof s.from, "reports@corp.example");
    const uint8_t att[] = {0, 1, 2, 255, 'x'};
    provider_message_t m = {.delivery_ref = "delivery:01ARZ3NDEKTSV4RRFFQ69G5FAV",
                            .message_id = "<01ARZ3NDEKTSV4RRFFQ69G5FAV@aispm.report-center>",
                            .subject = "Report\r\nBcc: evil@example.com",
                            .text = "hello",
                            .attachment = att,
                            .attachment_len = sizeof att,
                            .attachment_name = "r\"e.json",
                            .attachment_type = "application/json"};
    buf_t a = BUF_INIT, b = BUF_INIT;
    provider_smtp_message(&s, &m, 1700000000000LL, &a);
    provider_smtp_message(&s, &m, 1700000000000LL, &b);
    assert_string_equal(buf_cstr(&a), buf_cstr(&b)); /* same delivery, same bytes */
    assert_non_null(strstr(a.data, "Message-ID: <01ARZ3NDEKTSV4RRFFQ69G5FAV@aispm.report-center>\r\n"));
    assert_non_null(strstr(a.data, "To: undisclosed-recipients:;\r\n"));
    assert_null(strstr(a.data, "\r\nBcc:")); /* CR LF in a header value cannot start a header */
    assert_non_null(strstr(a.data, "filename=\"r_e.json\""));
    assert_non_null(strstr(a.data, "AAEC/3g=")); /* base64 of the attachment */
    buf_free(&a);
    buf_free(&b);
    char sig[80];
    provider_signature("key", "1700000000", "{}", 2, sig);
    /* python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1700000000.{}",hashlib.sha256).hexdigest())' */
    assert_string_equal(sig, "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domain_rules),
        cmocka_unit_test(test_unknown_domains),
        cmocka_unit_test(test_channels_and_addresses),
        cmocka_unit_test(test_recipient_refs),
        cmocka_unit_test(test_document_errors_never_echo),
        cmocka_unit_test(test_smtp_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
