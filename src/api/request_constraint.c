/* Structured outputs in a request, in every spelling the OpenAI, vLLM and llama-server APIs have:
 *   response_format: {"type": "text"} | {"type": "json_object"[, "schema": S (llama-server)]}
 *                  | {"type": "json_schema", "json_schema": {"name", "schema": S, "strict", "description"}}
 *                  | {"type": "structural_tag", ...} (vLLM; the whole object is the spec)
 *   structured_outputs: {"json": S | "S as text", "regex", "choice": [...], "grammar", "json_object": true,
 *                        "structural_tag": "JSON text" | {...}} (vLLM; its other options are ignored)
 *   guided_json, guided_regex, guided_choice, guided_grammar (older vLLM)
 *   grammar (GBNF), json_schema: S (llama-server)
 * One constraint per request: a second is refused naming both. Whether a spec compiles is the engine's
 * call (loom_engine_add_request), whose message api_fail_from_engine points at constraint_field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_internal.h"

int api_set_constraint(api_request *r, const char *name, loom_constraint_kind kind, char *spec, api_error *e) {
    if (r->constraint_field) {
        free(spec);
        return api_fail(e, 400, name, "one structured-output constraint per request: '%s' and '%s' are both given",
                        r->constraint_field, name);
    }
    if (!spec && kind != LOOM_CONSTRAINT_JSON_OBJECT) return api_oom(e);
    r->constraint_spec = spec;
    r->constraint_field = name;
    r->params.constraint = (loom_constraint){.kind = kind, .spec = spec};
    return 0;
}

/* A JSON Schema given as an object (or a boolean), or as its JSON text (vLLM accepts both). */
static int set_schema(api_request *r, const char *name, const char *what, json_t *schema, api_error *e) {
    if (json_is_string(schema))
        return api_set_constraint(r, name, LOOM_CONSTRAINT_JSON_SCHEMA, strdup(json_string_value(schema)), e);
    if (!json_is_object(schema) && !json_is_boolean(schema))
        return api_fail(e, 400, name, "%s must be a JSON Schema (an object)", what);
    return api_set_constraint(r, name, LOOM_CONSTRAINT_JSON_SCHEMA, json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY),
                              e);
}

static int set_string(api_request *r, const char *name, const char *what, loom_constraint_kind kind, json_t *v,
                      api_error *e) {
    if (!json_is_string(v)) return api_fail(e, 400, name, "%s must be a string", what);
    return api_set_constraint(r, name, kind, strndup(json_string_value(v), json_string_length(v)), e);
}

static int set_choice(api_request *r, const char *name, const char *what, json_t *v, api_error *e) {
    int ok = json_is_array(v) && json_array_size(v) > 0;
    for (size_t i = 0; ok && i < json_array_size(v); i++) ok = json_is_string(json_array_get(v, i));
    if (!ok) return api_fail(e, 400, name, "%s must be a non-empty list of strings", what);
    return api_set_constraint(r, name, LOOM_CONSTRAINT_CHOICE, json_dumps(v, JSON_COMPACT), e);
}

/* A structural tag: the object, or its JSON text. */
static int set_structural_tag(api_request *r, const char *name, const char *what, json_t *v, api_error *e) {
    if (json_is_string(v)) return set_string(r, name, what, LOOM_CONSTRAINT_STRUCTURAL_TAG, v, e);
    if (!json_is_object(v)) return api_fail(e, 400, name, "%s must be a structural tag object", what);
    return api_set_constraint(r, name, LOOM_CONSTRAINT_STRUCTURAL_TAG, json_dumps(v, JSON_COMPACT), e);
}

int api_parse_response_format(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_request *r = ps->r;
    json_t *type = json_object_get(v, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : "";
    if (!json_is_object(v) || !json_is_string(type))
        return api_fail(e, 400, f->name, "response_format must be an object with a string 'type'");
    if (!strcmp(t, "text")) return 0;
    if (!strcmp(t, "json_object")) {
        json_t *schema = json_object_get(v, "schema"); /* llama-server's extension */
        if (schema && !json_is_null(schema)) return set_schema(r, f->name, "response_format.schema", schema, e);
        return api_set_constraint(r, f->name, LOOM_CONSTRAINT_JSON_OBJECT, NULL, e);
    }
    if (!strcmp(t, "json_schema")) {
        json_t *js = json_object_get(v, "json_schema"), *schema = json_object_get(js, "schema");
        if (!json_is_object(js))
            return api_fail(e, 400, f->name, "response_format.json_schema must be an object {\"name\", \"schema\"}");
        json_t *strict = json_object_get(js, "strict");
        if (strict && !json_is_boolean(strict) && !json_is_null(strict))
            return api_fail(e, 400, f->name, "response_format.json_schema.strict must be a boolean");
        /* strict or not, the output is made to match: a schema is a constraint here, never a hint */
        if (!schema || json_is_null(schema))
            return api_set_constraint(r, f->name, LOOM_CONSTRAINT_JSON_OBJECT, NULL, e);
        return set_schema(r, f->name, "response_format.json_schema.schema", schema, e);
    }
    if (!strcmp(t, "structural_tag")) return set_structural_tag(r, f->name, "response_format", v, e);
    return api_fail(e, 400, f->name,
                    "response_format.type must be \"text\", \"json_object\", \"json_schema\" or \"structural_tag\"");
}

/* The keys of vLLM's structured_outputs that are constraints. */
static int so_constraint(api_request *r, const char *key, json_t *x, api_error *e) {
    static const char *const name = "structured_outputs";
    char what[64];
    snprintf(what, sizeof what, "structured_outputs.%s", key);
    if (!strcmp(key, "json")) return set_schema(r, name, what, x, e);
    if (!strcmp(key, "regex")) return set_string(r, name, what, LOOM_CONSTRAINT_REGEX, x, e);
    if (!strcmp(key, "choice")) return set_choice(r, name, what, x, e);
    if (!strcmp(key, "grammar")) return set_string(r, name, what, LOOM_CONSTRAINT_GBNF, x, e);
    if (!strcmp(key, "structural_tag")) return set_structural_tag(r, name, what, x, e);
    if (!json_is_boolean(x)) return api_fail(e, 400, name, "%s must be a boolean", what); /* json_object */
    return json_is_true(x) ? api_set_constraint(r, name, LOOM_CONSTRAINT_JSON_OBJECT, NULL, e) : 0;
}

int api_parse_structured_outputs(parse_state *ps, const field *f, json_t *v, api_error *e) {
    static const char *const keys[] = {"json", "regex", "choice", "grammar", "json_object", "structural_tag"};
    if (!json_is_object(v)) return api_fail(e, 400, f->name, "structured_outputs must be an object");
    const char *key, *first = NULL;
    json_t *x;
    json_object_foreach(v, key, x) {
        size_t k = 0;
        while (k < sizeof keys / sizeof *keys && strcmp(key, keys[k])) k++;
        if (k == sizeof keys / sizeof *keys) { /* backend options (whitespace, fallback ...): one engine here */
            char name[160];
            snprintf(name, sizeof name, "structured_outputs.%.128s", key);
            if (api_add_ignored(ps->r, name)) return api_oom(e);
            continue;
        }
        if (json_is_null(x) || json_is_false(x)) continue;
        if (first)
            return api_fail(e, 400, f->name, "structured_outputs takes one constraint: '%s' and '%s' are both given",
                            first, key);
        first = key;
        if (so_constraint(ps->r, key, x, e)) return -1;
    }
    return 0;
}

/* guided_json, guided_regex, guided_choice, guided_grammar, and llama-server's grammar and json_schema. */
int api_parse_guided(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_request *r = ps->r;
    const char *n = f->name;
    if (!strcmp(n, "guided_json") || !strcmp(n, "json_schema")) return set_schema(r, n, n, v, e);
    if (!strcmp(n, "guided_regex")) return set_string(r, n, n, LOOM_CONSTRAINT_REGEX, v, e);
    if (!strcmp(n, "guided_choice")) return set_choice(r, n, n, v, e);
    return set_string(r, n, n, LOOM_CONSTRAINT_GBNF, v, e); /* guided_grammar, grammar */
}
