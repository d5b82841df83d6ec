/* The JSON Schema compiler's shared state (json_schema.c: values, strings, arrays, $ref;
 * json_object.c: objects; json_merge.c: allOf). */
#ifndef LOOM_GRAMMAR_JSON_SCHEMA_INTERNAL_H
#define LOOM_GRAMMAR_JSON_SCHEMA_INTERNAL_H

#include <jansson.h>

#include "grammar/gram_internal.h"

typedef struct js_ref {
    char *ref;
    int32_t rule;
} js_ref;

typedef struct js_ctx {
    gram_builder *b;
    gram_json_rules j;
    json_t *root;
    js_ref *refs;
    int32_t n_refs, cap_refs;
    int depth;
    int32_t n_names; /* counter for helper rule names */
    loom_error *err;
    loom_status st;
} js_ctx;

/* Records the first error (message prefixed "json schema: ") and returns -1. */
int32_t js_fail(js_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The expression for values matching schema s (path: where s is, for messages). */
int32_t js_schema(js_ctx *c, json_t *s, const char *path);
/* A reference to a new rule holding expression x (so a reused subexpression is lowered once). */
int32_t js_rule(js_ctx *c, const char *prefix, int32_t x);
int32_t js_object(js_ctx *c, json_t *s, const char *path);
/* allOf: one schema equivalent to all of the given ones (a new reference), or NULL with the error set. */
json_t *js_merge_all(js_ctx *c, json_t *base, json_t *parts, const char *path);
/* The schema a local $ref ("#", "#/$defs/x", any JSON pointer) points at (borrowed), or NULL. */
json_t *js_resolve(js_ctx *c, const char *ref, const char *path);
/* Keywords that never constrain (title, description, $defs ...). */
int js_is_annotation(const char *key);

#endif
