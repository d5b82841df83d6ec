/* JSON Schema objects: properties in the schema's order, every required one present, optional ones
 * skippable, commas right whatever is skipped; then additional members when additionalProperties
 * allows them.
 *
 * additionalProperties absent: with "properties" no other member is generated (as XGrammar's strict
 * mode: the output stays valid, and the model cannot wander into keys of its own); without
 * "properties" (a bare {"type": "object"}) any members. true or a schema: extra members after the
 * declared ones, their keys written without escapes and never equal to a declared key (a duplicate
 * would be validated against the declared property's schema). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema_internal.h"

typedef struct obj {
    js_ctx *c;
    int32_t n;       /* declared members */
    int32_t *member; /* "key": value ws, per member */
    uint8_t *required;
    int32_t *rest; /* rule of "members i.. after `emitted`" at [2 * i + emitted], -1 until made */
    int32_t extra; /* one additional member, or -1 when none are allowed */
    int32_t id;
} obj;

/* Code points of one key, when it is writable without escapes (else n = -1). */
typedef struct key_cps {
    uint32_t cp[128];
    int32_t n;
} key_cps;

static void key_decode(const char *s, size_t len, key_cps *k) {
    k->n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t l = gram_utf8_decode(s + i, len - i, &cp);
        if (!l || cp < 0x20 || cp == '"' || cp == '\\' || k->n == 128) {
            k->n = -1;
            return;
        }
        k->cp[k->n++] = cp;
        i += l;
    }
}

static int cmp_keys(const void *x, const void *y) {
    const key_cps *a = x, *b = y;
    for (int32_t i = 0; i < a->n && i < b->n; i++)
        if (a->cp[i] != b->cp[i]) return a->cp[i] < b->cp[i] ? -1 : 1;
    return (a->n > b->n) - (a->n < b->n);
}

/* Content of a string that differs from every key in keys[0..n) (sorted, all sharing their first d
 * code points): end here unless a key ends here, or continue with a key's next character, or with any
 * other character and then anything. */
static int32_t not_keys(js_ctx *c, key_cps *keys, int32_t n, int32_t d, int32_t free_tail) {
    gram_builder *b = c->b;
    int32_t cap = n + 2, k = 0;
    int32_t *alts = malloc((size_t)cap * sizeof *alts);
    gram_cp_range *used = malloc(((size_t)n + 3) * sizeof *used);
    if (!alts || !used) {
        free(alts);
        free(used);
        return js_fail(c, "out of memory");
    }
    int32_t i = 0, n_used = 0;
    used[n_used++] = (gram_cp_range){0, 0x1F};
    int ends_here = 0;
    while (i < n && keys[i].n == d) ends_here = 1, i++;
    if (!ends_here) alts[k++] = gram_x_empty(b);
    while (i < n) {
        uint32_t cp = keys[i].cp[d];
        int32_t j = i;
        while (j < n && keys[j].cp[d] == cp) j++;
        gram_cp_range one = {cp, cp};
        alts[k++] = gram_x_seq2(b, gram_x_utf8_ranges(b, &one, 1), not_keys(c, keys + i, j - i, d + 1, free_tail));
        used[n_used++] = one;
        i = j;
    }
    used[n_used++] = (gram_cp_range){'"', '"'};
    used[n_used++] = (gram_cp_range){'\\', '\\'};
    gram_cps set = {.r = used, .n = n_used, .cap = n + 3};
    gram_cps_normalize(&set);
    alts[k++] = gram_x_seq2(b, gram_x_utf8_except(b, set.r, set.n), free_tail);
    int32_t x = gram_x_alt(b, alts, k);
    free(alts);
    free(set.r);
    return x;
}

/* The rule for the members from index i on, `emitted` telling whether a member came before. */
static int32_t rest_of(obj *o, int32_t i, int emitted) {
    js_ctx *c = o->c;
    gram_builder *b = c->b;
    int32_t *slot = &o->rest[2 * i + emitted];
    if (*slot >= 0) return gram_x_ref(b, *slot);
    char name[48];
    snprintf(name, sizeof name, "obj%d-%d%s", (int)o->id, (int)i, emitted ? "+" : "");
    int32_t r = gram_rule_add(b, name, strlen(name));
    if (r < 0) return js_fail(c, "out of memory");
    *slot = r;
    int32_t comma = gram_x_seq2(b, gram_x_byte(b, ','), gram_json_ws(b, &c->j));
    int32_t x;
    if (i == o->n) {
        if (o->extra < 0) x = gram_x_empty(b);
        else {
            int32_t more = gram_x_repeat(b, gram_x_seq2(b, comma, o->extra), 0, -1);
            x = emitted ? more : gram_x_opt(b, gram_x_seq2(b, o->extra, more));
        }
    } else {
        int32_t take =
            gram_x_seq2(b, emitted ? gram_x_seq2(b, comma, o->member[i]) : o->member[i], rest_of(o, i + 1, 1));
        x = o->required[i] ? take : gram_x_alt2(b, take, rest_of(o, i + 1, emitted));
    }
    gram_rule_define(b, r, x);
    return gram_x_ref(b, r);
}

static int32_t member(js_ctx *c, const char *key, int32_t value) {
    gram_builder *b = c->b;
    json_t *k = json_string(key);
    char *text = k ? json_dumps(k, JSON_ENCODE_ANY) : NULL;
    json_decref(k);
    if (!text) return js_fail(c, "out of memory");
    int32_t x = gram_x_seq(
        b, (int32_t[]){gram_x_str(b, text), gram_x_byte(b, ':'), gram_json_ws(b, &c->j), value, gram_json_ws(b, &c->j)},
        5);
    free(text);
    return x;
}

static int in_array(json_t *arr, const char *s) {
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return 1;
    return 0;
}

int32_t js_object(js_ctx *c, json_t *s, const char *path) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    if (props && !json_is_object(props)) return js_fail(c, "\"properties\" at %s must be an object", path);
    if (req && !json_is_array(req)) return js_fail(c, "\"required\" at %s must be an array", path);
    if (addl && !json_is_boolean(addl) && !json_is_object(addl))
        return js_fail(c, "\"additionalProperties\" at %s must be a boolean or a schema", path);
    if (!props && !req) {
        if (json_is_false(addl)) return gram_x_seq2(c->b, gram_x_byte(c->b, '{'), gram_x_byte(c->b, '}'));
        char sub[256];
        snprintf(sub, sizeof sub, "%s/additionalProperties", path);
        int32_t value = json_is_object(addl) ? js_rule(c, "value", js_schema(c, addl, sub)) : -1;
        return c->st == LOOM_OK ? gram_json_object_of(c->b, &c->j, value) : -1;
    }
    json_t *extra_schema = addl ? addl : props ? json_false() : json_true();
    size_t n_props = props ? json_object_size(props) : 0, n_req = req ? json_array_size(req) : 0;
    obj o = {.c = c, .extra = -1, .id = c->n_names++};
    o.member = malloc((n_props + n_req + 1) * sizeof *o.member);
    o.required = calloc(n_props + n_req + 1, 1);
    o.rest = malloc(2 * (n_props + n_req + 1) * sizeof *o.rest);
    key_cps *keys = malloc((n_props + n_req + 1) * sizeof *keys);
    int32_t n_keys = 0, x = -1;
    if (!o.member || !o.required || !o.rest || !keys) {
        x = js_fail(c, "out of memory");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(props, k, v) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s/properties/%.100s", path, k);
        o.required[o.n] = req && in_array(req, k);
        o.member[o.n++] = member(c, k, js_rule(c, "value", js_schema(c, v, sub)));
        key_decode(k, strlen(k), &keys[n_keys]);
        if (keys[n_keys].n >= 0) n_keys++;
    }
    size_t i;
    json_array_foreach(req, i, v) { /* required names without a declared schema: the additional schema's */
        if (!json_is_string(v)) {
            x = js_fail(c, "\"required\" at %s must hold strings", path);
            goto done;
        }
        const char *name = json_string_value(v);
        if (props && json_object_get(props, name)) continue;
        if (json_is_false(extra_schema)) {
            x = js_fail(c, "required property \"%.60s\" at %s is not in properties and no others are allowed", name,
                        path);
            goto done;
        }
        char sub[256];
        snprintf(sub, sizeof sub, "%s/additionalProperties", path);
        o.required[o.n] = 1;
        o.member[o.n++] = member(c, name, js_rule(c, "value", js_schema(c, addl ? addl : json_true(), sub)));
        key_decode(name, strlen(name), &keys[n_keys]);
        if (keys[n_keys].n >= 0) n_keys++;
    }
    if (!json_is_false(extra_schema) && c->st == LOOM_OK) {
        char sub[256];
        snprintf(sub, sizeof sub, "%s/additionalProperties", path);
        qsort(keys, (size_t)n_keys, sizeof *keys, cmp_keys);
        gram_cp_range bad[] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
        int32_t free_tail = gram_x_repeat(c->b, gram_x_utf8_except(c->b, bad, 3), 0, -1);
        int32_t key = js_rule(c, "key", not_keys(c, keys, n_keys, 0, free_tail));
        int32_t q = gram_x_byte(c->b, '"');
        o.extra =
            gram_x_seq(c->b,
                       (int32_t[]){q, key, q, gram_x_byte(c->b, ':'), gram_json_ws(c->b, &c->j),
                                   js_rule(c, "value", js_schema(c, extra_schema, sub)), gram_json_ws(c->b, &c->j)},
                       7);
    }
    for (int32_t r = 0; r < 2 * (o.n + 1); r++) o.rest[r] = -1;
    if (c->st == LOOM_OK) {
        int32_t body = rest_of(&o, 0, 0);
        x = gram_x_seq(c->b,
                       (int32_t[]){gram_x_byte(c->b, '{'), gram_json_ws(c->b, &c->j), body, gram_x_byte(c->b, '}')}, 4);
    }
done:
    free(o.member);
    free(o.required);
    free(o.rest);
    free(keys);
    return c->st == LOOM_OK ? x : -1;
}
