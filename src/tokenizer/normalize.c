/* Normalizers: Unicode forms (utf8proc), Lowercase, Prepend, Replace (string pattern), Strip. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

static int unicode_form(int kind, const char *s, size_t n, tok_buf *out) {
    int opts = UTF8PROC_STABLE;
    if (kind == TOK_NORM_NFC || kind == TOK_NORM_NFKC) opts |= UTF8PROC_COMPOSE;
    else opts |= UTF8PROC_DECOMPOSE;
    if (kind == TOK_NORM_NFKC || kind == TOK_NORM_NFKD) opts |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *res = NULL;
    utf8proc_ssize_t len =
        utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &res, (utf8proc_option_t)opts);
    if (len < 0) return -1;
    int rc = tok_buf_append(out, res, (size_t)len);
    free(res);
    return rc;
}

static int lowercase(const char *s, size_t n, tok_buf *out) {
    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        char enc[4];
        if (tok_buf_append(out, enc, utf8_encode(utf8proc_tolower(cp), enc))) return -1;
    }
    return 0;
}

static int replace(const tok_norm_step *st, const char *s, size_t n, tok_buf *out) {
    size_t i = 0;
    while (i < n) {
        const char *hit = st->a_len ? memmem(s + i, n - i, st->a, st->a_len) : NULL;
        size_t end = hit ? (size_t)(hit - s) : n;
        if (tok_buf_append(out, s + i, end - i)) return -1;
        if (!hit) break;
        if (tok_buf_append(out, st->b, st->b_len)) return -1;
        i = end + st->a_len;
    }
    return 0;
}

static int strip(const tok_norm_step *st, const char *s, size_t n, tok_buf *out) {
    size_t b = 0, e = n;
    int32_t cp;
    while (st->left && b < e) {
        size_t l = utf8_decode(s + b, e - b, &cp);
        if (!tok_cp_is_whitespace(cp)) break;
        b += l;
    }
    while (st->right && e > b) {
        size_t p = e - 1;
        while (p > b && ((uint8_t)s[p] & 0xC0) == 0x80) p--;
        utf8_decode(s + p, e - p, &cp);
        if (!tok_cp_is_whitespace(cp)) break;
        e = p;
    }
    return tok_buf_append(out, s + b, e - b);
}

static int apply(const tok_norm_step *st, const char *s, size_t n, tok_buf *out) {
    switch (st->kind) {
        case TOK_NORM_LOWERCASE: return lowercase(s, n, out);
        case TOK_NORM_PREPEND:
            if (n && tok_buf_append(out, st->a, st->a_len)) return -1;
            return tok_buf_append(out, s, n);
        case TOK_NORM_REPLACE: return replace(st, s, n, out);
        case TOK_NORM_STRIP: return strip(st, s, n, out);
        default: return unicode_form(st->kind, s, n, out);
    }
}

int tok_normalize(const tok_norm_step *steps, size_t n_steps, const char *s, size_t n, tok_buf *out) {
    tok_buf tmp = {0};
    out->len = 0;
    if (tok_buf_append(out, s, n)) return -1;
    for (size_t i = 0; i < n_steps; i++) {
        tmp.len = 0;
        if (apply(&steps[i], out->data, out->len, &tmp)) {
            tok_buf_free(&tmp);
            return -1;
        }
        tok_buf swap = *out;
        *out = tmp;
        tmp = swap;
    }
    tok_buf_free(&tmp);
    return 0;
}
