/*
 * egress.c: where providers may connect. Tenants choose their own SMTP relay,
 * webhook and GRC-upload endpoints, so without a guard a tenant admin could
 * make the job worker talk to loopback services, the private network or a
 * cloud metadata endpoint. The guard runs in libcurl's open-socket callback,
 * on the address about to be connected (after DNS, for every address tried),
 * so neither a hostname nor a DNS answer can route around it.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <string.h>
#include <sys/socket.h>

#include "providers/provider.h"

static bool v4_private(const uint8_t a[4]) {
    return a[0] == 0 ||                                  /* 0.0.0.0/8 "this network" */
           a[0] == 10 ||                                 /* RFC 1918 */
           a[0] == 127 ||                                /* loopback */
           (a[0] == 100 && (a[1] & 0xc0) == 64) ||       /* 100.64.0.0/10 carrier-grade NAT */
           (a[0] == 169 && a[1] == 254) ||               /* link-local, cloud metadata */
           (a[0] == 172 && (a[1] & 0xf0) == 16) ||       /* RFC 1918 */
           (a[0] == 192 && a[1] == 168) ||               /* RFC 1918 */
           (a[0] == 192 && a[1] == 0 && a[2] == 0) ||    /* IETF protocol assignments */
           (a[0] == 198 && (a[1] & 0xfe) == 18) ||       /* benchmarking */
           a[0] >= 224;                                  /* multicast, reserved, broadcast */
}

static bool v6_private(const uint8_t a[16]) {
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(a, mapped, 12)) return v4_private(a + 12);  /* ::ffff:a.b.c.d */
    if (!memcmp(a, zero, 15)) return true;                  /* :: and ::1 */
    return (a[0] & 0xfe) == 0xfc ||                         /* fc00::/7 unique local */
           (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||       /* fe80::/10 link-local */
           a[0] == 0xff;                                    /* multicast */
}

bool provider_egress_allowed(const char *ip, bool allow_private) {
    uint8_t a[16];
    if (inet_pton(AF_INET, ip, a) == 1) return allow_private || !v4_private(a);
    if (inet_pton(AF_INET6, ip, a) == 1) return allow_private || !v6_private(a);
    return false; /* not an address: refuse */
}

static curl_socket_t open_guarded(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr) {
    provider_egress_t *g = clientp;
    char ip[INET6_ADDRSTRLEN] = "";
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    if (addr->family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr, ip, sizeof ip);
    else if (addr->family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&addr->addr)->sin6_addr, ip, sizeof ip);
    if (!ip[0] || !provider_egress_allowed(ip, g->allow_private)) {
        g->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

void provider_egress_guard(void *curl, provider_egress_t *g) {
    g->refused = false;
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_guarded);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, g);
}
