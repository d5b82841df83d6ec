#include "kernels/cpu/pack_x16.h"

#include <string.h>

#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/pack_x16_more.h"
#include "kernels/cpu/rowops.h"

#define Q4_K_SCALES 64 /* record offset of the unpacked scales; the mins follow, then the quants */
#define Q4_K_QUANTS 320
#define Q6_K_SCALES 32 /* record offsets: int8 scales [16][16 rows], low nibbles, high bits */
#define Q6_K_LOW 288
#define Q6_K_HIGH 2336

/* bytes of the per-row header of a 32-element block (scale, and Q4_1's min) and of its quants */
static size_t header_bytes(loom_dtype t) { return t == LOOM_DTYPE_Q4_1 ? 4 : 2; }
static size_t quant_bytes(loom_dtype t) { return t == LOOM_DTYPE_Q8_0 ? 32 : 16; }

size_t x16_group_bytes(loom_dtype t, int64_t row_len) {
    return loom_x16_record_bytes(t) * (size_t)(row_len / dtype_block_elems(t));
}

size_t x16_matrix_bytes(loom_dtype t, int64_t n_rows, int64_t row_len) {
    return x16_group_bytes(t, row_len) * (size_t)(n_rows / LOOM_X16_ROWS);
}

int x16_packable(const loom_tensor *t) {
    if (!t->data || t->layout != LOOM_LAYOUT_ROWS || !loom_x16_record_bytes(t->dtype) || !cpu_has_x16(t->dtype))
        return 0;
    int64_t rows = tensor_rows(t);
    return rows > 0 && rows % LOOM_X16_ROWS == 0 && t->row_stride_bytes == dtype_bytes(t->dtype, tensor_row_len(t));
}

/* lane r of chunk c of a run of chunks: where row r's bytes 4c..4c+3 go */
static size_t chunk_at(size_t c, int r) { return (c * LOOM_X16_ROWS + (size_t)r) * 4; }

/* where chunk c (bytes 4c..4c+3) of row r goes in runs of 8 chunks x 16 rows */
static size_t run_chunk_at(size_t c, int r) { return 512 * (c / 8) + chunk_at(c % 8, r); }

/* n chunks of row r: into the runs at rec, and back */
static void chunks_in(uint8_t *rec, const uint8_t *row, int r, size_t n) {
    for (size_t c = 0; c < n; c++) memcpy(rec + run_chunk_at(c, r), row + 4 * c, 4);
}
static void chunks_out(uint8_t *row, const uint8_t *rec, int r, size_t n) {
    for (size_t c = 0; c < n; c++) memcpy(row + 4 * c, rec + run_chunk_at(c, r), 4);
}

/* The record of one block of 16 rows <-> one row's own block (src / block = that row's block). */
static int is_more(loom_dtype t) {
    return t == LOOM_DTYPE_Q5_0 || t == LOOM_DTYPE_Q5_1 || t == LOOM_DTYPE_IQ4_NL || t == LOOM_DTYPE_IQ4_XS ||
        t == LOOM_DTYPE_Q5_K || t == LOOM_DTYPE_Q2_K || t == LOOM_DTYPE_Q3_K;
}

static void pack_record_row(loom_dtype t, const uint8_t *src, int r, uint8_t *rec) {
    if (is_more(t)) {
        x16_more_pack_row(t, src, r, rec);
        return;
    }
    if (t == LOOM_DTYPE_Q6_K) { /* llama.cpp's block: ql[128], qh[64], int8 scales[16], f16 d */
        memcpy(rec + 2 * r, src + 208, 2);
        for (int s = 0; s < 16; s++) rec[Q6_K_SCALES + 16 * s + r] = src[192 + s];
        chunks_in(rec + Q6_K_LOW, src, r, 32);
        chunks_in(rec + Q6_K_HIGH, src + 128, r, 16);
        return;
    }
    if (t == LOOM_DTYPE_Q4_K) {
        memcpy(rec + 2 * r, src, 2);          /* d */
        memcpy(rec + 32 + 2 * r, src + 2, 2); /* dmin */
        for (int j = 0; j < 8; j++) {
            int sc, mn;
            loom_q4_k_scale_min(src + 4, j, &sc, &mn);
            rec[Q4_K_SCALES + 16 * j + r] = (uint8_t)sc;
            rec[Q4_K_SCALES + 128 + 16 * j + r] = (uint8_t)mn;
        }
        chunks_in(rec + Q4_K_QUANTS, src + 16, r, 32); /* 4 pairs x 8 chunks */
        return;
    }
    size_t hb = header_bytes(t), qb = quant_bytes(t);
    memcpy(rec + 2 * r, src, 2);                                    /* d */
    if (t == LOOM_DTYPE_Q4_1) memcpy(rec + 32 + 2 * r, src + 2, 2); /* m */
    for (size_t c = 0; c < qb / 4; c++) {
        uint8_t *dst = rec + LOOM_X16_ROWS * hb + chunk_at(c, r);
        memcpy(dst, src + hb + 4 * c, 4);
        if (t == LOOM_DTYPE_Q8_0)
            for (int i = 0; i < 4; i++) dst[i] ^= 0x80; /* int8 q -> q + 128 */
    }
}

static void unpack_record_row(loom_dtype t, const uint8_t *rec, int r, uint8_t *block) {
    if (is_more(t)) {
        x16_more_unpack_row(t, rec, r, block);
        return;
    }
    if (t == LOOM_DTYPE_Q6_K) {
        memcpy(block + 208, rec + 2 * r, 2);
        for (int s = 0; s < 16; s++) block[192 + s] = rec[Q6_K_SCALES + 16 * s + r];
        chunks_out(block, rec + Q6_K_LOW, r, 32);
        chunks_out(block + 128, rec + Q6_K_HIGH, r, 16);
        return;
    }
    if (t == LOOM_DTYPE_Q4_K) {
        uint8_t sc[8], mn[8];
        memcpy(block, rec + 2 * r, 2);
        memcpy(block + 2, rec + 32 + 2 * r, 2);
        for (int j = 0; j < 8; j++) {
            sc[j] = rec[Q4_K_SCALES + 16 * j + r];
            mn[j] = rec[Q4_K_SCALES + 128 + 16 * j + r];
        }
        loom_q4_k_encode_scales(sc, mn, block + 4);
        chunks_out(block + 16, rec + Q4_K_QUANTS, r, 32);
        return;
    }
    size_t hb = header_bytes(t), qb = quant_bytes(t);
    memcpy(block, rec + 2 * r, 2);
    if (t == LOOM_DTYPE_Q4_1) memcpy(block + 2, rec + 32 + 2 * r, 2);
    for (size_t c = 0; c < qb / 4; c++) {
        memcpy(block + hb + 4 * c, rec + LOOM_X16_ROWS * hb + chunk_at(c, r), 4);
        if (t == LOOM_DTYPE_Q8_0)
            for (int i = 0; i < 4; i++) block[hb + 4 * c + (size_t)i] ^= 0x80;
    }
}

void x16_pack(loom_dtype t, const void *rows, void *dst, int64_t n_rows, int64_t row_len) {
    size_t block_bytes = dtype_block_bytes(t), row_bytes = dtype_bytes(t, row_len);
    size_t rec_bytes = loom_x16_record_bytes(t), group_bytes = x16_group_bytes(t, row_len);
    int64_t n_blocks = row_len / dtype_block_elems(t);
    for (int64_t g = 0; g < n_rows / LOOM_X16_ROWS; g++) {
        const uint8_t *group = (const uint8_t *)rows + (size_t)g * LOOM_X16_ROWS * row_bytes;
        uint8_t *out = (uint8_t *)dst + (size_t)g * group_bytes;
        for (int64_t b = 0; b < n_blocks; b++)
            for (int r = 0; r < LOOM_X16_ROWS; r++)
                pack_record_row(t, group + (size_t)r * row_bytes + (size_t)b * block_bytes, r,
                                out + (size_t)b * rec_bytes);
    }
}

void x16_dequant_row(loom_dtype t, const void *packed, int64_t row, int64_t row_len, float *out) {
    size_t rec_bytes = loom_x16_record_bytes(t);
    int64_t elems = dtype_block_elems(t), n_blocks = row_len / elems;
    const uint8_t *group = (const uint8_t *)packed + (size_t)(row / LOOM_X16_ROWS) * x16_group_bytes(t, row_len);
    uint8_t block[256];
    for (int64_t b = 0; b < n_blocks; b++) {
        unpack_record_row(t, group + (size_t)b * rec_bytes, (int)(row % LOOM_X16_ROWS), block);
        dequant_row(t, block, out + elems * b, elems);
    }
}
