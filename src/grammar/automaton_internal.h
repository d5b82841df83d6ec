/* The lazily determinized pushdown automaton (automaton.c), the vocabulary trie (vocab.c) and the masks
 * (mask.c).
 *
 * A stack is interned as a node (pos, parent): pos is an element index of the grammar, parent the node
 * of the stack below (-1 at the bottom). Node 0 is the empty stack: the input so far is a complete
 * sentence. The top node of every stack in a state points at a byte class (stacks are closed: rule
 * references expanded, ended rules popped). A state is an interned sorted set of top nodes; state 0 is
 * the dead state (no stack). Transitions are memoized per state and byte. */
#ifndef LOOM_GRAMMAR_AUTOMATON_INTERNAL_H
#define LOOM_GRAMMAR_AUTOMATON_INTERNAL_H

#include <pthread.h>

#include "grammar/gram_internal.h"

enum { GRAM_DEAD = 0, GRAM_ACCEPT_NODE = 0 };
/* Memory an automaton may use for its tables and masks before it refuses to grow. */
#define GRAM_AUTOMATON_BUDGET_BYTES ((int64_t)512 << 20)

typedef struct gram_trie_node {
    uint8_t byte;
    uint16_t depth;    /* 1 = a first byte */
    int32_t end;       /* index of the first node after this one's subtree */
    int32_t tok_first; /* tokens ending here: gram_vocab.sorted[tok_first .. tok_first + tok_count) */
    int32_t tok_count;
} gram_trie_node;

struct gram_vocab {
    int32_t n;
    char *bytes;
    uint32_t *off, *len;
    uint8_t *allowed_kind; /* 0 never allowed, 1 by its bytes, 2 an EOS id */
    int32_t *sorted;       /* token ids with bytes, sorted by bytes */
    int32_t n_sorted;
    gram_trie_node *trie; /* preorder */
    int32_t n_trie;
    int32_t max_len;
    int32_t *eos;
    int32_t n_eos;
};

typedef struct gram_node {
    int32_t pos, parent;
} gram_node;

typedef struct gram_state {
    int32_t first, count; /* node ids in gram_automaton.pool */
    uint32_t hash;
    uint8_t accepting;
    int32_t *trans; /* 256 next states, -1 = not computed yet; NULL until the first */
    uint64_t *mask; /* cached mask, NULL until computed */
} gram_state;

struct gram_automaton {
    pthread_mutex_t lock;
    int refs;
    gram_grammar *g;
    const gram_vocab *v;
    gram_node *nodes;
    int32_t n_nodes;
    size_t cap_nodes;
    int32_t *node_ht; /* open addressing, -1 empty */
    uint32_t node_ht_cap;
    int32_t *pool;
    int64_t n_pool;
    size_t cap_pool;
    gram_state *states;
    int32_t n_states;
    size_t cap_states;
    int32_t *state_ht;
    uint32_t state_ht_cap;
    int32_t initial;
    int64_t bytes_used, n_masks, n_transitions;
    /* scratch of one transition: the worklist of (pos, parent), the visited set, the result */
    int64_t *work;
    int32_t n_work;
    size_t cap_work;
    uint64_t *seen;
    uint32_t seen_cap, n_seen;
    int32_t *out;
    int32_t n_out;
    size_t cap_out;
    int32_t *walk; /* mask walk: the state at each trie depth */
    int over_budget;
};

/* The state after byte c from state s (GRAM_DEAD when none; -1 when out of memory). Caller holds the lock. */
int32_t gram_step_slow(gram_automaton *a, int32_t s, uint8_t c);
static inline int32_t gram_step(gram_automaton *a, int32_t s, uint8_t c) {
    const int32_t *t = a->states[s].trans;
    if (t && t[c] >= 0) return t[c];
    return gram_step_slow(a, s, c);
}
/* The cached mask of state s, computed on first use (NULL when out of memory). Caller holds the lock. */
const uint64_t *gram_state_mask(gram_automaton *a, int32_t s);
/* Counts allocated bytes against the budget; 0, or -1 (and over_budget) when it would be exceeded. */
int gram_charge(gram_automaton *a, int64_t bytes);

#endif
