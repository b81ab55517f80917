/*
 * provider.h: one interface in front of every way a report leaves the
 * system — SMTP (smtp.c, libcurl; STARTTLS or implicit TLS), webhook and
 * GRC upload (webhook.c: HTTP(S) POST with an HMAC-SHA256 signature header
 * and a delivery id), the portal inbox (no network), and `disabled` mode
 * (refuses with a clear reason).
 *
 * Secrets (SMTP credentials, signing keys) arrive as secret references and
 * are resolved here, at send time only (secretref_resolve, core/text.h);
 * they are never logged, stored or returned. Provider responses are
 * classified into an outcome and a short code; the raw response is never
 * kept (it may echo addresses).
 */
#ifndef AISPM_PROVIDERS_PROVIDER_H
#define AISPM_PROVIDERS_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    PROVIDER_OK = 0,        /* accepted by the receiver */
    PROVIDER_TRANSIENT,     /* retry later: SMTP 4xx, connection errors, HTTP 5xx / 429 */
    PROVIDER_PERMANENT,     /* do not retry: SMTP 5xx, HTTP 4xx, bad settings */
    PROVIDER_REFUSED,       /* disabled mode or channel not configured */
} provider_result_t;

typedef struct {
    provider_result_t result;
    int status;             /* SMTP reply / HTTP status, 0 when none */
    char code[64];          /* stable short code: sent, smtp_4xx, smtp_5xx, connect_failed, http_5xx,
                               tls_failed, auth_failed, delivery_disabled, not_configured ... */
} provider_outcome_t;

/* tenant delivery settings (CAVRA_REPORT_* of the setup wizard) */
typedef struct {
    char mode[24];          /* smtp | webhook | disabled | ... (CAVRA_REPORT_DELIVERY_MODE) */
    char smtp_host[254];
    int smtp_port;
    char smtp_tls[16];      /* starttls | tls | none (CAVRA_REPORT_SMTP_TLS; default by port) */
    char smtp_username_ref[520], smtp_password_ref[520];
    char from[255], reply_to[255];
    char webhook_url[1024], grc_upload_url[1024];
    char signing_secret_ref[520]; /* CAVRA_REPORT_WEBHOOK_SECRET_REF, else PROVIDER_TOKEN_REF */
    char ca_file[1024];     /* extra CA bundle for TLS (config smtp_ca_file); "" = system */
    bool allow_private;     /* config egress_private_networks */
    long timeout_ms;
} provider_settings_t;

typedef struct {
    const char *delivery_ref;   /* delivery:ULID, also the idempotency id for receivers */
    const char *message_id;     /* stable RFC 5322 Message-ID "<ulid@host>" */
    const char *subject;
    const char *text;           /* plain-text body */
    /* smtp: RCPT TO list (PRIVATE) */
    const char *const *to; int nto;
    /* the artifact, or NULL when a portal link replaces it */
    const uint8_t *attachment; size_t attachment_len;
    const char *attachment_name, *attachment_type;
    /* webhook / grc: JSON document to POST (metadata; GRC: with the artifact base64) */
    const char *json; size_t json_len;
} provider_message_t;

/* SMTP */
int provider_smtp_send(const provider_settings_t *s, const provider_message_t *m, provider_outcome_t *out);
/* webhook (url = webhook_url) and grc upload (url = grc_upload_url):
 * headers X-AISPM-Delivery-Id, X-AISPM-Timestamp, X-AISPM-Signature:
 * "sha256=" hex HMAC-SHA256(secret, timestamp "." body) */
int provider_http_post(const provider_settings_t *s, const char *url, const provider_message_t *m,
                       provider_outcome_t *out);

/* the RFC 5322 / MIME message provider_smtp_send transmits (exposed for
 * tests): headers with the stable Message-ID, a text part and, when given,
 * the attachment base64-encoded; CRLF line ends. Appends to out. */
#include "core/buf.h"
void provider_smtp_message(const provider_settings_t *s, const provider_message_t *m, int64_t date_ms, buf_t *out);
/* egress guard: true when a provider may connect to ip (text form, v4 or
 * v6): always for public addresses; loopback, private, CGNAT, link-local,
 * unspecified, multicast and their IPv4-mapped forms only when
 * allow_private. Applied by libcurl's pre-request callback to the address
 * actually connected, so DNS answers cannot route around it; a refused
 * connection is the permanent outcome "destination_not_allowed". */
bool provider_egress_allowed(const char *ip, bool allow_private);
typedef struct {
    bool allow_private; /* in */
    bool refused;       /* out: an address was refused (the send failed because of it) */
} provider_egress_t;
/* installs the guard on a curl easy handle (CURL *); g must outlive the transfer */
void provider_egress_guard(void *curl, provider_egress_t *g);

/* "sha256=" + hex HMAC-SHA256(secret, timestamp "." body): what receivers check */
void provider_signature(const char *secret, const char *timestamp, const char *body, size_t len, char out[80]);

#endif
