/* Python str and dict methods, transformers' globals (range, namespace, dict, raise_exception,
 * strftime_now) and argument binding for every builtin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "template/internal.h"

static bool str_is(tpl_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0; }

static bool in_list(tpl_str s, const char *const *names) {
    for (; *names; names++)
        if (str_is(s, *names)) return true;
    return false;
}

loom_status tpl_bind(tpl_render *r, const tpl_node *at, const char *what, const tpl_args *args,
                     const char *const *params, size_t n_params, tpl_value *out) {
    if (args->n_pos > n_params)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "%s takes at most %zu argument(s), %zu given", what, n_params,
                        args->n_pos);
    for (size_t i = 0; i < n_params; i++) out[i] = i < args->n_pos ? args->pos[i] : tv_undef();
    for (size_t k = 0; k < args->n_kw; k++) {
        size_t i = 0;
        while (i < n_params && !str_is(args->kw_names[k], params[i])) i++;
        if (i == n_params || i < args->n_pos)
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "%s got an unexpected keyword argument '%.*s'", what,
                            (int)args->kw_names[k].len, args->kw_names[k].p);
        out[i] = args->kw[k];
    }
    return LOOM_OK;
}

/* ---- str ---------------------------------------------------------------------------------- */

static const char *const STR_METHODS[] = {
    "startswith", "endswith", "strip", "lstrip", "rstrip", "split", "upper", "lower", "replace", "title", "capitalize",
    "find", "join",
    /* the rest of Python's str methods: recognised, so that using one is an error, not Undefined */
    "casefold", "center", "count", "encode", "expandtabs", "format", "format_map", "index", "isalnum", "isalpha",
    "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable", "isspace", "istitle",
    "isupper", "ljust", "maketrans", "partition", "removeprefix", "removesuffix", "rfind", "rindex", "rjust",
    "rpartition", "rsplit", "splitlines", "swapcase", "translate", "zfill", NULL};
static const char *const DICT_METHODS[] = {"items",    "keys", "values",  "get",        "clear",  "copy",
                                           "fromkeys", "pop",  "popitem", "setdefault", "update", NULL};
static const char *const LIST_METHODS[] = {"append", "clear", "copy",   "count",   "extend", "index",
                                           "insert", "pop",   "remove", "reverse", "sort",   NULL};

bool tpl_is_method(tpl_value obj, tpl_str name) {
    if (obj.kind == TV_STR) return in_list(name, STR_METHODS);
    if (obj.kind == TV_DICT && !obj.u.dict->is_namespace) return in_list(name, DICT_METHODS);
    if (obj.kind == TV_LIST) return in_list(name, LIST_METHODS);
    return false;
}

static bool char_in(int32_t cp, tpl_str set) {
    for (size_t i = 0; i < set.len;) {
        int32_t c;
        i += utf8_decode(set.p + i, set.len - i, &c);
        if (c == cp) return true;
    }
    return false;
}

loom_status tpl_str_strip(tpl_render *r, const tpl_node *at, tpl_str s, tpl_value chars, bool left, bool right,
                          tpl_value *out) {
    if (chars.kind != TV_UNDEF && chars.kind != TV_NONE && chars.kind != TV_STR)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "strip arg must be None or str, not '%s'", tv_type_name(chars));
    bool ws = chars.kind != TV_STR;
    size_t b = 0, e = s.len;
    while (left && b < e) {
        int32_t cp;
        size_t k = utf8_decode(s.p + b, e - b, &cp);
        if (ws ? !tpl_py_isspace(cp) : !char_in(cp, chars.u.s)) break;
        b += k;
    }
    while (right && e > b) {
        size_t start = e - 1;
        while (start > b && ((unsigned char)s.p[start] & 0xC0) == 0x80) start--;
        int32_t cp;
        utf8_decode(s.p + start, e - start, &cp);
        if (ws ? !tpl_py_isspace(cp) : !char_in(cp, chars.u.s)) break;
        e = start;
    }
    *out = tv_str(s.p + b, e - b);
    return tpl_charge(r, at, s.len);
}

loom_status tpl_str_replace(tpl_render *r, const tpl_node *at, tpl_str s, tpl_str old, tpl_str new_, int64_t count,
                            tpl_value *out) {
    tpl_buf b = {.limit = r->limits.max_memory_bytes};
    int64_t done = 0;
    size_t i = 0;
    if (old.len == 0) { /* Python inserts new before every character and at the end */
        while (i <= s.len && (count < 0 || done < count)) {
            tpl_buf_put(&b, new_.p, new_.len);
            done++;
            if (i == s.len) {
                i++;
                break;
            }
            int32_t cp;
            size_t k = utf8_decode(s.p + i, s.len - i, &cp);
            tpl_buf_put(&b, s.p + i, k);
            i += k;
        }
        if (i <= s.len) tpl_buf_put(&b, s.p + i, s.len - i);
    } else {
        while (count < 0 || done < count) {
            const char *hit = memmem(s.p + i, s.len - i, old.p, old.len);
            if (!hit) break;
            tpl_buf_put(&b, s.p + i, (size_t)(hit - s.p) - i);
            tpl_buf_put(&b, new_.p, new_.len);
            i = (size_t)(hit - s.p) + old.len;
            done++;
        }
        tpl_buf_put(&b, s.p + i, s.len - i);
    }
    loom_status st = tpl_charge(r, at, s.len + b.len);
    if (st == LOOM_OK) st = tpl_buf_value(r, at, &b, out);
    free(b.p);
    return st;
}

/* Python's full case mappings that are not one character to one character. */
static const struct {
    int32_t cp;
    const char *upper, *title, *lower;
} SPECIAL_CASES[] = {
    {0xDF, "SS", "Ss", NULL},         {0xFB00, "FF", "Ff", NULL},   {0xFB01, "FI", "Fi", NULL},
    {0xFB02, "FL", "Fl", NULL},       {0xFB03, "FFI", "Ffi", NULL}, {0xFB04, "FFL", "Ffl", NULL},
    {0xFB05, "ST", "St", NULL},       {0xFB06, "ST", "St", NULL},   {0x149, "\xca\xbcN", "\xca\xbcN", NULL},
    {0x130, NULL, NULL, "i\xcc\x87"},
};

static const char *special_case(int32_t cp, int which) {
    for (size_t i = 0; i < sizeof SPECIAL_CASES / sizeof *SPECIAL_CASES; i++)
        if (SPECIAL_CASES[i].cp == cp)
            return which == 'u' ? SPECIAL_CASES[i].upper
                : which == 't'  ? SPECIAL_CASES[i].title
                                : SPECIAL_CASES[i].lower;
    return NULL;
}

loom_status tpl_str_case(tpl_render *r, const tpl_node *at, tpl_str s, int mode, tpl_value *out) {
    char *p = tpl_new_bytes(r, at, s.len * 2); /* a case mapping can change an encoded length */
    if (!p) return r->err->status;
    size_t n = 0;
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < s.len;) {
        int32_t cp, m;
        i += utf8_decode(s.p + i, s.len - i, &cp);
        int which = mode == 'u' ? 'u' : mode == 'l' ? 'l' : (mode == 't' ? !prev_cased : first) ? 't' : 'l';
        const char *special = special_case(cp, which);
        prev_cased = tpl_py_iscased(cp);
        first = false;
        if (special) {
            memcpy(p + n, special, strlen(special));
            n += strlen(special);
            continue;
        }
        m = which == 'u' ? tpl_py_upper(cp) : which == 'l' ? tpl_py_lower(cp) : tpl_py_title(cp);
        n += utf8_encode(m, p + n);
    }
    *out = tv_str(p, n);
    return LOOM_OK;
}

static loom_status str_split(tpl_render *r, const tpl_node *at, tpl_str s, tpl_value sep, tpl_value maxsplit,
                             tpl_value *out) {
    if (sep.kind != TV_UNDEF && sep.kind != TV_NONE && sep.kind != TV_STR)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "split separator must be str or None");
    if (sep.kind == TV_STR && sep.u.s.len == 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "split: empty separator");
    if (maxsplit.kind != TV_UNDEF && !tv_is_intlike(maxsplit))
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "split maxsplit must be an int");
    int64_t max = maxsplit.kind == TV_UNDEF ? -1 : tv_as_int(maxsplit);
    tpl_list *l = tv_list_new(&r->arena, s.len + 1); /* at most len + 1 parts */
    if (!l) return tpl_no_memory(r, at);
    l->n = 0;
    size_t i = 0;
    if (sep.kind == TV_STR) {
        for (;;) {
            const char *hit =
                (max < 0 || (int64_t)l->n < max) ? memmem(s.p + i, s.len - i, sep.u.s.p, sep.u.s.len) : NULL;
            if (!hit) break;
            l->items[l->n++] = tv_str(s.p + i, (size_t)(hit - s.p) - i);
            i = (size_t)(hit - s.p) + sep.u.s.len;
        }
        l->items[l->n++] = tv_str(s.p + i, s.len - i);
    } else { /* runs of whitespace; no empty strings */
        for (;;) {
            size_t k;
            while ((k = tpl_space_len(s.p + i, s.len - i)) > 0) i += k;
            if (i >= s.len) break;
            if (max >= 0 && (int64_t)l->n >= max) { /* the remainder keeps its trailing whitespace */
                l->items[l->n++] = tv_str(s.p + i, s.len - i);
                break;
            }
            size_t b = i;
            while (i < s.len && !tpl_space_len(s.p + i, s.len - i)) {
                int32_t cp;
                i += utf8_decode(s.p + i, s.len - i, &cp);
            }
            l->items[l->n++] = tv_str(s.p + b, i - b);
        }
    }
    out->kind = TV_LIST;
    out->u.list = l;
    return tpl_charge(r, at, s.len);
}

static loom_status affix(tpl_render *r, const tpl_node *at, tpl_str s, tpl_value arg, bool suffix, tpl_value *out) {
    const tpl_value *cands = &arg;
    size_t n = 1;
    if (arg.kind == TV_LIST && arg.u.list->is_tuple) {
        cands = arg.u.list->items;
        n = arg.u.list->n;
    }
    *out = tv_bool(false);
    for (size_t i = 0; i < n; i++) {
        if (cands[i].kind != TV_STR)
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "%s first arg must be str or a tuple of str, not '%s'",
                            suffix ? "endswith" : "startswith", tv_type_name(cands[i]));
        tpl_str a = cands[i].u.s;
        if (a.len <= s.len && memcmp(suffix ? s.p + s.len - a.len : s.p, a.p, a.len) == 0) *out = tv_bool(true);
    }
    return LOOM_OK;
}

static loom_status str_method(tpl_render *r, const tpl_node *at, tpl_str s, tpl_str name, const tpl_args *args,
                              tpl_value *out) {
    tpl_value a[3];
    static const char *const one[] = {"arg"}, *const split_p[] = {"sep", "maxsplit"},
                             *const repl_p[] = {"old", "new", "count"};
    loom_status st;
    char what[48];
    snprintf(what, sizeof what, "str.%.*s()", (int)name.len, name.p);
    if (str_is(name, "upper") || str_is(name, "lower") || str_is(name, "title") || str_is(name, "capitalize")) {
        if ((st = tpl_bind(r, at, what, args, one, 0, a)) != LOOM_OK) return st;
        return tpl_str_case(r, at, s,
                            str_is(name, "upper")       ? 'u'
                                : str_is(name, "lower") ? 'l'
                                : str_is(name, "title") ? 't'
                                                        : 'c',
                            out);
    }
    if (str_is(name, "split")) {
        if ((st = tpl_bind(r, at, what, args, split_p, 2, a)) != LOOM_OK) return st;
        return str_split(r, at, s, a[0], a[1], out);
    }
    if (str_is(name, "replace")) {
        if ((st = tpl_bind(r, at, what, args, repl_p, 3, a)) != LOOM_OK) return st;
        if (a[0].kind != TV_STR || a[1].kind != TV_STR || (a[2].kind != TV_UNDEF && !tv_is_intlike(a[2])))
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "str.replace() takes two strings and an optional count");
        return tpl_str_replace(r, at, s, a[0].u.s, a[1].u.s, a[2].kind == TV_UNDEF ? -1 : tv_as_int(a[2]), out);
    }
    if ((st = tpl_bind(r, at, what, args, one, 1, a)) != LOOM_OK) return st;
    if (str_is(name, "strip") || str_is(name, "lstrip") || str_is(name, "rstrip"))
        return tpl_str_strip(r, at, s, a[0], name.p[0] != 'r', name.p[0] != 'l', out);
    if (str_is(name, "startswith") || str_is(name, "endswith") || str_is(name, "find")) {
        if (a[0].kind == TV_UNDEF) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "%s needs an argument", what);
        if (name.p[0] != 'f') return affix(r, at, s, a[0], name.p[0] == 'e', out);
        if (a[0].kind != TV_STR) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "str.find() needs a string");
        const char *hit = memmem(s.p, s.len, a[0].u.s.p, a[0].u.s.len);
        *out = tv_int(hit ? (int64_t)tpl_utf8_count(s.p, (size_t)(hit - s.p)) : -1);
        return tpl_charge(r, at, s.len);
    }
    if (str_is(name, "join")) {
        tpl_list *items;
        if ((st = tpl_iterate(r, at, a[0], &items)) != LOOM_OK) return st;
        tpl_buf b = {.limit = r->limits.max_memory_bytes};
        for (size_t i = 0; i < items->n; i++) {
            if (items->items[i].kind != TV_STR) {
                free(b.p);
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "str.join(): item %zu is '%s', not str", i,
                                tv_type_name(items->items[i]));
            }
            if (i) tpl_buf_put(&b, s.p, s.len);
            tpl_buf_put(&b, items->items[i].u.s.p, items->items[i].u.s.len);
        }
        st = tpl_charge(r, at, b.len);
        if (st == LOOM_OK) st = tpl_buf_value(r, at, &b, out);
        free(b.p);
        return st;
    }
    return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported str method '%.*s'", (int)name.len, name.p);
}

/* ---- dict --------------------------------------------------------------------------------- */

static loom_status dict_method(tpl_render *r, const tpl_node *at, const tpl_dict *d, tpl_str name, const tpl_args *args,
                               tpl_value *out) {
    static const char *const get_p[] = {"key", "default"};
    tpl_value a[2];
    loom_status st;
    if (str_is(name, "get")) {
        if ((st = tpl_bind(r, at, "dict.get()", args, get_p, 2, a)) != LOOM_OK) return st;
        const tpl_value *v = tv_dict_get(d, a[0]);
        *out = v ? *v : a[1].kind == TV_UNDEF ? tv_none() : a[1];
        return tpl_charge(r, at, d->n);
    }
    bool items = str_is(name, "items"), keys = str_is(name, "keys"), values = str_is(name, "values");
    if (!items && !keys && !values)
        return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported dict method '%.*s'", (int)name.len, name.p);
    if ((st = tpl_bind(r, at, "dict method", args, get_p, 0, a)) != LOOM_OK) return st;
    tpl_list *l = tv_list_new(&r->arena, d->n);
    if (!l) return tpl_no_memory(r, at);
    for (size_t i = 0; i < d->n; i++) {
        if (!items) {
            l->items[i] = keys ? d->keys[i] : d->vals[i];
            continue;
        }
        tpl_list *pair = tv_list_new(&r->arena, 2);
        if (!pair) return tpl_no_memory(r, at);
        pair->is_tuple = true;
        pair->items[0] = d->keys[i];
        pair->items[1] = d->vals[i];
        l->items[i].kind = TV_LIST;
        l->items[i].u.list = pair;
    }
    out->kind = TV_LIST;
    out->u.list = l;
    return tpl_charge(r, at, d->n);
}

loom_status tpl_call_method(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_str name, const tpl_args *args,
                            bool *found, tpl_value *out) {
    *found = tpl_is_method(obj, name);
    if (!*found) return LOOM_OK;
    if (obj.kind == TV_STR) return str_method(r, at, obj.u.s, name, args, out);
    if (obj.kind == TV_DICT) return dict_method(r, at, obj.u.dict, name, args, out);
    return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported list method '%.*s'", (int)name.len, name.p);
}

/* ---- globals ------------------------------------------------------------------------------ */

static const char *const GLOBALS[TPL_FN_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};

bool tpl_global(const char *name, size_t len, tpl_value *out) {
    for (int i = 0; i < TPL_FN_COUNT; i++)
        if (str_is((tpl_str){name, len}, GLOBALS[i])) {
            out->kind = TV_FUNC;
            out->u.func = i;
            return true;
        }
    return false;
}

enum { MAX_RANGE = 100000 }; /* Jinja's sandbox refuses larger ranges */

static loom_status call_range(tpl_render *r, const tpl_node *at, const tpl_args *args, tpl_value *out) {
    if (args->n_kw || args->n_pos < 1 || args->n_pos > 3)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "range() takes 1 to 3 positional arguments");
    for (size_t i = 0; i < args->n_pos; i++)
        if (!tv_is_intlike(args->pos[i]))
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "range() arguments must be int, not '%s'",
                            tv_type_name(args->pos[i]));
    int64_t start = args->n_pos > 1 ? tv_as_int(args->pos[0]) : 0;
    int64_t stop = tv_as_int(args->pos[args->n_pos > 1 ? 1 : 0]);
    int64_t step = args->n_pos > 2 ? tv_as_int(args->pos[2]) : 1;
    if (step == 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "range() step must not be zero");
    double count =
        step > 0 ? ((double)stop - (double)start) / (double)step : ((double)start - (double)stop) / (double)-step;
    count = count <= 0 ? 0 : (double)(int64_t)count + ((double)(int64_t)count < count);
    if (count > MAX_RANGE)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "range too big: the sandbox allows at most %d items", MAX_RANGE);
    tpl_list *l = tv_list_new(&r->arena, (size_t)count);
    if (!l) return tpl_no_memory(r, at);
    for (size_t i = 0; i < l->n; i++) l->items[i] = tv_int(start + (int64_t)i * step);
    out->kind = TV_LIST;
    out->u.list = l;
    return tpl_charge(r, at, l->n);
}

/* namespace(...) and dict(...): a mapping argument and/or keyword arguments. */
static loom_status call_mapping(tpl_render *r, const tpl_node *at, bool ns, const tpl_args *args, tpl_value *out) {
    tpl_dict *d = tv_dict_new(&r->arena);
    if (!d) return tpl_no_memory(r, at);
    d->is_namespace = ns;
    if (args->n_pos > 1 || (args->n_pos == 1 && (args->pos[0].kind != TV_DICT || args->pos[0].u.dict->is_namespace)))
        return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: %s() takes a dict and keyword arguments",
                        ns ? "namespace" : "dict");
    const tpl_dict *src = args->n_pos ? args->pos[0].u.dict : NULL;
    for (size_t i = 0; src && i < src->n; i++)
        if (!tv_dict_set(&r->arena, d, src->keys[i], src->vals[i])) return tpl_no_memory(r, at);
    for (size_t i = 0; i < args->n_kw; i++)
        if (!tv_dict_set(&r->arena, d, tv_str(args->kw_names[i].p, args->kw_names[i].len), args->kw[i]))
            return tpl_no_memory(r, at);
    for (size_t i = 0; ns && i < d->n; i++)
        if (d->keys[i].kind == TV_STR && d->keys[i].u.s.len && d->keys[i].u.s.p[0] == '_')
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "namespace attributes cannot start with '_'");
    out->kind = TV_DICT;
    out->u.dict = d;
    return tpl_charge(r, at, d->n);
}

loom_status tpl_call_function(tpl_render *r, const tpl_node *at, int fn, const tpl_args *args, tpl_value *out) {
    static const char *const msg_p[] = {"message"}, *const fmt_p[] = {"format"};
    tpl_value a;
    loom_status st;
    switch (fn) {
        case TPL_FN_RANGE: return call_range(r, at, args, out);
        case TPL_FN_NAMESPACE: return call_mapping(r, at, true, args, out);
        case TPL_FN_DICT: return call_mapping(r, at, false, args, out);
        case TPL_FN_RAISE: {
            if ((st = tpl_bind(r, at, "raise_exception()", args, msg_p, 1, &a)) != LOOM_OK) return st;
            tpl_value msg;
            if ((st = tpl_to_str(r, at, a, &msg)) != LOOM_OK) return st;
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "raise_exception: %.*s", (int)msg.u.s.len, msg.u.s.p);
        }
        case TPL_FN_STRFTIME: {
            if ((st = tpl_bind(r, at, "strftime_now()", args, fmt_p, 1, &a)) != LOOM_OK) return st;
            if (a.kind != TV_STR || memchr(a.u.s.p, 0, a.u.s.len) || a.u.s.len > 256)
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "strftime_now() needs a short format string");
            char fmt[258], buf[1024];
            memcpy(fmt, a.u.s.p, a.u.s.len);
            fmt[a.u.s.len] = '\0';
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            size_t n = strftime(buf, sizeof buf, fmt, &tm);
            char *p = tpl_new_bytes(r, at, n);
            if (!p) return r->err->status;
            memcpy(p, buf, n);
            *out = tv_str(p, n);
            return LOOM_OK;
        }
        default: return tpl_fail(r, at, LOOM_ERR_INTERNAL, "unknown function %d", fn);
    }
}
