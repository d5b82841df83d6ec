/* Statements: template text, {{ output }}, and the tags if/elif/else, for/else (with an optional
 * "if" filter), set (plain, tuple, namespace attribute, and block form), macro, break, continue, and
 * transformers' {% generation %} (rendered as its body). Every other tag is an error. */
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

static tpl_node *parse_body(tpl_parser *p, const tpl_token *opener, const char *const *ends);

static bool str_is(tpl_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0; }

/* colon: a body follows, and Jinja accepts a Python-like ':' before the '%}' ("{% if x: %}"). */
static bool expect_block_end(tpl_parser *p, const char *tag, bool colon) {
    if (colon && tpl_is_op(tpl_peek(p), ":")) tpl_next(p);
    const tpl_token *t = tpl_peek(p);
    if (t->kind == TK_BLOCK_END) {
        tpl_next(p);
        return true;
    }
    tpl_syntax_error(p, t, "expected '%%}' to end '%s'", tag);
    return false;
}

/* Consumes "name %}" where name is the tag that stopped parse_body (colon: it opens a body, as else). */
static const tpl_token *end_tag(tpl_parser *p, bool colon) {
    const tpl_token *t = tpl_next(p);
    return expect_block_end(p, "end tag", colon) ? t : NULL;
}

/* A name, or names separated by commas (for a, b in ...); with_namespace also allows ns.attr. */
static bool parse_targets(tpl_parser *p, tpl_nodes *out, bool with_namespace) {
    size_t cap = 0;
    do {
        if (out->n) tpl_next(p);
        const tpl_token *t = tpl_next(p);
        if (t->kind != TK_NAME) {
            tpl_syntax_error(p, t, "expected a variable name to assign to");
            return false;
        }
        tpl_node *n = tpl_node_new(p, N_NAME, t);
        if (!n) return false;
        n->name = t->text;
        if (with_namespace && out->n == 0 && tpl_is_op(tpl_peek(p), ".")) {
            tpl_next(p);
            const tpl_token *attr = tpl_next(p);
            if (attr->kind != TK_NAME) {
                tpl_syntax_error(p, attr, "expected an attribute name after '.'");
                return false;
            }
            tpl_node *a = tpl_node_new(p, N_ATTR, attr);
            if (!a) return false;
            a->a = n;
            a->name = attr->text;
            return tpl_nodes_push(p, out, &cap, a);
        }
        if (!tpl_nodes_push(p, out, &cap, n)) return false;
    } while (tpl_is_op(tpl_peek(p), ","));
    return true;
}

static tpl_node *parse_if(tpl_parser *p, const tpl_token *at) {
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    static const char *const else_ends[] = {"endif", NULL};
    tpl_node *n = tpl_node_new(p, N_IF, at);
    if (!n || !(n->a = tpl_parse_tuple(p, false)) || !expect_block_end(p, "if", true) ||
        !(n->body = parse_body(p, at, ends)))
        return NULL;
    const tpl_token *t = tpl_peek(p);
    if (str_is(t->text, "elif")) {
        tpl_next(p);
        tpl_node *e = tpl_node_new(p, N_BODY, t);
        size_t cap = 0;
        n->orelse = e;
        if (!e || !tpl_nodes_push(p, &e->args, &cap, parse_if(p, at)) || !e->args.v[0]) return NULL;
        return n; /* the nested if consumed endif */
    }
    if (str_is(t->text, "else")) {
        if (!end_tag(p, true) || !(n->orelse = parse_body(p, at, else_ends))) return NULL;
    }
    return end_tag(p, false) ? n : NULL;
}

static tpl_node *parse_for(tpl_parser *p, const tpl_token *at) {
    static const char *const ends[] = {"else", "endfor", NULL};
    static const char *const else_ends[] = {"endfor", NULL};
    tpl_node *n = tpl_node_new(p, N_FOR, at);
    if (!n || !parse_targets(p, &n->args, false)) return NULL;
    if (!tpl_is_name(tpl_peek(p), "in")) {
        tpl_syntax_error(p, tpl_peek(p), "expected 'in' in for loop");
        return NULL;
    }
    tpl_next(p);
    if (!(n->a = tpl_parse_tuple(p, false))) return NULL;
    if (tpl_is_name(tpl_peek(p), "if")) {
        tpl_next(p);
        if (!(n->b = tpl_parse_expression(p))) return NULL;
    }
    if (tpl_is_name(tpl_peek(p), "recursive")) {
        tpl_syntax_error(p, tpl_peek(p), "unsupported: recursive for loops");
        return NULL;
    }
    if (!expect_block_end(p, "for", true)) return NULL;
    p->loops++;
    n->body = parse_body(p, at, ends);
    p->loops--;
    if (!n->body) return NULL;
    if (str_is(tpl_peek(p)->text, "else")) {
        if (!end_tag(p, true) || !(n->orelse = parse_body(p, at, else_ends))) return NULL;
    }
    return end_tag(p, false) ? n : NULL;
}

static tpl_node *parse_set(tpl_parser *p, const tpl_token *at) {
    static const char *const ends[] = {"endset", NULL};
    tpl_node *n = tpl_node_new(p, N_SET, at);
    if (!n || !parse_targets(p, &n->args, true)) return NULL;
    if (tpl_is_op(tpl_peek(p), "=")) {
        tpl_next(p);
        if (!(n->b = tpl_parse_tuple(p, true))) return NULL;
        return expect_block_end(p, "set", false) ? n : NULL;
    }
    if (n->args.n != 1 || n->args.v[0]->kind != N_NAME) {
        tpl_syntax_error(p, tpl_peek(p), "expected '=' in set");
        return NULL;
    }
    if (!expect_block_end(p, "set", true) || !(n->body = parse_body(p, at, ends))) return NULL;
    return end_tag(p, false) ? n : NULL;
}

static tpl_node *parse_macro(tpl_parser *p, const tpl_token *at) {
    static const char *const ends[] = {"endmacro", NULL};
    tpl_node *n = tpl_node_new(p, N_MACRO, at);
    const tpl_token *name = tpl_next(p);
    if (!n || name->kind != TK_NAME) {
        if (n) tpl_syntax_error(p, name, "expected a macro name");
        return NULL;
    }
    n->name = name->text;
    if (!tpl_expect_op(p, "(")) return NULL;
    size_t cap = 0;
    while (!tpl_is_op(tpl_peek(p), ")")) {
        if (n->args.n && !tpl_expect_op(p, ",")) return NULL;
        const tpl_token *t = tpl_next(p);
        if (t->kind != TK_NAME) {
            tpl_syntax_error(p, t, "expected a parameter name in macro '%.*s'", (int)name->text.len, name->text.p);
            return NULL;
        }
        tpl_node *param = tpl_node_new(p, N_NAME, t);
        if (!param || !tpl_nodes_push(p, &n->args, &cap, param)) return NULL;
        param->name = t->text;
        if (tpl_is_op(tpl_peek(p), "=")) {
            tpl_next(p);
            if (!(param->a = tpl_parse_expression(p))) return NULL;
        }
    }
    tpl_next(p);
    int loops = p->loops; /* a loop around the definition does not enclose the body */
    p->loops = 0;
    bool ok = expect_block_end(p, "macro", true) && (n->body = parse_body(p, at, ends)) != NULL;
    p->loops = loops;
    return ok && end_tag(p, false) ? n : NULL;
}

static tpl_node *parse_statement(tpl_parser *p) {
    const tpl_token *t = tpl_next(p);
    if (t->kind != TK_NAME) {
        tpl_syntax_error(p, t, "expected a tag name after '{%%'");
        return NULL;
    }
    if (tpl_is_name(t, "if")) return parse_if(p, t);
    if (tpl_is_name(t, "for")) return parse_for(p, t);
    if (tpl_is_name(t, "set")) return parse_set(p, t);
    if (tpl_is_name(t, "macro")) return parse_macro(p, t);
    if (tpl_is_name(t, "break") || tpl_is_name(t, "continue")) {
        if (!p->loops) {
            tpl_syntax_error(p, t, "'%.*s' outside a for loop", (int)t->text.len, t->text.p);
            return NULL;
        }
        tpl_node *n = tpl_node_new(p, tpl_is_name(t, "break") ? N_BREAK : N_CONTINUE, t);
        return n && expect_block_end(p, "break", false) ? n : NULL;
    }
    if (tpl_is_name(t, "generation")) {
        static const char *const ends[] = {"endgeneration", NULL};
        tpl_node *body;
        if (!expect_block_end(p, "generation", true) || !(body = parse_body(p, t, ends))) return NULL;
        return end_tag(p, false) ? body : NULL;
    }
    static const char *const stray[] = {"elif", "else", "endif", "endfor", "endset", "endmacro", "endgeneration", NULL};
    for (const char *const *s = stray; *s; s++)
        if (tpl_is_name(t, *s)) {
            tpl_syntax_error(p, t, "unexpected '%s' with no open block it could end", *s);
            return NULL;
        }
    tpl_syntax_error(p, t, "unsupported tag '%.*s'", (int)t->text.len, t->text.p);
    return NULL;
}

/* Statements up to a {% tag %} named in ends (left unconsumed after the "{%") or the end of input
 * (only when ends is NULL). opener names the block in "not closed" errors. */
static tpl_node *parse_body(tpl_parser *p, const tpl_token *opener, const char *const *ends) {
    tpl_node *body = tpl_node_new(p, N_BODY, tpl_peek(p));
    size_t cap = 0;
    if (!body) return NULL;
    if (++p->depth > TPL_MAX_PARSE_DEPTH) {
        tpl_syntax_error(p, tpl_peek(p), "unsupported: blocks nested deeper than %d", TPL_MAX_PARSE_DEPTH);
        return NULL;
    }
    for (;;) {
        const tpl_token *t = tpl_peek(p);
        tpl_node *n = NULL;
        if (t->kind == TK_EOF) {
            if (!ends) break;
            const char *closer = ends[0];
            for (const char *const *e = ends; *e; e++) closer = *e;
            tpl_syntax_error(p, t, "'%.*s' opened at line %d col %d is not closed (expected '%s')",
                             (int)opener->text.len, opener->text.p, opener->line, opener->col, closer);
            return NULL;
        }
        if (t->kind == TK_TEXT) {
            if ((n = tpl_node_new(p, N_TEXT, tpl_next(p)))) n->value = tv_str(t->text.p, t->text.len);
        } else if (t->kind == TK_VAR_BEGIN) {
            tpl_next(p);
            if ((n = tpl_node_new(p, N_OUTPUT, t)) && (n->a = tpl_parse_tuple(p, true))) {
                const tpl_token *e = tpl_next(p);
                if (e->kind != TK_VAR_END) {
                    tpl_syntax_error(p, e, "expected '}}', got '%.*s'", (int)e->text.len, e->text.p);
                    return NULL;
                }
            } else {
                return NULL;
            }
        } else if (t->kind == TK_BLOCK_BEGIN) {
            const tpl_token *name = &p->toks->v[p->pos + 1];
            for (const char *const *e = ends; e && *e; e++)
                if (tpl_is_name(name, *e)) {
                    p->pos++;
                    p->depth--;
                    return body;
                }
            tpl_next(p);
            n = parse_statement(p);
        } else {
            tpl_syntax_error(p, t, "unexpected '%.*s' outside a tag", (int)t->text.len, t->text.p);
            return NULL;
        }
        if (!n || !tpl_nodes_push(p, &body->args, &cap, n)) return NULL;
    }
    p->depth--;
    return body;
}

tpl_node *tpl_parse_template(tpl_parser *p) { return parse_body(p, tpl_peek(p), NULL); }
