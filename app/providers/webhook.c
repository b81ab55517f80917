/*
 * webhook.c: webhook and GRC-upload delivery — an HTTP(S) POST of a JSON
 * document with
 *     X-AISPM-Delivery-Id: delivery:ULID   (idempotency key for the receiver)
 *     X-AISPM-Timestamp:   unix seconds
 *     X-AISPM-Signature:   sha256=<hex HMAC-SHA256(secret, timestamp "." body)>
 * The secret is a secret reference resolved at send time. Status 2xx ->
 * delivered; 408, 429 and 5xx, connection errors and timeouts -> transient;
 * other 4xx -> permanent. The response body is discarded unread (it is the
 * receiver's and may echo private data).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "providers/provider.h"

void provider_signature(const char *secret, const char *timestamp, const char *body, size_t len, char out[80]) {
    buf_t b = BUF_INIT;
    buf_puts(&b, timestamp);
    buf_putc(&b, '.');
    buf_append(&b, body, len);
    uint8_t mac[SHA256_LEN];
    hmac_sha256(secret, strlen(secret), b.data, b.len, mac);
    buf_free(&b);
    char hex[SHA256_HEX_LEN + 1];
    hex_encode(mac, SHA256_LEN, hex);
    snprintf(out, 80, "sha256=%s", hex);
}

static size_t discard(char *p, size_t s, size_t n, void *u) {
    (void)p, (void)u;
    return s * n;
}

static void outcome(provider_outcome_t *o, provider_result_t r, int status, const char *code) {
    o->result = r;
    o->status = status;
    snprintf(o->code, sizeof o->code, "%s", code);
}

int provider_http_post(const provider_settings_t *s, const char *url, const provider_message_t *m,
                       provider_outcome_t *out) {
    memset(out, 0, sizeof *out);
    if (!url || (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))) {
        outcome(out, PROVIDER_REFUSED, 0, "not_configured");
        return 0;
    }
    char secret[512] = "";
    if (!s->signing_secret_ref[0] || secret_resolve(s->signing_secret_ref, secret, sizeof secret) || !secret[0]) {
        outcome(out, PROVIDER_PERMANENT, 0, "signing_secret_unavailable");
        return 0;
    }
    char ts[32], sig[80], h1[200], h2[64], h3[120];
    snprintf(ts, sizeof ts, "%lld", (long long)(now_ms() / 1000));
    provider_signature(secret, ts, m->json, m->json_len, sig);
    memset(secret, 0, sizeof secret);
    snprintf(h1, sizeof h1, "X-AISPM-Delivery-Id: %s", m->delivery_ref);
    snprintf(h2, sizeof h2, "X-AISPM-Timestamp: %s", ts);
    snprintf(h3, sizeof h3, "X-AISPM-Signature: %s", sig);
    struct curl_slist *hd = NULL;
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, h1);
    hd = curl_slist_append(hd, h2);
    hd = curl_slist_append(hd, h3);
    hd = curl_slist_append(hd, "Expect:");
    CURL *c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(hd);
        return AISPM_ERR;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m->json_len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (s->ca_file[0]) curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    provider_egress_t guard = {.allow_private = s->allow_private};
    provider_egress_guard(c, &guard);
    long tmo = s->timeout_ms > 0 ? s->timeout_ms : 30000;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK && guard.refused) outcome(out, PROVIDER_PERMANENT, 0, "destination_not_allowed");
    else if (cc != CURLE_OK) outcome(out, PROVIDER_TRANSIENT, 0, cc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "connect_failed");
    else if (code >= 200 && code < 300) outcome(out, PROVIDER_OK, (int)code, "sent");
    else if (code == 408 || code == 429 || code >= 500) outcome(out, PROVIDER_TRANSIENT, (int)code, "http_retryable");
    else outcome(out, PROVIDER_PERMANENT, (int)code, "http_4xx");
    return 0;
}
