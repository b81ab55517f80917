/*
 * oscal.h: NIST OSCAL 1.0.6 Assessment Results describing the evidence of an
 * export package — one observation per artifact (report id, format, size,
 * SHA-256, evidence ref; method EXAMINE) whose relevant evidence is a
 * back-matter resource linking the file in the package with its SHA-256
 * hash. Written as JSON (oscal_assessment-results_schema.json) and XML
 * (oscal_assessment-results_schema.xsd) from the same input.
 *
 * UUIDs are derived from the package ref (SHA-256, version-5 form), so the
 * same package always yields the same documents.
 */
#ifndef AISPM_RENDER_OSCAL_H
#define AISPM_RENDER_OSCAL_H

#include <stddef.h>

#include "core/buf.h"

#define OSCAL_VERSION "1.0.6"
#define OSCAL_XML_NS "http://csrc.nist.gov/ns/oscal/1.0"
#define OSCAL_PROP_NS "urn:aispm:oscal"

typedef struct {
    const char *file;         /* path inside the package */
    const char *media_type;
    const char *artifact_ref;
    const char *report_id;
    const char *format;
    const char *sha256;       /* lower-case hex */
    long long size;
    const char *evidence_ref; /* report.rendered */
} oscal_item_t;

typedef struct {
    const char *package_ref;
    const char *tenant_ref;
    const char *created_at;   /* RFC 3339 with Z */
    const oscal_item_t *items;
    size_t nitems;
} oscal_input_t;

/* append the document to out; 0 or AISPM_EINVAL / AISPM_ERR */
int oscal_results_json(const oscal_input_t *in, buf_t *out);
int oscal_results_xml(const oscal_input_t *in, buf_t *out);

#endif
