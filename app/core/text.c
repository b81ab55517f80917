/*
 * text.c: input validation helpers shared by the HTTP layer and the areas
 * (see text.h).
 *
 * Invariants:
 *  - Every validator is a pure predicate over its argument (NULL is simply
 *    invalid) except timezone_valid, which also consults the filesystem.
 *  - utf8_valid follows Unicode Table 3-7 (well-formed byte sequences): no
 *    overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
 *    no truncated sequences. U+0000 is well-formed and therefore accepted.
 *  - timezone_valid never builds a path from an unchecked name: the name's
 *    character set is restricted first (no '.', so no ".." and no hidden
 *    files; no leading, trailing or doubled '/'), and only then is
 *    /usr/share/zoneinfo/<name> opened. The file must be a regular file that
 *    starts with the TZif magic, which excludes the database's own metadata
 *    files (zone.tab, leapseconds, ...).
 *  - secretref_valid's `why` strings are fixed literals and never include any
 *    part of the rejected value (which may be a pasted secret).
 */
#include "core/text.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEXT_ZONEINFO_DIR "/usr/share/zoneinfo/"
#define TEXT_TZ_MAX 128

bool utf8_valid(const char *s, size_t len) {
    if (!s) return len == 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of 2nd byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0) lo = 0xA0;      /* overlong */
            else if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0) lo = 0x90;      /* overlong */
            else if (c == 0xF4) hi = 0x8F; /* > U+10FFFF */
        } else {
            return false; /* continuation byte, C0/C1 overlong, F5..FF */
        }
        if (len - i < n) return false;
        if (p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < n; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
        i += n;
    }
    return true;
}

static bool text_is_alnum(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool domain_valid(const char *s, bool require_dot) {
    if (!s) return false;
    size_t len = strnlen(s, 254);
    if (len == 0 || len > 253) return false;
    bool dot = false;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];
        if (c == '.' || c == '\0') {
            if (label == 0 || label > 63) return false;
            if (s[i - 1] == '-') return false; /* label ends with '-' */
            if (c == '.') dot = true;
            label = 0;
            continue;
        }
        if (c == '-') {
            if (label == 0) return false; /* label starts with '-' */
        } else if (!text_is_alnum(c)) {
            return false;
        }
        label++;
    }
    return !require_dot || dot;
}

static bool text_is_atext(char c) {
    return text_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

bool email_valid(const char *s) {
    if (!s) return false;
    size_t len = strnlen(s, 255);
    if (len == 0 || len > 254) return false;
    const char *at = strchr(s, '@');
    if (!at) return false;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64) return false;
    if (s[0] == '.' || s[local - 1] == '.') return false;
    for (size_t i = 0; i < local; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.') return false;
        } else if (!text_is_atext(s[i])) {
            return false;
        }
    }
    return domain_valid(at + 1, true); /* a second '@' fails here */
}

bool timezone_valid(const char *tz) {
    if (!tz) return false;
    size_t len = strnlen(tz, TEXT_TZ_MAX + 1);
    if (len == 0 || len > TEXT_TZ_MAX) return false;
    if (tz[0] == '/' || tz[len - 1] == '/') return false;
    if (strstr(tz, "..") || strstr(tz, "//")) return false;
    for (size_t i = 0; i < len; i++) {
        char c = tz[i];
        if (!text_is_alnum(c) && c != '_' && c != '+' && c != '-' && c != '/') return false;
    }
    char path[sizeof TEXT_ZONEINFO_DIR + TEXT_TZ_MAX];
    memcpy(path, TEXT_ZONEINFO_DIR, sizeof TEXT_ZONEINFO_DIR - 1);
    memcpy(path + sizeof TEXT_ZONEINFO_DIR - 1, tz, len + 1);

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return false;
    struct stat st;
    bool ok = false;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        char magic[4];
        ok = read(fd, magic, sizeof magic) == (ssize_t)sizeof magic &&
             memcmp(magic, "TZif", 4) == 0;
    }
    close(fd);
    return ok;
}

#define TEXT_ENV_NAME_MAX 128
#define TEXT_FILE_PATH_MAX 512

static bool text_env_name_valid(const char *n) {
    size_t len = strnlen(n, TEXT_ENV_NAME_MAX + 1);
    if (len == 0 || len > TEXT_ENV_NAME_MAX) return false;
    if (!((n[0] >= 'A' && n[0] <= 'Z') || n[0] == '_')) return false;
    for (size_t i = 1; i < len; i++) {
        char c = n[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

/* path after "file:"; sets *why on failure */
static bool text_file_path_valid(const char *p, const char **why) {
    size_t len = strnlen(p, TEXT_FILE_PATH_MAX + 1);
    if (len == 0 || p[0] != '/') {
        *why = "secret file path must be absolute";
        return false;
    }
    if (len > TEXT_FILE_PATH_MAX) {
        *why = "secret file path is longer than 512 characters";
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f) {
            *why = "secret file path must be printable ASCII without spaces";
            return false;
        }
    }
    /* every segment between slashes: reject "." and ".." */
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '/') continue;
        const char *seg = p + i + 1;
        size_t sl = strcspn(seg, "/");
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
            *why = "secret file path must not contain . or .. segments";
            return false;
        }
    }
    return true;
}

bool secretref_valid(const char *s, const char **why) {
    const char *dummy;
    if (!why) why = &dummy;
    *why = NULL;
    if (!s || !*s) {
        *why = "secret reference is empty";
        return false;
    }
    if (strncmp(s, "env:", 4) == 0) {
        if (!text_env_name_valid(s + 4)) {
            *why = "environment variable name must be 1-128 characters of A-Z, 0-9 and _, "
                   "not starting with a digit";
            return false;
        }
        return true;
    }
    if (strncmp(s, "file:", 5) == 0) return text_file_path_valid(s + 5, why);
    *why = "not a secret reference: expected env:NAME or file:/absolute/path";
    return false;
}
