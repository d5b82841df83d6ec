#include "formats/byte_cursor.h"

#include <string.h>

loom_cursor cursor_at(const uint8_t *data, size_t size, size_t pos) {
    loom_cursor c = {data, size, pos, pos > size};
    return c;
}

size_t cursor_left(const loom_cursor *c) { return c->overrun ? 0 : c->size - c->pos; }

const uint8_t *cursor_take(loom_cursor *c, size_t n) {
    if (c->overrun || n > c->size - c->pos) {
        c->overrun = 1;
        return NULL;
    }
    const uint8_t *p = c->data + c->pos;
    c->pos += n;
    return p;
}

static uint64_t cursor_le(loom_cursor *c, size_t n) {
    const uint8_t *p = cursor_take(c, n);
    uint64_t v = 0;
    for (size_t i = 0; p && i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint8_t cursor_u8(loom_cursor *c) { return (uint8_t)cursor_le(c, 1); }
uint16_t cursor_u16(loom_cursor *c) { return (uint16_t)cursor_le(c, 2); }
uint32_t cursor_u32(loom_cursor *c) { return (uint32_t)cursor_le(c, 4); }
uint64_t cursor_u64(loom_cursor *c) { return cursor_le(c, 8); }
