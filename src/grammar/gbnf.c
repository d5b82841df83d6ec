/* llama.cpp's GBNF -> grammar rules.
 *
 *   root ::= "{" ws item ("," ws item)* "}"   # a comment
 *   item ::= [a-z_] [a-z0-9_]{0,15} | "\"" [^"\\]* "\"" | ( "x" | . )+
 *
 * Rules `name ::= alternatives`; a rule ends at a newline unless inside parentheses or right after
 * `::=` or `|`. Elements: string literals with escapes (\n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH),
 * character classes over code points ([a-z], [^"\\], escapes inside), `.` (any character), rule names,
 * groups; postfix * + ? {m} {m,} {m,n}. Names are letters, digits, '-' and '_'. The start rule is
 * `root`. Token references (<[id]>, <|name|>) are not supported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "grammar/gram_internal.h"

typedef struct gp {
    gram_builder *b;
    const char *s;
    size_t n, i;
    int depth;
    uint8_t *defined; /* per builder rule */
    loom_error *err;
    loom_status st;
} gp;

static int32_t fail(gp *p, const char *what) {
    if (p->st == LOOM_OK) {
        int line = 1;
        for (size_t k = 0; k < p->i && k < p->n; k++) line += p->s[k] == '\n';
        p->st = loom_fail(p->err, LOOM_ERR_INVALID_ARG, "gbnf: %s (line %d)", what, line);
    }
    return -1;
}

static int is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Skips spaces, tabs, comments, and newlines when newline_ok. */
static void skip_space(gp *p, int newline_ok) {
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r'))) p->i++;
        else if (c == '#') {
            while (p->i < p->n && p->s[p->i] != '\n') p->i++;
        } else break;
    }
}

static size_t name_len(gp *p) {
    size_t k = p->i;
    while (k < p->n && is_name_char(p->s[k])) k++;
    return k - p->i;
}

static int32_t rule_of(gp *p, const char *name, size_t len) {
    int32_t r = gram_rule_find(p->b, name, len);
    if (r >= 0) return r;
    r = gram_rule_add(p->b, name, len);
    uint8_t *d = realloc(p->defined, (size_t)p->b->n_rules);
    if (r < 0 || !d) return fail(p, "out of memory");
    p->defined = d;
    d[r] = 0;
    return r;
}

/* One character of a literal or class at p->i (escapes decoded); -1 on error. */
static int64_t read_char(gp *p) {
    if (p->i >= p->n) return fail(p, "unexpected end");
    if (p->s[p->i] != '\\') {
        uint32_t cp;
        size_t len = gram_utf8_decode(p->s + p->i, p->n - p->i, &cp);
        if (!len) return fail(p, "invalid UTF-8");
        p->i += len;
        return cp;
    }
    if (++p->i >= p->n) return fail(p, "trailing backslash");
    char e = p->s[p->i++];
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    if (digits) {
        uint32_t v = 0;
        for (int k = 0; k < digits; k++) {
            if (p->i >= p->n || gram_hex_digit(p->s[p->i]) < 0) return fail(p, "bad hex escape");
            v = v * 16 + (uint32_t)gram_hex_digit(p->s[p->i++]);
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return fail(p, "escape is not a character");
        return v;
    }
    switch (e) {
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^': return (uint8_t)e;
    }
    return fail(p, "unknown escape");
}

static int32_t literal(gp *p) {
    p->i++; /* '"' */
    char *buf = malloc(p->n + 1);
    size_t len = 0;
    if (!buf) return fail(p, "out of memory");
    while (p->i < p->n && p->s[p->i] != '"') {
        int64_t cp = read_char(p);
        if (cp < 0) {
            free(buf);
            return -1;
        }
        len += utf8_encode((int32_t)cp, buf + len); /* escapes may name any code point */
    }
    if (p->i >= p->n) {
        free(buf);
        return fail(p, "unterminated string literal");
    }
    p->i++;
    int32_t x = gram_x_lit(p->b, buf, len);
    free(buf);
    return x;
}

static int32_t char_class(gp *p) {
    p->i++; /* '[' */
    int neg = p->i < p->n && p->s[p->i] == '^';
    if (neg) p->i++;
    gram_cps c = {0};
    while (p->i < p->n && p->s[p->i] != ']') {
        int64_t lo = read_char(p), hi = lo;
        if (lo >= 0 && p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            hi = read_char(p);
            if (hi >= 0 && hi < lo) hi = fail(p, "range out of order in character class");
        }
        if (lo < 0 || hi < 0 || gram_cps_add(&c, (uint32_t)lo, (uint32_t)hi)) {
            free(c.r);
            return p->st == LOOM_OK ? fail(p, "out of memory") : -1;
        }
    }
    if (p->i >= p->n) {
        free(c.r);
        return fail(p, "unterminated character class");
    }
    p->i++;
    if (neg && gram_cps_complement(&c, 0x10FFFF)) {
        free(c.r);
        return fail(p, "out of memory");
    }
    gram_cps_normalize(&c);
    int32_t x = gram_x_utf8_ranges(p->b, c.r, c.n);
    free(c.r);
    return x;
}

/* Reads an unsigned integer at p->i (at most GRAM_MAX_REPEAT); -1 when none. */
static int64_t read_uint(gp *p) {
    int64_t v = -1;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        v = (v < 0 ? 0 : v) * 10 + (p->s[p->i++] - '0');
        if (v > GRAM_MAX_REPEAT) return fail(p, "repetition bound too large"), -2;
    }
    return v;
}

static int32_t alternates(gp *p, int nested);

static int32_t element(gp *p) {
    char c = p->s[p->i];
    if (c == '"') return literal(p);
    if (c == '[') return char_class(p);
    if (c == '.') {
        p->i++;
        gram_cp_range all = {0, 0x10FFFF};
        return gram_x_utf8_ranges(p->b, &all, 1);
    }
    if (c == '(') {
        p->i++;
        if (++p->depth > GRAM_MAX_NESTING) return fail(p, "groups nested too deeply");
        skip_space(p, 1);
        int32_t x = alternates(p, 1);
        p->depth--;
        if (x < 0) return -1;
        skip_space(p, 1);
        if (p->i >= p->n || p->s[p->i] != ')') return fail(p, "expected ')'");
        p->i++;
        return x;
    }
    if (c == '<') return fail(p, "token references (<...>) are not supported");
    size_t len = name_len(p);
    if (!len) return fail(p, "expected an element");
    int32_t r = rule_of(p, p->s + p->i, len);
    p->i += len;
    return r < 0 ? -1 : gram_x_ref(p->b, r);
}

static int32_t postfix(gp *p, int32_t x) {
    while (x >= 0 && p->i < p->n) {
        char c = p->s[p->i];
        int64_t min, max;
        if (c == '*') min = 0, max = -1;
        else if (c == '+') min = 1, max = -1;
        else if (c == '?') min = 0, max = 1;
        else if (c == '{') {
            p->i++;
            skip_space(p, 0);
            min = read_uint(p);
            if (min == -2) return -1;
            if (min < 0) return fail(p, "expected a number after '{'");
            skip_space(p, 0);
            max = min;
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                skip_space(p, 0);
                max = read_uint(p);
                if (max == -2) return -1;
                skip_space(p, 0);
            }
            if (p->i >= p->n || p->s[p->i] != '}') return fail(p, "expected '}'");
            if (max >= 0 && max < min) return fail(p, "repetition {m,n} with n < m");
        } else break;
        p->i++;
        x = gram_x_repeat(p->b, x, (int32_t)min, (int32_t)max);
    }
    return x;
}

static int32_t sequence(gp *p, int nested) {
    int32_t *items = NULL, n = 0, x = 0;
    size_t cap = 0;
    for (;;) {
        skip_space(p, nested);
        if (p->i >= p->n) break;
        char c = p->s[p->i];
        if (c == '|' || c == ')' || c == '\n' || c == '\r') break;
        /* at the top level, a new rule starts at `name ::=`: the newline before it ended this one */
        if (gram_reserve((void **)&items, &cap, (size_t)n + 1, sizeof *items)) {
            x = fail(p, "out of memory");
            break;
        }
        if ((x = postfix(p, element(p))) < 0) break;
        items[n++] = x;
    }
    if (x >= 0) x = gram_x_seq(p->b, items, n);
    free(items);
    return x;
}

static int32_t alternates(gp *p, int nested) {
    int32_t *items = NULL, n = 0, x;
    size_t cap = 0;
    for (;;) {
        x = sequence(p, nested);
        if (x < 0) break;
        if (gram_reserve((void **)&items, &cap, (size_t)n + 1, sizeof *items)) {
            x = fail(p, "out of memory");
            break;
        }
        items[n++] = x;
        skip_space(p, nested);
        if (p->i < p->n && p->s[p->i] == '|') {
            p->i++;
            skip_space(p, 1);
        } else break;
    }
    if (x >= 0) x = gram_x_alt(p->b, items, n);
    free(items);
    return x;
}

loom_status gram_gbnf_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err) {
    gp p = {.b = b, .s = text, .n = len, .err = err};
    int32_t outer_scope = b->rule_scope;
    b->rule_scope = b->n_rules; /* names are this grammar's own */
    for (;;) {
        skip_space(&p, 1);
        if (p.i >= p.n) break;
        size_t nl = name_len(&p);
        if (!nl) {
            fail(&p, "expected a rule name");
            break;
        }
        int32_t r = rule_of(&p, p.s + p.i, nl);
        if (r < 0) break;
        if (p.defined[r]) {
            char msg[96];
            snprintf(msg, sizeof msg, "rule '%.*s' is defined twice", (int)(nl > 40 ? 40 : nl), p.s + p.i);
            fail(&p, msg);
            break;
        }
        p.i += nl;
        skip_space(&p, 0);
        if (p.i + 3 > p.n || memcmp(p.s + p.i, "::=", 3) != 0) {
            fail(&p, "expected '::='");
            break;
        }
        p.i += 3;
        skip_space(&p, 1);
        int32_t x = alternates(&p, 0);
        if (x < 0) break;
        gram_rule_define(b, r, x);
        p.defined[r] = 1;
        skip_space(&p, 0);
        if (p.i < p.n && p.s[p.i] != '\n' && p.s[p.i] != '\r') {
            fail(&p, p.s[p.i] == ')' ? "unbalanced ')'" : "expected the end of the line");
            break;
        }
    }
    free(p.defined);
    int32_t r = gram_rule_find(b, "root", 4);
    b->rule_scope = outer_scope;
    if (p.st != LOOM_OK) return p.st;
    if (b->oom) return loom_fail(err, LOOM_ERR_NO_MEMORY, "gbnf: out of memory");
    if (r < 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "gbnf: no 'root' rule");
    *root = r;
    return LOOM_OK;
}
