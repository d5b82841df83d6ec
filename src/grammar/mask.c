/* Token masks: the trie of the vocabulary walked from a state, one memoized transition per trie node,
 * a dead prefix skipping its whole subtree; the result is cached per state (a state is the exact set of
 * stacks, so its mask never changes). */
#include <stdlib.h>
#include <string.h>

#include "grammar/automaton_internal.h"

const uint64_t *gram_state_mask(gram_automaton *a, int32_t s) {
    if (a->states[s].mask) return a->states[s].mask;
    const gram_vocab *v = a->v;
    size_t words = gram_vocab_mask_words(v);
    if (gram_charge(a, (int64_t)words * 8)) return NULL;
    uint64_t *m = calloc(words, sizeof *m);
    if (!m) return NULL;
    int32_t *walk = a->walk;
    const gram_trie_node *trie = v->trie;
    walk[0] = s;
    if (s != GRAM_DEAD) {
        for (int32_t k = 0; k < v->n_trie;) {
            const gram_trie_node *t = &trie[k];
            int32_t next = gram_step(a, walk[t->depth - 1], t->byte);
            if (next < 0) {
                free(m);
                return NULL;
            }
            if (next == GRAM_DEAD) {
                k = t->end;
                continue;
            }
            walk[t->depth] = next;
            for (int32_t i = 0; i < t->tok_count; i++) {
                int32_t id = v->sorted[t->tok_first + i];
                m[id >> 6] |= 1ull << (id & 63);
            }
            k++;
        }
    }
    if (a->states[s].accepting)
        for (int32_t i = 0; i < v->n_eos; i++) m[v->eos[i] >> 6] |= 1ull << (v->eos[i] & 63);
    a->states[s].mask = m;
    a->n_masks++;
    return m;
}
