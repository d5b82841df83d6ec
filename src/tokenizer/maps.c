/* Open-addressing hash maps: byte string → int32, and (int32, int32) → (rank, id). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int strmap_grow(tok_strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    tok_strmap_slot *slots = malloc(cap * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < cap; i++) slots[i].val = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].val < 0) continue;
        size_t j = m->slots[i].hash & (cap - 1);
        while (slots[j].val >= 0) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

static tok_strmap_slot *strmap_find(const tok_strmap *m, const char *key, size_t len, uint32_t h) {
    if (!m->cap) return NULL;
    size_t j = h & (m->cap - 1);
    for (;;) {
        tok_strmap_slot *s = &m->slots[j];
        if (s->val < 0) return s;
        if (s->hash == h && s->len == len && memcmp(m->keys.data + s->off, key, len) == 0) return s;
        j = (j + 1) & (m->cap - 1);
    }
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
    if (len > UINT32_MAX / 2 || m->keys.len > UINT32_MAX / 2) return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && strmap_grow(m)) return -1;
    uint32_t h = hash_bytes(key, len);
    tok_strmap_slot *s = strmap_find(m, key, len, h);
    if (s->val < 0) {
        uint32_t off = (uint32_t)m->keys.len;
        if (tok_buf_append(&m->keys, key, len)) return -1;
        s->off = off;
        s->len = (uint32_t)len;
        s->hash = h;
        m->count++;
    }
    s->val = val;
    return 0;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    tok_strmap_slot *s = strmap_find(m, key, len, hash_bytes(key, len));
    return s ? s->val : -1;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    tok_buf_free(&m->keys);
    memset(m, 0, sizeof *m);
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static size_t pair_slot(uint64_t k, size_t cap) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static int pairmap_grow(tok_pairmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = calloc(cap, sizeof *keys), *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = pair_slot(m->keys[i], cap);
        while (keys[j]) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t new_id) {
    if ((m->count + 1) * 2 > m->cap && pairmap_grow(m)) return -1;
    uint64_t k = pair_key(a, b);
    size_t j = pair_slot(k, m->cap);
    while (m->keys[j] && m->keys[j] != k) j = (j + 1) & (m->cap - 1);
    if (m->keys[j]) return 0;
    m->keys[j] = k;
    m->vals[j] = (uint64_t)(uint32_t)rank << 32 | (uint32_t)new_id;
    m->count++;
    return 0;
}

int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id) {
    if (!m->cap) return 0;
    uint64_t k = pair_key(a, b);
    size_t j = pair_slot(k, m->cap);
    while (m->keys[j]) {
        if (m->keys[j] == k) {
            *rank = (int32_t)(m->vals[j] >> 32);
            *new_id = (int32_t)(uint32_t)m->vals[j];
            return 1;
        }
        j = (j + 1) & (m->cap - 1);
    }
    return 0;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}
