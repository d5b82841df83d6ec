#include "core/utf8.h"

/* Valid range of the second byte after lead byte c (Unicode Table 3-7); the sequence length, 0 when c
 * cannot lead. */
static int second_range(uint8_t c, uint8_t *lo, uint8_t *hi) {
    *lo = 0x80;
    *hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c == 0xE0) return *lo = 0xA0, 3;
    if (c == 0xED) return *hi = 0x9F, 3;
    if (c >= 0xE1 && c <= 0xEF) return 3;
    if (c == 0xF0) return *lo = 0x90, 4;
    if (c == 0xF4) return *hi = 0x8F, 4;
    if (c >= 0xF1 && c <= 0xF3) return 4;
    return 0;
}

size_t utf8_valid_prefix(const uint8_t *s, size_t n, size_t *need) {
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

size_t utf8_seq_len(const uint8_t *s, size_t n) {
    size_t need, got = utf8_valid_prefix(s, n, &need);
    return got && got == need ? got : 0;
}

size_t utf8_incomplete_len(const uint8_t *s, size_t n) {
    size_t need, got = utf8_valid_prefix(s, n, &need);
    return got && got < need && got == n ? got : 0;
}

int utf8_valid(const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_seq_len(p + i, n - i);
        if (!l) return 0;
        i += l;
    }
    return 1;
}

size_t utf8_decode(const char *s, size_t n, int32_t *cp) {
    const uint8_t *p = (const uint8_t *)s;
    size_t len = p[0] < 0x80 ? 1 : utf8_seq_len(p, n);
    switch (len) {
        case 2: *cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F); return 2;
        case 3: *cp = ((p[0] & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F); return 3;
        case 4: *cp = ((p[0] & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F); return 4;
        default: *cp = p[0]; return 1;
    }
}

size_t utf8_encode(int32_t cp, char out[4]) {
    uint8_t *o = (uint8_t *)out;
    if (cp < 0x80) return o[0] = (uint8_t)cp, 1;
    if (cp < 0x800) return o[0] = (uint8_t)(0xC0 | cp >> 6), o[1] = (uint8_t)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12), o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18), o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}
