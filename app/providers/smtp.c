/*
 * smtp.c: e-mail delivery through libcurl's SMTP client.
 *
 * Transport: port 465 or CAVRA_REPORT_SMTP_TLS=tls -> smtps:// (implicit
 * TLS); otherwise STARTTLS is required (CURLUSESSL_ALL) unless the setting
 * says `none` (a private relay on loopback, the test sink). Credentials are
 * secret references resolved here, immediately before the connection, and
 * wiped after. Replies: 4xx -> transient, 5xx -> permanent; connection and
 * timeout errors are transient. The Message-ID is the delivery's, so a
 * re-sent copy after a crash is recognisably the same message.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/timeutil.h"
#include "providers/provider.h"

typedef struct {
    const char *data;
    size_t len, off;
} reader_t;

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    reader_t *r = ud;
    size_t n = size * nmemb, left = r->len - r->off;
    if (n > left) n = left;
    memcpy(ptr, r->data + r->off, n);
    r->off += n;
    return n;
}

static void header_date(int64_t ms, char out[64]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* header text: printable ASCII only, no CR/LF (header injection) */
static void put_header(buf_t *out, const char *name, const char *v) {
    buf_puts(out, name);
    buf_puts(out, ": ");
    for (const char *p = v ? v : ""; *p; p++)
        buf_putc(out, (*p >= 0x20 && *p < 0x7f) ? *p : '?');
    buf_puts(out, "\r\n");
}

static void put_b64_lines(buf_t *out, const uint8_t *data, size_t len) {
    for (size_t off = 0; off < len; off += 57) {
        size_t n = len - off < 57 ? len - off : 57;
        char line[80];
        b64_encode(data + off, n, line);
        buf_puts(out, line);
        buf_puts(out, "\r\n");
    }
}

void provider_smtp_message(const provider_settings_t *s, const provider_message_t *m, int64_t date_ms, buf_t *out) {
    char date[64], boundary[80];
    header_date(date_ms, date);
    snprintf(boundary, sizeof boundary, "aispm-%s", m->delivery_ref ? m->delivery_ref + 9 : "part");
    put_header(out, "From", s->from);
    put_header(out, "To", "undisclosed-recipients:;");
    if (s->reply_to[0]) put_header(out, "Reply-To", s->reply_to);
    put_header(out, "Subject", m->subject);
    put_header(out, "Date", date);
    put_header(out, "Message-ID", m->message_id);
    put_header(out, "X-AISPM-Delivery-Id", m->delivery_ref);
    put_header(out, "MIME-Version", "1.0");
    buf_printf(out, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", boundary);
    buf_printf(out, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
               boundary);
    put_b64_lines(out, (const uint8_t *)(m->text ? m->text : ""), m->text ? strlen(m->text) : 0);
    if (m->attachment) {
        buf_printf(out, "--%s\r\n", boundary);
        put_header(out, "Content-Type", m->attachment_type ? m->attachment_type : "application/octet-stream");
        buf_puts(out, "Content-Transfer-Encoding: base64\r\n");
        buf_printf(out, "Content-Disposition: attachment; filename=\"");
        for (const char *p = m->attachment_name ? m->attachment_name : "report"; *p; p++)
            buf_putc(out, (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') ? *p : '_');
        buf_puts(out, "\"\r\n\r\n");
        put_b64_lines(out, m->attachment, m->attachment_len);
    }
    buf_printf(out, "--%s--\r\n", boundary);
}

static void outcome(provider_outcome_t *o, provider_result_t r, int status, const char *code) {
    o->result = r;
    o->status = status;
    snprintf(o->code, sizeof o->code, "%s", code);
}

int provider_smtp_send(const provider_settings_t *s, const provider_message_t *m, provider_outcome_t *out) {
    memset(out, 0, sizeof *out);
    if (!s->smtp_host[0] || s->smtp_port <= 0 || !s->from[0]) {
        outcome(out, PROVIDER_REFUSED, 0, "not_configured");
        return 0;
    }
    bool implicit = !strcmp(s->smtp_tls, "tls") || (!s->smtp_tls[0] && s->smtp_port == 465);
    bool plain = !strcmp(s->smtp_tls, "none");
    char url[400];
    snprintf(url, sizeof url, "%s://%s:%d", implicit ? "smtps" : "smtp", s->smtp_host, s->smtp_port);
    char user[512] = "", pass[512] = "";
    if ((s->smtp_username_ref[0] && secret_resolve(s->smtp_username_ref, user, sizeof user)) ||
        (s->smtp_password_ref[0] && secret_resolve(s->smtp_password_ref, pass, sizeof pass))) {
        outcome(out, PROVIDER_PERMANENT, 0, "credentials_unavailable");
        return 0;
    }
    buf_t msg = BUF_INIT;
    provider_smtp_message(s, m, now_ms(), &msg);
    reader_t rd = {msg.data, msg.len, 0};
    CURL *c = curl_easy_init();
    if (!c) {
        buf_free(&msg);
        return AISPM_ERR;
    }
    struct curl_slist *rcpt = NULL;
    for (int i = 0; i < m->nto; i++) {
        char a[300];
        snprintf(a, sizeof a, "<%s>", m->to[i]);
        rcpt = curl_slist_append(rcpt, a);
    }
    char from[300];
    snprintf(from, sizeof from, "<%s>", s->from);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &rd);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_USE_SSL, plain ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (s->ca_file[0]) curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    provider_egress_t guard = {.allow_private = s->allow_private};
    provider_egress_guard(c, &guard);
    long tmo = s->timeout_ms > 0 ? s->timeout_ms : 30000;
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, tmo);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, tmo < 10000 ? tmo : 10000);
    if (user[0]) curl_easy_setopt(c, CURLOPT_USERNAME, user);
    if (pass[0]) curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    buf_free(&msg);
    memset(user, 0, sizeof user);
    memset(pass, 0, sizeof pass);
    if (cc != CURLE_OK && guard.refused) outcome(out, PROVIDER_PERMANENT, 0, "destination_not_allowed");
    else if (cc == CURLE_OK) outcome(out, PROVIDER_OK, (int)code, "sent");
    else if (code >= 500) outcome(out, PROVIDER_PERMANENT, (int)code, "smtp_5xx");
    else if (code >= 400) outcome(out, PROVIDER_TRANSIENT, (int)code, "smtp_4xx");
    else if (cc == CURLE_LOGIN_DENIED) outcome(out, PROVIDER_PERMANENT, (int)code, "auth_failed");
    else if (cc == CURLE_USE_SSL_FAILED || cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION)
        outcome(out, PROVIDER_TRANSIENT, (int)code, "tls_failed");
    else if (cc == CURLE_OPERATION_TIMEDOUT) outcome(out, PROVIDER_TRANSIENT, (int)code, "timeout");
    else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
        outcome(out, PROVIDER_PERMANENT, (int)code, "not_configured");
    else outcome(out, PROVIDER_TRANSIENT, (int)code, "connect_failed");
    return 0;
}
