/* The pushdown automaton over bytes, determinized lazily: interned stacks, interned sets of stacks
 * (states) and memoized transitions (see automaton_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "grammar/automaton_internal.h"

static uint32_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (uint32_t)x;
}

int gram_charge(gram_automaton *a, int64_t bytes) {
    if (a->bytes_used + bytes > GRAM_AUTOMATON_BUDGET_BYTES) {
        a->over_budget = 1;
        return -1;
    }
    a->bytes_used += bytes;
    return 0;
}

/* Room for need elements, the growth charged to the budget. */
static int reserve(gram_automaton *a, void **p, size_t *cap, int64_t need, size_t sz) {
    size_t old = *cap;
    if (need > INT32_MAX || gram_reserve(p, cap, (size_t)need, sz)) return -1;
    return gram_charge(a, (int64_t)((*cap - old) * sz));
}

/* ---- interned stacks ---- */

static int rehash_nodes(gram_automaton *a) {
    uint32_t cap = a->node_ht_cap ? a->node_ht_cap * 2 : 1024;
    if (gram_charge(a, (int64_t)cap * 4)) return -1;
    int32_t *ht = malloc((size_t)cap * sizeof *ht);
    if (!ht) return -1;
    memset(ht, 0xff, (size_t)cap * sizeof *ht);
    for (int32_t i = 0; i < a->n_nodes; i++) {
        uint32_t h = mix(((uint64_t)(uint32_t)a->nodes[i].pos << 32) | (uint32_t)a->nodes[i].parent) & (cap - 1);
        while (ht[h] >= 0) h = (h + 1) & (cap - 1);
        ht[h] = i;
    }
    a->bytes_used -= (int64_t)a->node_ht_cap * 4;
    free(a->node_ht);
    a->node_ht = ht;
    a->node_ht_cap = cap;
    return 0;
}

/* The node of stack (pos, parent), created on first use; -1 when out of memory. */
static int32_t intern_node(gram_automaton *a, int32_t pos, int32_t parent) {
    if ((uint32_t)a->n_nodes * 2 >= a->node_ht_cap && rehash_nodes(a)) return -1;
    uint32_t h = mix(((uint64_t)(uint32_t)pos << 32) | (uint32_t)parent) & (a->node_ht_cap - 1);
    for (; a->node_ht[h] >= 0; h = (h + 1) & (a->node_ht_cap - 1)) {
        const gram_node *n = &a->nodes[a->node_ht[h]];
        if (n->pos == pos && n->parent == parent) return a->node_ht[h];
    }
    if (reserve(a, (void **)&a->nodes, &a->cap_nodes, a->n_nodes + 1, sizeof *a->nodes)) return -1;
    a->nodes[a->n_nodes] = (gram_node){pos, parent};
    a->node_ht[h] = a->n_nodes;
    return a->n_nodes++;
}

/* ---- interned states ---- */

static uint32_t hash_ids(const int32_t *ids, int32_t n) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
    for (int32_t i = 0; i < n; i++) h = (h ^ (uint32_t)ids[i]) * 0x100000001b3ull + (h >> 29);
    return mix(h);
}

static int rehash_states(gram_automaton *a) {
    uint32_t cap = a->state_ht_cap ? a->state_ht_cap * 2 : 1024;
    if (gram_charge(a, (int64_t)cap * 4)) return -1;
    int32_t *ht = malloc((size_t)cap * sizeof *ht);
    if (!ht) return -1;
    memset(ht, 0xff, (size_t)cap * sizeof *ht);
    for (int32_t i = 0; i < a->n_states; i++) {
        uint32_t h = a->states[i].hash & (cap - 1);
        while (ht[h] >= 0) h = (h + 1) & (cap - 1);
        ht[h] = i;
    }
    a->bytes_used -= (int64_t)a->state_ht_cap * 4;
    free(a->state_ht);
    a->state_ht = ht;
    a->state_ht_cap = cap;
    return 0;
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* The state of the node set ids[0..n) (sorted and deduplicated here); -1 when out of memory. */
static int32_t intern_state(gram_automaton *a, int32_t *ids, int32_t n) {
    if (n > 1) qsort(ids, (size_t)n, sizeof *ids, cmp_i32);
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++)
        if (k == 0 || ids[k - 1] != ids[i]) ids[k++] = ids[i];
    n = k;
    if ((uint32_t)a->n_states * 2 >= a->state_ht_cap && rehash_states(a)) return -1;
    uint32_t hash = hash_ids(ids, n), h = hash & (a->state_ht_cap - 1);
    for (; a->state_ht[h] >= 0; h = (h + 1) & (a->state_ht_cap - 1)) {
        const gram_state *s = &a->states[a->state_ht[h]];
        if (s->hash == hash && s->count == n && (n == 0 || !memcmp(a->pool + s->first, ids, (size_t)n * sizeof *ids)))
            return a->state_ht[h];
    }
    if (reserve(a, (void **)&a->states, &a->cap_states, a->n_states + 1, sizeof *a->states) ||
        reserve(a, (void **)&a->pool, &a->cap_pool, a->n_pool + n, sizeof *a->pool))
        return -1;
    if (n) memcpy(a->pool + a->n_pool, ids, (size_t)n * sizeof *ids);
    a->states[a->n_states] = (gram_state){
        .first = (int32_t)a->n_pool, .count = n, .hash = hash, .accepting = n > 0 && ids[0] == GRAM_ACCEPT_NODE};
    a->n_pool += n;
    a->state_ht[h] = a->n_states;
    return a->n_states++;
}

/* ---- closure: expanding references and popping ended rules until every top is a byte class ---- */

static int push_work(gram_automaton *a, int32_t pos, int32_t parent) {
    if (reserve(a, (void **)&a->work, &a->cap_work, a->n_work + 1, sizeof *a->work)) return -1;
    a->work[a->n_work++] = ((int64_t)pos << 32) | (uint32_t)parent;
    return 0;
}

/* Marks (pos, parent) seen in this closure; returns 1 when it already was. */
static int seen_before(gram_automaton *a, uint64_t key) {
    key += 1; /* 0 marks an empty slot */
    uint32_t h = mix(key) & (a->seen_cap - 1);
    for (; a->seen[h]; h = (h + 1) & (a->seen_cap - 1))
        if (a->seen[h] == key) return 1;
    a->seen[h] = key;
    a->n_seen++;
    return 0;
}

static int reset_seen(gram_automaton *a, uint32_t want) {
    if (want > a->seen_cap) {
        uint32_t cap = a->seen_cap ? a->seen_cap : 256;
        while (cap < want) cap *= 2;
        if (gram_charge(a, (int64_t)(cap - a->seen_cap) * 8)) return -1;
        uint64_t *s = realloc(a->seen, (size_t)cap * sizeof *s);
        if (!s) return -1;
        a->seen = s;
        a->seen_cap = cap;
    }
    memset(a->seen, 0, (size_t)a->seen_cap * sizeof *a->seen);
    a->n_seen = 0;
    return 0;
}

/* Runs the worklist to completion, collecting top nodes into a->out; 0 or -1. */
static int close_work(gram_automaton *a) {
    const gram_grammar *g = a->g;
    a->n_out = 0;
    if (reset_seen(a, 256)) return -1;
    while (a->n_work > 0) {
        int64_t w = a->work[--a->n_work];
        int32_t pos = (int32_t)(w >> 32), parent = (int32_t)(uint32_t)w;
        if (a->n_seen * 2 >= a->seen_cap) {
            /* grow the visited set, keeping its entries */
            uint32_t old_cap = a->seen_cap;
            uint64_t *old = malloc((size_t)old_cap * sizeof *old);
            if (!old) return -1;
            memcpy(old, a->seen, (size_t)old_cap * sizeof *old);
            if (reset_seen(a, old_cap * 2)) {
                free(old);
                return -1;
            }
            for (uint32_t i = 0; i < old_cap; i++)
                if (old[i]) seen_before(a, old[i] - 1);
            free(old);
        }
        if (seen_before(a, (uint64_t)w)) continue;
        gram_elem e = g->elems[pos];
        if (e.kind == GRAM_EL_CHARS) {
            int32_t n = intern_node(a, pos, parent);
            if (n < 0 || reserve(a, (void **)&a->out, &a->cap_out, a->n_out + 1, sizeof *a->out)) return -1;
            a->out[a->n_out++] = n;
        } else if (e.kind == GRAM_EL_END) {
            if (parent < 0) {
                if (reserve(a, (void **)&a->out, &a->cap_out, a->n_out + 1, sizeof *a->out)) return -1;
                a->out[a->n_out++] = GRAM_ACCEPT_NODE;
            } else if (push_work(a, a->nodes[parent].pos, a->nodes[parent].parent)) return -1;
        } else {
            /* a reference in last position returns straight to the caller's caller (tail call), so
             * repetition, written as right recursion, does not grow the stack */
            int32_t ret = parent;
            if (g->elems[pos + 1].kind != GRAM_EL_END && (ret = intern_node(a, pos + 1, parent)) < 0) return -1;
            for (int32_t alt = g->rule_alts[e.arg]; alt < g->rule_alts[e.arg + 1]; alt++)
                if (push_work(a, g->alt_start[alt], ret)) return -1;
        }
    }
    return 0;
}

int32_t gram_step_slow(gram_automaton *a, int32_t s, uint8_t c) {
    if (a->over_budget) return -1;
    if (!a->states[s].trans) {
        if (gram_charge(a, 256 * 4)) return -1;
        int32_t *t = malloc(256 * sizeof *t);
        if (!t) return -1;
        memset(t, 0xff, 256 * sizeof *t);
        a->states[s].trans = t;
    }
    a->n_work = 0;
    const gram_state st = a->states[s];
    for (int32_t i = 0; i < st.count; i++) {
        int32_t id = a->pool[st.first + i];
        if (id == GRAM_ACCEPT_NODE) continue;
        gram_node n = a->nodes[id];
        if (gram_set_has(&a->g->sets[a->g->elems[n.pos].arg], c) && push_work(a, n.pos + 1, n.parent)) return -1;
    }
    if (close_work(a)) return -1;
    int32_t next = intern_state(a, a->out, a->n_out);
    if (next < 0) return -1;
    a->states[s].trans[c] = next;
    a->n_transitions++;
    return next;
}

/* ---- lifetime ---- */

loom_status gram_automaton_create(gram_grammar *g, const gram_vocab *v, gram_automaton **out, loom_error *err) {
    *out = NULL;
    gram_automaton *a = calloc(1, sizeof *a);
    if (!a) {
        gram_grammar_free(g);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory");
    }
    pthread_mutex_init(&a->lock, NULL);
    a->refs = 1;
    a->g = g;
    a->v = v;
    a->walk = malloc(((size_t)v->max_len + 1) * sizeof *a->walk);
    int ok = a->walk && intern_node(a, -1, -1) == GRAM_ACCEPT_NODE && intern_state(a, NULL, 0) == GRAM_DEAD;
    if (ok) {
        a->n_work = 0;
        for (int32_t alt = g->rule_alts[g->root]; alt < g->rule_alts[g->root + 1] && ok; alt++)
            ok = !push_work(a, g->alt_start[alt], -1);
        ok = ok && !close_work(a) && (a->initial = intern_state(a, a->out, a->n_out)) >= 0;
    }
    if (!ok) {
        gram_automaton_release(a);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar: out of memory");
    }
    *out = a;
    return LOOM_OK;
}

void gram_automaton_retain(gram_automaton *a) {
    pthread_mutex_lock(&a->lock);
    a->refs++;
    pthread_mutex_unlock(&a->lock);
}

void gram_automaton_release(gram_automaton *a) {
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    int last = --a->refs == 0;
    pthread_mutex_unlock(&a->lock);
    if (!last) return;
    for (int32_t i = 0; i < a->n_states; i++) {
        free(a->states[i].trans);
        free(a->states[i].mask);
    }
    free(a->states);
    free(a->state_ht);
    free(a->pool);
    free(a->nodes);
    free(a->node_ht);
    free(a->work);
    free(a->seen);
    free(a->out);
    free(a->walk);
    gram_grammar_free(a->g);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void gram_automaton_get_stats(gram_automaton *a, gram_automaton_stats *out) {
    pthread_mutex_lock(&a->lock);
    out->n_stacks = a->n_nodes;
    out->n_states = a->n_states;
    out->n_masks = a->n_masks;
    out->n_transitions = a->n_transitions;
    out->mask_bytes = a->n_masks * (int64_t)gram_vocab_mask_words(a->v) * 8;
    out->over_budget = a->over_budget;
    pthread_mutex_unlock(&a->lock);
}
