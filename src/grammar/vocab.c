/* The vocabulary as bytes, and its trie: tokens sorted by bytes, one trie node per distinct prefix in
 * preorder, so a mask walks each shared prefix once and skips a dead subtree in one jump. */
#include <stdlib.h>
#include <string.h>

#include "grammar/automaton_internal.h"

void gram_vocab_free(gram_vocab *v) {
    if (!v) return;
    free(v->bytes);
    free(v->off);
    free(v->len);
    free(v->allowed_kind);
    free(v->sorted);
    free(v->trie);
    free(v->eos);
    free(v);
}

int32_t gram_vocab_size(const gram_vocab *v) { return v->n; }
size_t gram_vocab_mask_words(const gram_vocab *v) { return ((size_t)v->n + 63) / 64; }

const char *gram_vocab_token(const gram_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n || v->allowed_kind[id] != 1) return NULL;
    *len = v->len[id];
    return v->bytes + v->off[id];
}

static const gram_vocab *sort_vocab; /* qsort has no context argument; set only under sort_lock */
static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int cmp_tokens(const void *x, const void *y) {
    const gram_vocab *v = sort_vocab;
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    uint32_t la = v->len[a], lb = v->len[b];
    int c = memcmp(v->bytes + v->off[a], v->bytes + v->off[b], la < lb ? la : lb);
    if (c) return c;
    if (la != lb) return la < lb ? -1 : 1;
    return (a > b) - (a < b);
}

static int build_trie(gram_vocab *v) {
    pthread_mutex_lock(&sort_lock);
    sort_vocab = v;
    qsort(v->sorted, (size_t)v->n_sorted, sizeof *v->sorted, cmp_tokens);
    sort_vocab = NULL;
    pthread_mutex_unlock(&sort_lock);
    size_t total = 0;
    for (int32_t i = 0; i < v->n_sorted; i++) total += v->len[v->sorted[i]];
    v->trie = malloc((total + 1) * sizeof *v->trie);
    int32_t *open = malloc(((size_t)v->max_len + 1) * sizeof *open); /* node of each depth on the path */
    if (!v->trie || !open) {
        free(open);
        return -1;
    }
    int32_t n = 0, depth = 0; /* depth: nodes open on the current path */
    for (int32_t i = 0; i < v->n_sorted; i++) {
        int32_t id = v->sorted[i];
        const uint8_t *s = (const uint8_t *)v->bytes + v->off[id];
        int32_t len = (int32_t)v->len[id], lcp = 0;
        if (i > 0) {
            int32_t prev = v->sorted[i - 1];
            const uint8_t *p = (const uint8_t *)v->bytes + v->off[prev];
            int32_t pl = (int32_t)v->len[prev];
            while (lcp < pl && lcp < len && p[lcp] == s[lcp]) lcp++;
        }
        while (depth > lcp) v->trie[open[--depth]].end = n; /* close the prefix's subtrees left behind */
        for (; depth < len; depth++) {
            v->trie[n] = (gram_trie_node){.byte = s[depth], .depth = (uint16_t)(depth + 1), .tok_first = i};
            open[depth] = n++;
        }
        v->trie[open[len - 1]].tok_count++;
    }
    while (depth > 0) v->trie[open[--depth]].end = n;
    v->n_trie = n;
    free(open);
    return 0;
}

loom_status gram_vocab_create(int32_t n, const char *bytes, const uint32_t *off, const uint32_t *len,
                              const uint8_t *special, const int32_t *eos_ids, int32_t n_eos, gram_vocab **out,
                              loom_error *err) {
    *out = NULL;
    gram_vocab *v = calloc(1, sizeof *v);
    if (!v) return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar vocabulary: out of memory");
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        if (!special || !special[i]) total += len[i];
    v->n = n;
    v->bytes = malloc(total + 1);
    v->off = calloc((size_t)n + 1, sizeof *v->off);
    v->len = calloc((size_t)n + 1, sizeof *v->len);
    v->allowed_kind = calloc((size_t)n + 1, 1);
    v->sorted = malloc(((size_t)n + 1) * sizeof *v->sorted);
    v->eos = malloc(((size_t)n_eos + 1) * sizeof *v->eos);
    if (!v->bytes || !v->off || !v->len || !v->allowed_kind || !v->sorted || !v->eos) {
        gram_vocab_free(v);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar vocabulary: out of memory");
    }
    size_t at = 0;
    for (int32_t i = 0; i < n; i++) {
        /* a token of no bytes would leave the state unchanged: allowing it would let a model loop on it */
        if ((special && special[i]) || len[i] == 0 || len[i] > 65535) continue;
        memcpy(v->bytes + at, bytes + off[i], len[i]);
        v->off[i] = (uint32_t)at;
        v->len[i] = len[i];
        at += len[i];
        v->allowed_kind[i] = 1;
        v->sorted[v->n_sorted++] = i;
        if ((int32_t)len[i] > v->max_len) v->max_len = (int32_t)len[i];
    }
    for (int32_t i = 0; i < n_eos; i++) {
        if (eos_ids[i] < 0 || eos_ids[i] >= n) {
            gram_vocab_free(v);
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "grammar vocabulary: EOS id %d out of range", (int)eos_ids[i]);
        }
        v->allowed_kind[eos_ids[i]] = 2;
        v->eos[v->n_eos++] = eos_ids[i];
    }
    /* an EOS id is never allowed by its bytes */
    int32_t k = 0;
    for (int32_t i = 0; i < v->n_sorted; i++)
        if (v->allowed_kind[v->sorted[i]] == 1) v->sorted[k++] = v->sorted[i];
    v->n_sorted = k;
    if (build_trie(v)) {
        gram_vocab_free(v);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "grammar vocabulary: out of memory");
    }
    *out = v;
    return LOOM_OK;
}
