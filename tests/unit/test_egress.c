/*
 * test_egress.c: the providers' egress guard (providers/egress.c) — which
 * addresses count as loopback / private / link-local / reserved (IPv4, IPv6,
 * IPv4-mapped), and that a real SMTP or webhook send to a listening loopback
 * socket is refused with the permanent outcome destination_not_allowed
 * before anything is written to it, unless egress_private_networks allows it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "providers/provider.h"

static void test_classifier(void **state) {
    (void)state;
    static const char *const refused[] = {
        "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::",
        "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.1.2.3", "not-an-ip", ""};
    static const char *const allowed[] = {"93.184.216.34", "8.8.8.8", "172.32.0.1", "172.15.255.255",
                                          "100.128.0.1", "192.169.0.1", "2001:4860:4860::8888",
                                          "::ffff:8.8.8.8"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        if (provider_egress_allowed(refused[i], false)) fail_msg("%s must be refused", refused[i]);
        if (*refused[i] && strcmp(refused[i], "not-an-ip") && !provider_egress_allowed(refused[i], true))
            fail_msg("%s must be allowed with egress_private_networks", refused[i]);
    }
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if (!provider_egress_allowed(allowed[i], false)) fail_msg("%s must be allowed", allowed[i]);
}

/* a loopback listener; returns its port */
static int listener(int *fd) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(*fd, 4), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

/* nobody connected to the listener */
static void assert_untouched(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
}

static void test_sends_to_loopback_refused(void **state) {
    (void)state;
    int fd, port = listener(&fd);
    setenv("AISPM_TEST_EGRESS_SECRET", "s3cret", 1);
    provider_settings_t s = {.smtp_port = port, .timeout_ms = 3000};
    snprintf(s.smtp_host, sizeof s.smtp_host, "localhost");
    snprintf(s.smtp_tls, sizeof s.smtp_tls, "none");
    snprintf(s.from, sizeof s.from, "reports@acme.example");
    snprintf(s.signing_secret_ref, sizeof s.signing_secret_ref, "env:AISPM_TEST_EGRESS_SECRET");
    const char *to[] = {"cso@acme.example"};
    provider_message_t m = {.delivery_ref = "delivery:01TEST", .message_id = "<01TEST@aispm>", .subject = "s",
                            .text = "t", .to = to, .nto = 1, .json = "{}", .json_len = 2};
    provider_outcome_t o;
    assert_int_equal(provider_smtp_send(&s, &m, &o), 0);
    assert_int_equal(o.result, PROVIDER_PERMANENT);
    assert_string_equal(o.code, "destination_not_allowed");
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    assert_int_equal(provider_http_post(&s, url, &m, &o), 0);
    assert_int_equal(o.result, PROVIDER_PERMANENT);
    assert_string_equal(o.code, "destination_not_allowed");
    snprintf(url, sizeof url, "http://[::ffff:127.0.0.1]:%d/hook", port);
    assert_int_equal(provider_http_post(&s, url, &m, &o), 0);
    assert_string_equal(o.code, "destination_not_allowed");
    assert_untouched(fd);
    /* allowed: the connection is made (the listener never answers, so the
     * send times out — transient, not refused) */
    s.allow_private = true;
    s.timeout_ms = 300;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    assert_int_equal(provider_http_post(&s, url, &m, &o), 0);
    assert_int_equal(o.result, PROVIDER_TRANSIENT);
    assert_string_not_equal(o.code, "destination_not_allowed");
    close(fd);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier),
        cmocka_unit_test(test_sends_to_loopback_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
