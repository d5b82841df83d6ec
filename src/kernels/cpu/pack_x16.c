#include "kernels/cpu/pack_x16.h"

#include <string.h>

#include "kernels/cpu/rowops.h"

/* bytes of the per-row header of a block (scale, and Q4_1's min) and of its quants */
static size_t header_bytes(loom_dtype t) { return t == LOOM_DTYPE_Q4_1 ? 4 : 2; }
static size_t quant_bytes(loom_dtype t) { return t == LOOM_DTYPE_Q8_0 ? 32 : 16; }

size_t loom_x16_record_bytes(loom_dtype t) {
    switch (t) {
    case LOOM_DTYPE_Q8_0: case LOOM_DTYPE_Q4_0: case LOOM_DTYPE_Q4_1:
        return LOOM_X16_ROWS * loom_dtype_block_bytes(t);
    default: return 0;
    }
}

int loom_x16_packable(const loom_tensor *t) {
    if (!t->data || t->layout != LOOM_LAYOUT_ROWS || !loom_x16_record_bytes(t->dtype) ||
        !loom_cpu_has_x16(t->dtype))
        return 0;
    int64_t rows = loom_tensor_rows(t);
    return rows > 0 && rows % LOOM_X16_ROWS == 0 &&
           t->row_stride_bytes == loom_dtype_bytes(t->dtype, loom_tensor_row_len(t));
}

/* The record of one block of 16 rows <-> the 16 rows' own blocks (src[r] = row r's block). */
static void pack_record(loom_dtype t, const uint8_t *const *src, uint8_t *rec) {
    size_t hb = header_bytes(t), qb = quant_bytes(t);
    for (int r = 0; r < LOOM_X16_ROWS; r++) {
        memcpy(rec + 2 * r, src[r], 2); /* d */
        if (t == LOOM_DTYPE_Q4_1) memcpy(rec + 32 + 2 * r, src[r] + 2, 2); /* m */
        for (size_t c = 0; c < qb / 4; c++) {
            uint8_t *dst = rec + LOOM_X16_ROWS * hb + (c * LOOM_X16_ROWS + (size_t)r) * 4;
            memcpy(dst, src[r] + hb + 4 * c, 4);
            if (t == LOOM_DTYPE_Q8_0)
                for (int i = 0; i < 4; i++) dst[i] ^= 0x80; /* int8 q -> q + 128 */
        }
    }
}

static void unpack_record_row(loom_dtype t, const uint8_t *rec, int r, uint8_t *block) {
    size_t hb = header_bytes(t), qb = quant_bytes(t);
    memcpy(block, rec + 2 * r, 2);
    if (t == LOOM_DTYPE_Q4_1) memcpy(block + 2, rec + 32 + 2 * r, 2);
    for (size_t c = 0; c < qb / 4; c++) {
        memcpy(block + hb + 4 * c, rec + LOOM_X16_ROWS * hb + (c * LOOM_X16_ROWS + (size_t)r) * 4, 4);
        if (t == LOOM_DTYPE_Q8_0)
            for (int i = 0; i < 4; i++) block[hb + 4 * c + (size_t)i] ^= 0x80;
    }
}

void loom_x16_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t n_blocks) {
    size_t block_bytes = loom_dtype_block_bytes(t), row_bytes = block_bytes * (size_t)n_blocks;
    size_t rec_bytes = loom_x16_record_bytes(t);
    for (int64_t g = 0; g < n_rows / LOOM_X16_ROWS; g++) {
        const uint8_t *group = (const uint8_t *)rows + (size_t)g * LOOM_X16_ROWS * row_bytes;
        uint8_t *out = (uint8_t *)dst + (size_t)g * LOOM_X16_ROWS * row_bytes;
        for (int64_t b = 0; b < n_blocks; b++) {
            const uint8_t *src[LOOM_X16_ROWS];
            for (int r = 0; r < LOOM_X16_ROWS; r++) src[r] = group + (size_t)r * row_bytes + (size_t)b * block_bytes;
            pack_record(t, src, out + (size_t)b * rec_bytes);
        }
    }
}

void loom_x16_dequant_row(loom_dtype t, const void *packed, int64_t row, int64_t n_blocks, float *out) {
    size_t rec_bytes = loom_x16_record_bytes(t);
    const uint8_t *group = (const uint8_t *)packed + (size_t)(row / LOOM_X16_ROWS) * rec_bytes * (size_t)n_blocks;
    uint8_t block[64];
    for (int64_t b = 0; b < n_blocks; b++) {
        unpack_record_row(t, group + (size_t)b * rec_bytes, (int)(row % LOOM_X16_ROWS), block);
        loom_dequant_row(t, block, out + 32 * b, 32);
    }
}
