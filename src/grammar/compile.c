/* gram_compile: one entry for every kind of constraint, and the list-of-choices compiler. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"

loom_status gram_choice_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err) {
    json_error_t je;
    json_t *arr = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!arr || !json_is_array(arr) || json_array_size(arr) == 0) {
        json_decref(arr);
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "choice: expected a non-empty JSON array of strings");
    }
    size_t n = json_array_size(arr);
    int32_t *alts = malloc(n * sizeof *alts);
    if (!alts) {
        json_decref(arr);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "choice: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s)) {
            free(alts);
            json_decref(arr);
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "choice: element %zu is not a string", i);
        }
        alts[i] = gram_x_lit(b, json_string_value(s), json_string_length(s));
    }
    int32_t r = gram_rule_add(b, "root", 4);
    gram_rule_define(b, r, gram_x_alt(b, alts, (int32_t)n));
    free(alts);
    json_decref(arr);
    *root = r;
    return b->oom ? loom_fail(err, LOOM_ERR_NO_MEMORY, "choice: out of memory") : LOOM_OK;
}

static loom_status regex_root(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err) {
    int32_t x;
    loom_status st = gram_regex_compile(b, text, len, 0, &x, err);
    if (st != LOOM_OK) return st;
    *root = gram_rule_add(b, "root", 4);
    gram_rule_define(b, *root, x);
    return b->oom ? loom_fail(err, LOOM_ERR_NO_MEMORY, "regex: out of memory") : LOOM_OK;
}

loom_status gram_compile(gram_kind kind, const char *spec, size_t len, gram_grammar **out, loom_error *err) {
    *out = NULL;
    gram_builder b = {0};
    int32_t root = -1;
    loom_status st;
    switch (kind) {
        case GRAM_JSON_SCHEMA: st = gram_json_schema_compile(&b, spec, len, &root, err); break;
        case GRAM_JSON_OBJECT: st = gram_json_object_compile(&b, &root, err); break;
        case GRAM_REGEX: st = regex_root(&b, spec, len, &root, err); break;
        case GRAM_CHOICE: st = gram_choice_compile(&b, spec, len, &root, err); break;
        case GRAM_GBNF: st = gram_gbnf_compile(&b, spec, len, &root, err); break;
        case GRAM_STRUCTURAL_TAG: st = gram_structural_tag_compile(&b, spec, len, &root, err); break;
        default: st = loom_fail(err, LOOM_ERR_INVALID_ARG, "grammar: unknown constraint kind %d", (int)kind);
    }
    if (st == LOOM_OK) st = gram_lower(&b, root, out, err);
    gram_builder_free(&b);
    return st;
}
