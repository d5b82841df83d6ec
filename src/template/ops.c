/* Operators and lookups with Python's semantics: arithmetic, ~, in, obj.attr, obj[key] and slices,
 * and iteration. Lookups that fail give Undefined, as Jinja's environment.getattr/getitem do. */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

static loom_status type_error(tpl_render *r, const tpl_node *at, int op, tpl_value a, tpl_value b) {
    const char *name = op == 'F' ? "//" : op == 'P' ? "**" : (char[]){(char)op, 0};
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "unsupported operand types for %s: '%s' and '%s'", name,
                    tv_type_name(a), tv_type_name(b));
}

static loom_status concat(tpl_render *r, const tpl_node *at, tpl_str a, tpl_str b, tpl_value *out) {
    char *p = tpl_new_bytes(r, at, a.len + b.len);
    if (!p) return r->err->status;
    memcpy(p, a.p, a.len);
    memcpy(p + a.len, b.p, b.len);
    *out = tv_str(p, a.len + b.len);
    return LOOM_OK;
}

static loom_status repeat(tpl_render *r, const tpl_node *at, tpl_value seq, int64_t times, tpl_value *out) {
    if (times < 0) times = 0;
    if (seq.kind == TV_STR) {
        if (seq.u.s.len && (uint64_t)times > r->limits.max_memory_bytes / seq.u.s.len) return tpl_no_memory(r, at);
        size_t n = seq.u.s.len * (size_t)times;
        char *p = tpl_new_bytes(r, at, n);
        if (!p) return r->err->status;
        for (size_t i = 0; i < (size_t)times; i++) memcpy(p + i * seq.u.s.len, seq.u.s.p, seq.u.s.len);
        *out = tv_str(p, n);
        return LOOM_OK;
    }
    const tpl_list *l = seq.u.list;
    if (l->n && (uint64_t)times > r->limits.max_memory_bytes / sizeof(tpl_value) / l->n) return tpl_no_memory(r, at);
    tpl_list *res = tv_list_new(&r->arena, l->n * (size_t)times);
    if (!res) return tpl_no_memory(r, at);
    res->is_tuple = l->is_tuple;
    for (size_t i = 0; i < (size_t)times; i++) memcpy(res->items + i * l->n, l->items, l->n * sizeof *l->items);
    out->kind = TV_LIST;
    out->u.list = res;
    return tpl_charge(r, at, res->n);
}

static loom_status int_arith(tpl_render *r, const tpl_node *at, int op, int64_t x, int64_t y, tpl_value *out) {
    int64_t z = 0;
    bool overflow = false;
    switch (op) {
        case '+': overflow = __builtin_add_overflow(x, y, &z); break;
        case '-': overflow = __builtin_sub_overflow(x, y, &z); break;
        case '*': overflow = __builtin_mul_overflow(x, y, &z); break;
        case 'F':
        case '%':
            if (y == 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "division by zero");
            if (x == INT64_MIN && y == -1) {
                overflow = true;
                break;
            }
            z = op == 'F' ? x / y : x % y;
            if (op == 'F' && (x % y != 0) && ((x < 0) != (y < 0))) z--;
            if (op == '%' && z != 0 && ((z < 0) != (y < 0))) z += y;
            break;
        case 'P':
            if (y < 0) {
                *out = tv_float(pow((double)x, (double)y));
                return LOOM_OK;
            }
            z = 1;
            for (int64_t i = 0; i < y && !overflow; i++) {
                overflow = __builtin_mul_overflow(z, x, &z);
                if (z == 0 || z == 1) break; /* 0**n, 1**n */
                if (z == -1) {
                    z = (y - i - 1) % 2 ? -z : z;
                    break;
                }
            }
            break;
    }
    if (overflow) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: integer result beyond 64 bits");
    *out = tv_int(z);
    return LOOM_OK;
}

static loom_status float_arith(tpl_render *r, const tpl_node *at, int op, double x, double y, tpl_value *out) {
    double z = 0;
    switch (op) {
        case '+': z = x + y; break;
        case '-': z = x - y; break;
        case '*': z = x * y; break;
        case '/':
        case 'F':
        case '%':
            if (y == 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "division by zero");
            if (op == '/') z = x / y;
            else if (op == 'F') z = floor(x / y);
            else {
                z = fmod(x, y);
                if (z == 0) z = copysign(0.0, y);
                else if ((z < 0) != (y < 0)) z += y;
            }
            break;
        case 'P':
            if (x == 0 && y < 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "zero to a negative power");
            if (x < 0 && y != floor(y)) return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: complex power");
            z = pow(x, y);
            break;
    }
    *out = tv_float(z);
    return LOOM_OK;
}

loom_status tpl_binary(tpl_render *r, const tpl_node *at, int op, tpl_value a, tpl_value b, tpl_value *out) {
    if (op == '~') {
        tpl_value sa, sb;
        loom_status st = tpl_to_str(r, at, a, &sa);
        if (st == LOOM_OK) st = tpl_to_str(r, at, b, &sb);
        return st == LOOM_OK ? concat(r, at, sa.u.s, sb.u.s, out) : st;
    }
    if (a.kind == TV_UNDEF) return tpl_undefined_error(r, at, a);
    if (b.kind == TV_UNDEF) return tpl_undefined_error(r, at, b);
    if (tv_is_num(a) && tv_is_num(b)) {
        if (tv_is_intlike(a) && tv_is_intlike(b) && op != '/')
            return int_arith(r, at, op, tv_as_int(a), tv_as_int(b), out);
        return float_arith(r, at, op, tv_as_float(a), tv_as_float(b), out);
    }
    if (op == '+' && a.kind == TV_STR && b.kind == TV_STR) return concat(r, at, a.u.s, b.u.s, out);
    if (op == '+' && a.kind == TV_LIST && b.kind == TV_LIST && a.u.list->is_tuple == b.u.list->is_tuple) {
        tpl_list *l = tv_list_new(&r->arena, a.u.list->n + b.u.list->n);
        if (!l) return tpl_no_memory(r, at);
        l->is_tuple = a.u.list->is_tuple;
        if (a.u.list->n) memcpy(l->items, a.u.list->items, a.u.list->n * sizeof *l->items);
        if (b.u.list->n) memcpy(l->items + a.u.list->n, b.u.list->items, b.u.list->n * sizeof *l->items);
        out->kind = TV_LIST;
        out->u.list = l;
        return tpl_charge(r, at, l->n);
    }
    if (op == '*' && (a.kind == TV_STR || a.kind == TV_LIST) && tv_is_intlike(b))
        return repeat(r, at, a, tv_as_int(b), out);
    if (op == '*' && (b.kind == TV_STR || b.kind == TV_LIST) && tv_is_intlike(a))
        return repeat(r, at, b, tv_as_int(a), out);
    if (op == '%' && a.kind == TV_STR)
        return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: '%%' string formatting");
    return type_error(r, at, op, a, b);
}

loom_status tpl_contains(tpl_render *r, const tpl_node *at, tpl_value container, tpl_value item, bool *out) {
    *out = false;
    switch (container.kind) {
        case TV_UNDEF: return LOOM_OK;
        case TV_STR:
            if (item.kind != TV_STR)
                return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "'in <string>' requires a string on the left, not '%s'",
                                tv_type_name(item));
            *out = item.u.s.len == 0 || memmem(container.u.s.p, container.u.s.len, item.u.s.p, item.u.s.len) != NULL;
            return tpl_charge(r, at, container.u.s.len);
        case TV_LIST:
            for (size_t i = 0; i < container.u.list->n && !*out; i++) *out = tv_equal(container.u.list->items[i], item);
            return tpl_charge(r, at, container.u.list->n);
        case TV_DICT:
            if (container.u.dict->is_namespace) break;
            *out = tv_dict_get(container.u.dict, item) != NULL;
            return tpl_charge(r, at, container.u.dict->n);
        default: break;
    }
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "argument of type '%s' is not iterable", tv_type_name(container));
}

static loom_status loop_attr(tpl_render *r, const tpl_node *at, const tpl_loop *loop, tpl_str name, tpl_value *out) {
    static const char *const fields[] = {"index",    "index0",   "first", "last",   "length", "revindex", "revindex0",
                                         "previtem", "nextitem", "depth", "depth0", "cycle",  "changed"};
    size_t i = 0, n = sizeof fields / sizeof *fields;
    while (i < n && !(strlen(fields[i]) == name.len && memcmp(fields[i], name.p, name.len) == 0)) i++;
    int64_t idx = (int64_t)loop->index0, len = (int64_t)loop->items->n;
    switch (i) {
        case 0: *out = tv_int(idx + 1); break;
        case 1: *out = tv_int(idx); break;
        case 2: *out = tv_bool(idx == 0); break;
        case 3: *out = tv_bool(idx == len - 1); break;
        case 4: *out = tv_int(len); break;
        case 5: *out = tv_int(len - idx); break;
        case 6: *out = tv_int(len - idx - 1); break;
        case 7: *out = idx > 0 ? loop->items->items[idx - 1] : tv_undef(); break;
        case 8: *out = idx + 1 < len ? loop->items->items[idx + 1] : tv_undef(); break;
        case 9: *out = tv_int(1); break;
        case 10: *out = tv_int(0); break;
        case 11:
        case 12: return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: loop.%.*s", (int)name.len, name.p);
        default: *out = tv_undef(); break;
    }
    return LOOM_OK;
}

static loom_status method_reference(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_str name) {
    return tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: method '%.*s' of %s used without calling it",
                    (int)name.len, name.p, tv_type_name(obj));
}

loom_status tpl_getattr(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_str name, tpl_value *out) {
    *out = tv_undef();
    out->u.s = name;
    switch (obj.kind) {
        case TV_UNDEF:
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "'%.*s' is undefined, so it has no attribute '%.*s'",
                            (int)obj.u.s.len, obj.u.s.p, (int)name.len, name.p);
        case TV_LOOP: return loop_attr(r, at, obj.u.loop, name, out);
        case TV_DICT: {
            if (!obj.u.dict->is_namespace && tpl_is_method(obj, name)) return method_reference(r, at, obj, name);
            const tpl_value *v = tv_dict_get_str(obj.u.dict, name.p, name.len);
            if (v) *out = *v;
            return LOOM_OK;
        }
        case TV_STR:
        case TV_LIST: return tpl_is_method(obj, name) ? method_reference(r, at, obj, name) : LOOM_OK;
        default: return LOOM_OK;
    }
}

/* Python index i of a sequence of n items; false when out of range. */
static bool seq_index(int64_t i, size_t n, size_t *out) {
    if (i < 0) i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n) return false;
    *out = (size_t)i;
    return true;
}

loom_status tpl_getitem(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_value key, tpl_value *out) {
    *out = tv_undef();
    if (key.kind == TV_STR) out->u.s = key.u.s;
    size_t i;
    switch (obj.kind) {
        case TV_UNDEF:
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "'%.*s' is undefined, so it cannot be subscripted",
                            (int)obj.u.s.len, obj.u.s.p);
        case TV_DICT: {
            const tpl_value *v = tv_dict_get(obj.u.dict, key);
            if (v) *out = *v;
            else if (key.kind == TV_STR && !obj.u.dict->is_namespace && tpl_is_method(obj, key.u.s))
                return method_reference(r, at, obj, key.u.s);
            return LOOM_OK;
        }
        case TV_LIST:
            if (tv_is_intlike(key) && seq_index(tv_as_int(key), obj.u.list->n, &i)) *out = obj.u.list->items[i];
            else if (key.kind == TV_STR) return tpl_getattr(r, at, obj, key.u.s, out);
            return LOOM_OK;
        case TV_STR:
            if (tv_is_intlike(key) && seq_index(tv_as_int(key), tpl_utf8_count(obj.u.s.p, obj.u.s.len), &i)) {
                size_t off = tpl_utf8_offset(obj.u.s.p, obj.u.s.len, i);
                int32_t cp;
                *out = tv_str(obj.u.s.p + off, utf8_decode(obj.u.s.p + off, obj.u.s.len - off, &cp));
            } else if (key.kind == TV_STR) {
                return tpl_getattr(r, at, obj, key.u.s, out);
            }
            return tpl_charge(r, at, obj.u.s.len);
        case TV_LOOP: return key.kind == TV_STR ? tpl_getattr(r, at, obj, key.u.s, out) : LOOM_OK;
        default: return LOOM_OK;
    }
}

/* Python's slice.indices(n) followed by the walk: how many items, from where, by what step. */
static loom_status slice_plan(tpl_render *r, const tpl_node *at, tpl_value start, tpl_value stop, tpl_value step,
                              size_t n, int64_t *first, int64_t *stride, size_t *count) {
    for (tpl_value *v = (tpl_value[]){start, stop, step}, *e = v + 3; v < e; v++)
        if (v->kind != TV_NONE && !tv_is_intlike(*v))
            return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "slice indices must be integers or None, not '%s'",
                            tv_type_name(*v));
    int64_t st = step.kind == TV_NONE ? 1 : tv_as_int(step), len = (int64_t)n;
    if (st == 0) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "slice step cannot be zero");
    if (st == INT64_MIN) st = -INT64_MAX;
    int64_t lo = st < 0 ? -1 : 0, hi = st < 0 ? len - 1 : len;
    int64_t b = st < 0 ? hi : lo, e = st < 0 ? lo : hi;
    if (start.kind != TV_NONE) {
        b = tv_as_int(start);
        if (b < 0) b = b + len < lo ? lo : b + len;
        else if (b > hi) b = hi;
    }
    if (stop.kind != TV_NONE) {
        e = tv_as_int(stop);
        if (e < 0) e = e + len < lo ? lo : e + len;
        else if (e > hi) e = hi;
    }
    int64_t c = st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e + (-st) - 1) / (-st) : 0);
    *first = b;
    *stride = st;
    *count = (size_t)c;
    return LOOM_OK;
}

loom_status tpl_slice(tpl_render *r, const tpl_node *at, tpl_value obj, tpl_value start, tpl_value stop, tpl_value step,
                      tpl_value *out) {
    *out = tv_undef();
    if (obj.kind == TV_UNDEF) return tpl_undefined_error(r, at, obj);
    int64_t first, stride;
    size_t count;
    loom_status st;
    if (obj.kind == TV_LIST) {
        if ((st = slice_plan(r, at, start, stop, step, obj.u.list->n, &first, &stride, &count)) != LOOM_OK) return st;
        tpl_list *l = tv_list_new(&r->arena, count);
        if (!l) return tpl_no_memory(r, at);
        l->is_tuple = obj.u.list->is_tuple;
        for (size_t i = 0; i < count; i++) l->items[i] = obj.u.list->items[first + (int64_t)i * stride];
        out->kind = TV_LIST;
        out->u.list = l;
        return tpl_charge(r, at, count);
    }
    if (obj.kind != TV_STR) return LOOM_OK;
    tpl_str s = obj.u.s;
    size_t n = tpl_utf8_count(s.p, s.len);
    if ((st = slice_plan(r, at, start, stop, step, n, &first, &stride, &count)) != LOOM_OK) return st;
    if (stride == 1) {
        size_t b = tpl_utf8_offset(s.p, s.len, (size_t)first);
        size_t e = b + tpl_utf8_offset(s.p + b, s.len - b, count);
        *out = tv_str(s.p + b, e - b);
        return tpl_charge(r, at, s.len);
    }
    size_t *offs = tpl_alloc(&r->arena, (n + 1) * sizeof *offs);
    char *p = offs ? tpl_new_bytes(r, at, s.len) : NULL;
    if (!p) return offs ? r->err->status : tpl_no_memory(r, at);
    for (size_t i = 0, o = 0; i <= n; i++) {
        offs[i] = o;
        int32_t cp;
        if (o < s.len) o += utf8_decode(s.p + o, s.len - o, &cp);
    }
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        size_t k = (size_t)(first + (int64_t)i * stride);
        memcpy(p + len, s.p + offs[k], offs[k + 1] - offs[k]);
        len += offs[k + 1] - offs[k];
    }
    *out = tv_str(p, len);
    return LOOM_OK;
}

loom_status tpl_iterate(tpl_render *r, const tpl_node *at, tpl_value v, tpl_list **out) {
    tpl_list *l;
    switch (v.kind) {
        case TV_LIST: *out = v.u.list; return LOOM_OK;
        case TV_UNDEF:
            if (!(*out = tv_list_new(&r->arena, 0))) return tpl_no_memory(r, at);
            return LOOM_OK;
        case TV_DICT:
            if (v.u.dict->is_namespace) break;
            if (!(l = tv_list_new(&r->arena, v.u.dict->n))) return tpl_no_memory(r, at);
            if (v.u.dict->n) memcpy(l->items, v.u.dict->keys, v.u.dict->n * sizeof *l->items);
            *out = l;
            return tpl_charge(r, at, l->n);
        case TV_STR: {
            if (!(l = tv_list_new(&r->arena, tpl_utf8_count(v.u.s.p, v.u.s.len)))) return tpl_no_memory(r, at);
            for (size_t i = 0, o = 0; i < l->n; i++) {
                int32_t cp;
                size_t k = utf8_decode(v.u.s.p + o, v.u.s.len - o, &cp);
                l->items[i] = tv_str(v.u.s.p + o, k);
                o += k;
            }
            *out = l;
            return tpl_charge(r, at, l->n);
        }
        default: break;
    }
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "'%s' object is not iterable", tv_type_name(v));
}
