/* Rank-ordered BPE of one word, as HF `tokenizers` BPE::merge_word does: symbols are the word's
 * characters (unknown ones → <0xXX> byte tokens with byte_fallback, else the unk token, fused when
 * fuse_unk); then the lowest-rank adjacent pair (leftmost on ties) is merged until none is left.
 * A binary heap of candidate pairs over a linked list of symbols keeps this O(n log n). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

typedef struct sym {
    int32_t id, prev, next, alive;
} sym;
static int push_pair(const loom_tokenizer *t, tok_heap *h, const sym *s, int32_t pos) {
    int32_t rank, new_id;
    if (pos < 0 || s[pos].next < 0) return 0;
    if (!tok_pairmap_get(&t->merges, s[pos].id, s[s[pos].next].id, &rank, &new_id)) return 0;
    return tok_heap_push(h, (tok_cand){-(double)rank, pos, new_id, 0});
}

/* Initial symbols of the word. */
static int split_chars(const loom_tokenizer *t, const char *w, size_t n, sym **out, size_t *n_out) {
    sym *s = malloc((n + 1) * sizeof *s);
    if (!s) return -1;
    size_t k = 0;
    int32_t unk_pending = 0; /* a fused unk waits to be emitted */
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const uint8_t *)w + i, n - i);
        if (!l) l = 1;
        int32_t id = tok_strmap_get(&t->vocab.model, w + i, l);
        if (id >= 0) {
            if (unk_pending) {
                s[k++] = (sym){t->unk_id, 0, 0, 1};
                unk_pending = 0;
            }
            s[k++] = (sym){id, 0, 0, 1};
        } else {
            int all_bytes = t->byte_fallback;
            for (size_t j = 0; all_bytes && j < l; j++) all_bytes = t->vocab.byte_tok[(uint8_t)w[i + j]] >= 0;
            if (all_bytes) {
                for (size_t j = 0; j < l; j++) s[k++] = (sym){t->vocab.byte_tok[(uint8_t)w[i + j]], 0, 0, 1};
            } else if (t->unk_id >= 0) {
                if (unk_pending && !t->fuse_unk) s[k++] = (sym){t->unk_id, 0, 0, 1};
                unk_pending = 1;
            }
        }
        i += l;
    }
    if (unk_pending) s[k++] = (sym){t->unk_id, 0, 0, 1};
    for (size_t i = 0; i < k; i++) {
        s[i].prev = (int32_t)i - 1;
        s[i].next = i + 1 < k ? (int32_t)i + 1 : -1;
    }
    *out = s;
    *n_out = k;
    return 0;
}

int tok_bpe_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab.model, w, n);
        if (id >= 0) return tok_ids_push(out, id);
    }
    sym *s;
    size_t k;
    if (split_chars(t, w, n, &s, &k)) return -1;
    tok_heap h = {0};
    int rc = 0;
    for (size_t i = 0; i + 1 < k && !rc; i++) rc = push_pair(t, &h, s, (int32_t)i);
    while (!rc && h.n) {
        tok_cand c = tok_heap_pop(&h);
        sym *l = &s[c.pos];
        if (!l->alive || l->next < 0) continue;
        int32_t rank, new_id;
        if (!tok_pairmap_get(&t->merges, l->id, s[l->next].id, &rank, &new_id) || new_id != c.aux) continue;
        sym *r = &s[l->next];
        l->id = c.aux;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.pos;
        rc = push_pair(t, &h, s, l->prev);
        if (!rc) rc = push_pair(t, &h, s, c.pos);
    }
    for (int32_t i = k ? 0 : -1; !rc && i >= 0; i = s[i].next) rc = tok_ids_push(out, s[i].id);
    free(h.d);
    free(s);
    return rc;
}

int tok_bpe_add_merge(loom_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int32_t rank) {
    int32_t ia = tok_strmap_get(&t->vocab.model, a, alen), ib = tok_strmap_get(&t->vocab.model, b, blen);
    if (ia < 0 || ib < 0 || alen + blen > 4096) return 1;
    char joined[4096];
    memcpy(joined, a, alen);
    memcpy(joined + alen, b, blen);
    int32_t id = tok_strmap_get(&t->vocab.model, joined, alen + blen);
    if (id < 0) return 1;
    return tok_pairmap_put(&t->merges, ia, ib, rank, id);
}

int tok_bpe_add_merge_line(loom_tokenizer *t, const char *line, size_t len, int32_t rank) {
    const char *sp = len > 1 ? memchr(line + 1, ' ', len - 1) : NULL;
    if (!sp) return 1;
    size_t alen = (size_t)(sp - line);
    return tok_bpe_add_merge(t, line, alen, sp + 1, len - alen - 1, rank);
}
