/* The KV block manager (vLLM v1's KVCacheManager + BlockPool, in C): a fixed pool of KV blocks with
 * reference counts, per-sequence block tables, copy-on-write for shared blocks, and prefix caching.
 *
 * Prefix caching: a FULL block is identified by hash(parent block's hash, its block_size token ids);
 * the token ids are stored with the block and compared on every hit, so a hash collision can never
 * return wrong KV. A block whose ref count drops to 0 keeps its KV and its hash and joins the tail of
 * the free queue (LRU): it can be revived by a later prefix hit, or evicted (hash dropped) when the
 * pool needs a fresh block; the free queue's head is evicted first.
 *
 * No KV bytes live here: the manager hands out block ids; the KV storage (kv_store.h) holds the data.
 * The manager never calls the model. */
#ifndef LOOM_KV_BLOCK_MANAGER_H
#define LOOM_KV_BLOCK_MANAGER_H

#include <stdint.h>

#include "core/error.h"

typedef struct loom_block_manager loom_block_manager;

/* One sequence's blocks: blocks[i] holds token positions [i*block_size, (i+1)*block_size). */
typedef struct loom_block_table {
    int32_t *blocks; /* owned by the table (block_table_free) */
    int32_t n_blocks;
    int32_t capacity;
} loom_block_table;

void block_table_free(loom_block_table *t);

typedef struct loom_block_manager_stats {
    int32_t n_blocks_total;
    int32_t n_blocks_free;        /* ref count 0: truly empty or cached-but-evictable */
    int32_t n_blocks_cached;      /* holding a prefix hash (in use or evictable) */
    uint64_t prefix_query_tokens; /* tokens looked up by bm_match_prefix */
    uint64_t prefix_hit_tokens;   /* of those, served from the cache */
    uint64_t evictions;
} loom_block_manager_stats;

loom_status bm_create(int32_t n_blocks, int32_t block_size, int enable_prefix_caching, loom_block_manager **out,
                      loom_error *err);
void bm_free(loom_block_manager *bm);
int32_t bm_block_size(const loom_block_manager *bm);
int32_t bm_num_free(const loom_block_manager *bm);
void bm_get_stats(const loom_block_manager *bm, loom_block_manager_stats *out);

/* For an empty table: appends (and references) the longest run of cached full blocks matching
 * tokens[0 .. n). Returns the number of tokens covered, a multiple of block_size, never n itself (at
 * least one token is always left to compute so the caller gets logits). 0 when caching is off. */
int32_t bm_match_prefix(loom_block_manager *bm, const int32_t *tokens, int32_t n, loom_block_table *t);

/* Grows t to hold n_tokens tokens in total. All-or-nothing: returns 0 on success, -1 (t unchanged)
 * when the pool cannot supply the blocks even after evicting every evictable cached block. */
int bm_allocate(loom_block_manager *bm, loom_block_table *t, int32_t n_tokens);
/* How many more blocks t needs to hold n_tokens (0 if it already can). */
int32_t bm_blocks_needed(const loom_block_manager *bm, const loom_block_table *t, int32_t n_tokens);

/* Copy-on-write: before tokens are written at positions [pos, ...) of block index pos/block_size,
 * a block shared with another table (ref count > 1) is replaced in t by a fresh private block.
 * Returns 0 when no copy is needed, 1 with *src and *dst set when the caller must copy the KV of block
 * src into dst before writing, -1 when no free block exists. */
int bm_prepare_write(loom_block_manager *bm, loom_block_table *t, int32_t pos, int32_t *src, int32_t *dst);

/* After tokens [0, n_computed) of the sequence are in KV: registers each newly FULL block in the
 * prefix cache (hash chained from the previous block). Idempotent for blocks already registered. */
void bm_commit(loom_block_manager *bm, loom_block_table *t, const int32_t *tokens, int32_t n_computed);

/* child = a new table sharing every block of parent (ref counts + 1). child must be empty. */
loom_status bm_fork(loom_block_manager *bm, const loom_block_table *parent, loom_block_table *child, loom_error *err);

/* Drops the references of t's blocks past those n_tokens tokens need (speculative tokens rejected). */
void bm_truncate(loom_block_manager *bm, loom_block_table *t, int32_t n_tokens);

/* Drops t's references (last block first, so a sequence's tail is evicted before its shared prefix)
 * and empties t. */
void bm_release(loom_block_manager *bm, loom_block_table *t);

/* ---- extensions: introspection and a hash hook (tests force collisions with it) ---- */

/* The chained block hash: hash of a full block given its parent's hash (0 for the first block). */
typedef uint64_t (*loom_bm_hash_fn)(uint64_t parent_hash, const int32_t *tokens, int32_t n);
uint64_t bm_default_hash(uint64_t parent_hash, const int32_t *tokens, int32_t n);
/* Replaces the hash function (NULL restores the default); call before any commit. */
void bm_set_hash_fn(loom_block_manager *bm, loom_bm_hash_fn fn);
int32_t bm_num_blocks(const loom_block_manager *bm);
int32_t bm_ref_count(const loom_block_manager *bm, int32_t block);
/* 1 while the block is in the prefix cache (in use or evictable). */
int bm_is_cached(const loom_block_manager *bm, int32_t block);

#endif
