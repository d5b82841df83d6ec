/* The value model: Python's truthiness, equality, ordering, str() and repr() for the values a
 * template sees (None, bool, int, float, str, list/tuple, dict/namespace) plus Jinja's Undefined. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/internal.h"

const char *tv_type_name(tpl_value v) {
    switch (v.kind) {
        case TV_UNDEF: return "Undefined";
        case TV_NONE: return "NoneType";
        case TV_BOOL: return "bool";
        case TV_INT: return "int";
        case TV_FLOAT: return "float";
        case TV_STR: return "str";
        case TV_LIST: return v.u.list->is_tuple ? "tuple" : "list";
        case TV_DICT: return v.u.dict->is_namespace ? "Namespace" : "dict";
        case TV_LOOP: return "LoopContext";
        case TV_FUNC: return "function";
        case TV_MACRO: return "Macro";
    }
    return "object";
}

bool tv_truthy(tpl_value v) {
    switch (v.kind) {
        case TV_UNDEF:
        case TV_NONE: return false;
        case TV_BOOL: return v.u.b;
        case TV_INT: return v.u.i != 0;
        case TV_FLOAT: return v.u.f != 0.0;
        case TV_STR: return v.u.s.len != 0;
        case TV_LIST: return v.u.list->n != 0;
        case TV_DICT: return v.u.dict->is_namespace || v.u.dict->n != 0;
        default: return true;
    }
}

static int cmp_bytes(tpl_str a, tpl_str b) { /* UTF-8 byte order is code point order */
    int c = memcmp(a.p, b.p, a.len < b.len ? a.len : b.len);
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

bool tv_equal(tpl_value a, tpl_value b) {
    if (tv_is_num(a) && tv_is_num(b)) {
        if (tv_is_intlike(a) && tv_is_intlike(b)) return tv_as_int(a) == tv_as_int(b);
        return tv_as_float(a) == tv_as_float(b);
    }
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case TV_UNDEF:
        case TV_NONE: return true;
        case TV_STR: return a.u.s.len == b.u.s.len && cmp_bytes(a.u.s, b.u.s) == 0;
        case TV_LIST:
            if (a.u.list->is_tuple != b.u.list->is_tuple || a.u.list->n != b.u.list->n) return false;
            for (size_t i = 0; i < a.u.list->n; i++)
                if (!tv_equal(a.u.list->items[i], b.u.list->items[i])) return false;
            return true;
        case TV_DICT:
            if (a.u.dict->is_namespace || b.u.dict->is_namespace) return a.u.dict == b.u.dict;
            if (a.u.dict->n != b.u.dict->n) return false;
            for (size_t i = 0; i < a.u.dict->n; i++) {
                const tpl_value *o = tv_dict_get(b.u.dict, a.u.dict->keys[i]);
                if (!o || !tv_equal(a.u.dict->vals[i], *o)) return false;
            }
            return true;
        case TV_LOOP: return a.u.loop == b.u.loop;
        case TV_FUNC: return a.u.func == b.u.func;
        case TV_MACRO: return a.u.macro == b.u.macro;
        default: return false;
    }
}

bool tv_order(tpl_value a, tpl_value b, int *cmp) {
    if (tv_is_num(a) && tv_is_num(b)) {
        if (tv_is_intlike(a) && tv_is_intlike(b)) {
            int64_t x = tv_as_int(a), y = tv_as_int(b);
            *cmp = (x > y) - (x < y);
        } else {
            double x = tv_as_float(a), y = tv_as_float(b);
            if (isnan(x) || isnan(y)) *cmp = 2; /* unordered: every comparison is false */
            else *cmp = (x > y) - (x < y);
        }
        return true;
    }
    if (a.kind == TV_STR && b.kind == TV_STR) {
        int c = cmp_bytes(a.u.s, b.u.s);
        *cmp = (c > 0) - (c < 0);
        return true;
    }
    if (a.kind == TV_LIST && b.kind == TV_LIST && a.u.list->is_tuple == b.u.list->is_tuple) {
        size_t n = a.u.list->n < b.u.list->n ? a.u.list->n : b.u.list->n;
        for (size_t i = 0; i < n; i++) {
            if (tv_equal(a.u.list->items[i], b.u.list->items[i])) continue;
            return tv_order(a.u.list->items[i], b.u.list->items[i], cmp);
        }
        *cmp = (a.u.list->n > b.u.list->n) - (a.u.list->n < b.u.list->n);
        return true;
    }
    return false;
}

/* Python's float repr: the shortest digits that read back the same, in fixed notation for
 * exponents -4 <= e < 16 (with ".0" when integral), else scientific like 1e+16 and 1e-05. */
void tv_write_float(tpl_buf *b, double f) {
    if (isnan(f)) {
        tpl_buf_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        tpl_buf_puts(b, f < 0 ? "-inf" : "inf");
        return;
    }
    char sci[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, f);
        if (strtod(sci, NULL) == f) break;
    }
    /* sci = [-]d[.ddd]e[+-]xx */
    char digits[24];
    size_t nd = 0;
    const char *s = sci;
    bool neg = *s == '-';
    if (neg) s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    int exp = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) tpl_buf_put(b, "-", 1);
    if (exp < -4 || exp >= 16) {
        tpl_buf_put(b, digits, 1);
        if (nd > 1) {
            tpl_buf_put(b, ".", 1);
            tpl_buf_put(b, digits + 1, nd - 1);
        }
        tpl_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
    } else if (exp < 0) {
        tpl_buf_puts(b, "0.");
        for (int i = -1; i > exp; i--) tpl_buf_put(b, "0", 1);
        tpl_buf_put(b, digits, nd);
    } else {
        size_t int_digits = (size_t)exp + 1;
        for (size_t i = 0; i < int_digits; i++) tpl_buf_put(b, i < nd ? &digits[i] : "0", 1);
        tpl_buf_put(b, ".", 1);
        if (nd > int_digits) tpl_buf_put(b, digits + int_digits, nd - int_digits);
        else tpl_buf_put(b, "0", 1);
    }
}

static void write_str_repr(tpl_buf *b, tpl_str s) {
    bool has_single = memchr(s.p, '\'', s.len) != NULL, has_double = memchr(s.p, '"', s.len) != NULL;
    char q = has_single && !has_double ? '"' : '\'';
    tpl_buf_put(b, &q, 1);
    for (size_t i = 0; i < s.len;) {
        int32_t cp;
        size_t k = utf8_decode(s.p + i, s.len - i, &cp);
        if (cp == (int32_t)q || cp == '\\') tpl_buf_printf(b, "\\%c", (char)cp);
        else if (cp == '\n') tpl_buf_puts(b, "\\n");
        else if (cp == '\r') tpl_buf_puts(b, "\\r");
        else if (cp == '\t') tpl_buf_puts(b, "\\t");
        else if (cp < 0x80 ? (cp < 0x20 || cp == 0x7F) : !tpl_py_isprintable(cp))
            tpl_buf_printf(b, cp < 0x100 ? "\\x%02x" : cp < 0x10000 ? "\\u%04x" : "\\U%08x", cp);
        else tpl_buf_put(b, s.p + i, k);
        i += k;
    }
    tpl_buf_put(b, &q, 1);
}

static bool write_value(tpl_buf *b, tpl_value v, bool repr, int depth) {
    if (depth > 64) return false; /* a namespace can hold itself */
    switch (v.kind) {
        case TV_UNDEF: /* str(Undefined) is "" */
            if (repr) tpl_buf_puts(b, "Undefined");
            return true;
        case TV_NONE: tpl_buf_puts(b, "None"); return true;
        case TV_BOOL: tpl_buf_puts(b, v.u.b ? "True" : "False"); return true;
        case TV_INT: tpl_buf_printf(b, "%lld", (long long)v.u.i); return true;
        case TV_FLOAT: tv_write_float(b, v.u.f); return true;
        case TV_STR:
            if (repr) write_str_repr(b, v.u.s);
            else tpl_buf_put(b, v.u.s.p, v.u.s.len);
            return true;
        case TV_LIST: {
            const tpl_list *l = v.u.list;
            tpl_buf_puts(b, l->is_tuple ? "(" : "[");
            for (size_t i = 0; i < l->n; i++) {
                if (i) tpl_buf_puts(b, ", ");
                if (!write_value(b, l->items[i], true, depth + 1)) return false;
            }
            tpl_buf_puts(b, l->is_tuple ? (l->n == 1 ? ",)" : ")") : "]");
            return true;
        }
        case TV_DICT: {
            const tpl_dict *d = v.u.dict;
            tpl_buf_puts(b, d->is_namespace ? "<Namespace {" : "{");
            for (size_t i = 0; i < d->n; i++) {
                if (i) tpl_buf_puts(b, ", ");
                if (!write_value(b, d->keys[i], true, depth + 1)) return false;
                tpl_buf_puts(b, ": ");
                if (!write_value(b, d->vals[i], true, depth + 1)) return false;
            }
            tpl_buf_puts(b, d->is_namespace ? "}>" : "}");
            return true;
        }
        default: return false;
    }
}

bool tv_write_str(tpl_buf *b, tpl_value v) { return write_value(b, v, false, 0); }

tpl_list *tv_list_new(tpl_arena *a, size_t n) {
    if (n > SIZE_MAX / sizeof(tpl_value) / 2) return NULL;
    tpl_list *l = tpl_alloc(a, sizeof *l);
    if (!l || !(l->items = tpl_alloc(a, (n ? n : 1) * sizeof *l->items))) return NULL;
    l->n = n;
    return l;
}

tpl_dict *tv_dict_new(tpl_arena *a) { return tpl_alloc(a, sizeof(tpl_dict)); }

const tpl_value *tv_dict_get(const tpl_dict *d, tpl_value key) {
    for (size_t i = 0; i < d->n; i++)
        if (tv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

const tpl_value *tv_dict_get_str(const tpl_dict *d, const char *key, size_t len) {
    return tv_dict_get(d, tv_str(key, len));
}

bool tv_dict_set(tpl_arena *a, tpl_dict *d, tpl_value key, tpl_value val) {
    for (size_t i = 0; i < d->n; i++)
        if (tv_equal(d->keys[i], key)) {
            d->vals[i] = val;
            return true;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        tpl_value *k = tpl_alloc(a, cap * sizeof *k), *v = tpl_alloc(a, cap * sizeof *v);
        if (!k || !v) return false;
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof *k);
            memcpy(v, d->vals, d->n * sizeof *v);
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n++] = val;
    return true;
}
