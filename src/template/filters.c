/* Jinja filters ("x | name(args)") and tests ("x is name(args)") that real chat templates use, with
 * transformers' tojson. Unknown names are rejected when the template is parsed. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

/* mode: the table entry's variant of a filter family (case: l/u/c; select_or_map: s/r/m), else 0 */
typedef loom_status (*filter_fn)(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                                 tpl_value *out);

static bool str_is(tpl_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0; }

static tpl_value list_value(tpl_list *l) {
    tpl_value v = {TV_LIST, {.list = l}};
    return v;
}

static loom_status f_trim(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                          tpl_value *out) {
    static const char *const p[] = {"chars"};
    tpl_value a, s;
    loom_status st = tpl_bind(r, at, "trim", args, p, 1, &a);
    if (st == LOOM_OK) st = tpl_to_str(r, at, v, &s);
    return st == LOOM_OK ? tpl_str_strip(r, at, s.u.s, a, true, true, out) : st;
}

static loom_status f_length(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                            tpl_value *out) {
    loom_status st = tpl_bind(r, at, "length", args, NULL, 0, NULL);
    if (st != LOOM_OK) return st;
    switch (v.kind) {
        case TV_UNDEF: *out = tv_int(0); return LOOM_OK;
        case TV_STR: *out = tv_int((int64_t)tpl_utf8_count(v.u.s.p, v.u.s.len)); return tpl_charge(r, at, v.u.s.len);
        case TV_LIST: *out = tv_int((int64_t)v.u.list->n); return LOOM_OK;
        case TV_DICT:
            if (v.u.dict->is_namespace) break;
            *out = tv_int((int64_t)v.u.dict->n);
            return LOOM_OK;
        default: break;
    }
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "object of type '%s' has no len()", tv_type_name(v));
}

static loom_status f_tojson(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                            tpl_value *out) {
    static const char *const p[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
    tpl_value a[4];
    loom_status st = tpl_bind(r, at, "tojson", args, p, 4, a);
    if (st != LOOM_OK) return st;
    if (tv_truthy(a[0])) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: tojson(ensure_ascii=true)");
    char spaces[65];
    tpl_json_style style = {NULL, ", ", ": ", tv_truthy(a[3])};
    if (a[1].kind == TV_STR) {
        style.indent = "";
        if (memchr(a[1].u.s.p, 0, a[1].u.s.len) || a[1].u.s.len >= sizeof spaces)
            return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported tojson indent");
        memcpy(spaces, a[1].u.s.p, a[1].u.s.len);
        spaces[a[1].u.s.len] = '\0';
        style.indent = spaces;
    } else if (tv_is_intlike(a[1])) {
        int64_t n = tv_as_int(a[1]);
        if (n > 64) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: tojson indent over 64");
        memset(spaces, ' ', n > 0 ? (size_t)n : 0);
        spaces[n > 0 ? n : 0] = '\0';
        style.indent = spaces;
    } else if (a[1].kind != TV_UNDEF && a[1].kind != TV_NONE) {
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "tojson indent must be an int or a string");
    }
    if (style.indent) style.item_sep = ",";
    if (a[2].kind == TV_LIST && a[2].u.list->n == 2 && a[2].u.list->items[0].kind == TV_STR &&
        a[2].u.list->items[1].kind == TV_STR) {
        /* tpl_to_json writes separators with tpl_buf_puts: they must be NUL-free */
        tpl_str i = a[2].u.list->items[0].u.s, k = a[2].u.list->items[1].u.s;
        char *is = tpl_new_bytes(r, at, i.len), *ks = is ? tpl_new_bytes(r, at, k.len) : NULL;
        if (!ks) return r->err->status;
        memcpy(is, i.p, i.len);
        memcpy(ks, k.p, k.len);
        if (strlen(is) != i.len || strlen(ks) != k.len)
            return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported tojson separators");
        style.item_sep = is;
        style.key_sep = ks;
    } else if (a[2].kind != TV_UNDEF && a[2].kind != TV_NONE) {
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "tojson separators must be a pair of strings");
    }
    tpl_buf b = {.limit = r->limits.max_memory_bytes};
    const char *why = NULL;
    if (!tpl_to_json(&b, v, &style, 0, &why))
        st = tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "tojson: %s is not JSON serializable", why);
    if (st == LOOM_OK) st = tpl_charge(r, at, b.len);
    if (st == LOOM_OK) st = tpl_buf_value(r, at, &b, out);
    free(b.p);
    return st;
}

static loom_status f_string(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                            tpl_value *out) {
    loom_status st = tpl_bind(r, at, "string", args, NULL, 0, NULL);
    return st == LOOM_OK ? tpl_to_str(r, at, v, out) : st;
}

static loom_status f_case(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                          tpl_value *out) {
    tpl_value s;
    loom_status st = tpl_bind(r, at, "case filter", args, NULL, 0, NULL);
    if (st == LOOM_OK) st = tpl_to_str(r, at, v, &s);
    return st == LOOM_OK ? tpl_str_case(r, at, s.u.s, mode, out) : st;
}

/* Jinja's title filter: each word split at whitespace, -, (, {, [ or < gets an upper first letter. */
static loom_status f_title(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                           tpl_value *out) {
    tpl_value s;
    loom_status st = tpl_bind(r, at, "title", args, NULL, 0, NULL);
    if (st == LOOM_OK) st = tpl_to_str(r, at, v, &s);
    if (st != LOOM_OK) return st;
    char *p = tpl_new_bytes(r, at, s.u.s.len * 2);
    if (!p) return r->err->status;
    size_t n = 0;
    bool word_start = true;
    for (size_t i = 0; i < s.u.s.len;) {
        int32_t cp;
        i += utf8_decode(s.u.s.p + i, s.u.s.len - i, &cp);
        bool boundary = tpl_py_isspace(cp) || (cp < 0x80 && strchr("-({[<", (int)cp) && cp);
        n += utf8_encode(boundary ? cp : word_start ? tpl_py_upper(cp) : tpl_py_lower(cp), p + n);
        word_start = boundary;
    }
    *out = tv_str(p, n);
    return LOOM_OK;
}

static loom_status f_first(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                           tpl_value *out) {
    tpl_list *l;
    loom_status st = tpl_bind(r, at, "first", args, NULL, 0, NULL);
    if (st == LOOM_OK) st = tpl_iterate(r, at, v, &l);
    if (st == LOOM_OK) *out = l->n ? l->items[0] : tv_undef();
    return st;
}

static loom_status f_last(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                          tpl_value *out) {
    tpl_list *l;
    loom_status st = tpl_bind(r, at, "last", args, NULL, 0, NULL);
    if (st == LOOM_OK && v.kind == TV_UNDEF) return tpl_undefined_error(r, at, v);
    if (st == LOOM_OK) st = tpl_iterate(r, at, v, &l);
    if (st == LOOM_OK) *out = l->n ? l->items[l->n - 1] : tv_undef();
    return st;
}

/* Jinja's attribute getter: "a.b.0" looks up a, then b, then item 0. */
static loom_status get_path(tpl_render *r, const tpl_node *at, tpl_value v, tpl_value path, tpl_value *out) {
    if (tv_is_intlike(path)) return tpl_getitem(r, at, v, path, out);
    if (path.kind != TV_STR) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "attribute must be a string or an int");
    size_t i = 0;
    do {
        const char *dot = memchr(path.u.s.p + i, '.', path.u.s.len - i);
        size_t e = dot ? (size_t)(dot - path.u.s.p) : path.u.s.len;
        tpl_value key = tv_str(path.u.s.p + i, e - i);
        char *end;
        char num[24];
        if (e - i && e - i < sizeof num) {
            memcpy(num, key.u.s.p, e - i);
            num[e - i] = '\0';
            long long k = strtoll(num, &end, 10);
            if (*end == '\0' && num[0] >= '0' && num[0] <= '9') key = tv_int(k);
        }
        loom_status st = tpl_getitem(r, at, v, key, &v);
        if (st != LOOM_OK) return st;
        i = e + 1;
    } while (i <= path.u.s.len);
    *out = v;
    return LOOM_OK;
}

static loom_status f_join(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                          tpl_value *out) {
    static const char *const p[] = {"d", "attribute"};
    tpl_value a[2], sep = tv_str("", 0);
    tpl_list *l;
    loom_status st = tpl_bind(r, at, "join", args, p, 2, a);
    if (st == LOOM_OK && a[0].kind != TV_UNDEF) st = tpl_to_str(r, at, a[0], &sep);
    if (st == LOOM_OK) st = tpl_iterate(r, at, v, &l);
    if (st != LOOM_OK) return st;
    tpl_buf b = {.limit = r->limits.max_memory_bytes};
    for (size_t i = 0; i < l->n && st == LOOM_OK; i++) {
        tpl_value item = l->items[i];
        if (a[1].kind != TV_UNDEF) st = get_path(r, at, item, a[1], &item);
        if (i) tpl_buf_put(&b, sep.u.s.p, sep.u.s.len);
        if (st == LOOM_OK && !tv_write_str(&b, item))
            st = tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: join of a '%s'", tv_type_name(item));
    }
    if (st == LOOM_OK) st = tpl_charge(r, at, b.len);
    if (st == LOOM_OK) st = tpl_buf_value(r, at, &b, out);
    free(b.p);
    return st;
}

static loom_status f_default(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                             tpl_value *out) {
    static const char *const p[] = {"default_value", "boolean"};
    tpl_value a[2];
    loom_status st = tpl_bind(r, at, "default", args, p, 2, a);
    if (st != LOOM_OK) return st;
    bool use_default = v.kind == TV_UNDEF || (tv_truthy(a[1]) && !tv_truthy(v));
    *out = !use_default ? v : a[0].kind == TV_UNDEF ? tv_str("", 0) : a[0];
    return LOOM_OK;
}

static loom_status f_items(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                           tpl_value *out) {
    static const tpl_args none = {0};
    loom_status st = tpl_bind(r, at, "items", args, NULL, 0, NULL);
    if (st != LOOM_OK) return st;
    if (v.kind == TV_UNDEF) {
        tpl_list *empty = tv_list_new(&r->arena, 0);
        *out = list_value(empty);
        return empty ? LOOM_OK : tpl_no_memory(r, at);
    }
    if (v.kind != TV_DICT || v.u.dict->is_namespace)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "items: can only get item pairs from a mapping, not '%s'",
                        tv_type_name(v));
    bool found;
    return tpl_call_method(r, at, v, (tpl_str){"items", 5}, &none, &found, out);
}

static loom_status f_replace(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                             tpl_value *out) {
    static const char *const p[] = {"old", "new", "count"};
    tpl_value a[3], s, o, n;
    loom_status st = tpl_bind(r, at, "replace", args, p, 3, a);
    if (st == LOOM_OK && (a[0].kind == TV_UNDEF || a[1].kind == TV_UNDEF))
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "replace needs old and new");
    if (st == LOOM_OK && a[2].kind != TV_UNDEF && a[2].kind != TV_NONE && !tv_is_intlike(a[2]))
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "replace count must be an int");
    if (st == LOOM_OK) st = tpl_to_str(r, at, v, &s);
    if (st == LOOM_OK) st = tpl_to_str(r, at, a[0], &o);
    if (st == LOOM_OK) st = tpl_to_str(r, at, a[1], &n);
    if (st != LOOM_OK) return st;
    return tpl_str_replace(r, at, s.u.s, o.u.s, n.u.s, tv_is_intlike(a[2]) ? tv_as_int(a[2]) : -1, out);
}

/* Python's int()/float() of a string: surrounding whitespace and single underscores between digits
 * allowed. The cleaned text goes to buf; false when it cannot be a number of that kind. */
static bool clean_number(tpl_str s, bool want_int, char buf[128]) {
    size_t n = 0, i = 0, e = s.len, k;
    while ((k = tpl_space_len(s.p + i, e - i)) > 0) i += k;
    while (e > i && (s.p[e - 1] == ' ' || (s.p[e - 1] >= '\t' && s.p[e - 1] <= '\r'))) e--;
    if (e - i == 0 || e - i >= 128) return false;
    for (; i < e; i++) {
        char c = s.p[i];
        bool digit = c >= '0' && c <= '9';
        if (c == '_' && n && buf[n - 1] >= '0' && buf[n - 1] <= '9' && i + 1 < e && s.p[i + 1] >= '0' &&
            s.p[i + 1] <= '9')
            continue;
        if (want_int ? !(digit || ((c == '+' || c == '-') && n == 0)) : !(digit || strchr("+-.eEinfatyINFATY", c)))
            return false;
        buf[n++] = c;
    }
    buf[n] = '\0';
    char *end;
    errno = 0;
    if (want_int) (void)strtoll(buf, &end, 10);
    else (void)strtod(buf, &end);
    return *end == '\0' && end != buf && !(want_int && (errno || !(buf[n - 1] >= '0' && buf[n - 1] <= '9')));
}

static loom_status f_int(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                         tpl_value *out) {
    static const char *const p[] = {"default", "base"};
    tpl_value a[2];
    loom_status st = tpl_bind(r, at, "int", args, p, 2, a);
    if (st != LOOM_OK) return st;
    if (a[1].kind != TV_UNDEF && !(tv_is_intlike(a[1]) && tv_as_int(a[1]) == 10))
        return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: int filter with a base other than 10");
    *out = a[0].kind == TV_UNDEF ? tv_int(0) : a[0];
    char buf[128];
    double d = NAN;
    if (tv_is_intlike(v)) *out = tv_int(tv_as_int(v));
    else if (v.kind == TV_STR && clean_number(v.u.s, true, buf)) *out = tv_int(strtoll(buf, NULL, 10));
    else if (v.kind == TV_STR && clean_number(v.u.s, false, buf)) d = strtod(buf, NULL);
    else if (v.kind == TV_FLOAT) d = v.u.f;
    if (isfinite(d)) {
        if (fabs(d) >= 9.2e18) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: integer beyond 64 bits");
        *out = tv_int((int64_t)d);
    }
    return LOOM_OK;
}

static loom_status f_float(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                           tpl_value *out) {
    static const char *const p[] = {"default"};
    tpl_value a;
    loom_status st = tpl_bind(r, at, "float", args, p, 1, &a);
    if (st != LOOM_OK) return st;
    *out = a.kind == TV_UNDEF ? tv_float(0.0) : a;
    char buf[128];
    if (tv_is_num(v)) *out = tv_float(tv_as_float(v));
    else if (v.kind == TV_STR && clean_number(v.u.s, false, buf)) *out = tv_float(strtod(buf, NULL));
    return LOOM_OK;
}

static loom_status f_list(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                          tpl_value *out) {
    tpl_list *l, *copy;
    loom_status st = tpl_bind(r, at, "list", args, NULL, 0, NULL);
    if (st == LOOM_OK) st = tpl_iterate(r, at, v, &l);
    if (st != LOOM_OK) return st;
    if (!(copy = tv_list_new(&r->arena, l->n))) return tpl_no_memory(r, at);
    if (l->n) memcpy(copy->items, l->items, l->n * sizeof *l->items);
    *out = list_value(copy);
    return tpl_charge(r, at, l->n);
}

/* selectattr/rejectattr(attr[, test, args...]) and map(attribute=...) or map(filter, args...). */
static loom_status select_or_map(tpl_render *r, const tpl_node *at, tpl_value v, const tpl_args *args, int mode,
                                 tpl_value *out) {
    tpl_list *l, *res;
    loom_status st = tpl_iterate(r, at, v, &l);
    if (st != LOOM_OK) return st;
    if (!(res = tv_list_new(&r->arena, l->n))) return tpl_no_memory(r, at);
    res->n = 0;
    tpl_args rest = {args->n_pos > 2 ? args->pos + 2 : NULL, args->n_pos > 2 ? args->n_pos - 2 : 0, NULL, NULL, 0};
    tpl_value attr = args->n_pos ? args->pos[0] : tv_undef(), deflt = tv_undef();
    for (size_t k = 0; mode == 'm' && k < args->n_kw; k++) {
        if (str_is(args->kw_names[k], "attribute")) attr = args->kw[k];
        else if (str_is(args->kw_names[k], "default")) deflt = args->kw[k];
        else return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported map() keyword argument");
    }
    bool map_filter = mode == 'm' && args->n_pos > 0;
    if ((mode != 'm' && (args->n_kw || !args->n_pos)) || (map_filter && (args->n_kw || attr.kind != TV_STR)) ||
        (mode == 'm' && !map_filter && attr.kind == TV_UNDEF))
        return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported arguments to %s",
                        mode == 'm' ? "map" : "selectattr/rejectattr");
    tpl_args filter_args = {args->pos + 1, args->n_pos ? args->n_pos - 1 : 0, NULL, NULL, 0};
    for (size_t i = 0; i < l->n && st == LOOM_OK; i++) {
        tpl_value item = l->items[i], got;
        if (map_filter) {
            st = tpl_apply_filter(r, at, attr.u.s, item, &filter_args, &res->items[res->n++]);
            continue;
        }
        if ((st = get_path(r, at, item, attr, &got)) != LOOM_OK) break;
        if (mode == 'm') {
            res->items[res->n++] = got.kind == TV_UNDEF && deflt.kind != TV_UNDEF ? deflt : got;
            continue;
        }
        bool pass = tv_truthy(got);
        if (args->n_pos > 1) {
            if (args->pos[1].kind != TV_STR)
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "selectattr/rejectattr: the test must be a name");
            st = tpl_apply_test(r, at, args->pos[1].u.s, got, &rest, &pass);
        }
        if (pass == (mode == 's')) res->items[res->n++] = item;
    }
    *out = list_value(res);
    return st == LOOM_OK ? tpl_charge(r, at, l->n) : st;
}

static const struct {
    const char *name;
    filter_fn fn;
    int mode;
} FILTERS[] = {
    {"trim", f_trim, 0},
    {"length", f_length, 0},
    {"count", f_length, 0},
    {"tojson", f_tojson, 0},
    {"string", f_string, 0},
    {"lower", f_case, 'l'},
    {"upper", f_case, 'u'},
    {"capitalize", f_case, 'c'},
    {"title", f_title, 0},
    {"first", f_first, 0},
    {"last", f_last, 0},
    {"join", f_join, 0},
    {"default", f_default, 0},
    {"d", f_default, 0},
    {"items", f_items, 0},
    {"replace", f_replace, 0},
    {"int", f_int, 0},
    {"float", f_float, 0},
    {"list", f_list, 0},
    {"selectattr", select_or_map, 's'},
    {"rejectattr", select_or_map, 'r'},
    {"map", select_or_map, 'm'},
};

static int find_filter(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof FILTERS / sizeof *FILTERS; i++)
        if (str_is((tpl_str){name, len}, FILTERS[i].name)) return (int)i;
    return -1;
}

loom_status tpl_apply_filter(tpl_render *r, const tpl_node *at, tpl_str name, tpl_value subject, const tpl_args *args,
                             tpl_value *out) {
    int i = find_filter(name.p, name.len);
    if (i < 0) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported filter '%.*s'", (int)name.len, name.p);
    *out = tv_undef();
    return FILTERS[i].fn(r, at, subject, args, FILTERS[i].mode, out);
}

/* ---- tests -------------------------------------------------------------------------------- */

static const char *const TESTS[] = {"defined",  "undefined",   "none",  "string",  "mapping", "iterable", "number",
                                    "sequence", "true",        "false", "boolean", "integer", "float",    "eq",
                                    "equalto",  "==",          "ne",    "!=",      "lt",      "<",        "le",
                                    "<=",       "gt",          ">",     "ge",      ">=",      "in",       "odd",
                                    "even",     "divisibleby", NULL};

static int find_test(const char *name, size_t len) {
    for (int i = 0; TESTS[i]; i++)
        if (str_is((tpl_str){name, len}, TESTS[i])) return i;
    return -1;
}

loom_status tpl_apply_test(tpl_render *r, const tpl_node *at, tpl_str name, tpl_value v, const tpl_args *args,
                           bool *out) {
    static const char *const p[] = {"other"};
    tpl_value o;
    int t = find_test(name.p, name.len);
    if (t < 0) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported test '%.*s'", (int)name.len, name.p);
    loom_status st = tpl_bind(r, at, "test", args, p, t >= 13 && t <= 26 ? 1 : t == 29 ? 1 : 0, &o);
    if (st != LOOM_OK) return st;
    if (((t >= 13 && t <= 26) || t == 29) && args->n_pos + args->n_kw == 0)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "test '%.*s' needs an argument", (int)name.len, name.p);
    int cmp = 0;
    tpl_value m;
    switch (t) {
        case 0: *out = v.kind != TV_UNDEF; return LOOM_OK;
        case 1: *out = v.kind == TV_UNDEF; return LOOM_OK;
        case 2: *out = v.kind == TV_NONE; return LOOM_OK;
        case 3: *out = v.kind == TV_STR; return LOOM_OK;
        case 4: *out = v.kind == TV_DICT && !v.u.dict->is_namespace; return LOOM_OK;
        case 5:
            *out = v.kind == TV_STR || v.kind == TV_LIST || v.kind == TV_UNDEF || v.kind == TV_LOOP ||
                (v.kind == TV_DICT && !v.u.dict->is_namespace);
            return LOOM_OK;
        case 6: *out = tv_is_num(v); return LOOM_OK;
        case 7:
            *out = v.kind == TV_STR || v.kind == TV_LIST || v.kind == TV_UNDEF ||
                (v.kind == TV_DICT && !v.u.dict->is_namespace);
            return LOOM_OK;
        case 8: *out = v.kind == TV_BOOL && v.u.b; return LOOM_OK;
        case 9: *out = v.kind == TV_BOOL && !v.u.b; return LOOM_OK;
        case 10: *out = v.kind == TV_BOOL; return LOOM_OK;
        case 11: *out = v.kind == TV_INT; return LOOM_OK;
        case 12: *out = v.kind == TV_FLOAT; return LOOM_OK;
        case 13:
        case 14:
        case 15: *out = tv_equal(v, o); return LOOM_OK;
        case 16:
        case 17: *out = !tv_equal(v, o); return LOOM_OK;
        case 18:
        case 19:
        case 20:
        case 21:
        case 22:
        case 23:
        case 24:
        case 25:
            if (v.kind == TV_UNDEF || o.kind == TV_UNDEF) return tpl_undefined_error(r, at, v.kind == TV_UNDEF ? v : o);
            if (!tv_order(v, o, &cmp))
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "cannot order '%s' and '%s'", tv_type_name(v),
                                tv_type_name(o));
            *out = cmp != 2 && (t <= 19 ? cmp < 0 : t <= 21 ? cmp <= 0 : t <= 23 ? cmp > 0 : cmp >= 0);
            return LOOM_OK;
        case 26: return tpl_contains(r, at, o, v, out);
        case 27:
        case 28:
        case 29:
            if (!tv_is_num(v) || (t == 29 && !tv_is_num(o)))
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "test '%.*s' needs numbers", (int)name.len, name.p);
            if ((st = tpl_binary(r, at, '%', v, t == 29 ? o : tv_int(2), &m)) != LOOM_OK) return st;
            *out = t == 27 ? tv_truthy(m) : !tv_truthy(m);
            return LOOM_OK;
        default: return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported test '%.*s'", (int)name.len, name.p);
    }
}
