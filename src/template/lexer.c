/* Template source -> tokens. Data between tags becomes TK_TEXT with Jinja's whitespace control already
 * applied, as transformers configures it: "{%-"/"-%}" strip whitespace, trim_blocks drops the newline
 * after a block or comment tag, lstrip_blocks drops the indentation before one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/grow.h"
#include "template/internal.h"

typedef struct lexer {
    tpl_arena *arena;
    const char *src;
    size_t len, pos;
    size_t line_pos; /* position up to which line/line_start are known */
    int line;
    size_t line_start;
    tpl_tokens *out;
    loom_error *err;
} lexer;

static void where(lexer *L, size_t pos, int *line, int *col) {
    for (; L->line_pos < pos; L->line_pos++) {
        if (L->src[L->line_pos] == '\n') {
            L->line++;
            L->line_start = L->line_pos + 1;
        }
    }
    *line = L->line;
    *col = (int)(pos - L->line_start) + 1;
}

static loom_status lex_fail(lexer *L, size_t pos, loom_status st, const char *msg, char arg) {
    int line, col;
    where(L, pos, &line, &col);
    if (arg) return loom_fail(L->err, st, "template line %d col %d: %s '%c'", line, col, msg, arg);
    return loom_fail(L->err, st, "template line %d col %d: %s", line, col, msg);
}

static tpl_token *emit(lexer *L, tpl_tok_kind kind, size_t pos, const char *p, size_t n) {
    tpl_tokens *t = L->out;
    if (grow(&t->v, &t->cap, t->n, sizeof *t->v, 256)) return NULL;
    tpl_token *tok = &t->v[t->n++];
    memset(tok, 0, sizeof *tok);
    tok->kind = kind;
    where(L, pos, &tok->line, &tok->col);
    tok->text.p = p;
    tok->text.len = n;
    return tok;
}

static size_t skip_space(const char *s, size_t len, size_t pos) {
    size_t k;
    while ((k = tpl_space_len(s + pos, len - pos)) > 0) pos += k;
    return pos;
}

/* Length of the text once trailing Python whitespace is removed. */
static size_t rstrip_len(const char *s, size_t n) {
    size_t keep = 0;
    for (size_t i = 0; i < n;) {
        size_t k = tpl_space_len(s + i, n - i);
        if (k) i += k;
        else {
            int32_t cp;
            i += utf8_decode(s + i, n - i, &cp);
            keep = i;
        }
    }
    return keep;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Digits with optional single underscores between them ("1_000"); returns the end. */
static size_t scan_digits(const char *s, size_t len, size_t pos) {
    while (pos < len && is_digit(s[pos])) {
        pos++;
        if (pos + 1 < len && s[pos] == '_' && is_digit(s[pos + 1])) pos++;
    }
    return pos;
}

static loom_status lex_number(lexer *L) {
    const char *s = L->src;
    size_t start = L->pos, end = scan_digits(s, L->len, start);
    bool is_float = false;
    if (end + 1 < L->len && s[end] == '.' && is_digit(s[end + 1])) {
        end = scan_digits(s, L->len, end + 1);
        is_float = true;
    }
    if (end < L->len && (s[end] == 'e' || s[end] == 'E')) {
        size_t e = end + 1;
        if (e < L->len && (s[e] == '+' || s[e] == '-')) e++;
        if (e < L->len && is_digit(s[e])) {
            end = scan_digits(s, L->len, e);
            is_float = true;
        }
    }
    char buf[64];
    size_t n = 0;
    for (size_t i = start; i < end && n + 1 < sizeof buf; i++)
        if (s[i] != '_') buf[n++] = s[i];
    buf[n] = '\0';
    if (end - start >= sizeof buf) return lex_fail(L, start, LOOM_ERR_UNSUPPORTED, "number literal too long", 0);
    tpl_token *t = emit(L, is_float ? TK_FLOAT : TK_INT, start, s + start, end - start);
    if (!t) return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    if (is_float) {
        t->fval = strtod(buf, NULL);
    } else {
        char *endp;
        unsigned long long v = strtoull(buf, &endp, 10);
        if (n > 19 || v > INT64_MAX) return lex_fail(L, start, LOOM_ERR_UNSUPPORTED, "integer literal too large", 0);
        t->ival = (int64_t)v;
    }
    L->pos = end;
    return LOOM_OK;
}

/* A quoted literal, decoded the way Jinja does (Python's unicode-escape rules). */
static loom_status lex_string(lexer *L) {
    const char *s = L->src;
    char quote = s[L->pos];
    size_t start = L->pos, i = start + 1, end = i;
    while (end < L->len && s[end] != quote) end += s[end] == '\\' ? 2 : 1;
    if (end >= L->len) return lex_fail(L, start, LOOM_ERR_FORMAT, "unterminated string literal", 0);
    char *buf = tpl_alloc(L->arena, (end - i) * 3 + 1); /* \x escapes at most triple a byte */
    if (!buf) return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    size_t n = 0;
    while (i < end) {
        if (s[i] != '\\') {
            buf[n++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        int32_t cp;
        int digits = 0;
        switch (c) {
            case '\n': continue;
            case '\\':
            case '\'':
            case '"': buf[n++] = c; continue;
            case 'a': buf[n++] = '\a'; continue;
            case 'b': buf[n++] = '\b'; continue;
            case 'f': buf[n++] = '\f'; continue;
            case 'n': buf[n++] = '\n'; continue;
            case 'r': buf[n++] = '\r'; continue;
            case 't': buf[n++] = '\t'; continue;
            case 'v': buf[n++] = '\v'; continue;
            case 'x': digits = 2; break;
            case 'u': digits = 4; break;
            case 'U': digits = 8; break;
            case 'N': return lex_fail(L, i - 2, LOOM_ERR_UNSUPPORTED, "unsupported \\N{...} escape", 0);
            default:
                if (c >= '0' && c <= '7') {
                    cp = (int32_t)(c - '0');
                    for (int k = 0; k < 2 && i < end && s[i] >= '0' && s[i] <= '7'; k++)
                        cp = cp * 8 + (int32_t)(s[i++] - '0');
                    n += utf8_encode(cp, buf + n);
                } else if ((unsigned char)c >= 0x80) {
                    /* Jinja backslash-escapes non-ASCII characters before decoding: "\é" reads "\xe9". */
                    i--;
                    i += utf8_decode(s + i, end - i, &cp);
                    char tmp[16];
                    int k = snprintf(tmp, sizeof tmp,
                                     cp < 0x100         ? "\\x%02x"
                                         : cp < 0x10000 ? "\\u%04x"
                                                        : "\\U%08x",
                                     (unsigned)cp);
                    memcpy(buf + n, tmp, (size_t)k);
                    n += (size_t)k;
                } else {
                    buf[n++] = '\\';
                    buf[n++] = c;
                }
                continue;
        }
        uint32_t value = 0; /* 8 hex digits may exceed int32_t */
        for (int k = 0; k < digits; k++) {
            int h = i < end ? hex_value(s[i]) : -1;
            if (h < 0) return lex_fail(L, i, LOOM_ERR_FORMAT, "truncated escape in string literal", 0);
            value = value * 16 + (uint32_t)h;
            i++;
        }
        if (value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
            return lex_fail(L, i, LOOM_ERR_UNSUPPORTED, "escape is not a Unicode scalar value", 0);
        n += utf8_encode((int32_t)value, buf + n);
    }
    tpl_token *t = emit(L, TK_STRING, start, buf, n);
    if (!t) return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    L->pos = end + 1;
    return LOOM_OK;
}

static const char *const OPERATORS[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "/", "*", "%", "~", "<",
                                        ">",  "=",  ".",  ",",  ":",  "|",  "(", ")", "[", "]", "{", "}"};

/* Tokens of one {{ }} or {% %} up to and including its end marker. */
static loom_status lex_tag(lexer *L, bool is_block, bool *line_starting) {
    const char *s = L->src, *end_mark = is_block ? "%}" : "}}";
    size_t open_pos = L->pos;
    int depth = 0;
    for (;;) {
        L->pos = skip_space(s, L->len, L->pos);
        if (L->pos >= L->len)
            return lex_fail(L, open_pos, LOOM_ERR_FORMAT, is_block ? "unterminated '{%' tag" : "unterminated '{{' tag",
                            0);
        size_t p = L->pos;
        char sign = s[p] == '-' || s[p] == '+' ? s[p] : 0;
        if (depth == 0 && L->len - p >= 2 + (sign != 0) && memcmp(s + p + (sign != 0), end_mark, 2) == 0 &&
            !(sign == '+' && !is_block)) {
            if (!emit(L, is_block ? TK_BLOCK_END : TK_VAR_END, p, s + p, 2))
                return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
            L->pos = p + 2 + (sign != 0);
            if (sign == '-') L->pos = skip_space(s, L->len, L->pos);
            else if (is_block && !sign && L->pos < L->len && s[L->pos] == '\n') {
                L->pos++;
                *line_starting = true;
            }
            return LOOM_OK;
        }
        char c = s[p];
        loom_status st = LOOM_OK;
        if (is_name_start(c)) {
            size_t e = p + 1;
            while (e < L->len && (is_name_start(s[e]) || is_digit(s[e]))) e++;
            if (!emit(L, TK_NAME, p, s + p, e - p))
                return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
            L->pos = e;
        } else if (is_digit(c)) {
            st = lex_number(L);
        } else if (c == '\'' || c == '"') {
            st = lex_string(L);
        } else {
            size_t k = 0;
            for (; k < sizeof OPERATORS / sizeof *OPERATORS; k++) {
                size_t n = strlen(OPERATORS[k]);
                if (L->len - p >= n && memcmp(s + p, OPERATORS[k], n) == 0) break;
            }
            if (k == sizeof OPERATORS / sizeof *OPERATORS)
                return lex_fail(L, p, LOOM_ERR_FORMAT, "unexpected character", c);
            size_t n = strlen(OPERATORS[k]);
            if (n == 1 && strchr("([{", c)) depth++;
            if (n == 1 && strchr(")]}", c)) {
                if (depth == 0) return lex_fail(L, p, LOOM_ERR_FORMAT, "unbalanced", c);
                depth--;
            }
            if (!emit(L, TK_OP, p, s + p, n)) return loom_fail(L->err, LOOM_ERR_NO_MEMORY, "template: out of memory");
            L->pos = p + n;
        }
        if (st != LOOM_OK) return st;
    }
}

static loom_status lex_comment(lexer *L, bool *line_starting) {
    const char *s = L->src;
    size_t start = L->pos;
    const char *e = NULL;
    for (size_t i = start; i + 1 < L->len; i++)
        if (s[i] == '#' && s[i + 1] == '}') {
            e = s + i;
            break;
        }
    if (!e) return lex_fail(L, start, LOOM_ERR_FORMAT, "unterminated comment", 0);
    size_t end = (size_t)(e - s);
    char sign = end > start && (s[end - 1] == '-' || s[end - 1] == '+') ? s[end - 1] : 0;
    L->pos = end + 2;
    if (sign == '-') L->pos = skip_space(s, L->len, L->pos);
    else if (!sign && L->pos < L->len && s[L->pos] == '\n') {
        L->pos++;
        *line_starting = true;
    }
    return LOOM_OK;
}

loom_status tpl_lex(tpl_arena *a, const char *src, size_t len, tpl_tokens *out, loom_error *err) {
    lexer L = {.arena = a, .src = src, .len = len, .line = 1, .out = out, .err = err};
    bool line_starting = true;
    while (L.pos < len) {
        size_t tag = L.pos;
        while (tag + 1 < len && !(src[tag] == '{' && strchr("{%#", src[tag + 1]))) tag++;
        if (tag + 1 >= len) tag = len;
        size_t text_len = tag - L.pos;
        char type = tag < len ? src[tag + 1] : 0;
        char sign = tag + 2 < len && (src[tag + 2] == '-' || src[tag + 2] == '+') ? src[tag + 2] : 0;
        const char *text = src + L.pos;
        if (sign == '-') {
            text_len = rstrip_len(text, text_len);
        } else if (sign != '+' && (type == '%' || type == '#')) {
            size_t l_pos = text_len;
            while (l_pos > 0 && text[l_pos - 1] != '\n') l_pos--;
            if ((l_pos > 0 || line_starting) && l_pos < text_len && rstrip_len(text + l_pos, text_len - l_pos) == 0)
                text_len = l_pos;
        }
        if (text_len && !emit(&L, TK_TEXT, L.pos, text, text_len))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
        if (tag >= len) break;
        line_starting = false;
        L.pos = tag + 2 + (sign != 0);
        loom_status st;
        if (type == '#') {
            st = lex_comment(&L, &line_starting);
        } else {
            if (!emit(&L, type == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, tag, src + tag, 2))
                return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
            st = lex_tag(&L, type == '%', &line_starting);
        }
        if (st != LOOM_OK) return st;
    }
    if (!emit(&L, TK_EOF, len, src + len, 0)) return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    return LOOM_OK;
}
