/*
 * smtp_direct.c: the reference of bench/send.sh — a plain libcurl loop that
 * sends one message per SMTP connection (as the delivery job does) to a
 * local SMTP server for a number of seconds, with a body of the given size.
 * No database, no policy, no evidence: the ceiling for "a message through
 * libcurl to this server" on this machine.
 *
 *   smtp_direct PORT SECONDS BODY_BYTES
 * prints "RESULT messages seconds errors"
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *data;
    size_t len, off;
} rd_t;

static size_t rd(char *p, size_t s, size_t n, void *u) {
    rd_t *r = u;
    size_t k = s * n, left = r->len - r->off;
    if (k > left) k = left;
    memcpy(p, r->data + r->off, k);
    r->off += k;
    return k;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: smtp_direct PORT SECONDS BODY_BYTES\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double secs = atof(argv[2]);
    size_t body = (size_t)atol(argv[3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    size_t cap = body + 1024;
    char *msg = malloc(cap);
    long n = 0, errors = 0;
    double t0 = now_s();
    while (now_s() - t0 < secs) {
        int h = snprintf(msg, cap,
                         "From: <bench@bench.example>\r\nTo: undisclosed-recipients:;\r\nSubject: direct\r\n"
                         "Message-ID: <direct-%ld-%ld@bench>\r\nMIME-Version: 1.0\r\n\r\n",
                         (long)t0, n);
        size_t len = (size_t)h;
        while (len < (size_t)h + body) {
            size_t line = (size_t)h + body - len < 76 ? (size_t)h + body - len : 76;
            memset(msg + len, 'A', line);
            len += line;
            msg[len++] = '\r';
            msg[len++] = '\n';
            if (len + 80 > cap) break;
        }
        rd_t r = {msg, len, 0};
        CURL *c = curl_easy_init();
        struct curl_slist *rc = curl_slist_append(NULL, "<direct@bench.example>");
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_MAIL_FROM, "<bench@bench.example>");
        curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rc);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, rd);
        curl_easy_setopt(c, CURLOPT_READDATA, &r);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform(c) == CURLE_OK) n++;
        else errors++;
        curl_slist_free_all(rc);
        curl_easy_cleanup(c);
    }
    printf("RESULT %ld %.3f %ld\n", n, now_s() - t0, errors);
    free(msg);
    curl_global_cleanup();
    return 0;
}
