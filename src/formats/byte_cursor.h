/* A bounds-checked little-endian byte cursor for the binary parsers (zip, pickle). Reads never go past
 * size: a read that would sets overrun (sticky) and yields zeros / NULL, so a sequence of reads can be
 * checked once at the end. */
#ifndef LOOM_FORMATS_BYTE_CURSOR_H
#define LOOM_FORMATS_BYTE_CURSOR_H

#include <stddef.h>
#include <stdint.h>

typedef struct loom_cursor {
    const uint8_t *data;
    size_t size;
    size_t pos;
    int overrun;
} loom_cursor;

/* A cursor at pos (overrun already set when pos > size). */
loom_cursor cursor_at(const uint8_t *data, size_t size, size_t pos);
size_t cursor_left(const loom_cursor *c);
/* Returns a pointer to the next n bytes and advances, or NULL (and sets overrun). */
const uint8_t *cursor_take(loom_cursor *c, size_t n);
uint8_t cursor_u8(loom_cursor *c);
uint16_t cursor_u16(loom_cursor *c);
uint32_t cursor_u32(loom_cursor *c);
uint64_t cursor_u64(loom_cursor *c);

#endif
