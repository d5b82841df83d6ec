/* Pre-tokenizers: Split (regex, with HF's split behaviours), ByteLevel (optional GPT-2 regex, then the
 * byte → character map), Digits, Punctuation, Metaspace, WhitespaceSplit. Each step turns every piece
 * into zero or more pieces; empty pieces are dropped, as in HF's PreTokenizedString::split. */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "tokenizer/tok_internal.h"

/* Oniguruma's \s (HF compiles patterns with Oniguruma): \t \n \v \f \r, U+0085 and Z*. */
#define ONIG_SPACE "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}"

pcre2_code *tok_regex_compile(const char *pattern, size_t len, loom_error *err) {
    tok_buf src = {0};
    int in_class = 0, ok = 0;
    for (size_t i = 0; i < len; i++) {
        char c = pattern[i];
        if (c == '\\' && i + 1 < len) {
            char e = pattern[++i];
            if (e == 's')
                ok = tok_buf_append(&src, in_class ? ONIG_SPACE : "[" ONIG_SPACE "]",
                                    strlen(ONIG_SPACE) + (in_class ? 0 : 2));
            else if (e == 'S' && !in_class) ok = tok_buf_append(&src, "[^" ONIG_SPACE "]", strlen(ONIG_SPACE) + 3);
            else ok = tok_buf_append(&src, pattern + i - 1, 2);
        } else {
            if (c == '[' && !in_class) in_class = 1;
            else if (c == ']' && in_class) in_class = 0;
            ok = tok_buf_append(&src, &c, 1);
        }
        if (ok) {
            tok_buf_free(&src);
            loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory compiling a regex");
            return NULL;
        }
    }
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(src.data ? src.data : ""), src.len,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &code, &at, NULL);
    tok_buf_free(&src);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        loom_fail(err, LOOM_ERR_UNSUPPORTED, "pre-tokenizer regex \"%.*s\": %s", (int)(len > 200 ? 200 : len), pattern,
                  (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is unavailable */
    return re;
}

pcre2_code *tok_regex_gpt2(loom_error *err) {
    static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    return tok_regex_compile(gpt2, sizeof gpt2 - 1, err);
}

void tok_pre_step_free(tok_pre_step *s) {
    if (s->re) pcre2_code_free(s->re);
    s->re = NULL;
}

/* ---- matches: spans covering the text, each flagged as a match of the pattern or not ---- */
typedef struct span {
    size_t s, e;
    int m;
} span;
typedef struct spans {
    span *d;
    size_t n, cap;
} spans;

static int span_push(spans *v, size_t s, size_t e, int m) {
    if (grow(&v->d, &v->cap, v->n, sizeof *v->d, 16)) return -1;
    v->d[v->n++] = (span){s, e, m};
    return 0;
}

static int regex_matches(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t n, spans *out) {
    size_t prev = 0, pos = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return -1;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (prev != ms && span_push(out, prev, ms, 0)) return -1;
        if (span_push(out, ms, me, 1)) return -1;
        prev = me;
        if (me > ms) pos = me;
        else if (ms >= n) break;
        else pos = ms + utf8_seq_len((const uint8_t *)s + ms, n - ms);
    }
    if (prev != n && span_push(out, prev, n, 0)) return -1;
    return 0;
}

enum { CHARS_DIGIT, CHARS_PUNCT, CHARS_SPACE, CHARS_METASPACE };

/* Every character of the class is a match of its own; the runs between are non-matches. */
static int char_matches(int cls, const tok_pre_step *st, const char *s, size_t n, spans *out) {
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        int hit = cls == CHARS_DIGIT ? tok_cp_is_numeric(cp)
            : cls == CHARS_PUNCT     ? tok_cp_is_punctuation(cp)
            : cls == CHARS_SPACE     ? tok_cp_is_whitespace(cp)
                                     : (l == st->repl_len && memcmp(s + i, st->repl, l) == 0);
        if (hit) {
            if (last < i && span_push(out, last, i, 0)) return -1;
            if (span_push(out, i, i + l, 1)) return -1;
            last = i + l;
        }
        i += l;
    }
    if (last < n && span_push(out, last, n, 0)) return -1;
    return 0;
}

/* HF NormalizedString::split: turns the spans into the kept pieces (m = 1 marks "removed"). */
static void apply_behavior(spans *v, int behavior, int invert) {
    size_t k = 0;
    int prev_match = 0;
    if (invert)
        for (size_t i = 0; i < v->n; i++) v->d[i].m = !v->d[i].m;
    size_t carry = SIZE_MAX; /* MERGED_NEXT: start of a match joining the next non-match */
    for (size_t i = 0; i < v->n; i++) {
        span sp = v->d[i];
        switch (behavior) {
            case TOK_SPLIT_REMOVED: v->d[k++] = sp; break;
            case TOK_SPLIT_ISOLATED: v->d[k++] = (span){sp.s, sp.e, 0}; break;
            case TOK_SPLIT_MERGED_NEXT:
                if (sp.m && i + 1 < v->n && !v->d[i + 1].m) {
                    if (carry == SIZE_MAX) carry = sp.s;
                } else {
                    v->d[k++] = (span){carry == SIZE_MAX ? sp.s : carry, sp.e, 0};
                    carry = SIZE_MAX;
                }
                break;
            case TOK_SPLIT_CONTIGUOUS:
                if (sp.m == prev_match && k) v->d[k - 1].e = sp.e;
                else v->d[k++] = (span){sp.s, sp.e, 0};
                break;
            default: /* MERGED_PREV */
                if (sp.m && !prev_match && k) v->d[k - 1].e = sp.e;
                else v->d[k++] = (span){sp.s, sp.e, 0};
        }
        prev_match = sp.m;
    }
    v->n = k;
}

static int piece_push(tok_pieces *v, size_t off, size_t len, int at_start) {
    if (!len) return 0;
    if (grow(&v->data, &v->cap, v->len, sizeof *v->data, 16)) return -1;
    v->data[v->len++] = (tok_piece){off, len, at_start};
    return 0;
}

/* Splits piece p by a pattern (regex re, or character class cls) and behaviour. */
static int split_piece(const tok_pre_step *st, const pcre2_code *re, int cls, int behavior, tok_buf *arena, tok_piece p,
                       pcre2_match_data *md, spans *sp, tok_pieces *out) {
    sp->n = 0;
    const char *s = arena->data + p.off;
    int rc = re ? regex_matches(re, md, s, p.len, sp) : char_matches(cls, st, s, p.len, sp);
    if (rc) return -1;
    apply_behavior(sp, behavior, st->invert);
    for (size_t i = 0; i < sp->n; i++)
        if (!sp->d[i].m && piece_push(out, p.off + sp->d[i].s, sp->d[i].e - sp->d[i].s, p.at_start && sp->d[i].s == 0))
            return -1;
    return 0;
}

/* Appends prefix + map(text of p) to the arena as the new text of p. Maps write at most two bytes per
 * input byte, so reserving first keeps the source pointer (into the arena) valid. */
static int rewrite(tok_buf *arena, tok_piece *p, const char *prefix, size_t prefix_len,
                   int (*map)(tok_buf *, const char *, size_t)) {
    size_t off = arena->len;
    if (tok_buf_reserve(arena, prefix_len + 2 * p->len)) return -1;
    tok_buf_append(arena, prefix, prefix_len);
    if (map(arena, arena->data + p->off, p->len)) return -1;
    p->off = off;
    p->len = arena->len - off;
    return 0;
}

static int append_text(tok_buf *out, const char *s, size_t n) { return tok_buf_append(out, s, n); }

static int step_piece(const tok_pre_step *st, tok_buf *arena, tok_piece p, pcre2_match_data *md, spans *sp,
                      tok_pieces *out) {
    switch (st->kind) {
        case TOK_PRE_SPLIT: return split_piece(st, st->re, 0, st->behavior, arena, p, md, sp, out);
        case TOK_PRE_DIGITS:
            return split_piece(st, NULL, CHARS_DIGIT, st->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS,
                               arena, p, md, sp, out);
        case TOK_PRE_PUNCT: return split_piece(st, NULL, CHARS_PUNCT, st->behavior, arena, p, md, sp, out);
        case TOK_PRE_WHITESPACE_SPLIT:
            return split_piece(st, NULL, CHARS_SPACE, TOK_SPLIT_REMOVED, arena, p, md, sp, out);
        case TOK_PRE_BYTELEVEL: {
            if (st->add_prefix_space && arena->data[p.off] != ' ' && rewrite(arena, &p, " ", 1, append_text)) return -1;
            size_t first = out->len;
            if (st->re) {
                if (split_piece(st, st->re, 0, TOK_SPLIT_ISOLATED, arena, p, md, sp, out)) return -1;
            } else if (piece_push(out, p.off, p.len, p.at_start)) {
                return -1;
            }
            for (size_t i = first; i < out->len; i++)
                if (rewrite(arena, &out->data[i], "", 0, tok_bytelevel_append)) return -1;
            return 0;
        }
        default: { /* METASPACE */
            size_t off = arena->len;
            int starts = arena->data[p.off] == ' ' ||
                (p.len >= st->repl_len && memcmp(arena->data + p.off, st->repl, st->repl_len) == 0);
            int prepend = !starts &&
                (st->prepend_scheme == TOK_PREPEND_ALWAYS || (st->prepend_scheme == TOK_PREPEND_FIRST && p.at_start));
            if (prepend && tok_buf_append(arena, st->repl, st->repl_len)) return -1;
            for (size_t i = 0; i < p.len; i++) {
                char c = arena->data[p.off + i];
                if (c == ' ' ? tok_buf_append(arena, st->repl, st->repl_len) : tok_buf_append(arena, &c, 1)) return -1;
            }
            tok_piece q = {off, arena->len - off, p.at_start};
            if (!st->split) return piece_push(out, q.off, q.len, q.at_start);
            return split_piece(st, NULL, CHARS_METASPACE, TOK_SPLIT_MERGED_NEXT, arena, q, md, sp, out);
        }
    }
}

int tok_pretokenize(const tok_pre_step *steps, size_t n_steps, tok_buf *arena, tok_piece p, pcre2_match_data *md,
                    tok_pieces *out) {
    tok_pieces cur = {0}, next = {0};
    spans sp = {0};
    int rc = piece_push(&cur, p.off, p.len, p.at_start);
    for (size_t i = 0; !rc && i < n_steps; i++) {
        next.len = 0;
        for (size_t j = 0; !rc && j < cur.len; j++) rc = step_piece(&steps[i], arena, cur.data[j], md, &sp, &next);
        tok_pieces t = cur;
        cur = next;
        next = t;
    }
    for (size_t j = 0; !rc && j < cur.len; j++)
        rc = piece_push(out, cur.data[j].off, cur.data[j].len, cur.data[j].at_start);
    free(cur.data);
    free(next.data);
    free(sp.d);
    return rc;
}
