/* Lossy UTF-8 repair and the Unicode character classes HF relies on (UTF-8 itself: core/utf8.h). */
#include <utf8proc.h>

#include "core/utf8.h"
#include "tokenizer/tok_internal.h"

int tok_utf8_append_lossy(tok_buf *out, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t need, got = utf8_valid_prefix(s + i, n - i, &need);
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
        (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int tok_cp_is_word(int32_t cp) {
    switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_PC: return 1;
        default: return cp == 0x200C || cp == 0x200D;
    }
}

int tok_cp_is_numeric(int32_t cp) {
    utf8proc_category_t c = utf8proc_category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

int tok_cp_is_punctuation(int32_t cp) {
    if (cp < 0x80)
        return cp > 0x20 && cp < 0x7F &&
            !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
    utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}
