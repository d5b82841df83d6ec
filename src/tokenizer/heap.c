/* Binary heap of merge candidates shared by the BPE and SentencePiece merge loops. */
#include <stdlib.h>

#include "core/grow.h"
#include "tokenizer/tok_internal.h"

static int better(const tok_cand *a, const tok_cand *b) {
    return a->prio != b->prio ? a->prio > b->prio : a->pos < b->pos;
}

int tok_heap_push(tok_heap *h, tok_cand c) {
    if (grow(&h->d, &h->cap, h->n, sizeof *h->d, 16)) return -1;
    size_t i = h->n++;
    while (i > 0 && better(&c, &h->d[(i - 1) / 2])) {
        h->d[i] = h->d[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->d[i] = c;
    return 0;
}

tok_cand tok_heap_pop(tok_heap *h) {
    tok_cand top = h->d[0], last = h->d[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && better(&h->d[c + 1], &h->d[c])) c++;
        if (!better(&h->d[c], &last)) break;
        h->d[i] = h->d[c];
        i = c;
    }
    if (h->n) h->d[i] = last;
    return top;
}
