/* Character counting and the pieces of Python's Unicode model that str methods and repr() depend on:
 * whitespace (str.isspace), printable characters, cased characters and simple case mapping (the UTF-8
 * codec itself is core/utf8.h). */
#include <utf8proc.h>

#include "template/internal.h"

size_t tpl_utf8_count(const char *s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += ((unsigned char)s[i] & 0xC0) != 0x80;
    return count;
}

size_t tpl_utf8_offset(const char *s, size_t n, size_t index) {
    size_t i = 0;
    for (; i < n && index; index--) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

bool tpl_py_isspace(int32_t cp) {
    switch (cp) {
        case 0x09:
        case 0x0A:
        case 0x0B:
        case 0x0C:
        case 0x0D:
        case 0x1C:
        case 0x1D:
        case 0x1E:
        case 0x1F:
        case 0x20:
        case 0x85:
        case 0xA0:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x202F:
        case 0x205F:
        case 0x3000: return true;
        default: return cp >= 0x2000 && cp <= 0x200A;
    }
}

size_t tpl_space_len(const char *s, size_t n) {
    if (n == 0) return 0;
    int32_t cp;
    size_t k = utf8_decode(s, n, &cp);
    return tpl_py_isspace(cp) ? k : 0;
}

bool tpl_py_isprintable(int32_t cp) {
    if (cp == ' ') return true;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
        case UTF8PROC_CATEGORY_CC:
        case UTF8PROC_CATEGORY_CF:
        case UTF8PROC_CATEGORY_CS:
        case UTF8PROC_CATEGORY_CO:
        case UTF8PROC_CATEGORY_CN:
        case UTF8PROC_CATEGORY_ZL:
        case UTF8PROC_CATEGORY_ZP:
        case UTF8PROC_CATEGORY_ZS: return false;
        default: return true;
    }
}

bool tpl_py_iscased(int32_t cp) {
    utf8proc_category_t c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

int32_t tpl_py_upper(int32_t cp) { return (int32_t)utf8proc_toupper((utf8proc_int32_t)cp); }
int32_t tpl_py_lower(int32_t cp) { return (int32_t)utf8proc_tolower((utf8proc_int32_t)cp); }
int32_t tpl_py_title(int32_t cp) { return (int32_t)utf8proc_totitle((utf8proc_int32_t)cp); }
