/* allOf: merging schemas into one whose instances are exactly those of all the parts, where the parts
 * agree keyword by keyword: types intersected, properties merged (a property in both becomes the
 * allOf of its two schemas), required united, lower bounds raised and upper bounds lowered, enums
 * intersected; $ref parts replaced by their targets. Anything else that differs (two patterns, two
 * formats, two different additionalProperties, ...) is refused with the keyword's name: no exact
 * single grammar is built for it. */
#include <math.h>
#include <string.h>

#include "grammar/json_schema_internal.h"

enum { MAX_REF_EXPANSIONS = 64 };

static const char *const lower_bounds[] = {"minimum", "exclusiveMinimum", "minLength", "minItems"};
static const char *const upper_bounds[] = {"maximum", "exclusiveMaximum", "maxLength", "maxItems"};

static int in_list(const char *k, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(k, list[i])) return 1;
    return 0;
}

/* Type names of a "type" value into a bit set (integer counts as its own bit; number covers it). */
static unsigned type_bits(json_t *t) {
    static const char *const names[] = {"null", "boolean", "object", "array", "string", "number", "integer"};
    unsigned bits = 0;
    json_t *one = json_is_string(t) ? t : NULL;
    size_t n = json_is_array(t) ? json_array_size(t) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *x = one ? one : json_array_get(t, i);
        for (unsigned k = 0; k < 7; k++)
            if (json_is_string(x) && !strcmp(json_string_value(x), names[k])) bits |= 1u << k;
    }
    if (bits & (1u << 5)) bits |= 1u << 6; /* number includes integer */
    return bits;
}

static json_t *types_of(unsigned bits) {
    static const char *const names[] = {"null", "boolean", "object", "array", "string", "number", "integer"};
    if (bits & (1u << 5)) bits &= ~(1u << 6);
    json_t *arr = json_array();
    for (unsigned k = 0; k < 7 && arr; k++)
        if (bits & (1u << k)) json_array_append_new(arr, json_string(names[k]));
    return arr;
}

/* Property names of one side must all be declared on a side that closes its object. */
static int closes_over(json_t *closed, json_t *other) {
    json_t *addl = json_object_get(closed, "additionalProperties");
    if (!addl || json_is_true(addl)) return 1;
    json_t *mine = json_object_get(closed, "properties"), *theirs = json_object_get(other, "properties");
    const char *k;
    json_t *v;
    json_object_foreach(theirs, k, v) if (!json_object_get(mine, k)) return 0;
    return 1;
}

/* Merges src into dst (both objects without $ref / allOf at the top); 0 or -1 (error set). */
static int merge_into(js_ctx *c, json_t *dst, json_t *src, const char *path) {
    if (!closes_over(dst, src) || !closes_over(src, dst))
        return js_fail(c, "allOf at %s: additionalProperties of one part excludes properties of another", path);
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
        json_t *d = json_object_get(dst, k);
        if (js_is_annotation(k)) continue;
        if (!d) {
            json_object_set(dst, k, v);
            continue;
        }
        if (json_equal(d, v)) continue;
        if (!strcmp(k, "type")) {
            unsigned bits = type_bits(d) & type_bits(v);
            if (!bits) return js_fail(c, "allOf at %s: the parts' types do not intersect", path);
            json_object_set_new(dst, k, types_of(bits));
        } else if (!strcmp(k, "properties") && json_is_object(d) && json_is_object(v)) {
            const char *pk;
            json_t *pv;
            json_t *merged = json_copy(d);
            json_object_foreach(v, pk, pv) {
                json_t *mine = json_object_get(merged, pk);
                json_object_set_new(merged, pk, mine ? json_pack("{s[OO]}", "allOf", mine, pv) : json_incref(pv));
            }
            json_object_set_new(dst, k, merged);
        } else if (!strcmp(k, "required") && json_is_array(d) && json_is_array(v)) {
            json_t *u = json_copy(d);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                int seen = 0;
                size_t j;
                json_t *y;
                json_array_foreach(u, j, y) seen |= json_equal(x, y);
                if (!seen) json_array_append(u, x);
            }
            json_object_set_new(dst, k, u);
        } else if (!strcmp(k, "enum") && json_is_array(d) && json_is_array(v)) {
            json_t *both = json_array();
            size_t i, j;
            json_t *x, *y;
            json_array_foreach(d, i, x) json_array_foreach(v, j, y) if (json_equal(x, y)) {
                json_array_append(both, x);
                break;
            }
            json_object_set_new(dst, k, both);
        } else if (!strcmp(k, "items") && json_is_object(d) && json_is_object(v)) {
            json_object_set_new(dst, k, json_pack("{s[OO]}", "allOf", d, v));
        } else if (json_is_number(d) && json_is_number(v) && in_list(k, lower_bounds, 4)) {
            json_object_set_new(dst, k, json_real(fmax(json_number_value(d), json_number_value(v))));
        } else if (json_is_number(d) && json_is_number(v) && in_list(k, upper_bounds, 4)) {
            json_object_set_new(dst, k, json_real(fmin(json_number_value(d), json_number_value(v))));
        } else return js_fail(c, "allOf at %s: cannot merge two different \"%.60s\"", path, k);
    }
    /* counts must stay integers for the keywords that read them */
    static const char *const counts[] = {"minLength", "maxLength", "minItems", "maxItems"};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_object_get(dst, counts[i]);
        if (json_is_real(x)) json_object_set_new(dst, counts[i], json_integer((json_int_t)json_real_value(x)));
    }
    return 0;
}

/* A part with its $ref and allOf expanded (a new reference), or NULL. */
static json_t *expand(js_ctx *c, json_t *part, const char *path, int *budget) {
    if (json_is_true(part)) return json_object();
    if (!json_is_object(part)) {
        js_fail(c, "allOf at %s: parts must be schema objects%s", path,
                json_is_false(part) ? " (false is not supported)" : "");
        return NULL;
    }
    json_t *ref = json_object_get(part, "$ref"), *all = json_object_get(part, "allOf");
    if (!ref && !all) return json_copy(part);
    if (--*budget < 0) {
        js_fail(c, "allOf at %s: recursive $ref inside allOf is not supported", path);
        return NULL;
    }
    json_t *base = json_copy(part), *parts = NULL;
    json_object_del(base, "$ref");
    json_object_del(base, "allOf");
    if (all) {
        if (!json_is_array(all)) {
            json_decref(base);
            js_fail(c, "\"allOf\" at %s must be an array", path);
            return NULL;
        }
        parts = json_copy(all);
    } else parts = json_array();
    if (ref) {
        json_t *target = json_is_string(ref) ? js_resolve(c, json_string_value(ref), path) : NULL;
        if (!target) {
            if (c->st == LOOM_OK) js_fail(c, "\"$ref\" at %s must be a string", path);
            json_decref(base);
            json_decref(parts);
            return NULL;
        }
        json_array_append(parts, target);
    }
    json_t *out = base;
    size_t i;
    json_t *p;
    json_array_foreach(parts, i, p) {
        json_t *e = expand(c, p, path, budget);
        if (!e || merge_into(c, out, e, path)) {
            json_decref(e);
            json_decref(out);
            out = NULL;
            break;
        }
        json_decref(e);
    }
    json_decref(parts);
    return out;
}

json_t *js_merge_all(js_ctx *c, json_t *base, json_t *parts, const char *path) {
    int budget = MAX_REF_EXPANSIONS;
    json_t *wrapper = json_pack("{sO}", "allOf", parts);
    json_t *merged = NULL;
    json_t *out = wrapper ? expand(c, wrapper, path, &budget) : NULL;
    if (out) {
        json_t *b = expand(c, base, path, &budget);
        if (b && !merge_into(c, b, out, path)) merged = json_incref(b);
        json_decref(b);
    }
    json_decref(out);
    json_decref(wrapper);
    if (!merged && c->st == LOOM_OK) js_fail(c, "out of memory");
    return merged;
}
