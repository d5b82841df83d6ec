/* UTF-8 validation, decoding, lossy repair, and the Unicode character classes HF relies on. */
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

/* Valid range of the second byte after lead byte c (Unicode Table 3-7); 0 when c cannot lead. */
static int second_range(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c == 0xE0) { *lo = 0xA0; return 3; }
    if (c == 0xED) { *hi = 0x9F; return 3; }
    if (c >= 0xE1 && c <= 0xEF) return 3;
    if (c == 0xF0) { *lo = 0x90; return 4; }
    if (c == 0xF4) { *hi = 0x8F; return 4; }
    if (c >= 0xF1 && c <= 0xF3) return 4;
    return 0;
}

/* Number of leading bytes that form a valid prefix of a sequence, and the sequence's full length. */
static size_t valid_prefix(const uint8_t *s, size_t n, size_t *need) {
    *need = 1;
    if (n == 0) return 0;
    if (s[0] < 0x80) return 1;
    uint8_t lo, hi;
    int len = second_range(s[0], &lo, &hi);
    if (!len) return 0;
    *need = (size_t)len;
    size_t i = 1;
    if (i < n && s[i] >= lo && s[i] <= hi) i++;
    else return 1;
    while (i < (size_t)len && i < n && s[i] >= 0x80 && s[i] <= 0xBF) i++;
    return i;
}

size_t tok_utf8_valid_len(const uint8_t *s, size_t n) {
    size_t need, got = valid_prefix(s, n, &need);
    return got && got == need ? got : 0;
}

size_t tok_utf8_incomplete_len(const uint8_t *s, size_t n) {
    size_t need, got = valid_prefix(s, n, &need);
    return got && got < need && got == n ? got : 0;
}

int tok_utf8_valid(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { i++; continue; }
        size_t l = tok_utf8_valid_len(p + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

size_t tok_utf8_decode(const char *s, int32_t *cp) {
    const uint8_t *p = (const uint8_t *)s;
    if (p[0] < 0x80) { *cp = p[0]; return 1; }
    if (p[0] < 0xE0) { *cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F); return 2; }
    if (p[0] < 0xF0) { *cp = ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F); return 3; }
    *cp = ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    return 4;
}

size_t tok_utf8_encode(int32_t cp, char out[4]) {
    return (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out);
}

int tok_utf8_append_lossy(tok_buf *out, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t need, got = valid_prefix(s + i, n - i, &need);
        if (got && got == need) {
            if (tok_buf_append(out, s + i, got)) return -1;
            i += got;
        } else {
            if (tok_buf_append(out, "\xEF\xBF\xBD", 3)) return -1;
            i += got ? got : 1;
        }
    }
    return 0;
}

int tok_cp_is_whitespace(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

int tok_cp_is_word(int32_t cp) {
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return cp == 0x200C || cp == 0x200D;
    }
}

int tok_cp_is_numeric(int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int tok_cp_is_punctuation(int32_t cp) {
    if (cp < 0x80) return cp > 0x20 && cp < 0x7F && !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}
