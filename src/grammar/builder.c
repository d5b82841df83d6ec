/* The expression builder every compiler writes into (gram_internal.h), and UTF-8 code point ranges as
 * byte-class expressions. */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/utf8.h"
#include "grammar/gram_internal.h"

void gram_set_add_range(gram_set *s, unsigned lo, unsigned hi) {
    for (unsigned c = lo; c <= hi && c < 256; c++) gram_set_add(s, c);
}

int gram_set_empty(const gram_set *s) { return !(s->w[0] | s->w[1] | s->w[2] | s->w[3]); }

void gram_builder_free(gram_builder *b) {
    for (int32_t i = 0; i < b->n_rules; i++) free(b->rules[i].name);
    free(b->rules);
    free(b->exprs);
    free(b->kids);
    free(b->sets);
    memset(b, 0, sizeof *b);
}

int gram_reserve(void **items, size_t *cap, size_t need, size_t elem_bytes) {
    while (*cap < need)
        if (grow_array(items, cap, *cap, elem_bytes, 64)) return -1;
    return 0;
}

static int32_t new_expr(gram_builder *b, gram_expr e) {
    if (b->oom || gram_reserve((void **)&b->exprs, &b->cap_exprs, (size_t)b->n_exprs + 1, sizeof *b->exprs)) {
        b->oom = 1;
        return -1;
    }
    b->exprs[b->n_exprs] = e;
    return b->n_exprs++;
}

int32_t gram_x_empty(gram_builder *b) { return new_expr(b, (gram_expr){.kind = GX_EMPTY}); }
int32_t gram_x_nothing(gram_builder *b) { return new_expr(b, (gram_expr){.kind = GX_NOTHING}); }

int32_t gram_x_set(gram_builder *b, const gram_set *s) {
    if (gram_set_empty(s)) return gram_x_nothing(b);
    if (b->oom || gram_reserve((void **)&b->sets, &b->cap_sets, (size_t)b->n_sets + 1, sizeof *b->sets)) {
        b->oom = 1;
        return -1;
    }
    b->sets[b->n_sets] = *s;
    return new_expr(b, (gram_expr){.kind = GX_CHARS, .a = b->n_sets++});
}

int32_t gram_x_range(gram_builder *b, unsigned lo, unsigned hi) {
    gram_set s = {{0}};
    gram_set_add_range(&s, lo, hi);
    return gram_x_set(b, &s);
}

int32_t gram_x_byte(gram_builder *b, unsigned c) { return gram_x_range(b, c, c); }

int32_t gram_x_lit(gram_builder *b, const char *s, size_t n) {
    if (n == 0) return gram_x_empty(b);
    if (n == 1) return gram_x_byte(b, (uint8_t)s[0]);
    if (n > GRAM_MAX_ELEMS) {
        b->oom = 1;
        return -1;
    }
    int32_t *items = malloc(n * sizeof *items);
    if (!items) {
        b->oom = 1;
        return -1;
    }
    for (size_t i = 0; i < n; i++) items[i] = gram_x_byte(b, (uint8_t)s[i]);
    int32_t x = gram_x_seq(b, items, (int32_t)n);
    free(items);
    return x;
}

int32_t gram_x_str(gram_builder *b, const char *s) { return gram_x_lit(b, s, strlen(s)); }

static int32_t list(gram_builder *b, uint8_t kind, const int32_t *items, int32_t n) {
    for (int32_t i = 0; i < n; i++)
        if (items[i] < 0) b->oom = 1;
    if (b->oom || gram_reserve((void **)&b->kids, &b->cap_kids, (size_t)b->n_kids + (size_t)n, sizeof *b->kids)) {
        b->oom = 1;
        return -1;
    }
    int32_t first = b->n_kids;
    memcpy(b->kids + first, items, (size_t)n * sizeof *items);
    b->n_kids += n;
    return new_expr(b, (gram_expr){.kind = kind, .first = first, .count = n});
}

int32_t gram_x_seq(gram_builder *b, const int32_t *items, int32_t n) {
    if (n == 0) return gram_x_empty(b);
    if (n == 1) return items[0];
    return list(b, GX_SEQ, items, n);
}

/* An alternative of byte classes alone is one byte class (one branch for the matcher instead of n). */
int32_t gram_x_alt(gram_builder *b, const int32_t *items, int32_t n) {
    if (n == 0) return gram_x_nothing(b);
    if (n == 1) return items[0];
    int all_sets = 1;
    for (int32_t i = 0; i < n && all_sets; i++) all_sets = items[i] >= 0 && b->exprs[items[i]].kind == GX_CHARS;
    if (all_sets) {
        gram_set u = {{0}};
        for (int32_t i = 0; i < n; i++)
            for (int k = 0; k < 4; k++) u.w[k] |= b->sets[b->exprs[items[i]].a].w[k];
        return gram_x_set(b, &u);
    }
    return list(b, GX_ALT, items, n);
}

int32_t gram_x_seq2(gram_builder *b, int32_t x, int32_t y) { return gram_x_seq(b, (int32_t[]){x, y}, 2); }
int32_t gram_x_seq3(gram_builder *b, int32_t x, int32_t y, int32_t z) { return gram_x_seq(b, (int32_t[]){x, y, z}, 3); }
int32_t gram_x_alt2(gram_builder *b, int32_t x, int32_t y) { return gram_x_alt(b, (int32_t[]){x, y}, 2); }

int32_t gram_x_repeat(gram_builder *b, int32_t x, int32_t min, int32_t max) {
    if (x < 0) {
        b->oom = 1;
        return -1;
    }
    if (min == 1 && max == 1) return x;
    if (max == 0) return gram_x_empty(b);
    int32_t r = list(b, GX_REPEAT, &x, 1);
    if (r >= 0) {
        b->exprs[r].a = min;
        b->exprs[r].b = max;
    }
    return r;
}

int32_t gram_x_opt(gram_builder *b, int32_t x) { return gram_x_repeat(b, x, 0, 1); }

int32_t gram_x_ref(gram_builder *b, int32_t rule) {
    if (rule < 0) {
        b->oom = 1;
        return -1;
    }
    return new_expr(b, (gram_expr){.kind = GX_REF, .a = rule});
}

int32_t gram_rule_find(const gram_builder *b, const char *name, size_t name_len) {
    for (int32_t i = b->rule_scope; i < b->n_rules; i++)
        if (strlen(b->rules[i].name) == name_len && !memcmp(b->rules[i].name, name, name_len)) return i;
    return -1;
}

int32_t gram_rule_add(gram_builder *b, const char *name, size_t name_len) {
    if (b->oom || gram_reserve((void **)&b->rules, &b->cap_rules, (size_t)b->n_rules + 1, sizeof *b->rules)) {
        b->oom = 1;
        return -1;
    }
    char *s = malloc(name_len + 1);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    memcpy(s, name, name_len);
    s[name_len] = 0;
    b->rules[b->n_rules] = (gram_rule_def){.name = s, .expr = -1};
    return b->n_rules++;
}

void gram_rule_define(gram_builder *b, int32_t rule, int32_t expr) {
    if (rule < 0 || expr < 0) {
        b->oom = 1;
        return;
    }
    b->rules[rule].expr = expr;
}

/* ---- UTF-8 ---- */

int gram_hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0'
        : c >= 'a' && c <= 'f'  ? c - 'a' + 10
        : c >= 'A' && c <= 'F'  ? c - 'A' + 10
                                : -1;
}

static int all_bytes(const uint8_t *s, int n, uint8_t v) {
    for (int i = 0; i < n; i++)
        if (s[i] != v) return 0;
    return 1;
}

/* Byte strings of one length n between lo and hi (inclusive), continuation bytes 80-BF after the first. */
static int32_t same_len(gram_builder *b, const uint8_t *lo, const uint8_t *hi, int n) {
    if (n == 1) return gram_x_range(b, lo[0], hi[0]);
    if (lo[0] == hi[0]) return gram_x_seq2(b, gram_x_byte(b, lo[0]), same_len(b, lo + 1, hi + 1, n - 1));
    static const uint8_t min_cont[3] = {0x80, 0x80, 0x80}, max_cont[3] = {0xBF, 0xBF, 0xBF};
    int32_t alts[3];
    int k = 0;
    unsigned mid_lo = lo[0], mid_hi = hi[0];
    if (!all_bytes(lo + 1, n - 1, 0x80)) {
        alts[k++] = gram_x_seq2(b, gram_x_byte(b, lo[0]), same_len(b, lo + 1, max_cont, n - 1));
        mid_lo++;
    }
    int hi_alt = !all_bytes(hi + 1, n - 1, 0xBF);
    if (hi_alt) mid_hi--;
    if (mid_lo <= mid_hi) {
        int32_t tail = gram_x_repeat(b, gram_x_range(b, 0x80, 0xBF), n - 1, n - 1);
        alts[k++] = gram_x_seq2(b, gram_x_range(b, mid_lo, mid_hi), tail);
    }
    if (hi_alt) alts[k++] = gram_x_seq2(b, gram_x_byte(b, hi[0]), same_len(b, min_cont, hi + 1, n - 1));
    return gram_x_alt(b, alts, k);
}

/* Appends to alts the expressions of [lo, hi] split at the encoded-length boundaries and around the
 * surrogates; ASCII goes into *ascii instead. */
static int add_range(gram_builder *b, uint32_t lo, uint32_t hi, gram_set *ascii, int32_t **alts, int32_t *n,
                     size_t *cap) {
    static const uint32_t bounds[][2] = {
        {0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFF}, {0x10000, 0x10FFFF}};
    for (int i = 0; i < 5; i++) {
        uint32_t a = lo > bounds[i][0] ? lo : bounds[i][0], z = hi < bounds[i][1] ? hi : bounds[i][1];
        if (a > z) continue;
        if (i == 0) {
            gram_set_add_range(ascii, a, z);
            continue;
        }
        char el[4], eh[4];
        int len = (int)utf8_encode((int32_t)a, el);
        utf8_encode((int32_t)z, eh);
        if (gram_reserve((void **)alts, cap, (size_t)*n + 1, sizeof **alts)) return -1;
        (*alts)[(*n)++] = same_len(b, (const uint8_t *)el, (const uint8_t *)eh, len);
    }
    return 0;
}

int32_t gram_x_utf8_ranges(gram_builder *b, const gram_cp_range *r, int32_t n) {
    gram_set ascii = {{0}};
    int32_t *alts = NULL, n_alts = 0;
    size_t cap = 0;
    for (int32_t i = 0; i < n; i++)
        if (add_range(b, r[i].lo, r[i].hi > 0x10FFFF ? 0x10FFFF : r[i].hi, &ascii, &alts, &n_alts, &cap)) {
            free(alts);
            b->oom = 1;
            return -1;
        }
    int32_t x = -1;
    if (!gram_reserve((void **)&alts, &cap, (size_t)n_alts + 1, sizeof *alts)) {
        if (!gram_set_empty(&ascii)) alts[n_alts++] = gram_x_set(b, &ascii);
        x = gram_x_alt(b, alts, n_alts);
    } else b->oom = 1;
    free(alts);
    return x;
}

int32_t gram_x_utf8_except(gram_builder *b, const gram_cp_range *r, int32_t n) {
    gram_cp_range *c = malloc(((size_t)n + 1) * sizeof *c);
    if (!c) {
        b->oom = 1;
        return -1;
    }
    int32_t k = 0;
    uint32_t next = 0;
    for (int32_t i = 0; i < n; i++) {
        if (r[i].lo > next) c[k++] = (gram_cp_range){next, r[i].lo - 1};
        if (r[i].hi + 1 > next) next = r[i].hi + 1;
    }
    if (next <= 0x10FFFF) c[k++] = (gram_cp_range){next, 0x10FFFF};
    int32_t x = gram_x_utf8_ranges(b, c, k);
    free(c);
    return x;
}

/* ---- code point sets ---- */

int gram_cps_add(gram_cps *c, uint32_t lo, uint32_t hi) {
    if (c->n == c->cap) {
        int32_t cap = c->cap ? c->cap * 2 : 8;
        gram_cp_range *r = realloc(c->r, (size_t)cap * sizeof *r);
        if (!r) return -1;
        c->r = r;
        c->cap = cap;
    }
    c->r[c->n++] = (gram_cp_range){lo, hi};
    return 0;
}

static int cmp_range(const void *x, const void *y) {
    const gram_cp_range *a = x, *b = y;
    return (a->lo > b->lo) - (a->lo < b->lo);
}

void gram_cps_normalize(gram_cps *c) {
    if (c->n == 0) return;
    qsort(c->r, (size_t)c->n, sizeof *c->r, cmp_range);
    int32_t k = 0;
    for (int32_t i = 1; i < c->n; i++) {
        if (c->r[i].lo <= c->r[k].hi + 1) {
            if (c->r[i].hi > c->r[k].hi) c->r[k].hi = c->r[i].hi;
        } else c->r[++k] = c->r[i];
    }
    c->n = k + 1;
}

int gram_cps_complement(gram_cps *c, uint32_t limit) {
    gram_cps_normalize(c);
    gram_cps out = {0};
    uint32_t next = 0;
    for (int32_t i = 0; i < c->n && next <= limit; i++) {
        if (c->r[i].lo > next && gram_cps_add(&out, next, c->r[i].lo - 1 < limit ? c->r[i].lo - 1 : limit)) goto oom;
        if (c->r[i].hi + 1 > next) next = c->r[i].hi + 1;
    }
    if (next <= limit && gram_cps_add(&out, next, limit)) goto oom;
    free(c->r);
    *c = out;
    return 0;
oom:
    free(out.r);
    return -1;
}

size_t gram_utf8_decode(const char *s, size_t n, uint32_t *cp) {
    size_t len = utf8_seq_len((const uint8_t *)s, n);
    int32_t c = 0;
    if (len) utf8_decode(s, len, &c);
    *cp = (uint32_t)c;
    return len;
}
