/* The memory plan (loom_memory_plan_compute, `loom plan`): one budget for weights, activations and the
 * paged KV cache.
 *   weights     = bytes of every weight tensor as stored (loom_model_info.weight_bytes)
 *   activations = forward workspace per batched token x max_num_batched_tokens
 *                 + logits for max_num_seqs rows (vocab x 4 bytes each)
 *   KV / token  = 2 x layers x kv_heads x head_dim x dtype bytes, plus for fp8 a float32 scale per layer,
 *                 K/V and KV head (8 x layers x kv_heads), for int8 a float16 scale and zero per layer and
 *                 KV head for V (4 x layers x kv_heads) and per layer, block and K channel, spread over the
 *                 block's tokens (layers x ceil(4 x kv_heads x head_dim / block_size)); block_size x KV /
 *                 token is exactly one block's bytes (kv_bytes_per_token, kv/kv_store.h)
 *   KV budget   = kv_cache_memory_bytes if given, else what max_num_seqs sequences of max_model_len tokens
 *                 need, at most 4 GiB (vLLM CPU's default KV space); never more than the memory limit
 *                 (default 0.9 x physical RAM) leaves after weights and activations. The pool is
 *                 allocated and touched at start (kv_store.c), so a size the machine cannot hold fails
 *                 then, not under load.
 *   blocks      = floor(KV budget / (block_size x KV per token)), or num_kv_blocks when given.
 * A sharded model (tensor x pipeline parallel, loom_model_info.tp_size x pp_size > 1) plans one rank:
 * weights = its shard_weight_bytes, KV of its layers x its KV heads; activations stay the whole model's. */
#include "core/error.h"
#include "core/sysmem.h"
#include "kv/kv_store.h"

#define DEFAULT_MEMORY_FRACTION 0.9
#define DEFAULT_KV_CACHE_BYTES (4ull << 30)
#define MAX_BLOCKS (1 << 28)

static double gib(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0 * 1024.0); }

loom_status loom_memory_plan_compute(const loom_model *model, const loom_engine_params *params, loom_memory_plan *out,
                                     loom_error *err) {
    return loom_memory_plan_compute_for(loom_model_get_info(model), params, out, err);
}

loom_status loom_memory_plan_compute_for(const loom_model_info *info, const loom_engine_params *params,
                                         loom_memory_plan *out, loom_error *err) {
    loom_memory_plan p = {0};
    int sharded = (int64_t)info->tp_size * info->pp_size > 1;
    if (params->kv_cache_dtype < LOOM_KV_AUTO || params->kv_cache_dtype > LOOM_KV_FP8_E4M3)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "unknown kv_cache_dtype %d", (int)params->kv_cache_dtype);
    p.kv_cache_dtype =
        params->kv_cache_dtype == LOOM_KV_AUTO ? (loom_kv_dtype)info->kv_dtype_auto : params->kv_cache_dtype;
    if (params->block_size < 0 || params->block_size > 4096 || params->max_model_len < 0 || params->num_kv_blocks < 0 ||
        params->max_num_batched_tokens <= 0 || params->max_num_seqs <= 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "block_size must be in 0..4096, max_model_len and num_kv_blocks >= 0, batch limits > 0");
    p.block_size = params->block_size ? params->block_size : loom_engine_default_params().block_size;
    p.max_model_len = params->max_model_len ? params->max_model_len : info->max_position_embeddings;
    if (p.max_model_len > info->max_position_embeddings)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "max_model_len %d exceeds the model's max_position_embeddings %d",
                         p.max_model_len, info->max_position_embeddings);
    p.weights_bytes = sharded ? info->shard_weight_bytes : info->weight_bytes;
    p.activation_bytes = info->activation_bytes_per_token * (uint64_t)params->max_num_batched_tokens +
        (uint64_t)params->max_num_seqs * (uint64_t)info->vocab_size * sizeof(float);
    int32_t kv_layers = sharded ? info->shard_layer_end - info->shard_layer_begin : info->n_layers;
    int32_t kv_heads = sharded ? info->shard_n_kv_heads : info->n_kv_heads;
    p.kv_bytes_per_token = kv_bytes_per_token(kv_layers, kv_heads, info->head_dim, p.kv_cache_dtype, p.block_size);
    p.memory_limit_bytes = params->memory_limit_bytes
        ? params->memory_limit_bytes
        : (uint64_t)(DEFAULT_MEMORY_FRACTION * (double)sysmem_physical_bytes());
    uint64_t block_bytes = p.kv_bytes_per_token * (uint64_t)p.block_size;
    /* a sequence of max_model_len tokens needs whole blocks */
    int64_t blocks_per_seq = ((int64_t)p.max_model_len + p.block_size - 1) / p.block_size;
    uint64_t fixed = p.weights_bytes + p.activation_bytes, kv_budget = params->kv_cache_memory_bytes;
    if (kv_budget == 0) {
        uint64_t need = (uint64_t)params->max_num_seqs * (uint64_t)blocks_per_seq * block_bytes;
        kv_budget = need < DEFAULT_KV_CACHE_BYTES ? need : DEFAULT_KV_CACHE_BYTES;
        if (params->num_kv_blocks == 0 && fixed >= p.memory_limit_bytes)
            return loom_fail(err, LOOM_ERR_NO_MEMORY,
                             "weights (%.2f GiB) and activations (%.2f GiB) leave no room for the KV cache in the "
                             "memory limit of %.2f GiB: raise the memory limit, lower max_num_batched_tokens or use a "
                             "smaller model",
                             gib(p.weights_bytes), gib(p.activation_bytes), gib(p.memory_limit_bytes));
        if (fixed + kv_budget > p.memory_limit_bytes) kv_budget = p.memory_limit_bytes - fixed;
    }
    uint64_t blocks = params->num_kv_blocks > 0 ? (uint64_t)params->num_kv_blocks : kv_budget / block_bytes;
    if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS;
    p.num_kv_blocks = (int32_t)blocks;
    p.kv_cache_bytes = blocks * block_bytes;
    p.max_tokens_in_kv = (int64_t)blocks * p.block_size;
    p.max_concurrent_seqs = (int32_t)((int64_t)blocks / blocks_per_seq);
    if (p.max_concurrent_seqs < 1) {
        uint64_t need = (uint64_t)blocks_per_seq * block_bytes;
        return loom_fail(err, LOOM_ERR_NO_MEMORY,
                         "max_model_len %d needs %.3f GiB of KV cache (%llu bytes/token, %s) but only %lld tokens "
                         "(%.3f GiB) fit: lower max_model_len to at most %lld, use a smaller kv_cache_dtype, or raise "
                         "kv_cache_memory / memory_limit",
                         p.max_model_len, gib(need), (unsigned long long)p.kv_bytes_per_token,
                         loom_kv_dtype_name(p.kv_cache_dtype), (long long)p.max_tokens_in_kv, gib(p.kv_cache_bytes),
                         (long long)p.max_tokens_in_kv);
    }
    *out = p;
    return LOOM_OK;
}
