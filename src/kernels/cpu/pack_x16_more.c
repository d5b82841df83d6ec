#include "kernels/cpu/pack_x16_more.h"

#include <string.h>

#include "kernels/cpu/dot_x86.h"
#include "kernels/cpu/pack_x16.h"

/* where chunk c (bytes 4c..4c+3) of row r goes in runs of 8 chunks x 16 rows */
static size_t run_at(size_t c, int r) { return 512 * (c / 8) + (c % 8 * LOOM_X16_ROWS + (size_t)r) * 4; }

/* n chunks (4n bytes) of row r into / out of the runs at rec */
static void chunks_in(uint8_t *rec, const uint8_t *src, int r, size_t n) {
    for (size_t c = 0; c < n; c++) memcpy(rec + run_at(c, r), src + 4 * c, 4);
}
static void chunks_out(uint8_t *dst, const uint8_t *rec, int r, size_t n) {
    for (size_t c = 0; c < n; c++) memcpy(dst + 4 * c, rec + run_at(c, r), 4);
}

static uint32_t u32_at(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint32_t q5_qh_of_h(uint32_t h) {
    uint32_t qh = 0;
    for (int c = 0; c < 8; c++)
        for (int i = 0; i < 4; i++) qh |= ((h >> (8 * i + c)) & 1u) << (4 * c + i);
    return qh;
}

/* Packing and unpacking are one description per dtype (move_record): each field is moved from the block to
 * the record (pack) or back (unpack) by the helpers below. */
typedef struct mover {
    int pack;
    uint8_t *block, *rec;
    int r;
} mover;

static void move(const mover *m, size_t block_off, size_t rec_off, size_t n) {
    if (m->pack) memcpy(m->rec + rec_off, m->block + block_off, n);
    else memcpy(m->block + block_off, m->rec + rec_off, n);
}
static void move_chunks(const mover *m, size_t block_off, size_t rec_off, size_t n_chunks) {
    if (m->pack) chunks_in(m->rec + rec_off, m->block + block_off, m->r, n_chunks);
    else chunks_out(m->block + block_off, m->rec + rec_off, m->r, n_chunks);
}
/* per-row bytes of a [k][16 rows] table: byte i of the block <-> rec[16 i + r] */
static void move_column(const mover *m, size_t block_off, size_t rec_off, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (m->pack) m->rec[rec_off + 16 * i + (size_t)m->r] = m->block[block_off + i];
        else m->block[block_off + i] = m->rec[rec_off + 16 * i + (size_t)m->r];
    }
}
/* Q5's qh (at block_off) <-> h (at rec_off + 4 r) */
static void move_q5_h(const mover *m, size_t block_off, size_t rec_off) {
    uint32_t v = m->pack ? loom_x16_q5_h_of_qh(u32_at(m->block + block_off))
                         : q5_qh_of_h(u32_at(m->rec + rec_off + 4 * (size_t)m->r));
    memcpy(m->pack ? m->rec + rec_off + 4 * (size_t)m->r : m->block + block_off, &v, 4);
}

/* IQ4_XS's 6-bit scales (ls, stored in scales_l nibbles and scales_h bit pairs) <-> int8 ls - 32 */
static void move_iq4_xs_scales(const mover *m) {
    for (int s = 0; s < 8; s++) {
        uint8_t *cell = m->rec + 32 + 16 * s + m->r;
        if (m->pack) {
            uint16_t sh = (uint16_t)(m->block[2] | m->block[3] << 8);
            int ls = ((m->block[4 + s / 2] >> (4 * (s % 2))) & 15) | ((sh >> (2 * s)) & 3) << 4;
            *cell = (uint8_t)(int8_t)(ls - 32);
        } else {
            int ls = (int8_t)*cell + 32;
            if (s == 0) memset(m->block + 2, 0, 6);
            m->block[4 + s / 2] |= (uint8_t)((ls & 15) << (4 * (s % 2)));
            uint16_t sh = (uint16_t)(m->block[2] | m->block[3] << 8 | (ls >> 4) << (2 * s));
            m->block[2] = (uint8_t)sh;
            m->block[3] = (uint8_t)(sh >> 8);
        }
    }
}

/* Q3_K's 16 6-bit scales (low nibbles in bytes 0..7, high bit pairs in 8..11) <-> int8 scale - 32 */
static void move_q3_k_scales(const mover *m) {
    const size_t sc = 96;
    if (!m->pack) memset(m->block + sc, 0, 12);
    for (int i = 0; i < 16; i++) {
        uint8_t *cell = m->rec + 32 + 16 * i + m->r;
        if (m->pack) {
            *cell = (uint8_t)(int8_t)loom_q3_k_scale(m->block + sc, i);
        } else {
            int v = (int8_t)*cell + 32;
            m->block[sc + i % 8] |= (uint8_t)((v & 15) << (4 * (i / 8)));
            m->block[sc + 8 + i % 4] |= (uint8_t)((v >> 4) << (2 * (i / 4)));
        }
    }
}

/* Q5_K's packed 6-bit scales and mins <-> bytes [8][16] each (the Q4_K helpers' encoding) */
static void move_k_scales(const mover *m) {
    uint8_t sc[8], mn[8];
    if (m->pack) {
        for (int j = 0; j < 8; j++) {
            int s, n;
            loom_q4_k_scale_min(m->block + 4, j, &s, &n);
            m->rec[64 + 16 * j + m->r] = (uint8_t)s;
            m->rec[192 + 16 * j + m->r] = (uint8_t)n;
        }
        return;
    }
    for (int j = 0; j < 8; j++) {
        sc[j] = m->rec[64 + 16 * j + m->r];
        mn[j] = m->rec[192 + 16 * j + m->r];
    }
    loom_q4_k_encode_scales(sc, mn, m->block + 4);
}

static void move_record(mover *m, loom_dtype t) {
    size_t r2 = 2 * (size_t)m->r;
    switch (t) {
        case LOOM_DTYPE_Q5_0:
            move(m, 0, r2, 2);
            move_q5_h(m, 2, 32);
            move_chunks(m, 6, 96, 4);
            return;
        case LOOM_DTYPE_Q5_1:
            move(m, 0, r2, 2);
            move(m, 2, 32 + r2, 2);
            move_q5_h(m, 4, 64);
            move_chunks(m, 8, 128, 4);
            return;
        case LOOM_DTYPE_IQ4_NL:
            move(m, 0, r2, 2);
            move_chunks(m, 2, 32, 4);
            return;
        case LOOM_DTYPE_IQ4_XS:
            move(m, 0, r2, 2);
            move_iq4_xs_scales(m);
            for (int s = 0; s < 8; s++) move_chunks(m, 8 + 16 * (size_t)s, 160 + 256 * (size_t)s, 4);
            return;
        case LOOM_DTYPE_Q5_K:
            move(m, 0, r2, 2);
            move(m, 2, 32 + r2, 2);
            move_k_scales(m);
            move_chunks(m, 16, 320, 8);
            move_chunks(m, 48, 832, 32);
            return;
        case LOOM_DTYPE_Q2_K:
            move(m, 80, r2, 2);
            move(m, 82, 32 + r2, 2);
            move_column(m, 0, 64, 16);
            move_chunks(m, 16, 320, 16);
            return;
        default: /* Q3_K */
            move(m, 108, r2, 2);
            move_q3_k_scales(m);
            move_chunks(m, 32, 288, 16);
            move_chunks(m, 0, 1312, 8);
            return;
    }
}

void x16_more_pack_row(loom_dtype t, const uint8_t *block, int r, uint8_t *rec) {
    mover m = {1, (uint8_t *)block, rec, r};
    move_record(&m, t);
}

void x16_more_unpack_row(loom_dtype t, const uint8_t *rec, int r, uint8_t *block) {
    mover m = {0, block, (uint8_t *)rec, r};
    move_record(&m, t);
}
