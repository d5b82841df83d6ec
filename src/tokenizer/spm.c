/* SentencePiece BPE of one word, as sentencepiece / llama.cpp's SPM tokenizer: start from the word's
 * characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring vocab
 * piece (leftmost on ties); pieces left outside the vocab become <0xXX> byte tokens (or unk). */
#include <stdlib.h>

#include "tokenizer/tok_internal.h"

typedef struct sym {
    size_t off, len;
    int32_t prev, next;
} sym;
static int push_pair(const loom_tokenizer *t, tok_heap *h, const char *w, const sym *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    size_t len = s[left].len + s[right].len;
    int32_t id = tok_strmap_get(&t->vocab.model, w + s[left].off, len);
    if (id < 0) return 0;
    return tok_heap_push(h, (tok_cand){t->vocab.score[id], left, right, len});
}

/* Emits one final piece; *prev_unk tracks a just-emitted unk for fuse_unk (within the word). */
static int emit_piece(const loom_tokenizer *t, const char *p, size_t len, int *prev_unk, tok_ids *out) {
    int32_t id = tok_strmap_get(&t->vocab.model, p, len);
    int all_bytes = id < 0 && t->byte_fallback;
    for (size_t j = 0; all_bytes && j < len; j++) all_bytes = t->vocab.byte_tok[(uint8_t)p[j]] >= 0;
    if (id < 0 && !all_bytes) {
        if (t->unk_id < 0 || (t->fuse_unk && *prev_unk)) return 0;
        *prev_unk = 1;
        return tok_ids_push(out, t->unk_id);
    }
    *prev_unk = 0;
    if (id >= 0) return tok_ids_push(out, id);
    for (size_t j = 0; j < len; j++)
        if (tok_ids_push(out, t->vocab.byte_tok[(uint8_t)p[j]])) return -1;
    return 0;
}

int tok_spm_word(const loom_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    sym *s = malloc((n + 1) * sizeof *s);
    if (!s) return -1;
    int32_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const uint8_t *)w + i, n - i);
        if (!l) l = 1;
        s[k] = (sym){i, l, k - 1, i + l < n ? k + 1 : -1};
        k++;
        i += l;
    }
    tok_heap h = {0};
    int rc = 0;
    for (int32_t i = 1; i < k && !rc; i++) rc = push_pair(t, &h, w, s, i - 1, i);
    while (!rc && h.n) {
        tok_cand c = tok_heap_pop(&h);
        sym *l = &s[c.pos], *r = &s[c.aux];
        if (l->len == 0 || r->len == 0 || l->len + r->len != c.len || l->next != c.aux) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = c.pos;
        rc = push_pair(t, &h, w, s, l->prev, c.pos);
        if (!rc) rc = push_pair(t, &h, w, s, c.pos, l->next);
    }
    int prev_unk = 0;
    for (int32_t i = k ? 0 : -1; !rc && i >= 0; i = s[i].next)
        rc = emit_piece(t, w + s[i].off, s[i].len, &prev_unk, out);
    free(h.d);
    free(s);
    return rc;
}
