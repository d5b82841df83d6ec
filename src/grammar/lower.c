/* Flattening builder expressions into rules of alternatives of elements (gram_grammar), and the checks
 * the matcher relies on: every referenced rule defined, no left recursion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"

/* How a rule of the output is produced: from an expression (an ALT's children become alternatives),
 * as a star `unit rule | ""`, or as one link of an optional chain `unit next | ""` (next < 0: `unit | ""`). */
enum { SRC_EXPR, SRC_STAR, SRC_OPT };
typedef struct rule_src {
    int type;
    int32_t expr;
    gram_elem unit;
    int32_t next;
    int32_t parent;
} rule_src;

typedef struct lowering {
    gram_builder *b;
    rule_src *src;
    int32_t n_rules;
    size_t cap_rules;
    gram_elem *elems;
    int32_t n_elems;
    size_t cap_elems;
    int32_t *alt_start;
    int32_t n_alts;
    size_t cap_alts;
    int32_t *rule_alts; /* cap_rules + 1 */
    int too_big, oom;
} lowering;

static int32_t add_rule(lowering *L, rule_src s) {
    if (gram_reserve((void **)&L->src, &L->cap_rules, (size_t)L->n_rules + 1, sizeof *L->src)) {
        L->oom = 1;
        return -1;
    }
    L->src[L->n_rules] = s;
    return L->n_rules++;
}

static void emit(lowering *L, uint32_t kind, int32_t arg) {
    if (L->n_elems >= GRAM_MAX_ELEMS) {
        L->too_big = 1;
        return;
    }
    if (arg < 0 || gram_reserve((void **)&L->elems, &L->cap_elems, (size_t)L->n_elems + 1, sizeof *L->elems)) {
        L->oom = 1;
        return;
    }
    L->elems[L->n_elems++] = (gram_elem){.kind = kind, .arg = (uint32_t)arg};
}

/* The single element standing for expression x: itself when a byte class or a reference, else a
 * reference to a new helper rule for it. */
static gram_elem unit_of(lowering *L, int32_t x, int32_t parent) {
    const gram_expr *e = &L->b->exprs[x];
    if (e->kind == GX_CHARS) return (gram_elem){.kind = GRAM_EL_CHARS, .arg = (uint32_t)e->a};
    if (e->kind == GX_REF) return (gram_elem){.kind = GRAM_EL_REF, .arg = (uint32_t)e->a};
    int32_t r = add_rule(L, (rule_src){.type = SRC_EXPR, .expr = x, .parent = parent});
    return (gram_elem){.kind = GRAM_EL_REF, .arg = r < 0 ? 0 : (uint32_t)r};
}

/* Emits expression x into the current alternative; returns 0 when x matches nothing (drop the alt). */
static int lower_seq(lowering *L, int32_t x, int32_t parent) {
    const gram_expr *e = &L->b->exprs[x];
    switch (e->kind) {
        case GX_EMPTY: return 1;
        case GX_NOTHING: return 0;
        case GX_CHARS: emit(L, GRAM_EL_CHARS, e->a); return 1;
        case GX_REF: emit(L, GRAM_EL_REF, e->a); return 1;
        case GX_SEQ:
            for (int32_t i = 0; i < e->count; i++)
                if (!lower_seq(L, L->b->kids[L->b->exprs[x].first + i], parent)) return 0;
            return 1;
        case GX_ALT:
            emit(L, GRAM_EL_REF, add_rule(L, (rule_src){.type = SRC_EXPR, .expr = x, .parent = parent}));
            return 1;
        case GX_REPEAT: {
            int32_t min = e->a, max = e->b, child = L->b->kids[e->first];
            if (L->b->exprs[child].kind == GX_NOTHING) return min == 0;
            gram_elem u = unit_of(L, child, parent);
            for (int32_t i = 0; i < min; i++) emit(L, u.kind, (int32_t)u.arg);
            if (max < 0) {
                emit(L, GRAM_EL_REF, add_rule(L, (rule_src){.type = SRC_STAR, .unit = u, .parent = parent}));
            } else if (max > min) {
                int32_t next = -1;
                for (int32_t k = 0; k < max - min && !L->oom; k++)
                    next = add_rule(L, (rule_src){.type = SRC_OPT, .unit = u, .next = next, .parent = parent});
                emit(L, GRAM_EL_REF, next);
            }
            return 1;
        }
    }
    return 1;
}

static void begin_alt(lowering *L) {
    if (gram_reserve((void **)&L->alt_start, &L->cap_alts, (size_t)L->n_alts + 1, sizeof *L->alt_start)) {
        L->oom = 1;
        return;
    }
    L->alt_start[L->n_alts] = L->n_elems;
}

/* Ends the alternative begun at alt_start[n_alts]: kept (END appended) or dropped. */
static void end_alt(lowering *L, int keep) {
    if (L->oom || L->too_big) return;
    if (!keep) {
        L->n_elems = L->alt_start[L->n_alts];
        return;
    }
    emit(L, GRAM_EL_END, 0);
    L->n_alts++;
}

static void lower_rule(lowering *L, int32_t r) {
    rule_src s = L->src[r];
    if (s.type == SRC_EXPR) {
        const gram_expr *e = &L->b->exprs[s.expr];
        int32_t n = e->kind == GX_ALT ? e->count : 1;
        for (int32_t i = 0; i < n && !L->oom && !L->too_big; i++) {
            int32_t x = e->kind == GX_ALT ? L->b->kids[L->b->exprs[s.expr].first + i] : s.expr;
            begin_alt(L);
            end_alt(L, lower_seq(L, x, r));
        }
        return;
    }
    begin_alt(L); /* unit, then the rule itself (star) or the next link (chain) */
    emit(L, s.unit.kind, (int32_t)s.unit.arg);
    if (s.type == SRC_STAR) emit(L, GRAM_EL_REF, r);
    else if (s.next >= 0) emit(L, GRAM_EL_REF, s.next);
    end_alt(L, 1);
    begin_alt(L);
    end_alt(L, 1);
}

void gram_grammar_free(gram_grammar *g) {
    if (!g) return;
    if (g->rule_names)
        for (int32_t i = 0; i < g->n_rules; i++) free(g->rule_names[i]);
    free(g->rule_names);
    free(g->elems);
    free(g->alt_start);
    free(g->rule_alts);
    free(g->sets);
    free(g);
}

/* ---- checks on the flat grammar ---- */

/* Rules that derive at least one finite string; alternatives referring to any other rule are dropped
 * (a matcher must never walk into a branch it cannot finish). */
static void prune_unproductive(gram_grammar *g, uint8_t *productive) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (int32_t r = 0; r < g->n_rules; r++) {
            for (int32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1] && !productive[r]; a++) {
                int32_t p = g->alt_start[a];
                while (g->elems[p].kind == GRAM_EL_CHARS ||
                       (g->elems[p].kind == GRAM_EL_REF && productive[g->elems[p].arg]))
                    p++;
                if (g->elems[p].kind == GRAM_EL_END) productive[r] = changed = 1;
            }
        }
    }
    int32_t k = 0;
    for (int32_t r = 0; r < g->n_rules; r++) {
        int32_t begin = g->rule_alts[r], end = g->rule_alts[r + 1];
        g->rule_alts[r] = k;
        for (int32_t a = begin; a < end; a++) {
            int32_t p = g->alt_start[a];
            while (g->elems[p].kind == GRAM_EL_CHARS ||
                   (g->elems[p].kind == GRAM_EL_REF && productive[g->elems[p].arg]))
                p++;
            if (g->elems[p].kind == GRAM_EL_END) g->alt_start[k++] = g->alt_start[a];
        }
    }
    g->rule_alts[g->n_rules] = k;
    g->n_alts = k;
}

static int elem_nullable(const gram_grammar *g, const uint8_t *nullable, gram_elem e) {
    return e.kind == GRAM_EL_REF && nullable[e.arg];
}

static void compute_nullable(const gram_grammar *g, uint8_t *nullable) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (int32_t r = 0; r < g->n_rules; r++) {
            if (nullable[r]) continue;
            for (int32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1] && !nullable[r]; a++) {
                int32_t p = g->alt_start[a];
                while (g->elems[p].kind != GRAM_EL_END && elem_nullable(g, nullable, g->elems[p])) p++;
                if (g->elems[p].kind == GRAM_EL_END) nullable[r] = changed = 1;
            }
        }
    }
}

/* The left-corner graph: an edge r -> s for each reference to s that can be reached in r before any
 * byte is matched; `grows` when the reference is not the last element (it pushes a return position).
 * A cycle made only of last-element references is harmless (the matcher's tail calls turn it into a
 * state seen twice), but a cycle through a growing edge is left recursion: the stack would grow
 * forever without reading a byte. Found as a growing edge inside one strongly connected component
 * (Tarjan, iterative: grammars may hold long chains of helper rules). Returns a rule on such a cycle,
 * -1 when none, -2 when out of memory. */
typedef struct lc_graph {
    int32_t *first, *to;
    uint8_t *grows;
    int32_t n_edges;
} lc_graph;

static int build_left_corner(const gram_grammar *g, const uint8_t *nullable, lc_graph *G) {
    int32_t cap = 0;
    G->first = malloc(((size_t)g->n_rules + 1) * sizeof *G->first);
    if (!G->first) return -1;
    for (int32_t r = 0; r < g->n_rules; r++) {
        G->first[r] = G->n_edges;
        for (int32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++)
            for (int32_t p = g->alt_start[a]; g->elems[p].kind == GRAM_EL_REF; p++) {
                if (G->n_edges == cap) {
                    cap = cap ? cap * 2 : 256;
                    int32_t *t = realloc(G->to, (size_t)cap * sizeof *t);
                    uint8_t *gr = t ? realloc(G->grows, (size_t)cap) : NULL;
                    if (t) G->to = t;
                    if (!gr) return -1;
                    G->grows = gr;
                }
                G->to[G->n_edges] = (int32_t)g->elems[p].arg;
                G->grows[G->n_edges++] = g->elems[p + 1].kind != GRAM_EL_END;
                if (!nullable[g->elems[p].arg]) break;
            }
    }
    G->first[g->n_rules] = G->n_edges;
    return 0;
}

static int32_t find_left_recursion(const gram_grammar *g, const uint8_t *nullable) {
    lc_graph G = {0};
    int32_t n = g->n_rules, found = -1;
    int32_t *index = malloc((size_t)n * sizeof *index), *low = malloc((size_t)n * sizeof *low);
    int32_t *comp = malloc((size_t)n * sizeof *comp), *stack = malloc((size_t)n * sizeof *stack);
    int32_t *call_r = malloc((size_t)n * sizeof *call_r), *call_e = malloc((size_t)n * sizeof *call_e);
    uint8_t *on_stack = calloc((size_t)n + 1, 1);
    if (!index || !low || !comp || !stack || !call_r || !call_e || !on_stack || build_left_corner(g, nullable, &G))
        found = -2;
    int32_t counter = 0, sp = 0, n_comp = 0;
    for (int32_t i = 0; i < n && found == -1; i++) index[i] = -1;
    for (int32_t start = 0; start < n && found == -1; start++) {
        if (index[start] >= 0) continue;
        int32_t depth = 0;
        call_r[0] = start;
        call_e[0] = G.first[start];
        index[start] = low[start] = counter++;
        stack[sp++] = start;
        on_stack[start] = 1;
        while (depth >= 0) {
            int32_t r = call_r[depth];
            if (call_e[depth] < G.first[r + 1]) {
                int32_t s = G.to[call_e[depth]++];
                if (index[s] < 0) {
                    index[s] = low[s] = counter++;
                    stack[sp++] = s;
                    on_stack[s] = 1;
                    call_r[++depth] = s;
                    call_e[depth] = G.first[s];
                } else if (on_stack[s] && index[s] < low[r]) low[r] = index[s];
                continue;
            }
            if (low[r] == index[r]) { /* r roots a component: pop it */
                int32_t s;
                do {
                    s = stack[--sp];
                    on_stack[s] = 0;
                    comp[s] = n_comp;
                } while (s != r);
                n_comp++;
            }
            if (--depth >= 0 && low[r] < low[call_r[depth]]) low[call_r[depth]] = low[r];
        }
    }
    for (int32_t r = 0; r < n && found == -1; r++)
        for (int32_t e = G.first[r]; e < G.first[r + 1] && found == -1; e++)
            if (G.grows[e] && comp[G.to[e]] == comp[r]) found = r;
    free(index);
    free(low);
    free(comp);
    free(stack);
    free(call_r);
    free(call_e);
    free(on_stack);
    free(G.first);
    free(G.to);
    free(G.grows);
    return found;
}

static char *rule_name(lowering *L, int32_t r) {
    char buf[64];
    if (r < L->b->n_rules) return strdup(L->b->rules[r].name);
    int32_t p = L->src[r].parent;
    while (p >= L->b->n_rules) p = L->src[p].parent;
    snprintf(buf, sizeof buf, "%.40s-%d", L->b->rules[p].name, (int)r);
    return strdup(buf);
}

loom_status gram_lower(gram_builder *b, int32_t root, gram_grammar **out, loom_error *err) {
    *out = NULL;
    if (b->oom) return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory");
    for (int32_t r = 0; r < b->n_rules; r++)
        if (b->rules[r].expr < 0)
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "grammar: rule '%s' is not defined", b->rules[r].name);
    lowering L = {.b = b};
    for (int32_t r = 0; r < b->n_rules; r++)
        add_rule(&L, (rule_src){.type = SRC_EXPR, .expr = b->rules[r].expr, .parent = r});
    for (int32_t r = 0; r < L.n_rules && !L.oom && !L.too_big; r++) {
        int32_t *ra = realloc(L.rule_alts, ((size_t)r + 2) * sizeof *ra);
        if (!ra) {
            L.oom = 1;
            break;
        }
        L.rule_alts = ra;
        L.rule_alts[r] = L.n_alts;
        lower_rule(&L, r);
        L.rule_alts[r + 1] = L.n_alts;
    }
    gram_grammar *g = calloc(1, sizeof *g);
    if (!g) L.oom = 1;
    if (!L.oom && !L.too_big) {
        g->elems = L.elems;
        g->n_elems = L.n_elems;
        g->alt_start = L.alt_start;
        g->n_alts = L.n_alts;
        g->rule_alts = L.rule_alts;
        g->n_rules = L.n_rules;
        g->root = root;
        g->sets = malloc(((size_t)b->n_sets + 1) * sizeof *g->sets);
        g->rule_names = calloc((size_t)L.n_rules, sizeof *g->rule_names);
        if (!g->sets || !g->rule_names) L.oom = 1;
        else {
            if (b->n_sets) memcpy(g->sets, b->sets, (size_t)b->n_sets * sizeof *g->sets);
            g->n_sets = b->n_sets;
            for (int32_t r = 0; r < L.n_rules && !L.oom; r++)
                if (!(g->rule_names[r] = rule_name(&L, r))) L.oom = 1;
        }
        L.elems = NULL;
        L.alt_start = NULL;
        L.rule_alts = NULL;
    }
    free(L.src);
    free(L.elems);
    free(L.alt_start);
    free(L.rule_alts);
    if (L.oom || L.too_big) {
        gram_grammar_free(g);
        if (L.too_big)
            return loom_fail(err, LOOM_ERR_INVALID_ARG,
                             "grammar: too large (more than %d elements after expanding repetitions)", GRAM_MAX_ELEMS);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory");
    }
    uint8_t *productive = calloc((size_t)g->n_rules, 1), *nullable = calloc((size_t)g->n_rules, 1);
    if (!productive || !nullable) {
        free(productive);
        free(nullable);
        gram_grammar_free(g);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory");
    }
    prune_unproductive(g, productive);
    int root_ok = productive[g->root];
    free(productive);
    if (!root_ok) {
        free(nullable);
        gram_grammar_free(g);
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "grammar: matches no text at all (a rule that can never finish, "
                         "such as a reference cycle or an empty enum)");
    }
    compute_nullable(g, nullable);
    int32_t lr = find_left_recursion(g, nullable);
    free(nullable);
    if (lr != -1) {
        loom_status st = lr == -2 ? loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory")
                                  : loom_fail(err, LOOM_ERR_INVALID_ARG,
                                              "grammar: rule '%s' is left-recursive (it can reach itself before "
                                              "matching any character)",
                                              g->rule_names[lr]);
        gram_grammar_free(g);
        return st;
    }
    *out = g;
    return LOOM_OK;
}

/* ---- printing ---- */

typedef struct strbuf {
    char *s;
    size_t n, cap;
    int oom;
} strbuf;

static void put(strbuf *o, const char *s, size_t n) {
    if (o->oom) return;
    if (o->n + n + 1 > o->cap) {
        size_t c = o->cap ? o->cap * 2 : 256;
        while (c < o->n + n + 1) c *= 2;
        char *q = realloc(o->s, c);
        if (!q) {
            o->oom = 1;
            return;
        }
        o->s = q;
        o->cap = c;
    }
    memcpy(o->s + o->n, s, n);
    o->n += n;
    o->s[o->n] = 0;
}

static void put_byte(strbuf *o, unsigned c) {
    char buf[8];
    if (c == '\\' || c == ']' || c == '-' || c == '^') snprintf(buf, sizeof buf, "\\%c", c);
    else if (c >= 0x20 && c < 0x7F) snprintf(buf, sizeof buf, "%c", c);
    else snprintf(buf, sizeof buf, "\\x%02X", c);
    put(o, buf, strlen(buf));
}

static void put_set(strbuf *o, const gram_set *s) {
    put(o, "[", 1);
    for (unsigned c = 0; c < 256;) {
        if (!gram_set_has(s, c)) {
            c++;
            continue;
        }
        unsigned e = c;
        while (e + 1 < 256 && gram_set_has(s, e + 1)) e++;
        put_byte(o, c);
        if (e > c) {
            put(o, "-", 1);
            put_byte(o, e);
        }
        c = e + 1;
    }
    put(o, "]", 1);
}

char *gram_grammar_print(const gram_grammar *g) {
    strbuf o = {0};
    for (int32_t r = 0; r < g->n_rules; r++) {
        put(&o, g->rule_names[r], strlen(g->rule_names[r]));
        put(&o, " ::=", 4);
        for (int32_t a = g->rule_alts[r]; a < g->rule_alts[r + 1]; a++) {
            if (a > g->rule_alts[r]) put(&o, " |", 2);
            for (int32_t p = g->alt_start[a]; g->elems[p].kind != GRAM_EL_END; p++) {
                put(&o, " ", 1);
                if (g->elems[p].kind == GRAM_EL_CHARS) put_set(&o, &g->sets[g->elems[p].arg]);
                else put(&o, g->rule_names[g->elems[p].arg], strlen(g->rule_names[g->elems[p].arg]));
            }
            if (g->elems[g->alt_start[a]].kind == GRAM_EL_END) put(&o, " \"\"", 3);
        }
        put(&o, "\n", 1);
    }
    if (o.oom) {
        free(o.s);
        return NULL;
    }
    return o.s;
}
