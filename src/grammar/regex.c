/* Regular expressions -> grammar expressions. The common subset of ECMA-262 (JSON Schema's dialect) and
 * Python's re: literals (UTF-8), escapes (\n \t \r \f \v \0 \xHH \uHHHH \u{H..}, escaped punctuation),
 * classes with ranges and negation, . \d \w \s \D \W \S, groups ( ) (?: ) (?<name> ) (?P<name> ),
 * alternation, quantifiers * + ? {m} {m,} {m,n} (lazy / possessive suffixes accepted: same language),
 * ^ at the start and $ at the end of a top-level alternative.
 *
 * Where the two dialects disagree, the grammar generates only strings both accept: \d \w \s are ASCII,
 * and their negations \D \W \S (also inside classes) match ASCII characters only (\S not \x1c-\x1f, which
 * Python counts as space); . matches any character but \n, \r, U+2028, U+2029. Lookaround,
 * backreferences, \b, \p{..} and flags are refused with a message giving the offset. */
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"

typedef struct rx {
    gram_builder *b;
    const char *s;
    size_t n, i;
    int json_string, search;
    int depth;
    loom_error *err;
    loom_status st;
} rx;

static int fail(rx *p, const char *what) {
    if (p->st == LOOM_OK) p->st = loom_fail(p->err, LOOM_ERR_INVALID_ARG, "regex: %s at offset %zu", what, p->i);
    return -1;
}

/* Adds the class of shorthand escape e (d w s D W S) to c; negated ones within ASCII (see top). */
static int add_shorthand(gram_cps *c, char e) {
    gram_cps t = {0};
    int rc = 0;
    switch (e | 0x20) {
        case 'd': rc = gram_cps_add(&t, '0', '9'); break;
        case 'w':
            rc = gram_cps_add(&t, '0', '9') || gram_cps_add(&t, 'A', 'Z') || gram_cps_add(&t, 'a', 'z') ||
                gram_cps_add(&t, '_', '_');
            break;
        case 's': rc = gram_cps_add(&t, '\t', '\r') || gram_cps_add(&t, ' ', ' '); break;
    }
    /* Python's \s also has \x1c-\x1f (ECMA's has not): \S leaves them out too, so both dialects agree */
    if (!rc && e == 'S') rc = gram_cps_add(&t, 0x1c, 0x1f);
    if (!rc && e >= 'A' && e <= 'Z') {
        gram_cps_normalize(&t);
        rc = gram_cps_complement(&t, 0x7F);
    }
    for (int32_t i = 0; i < t.n && !rc; i++) rc = gram_cps_add(c, t.r[i].lo, t.r[i].hi);
    free(t.r);
    return rc;
}

/* Reads the UTF-8 character at p->i; -1 when invalid. */
static int64_t read_utf8(rx *p) {
    uint32_t cp;
    size_t len = gram_utf8_decode(p->s + p->i, p->n - p->i, &cp);
    if (!len) return -1;
    p->i += len;
    return cp;
}

/* Reads n hex digits (or {h..} when braces); -1 when malformed. */
static int64_t read_hex(rx *p, int n, int braces) {
    uint32_t v = 0;
    if (braces) {
        p->i++;
        int k = 0;
        while (p->i < p->n && p->s[p->i] != '}' && k < 7) {
            int h = gram_hex_digit(p->s[p->i]);
            if (h < 0) return -1;
            v = v * 16 + (uint32_t)h;
            p->i++;
            k++;
        }
        if (p->i >= p->n || p->s[p->i] != '}' || k == 0) return -1;
        p->i++;
        return v > 0x10FFFF ? -1 : (int64_t)v;
    }
    for (int k = 0; k < n; k++) {
        if (p->i >= p->n || gram_hex_digit(p->s[p->i]) < 0) return -1;
        v = v * 16 + (uint32_t)gram_hex_digit(p->s[p->i++]);
    }
    return v;
}

/* An escape after '\' (p->i at the character after it): a code point >= 0, or -2 when it was a
 * shorthand class added to cls, or -1 on error. */
static int64_t read_escape(rx *p, gram_cps *cls) {
    if (p->i >= p->n) return fail(p, "trailing backslash");
    char e = p->s[p->i];
    if (strchr("dDwWsS", e)) {
        p->i++;
        if (add_shorthand(cls, e)) return fail(p, "out of memory");
        return -2;
    }
    static const char simple_from[] = "nrtfv0", simple_to[] = "\n\r\t\f\v";
    const char *hit = e ? strchr(simple_from, e) : NULL;
    if (hit) {
        p->i++;
        return (uint8_t)simple_to[hit - simple_from]; /* "0" maps to the terminating NUL */
    }
    if (e == 'x') {
        p->i++;
        int64_t v = read_hex(p, 2, 0);
        return v < 0 ? fail(p, "bad \\x escape") : v;
    }
    if (e == 'u') {
        p->i++;
        int64_t v = read_hex(p, 4, p->i < p->n && p->s[p->i] == '{');
        if (v < 0 || (v >= 0xD800 && v <= 0xDFFF)) return fail(p, "bad or surrogate \\u escape");
        return v;
    }
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '1' && e <= '9')) {
        if (e == 'b' || e == 'B') return fail(p, "word boundaries (\\b, \\B) are not supported");
        if (e == 'p' || e == 'P') return fail(p, "Unicode properties (\\p) are not supported");
        if (e >= '1' && e <= '9') return fail(p, "backreferences are not supported");
        return fail(p, "unknown escape");
    }
    int64_t cp = read_utf8(p); /* escaped punctuation or any other character: itself */
    return cp < 0 ? fail(p, "invalid UTF-8") : cp;
}

/* The expression for one character of class c (normalized): UTF-8, or JSON-escaped in a JSON string. */
static int32_t emit_class(rx *p, gram_cps *c) {
    gram_cps_normalize(c);
    gram_builder *b = p->b;
    if (!p->json_string) return gram_x_utf8_ranges(b, c->r, c->n);
    /* in a JSON string: '"' and '\' escaped, control characters as \b \f \n \r \t or \u00XX */
    gram_set plain = {{0}};
    int32_t alts[40], n = 0;
    gram_cps wide = {0};
    for (int32_t i = 0; i < c->n; i++) {
        for (uint32_t cp = c->r[i].lo; cp <= c->r[i].hi && cp < 0x80; cp++) {
            if (cp == '"' || cp == '\\') alts[n++] = gram_x_lit(b, cp == '"' ? "\\\"" : "\\\\", 2);
            else if (cp >= 0x20) gram_set_add(&plain, cp);
            else {
                static const char short_esc[] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't'};
                char buf[8];
                size_t len;
                if (cp < sizeof short_esc && short_esc[cp]) {
                    buf[0] = '\\';
                    buf[1] = short_esc[cp];
                    len = 2;
                } else {
                    static const char hex[] = "0123456789abcdef";
                    memcpy(buf, "\\u00", 4);
                    buf[4] = hex[cp >> 4];
                    buf[5] = hex[cp & 15];
                    len = 6;
                }
                /* 32 control characters at most: merge them into one alternative list */
                if (n < 38) alts[n++] = gram_x_lit(b, buf, len);
            }
        }
        if (c->r[i].hi >= 0x80 && gram_cps_add(&wide, c->r[i].lo < 0x80 ? 0x80 : c->r[i].lo, c->r[i].hi)) {
            free(wide.r);
            return fail(p, "out of memory");
        }
    }
    if (!gram_set_empty(&plain)) alts[n++] = gram_x_set(b, &plain);
    if (wide.n) alts[n++] = gram_x_utf8_ranges(b, wide.r, wide.n);
    free(wide.r);
    return gram_x_alt(b, alts, n);
}

static int32_t parse_alt(rx *p);

/* [...] after the '['. */
static int32_t parse_class(rx *p) {
    gram_cps c = {0};
    int neg = 0;
    if (p->i < p->n && p->s[p->i] == '^') {
        neg = 1;
        p->i++;
    }
    int first = 1;
    while (p->i < p->n && (p->s[p->i] != ']' || first)) {
        first = 0;
        int64_t lo;
        if (p->s[p->i] == '\\') {
            p->i++;
            lo = read_escape(p, &c);
        } else if (p->s[p->i] == '[' && p->i + 1 < p->n && p->s[p->i + 1] == ':') {
            free(c.r);
            return fail(p, "POSIX classes ([:alpha:]) are not supported");
        } else lo = read_utf8(p);
        if (lo == -2) continue;
        if (lo < 0) {
            free(c.r);
            return lo == -1 && p->st == LOOM_OK ? fail(p, "invalid UTF-8") : -1;
        }
        int64_t hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            if (p->s[p->i] == '\\') {
                p->i++;
                hi = read_escape(p, &c);
                if (hi == -2) {
                    free(c.r);
                    return fail(p, "a class shorthand cannot end a range");
                }
            } else hi = read_utf8(p);
            if (hi < 0) {
                free(c.r);
                return p->st == LOOM_OK ? fail(p, "invalid UTF-8") : -1;
            }
            if (hi < lo) {
                free(c.r);
                return fail(p, "range out of order in class");
            }
        }
        if (gram_cps_add(&c, (uint32_t)lo, (uint32_t)hi)) {
            free(c.r);
            return fail(p, "out of memory");
        }
    }
    if (p->i >= p->n) {
        free(c.r);
        return fail(p, "unterminated character class");
    }
    p->i++;
    if (neg) { /* both dialects: every character not listed, line terminators included */
        if (gram_cps_complement(&c, 0x10FFFF)) {
            free(c.r);
            return fail(p, "out of memory");
        }
    }
    int32_t x = emit_class(p, &c);
    free(c.r);
    return x;
}

/* Reads {m}, {m,}, {m,n} at p->i; 1 when it was one (bounds set), 0 when '{' is a literal. */
static int read_braces(rx *p, int32_t *min, int32_t *max) {
    size_t j = p->i + 1;
    int64_t m = 0, n = -1;
    int digits = 0;
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9' && m <= GRAM_MAX_REPEAT)
        m = m * 10 + (p->s[j++] - '0'), digits++;
    if (!digits) return 0;
    if (j < p->n && p->s[j] == '}') n = m;
    else if (j < p->n && p->s[j] == ',') {
        j++;
        if (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') {
            n = 0;
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9' && n <= GRAM_MAX_REPEAT) n = n * 10 + (p->s[j++] - '0');
        }
        if (j >= p->n || p->s[j] != '}') return 0;
    } else return 0;
    if (m > GRAM_MAX_REPEAT || n > GRAM_MAX_REPEAT) return fail(p, "repetition bound too large"), -1;
    if (n >= 0 && n < m) return fail(p, "repetition {m,n} with n < m"), -1;
    *min = (int32_t)m;
    *max = (int32_t)n;
    p->i = j + 1;
    return 1;
}

static int32_t parse_atom(rx *p) {
    char ch = p->s[p->i];
    if (ch == '(') {
        p->i++;
        if (p->i < p->n && p->s[p->i] == '?') {
            if (p->i + 1 < p->n && p->s[p->i + 1] == ':') p->i += 2;
            else if (p->i + 2 < p->n && (p->s[p->i + 1] == '<' || (p->s[p->i + 1] == 'P' && p->s[p->i + 2] == '<')) &&
                     p->s[p->i + 2] != '=' && p->s[p->i + 2] != '!') {
                const char *gt = memchr(p->s + p->i, '>', p->n - p->i);
                if (!gt) return fail(p, "unterminated group name");
                p->i = (size_t)(gt - p->s) + 1;
            } else return fail(p, "lookaround, flags and other (? groups are not supported");
        }
        if (++p->depth > GRAM_MAX_NESTING) return fail(p, "groups nested too deeply");
        int32_t x = parse_alt(p);
        p->depth--;
        if (x < 0) return -1;
        if (p->i >= p->n || p->s[p->i] != ')') return fail(p, "missing )");
        p->i++;
        return x;
    }
    gram_cps c = {0};
    int64_t cp;
    if (ch == '[') {
        p->i++;
        return parse_class(p);
    } else if (ch == '.') {
        p->i++;
        if (gram_cps_add(&c, '\n', '\n') || gram_cps_add(&c, '\r', '\r') || gram_cps_add(&c, 0x2028, 0x2029) ||
            gram_cps_complement(&c, 0x10FFFF)) {
            free(c.r);
            return fail(p, "out of memory");
        }
        int32_t x = emit_class(p, &c);
        free(c.r);
        return x;
    } else if (ch == '\\') {
        p->i++;
        cp = read_escape(p, &c);
    } else if (ch == '*' || ch == '+' || ch == '?') {
        return fail(p, "quantifier without anything to repeat");
    } else if (ch == '^' || ch == '$') {
        return fail(p, "anchors are only supported at the start / end of the pattern");
    } else {
        cp = read_utf8(p);
        if (cp < 0) return fail(p, "invalid UTF-8");
    }
    if (cp == -1) {
        free(c.r);
        return -1;
    }
    if (cp >= 0 && gram_cps_add(&c, (uint32_t)cp, (uint32_t)cp)) {
        free(c.r);
        return fail(p, "out of memory");
    }
    int32_t x = emit_class(p, &c);
    free(c.r);
    return x;
}

static int32_t parse_quantified(rx *p) {
    int32_t x = parse_atom(p);
    while (x >= 0 && p->i < p->n) {
        char ch = p->s[p->i];
        int32_t min, max;
        if (ch == '*') min = 0, max = -1, p->i++;
        else if (ch == '+') min = 1, max = -1, p->i++;
        else if (ch == '?') min = 0, max = 1, p->i++;
        else if (ch == '{') {
            int r = read_braces(p, &min, &max);
            if (r < 0) return -1;
            if (r == 0) break;
        } else break;
        if (p->i < p->n && (p->s[p->i] == '?' || p->s[p->i] == '+')) p->i++; /* lazy / possessive */
        x = gram_x_repeat(p->b, x, min, max);
    }
    return x;
}

/* What a search may skip before / after the match: any characters, line terminators included. */
static int32_t any_string(rx *p) {
    gram_cps c = {0};
    if (gram_cps_add(&c, 0, 0x10FFFF)) return fail(p, "out of memory");
    int32_t x = emit_class(p, &c);
    free(c.r);
    return gram_x_repeat(p->b, x, 0, -1);
}

/* A sequence up to '|', ')' or the end. At the top level a leading '^' / trailing '$' anchor it; in
 * search mode (JSON Schema's pattern) an end without its anchor may have any text beyond the match. */
static int32_t parse_seq(rx *p) {
    int top = p->depth == 0;
    int anchored_start = 0, anchored_end = 0;
    if (top && p->i < p->n && p->s[p->i] == '^') {
        anchored_start = 1;
        p->i++;
    }
    int32_t *items = NULL, n = 0, x = 0;
    size_t cap = 0;
    for (;;) {
        if (gram_reserve((void **)&items, &cap, (size_t)n + 3, sizeof *items)) { /* this item and two "anything" */
            free(items);
            return fail(p, "out of memory");
        }
        if (n == 0 && p->search && !anchored_start) items[n++] = any_string(p);
        if (p->i >= p->n || p->s[p->i] == '|' || p->s[p->i] == ')') break;
        if (top && p->s[p->i] == '$' && (p->i + 1 == p->n || p->s[p->i + 1] == '|')) {
            anchored_end = 1;
            p->i++;
            break;
        }
        if ((x = parse_quantified(p)) < 0) break;
        items[n++] = x;
    }
    /* a search with neither anchor over an empty pattern is a single "anything" */
    int lone_any = n == 1 && p->search && !anchored_start;
    if (x >= 0 && p->search && !anchored_end && !lone_any) items[n++] = any_string(p);
    if (x >= 0) x = gram_x_seq(p->b, items, n);
    free(items);
    return x;
}

static int32_t parse_alt(rx *p) {
    int32_t *items = NULL, n = 0, x;
    size_t cap = 0;
    for (;;) {
        x = parse_seq(p);
        if (x < 0) break;
        if (gram_reserve((void **)&items, &cap, (size_t)n + 1, sizeof *items)) {
            x = fail(p, "out of memory");
            break;
        }
        items[n++] = x;
        if (p->i < p->n && p->s[p->i] == '|') p->i++;
        else break;
    }
    if (x >= 0) x = gram_x_alt(p->b, items, n);
    free(items);
    return x;
}

loom_status gram_regex_compile(gram_builder *b, const char *re, size_t len, int flags, int32_t *expr, loom_error *err) {
    rx p = {.b = b,
            .s = re,
            .n = len,
            .json_string = !!(flags & GRAM_RX_JSON_STRING),
            .search = !!(flags & GRAM_RX_SEARCH),
            .err = err};
    int32_t x = parse_alt(&p);
    if (x >= 0 && p.i < p.n) x = fail(&p, "unbalanced )");
    if (p.st != LOOM_OK) return p.st;
    if (x < 0 || b->oom) return loom_fail(err, LOOM_ERR_NO_MEMORY, "regex: out of memory");
    *expr = x;
    return LOOM_OK;
}
