/* The KV block manager: reference counts, all-or-nothing allocation, copy-on-write after a fork in the
 * middle of a block, the prefix cache's hash chain (with the token-equality check under a forced
 * collision, and a rewritten parent), and the LRU order of evictions. */
#include "check.h"
#include "kv/block_manager.h"

enum { BS = 16 };

static loom_block_manager *make_bm(int32_t n_blocks, int prefix) {
    loom_block_manager *bm = NULL;
    loom_error err;
    CHECK(bm_create(n_blocks, BS, prefix, &bm, &err) == LOOM_OK);
    return bm;
}

static void fill_tokens(int32_t *t, int32_t n, int32_t base) {
    for (int32_t i = 0; i < n; i++) t[i] = base + i;
}

static void test_ref_counts_and_release(void) {
    loom_block_manager *bm = make_bm(8, 0);
    loom_block_table a = {0}, b = {0};
    loom_error err;
    CHECK(bm_allocate(bm, &a, 40) == 0);
    CHECK(a.n_blocks == 3 && bm_num_free(bm) == 5);
    CHECK(bm_blocks_needed(bm, &a, 48) == 0 && bm_blocks_needed(bm, &a, 49) == 1);
    CHECK(bm_fork(bm, &a, &b, &err) == LOOM_OK);
    CHECK(b.n_blocks == 3 && bm_num_free(bm) == 5);
    for (int i = 0; i < 3; i++) CHECK(b.blocks[i] == a.blocks[i] && bm_ref_count(bm, a.blocks[i]) == 2);
    CHECK(bm_fork(bm, &a, &b, &err) == LOOM_ERR_INVALID_ARG); /* child must be empty */
    bm_release(bm, &a);
    CHECK(a.n_blocks == 0 && bm_num_free(bm) == 5);
    for (int i = 0; i < 3; i++) CHECK(bm_ref_count(bm, b.blocks[i]) == 1);
    bm_release(bm, &b);
    CHECK(bm_num_free(bm) == 8);
    loom_block_manager_stats s;
    bm_get_stats(bm, &s);
    CHECK(s.n_blocks_total == 8 && s.n_blocks_free == 8 && s.n_blocks_cached == 0);
    block_table_free(&a);
    block_table_free(&b);
    bm_free(bm);
}

static void test_allocate_all_or_nothing(void) {
    loom_block_manager *bm = make_bm(4, 1);
    loom_block_table a = {0}, b = {0};
    CHECK(bm_allocate(bm, &a, 17) == 0 && a.n_blocks == 2);
    CHECK(bm_allocate(bm, &b, 3 * BS) == -1); /* needs 3, only 2 free */
    CHECK(b.n_blocks == 0 && bm_num_free(bm) == 2);
    CHECK(bm_allocate(bm, &a, 5 * BS) == -1); /* grows by 3 */
    CHECK(a.n_blocks == 2 && bm_num_free(bm) == 2);
    CHECK(bm_allocate(bm, &a, 4 * BS) == 0 && a.n_blocks == 4 && bm_num_free(bm) == 0);
    bm_release(bm, &a);
    block_table_free(&a);
    block_table_free(&b);
    bm_free(bm);
}

/* Fork a 20-token sequence (block 1 half full); each side writes position 20 next. */
static void test_cow_fork_mid_block(void) {
    loom_block_manager *bm = make_bm(6, 1);
    loom_block_table parent = {0}, child = {0};
    loom_error err;
    CHECK(bm_allocate(bm, &parent, 20) == 0);
    int32_t p0 = parent.blocks[0], p1 = parent.blocks[1], src = -1, dst = -1;
    CHECK(bm_fork(bm, &parent, &child, &err) == LOOM_OK);
    CHECK(bm_allocate(bm, &child, 21) == 0 && child.n_blocks == 2); /* block 1 has room */
    CHECK(bm_prepare_write(bm, &child, 20, &src, &dst) == 1);
    CHECK(src == p1 && dst != p1 && dst != p0 && child.blocks[1] == dst && child.blocks[0] == p0);
    CHECK(parent.blocks[1] == p1 && bm_ref_count(bm, p1) == 1 && bm_ref_count(bm, dst) == 1);
    CHECK(bm_ref_count(bm, p0) == 2);
    /* the parent's block is private again: no copy */
    CHECK(bm_prepare_write(bm, &parent, 20, &src, &dst) == 0);
    /* the full, shared block 0 would be copied too if anyone wrote into it */
    loom_block_table other = {0};
    CHECK(bm_fork(bm, &parent, &other, &err) == LOOM_OK);
    CHECK(bm_prepare_write(bm, &other, 3, &src, &dst) == 1 && src == p0);
    bm_release(bm, &other);
    bm_release(bm, &child);
    bm_release(bm, &parent);
    CHECK(bm_num_free(bm) == 6);
    /* no free block: the copy cannot happen */
    loom_block_table big = {0}, fork2 = {0};
    CHECK(bm_allocate(bm, &big, 6 * BS - 1) == 0);
    CHECK(bm_fork(bm, &big, &fork2, &err) == LOOM_OK);
    CHECK(bm_prepare_write(bm, &fork2, 6 * BS - 1, &src, &dst) == -1);
    bm_release(bm, &fork2);
    bm_release(bm, &big);
    block_table_free(&parent);
    block_table_free(&child);
    block_table_free(&other);
    block_table_free(&big);
    block_table_free(&fork2);
    bm_free(bm);
}

static void test_prefix_hash_chain(void) {
    loom_block_manager *bm = make_bm(16, 1);
    int32_t toks[64], other[64];
    fill_tokens(toks, 64, 100);
    loom_block_table a = {0}, b = {0};
    CHECK(bm_match_prefix(bm, toks, 50, &a) == 0); /* empty cache */
    CHECK(bm_allocate(bm, &a, 50) == 0);
    bm_commit(bm, &a, toks, 50);
    bm_commit(bm, &a, toks, 50); /* idempotent */
    loom_block_manager_stats s;
    bm_get_stats(bm, &s);
    CHECK(s.n_blocks_cached == 3);
    int32_t a_blocks[4];
    for (int i = 0; i < 4; i++) a_blocks[i] = a.blocks[i];
    /* while a still runs, b shares its first two blocks */
    fill_tokens(other, 64, 100);
    other[40] = 7;
    CHECK(bm_match_prefix(bm, other, 45, &b) == 32);
    CHECK(b.n_blocks == 2 && b.blocks[0] == a_blocks[0] && b.blocks[1] == a_blocks[1]);
    CHECK(bm_ref_count(bm, a_blocks[0]) == 2);
    bm_release(bm, &b);
    /* never the whole prompt: 48 tokens = 3 full blocks, only 2 are reused */
    CHECK(bm_match_prefix(bm, toks, 48, &b) == 32);
    bm_release(bm, &b);
    CHECK(bm_match_prefix(bm, toks, 49, &b) == 48);
    bm_release(bm, &b);
    /* chained: block 1's tokens after a different block 0 are not block 1 */
    fill_tokens(other, 64, 100);
    other[0] = 5;
    CHECK(bm_match_prefix(bm, other, 60, &b) == 0 && b.n_blocks == 0);
    /* after a is released its blocks stay cached and can be revived */
    bm_release(bm, &a);
    CHECK(bm_num_free(bm) == 16);
    CHECK(bm_match_prefix(bm, toks, 64, &b) == 48);
    CHECK(b.blocks[2] == a_blocks[2] && bm_num_free(bm) == 13);
    bm_get_stats(bm, &s);
    CHECK(s.prefix_hit_tokens == 32 + 32 + 48 + 48 && s.prefix_query_tokens == 50 + 45 + 48 + 49 + 60 + 64);
    bm_release(bm, &b);
    /* caching off: nothing is matched */
    loom_block_manager *off = make_bm(4, 0);
    loom_block_table c = {0};
    CHECK(bm_allocate(off, &c, 33) == 0);
    bm_commit(off, &c, toks, 33);
    bm_release(off, &c);
    CHECK(bm_match_prefix(off, toks, 40, &c) == 0);
    bm_free(off);
    block_table_free(&a);
    block_table_free(&b);
    block_table_free(&c);
    bm_free(bm);
}

static uint64_t constant_hash(uint64_t parent_hash, const int32_t *tokens, int32_t n) { return 42; }

/* Every block hashes alike: only the stored token ids (and the parent) tell them apart. */
static void test_forced_collision(void) {
    loom_block_manager *bm = make_bm(8, 1);
    bm_set_hash_fn(bm, constant_hash);
    int32_t x[40], y[40];
    fill_tokens(x, 40, 0);
    fill_tokens(y, 40, 1000);
    loom_block_table a = {0}, b = {0}, c = {0};
    CHECK(bm_allocate(bm, &a, 40) == 0);
    bm_commit(bm, &a, x, 40);
    CHECK(bm_allocate(bm, &b, 40) == 0);
    bm_commit(bm, &b, y, 40);
    loom_block_manager_stats s;
    bm_get_stats(bm, &s);
    CHECK(s.n_blocks_cached == 4);
    CHECK(bm_match_prefix(bm, y, 40, &c) == 32);
    CHECK(c.blocks[0] == b.blocks[0] && c.blocks[1] == b.blocks[1]);
    bm_release(bm, &c);
    /* x's first block then y's second: same hash everywhere, but block 1's parent differs */
    int32_t mixed[40];
    fill_tokens(mixed, 40, 0);
    for (int i = 16; i < 32; i++) mixed[i] = y[i];
    CHECK(bm_match_prefix(bm, mixed, 40, &c) == 16 && c.blocks[0] == a.blocks[0]);
    bm_release(bm, &c);
    int32_t z[40];
    fill_tokens(z, 40, 5000);
    CHECK(bm_match_prefix(bm, z, 40, &c) == 0);
    bm_release(bm, &a);
    bm_release(bm, &b);
    block_table_free(&a);
    block_table_free(&b);
    block_table_free(&c);
    bm_free(bm);
}

/* A cached block rewritten in place (private, ref count 1) no longer vouches for its children. */
static void test_rewritten_parent(void) {
    loom_block_manager *bm = make_bm(4, 1);
    bm_set_hash_fn(bm, constant_hash); /* so only the parent's generation can tell */
    int32_t x[40], w[40], src, dst;
    fill_tokens(x, 40, 0);
    loom_block_table a = {0}, b = {0};
    CHECK(bm_allocate(bm, &a, 33) == 0);
    bm_commit(bm, &a, x, 33);
    CHECK(bm_prepare_write(bm, &a, 0, &src, &dst) == 0 && !bm_is_cached(bm, a.blocks[0]));
    fill_tokens(w, 40, 0);
    w[3] = 99;
    bm_commit(bm, &a, w, 33); /* block 0 now holds w's tokens; block 1 still x's */
    CHECK(bm_match_prefix(bm, x, 40, &b) == 0);
    CHECK(bm_match_prefix(bm, w, 40, &b) == 16); /* block 1 was computed after x's block 0 */
    bm_release(bm, &b);
    bm_release(bm, &a);
    block_table_free(&a);
    block_table_free(&b);
    bm_free(bm);
}

/* Released sequences' blocks are evicted oldest first, a sequence's tail before its prefix, and
 * uncached blocks are reused before any cached one. */
static void test_lru_eviction_order(void) {
    loom_block_manager *bm = make_bm(5, 1);
    int32_t x[40], y[40];
    fill_tokens(x, 40, 0);
    fill_tokens(y, 40, 500);
    loom_block_table a = {0}, b = {0}, t = {0};
    CHECK(bm_allocate(bm, &a, 32) == 0);
    bm_commit(bm, &a, x, 32);
    CHECK(bm_allocate(bm, &b, 32) == 0);
    bm_commit(bm, &b, y, 32);
    int32_t a0 = a.blocks[0], a1 = a.blocks[1], b0 = b.blocks[0], b1 = b.blocks[1];
    bm_release(bm, &a); /* released first: evicted first */
    bm_release(bm, &b);
    int32_t expect[5] = {-1, a1, a0, b1, b0};
    loom_block_manager_stats s;
    for (int k = 0; k < 5; k++) {
        CHECK(bm_allocate(bm, &t, (k + 1) * BS) == 0);
        if (k > 0) CHECK_MSG(t.blocks[k] == expect[k], "eviction %d: block %d, expected %d", k, t.blocks[k], expect[k]);
        else CHECK(t.blocks[0] != a0 && t.blocks[0] != a1 && t.blocks[0] != b0 && t.blocks[0] != b1);
        bm_get_stats(bm, &s);
        CHECK(s.evictions == (uint64_t)k && s.n_blocks_cached == 4 - k);
    }
    loom_block_table probe = {0};
    CHECK(bm_match_prefix(bm, x, 40, &probe) == 0 && bm_match_prefix(bm, y, 40, &probe) == 0);
    bm_release(bm, &t);
    /* a revived block leaves the queue: it is not evicted while in use */
    CHECK(bm_allocate(bm, &a, 32) == 0);
    bm_commit(bm, &a, x, 32);
    bm_release(bm, &a);
    CHECK(bm_match_prefix(bm, x, 20, &probe) == 16);
    CHECK(bm_allocate(bm, &t, 4 * BS) == 0 && bm_num_free(bm) == 0);
    for (int k = 0; k < 4; k++) CHECK(t.blocks[k] != probe.blocks[0]);
    CHECK(bm_allocate(bm, &b, 1) == -1);
    bm_release(bm, &t);
    bm_release(bm, &probe);
    block_table_free(&a);
    block_table_free(&b);
    block_table_free(&t);
    block_table_free(&probe);
    bm_free(bm);
}

/* A block freed without a cached prefix is reused before blocks that were never touched (its pages are
 * warm; the pool is pre-faulted anyway, so this is about cache locality, not resident memory). */
static void test_recently_freed_first(void) {
    loom_block_manager *bm = make_bm(8, 0);
    loom_block_table a = {0}, b = {0}, t = {0};
    CHECK(bm_allocate(bm, &a, 2 * BS) == 0);
    CHECK(bm_allocate(bm, &b, 2 * BS) == 0);
    int32_t a0 = a.blocks[0], a1 = a.blocks[1];
    bm_release(bm, &a);
    CHECK(bm_allocate(bm, &t, 2 * BS) == 0);
    CHECK_MSG((t.blocks[0] == a0 && t.blocks[1] == a1) || (t.blocks[0] == a1 && t.blocks[1] == a0),
              "got blocks %d, %d; the just-freed ones were %d, %d", t.blocks[0], t.blocks[1], a0, a1);
    bm_release(bm, &t);
    bm_release(bm, &b);
    block_table_free(&a);
    block_table_free(&b);
    block_table_free(&t);
    bm_free(bm);
}

static void test_bad_params(void) {
    loom_block_manager *bm = NULL;
    loom_error err;
    CHECK(bm_create(0, 16, 1, &bm, &err) == LOOM_ERR_INVALID_ARG && bm == NULL);
    CHECK(bm_create(4, 0, 1, &bm, &err) == LOOM_ERR_INVALID_ARG);
}

int main(void) {
    RUN(test_ref_counts_and_release);
    RUN(test_allocate_all_or_nothing);
    RUN(test_cow_fork_mid_block);
    RUN(test_prefix_hash_chain);
    RUN(test_forced_collision);
    RUN(test_rewritten_parent);
    RUN(test_lru_eviction_order);
    RUN(test_recently_freed_first);
    RUN(test_bad_params);
    return check_summary();
}
