/* Rendering: statements (text, output, if, for, set, macro, break/continue) over a chain of scopes,
 * under the limits of loom_template_limits, and the public render entry point. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

loom_template_limits template_default_limits(void) {
    loom_template_limits l = {
        .max_output_bytes = 1u << 20, .max_memory_bytes = 64u << 20, .max_steps = 50000000, .max_call_depth = 32};
    return l;
}

loom_status tpl_fail(tpl_render *r, const tpl_node *at, loom_status st, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return loom_fail(r->err, st, "template line %d col %d: %s", at->line, at->col, msg);
}

loom_status tpl_no_memory(tpl_render *r, const tpl_node *at) {
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "rendering needs more than the %zu byte memory limit",
                    r->limits.max_memory_bytes);
}

loom_status tpl_undefined_error(tpl_render *r, const tpl_node *at, tpl_value v) {
    if (v.u.s.len) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "'%.*s' is undefined", (int)v.u.s.len, v.u.s.p);
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "an undefined value is used");
}

loom_status tpl_charge(tpl_render *r, const tpl_node *at, uint64_t steps) {
    r->steps += steps;
    if (r->steps <= r->limits.max_steps) return LOOM_OK;
    return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "rendering takes more than the %llu step limit",
                    (unsigned long long)r->limits.max_steps);
}

char *tpl_new_bytes(tpl_render *r, const tpl_node *at, size_t len) {
    if (tpl_charge(r, at, len) != LOOM_OK) return NULL;
    char *p = len < SIZE_MAX ? tpl_alloc(&r->arena, len + 1) : NULL;
    if (!p) tpl_no_memory(r, at);
    return p;
}

loom_status tpl_buf_value(tpl_render *r, const tpl_node *at, tpl_buf *b, tpl_value *out) {
    if (b->over) return tpl_no_memory(r, at);
    char *p = tpl_new_bytes(r, at, b->len);
    if (!p) return r->err->status;
    if (b->len) memcpy(p, b->p, b->len);
    *out = tv_str(p, b->len);
    return LOOM_OK;
}

loom_status tpl_to_str(tpl_render *r, const tpl_node *at, tpl_value v, tpl_value *out) {
    if (v.kind == TV_STR) {
        *out = v;
        return LOOM_OK;
    }
    tpl_buf b = {.limit = r->limits.max_memory_bytes};
    loom_status st = tv_write_str(&b, v)
        ? tpl_buf_value(r, at, &b, out)
        : tpl_fail(r, at, LOOM_ERR_UNSUPPORTED, "unsupported: str() of a '%s'", tv_type_name(v));
    free(b.p);
    return st;
}

static loom_status render_body(tpl_render *r, const tpl_node *body);

static loom_status emit(tpl_render *r, const tpl_node *at, const char *p, size_t n) {
    tpl_buf_put(r->out, p, n);
    if (r->out->over) return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "output exceeds the %zu byte limit", r->out->limit);
    return tpl_charge(r, at, n);
}

/* Renders body into a fresh buffer and returns the text as a value (block set, macro call). */
static loom_status capture(tpl_render *r, const tpl_node *body, tpl_value *out) {
    tpl_buf b = {.limit = r->limits.max_output_bytes}, *saved = r->out;
    r->out = &b;
    loom_status st = render_body(r, body);
    r->out = saved;
    if (st == LOOM_OK) st = tpl_buf_value(r, body, &b, out);
    free(b.p);
    return st;
}

static loom_status push_scope(tpl_render *r, const tpl_node *at, tpl_scope *parent, tpl_scope *s) {
    s->parent = parent;
    if (!(s->vars = tv_dict_new(&r->arena))) return tpl_no_memory(r, at);
    r->scope = s;
    return LOOM_OK;
}

static loom_status assign(tpl_render *r, const tpl_node *at, tpl_dict *vars, tpl_str name, tpl_value v) {
    return tv_dict_set(&r->arena, vars, tv_str(name.p, name.len), v) ? LOOM_OK : tpl_no_memory(r, at);
}

/* "a" = v, or "a, b" = v unpacked like Python. */
static loom_status assign_targets(tpl_render *r, const tpl_node *at, const tpl_nodes *targets, tpl_value v) {
    if (targets->n == 1) return assign(r, at, r->scope->vars, targets->v[0]->name, v);
    tpl_list *items;
    loom_status st = v.kind == TV_UNDEF ? tpl_undefined_error(r, at, v) : tpl_iterate(r, at, v, &items);
    if (st != LOOM_OK) return st;
    if (items->n != targets->n)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "cannot unpack %zu values into %zu names", items->n, targets->n);
    for (size_t i = 0; i < targets->n && st == LOOM_OK; i++)
        st = assign(r, at, r->scope->vars, targets->v[i]->name, items->items[i]);
    return st;
}

static loom_status render_set(tpl_render *r, const tpl_node *n) {
    tpl_value v;
    loom_status st = n->b ? tpl_eval(r, n->b, &v) : capture(r, n->body, &v);
    if (st != LOOM_OK) return st;
    const tpl_node *target = n->args.v[0];
    if (target->kind != N_ATTR) return assign_targets(r, n, &n->args, v);
    tpl_value ns;
    if ((st = tpl_lookup(r, target->a->name, &ns)) != LOOM_OK) return st;
    if (ns.kind != TV_DICT || !ns.u.dict->is_namespace)
        return tpl_fail(r, target, LOOM_ERR_INVALID_ARG, "cannot assign attribute on non-namespace object '%.*s'",
                        (int)target->a->name.len, target->a->name.p);
    if (target->name.len && target->name.p[0] == '_')
        return tpl_fail(r, target, LOOM_ERR_INVALID_ARG, "namespace attributes cannot start with '_'");
    return assign(r, target, ns.u.dict, target->name, v);
}

static loom_status render_for(tpl_render *r, const tpl_node *n) {
    tpl_value seq;
    tpl_list *items;
    loom_status st = tpl_eval(r, n->a, &seq);
    if (st == LOOM_OK) st = tpl_iterate(r, n, seq, &items);
    if (st != LOOM_OK) return st;
    tpl_scope *outer = r->scope, scope;
    if ((st = push_scope(r, n, outer, &scope)) != LOOM_OK) return st;
    if (n->b) { /* "for x in xs if cond": filter first, so that loop.* counts only what passes */
        tpl_list *kept = tv_list_new(&r->arena, items->n);
        if (!kept) st = tpl_no_memory(r, n);
        else kept->n = 0;
        for (size_t i = 0; st == LOOM_OK && i < items->n; i++) {
            tpl_value pass;
            scope.vars->n = 0;
            if ((st = assign_targets(r, n, &n->args, items->items[i])) == LOOM_OK &&
                (st = tpl_eval(r, n->b, &pass)) == LOOM_OK && tv_truthy(pass))
                kept->items[kept->n++] = items->items[i];
        }
        items = kept;
    }
    tpl_loop *loop = st == LOOM_OK ? tpl_alloc(&r->arena, sizeof *loop) : NULL;
    if (st == LOOM_OK && !loop) st = tpl_no_memory(r, n);
    for (size_t i = 0; st == LOOM_OK && i < items->n; i++) {
        loop->items = items;
        loop->index0 = i;
        scope.vars->n = 0; /* a fresh scope per iteration, as in Jinja; nothing keeps a reference to it */
        tpl_value lv = {TV_LOOP, {.loop = loop}};
        if ((st = tpl_charge(r, n, 1)) != LOOM_OK ||
            (st = assign(r, n, scope.vars, (tpl_str){"loop", 4}, lv)) != LOOM_OK ||
            (st = assign_targets(r, n, &n->args, items->items[i])) != LOOM_OK ||
            (st = render_body(r, n->body)) != LOOM_OK)
            break;
        int ctl = r->loop_ctl;
        r->loop_ctl = 0;
        if (ctl == 1) break;
    }
    r->scope = outer;
    if (st == LOOM_OK && items->n == 0 && n->orelse) st = render_body(r, n->orelse);
    return st;
}

loom_status tpl_call_macro(tpl_render *r, const tpl_node *at, const tpl_node *macro, const tpl_args *args,
                           tpl_value *out) {
    if (r->call_depth >= r->limits.max_call_depth)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "macro calls nested deeper than %d", r->limits.max_call_depth);
    if (args->n_pos > macro->args.n)
        return tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "macro '%.*s' takes at most %zu argument(s)", (int)macro->name.len,
                        macro->name.p, macro->args.n);
    tpl_scope *saved = r->scope, scope;
    loom_status st = push_scope(r, at, r->root, &scope);
    for (size_t k = 0; st == LOOM_OK && k < args->n_kw; k++) {
        size_t i = 0;
        while (i < macro->args.n &&
               !(macro->args.v[i]->name.len == args->kw_names[k].len &&
                 memcmp(macro->args.v[i]->name.p, args->kw_names[k].p, args->kw_names[k].len) == 0))
            i++;
        if (i == macro->args.n || i < args->n_pos)
            st = tpl_fail(r, at, LOOM_ERR_INVALID_ARG, "macro '%.*s' got an unexpected keyword argument '%.*s'",
                          (int)macro->name.len, macro->name.p, (int)args->kw_names[k].len, args->kw_names[k].p);
    }
    for (size_t i = 0; st == LOOM_OK && i < macro->args.n; i++) {
        const tpl_node *param = macro->args.v[i];
        tpl_value v = i < args->n_pos ? args->pos[i] : tv_undef();
        bool given = i < args->n_pos;
        for (size_t k = 0; k < args->n_kw; k++)
            if (param->name.len == args->kw_names[k].len &&
                memcmp(param->name.p, args->kw_names[k].p, param->name.len) == 0) {
                v = args->kw[k];
                given = true;
            }
        if (!given && param->a) st = tpl_eval(r, param->a, &v);
        if (!given && !param->a) v.u.s = param->name;
        if (st == LOOM_OK) st = assign(r, at, scope.vars, param->name, v);
    }
    r->call_depth++;
    if (st == LOOM_OK) st = capture(r, macro->body, out);
    r->call_depth--;
    r->scope = saved;
    return st;
}

static loom_status render_node(tpl_render *r, const tpl_node *n) {
    tpl_value v;
    loom_status st;
    switch (n->kind) {
        case N_TEXT: return emit(r, n, n->value.u.s.p, n->value.u.s.len);
        case N_OUTPUT:
            if ((st = tpl_eval(r, n->a, &v)) != LOOM_OK || (st = tpl_to_str(r, n, v, &v)) != LOOM_OK) return st;
            return emit(r, n, v.u.s.p, v.u.s.len);
        case N_IF:
            if ((st = tpl_eval(r, n->a, &v)) != LOOM_OK) return st;
            if (tv_truthy(v)) return render_body(r, n->body);
            return n->orelse ? render_body(r, n->orelse) : LOOM_OK;
        case N_FOR: return render_for(r, n);
        case N_SET: return render_set(r, n);
        case N_MACRO:
            v.kind = TV_MACRO;
            v.u.macro = n;
            return assign(r, n, r->scope->vars, n->name, v);
        case N_BREAK: r->loop_ctl = 1; return LOOM_OK;
        case N_CONTINUE: r->loop_ctl = 2; return LOOM_OK;
        case N_BODY: return render_body(r, n);
        default: return tpl_fail(r, n, LOOM_ERR_INTERNAL, "expression node %d as a statement", (int)n->kind);
    }
}

static loom_status render_body(tpl_render *r, const tpl_node *body) {
    for (size_t i = 0; i < body->args.n && !r->loop_ctl; i++) {
        loom_status st = render_node(r, body->args.v[i]);
        if (st != LOOM_OK) return st;
    }
    return LOOM_OK;
}

loom_status template_render(const loom_template *t, const json_t *context, const loom_template_limits *limits,
                            char **out, size_t *out_len, loom_error *err) {
    *out = NULL;
    *out_len = 0;
    if (context && !json_is_object(context))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "template: the render context must be a JSON object");
    loom_error local;
    tpl_render r = {.limits = limits ? *limits : template_default_limits(), .err = err ? err : &local};
    r.arena.limit_bytes = r.limits.max_memory_bytes;
    tpl_buf buf = {.limit = r.limits.max_output_bytes};
    tpl_value ctx = {TV_DICT, {.dict = NULL}};
    tpl_scope root;
    const tpl_node *body = tpl_template_root(t);
    loom_status st;
    if (context ? !tpl_from_json(&r.arena, context, &ctx) : !(ctx.u.dict = tv_dict_new(&r.arena)))
        st = tpl_no_memory(&r, body);
    else if ((st = push_scope(&r, body, NULL, &root)) == LOOM_OK) {
        r.root = &root;
        r.context = ctx.u.dict;
        r.out = &buf;
        st = render_body(&r, body);
    }
    tpl_arena_free(&r.arena);
    if (st != LOOM_OK) {
        free(buf.p);
        return st;
    }
    if (!buf.p && !(buf.p = calloc(1, 1))) return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    *out = buf.p;
    *out_len = buf.len;
    return LOOM_OK;
}
