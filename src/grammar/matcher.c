/* One sequence's matcher: its current state and the states before each accepted token (rollback). */
#include <stdlib.h>
#include <string.h>

#include "grammar/automaton_internal.h"

enum { ENDED = -2 }; /* after an EOS: nothing may follow */

struct gram_matcher {
    gram_automaton *a;
    int32_t state;
    int32_t *hist; /* state before each accepted token */
    int32_t n_hist, cap_hist;
};

loom_status gram_matcher_create(gram_automaton *a, gram_matcher **out, loom_error *err) {
    gram_matcher *m = calloc(1, sizeof *m);
    if (!m) return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar matcher: out of memory");
    gram_automaton_retain(a);
    m->a = a;
    m->state = a->initial;
    *out = m;
    return LOOM_OK;
}

void gram_matcher_free(gram_matcher *m) {
    if (!m) return;
    gram_automaton_release(m->a);
    free(m->hist);
    free(m);
}

void gram_matcher_reset(gram_matcher *m) {
    m->state = m->a->initial;
    m->n_hist = 0;
}

static int out_of_budget(gram_automaton *a, loom_error *err) {
    loom_fail(err, LOOM_ERR_NO_MEMORY,
              a->over_budget ? "grammar: the automaton outgrew its memory budget (%lld MiB)" : "grammar: out of memory",
              (long long)(GRAM_AUTOMATON_BUDGET_BYTES >> 20));
    return -1;
}

/* The state after bytes from state s (GRAM_DEAD when rejected, -1 out of memory); lock held. */
static int32_t walk_bytes(gram_automaton *a, int32_t s, const char *p, size_t n) {
    for (size_t i = 0; i < n && s > GRAM_DEAD; i++) s = gram_step(a, s, (uint8_t)p[i]);
    return s;
}

static int push_hist(gram_matcher *m) {
    if (m->n_hist == m->cap_hist) {
        int32_t cap = m->cap_hist ? m->cap_hist * 2 : 64;
        int32_t *h = realloc(m->hist, (size_t)cap * sizeof *h);
        if (!h) return -1;
        m->hist = h;
        m->cap_hist = cap;
    }
    m->hist[m->n_hist++] = m->state;
    return 0;
}

int gram_matcher_accept_bytes(gram_matcher *m, const char *s, size_t n, loom_error *err) {
    if (m->state == ENDED) return 0;
    gram_automaton *a = m->a;
    pthread_mutex_lock(&a->lock);
    int32_t next = walk_bytes(a, m->state, s, n);
    pthread_mutex_unlock(&a->lock);
    if (next < 0) return out_of_budget(a, err);
    if (next == GRAM_DEAD) return 0;
    if (push_hist(m)) return out_of_budget(a, err);
    m->state = next;
    return 1;
}

int gram_matcher_accept_token(gram_matcher *m, int32_t id, loom_error *err) {
    const gram_vocab *v = m->a->v;
    if (m->state == ENDED || id < 0 || id >= v->n || !v->allowed_kind[id]) return 0;
    if (v->allowed_kind[id] == 2) {
        if (!gram_matcher_is_accepting(m)) return 0;
        if (push_hist(m)) return out_of_budget(m->a, err);
        m->state = ENDED;
        return 1;
    }
    return gram_matcher_accept_bytes(m, v->bytes + v->off[id], v->len[id], err);
}

void gram_matcher_rollback(gram_matcher *m, int32_t k) {
    if (k <= 0) return;
    if (k > m->n_hist) k = m->n_hist;
    m->n_hist -= k;
    m->state = m->hist[m->n_hist];
}

int32_t gram_matcher_history(const gram_matcher *m) { return m->n_hist; }

/* (The states array may move while another matcher of the automaton adds a state: read it locked.) */
int gram_matcher_is_accepting(const gram_matcher *m) {
    if (m->state == ENDED) return 0;
    pthread_mutex_lock(&m->a->lock);
    int r = m->a->states[m->state].accepting;
    pthread_mutex_unlock(&m->a->lock);
    return r;
}

int gram_matcher_is_terminated(const gram_matcher *m) {
    if (m->state == ENDED) return 1;
    pthread_mutex_lock(&m->a->lock);
    const gram_state *s = &m->a->states[m->state];
    int r = s->accepting && s->count == 1;
    pthread_mutex_unlock(&m->a->lock);
    return r;
}

const uint64_t *gram_matcher_mask(gram_matcher *m, loom_error *err) {
    gram_automaton *a = m->a;
    pthread_mutex_lock(&a->lock);
    const uint64_t *mask = gram_state_mask(a, m->state == ENDED ? GRAM_DEAD : m->state);
    pthread_mutex_unlock(&a->lock);
    if (!mask) out_of_budget(a, err);
    return mask;
}

int gram_matcher_next_bytes(gram_matcher *m, uint64_t bits[4], loom_error *err) {
    memset(bits, 0, 4 * sizeof *bits);
    if (m->state == ENDED) return 0;
    gram_automaton *a = m->a;
    int n = 0, oom = 0;
    pthread_mutex_lock(&a->lock);
    for (unsigned c = 0; c < 256 && !oom; c++) {
        int32_t next = gram_step(a, m->state, (uint8_t)c);
        if (next < 0) oom = 1;
        else if (next != GRAM_DEAD) {
            bits[c >> 6] |= 1ull << (c & 63);
            n++;
        }
    }
    pthread_mutex_unlock(&a->lock);
    return oom ? out_of_budget(a, err) : n;
}
