/* Structured outputs in the engine: the model's vocabulary as bytes (made on the first constrained
 * request), compiled constraints shared by every request with the same one (a small cache: their masks
 * are cached per state, so the second request with a schema finds them ready), a matcher per sample,
 * and the public loom_grammar_* calls for callers that drive loom_decode themselves. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "sample/token_mask.h"

enum { CACHE_SLOTS = 16 };

typedef struct grammar_slot {
    loom_constraint_kind kind;
    char *spec;
    gram_automaton *a; /* the cache's reference */
    uint64_t last_use;
} grammar_slot;

struct engine_grammars {
    pthread_mutex_t lock; /* add_request threads and the engine thread */
    gram_vocab *vocab;
    grammar_slot slots[CACHE_SLOTS];
    uint64_t clock;
    float *masked; /* [vocab_size]: one row of masked logits (engine thread only) */
};

static const gram_kind kinds[] = {[LOOM_CONSTRAINT_JSON_SCHEMA] = GRAM_JSON_SCHEMA,
                                  [LOOM_CONSTRAINT_JSON_OBJECT] = GRAM_JSON_OBJECT,
                                  [LOOM_CONSTRAINT_REGEX] = GRAM_REGEX,
                                  [LOOM_CONSTRAINT_CHOICE] = GRAM_CHOICE,
                                  [LOOM_CONSTRAINT_GBNF] = GRAM_GBNF,
                                  [LOOM_CONSTRAINT_STRUCTURAL_TAG] = GRAM_STRUCTURAL_TAG};

static loom_status model_vocab(const loom_model *model, gram_vocab **out, loom_error *err) {
    const loom_tokenizer *t = loom_model_get_tokenizer(model);
    if (!t) return loom_fail(err, LOOM_ERR_UNSUPPORTED, "structured outputs need the model's tokenizer");
    const loom_model_info *info = loom_model_get_info(model);
    return gram_vocab_from_tokenizer(t, info->vocab_size, info->eos_ids, info->n_eos_ids, out, err);
}

static loom_status compile(const loom_constraint *c, const gram_vocab *v, gram_automaton **out, loom_error *err) {
    if (c->kind <= LOOM_CONSTRAINT_NONE || c->kind > LOOM_CONSTRAINT_STRUCTURAL_TAG)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "constraint: unknown kind %d", (int)c->kind);
    const char *spec = c->spec ? c->spec : "";
    if (!c->spec && c->kind != LOOM_CONSTRAINT_JSON_OBJECT)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "constraint: the spec is missing");
    gram_grammar *g = NULL;
    loom_status st = gram_compile(kinds[c->kind], spec, strlen(spec), &g, err); /* INVALID_ARG: the spec's fault */
    return st == LOOM_OK ? gram_automaton_create(g, v, out, err) : st;
}

/* The automaton of c from the cache, compiled and added on a miss; a new reference. Lock held. */
static loom_status cached(engine_grammars *G, const loom_constraint *c, gram_automaton **out, loom_error *err) {
    const char *spec = c->spec ? c->spec : "";
    grammar_slot *lru = &G->slots[0];
    for (int i = 0; i < CACHE_SLOTS; i++) {
        grammar_slot *s = &G->slots[i];
        gram_automaton_stats stats = {0};
        if (s->a) gram_automaton_get_stats(s->a, &stats);
        if (stats.over_budget) { /* full: new requests get a fresh automaton (running ones keep theirs) */
            gram_automaton_release(s->a);
            free(s->spec);
            *s = (grammar_slot){0};
        }
        if (s->a && s->kind == c->kind && !strcmp(s->spec, spec)) {
            s->last_use = ++G->clock;
            gram_automaton_retain(s->a);
            *out = s->a;
            return LOOM_OK;
        }
        if (!s->a || (lru->a && s->last_use < lru->last_use)) lru = s;
    }
    gram_automaton *a = NULL;
    loom_status st = compile(c, G->vocab, &a, err);
    if (st != LOOM_OK) return st;
    char *copy = strdup(spec);
    if (copy) { /* cached when there is memory for it; the request works either way */
        gram_automaton_release(lru->a);
        free(lru->spec);
        *lru = (grammar_slot){.kind = c->kind, .spec = copy, .a = a, .last_use = ++G->clock};
        gram_automaton_retain(a);
    }
    *out = a;
    return LOOM_OK;
}

loom_status engine_grammar_attach(loom_engine *e, engine_request *r, loom_error *err) {
    if (r->p.constraint.kind == LOOM_CONSTRAINT_NONE) return LOOM_OK;
    pthread_mutex_lock(&e->lock);
    if (!e->grammars) {
        engine_grammars *G = calloc(1, sizeof *G);
        if (G) pthread_mutex_init(&G->lock, NULL);
        e->grammars = G;
    }
    engine_grammars *G = e->grammars;
    pthread_mutex_unlock(&e->lock);
    if (!G) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for structured outputs");
    pthread_mutex_lock(&G->lock);
    loom_status st = LOOM_OK;
    if (!G->vocab) st = model_vocab(e->model, &G->vocab, err);
    if (st == LOOM_OK && !G->masked && !(G->masked = malloc((size_t)e->info->vocab_size * sizeof *G->masked)))
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for structured outputs");
    if (st == LOOM_OK) st = cached(G, &r->p.constraint, &r->grammar, err);
    pthread_mutex_unlock(&G->lock);
    return st;
}

loom_status engine_grammar_seq_init(engine_seq *es, loom_error *err) {
    gram_automaton *a = es->req->grammar;
    return a ? gram_matcher_create(a, &es->matcher, err) : LOOM_OK;
}

loom_status engine_grammar_mask(loom_engine *e, engine_seq *es, const float *logits, const float **out,
                                loom_error *err) {
    *out = logits;
    if (!es->matcher) return LOOM_OK;
    const uint64_t *mask = gram_matcher_mask(es->matcher, err);
    if (!mask) return err->status;
    float *masked = e->grammars->masked;
    sample_apply_token_mask(logits, mask, e->info->vocab_size, masked);
    /* ignore_eos: the sample goes on until the grammar ends (or max_tokens), so EOS is never drawn */
    if (es->req->p.ignore_eos)
        for (int32_t i = 0; i < e->info->n_eos_ids; i++) masked[e->info->eos_ids[i]] = -INFINITY;
    *out = masked;
    return LOOM_OK;
}

void engine_grammars_free(engine_grammars *G) {
    if (!G) return;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        gram_automaton_release(G->slots[i].a);
        free(G->slots[i].spec);
    }
    gram_vocab_free(G->vocab);
    free(G->masked);
    pthread_mutex_destroy(&G->lock);
    free(G);
}

/* ---- the public matcher (loom.h) ---- */

struct loom_grammar {
    gram_vocab *vocab;
    gram_matcher *m;
    int32_t vocab_size;
};

loom_status loom_grammar_create(const loom_model *model, const loom_constraint *c, loom_grammar **out,
                                loom_error *err) {
    *out = NULL;
    loom_grammar *g = calloc(1, sizeof *g);
    if (!g) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a grammar");
    gram_automaton *a = NULL;
    g->vocab_size = loom_model_get_info(model)->vocab_size;
    loom_status st = model_vocab(model, &g->vocab, err);
    if (st == LOOM_OK) st = compile(c, g->vocab, &a, err);
    if (st == LOOM_OK) st = gram_matcher_create(a, &g->m, err);
    gram_automaton_release(a); /* the matcher holds its own reference */
    if (st != LOOM_OK) {
        loom_grammar_free(g);
        return st;
    }
    *out = g;
    return LOOM_OK;
}

loom_status loom_grammar_mask_logits(loom_grammar *g, float *logits, loom_error *err) {
    const uint64_t *mask = gram_matcher_mask(g->m, err);
    if (!mask) return err->status;
    sample_apply_token_mask(logits, mask, g->vocab_size, logits);
    return LOOM_OK;
}

loom_status loom_grammar_accept(loom_grammar *g, int32_t id, loom_error *err) {
    int ok = gram_matcher_accept_token(g->m, id, err);
    if (ok < 0) return err->status;
    if (!ok) return loom_fail(err, LOOM_ERR_INVALID_ARG, "token %d is not allowed by the constraint here", (int)id);
    return LOOM_OK;
}

int loom_grammar_is_terminated(const loom_grammar *g) { return gram_matcher_is_terminated(g->m); }

void loom_grammar_free(loom_grammar *g) {
    if (!g) return;
    gram_matcher_free(g->m);
    gram_vocab_free(g->vocab);
    free(g);
}
