/* Expression evaluation: walks an expression node and produces a value in the render arena. */
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

loom_status tpl_lookup(tpl_render *r, tpl_str name, tpl_value *out) {
    for (tpl_scope *s = r->scope; s; s = s->parent) {
        const tpl_value *v = tv_dict_get_str(s->vars, name.p, name.len);
        if (v) {
            *out = *v;
            return LOOM_OK;
        }
    }
    const tpl_value *v = tv_dict_get_str(r->context, name.p, name.len);
    if (v) *out = *v;
    else if (!tpl_global(name.p, name.len, out)) {
        *out = tv_undef();
        out->u.s = name;
    }
    return LOOM_OK;
}

loom_status tpl_eval_args(tpl_render *r, const tpl_nodes *nodes, size_t first, tpl_args *out) {
    memset(out, 0, sizeof *out);
    size_t n = nodes->n > first ? nodes->n - first : 0;
    if (!n) return LOOM_OK;
    out->pos = tpl_alloc(&r->arena, n * sizeof *out->pos);
    out->kw = tpl_alloc(&r->arena, n * sizeof *out->kw);
    out->kw_names = tpl_alloc(&r->arena, n * sizeof *out->kw_names);
    if (!out->pos || !out->kw || !out->kw_names) return tpl_no_memory(r, nodes->v[first]);
    for (size_t i = first; i < nodes->n; i++) {
        const tpl_node *a = nodes->v[i];
        loom_status st;
        if (a->kind == N_KWARG) {
            for (size_t k = 0; k < out->n_kw; k++)
                if (out->kw_names[k].len == a->name.len && memcmp(out->kw_names[k].p, a->name.p, a->name.len) == 0)
                    return tpl_fail(r, a, LOOM_ERR_INVALID_ARG, "keyword argument '%.*s' repeated", (int)a->name.len,
                                    a->name.p);
            out->kw_names[out->n_kw] = a->name;
            st = tpl_eval(r, a->a, &out->kw[out->n_kw++]);
        } else {
            if (out->n_kw) return tpl_fail(r, a, LOOM_ERR_FORMAT, "positional argument after keyword argument");
            st = tpl_eval(r, a, &out->pos[out->n_pos++]);
        }
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

static loom_status eval_call(tpl_render *r, const tpl_node *n, tpl_value *out) {
    tpl_value callee, obj;
    tpl_args args;
    loom_status st;
    if (n->a->kind == N_ATTR) {
        if ((st = tpl_eval(r, n->a->a, &obj)) != LOOM_OK) return st;
        if (tpl_is_method(obj, n->a->name)) {
            bool found;
            if ((st = tpl_eval_args(r, &n->args, 0, &args)) != LOOM_OK) return st;
            return tpl_call_method(r, n, obj, n->a->name, &args, &found, out);
        }
        if ((st = tpl_getattr(r, n->a, obj, n->a->name, &callee)) != LOOM_OK) return st;
    } else if ((st = tpl_eval(r, n->a, &callee)) != LOOM_OK) {
        return st;
    }
    if (callee.kind == TV_UNDEF) return tpl_undefined_error(r, n, callee);
    if (callee.kind != TV_FUNC && callee.kind != TV_MACRO)
        return tpl_fail(r, n, LOOM_ERR_INVALID_ARG, "'%s' object is not callable", tv_type_name(callee));
    if ((st = tpl_eval_args(r, &n->args, 0, &args)) != LOOM_OK) return st;
    if (callee.kind == TV_FUNC) return tpl_call_function(r, n, callee.u.func, &args, out);
    return tpl_call_macro(r, n, callee.u.macro, &args, out);
}

static loom_status eval_compare(tpl_render *r, const tpl_node *n, tpl_value *out) {
    tpl_value left, right;
    loom_status st = tpl_eval(r, n->a, &left);
    for (size_t i = 0; st == LOOM_OK && i < n->args.n; i++) {
        const tpl_node *c = n->args.v[i];
        if ((st = tpl_eval(r, c->a, &right)) != LOOM_OK) break;
        bool ok = false;
        int cmp;
        switch (c->op) {
            case '=': ok = tv_equal(left, right); break;
            case '!': ok = !tv_equal(left, right); break;
            case 'i':
            case 'n':
                st = tpl_contains(r, c, right, left, &ok);
                if (c->op == 'n') ok = !ok;
                break;
            default:
                if (left.kind == TV_UNDEF || right.kind == TV_UNDEF)
                    return tpl_undefined_error(r, c, left.kind == TV_UNDEF ? left : right);
                if (!tv_order(left, right, &cmp))
                    return tpl_fail(r, c, LOOM_ERR_INVALID_ARG, "cannot order '%s' and '%s'", tv_type_name(left),
                                    tv_type_name(right));
                ok = cmp != 2 && (c->op == '<' ? cmp < 0 : c->op == 'L' ? cmp <= 0 : c->op == '>' ? cmp > 0 : cmp >= 0);
        }
        *out = tv_bool(ok);
        if (!ok) return st;
        left = right;
    }
    return st;
}

static loom_status eval_unary(tpl_render *r, const tpl_node *n, tpl_value *out) {
    tpl_value v;
    loom_status st = tpl_eval(r, n->a, &v);
    if (st != LOOM_OK) return st;
    if (n->op == '!') {
        *out = tv_bool(!tv_truthy(v));
        return LOOM_OK;
    }
    if (v.kind == TV_UNDEF) return tpl_undefined_error(r, n, v);
    if (!tv_is_num(v))
        return tpl_fail(r, n, LOOM_ERR_INVALID_ARG, "bad operand type for unary %c: '%s'", n->op, tv_type_name(v));
    if (n->op == '+') *out = v.kind == TV_BOOL ? tv_int(v.u.b) : v;
    else if (v.kind == TV_FLOAT) *out = tv_float(-v.u.f);
    else return tpl_binary(r, n, '-', tv_int(0), v, out);
    return LOOM_OK;
}

static loom_status eval_sequence(tpl_render *r, const tpl_node *n, tpl_value *out) {
    if (n->kind == N_DICT) {
        tpl_dict *d = tv_dict_new(&r->arena);
        if (!d) return tpl_no_memory(r, n);
        for (size_t i = 0; i + 1 < n->args.n; i += 2) {
            tpl_value k, v;
            loom_status st = tpl_eval(r, n->args.v[i], &k);
            if (st == LOOM_OK) st = tpl_eval(r, n->args.v[i + 1], &v);
            if (st != LOOM_OK) return st;
            if (k.kind == TV_LIST && !k.u.list->is_tuple)
                return tpl_fail(r, n, LOOM_ERR_INVALID_ARG, "unhashable type: 'list'");
            if (k.kind == TV_DICT || k.kind == TV_UNDEF)
                return tpl_fail(r, n, LOOM_ERR_INVALID_ARG, "unhashable dict key of type '%s'", tv_type_name(k));
            if (!tv_dict_set(&r->arena, d, k, v)) return tpl_no_memory(r, n);
        }
        out->kind = TV_DICT;
        out->u.dict = d;
        return LOOM_OK;
    }
    tpl_list *l = tv_list_new(&r->arena, n->args.n);
    if (!l) return tpl_no_memory(r, n);
    l->is_tuple = n->kind == N_TUPLE;
    for (size_t i = 0; i < n->args.n; i++) {
        loom_status st = tpl_eval(r, n->args.v[i], &l->items[i]);
        if (st != LOOM_OK) return st;
    }
    out->kind = TV_LIST;
    out->u.list = l;
    return LOOM_OK;
}

loom_status tpl_eval(tpl_render *r, const tpl_node *n, tpl_value *out) {
    loom_status st = tpl_charge(r, n, 1);
    if (st != LOOM_OK) return st;
    tpl_value a, b, c, d;
    tpl_args args;
    bool pass;
    switch (n->kind) {
        case N_CONST: *out = n->value; return LOOM_OK;
        case N_NAME: return tpl_lookup(r, n->name, out);
        case N_LIST:
        case N_TUPLE:
        case N_DICT: return eval_sequence(r, n, out);
        case N_ATTR:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK) return st;
            return tpl_getattr(r, n, a, n->name, out);
        case N_ITEM:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK || (st = tpl_eval(r, n->b, &b)) != LOOM_OK) return st;
            return tpl_getitem(r, n, a, b, out);
        case N_SLICE:
            b = c = d = tv_none();
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK || (n->b && (st = tpl_eval(r, n->b, &b)) != LOOM_OK) ||
                (n->c && (st = tpl_eval(r, n->c, &c)) != LOOM_OK) || (n->d && (st = tpl_eval(r, n->d, &d)) != LOOM_OK))
                return st;
            return tpl_slice(r, n, a, b, c, d, out);
        case N_CALL: return eval_call(r, n, out);
        case N_FILTER:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK || (st = tpl_eval_args(r, &n->args, 0, &args)) != LOOM_OK)
                return st;
            return tpl_apply_filter(r, n, n->name, a, &args, out);
        case N_TEST:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK || (st = tpl_eval_args(r, &n->args, 0, &args)) != LOOM_OK ||
                (st = tpl_apply_test(r, n, n->name, a, &args, &pass)) != LOOM_OK)
                return st;
            *out = tv_bool(pass != (n->op != 0));
            return LOOM_OK;
        case N_UNARY: return eval_unary(r, n, out);
        case N_BINARY:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK || (st = tpl_eval(r, n->b, &b)) != LOOM_OK) return st;
            return tpl_binary(r, n, n->op, a, b, out);
        case N_COMPARE: return eval_compare(r, n, out);
        case N_AND:
        case N_OR:
            if ((st = tpl_eval(r, n->a, &a)) != LOOM_OK) return st;
            if (tv_truthy(a) == (n->kind == N_OR)) {
                *out = a;
                return LOOM_OK;
            }
            return tpl_eval(r, n->b, out);
        case N_COND:
            if ((st = tpl_eval(r, n->b, &a)) != LOOM_OK) return st;
            if (tv_truthy(a)) return tpl_eval(r, n->a, out);
            if (n->c) return tpl_eval(r, n->c, out);
            *out = tv_undef();
            return LOOM_OK;
        default: return tpl_fail(r, n, LOOM_ERR_INTERNAL, "statement node %d in an expression", (int)n->kind);
    }
}
