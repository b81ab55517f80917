/*
 * oscal.c: OSCAL Assessment Results for export packages (see oscal.h). The
 * JSON is canonical (RFC 8785); the XML is written with libxml2's
 * xmlTextWriter in the element order the XSD prescribes, so every text is
 * escaped.
 */
#include "render/oscal.h"

#include <json-c/json.h>
#include <libxml/xmlwriter.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "core/jcs.h"

#define OSCAL_TITLE "AISPM Report Center evidence package"
#define OSCAL_RESULT_DESC                                                                                     \
    "Report artifacts rendered by the AISPM Report Center from live AISPM ingestion metadata, bundled in a " \
    "signed export package. Each observation names one artifact and its SHA-256 digest."
#define OSCAL_PLAN_DESC                                                                                   \
    "Continuous evidence collection of the AISPM Report Center: artifacts are rendered from ingested AI " \
    "agent events and recorded in a hash-chained, signed evidence log."

/* a version-5-form UUID from SHA-256(package_ref "/" label) */
static void oscal_uuid(const oscal_input_t *in, const char *label, size_t idx, char out[37]) {
    char seed[400];
    snprintf(seed, sizeof seed, "%s/%s/%zu", in->package_ref, label, idx);
    uint8_t d[SHA256_LEN];
    sha256(seed, strlen(seed), d);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    char hex[33];
    hex_encode(d, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static const char *oscal_label(const char *report_id) { return report_id && *report_id ? report_id : "artifact"; }

typedef struct {
    const char *name;
    char value[128];
} oscal_prop_t;

#define OSCAL_ITEM_PROPS 6

static void oscal_item_props(const oscal_item_t *it, oscal_prop_t p[OSCAL_ITEM_PROPS]) {
    p[0].name = "artifact-ref";
    snprintf(p[0].value, sizeof p[0].value, "%s", it->artifact_ref);
    p[1].name = "report-id";
    snprintf(p[1].value, sizeof p[1].value, "%s", it->report_id);
    p[2].name = "format";
    snprintf(p[2].value, sizeof p[2].value, "%s", it->format);
    p[3].name = "size-bytes";
    snprintf(p[3].value, sizeof p[3].value, "%lld", it->size);
    p[4].name = "sha256";
    snprintf(p[4].value, sizeof p[4].value, "%s", it->sha256);
    p[5].name = "evidence-ref";
    snprintf(p[5].value, sizeof p[5].value, "%s", it->evidence_ref && *it->evidence_ref ? it->evidence_ref : "none");
}

static void oscal_desc(const oscal_item_t *it, char *out, size_t n) {
    snprintf(out, n, "Report artifact %s (%s, %lld bytes) rendered by the AISPM Report Center; file %s in the package.",
             oscal_label(it->report_id), it->format, it->size, it->file);
}

/* ---- JSON ---------------------------------------------------------------- */

static void js(json_object *o, const char *k, const char *v) { json_object_object_add(o, k, json_object_new_string(v)); }

static json_object *jprop(const char *name, const char *value) {
    json_object *p = json_object_new_object();
    js(p, "name", name);
    js(p, "ns", OSCAL_PROP_NS);
    js(p, "value", value);
    return p;
}

int oscal_results_json(const oscal_input_t *in, buf_t *out) {
    if (!in || !in->nitems) return AISPM_EINVAL;
    char u[37], href[40];
    json_object *ar = json_object_new_object(), *md = json_object_new_object(), *props = json_object_new_array();
    oscal_uuid(in, "assessment-results", 0, u);
    js(ar, "uuid", u);
    js(md, "title", OSCAL_TITLE);
    js(md, "last-modified", in->created_at);
    js(md, "version", "1.0");
    js(md, "oscal-version", OSCAL_VERSION);
    json_object_array_add(props, jprop("package-ref", in->package_ref));
    json_object_array_add(props, jprop("tenant-ref", in->tenant_ref));
    json_object_object_add(md, "props", props);
    json_object_object_add(ar, "metadata", md);
    json_object *ap = json_object_new_object();
    oscal_uuid(in, "plan", 0, u);
    snprintf(href, sizeof href, "#%s", u);
    js(ap, "href", href);
    json_object_object_add(ar, "import-ap", ap);

    json_object *res = json_object_new_object(), *obs = json_object_new_array();
    json_object *resources = json_object_new_array(), *plan = json_object_new_object();
    js(plan, "uuid", u);
    js(plan, "title", "AISPM continuous evidence collection");
    js(plan, "description", OSCAL_PLAN_DESC);
    json_object_array_add(resources, plan);
    oscal_uuid(in, "result", 0, u);
    js(res, "uuid", u);
    js(res, "title", OSCAL_TITLE);
    js(res, "description", OSCAL_RESULT_DESC);
    js(res, "start", in->created_at);
    json_object *rc = json_object_new_object(), *sel = json_object_new_array(), *s0 = json_object_new_object();
    json_object_object_add(s0, "include-all", json_object_new_object());
    json_object_array_add(sel, s0);
    json_object_object_add(rc, "control-selections", sel);
    json_object_object_add(res, "reviewed-controls", rc);
    for (size_t i = 0; i < in->nitems; i++) {
        const oscal_item_t *it = &in->items[i];
        char desc[600], ru[37], rhref[40];
        oscal_prop_t p[OSCAL_ITEM_PROPS];
        oscal_item_props(it, p);
        oscal_desc(it, desc, sizeof desc);
        oscal_uuid(in, "resource", i, ru);
        snprintf(rhref, sizeof rhref, "#%s", ru);

        json_object *o = json_object_new_object(), *op = json_object_new_array(), *m = json_object_new_array();
        oscal_uuid(in, "observation", i, u);
        js(o, "uuid", u);
        js(o, "title", oscal_label(it->report_id));
        js(o, "description", desc);
        for (int k = 0; k < OSCAL_ITEM_PROPS; k++) json_object_array_add(op, jprop(p[k].name, p[k].value));
        json_object_object_add(o, "props", op);
        json_object_array_add(m, json_object_new_string("EXAMINE"));
        json_object_object_add(o, "methods", m);
        json_object *ev = json_object_new_array(), *e0 = json_object_new_object();
        js(e0, "href", rhref);
        js(e0, "description", "The artifact file in this package; its SHA-256 hash is in the back-matter resource.");
        json_object_array_add(ev, e0);
        json_object_object_add(o, "relevant-evidence", ev);
        js(o, "collected", in->created_at);
        json_object_array_add(obs, o);

        json_object *r = json_object_new_object(), *rl = json_object_new_array(), *l0 = json_object_new_object();
        json_object *hs = json_object_new_array(), *h0 = json_object_new_object();
        js(r, "uuid", ru);
        js(r, "title", it->file);
        js(l0, "href", it->file);
        js(l0, "media-type", it->media_type);
        js(h0, "algorithm", "SHA-256");
        js(h0, "value", it->sha256);
        json_object_array_add(hs, h0);
        json_object_object_add(l0, "hashes", hs);
        json_object_array_add(rl, l0);
        json_object_object_add(r, "rlinks", rl);
        json_object_array_add(resources, r);
    }
    json_object_object_add(res, "observations", obs);
    json_object *results = json_object_new_array();
    json_object_array_add(results, res);
    json_object_object_add(ar, "results", results);
    json_object *bm = json_object_new_object();
    json_object_object_add(bm, "resources", resources);
    json_object_object_add(ar, "back-matter", bm);
    json_object *doc = json_object_new_object();
    json_object_object_add(doc, "assessment-results", ar);
    int r = jcs_serialize(doc, out);
    json_object_put(doc);
    return r ? AISPM_ERR : 0;
}

/* ---- XML ----------------------------------------------------------------- */

static void xel(xmlTextWriterPtr w, const char *name, const char *text) {
    xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST text);
}

static void xmarkup(xmlTextWriterPtr w, const char *name, const char *text) {
    xmlTextWriterStartElement(w, BAD_CAST name);
    xel(w, "p", text);
    xmlTextWriterEndElement(w);
}

static void xprop(xmlTextWriterPtr w, const char *name, const char *value) {
    xmlTextWriterStartElement(w, BAD_CAST "prop");
    xmlTextWriterWriteAttribute(w, BAD_CAST "name", BAD_CAST name);
    xmlTextWriterWriteAttribute(w, BAD_CAST "ns", BAD_CAST OSCAL_PROP_NS);
    xmlTextWriterWriteAttribute(w, BAD_CAST "value", BAD_CAST value);
    xmlTextWriterEndElement(w);
}

int oscal_results_xml(const oscal_input_t *in, buf_t *out) {
    if (!in || !in->nitems) return AISPM_EINVAL;
    xmlBufferPtr b = xmlBufferCreate();
    if (!b) return AISPM_ERR;
    xmlTextWriterPtr w = xmlNewTextWriterMemory(b, 0);
    if (!w) {
        xmlBufferFree(b);
        return AISPM_ERR;
    }
    char u[37], href[40];
    xmlTextWriterStartDocument(w, "1.0", "UTF-8", NULL);
    xmlTextWriterStartElementNS(w, NULL, BAD_CAST "assessment-results", BAD_CAST OSCAL_XML_NS);
    oscal_uuid(in, "assessment-results", 0, u);
    xmlTextWriterWriteAttribute(w, BAD_CAST "uuid", BAD_CAST u);
    xmlTextWriterStartElement(w, BAD_CAST "metadata");
    xel(w, "title", OSCAL_TITLE);
    xel(w, "last-modified", in->created_at);
    xel(w, "version", "1.0");
    xel(w, "oscal-version", OSCAL_VERSION);
    xprop(w, "package-ref", in->package_ref);
    xprop(w, "tenant-ref", in->tenant_ref);
    xmlTextWriterEndElement(w); /* metadata */
    oscal_uuid(in, "plan", 0, u);
    snprintf(href, sizeof href, "#%s", u);
    xmlTextWriterStartElement(w, BAD_CAST "import-ap");
    xmlTextWriterWriteAttribute(w, BAD_CAST "href", BAD_CAST href);
    xmlTextWriterEndElement(w);
    xmlTextWriterStartElement(w, BAD_CAST "result");
    oscal_uuid(in, "result", 0, u);
    xmlTextWriterWriteAttribute(w, BAD_CAST "uuid", BAD_CAST u);
    xel(w, "title", OSCAL_TITLE);
    xmarkup(w, "description", OSCAL_RESULT_DESC);
    xel(w, "start", in->created_at);
    xmlTextWriterStartElement(w, BAD_CAST "reviewed-controls");
    xmlTextWriterStartElement(w, BAD_CAST "control-selection");
    xmlTextWriterStartElement(w, BAD_CAST "include-all");
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w);
    xmlTextWriterEndElement(w); /* reviewed-controls */
    for (size_t i = 0; i < in->nitems; i++) {
        const oscal_item_t *it = &in->items[i];
        char desc[600], ru[37];
        oscal_prop_t p[OSCAL_ITEM_PROPS];
        oscal_item_props(it, p);
        oscal_desc(it, desc, sizeof desc);
        oscal_uuid(in, "resource", i, ru);
        snprintf(href, sizeof href, "#%s", ru);
        xmlTextWriterStartElement(w, BAD_CAST "observation");
        oscal_uuid(in, "observation", i, u);
        xmlTextWriterWriteAttribute(w, BAD_CAST "uuid", BAD_CAST u);
        xel(w, "title", oscal_label(it->report_id));
        xmarkup(w, "description", desc);
        for (int k = 0; k < OSCAL_ITEM_PROPS; k++) xprop(w, p[k].name, p[k].value);
        xel(w, "method", "EXAMINE");
        xmlTextWriterStartElement(w, BAD_CAST "relevant-evidence");
        xmlTextWriterWriteAttribute(w, BAD_CAST "href", BAD_CAST href);
        xmarkup(w, "description", "The artifact file in this package; its SHA-256 hash is in the back-matter resource.");
        xmlTextWriterEndElement(w);
        xel(w, "collected", in->created_at);
        xmlTextWriterEndElement(w); /* observation */
    }
    xmlTextWriterEndElement(w); /* result */
    xmlTextWriterStartElement(w, BAD_CAST "back-matter");
    oscal_uuid(in, "plan", 0, u);
    xmlTextWriterStartElement(w, BAD_CAST "resource");
    xmlTextWriterWriteAttribute(w, BAD_CAST "uuid", BAD_CAST u);
    xel(w, "title", "AISPM continuous evidence collection");
    xmarkup(w, "description", OSCAL_PLAN_DESC);
    xmlTextWriterEndElement(w);
    for (size_t i = 0; i < in->nitems; i++) {
        const oscal_item_t *it = &in->items[i];
        oscal_uuid(in, "resource", i, u);
        xmlTextWriterStartElement(w, BAD_CAST "resource");
        xmlTextWriterWriteAttribute(w, BAD_CAST "uuid", BAD_CAST u);
        xel(w, "title", it->file);
        xmlTextWriterStartElement(w, BAD_CAST "rlink");
        xmlTextWriterWriteAttribute(w, BAD_CAST "href", BAD_CAST it->file);
        xmlTextWriterWriteAttribute(w, BAD_CAST "media-type", BAD_CAST it->media_type);
        xmlTextWriterStartElement(w, BAD_CAST "hash");
        xmlTextWriterWriteAttribute(w, BAD_CAST "algorithm", BAD_CAST "SHA-256");
        xmlTextWriterWriteString(w, BAD_CAST it->sha256);
        xmlTextWriterEndElement(w);
        xmlTextWriterEndElement(w); /* rlink */
        xmlTextWriterEndElement(w); /* resource */
    }
    xmlTextWriterEndElement(w); /* back-matter */
    xmlTextWriterEndElement(w); /* assessment-results */
    int rc = xmlTextWriterEndDocument(w) < 0 ? AISPM_ERR : 0;
    xmlFreeTextWriter(w);
    if (!rc) buf_append(out, xmlBufferContent(b), (size_t)xmlBufferLength(b));
    xmlBufferFree(b);
    return rc;
}
