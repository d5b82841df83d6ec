/* JSON in and out: the render context (jansson) becomes values, and the tojson filter writes values
 * exactly as Python's json.dumps(ensure_ascii=False, ...) does, which transformers' tojson calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "template/internal.h"

bool tpl_from_json(tpl_arena *a, const json_t *j, tpl_value *out) {
    switch (json_typeof(j)) {
        case JSON_NULL: *out = tv_none(); return true;
        case JSON_TRUE: *out = tv_bool(true); return true;
        case JSON_FALSE: *out = tv_bool(false); return true;
        case JSON_INTEGER: *out = tv_int((int64_t)json_integer_value(j)); return true;
        case JSON_REAL: *out = tv_float(json_real_value(j)); return true;
        case JSON_STRING: *out = tv_str(json_string_value(j), json_string_length(j)); return true;
        case JSON_ARRAY: {
            tpl_list *l = tv_list_new(a, json_array_size(j));
            if (!l) return false;
            for (size_t i = 0; i < l->n; i++)
                if (!tpl_from_json(a, json_array_get(j, i), &l->items[i])) return false;
            out->kind = TV_LIST;
            out->u.list = l;
            return true;
        }
        case JSON_OBJECT: {
            tpl_dict *d = tv_dict_new(a);
            size_t n = json_object_size(j);
            if (!d || !(d->keys = tpl_alloc(a, (n + 1) * sizeof *d->keys)) ||
                !(d->vals = tpl_alloc(a, (n + 1) * sizeof *d->vals)))
                return false;
            d->cap = n + 1;
            const char *key;
            json_t *val;
            json_object_foreach((json_t *)j, key, val) { /* keys are unique: append without lookups */
                d->keys[d->n] = tv_str(key, strlen(key));
                if (!tpl_from_json(a, val, &d->vals[d->n])) return false;
                d->n++;
            }
            out->kind = TV_DICT;
            out->u.dict = d;
            return true;
        }
    }
    return false;
}

static void write_json_string(tpl_buf *b, tpl_str s) {
    tpl_buf_put(b, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        const char *esc = NULL;
        switch (c) {
            case '"': esc = "\\\""; break;
            case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            default: break;
        }
        if (!esc && c >= 0x20) continue;
        tpl_buf_put(b, s.p + run, i - run);
        if (esc) tpl_buf_puts(b, esc);
        else tpl_buf_printf(b, "\\u%04x", c);
        run = i + 1;
    }
    tpl_buf_put(b, s.p + run, s.len - run);
    tpl_buf_put(b, "\"", 1);
}

static void newline_indent(tpl_buf *b, const tpl_json_style *st, int level) {
    tpl_buf_put(b, "\n", 1);
    for (int i = 0; i < level; i++) tpl_buf_puts(b, st->indent);
}

/* Python turns non-string keys into strings: 1 -> "1", True -> "true", None -> "null". */
static bool write_key(tpl_buf *b, tpl_value k, const char **why) {
    tpl_buf tmp = {.limit = 64};
    switch (k.kind) {
        case TV_STR: write_json_string(b, k.u.s); return true;
        case TV_BOOL: tpl_buf_puts(b, k.u.b ? "\"true\"" : "\"false\""); return true;
        case TV_NONE: tpl_buf_puts(b, "\"null\""); return true;
        case TV_INT: tpl_buf_printf(b, "\"%lld\"", (long long)k.u.i); return true;
        case TV_FLOAT:
            tv_write_float(&tmp, k.u.f);
            tpl_buf_put(b, "\"", 1);
            tpl_buf_put(b, tmp.p, tmp.len);
            tpl_buf_put(b, "\"", 1);
            free(tmp.p);
            return true;
        default: *why = "keys must be str, int, float, bool or None"; return false;
    }
}

static int compare_keys(const void *x, const void *y) {
    const tpl_value *a = *(const tpl_value *const *)x, *b = *(const tpl_value *const *)y;
    int c;
    return tv_order(*a, *b, &c) ? c : 0;
}

static bool write_dict(tpl_buf *b, const tpl_dict *d, const tpl_json_style *st, int depth, const char **why) {
    if (d->n == 0) {
        tpl_buf_puts(b, "{}");
        return true;
    }
    size_t *order = malloc(d->n * sizeof *order);
    const tpl_value **keys = malloc(d->n * sizeof *keys);
    bool ok = order && keys;
    for (size_t i = 0; ok && i < d->n; i++) {
        keys[i] = &d->keys[i];
        if (st->sort_keys && d->keys[i].kind != TV_STR) {
            *why = "sort_keys needs string keys";
            ok = false;
        }
    }
    if (ok && st->sort_keys) qsort(keys, d->n, sizeof *keys, compare_keys);
    for (size_t i = 0; ok && i < d->n; i++) order[i] = (size_t)(keys[i] - d->keys);
    if (!ok && !*why) *why = "out of memory";
    tpl_buf_put(b, "{", 1);
    for (size_t i = 0; ok && i < d->n; i++) {
        if (i) tpl_buf_puts(b, st->item_sep);
        if (st->indent) newline_indent(b, st, depth + 1);
        ok = write_key(b, d->keys[order[i]], why);
        tpl_buf_puts(b, st->key_sep);
        ok = ok && tpl_to_json(b, d->vals[order[i]], st, depth + 1, why);
    }
    if (st->indent) newline_indent(b, st, depth);
    tpl_buf_put(b, "}", 1);
    free(order);
    free(keys);
    return ok;
}

bool tpl_to_json(tpl_buf *b, tpl_value v, const tpl_json_style *st, int depth, const char **why) {
    if (depth > 256) {
        *why = "nested too deeply";
        return false;
    }
    switch (v.kind) {
        case TV_NONE: tpl_buf_puts(b, "null"); return true;
        case TV_BOOL: tpl_buf_puts(b, v.u.b ? "true" : "false"); return true;
        case TV_INT: tpl_buf_printf(b, "%lld", (long long)v.u.i); return true;
        case TV_FLOAT:
            if (isnan(v.u.f)) tpl_buf_puts(b, "NaN");
            else if (isinf(v.u.f)) tpl_buf_puts(b, v.u.f < 0 ? "-Infinity" : "Infinity");
            else tv_write_float(b, v.u.f);
            return true;
        case TV_STR: write_json_string(b, v.u.s); return true;
        case TV_LIST: {
            const tpl_list *l = v.u.list;
            tpl_buf_put(b, "[", 1);
            for (size_t i = 0; i < l->n; i++) {
                if (i) tpl_buf_puts(b, st->item_sep);
                if (st->indent) newline_indent(b, st, depth + 1);
                if (!tpl_to_json(b, l->items[i], st, depth + 1, why)) return false;
            }
            if (st->indent && l->n) newline_indent(b, st, depth);
            tpl_buf_put(b, "]", 1);
            return true;
        }
        case TV_DICT:
            if (v.u.dict->is_namespace) break;
            return write_dict(b, v.u.dict, st, depth, why);
        default: break;
    }
    *why = tv_type_name(v);
    return false;
}
