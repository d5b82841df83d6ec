/* The KV block manager: ref counts, an LRU free queue (a doubly-linked list over block ids), a hash
 * map from chained block hashes to cached blocks, and per-sequence block tables. See block_manager.h.
 *
 * A cached block remembers its parent block id and that parent's generation (bumped whenever a block
 * is handed out fresh), plus its own token ids. A lookup accepts a candidate only when the hash, the
 * parent (id and generation) and every token id match, so neither a hash collision nor a parent that
 * was evicted and reused can ever return wrong KV. */
#include "kv/block_manager.h"

#include <stdlib.h>
#include <string.h>

#define NONE (-1)

struct loom_block_manager {
    int32_t n_blocks, block_size;
    int enable_prefix_caching;
    loom_bm_hash_fn hash_fn;
    int32_t *ref_count;   /* [n_blocks] */
    uint32_t *generation; /* [n_blocks] bumped each time the block is handed out fresh */
    /* free queue: blocks with ref count 0, head = next to evict */
    int32_t *prev, *next; /* [n_blocks] links, NONE at the ends */
    int32_t head, tail, n_free;
    /* prefix cache */
    uint8_t *cached;      /* [n_blocks] 1 while in the hash map */
    uint8_t *committed;   /* [n_blocks] 1 once its hash is computed (cached or a duplicate) */
    uint64_t *hash;       /* [n_blocks] chained hash, valid when committed */
    int32_t *parent;      /* [n_blocks] previous block of the sequence at commit, NONE for the first */
    uint32_t *parent_gen; /* [n_blocks] generation of parent at commit */
    int32_t *tokens;      /* [n_blocks][block_size] token ids of a committed block */
    int32_t *bucket_head; /* [n_buckets] first cached block of the bucket */
    int32_t *bucket_next; /* [n_blocks] next cached block in the same bucket */
    uint64_t bucket_mask;
    int32_t n_cached;
    uint64_t prefix_query_tokens, prefix_hit_tokens, evictions;
};

void block_table_free(loom_block_table *t) {
    free(t->blocks);
    memset(t, 0, sizeof *t);
}

/* splitmix64-style mixing of the parent hash with each token id */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t bm_default_hash(uint64_t parent_hash, const int32_t *tokens, int32_t n) {
    uint64_t h = mix64(parent_hash + 0x9e3779b97f4a7c15ull);
    for (int32_t i = 0; i < n; i++)
        h = mix64(h ^ ((uint64_t)(uint32_t)tokens[i] + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)));
    return h;
}

/* ---- free queue ---- */

static void queue_remove(loom_block_manager *bm, int32_t b) {
    if (bm->prev[b] != NONE) bm->next[bm->prev[b]] = bm->next[b];
    else bm->head = bm->next[b];
    if (bm->next[b] != NONE) bm->prev[bm->next[b]] = bm->prev[b];
    else bm->tail = bm->prev[b];
    bm->prev[b] = bm->next[b] = NONE;
    bm->n_free--;
}

static void queue_push_tail(loom_block_manager *bm, int32_t b) {
    bm->prev[b] = bm->tail;
    bm->next[b] = NONE;
    if (bm->tail != NONE) bm->next[bm->tail] = b;
    else bm->head = b;
    bm->tail = b;
    bm->n_free++;
}

static void queue_push_head(loom_block_manager *bm, int32_t b) {
    bm->next[b] = bm->head;
    bm->prev[b] = NONE;
    if (bm->head != NONE) bm->prev[bm->head] = b;
    else bm->tail = b;
    bm->head = b;
    bm->n_free++;
}

/* ---- hash map ---- */

static void map_insert(loom_block_manager *bm, int32_t b) {
    uint64_t k = bm->hash[b] & bm->bucket_mask;
    bm->bucket_next[b] = bm->bucket_head[k];
    bm->bucket_head[k] = b;
    bm->cached[b] = 1;
    bm->n_cached++;
}

static void map_remove(loom_block_manager *bm, int32_t b) {
    int32_t *link = &bm->bucket_head[bm->hash[b] & bm->bucket_mask];
    while (*link != b) link = &bm->bucket_next[*link];
    *link = bm->bucket_next[b];
    bm->cached[b] = 0;
    bm->n_cached--;
}

/* The cached block holding exactly these tokens after `parent`, or NONE. */
static int32_t map_find(const loom_block_manager *bm, uint64_t h, int32_t parent, const int32_t *tokens) {
    size_t row = (size_t)bm->block_size;
    for (int32_t b = bm->bucket_head[h & bm->bucket_mask]; b != NONE; b = bm->bucket_next[b]) {
        if (bm->hash[b] != h || bm->parent[b] != parent) continue;
        if (parent != NONE && bm->parent_gen[b] != bm->generation[parent]) continue;
        if (memcmp(bm->tokens + (size_t)b * row, tokens, row * sizeof(int32_t)) == 0) return b;
    }
    return NONE;
}

/* ---- blocks ---- */

/* Pops the free queue's head, evicting its cached KV if any; the block comes back with ref count 1. */
static int32_t take_fresh_block(loom_block_manager *bm) {
    int32_t b = bm->head;
    if (b == NONE) return NONE;
    queue_remove(bm, b);
    if (bm->cached[b]) {
        map_remove(bm, b);
        bm->evictions++;
    }
    bm->committed[b] = 0;
    bm->generation[b]++;
    bm->ref_count[b] = 1;
    return b;
}

static void add_ref(loom_block_manager *bm, int32_t b) {
    if (bm->ref_count[b]++ == 0) queue_remove(bm, b);
}

static void drop_ref(loom_block_manager *bm, int32_t b) {
    if (--bm->ref_count[b] > 0) return;
    /* cached blocks wait at the tail (LRU); anything else is worthless and goes first */
    if (bm->cached[b]) queue_push_tail(bm, b);
    else queue_push_head(bm, b);
}

static int reserve_table(loom_block_table *t, int32_t n_blocks) {
    if (n_blocks <= t->capacity) return 0;
    int32_t cap = t->capacity ? t->capacity : 4;
    while (cap < n_blocks) cap *= 2;
    int32_t *p = realloc(t->blocks, (size_t)cap * sizeof *p);
    if (!p) return -1;
    t->blocks = p;
    t->capacity = cap;
    return 0;
}

/* ---- public ---- */

loom_status bm_create(int32_t n_blocks, int32_t block_size, int enable_prefix_caching, loom_block_manager **out,
                      loom_error *err) {
    *out = NULL;
    if (n_blocks <= 0 || block_size <= 0 || block_size > 4096 || n_blocks > (1 << 28))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "block manager needs 1..2^28 blocks of 1..4096 tokens (got %d of %d)", n_blocks, block_size);
    loom_block_manager *bm = calloc(1, sizeof *bm);
    if (!bm) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for the block manager");
    size_t n = (size_t)n_blocks, n_buckets = 1;
    while (n_buckets < 2 * n) n_buckets *= 2;
    bm->n_blocks = n_blocks;
    bm->block_size = block_size;
    bm->enable_prefix_caching = enable_prefix_caching;
    bm->hash_fn = bm_default_hash;
    bm->bucket_mask = n_buckets - 1;
    bm->ref_count = calloc(n, sizeof *bm->ref_count);
    bm->generation = calloc(n, sizeof *bm->generation);
    bm->prev = malloc(n * sizeof *bm->prev);
    bm->next = malloc(n * sizeof *bm->next);
    bm->cached = calloc(n, 1);
    bm->committed = calloc(n, 1);
    bm->hash = calloc(n, sizeof *bm->hash);
    bm->parent = calloc(n, sizeof *bm->parent);
    bm->parent_gen = calloc(n, sizeof *bm->parent_gen);
    bm->tokens = enable_prefix_caching ? malloc(n * (size_t)block_size * sizeof *bm->tokens) : NULL;
    bm->bucket_head = malloc(n_buckets * sizeof *bm->bucket_head);
    bm->bucket_next = malloc(n * sizeof *bm->bucket_next);
    if (!bm->ref_count || !bm->generation || !bm->prev || !bm->next || !bm->cached || !bm->committed || !bm->hash ||
        !bm->parent || !bm->parent_gen || (enable_prefix_caching && !bm->tokens) || !bm->bucket_head ||
        !bm->bucket_next) {
        bm_free(bm);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a block manager of %d blocks", n_blocks);
    }
    for (size_t k = 0; k < n_buckets; k++) bm->bucket_head[k] = NONE;
    bm->head = bm->tail = NONE;
    for (int32_t b = 0; b < n_blocks; b++) queue_push_tail(bm, b);
    *out = bm;
    return LOOM_OK;
}

void bm_free(loom_block_manager *bm) {
    if (!bm) return;
    free(bm->ref_count);
    free(bm->generation);
    free(bm->prev);
    free(bm->next);
    free(bm->cached);
    free(bm->committed);
    free(bm->hash);
    free(bm->parent);
    free(bm->parent_gen);
    free(bm->tokens);
    free(bm->bucket_head);
    free(bm->bucket_next);
    free(bm);
}

void bm_set_hash_fn(loom_block_manager *bm, loom_bm_hash_fn fn) { bm->hash_fn = fn ? fn : bm_default_hash; }
int32_t bm_block_size(const loom_block_manager *bm) { return bm->block_size; }
int32_t bm_num_blocks(const loom_block_manager *bm) { return bm->n_blocks; }
int32_t bm_num_free(const loom_block_manager *bm) { return bm->n_free; }
int32_t bm_ref_count(const loom_block_manager *bm, int32_t block) { return bm->ref_count[block]; }
int bm_is_cached(const loom_block_manager *bm, int32_t block) { return bm->cached[block]; }

void bm_get_stats(const loom_block_manager *bm, loom_block_manager_stats *out) {
    *out = (loom_block_manager_stats){
        .n_blocks_total = bm->n_blocks,
        .n_blocks_free = bm->n_free,
        .n_blocks_cached = bm->n_cached,
        .prefix_query_tokens = bm->prefix_query_tokens,
        .prefix_hit_tokens = bm->prefix_hit_tokens,
        .evictions = bm->evictions,
    };
}

int32_t bm_match_prefix(loom_block_manager *bm, const int32_t *tokens, int32_t n, loom_block_table *t) {
    if (!bm->enable_prefix_caching || n <= 0 || t->n_blocks != 0) return 0;
    bm->prefix_query_tokens += (uint64_t)n;
    int32_t bs = bm->block_size, max_blocks = (n - 1) / bs, parent = NONE;
    uint64_t h = 0;
    if (reserve_table(t, max_blocks) != 0) return 0;
    for (int32_t i = 0; i < max_blocks; i++) {
        const int32_t *block_tokens = tokens + (size_t)i * bs;
        h = bm->hash_fn(h, block_tokens, bs);
        int32_t b = map_find(bm, h, parent, block_tokens);
        if (b == NONE) break;
        add_ref(bm, b);
        t->blocks[t->n_blocks++] = b;
        parent = b;
    }
    int32_t hit = t->n_blocks * bs;
    bm->prefix_hit_tokens += (uint64_t)hit;
    return hit;
}

int32_t bm_blocks_needed(const loom_block_manager *bm, const loom_block_table *t, int32_t n_tokens) {
    int32_t want = (int32_t)(((int64_t)n_tokens + bm->block_size - 1) / bm->block_size);
    return want > t->n_blocks ? want - t->n_blocks : 0;
}

int bm_allocate(loom_block_manager *bm, loom_block_table *t, int32_t n_tokens) {
    int32_t need = bm_blocks_needed(bm, t, n_tokens);
    if (need == 0) return 0;
    if (need > bm->n_free || reserve_table(t, t->n_blocks + need) != 0) return -1;
    for (int32_t i = 0; i < need; i++) t->blocks[t->n_blocks++] = take_fresh_block(bm);
    return 0;
}

int bm_prepare_write(loom_block_manager *bm, loom_block_table *t, int32_t pos, int32_t *src, int32_t *dst) {
    int32_t bi = pos / bm->block_size;
    if (bi < 0 || bi >= t->n_blocks) return 0;
    int32_t b = t->blocks[bi];
    if (bm->ref_count[b] == 1) {
        /* a private block about to be overwritten can no longer serve as a cached prefix */
        if (bm->cached[b]) map_remove(bm, b);
        if (bm->committed[b]) bm->generation[b]++; /* its children's KV no longer follows it */
        bm->committed[b] = 0;
        return 0;
    }
    int32_t fresh = take_fresh_block(bm);
    if (fresh == NONE) return -1;
    drop_ref(bm, b);
    t->blocks[bi] = fresh;
    *src = b;
    *dst = fresh;
    return 1;
}

void bm_commit(loom_block_manager *bm, loom_block_table *t, const int32_t *tokens, int32_t n_computed) {
    if (!bm->enable_prefix_caching) return;
    int32_t bs = bm->block_size, full = n_computed / bs;
    if (full > t->n_blocks) full = t->n_blocks;
    uint64_t h = 0;
    for (int32_t i = 0; i < full; i++) {
        int32_t b = t->blocks[i], parent = i ? t->blocks[i - 1] : NONE;
        if (bm->committed[b]) {
            h = bm->hash[b];
            continue;
        }
        const int32_t *block_tokens = tokens + (size_t)i * bs;
        h = bm->hash_fn(h, block_tokens, bs);
        bm->committed[b] = 1;
        bm->hash[b] = h;
        bm->parent[b] = parent;
        bm->parent_gen[b] = parent == NONE ? 0 : bm->generation[parent];
        memcpy(bm->tokens + (size_t)b * bs, block_tokens, (size_t)bs * sizeof(int32_t));
        /* an identical block computed by another sequence is already cached: keep that one */
        if (map_find(bm, h, parent, block_tokens) == NONE) map_insert(bm, b);
    }
}

loom_status bm_fork(loom_block_manager *bm, const loom_block_table *parent, loom_block_table *child, loom_error *err) {
    if (child->n_blocks != 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "fork target block table is not empty");
    if (reserve_table(child, parent->n_blocks) != 0)
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory forking a block table of %d blocks", parent->n_blocks);
    for (int32_t i = 0; i < parent->n_blocks; i++) {
        add_ref(bm, parent->blocks[i]);
        child->blocks[i] = parent->blocks[i];
    }
    child->n_blocks = parent->n_blocks;
    return LOOM_OK;
}

void bm_truncate(loom_block_manager *bm, loom_block_table *t, int32_t n_tokens) {
    int32_t keep = (int32_t)(((int64_t)n_tokens + bm->block_size - 1) / bm->block_size);
    while (t->n_blocks > keep) drop_ref(bm, t->blocks[--t->n_blocks]);
}

void bm_release(loom_block_manager *bm, loom_block_table *t) {
    for (int32_t i = t->n_blocks - 1; i >= 0; i--) drop_ref(bm, t->blocks[i]);
    t->n_blocks = 0;
}
