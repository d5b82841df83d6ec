/* JSON Schema -> grammar rules.
 *
 * Supported: type (a name or a list; "nullable": true adds null), enum, const, anyOf, oneOf (compiled
 * as anyOf: the caller's branches must not overlap), allOf (merged into one schema where the parts
 * agree, json_merge.c), $ref to any local JSON pointer ("#", "#/$defs/x", recursion included),
 * objects (json_object.c), arrays (items, prefixItems, or items as a list with additionalItems;
 * minItems, maxItems), strings (minLength, maxLength, pattern, format: date, time, date-time, uuid,
 * email, ipv4, ipv6, hostname, uri), integers and numbers with minimum / maximum / exclusiveMinimum /
 * exclusiveMaximum (json_number.c). A schema without "type" gets the types its keywords imply, or
 * any value. Annotations (title, description, default, examples, $schema, $id, $comment, deprecated,
 * readOnly, writeOnly, $defs, definitions) are ignored; every other keyword is refused with its name
 * and where it is, so a request never gets a silently unconstrained answer.
 *
 * The grammar generates a subset of the schema's instances: exactness means every generated text
 * validates, not that every valid text can be generated (property order is the schema's, whitespace
 * is bounded, numbers have bounded digits, enum values are written compactly). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema_internal.h"

int32_t js_fail(js_ctx *c, const char *fmt, ...) {
    if (c->st == LOOM_OK) {
        char msg[480];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->st = loom_fail(c->err, LOOM_ERR_INVALID_ARG, "json schema: %s", msg);
    }
    return -1;
}

int js_is_annotation(const char *k) {
    static const char *const names[] = {"title", "description", "default",          "examples",       "$schema",
                                        "$id",   "$comment",    "deprecated",       "readOnly",       "writeOnly",
                                        "$defs", "definitions", "contentMediaType", "contentEncoding"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(k, names[i])) return 1;
    return 0;
}

static int is_known(const char *k) {
    static const char *const names[] = {"type",
                                        "enum",
                                        "const",
                                        "anyOf",
                                        "oneOf",
                                        "allOf",
                                        "$ref",
                                        "nullable",
                                        "properties",
                                        "required",
                                        "additionalProperties",
                                        "items",
                                        "prefixItems",
                                        "additionalItems",
                                        "minItems",
                                        "maxItems",
                                        "uniqueItems",
                                        "minLength",
                                        "maxLength",
                                        "pattern",
                                        "format",
                                        "minimum",
                                        "maximum",
                                        "exclusiveMinimum",
                                        "exclusiveMaximum"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(k, names[i])) return 1;
    return js_is_annotation(k);
}

int32_t js_rule(js_ctx *c, const char *prefix, int32_t x) {
    char name[64];
    snprintf(name, sizeof name, "%.40s-%d", prefix, (int)c->n_names++);
    int32_t r = gram_rule_add(c->b, name, strlen(name));
    gram_rule_define(c->b, r, x);
    return gram_x_ref(c->b, r);
}

static void json_path_join(char *out, size_t cap, const char *path, const char *key) {
    snprintf(out, cap, "%s/%s", path, key);
}

/* ---- $ref ---- */

json_t *js_resolve(js_ctx *c, const char *ref, const char *path) {
    if (ref[0] != '#') {
        js_fail(c, "only local $ref (\"#/...\") is supported, not \"%.100s\" at %s", ref, path);
        return NULL;
    }
    json_t *cur = c->root;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        js_fail(c, "$ref \"%.100s\" at %s: anchors are not supported", ref, path);
        return NULL;
    }
    while (*p == '/' && cur) {
        p++;
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char ch = *p;
            if (ch == '~' && (p[1] == '0' || p[1] == '1')) ch = *++p == '0' ? '~' : '/';
            if (n + 1 < sizeof tok) tok[n++] = ch;
        }
        tok[n] = 0;
        if (json_is_object(cur)) cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            long i = strtol(tok, &end, 10);
            cur = *tok && !*end && i >= 0 ? json_array_get(cur, (size_t)i) : NULL;
        } else cur = NULL;
    }
    if (!cur) js_fail(c, "$ref \"%.100s\" at %s points at nothing", ref, path);
    return cur;
}

/* A rule per $ref target, made once; recursion refers back to the rule. */
static int32_t ref_expr(js_ctx *c, const char *ref, const char *path) {
    for (int32_t i = 0; i < c->n_refs; i++)
        if (!strcmp(c->refs[i].ref, ref)) return gram_x_ref(c->b, c->refs[i].rule);
    json_t *target = js_resolve(c, ref, path);
    if (!target) return -1;
    if (c->n_refs == c->cap_refs) {
        int32_t cap = c->cap_refs ? c->cap_refs * 2 : 16;
        js_ref *q = realloc(c->refs, (size_t)cap * sizeof *q);
        if (!q) return js_fail(c, "out of memory");
        c->refs = q;
        c->cap_refs = cap;
    }
    char name[64];
    const char *last = strrchr(ref, '/');
    snprintf(name, sizeof name, "ref-%.40s", last ? last + 1 : "root");
    int32_t rule = gram_rule_add(c->b, name, strlen(name));
    char *copy = strdup(ref);
    if (rule < 0 || !copy) {
        free(copy);
        return js_fail(c, "out of memory");
    }
    c->refs[c->n_refs++] = (js_ref){copy, rule};
    int saved = c->depth;
    c->depth = 0; /* a rule of its own: nesting starts over */
    gram_rule_define(c->b, rule, js_schema(c, target, ref));
    c->depth = saved;
    return c->st == LOOM_OK ? gram_x_ref(c->b, rule) : -1;
}

/* ---- literals: enum / const ---- */

static int json_type_is(json_t *v, const char *t) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    return 0;
}

/* Whether v has one of the types of schema s ("type" absent: any). */
static int type_allows(json_t *s, json_t *v) {
    json_t *t = json_object_get(s, "type");
    if (json_is_true(json_object_get(s, "nullable")) && json_is_null(v)) return 1;
    if (json_is_string(t)) return json_type_is(v, json_string_value(t));
    if (!json_is_array(t)) return 1;
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) if (json_is_string(x) && json_type_is(v, json_string_value(x))) return 1;
    return 0;
}

static int32_t literal(js_ctx *c, json_t *v) {
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!text) return js_fail(c, "out of memory");
    int32_t x = gram_x_str(c->b, text);
    free(text);
    return x;
}

static int32_t literals(js_ctx *c, json_t *s, json_t *values, const char *path) {
    if (!json_is_array(values)) return js_fail(c, "\"enum\" at %s must be an array", path);
    size_t n = json_array_size(values), i;
    int32_t *alts = malloc((n + 1) * sizeof *alts), k = 0;
    if (!alts) return js_fail(c, "out of memory");
    json_t *v;
    json_array_foreach(values, i, v) if (type_allows(s, v)) alts[k++] = literal(c, v);
    int32_t x = gram_x_alt(c->b, alts, k);
    free(alts);
    return x;
}

/* ---- strings ---- */

/* Formats as regexes over the string's content (a subset of what each format allows). */
#define DATE                                                                                                           \
    "[1-9]\\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
#define TIME "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)"
#define LABEL "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
#define OCTET "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
static const char *const formats[][2] = {
    {"date", DATE},
    {"time", TIME},
    {"date-time", DATE "T" TIME},
    {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
    {"email", "[a-zA-Z0-9_+-]+(?:\\.[a-zA-Z0-9_+-]+)*@" LABEL "(?:\\." LABEL ")+"},
    {"ipv4", "(?:" OCTET "\\.){3}" OCTET},
    {"ipv6", "(?:[0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}"},
    {"hostname", LABEL "(?:\\." LABEL ")*"},
    {"uri", "[a-zA-Z][a-zA-Z0-9+.-]*:[a-zA-Z0-9._~:/?#@!$&'()*+,;=-]+"},
};

static int32_t quoted(js_ctx *c, int32_t content) {
    return gram_x_seq3(c->b, gram_x_byte(c->b, '"'), content, gram_x_byte(c->b, '"'));
}

static int read_count(js_ctx *c, json_t *s, const char *key, int64_t *out, const char *path) {
    json_t *v = json_object_get(s, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > GRAM_MAX_REPEAT)
        return js_fail(c, "\"%s\" at %s must be an integer in [0, %d]", key, path, GRAM_MAX_REPEAT), -1;
    *out = json_integer_value(v);
    return 1;
}

static int32_t string_expr(js_ctx *c, json_t *s, const char *path) {
    json_t *pattern = json_object_get(s, "pattern"), *format = json_object_get(s, "format");
    int64_t min = 0, max = -1;
    int has_min = read_count(c, s, "minLength", &min, path), has_max = read_count(c, s, "maxLength", &max, path);
    if (has_min < 0 || has_max < 0) return -1;
    if ((pattern || format) && (has_min || has_max))
        return js_fail(c, "%s together with minLength / maxLength at %s is not supported",
                       pattern ? "pattern" : "format", path);
    if (pattern && format) return js_fail(c, "pattern together with format at %s is not supported", path);
    if (pattern || format) {
        const char *re = NULL;
        if (pattern && !json_is_string(pattern)) return js_fail(c, "\"pattern\" at %s must be a string", path);
        if (format) {
            if (!json_is_string(format)) return js_fail(c, "\"format\" at %s must be a string", path);
            for (size_t i = 0; i < sizeof formats / sizeof *formats && !re; i++)
                if (!strcmp(json_string_value(format), formats[i][0])) re = formats[i][1];
            if (!re) return js_fail(c, "format \"%.60s\" at %s is not supported", json_string_value(format), path);
        }
        int32_t x;
        loom_error rerr;
        const char *text = pattern ? json_string_value(pattern) : re;
        size_t len = pattern ? json_string_length(pattern) : strlen(re);
        if (gram_regex_compile(c->b, text, len, GRAM_RX_JSON_STRING | (pattern ? GRAM_RX_SEARCH : 0), &x, &rerr) !=
            LOOM_OK)
            return js_fail(c, "pattern at %s: %s", path, rerr.message);
        return quoted(c, x);
    }
    if (has_max && max < min) return js_fail(c, "maxLength < minLength at %s", path);
    if (!has_min && !has_max) return gram_json_string(c->b, &c->j);
    return quoted(c, gram_x_repeat(c->b, gram_json_string_char(c->b, &c->j), (int32_t)min, (int32_t)max));
}

/* ---- numbers ---- */

/* A bound from minimum / exclusiveMinimum (or the maximum pair): the stricter of the two. */
static int read_bound(js_ctx *c, json_t *s, const char *incl, const char *excl, int is_min, gram_bound *out,
                      const char *path) {
    json_t *vi = json_object_get(s, incl), *ve = json_object_get(s, excl);
    *out = (gram_bound){0};
    if (vi && !json_is_number(vi)) return js_fail(c, "\"%s\" at %s must be a number", incl, path), -1;
    if (vi) *out = (gram_bound){1, json_number_value(vi), 0};
    if (json_is_boolean(ve)) { /* draft 4: a flag on minimum / maximum */
        if (json_is_true(ve) && out->has) out->exclusive = 1;
    } else if (ve) {
        if (!json_is_number(ve)) return js_fail(c, "\"%s\" at %s must be a number", excl, path), -1;
        double v = json_number_value(ve);
        if (!out->has || (is_min ? v >= out->value : v <= out->value)) *out = (gram_bound){1, v, 1};
    }
    return 0;
}

static int32_t number_expr(js_ctx *c, json_t *s, int integer, const char *path) {
    gram_bound lo, hi;
    if (read_bound(c, s, "minimum", "exclusiveMinimum", 1, &lo, path) ||
        read_bound(c, s, "maximum", "exclusiveMaximum", 0, &hi, path))
        return -1;
    if (!lo.has && !hi.has) return integer ? gram_json_integer(c->b, &c->j) : gram_json_number(c->b, &c->j);
    int32_t x;
    loom_error nerr;
    loom_status st =
        integer ? gram_json_int_range(c->b, lo, hi, &x, &nerr) : gram_json_number_range(c->b, lo, hi, &x, &nerr);
    if (st != LOOM_OK)
        return js_fail(c, "at %s: %s", path, nerr.message + (strncmp(nerr.message, "json schema: ", 13) ? 0 : 13));
    return x;
}

/* ---- arrays ---- */

static int32_t array_expr(js_ctx *c, json_t *s, const char *path) {
    gram_builder *b = c->b;
    json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    json_t *rest = items;
    if (json_is_array(items)) { /* draft 4-2019: items as a list, additionalItems for the rest */
        if (prefix) return js_fail(c, "both prefixItems and a list of items at %s", path);
        prefix = items;
        rest = json_object_get(s, "additionalItems");
    } else if (json_object_get(s, "additionalItems"))
        return js_fail(c, "additionalItems without a list of items at %s is not supported", path);
    if (prefix && !json_is_array(prefix)) return js_fail(c, "\"prefixItems\" at %s must be an array", path);
    if (json_is_true(json_object_get(s, "uniqueItems")))
        return js_fail(c, "unsupported keyword \"uniqueItems\": true at %s", path);
    int64_t min = 0, max = -1;
    if (read_count(c, s, "minItems", &min, path) < 0 || read_count(c, s, "maxItems", &max, path) < 0) return -1;
    if (max >= 0 && max < min) return js_fail(c, "maxItems < minItems at %s", path);
    int64_t n_prefix = prefix ? (int64_t)json_array_size(prefix) : 0;
    if (max >= 0 && n_prefix > max) n_prefix = max;
    int32_t ws = gram_json_ws(b, &c->j), comma = gram_x_seq2(b, gram_x_byte(b, ','), gram_json_ws(b, &c->j));
    /* the open-ended rest: items after the prefix, between max(0, min - n_prefix) and max - n_prefix of them */
    int32_t tail;
    int64_t rmin = min > n_prefix ? min - n_prefix : 0, rmax = max < 0 ? -1 : max - n_prefix;
    if (json_is_false(rest) || rmax == 0) tail = rmin > 0 ? gram_x_nothing(b) : gram_x_empty(b);
    else {
        char sub[256];
        json_path_join(sub, sizeof sub, path, "items");
        int32_t item = js_rule(c, "item", gram_x_seq2(b, js_schema(c, rest ? rest : json_true(), sub), ws));
        int32_t more = gram_x_seq2(b, comma, item);
        if (n_prefix > 0) tail = gram_x_repeat(b, more, (int32_t)rmin, (int32_t)rmax);
        else {
            int32_t first_then = gram_x_seq2(
                b, item, gram_x_repeat(b, more, rmin > 0 ? (int32_t)rmin - 1 : 0, rmax < 0 ? -1 : (int32_t)rmax - 1));
            tail = rmin > 0 ? first_then : gram_x_opt(b, first_then);
        }
    }
    /* the prefix items, from the last: after k of them the array may end when k >= min */
    for (int64_t k = n_prefix - 1; k >= 0 && c->st == LOOM_OK; k--) {
        char sub[256], idx[32];
        snprintf(idx, sizeof idx, "prefixItems/%lld", (long long)k);
        json_path_join(sub, sizeof sub, path, idx);
        int32_t item = gram_x_seq2(b, js_schema(c, json_array_get(prefix, (size_t)k), sub), ws);
        int32_t step = gram_x_seq2(b, k > 0 ? gram_x_seq2(b, comma, item) : item, tail);
        tail = js_rule(c, "prefix", k + 1 > min ? gram_x_alt2(b, gram_x_empty(b), step) : step);
    }
    return gram_x_seq(b, (int32_t[]){gram_x_byte(b, '['), ws, tail, gram_x_byte(b, ']')}, 4);
}

/* ---- types ---- */

static int32_t type_expr(js_ctx *c, json_t *s, const char *t, const char *path) {
    gram_builder *b = c->b;
    if (!strcmp(t, "null")) return gram_x_str(b, "null");
    if (!strcmp(t, "boolean")) return gram_x_alt2(b, gram_x_str(b, "true"), gram_x_str(b, "false"));
    if (!strcmp(t, "integer")) return number_expr(c, s, 1, path);
    if (!strcmp(t, "number")) return number_expr(c, s, 0, path);
    if (!strcmp(t, "string")) return string_expr(c, s, path);
    if (!strcmp(t, "array")) return array_expr(c, s, path);
    if (!strcmp(t, "object")) return js_object(c, s, path);
    return js_fail(c, "unknown type \"%.40s\" at %s", t, path);
}

/* The types a schema without "type" implies by its keywords (none: any value). */
static int implied_types(json_t *s, const char **out) {
    static const char *const families[][6] = {
        {"object", "properties", "required", "additionalProperties", NULL},
        {"array", "items", "prefixItems", "minItems", "maxItems", "additionalItems"},
        {"string", "minLength", "maxLength", "pattern", "format", NULL},
        {"number", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL},
    };
    int n = 0;
    for (int f = 0; f < 4; f++)
        for (int k = 1; k < 6 && families[f][k]; k++)
            if (json_object_get(s, families[f][k])) {
                out[n++] = families[f][0];
                break;
            }
    return n;
}

/* A copy of s without the given keyword. */
static json_t *without(json_t *s, const char *key) {
    json_t *copy = json_copy(s);
    if (copy) json_object_del(copy, key);
    return copy;
}

static int has_constraints(json_t *s, const char *except) {
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) if (strcmp(k, except) && !js_is_annotation(k)) return 1;
    return 0;
}

/* anyOf / oneOf: each branch, merged with the sibling keywords when there are any. */
static int32_t branches(js_ctx *c, json_t *s, const char *key, const char *path) {
    json_t *list = json_object_get(s, key);
    if (!json_is_array(list) || json_array_size(list) == 0)
        return js_fail(c, "\"%s\" at %s must be a non-empty array", key, path);
    json_t *siblings = has_constraints(s, key) ? without(s, key) : NULL;
    size_t n = json_array_size(list), i;
    int32_t *alts = malloc(n * sizeof *alts);
    if (!alts) {
        json_decref(siblings);
        return js_fail(c, "out of memory");
    }
    json_t *branch;
    json_array_foreach(list, i, branch) {
        char sub[256], idx[48];
        snprintf(idx, sizeof idx, "%s/%zu", key, i);
        json_path_join(sub, sizeof sub, path, idx);
        if (siblings) {
            json_t *parts = json_pack("[O]", branch);
            json_t *merged = parts ? js_merge_all(c, siblings, parts, sub) : NULL;
            alts[i] = merged ? js_schema(c, merged, sub) : -1;
            json_decref(merged);
            json_decref(parts);
        } else alts[i] = js_schema(c, branch, sub);
    }
    int32_t x = c->st == LOOM_OK ? gram_x_alt(c->b, alts, (int32_t)n) : -1;
    free(alts);
    json_decref(siblings);
    return x;
}

int32_t js_schema(js_ctx *c, json_t *s, const char *path) {
    if (c->st != LOOM_OK) return -1;
    if (json_is_true(s)) return gram_json_value(c->b, &c->j);
    if (json_is_false(s)) return gram_x_nothing(c->b);
    if (!json_is_object(s)) return js_fail(c, "schema at %s must be an object or a boolean", path);
    if (++c->depth > GRAM_MAX_NESTING) return js_fail(c, "schemas nested too deeply at %s", path);
    int32_t x = -1;
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) if (!is_known(k)) {
        c->depth--;
        return js_fail(c, "unsupported keyword \"%.60s\" at %s", k, path);
    }
    json_t *ref = json_object_get(s, "$ref"), *all = json_object_get(s, "allOf");
    if (json_object_get(s, "anyOf") && json_object_get(s, "oneOf"))
        x = js_fail(c, "anyOf together with oneOf at %s is not supported", path);
    else if (ref && !json_is_string(ref)) x = js_fail(c, "\"$ref\" at %s must be a string", path);
    else if (ref && !has_constraints(s, "$ref")) x = ref_expr(c, json_string_value(ref), path);
    else if (ref || all) {
        /* $ref with sibling keywords is allOf of the target and the rest */
        json_t *base = without(s, all ? "allOf" : "$ref");
        json_t *parts = all ? json_incref(all) : json_pack("[{sO}]", "$ref", ref);
        if (!json_is_array(parts)) x = js_fail(c, "\"allOf\" at %s must be an array", path);
        else if (base) {
            json_t *merged = js_merge_all(c, base, parts, path);
            if (merged) x = js_schema(c, merged, path);
            json_decref(merged);
        }
        json_decref(base);
        json_decref(parts);
    } else if (json_object_get(s, "anyOf")) x = branches(c, s, "anyOf", path);
    else if (json_object_get(s, "oneOf")) x = branches(c, s, "oneOf", path);
    else if (json_object_get(s, "const")) {
        json_t *one = json_pack("[O]", json_object_get(s, "const"));
        x = one ? literals(c, s, one, path) : js_fail(c, "out of memory");
        json_decref(one);
    } else if (json_object_get(s, "enum")) x = literals(c, s, json_object_get(s, "enum"), path);
    else {
        const char *types[8];
        int n = 0;
        json_t *t = json_object_get(s, "type");
        if (json_is_string(t)) types[n++] = json_string_value(t);
        else if (json_is_array(t)) {
            size_t i;
            json_array_foreach(t, i, v) {
                if (!json_is_string(v) || n == 7) {
                    n = -1;
                    break;
                }
                types[n++] = json_string_value(v);
            }
            if (n == 0) n = -1;
        } else if (t) n = -1;
        if (n < 0) x = js_fail(c, "\"type\" at %s must be a type name or a list of them", path);
        else {
            if (!t) n = implied_types(s, types);
            if (json_is_true(json_object_get(s, "nullable"))) types[n++] = "null";
            if (n == 0) x = gram_json_value(c->b, &c->j);
            else {
                int32_t alts[8];
                for (int i = 0; i < n; i++) alts[i] = type_expr(c, s, types[i], path);
                x = c->st == LOOM_OK ? gram_x_alt(c->b, alts, n) : -1;
            }
        }
    }
    c->depth--;
    return c->st == LOOM_OK ? x : -1;
}

loom_status gram_json_schema_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err) {
    json_error_t je;
    json_t *s = json_loadb(text, len, JSON_DECODE_ANY, &je);
    if (!s)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "json schema: not valid JSON (line %d column %d: %s)", je.line,
                         je.column, je.text);
    js_ctx c = {.b = b, .root = s, .err = err};
    gram_json_rules_init(&c.j);
    int32_t r = gram_rule_add(b, "root", 4);
    int32_t x = js_schema(&c, s, "#");
    if (c.st == LOOM_OK) gram_rule_define(b, r, x);
    for (int32_t i = 0; i < c.n_refs; i++) free(c.refs[i].ref);
    free(c.refs);
    json_decref(s);
    if (c.st != LOOM_OK) return c.st;
    if (b->oom) return loom_fail(err, LOOM_ERR_NO_MEMORY, "json schema: out of memory");
    *root = r;
    return LOOM_OK;
}
