/* GPT-2's reversible byte → printable character map (bytes_to_unicode): printable Latin-1 bytes map
 * to themselves, the other 68 bytes to U+0100.. in byte order (0x00-0x20, 0x7F-0xA0, 0xAD). */
#include "tokenizer/tok_internal.h"

static int32_t byte_cp(uint8_t b) {
    if (b <= 0x20) return 256 + b;
    if (b >= 0x7F && b <= 0xA0) return 289 + (b - 0x7F);
    if (b == 0xAD) return 323;
    return b;
}

/* Inverse map; -1 for a code point outside it. */
static int cp_byte(int32_t cp) {
    if (cp < 0 || cp > 323) return -1;
    if (cp >= 256) return cp <= 288 ? cp - 256 : cp <= 322 ? cp - 289 + 0x7F : 0xAD;
    return byte_cp((uint8_t)cp) == cp ? cp : -1;
}

int tok_bytelevel_append(tok_buf *out, const char *s, size_t n) {
    if (tok_buf_reserve(out, n * 2)) return -1;
    for (size_t i = 0; i < n; i++) {
        char enc[4];
        size_t l = utf8_encode(byte_cp((uint8_t)s[i]), enc);
        if (tok_buf_append(out, enc, l)) return -1;
    }
    return 0;
}

int tok_bytelevel_decode_append(tok_buf *out, const char *s, size_t n) {
    size_t start = out->len;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len((const uint8_t *)s + i, n - i);
        int32_t cp = -1;
        if (l) utf8_decode(s + i, n - i, &cp);
        int b = cp_byte(cp);
        if (b < 0) { /* not a mapped string: the token's own bytes */
            out->len = start;
            return tok_buf_append(out, s, n);
        }
        uint8_t c = (uint8_t)b;
        if (tok_buf_append(out, &c, 1)) return -1;
        i += l;
    }
    return 0;
}
