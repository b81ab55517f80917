/*
 * err.h: the project-wide error convention.
 *
 * Functions return 0 on success or one of these negative codes; results travel
 * through out-parameters. Codes are stable: the HTTP layer maps them to
 * problem+json statuses (server/problem.c).
 */
#ifndef AISPM_CORE_ERR_H
#define AISPM_CORE_ERR_H

enum {
    AISPM_OK = 0,
    AISPM_ERR = -1,          /* unexpected internal failure (logged) */
    AISPM_ENOTFOUND = -2,    /* no such row / object (in the caller's tenant) */
    AISPM_ECONFLICT = -3,    /* unique key or state conflict */
    AISPM_EINVAL = -4,       /* caller input failed validation */
    AISPM_EDB = -5,          /* database error */
    AISPM_EFORBIDDEN = -6,   /* authenticated but not allowed */
    AISPM_EUNAUTH = -7,      /* not authenticated */
    AISPM_ETOOMANY = -8,     /* throttled */
    AISPM_EIO = -9,          /* file / socket I/O failure */
    AISPM_ECRYPTO = -10,     /* key or signature failure */
    AISPM_EGONE = -11,       /* existed, but retention ended or it was deleted (410) */
};

#endif
