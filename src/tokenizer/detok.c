/* Decoding as a stream: each token string goes through the decoder chain (Replace / Metaspace,
 * ByteFallback, ByteLevel, Strip), and the resulting bytes are released only as complete UTF-8.
 * Whole-sequence decode is the same stream pushed and flushed, so both always agree. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

struct loom_detok {
    const loom_tokenizer *t;
    int skip_special;
    size_t n_tokens; /* tokens that reached the decoder (after skipping) */
    int strip_left;  /* leading spaces still to strip from the text */
    tok_buf group;   /* bytes of the current run of <0xXX> tokens */
    tok_buf pending; /* decoded bytes not yet released (an incomplete UTF-8 tail) */
    tok_buf work;
};

void tok_decoder_free(tok_decoder *d) {
    for (size_t i = 0; i < d->n_replaces; i++) {
        free(d->replaces[i].from);
        free(d->replaces[i].to);
    }
    free(d->replaces);
    free(d->meta_first);
    memset(d, 0, sizeof *d);
}

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
            : c >= 'A' && c <= 'F'   ? c - 'A' + 10
            : c >= 'a' && c <= 'f'   ? c - 'a' + 10
                                     : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Appends decoded bytes to pending, applying the leading-space strip of the text. */
static int emit(loom_detok *d, const char *s, size_t n) {
    while (d->strip_left > 0 && n > 0) {
        if (*s != ' ') {
            d->strip_left = 0;
            break;
        }
        s++;
        n--;
        d->strip_left--;
    }
    return tok_buf_append(&d->pending, s, n);
}

/* A run of byte tokens ends: valid UTF-8 as is, else one U+FFFD per byte (HF ByteFallback). */
static int end_group(loom_detok *d) {
    int rc = 0;
    if (utf8_valid(d->group.data, d->group.len)) rc = emit(d, d->group.data, d->group.len);
    else
        for (size_t i = 0; i < d->group.len && !rc; i++) rc = emit(d, "\xEF\xBF\xBD", 3);
    d->group.len = 0;
    return rc;
}

/* Replaces every occurrence of from in w. */
static int replace_all(tok_buf *w, const char *from, size_t from_len, const char *to, size_t to_len) {
    tok_buf out = {0};
    for (size_t i = 0; i < w->len;) {
        const char *hit = from_len ? memmem(w->data + i, w->len - i, from, from_len) : NULL;
        size_t end = hit ? (size_t)(hit - w->data) : w->len;
        if (tok_buf_append(&out, w->data + i, end - i) || (hit && tok_buf_append(&out, to, to_len))) {
            tok_buf_free(&out);
            return -1;
        }
        i = hit ? end + from_len : w->len;
    }
    tok_buf_free(w);
    *w = out;
    return 0;
}

/* Runs one token string through the per-token steps into d->work. */
static int token_text(loom_detok *d, const char *s, size_t n) {
    const tok_decoder *dec = &d->t->dec;
    tok_buf *w = &d->work;
    w->len = 0;
    if (tok_buf_append(w, s, n)) return -1;
    /* HF's Metaspace decoder drops every replacement character of the first token */
    if (dec->meta_first_len && d->n_tokens == 0 && replace_all(w, dec->meta_first, dec->meta_first_len, "", 0))
        return -1;
    for (size_t r = 0; r < dec->n_replaces; r++)
        if (replace_all(w, dec->replaces[r].from, dec->replaces[r].from_len, dec->replaces[r].to,
                        dec->replaces[r].to_len))
            return -1;
    if (dec->byte_level) {
        tok_buf out = {0};
        if (tok_bytelevel_decode_append(&out, w->data ? w->data : "", w->len)) {
            tok_buf_free(&out);
            return -1;
        }
        tok_buf_free(w);
        *w = out;
    }
    return 0;
}

static int push_token(loom_detok *d, int32_t id) {
    const loom_tokenizer *t = d->t;
    if (d->skip_special && t->vocab.special[id]) return 0;
    size_t n;
    const char *s = tok_vocab_text(&t->vocab, id, &n);
    int b = t->dec.byte_fallback ? byte_token(s, n) : -1;
    if (b < 0 && d->group.len && end_group(d)) return -1;
    if (t->dec.join_space && d->n_tokens && emit(d, " ", 1)) return -1;
    if (b >= 0) {
        uint8_t c = (uint8_t)b;
        d->n_tokens++;
        return tok_buf_append(&d->group, &c, 1);
    }
    if (token_text(d, s, n)) return -1;
    d->n_tokens++;
    return emit(d, d->work.data ? d->work.data : "", d->work.len);
}

/* Moves the complete part of pending to *text_out (malloc'd); with final, the incomplete tail too. */
static int release(loom_detok *d, int final, char **text_out, size_t *len_out) {
    const uint8_t *p = (const uint8_t *)d->pending.data;
    size_t n = d->pending.len, keep = 0;
    if (!final) /* hold back a tail that may still become a character */
        for (size_t k = n < 3 ? n : 3; k > 0 && !keep; k--) keep = utf8_incomplete_len(p + n - k, k) == k ? k : 0;
    tok_buf out = {0};
    if (tok_buf_reserve(&out, n) || tok_utf8_append_lossy(&out, p, n - keep)) {
        tok_buf_free(&out);
        return -1;
    }
    if (keep) memmove(d->pending.data, p + n - keep, keep);
    d->pending.len = keep;
    *text_out = out.data;
    *len_out = out.len;
    return 0;
}

loom_status detok_create(const loom_tokenizer *t, int skip_special, loom_detok **out, loom_error *err) {
    loom_detok *d = calloc(1, sizeof *d);
    if (!d) return loom_fail(err, LOOM_ERR_NO_MEMORY, "detokenizer: out of memory");
    d->t = t;
    d->skip_special = skip_special;
    d->strip_left = t->dec.strip_start;
    *out = d;
    return LOOM_OK;
}

loom_status detok_push(loom_detok *d, int32_t id, char **text_out, size_t *len_out, loom_error *err) {
    *text_out = NULL;
    *len_out = 0;
    if (!tok_vocab_has(&d->t->vocab, id))
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "decode: token id %d out of range", (int)id);
    if (push_token(d, id) || release(d, 0, text_out, len_out))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "decode: out of memory");
    return LOOM_OK;
}

loom_status detok_flush(loom_detok *d, char **text_out, size_t *len_out, loom_error *err) {
    *text_out = NULL;
    *len_out = 0;
    if ((d->group.len && end_group(d)) || release(d, 1, text_out, len_out))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "decode: out of memory");
    return LOOM_OK;
}

void detok_free(loom_detok *d) {
    if (!d) return;
    tok_buf_free(&d->group);
    tok_buf_free(&d->pending);
    tok_buf_free(&d->work);
    free(d);
}

loom_status loom_tokenizer_decode(const loom_tokenizer *t, const int32_t *ids, size_t n, int skip_special,
                                  char **text_out, size_t *len_out, loom_error *err) {
    *text_out = NULL;
    *len_out = 0;
    loom_detok *d = NULL;
    loom_status st = detok_create(t, skip_special, &d, err);
    if (st) return st;
    tok_buf all = {0};
    char *piece = NULL;
    size_t len = 0;
    for (size_t i = 0; i <= n && !st; i++) {
        st = i < n ? detok_push(d, ids[i], &piece, &len, err) : detok_flush(d, &piece, &len, err);
        if (!st && tok_buf_append(&all, piece ? piece : "", len))
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "decode: out of memory");
        free(piece);
        piece = NULL;
    }
    detok_free(d);
    if (!st && !all.data && tok_buf_append(&all, "", 0))
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "decode: out of memory");
    if (st) {
        tok_buf_free(&all);
        return st;
    }
    *text_out = all.data;
    *len_out = all.len;
    return LOOM_OK;
}

loom_status tokenizer_token_bytes(const loom_tokenizer *t, char **bytes_out, uint32_t **off_out, uint32_t **len_out,
                                  uint8_t **special_out, loom_error *err) {
    int32_t n = t->vocab.n;
    loom_detok d = {.t = t, .n_tokens = 1}; /* mid-sequence: the first-token rules do not apply */
    tok_buf all = {0};
    uint32_t *off = calloc((size_t)n + 1, sizeof *off), *len = calloc((size_t)n + 1, sizeof *len);
    uint8_t *special = calloc((size_t)n + 1, 1);
    int rc = !off || !len || !special;
    for (int32_t id = 0; id < n && !rc; id++) {
        off[id] = (uint32_t)all.len;
        if (!tok_vocab_has(&t->vocab, id)) continue;
        special[id] = t->vocab.special[id];
        size_t sn;
        const char *s = tok_vocab_text(&t->vocab, id, &sn);
        int b = t->dec.byte_fallback ? byte_token(s, sn) : -1;
        if (b >= 0) {
            uint8_t c = (uint8_t)b;
            rc = tok_buf_append(&all, &c, 1);
        } else {
            rc = (t->dec.join_space && tok_buf_append(&all, " ", 1)) || token_text(&d, s, sn) ||
                tok_buf_append(&all, d.work.data ? d.work.data : "", d.work.len);
        }
        len[id] = (uint32_t)(all.len - off[id]);
    }
    tok_buf_free(&d.work);
    if (rc || tok_buf_append(&all, "", 0)) {
        tok_buf_free(&all);
        free(off);
        free(len);
        free(special);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "tokenizer: out of memory");
    }
    *bytes_out = all.data;
    *off_out = off;
    *len_out = len;
    *special_out = special;
    return LOOM_OK;
}
