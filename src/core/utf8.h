/* UTF-8, once for the whole library (tokenizer, chat templates, grammar): validation with Unicode's
 * Table 3-7 ranges (no overlongs, surrogates or code points above U+10FFFF), decoding and encoding. */
#ifndef LOOM_CORE_UTF8_H
#define LOOM_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* How many of the n bytes at s form a valid prefix of one sequence (0 when s[0] cannot start one);
 * *need = the length that sequence would have (1 for a byte that cannot start one). */
size_t utf8_valid_prefix(const uint8_t *s, size_t n, size_t *need);
/* Bytes of the complete, valid sequence at s, or 0. */
size_t utf8_seq_len(const uint8_t *s, size_t n);
/* n when s[0..n) is a valid sequence cut short (more bytes could complete it), else 0. */
size_t utf8_incomplete_len(const uint8_t *s, size_t n);
int utf8_valid(const char *s, size_t n);
/* Decodes the sequence at s (n >= 1 bytes available) into *cp and returns its length; a byte that does
 * not start a valid sequence decodes as itself, length 1. */
size_t utf8_decode(const char *s, size_t n, int32_t *cp);
/* Encodes cp (a valid code point) into out; returns the length. */
size_t utf8_encode(int32_t cp, char out[4]);

#endif
