/*
 * export_packages.h: signed export packages — chosen artifacts bundled for a
 * purpose (board pack, GRC upload, SIEM export, evidence room, incident
 * review) into a ZIP that anyone can verify offline without trusting us.
 *
 *  POST .../reports/packages -> packages_create(): validates the request
 *      (type, 1..50 artifact refs of the actor's tenant, retention class,
 *      opaque delivery targets), honours Idempotency-Key (unique per tenant;
 *      the same key with other parameters is 409), records evidence
 *      package.requested, links the tenant's evidence and signs a checkpoint
 *      covering it, builds and stores the ZIP, then in one transaction the
 *      package row, its artifact list and evidence package.built.
 *  The ZIP holds: artifacts/NN_<filename> (the stored bytes, re-hashed
 *      against their digests), evidence-chain.json (the chain segments that
 *      contain the package's events, each ending in a signed checkpoint),
 *      oscal/assessment-results.{json,xml} (grc_upload), manifest.json
 *      (RFC 8785), manifest.json.jws (detached JWS, RS256, kid),
 *      manifest.xml (enveloped XML-DSig, exclusive c14n, RSA-SHA256, KeyName
 *      = kid and the X.509 certificate), VERIFY.txt and SHA256SUMS.
 *  GET .../packages/{ref}, GET .../packages (list), GET .../packages/{ref}/
 *      manifest (the public contract projection: refs and digests only) and
 *      GET .../packages/{ref}/content (download, evidence package.downloaded).
 *
 * The package signing key (RSA, config package_key, mode 0600) and its
 * certificate (package_cert) are read per package; the key's public JWK and
 * certificate are registered (signing_keys, signing_certificates) before the
 * first signature, so verification material outlives rotation.
 * Every query filters by the actor's tenant: another tenant's ref is 404.
 */
#ifndef AISPM_REPORTS_EXPORT_PACKAGES_H
#define AISPM_REPORTS_EXPORT_PACKAGES_H

#include <json-c/json.h>

#include "crypto/keys.h"
#include "db/db.h"
#include "reports/renderer.h"
#include "server/http.h"

#define PACKAGES_MAX_ARTIFACTS 50
#define PACKAGES_MAX_TARGETS 20
#define PACKAGES_JWS_TYP "aispm-package-manifest+jws"
#define PACKAGES_CERT_PATH "/.well-known/aispm-signing-cert.pem"

/* status 201 (built), 200 (idempotent repeat) or a refusal (404, 409, 422,
 * 500/503 for signing material or storage) with code/detail; body: the
 * package metadata, or field errors */
typedef struct {
    int status;
    const char *code;
    const char *detail;
    json_object *body;
} package_outcome_t;

int packages_create(db_t *db, const config_t *cfg, const actor_t *a, json_object *body, const char *idempotency_key,
                    const char *request_id, package_outcome_t *out);
void package_outcome_free(package_outcome_t *o);

/* metadata: {package_ref, package_type, retention_class, watermark_required,
 * signed_manifest_required, requester_role, created_at, digest, size,
 * filename, manifest_digest, kid, alg, checkpoint_seq, artifacts[],
 * delivery_targets[], evidence_ref, content_url, manifest_url,
 * verification{...}} */
int packages_get(db_t *db, const actor_t *a, const char *ref, json_object **out);
/* {"packages": [...], "next_cursor"} newest first */
int packages_list(db_t *db, const actor_t *a, const char *cursor, int limit, json_object **out);
/* the public projection (aispm-report-export-package-manifest.schema.json) */
int packages_public_manifest(db_t *db, const actor_t *a, const char *ref, json_object **out);
/* the ZIP (verified against its digest: AISPM_EIO when missing or altered),
 * with evidence package.downloaded. Gated by the retrievability rule
 * (retention.h; packages are retention items of kind export_package):
 * AISPM_EGONE / AISPM_EFORBIDDEN with the reason in verdict->code. */
int packages_content(db_t *db, const config_t *cfg, const actor_t *a, const char *ref, const char *request_id,
                     render_content_t *out, retention_verdict_t *verdict);

/* the PEM certificate of the package signing key kid (NULL or "" = the
 * configured current one), from signing_certificates or package_cert */
int packages_certificate(db_t *db, const config_t *cfg, const char *kid, buf_t *pem_out);

/* loads the package signing key and its certificate, checks they belong
 * together and registers the public JWK and the certificate (keygen and
 * every build call it). The caller frees *key_out and cert_der. */
int packages_signing_material(db_t *db, const config_t *cfg, signing_key_t **key_out, buf_t *cert_der);

#endif
