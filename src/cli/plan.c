/* loom plan: prints the memory plan (weights, activations, KV blocks, max tokens in KV, max concurrent
 * sequences) for a model and engine settings, without allocating the KV cache or running anything.
 * With --load-format dummy only config.json is read (no weights needed). With --tensor-parallel-size /
 * --pipeline-parallel-size it plans every rank (no MPI needed: each rank's shard is computed from the
 * tensor table); the top-level figures are then rank 0's and "ranks" lists them all. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_opts.h"

typedef struct plan_opts {
    cli_engine_opts e; /* model (path, load format, parallel sizes) and engine settings */
    int json;
} plan_opts;

/* One rank's shard and plan. */
typedef struct rank_plan {
    loom_model_info info;
    loom_memory_plan plan;
} rank_plan;

static int parse_opts(int argc, char **argv, plan_opts *o) {
    memset(o, 0, sizeof *o);
    cli_engine_opts_init(&o->e);
    o->e.load.metadata_only = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--quantization"))
            return cli_usage_error("plan", "unknown option '%s'", a); /* sizes as stored */
        int r = cli_engine_option("plan", argc, argv, &i, &o->e);
        if (r < 0) return 2;
        if (r == 0) return cli_usage_error("plan", "unknown option '%s'", a);
    }
    if (!o->e.load.path) return cli_usage_error("plan", "-m MODEL is required");
    return 0;
}

static json_t *rank_json(int rank, const rank_plan *r) {
    const loom_model_info *i = &r->info;
    return json_pack("{s:i, s:i, s:i, s:[i, i], s:I, s:I, s:i, s:I}", "rank", rank, "tp_rank", i->tp_rank, "pp_rank",
                     i->pp_rank, "layers", i->shard_layer_begin, i->shard_layer_end, "weights_bytes",
                     (json_int_t)r->plan.weights_bytes, "kv_bytes_per_token", (json_int_t)r->plan.kv_bytes_per_token,
                     "num_kv_blocks", r->plan.num_kv_blocks, "max_tokens_in_kv", (json_int_t)r->plan.max_tokens_in_kv);
}

static void print_json(const plan_opts *o, const rank_plan *ranks, int n_ranks) {
    const loom_memory_plan *p = &ranks[0].plan;
    json_t *j = json_pack(
        "{s:I, s:I, s:I, s:i, s:i, s:I, s:I, s:i, s:i, s:I, s:s, s:s}", "weights_bytes", (json_int_t)p->weights_bytes,
        "activation_bytes", (json_int_t)p->activation_bytes, "kv_bytes_per_token", (json_int_t)p->kv_bytes_per_token,
        "block_size", p->block_size, "num_kv_blocks", p->num_kv_blocks, "kv_cache_bytes", (json_int_t)p->kv_cache_bytes,
        "max_tokens_in_kv", (json_int_t)p->max_tokens_in_kv, "max_model_len", p->max_model_len, "max_concurrent_seqs",
        p->max_concurrent_seqs, "memory_limit_bytes", (json_int_t)p->memory_limit_bytes, "kv_cache_dtype",
        loom_kv_dtype_name(p->kv_cache_dtype), "memory_limit_source",
        o->e.params.memory_limit_bytes ? "--memory-limit" : "0.9 x physical RAM");
    if (n_ranks > 1) {
        json_t *list = json_array();
        for (int r = 0; r < n_ranks; r++) json_array_append_new(list, rank_json(r, &ranks[r]));
        json_object_set_new(j, "ranks", list);
    }
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) puts(s);
    free(s);
    json_decref(j);
}

static void print_ranks(const rank_plan *ranks, int n_ranks) {
    const double mib = 1024.0 * 1024.0;
    printf("parallel           %d tensor x %d pipeline = %d ranks (the figures above are rank 0's)\n",
           ranks[0].info.tp_size, ranks[0].info.pp_size, n_ranks);
    for (int r = 0; r < n_ranks; r++) {
        const loom_model_info *i = &ranks[r].info;
        const loom_memory_plan *p = &ranks[r].plan;
        printf("rank %-3d (tp %d, pp %d) layers [%d, %d) x %d KV heads: weights %llu bytes (%.1f MiB), KV %llu "
               "bytes/token, %d blocks = %lld tokens\n",
               r, i->tp_rank, i->pp_rank, i->shard_layer_begin, i->shard_layer_end, i->shard_n_kv_heads,
               (unsigned long long)p->weights_bytes, p->weights_bytes / mib, (unsigned long long)p->kv_bytes_per_token,
               p->num_kv_blocks, (long long)p->max_tokens_in_kv);
    }
}

static void print_text(const plan_opts *o, const rank_plan *ranks, int n_ranks) {
    const loom_model_info *info = &ranks[0].info;
    const loom_memory_plan *p = &ranks[0].plan;
    const double mib = 1024.0 * 1024.0;
    const loom_engine_params *ep = &o->e.params;
    printf("model              %s (%s, %d layers, %d KV heads x head_dim %d)\n", o->e.load.path, info->architecture,
           info->n_layers, info->n_kv_heads, info->head_dim);
    if (ep->memory_limit_bytes)
        printf("memory limit       %llu bytes (%.1f MiB, --memory-limit)\n", (unsigned long long)p->memory_limit_bytes,
               p->memory_limit_bytes / mib);
    else
        printf("memory limit       %llu bytes (%.1f MiB = 0.9 x physical RAM)\n",
               (unsigned long long)p->memory_limit_bytes, p->memory_limit_bytes / mib);
    printf("weights            %llu bytes (%.1f MiB)\n", (unsigned long long)p->weights_bytes, p->weights_bytes / mib);
    printf("activations        %llu bytes (%.1f MiB for %d batched tokens, %d sequences' logits)\n",
           (unsigned long long)p->activation_bytes, p->activation_bytes / mib, ep->max_num_batched_tokens,
           ep->max_num_seqs);
    printf("KV bytes/token     %llu (2 x %d layers x %d KV heads x %d head_dim x %s%s)\n",
           (unsigned long long)p->kv_bytes_per_token, info->shard_layer_end - info->shard_layer_begin,
           info->shard_n_kv_heads, info->head_dim, loom_kv_dtype_name(p->kv_cache_dtype),
           p->kv_cache_dtype == LOOM_KV_FP8_E4M3   ? " + a 4-byte float32 scale per token, layer, K/V and KV head"
               : p->kv_cache_dtype == LOOM_KV_INT8 ? " + float16 scale and zero per token, layer and KV head for V, "
                                                     "per block, layer and channel for K"
                                                   : "");
    printf("KV cache           %d blocks x %d tokens = %lld tokens, %llu bytes (%.1f MiB%s)\n", p->num_kv_blocks,
           p->block_size, (long long)p->max_tokens_in_kv, (unsigned long long)p->kv_cache_bytes,
           p->kv_cache_bytes / mib,
           ep->num_kv_blocks               ? ", --num-kv-blocks"
               : ep->kv_cache_memory_bytes ? ", --kv-cache-memory"
                                           : ", max-num-seqs x max-model-len, at most 4 GiB");
    printf("max concurrent     %d sequences of max_model_len %d\n", p->max_concurrent_seqs, p->max_model_len);
    if (n_ranks > 1) print_ranks(ranks, n_ranks);
}

/* Every rank's shard and plan (the whole model's alone without parallelism); NULL after filling err. */
static rank_plan *plan_ranks(const plan_opts *o, const loom_model *model, int *n_ranks, loom_error *err) {
    int tp = o->e.load.tensor_parallel_size > 0 ? o->e.load.tensor_parallel_size : 1;
    int pp = o->e.load.pipeline_parallel_size > 0 ? o->e.load.pipeline_parallel_size : 1;
    rank_plan *ranks = calloc((size_t)tp * pp, sizeof *ranks);
    if (!ranks) {
        loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    loom_status st = LOOM_OK;
    for (int r = 0; r < tp * pp && st == LOOM_OK; r++) {
        st = loom_model_shard_info(model, r % tp, tp, r / tp, pp, &ranks[r].info, err);
        if (st == LOOM_OK) st = loom_memory_plan_compute_for(&ranks[r].info, &o->e.params, &ranks[r].plan, err);
    }
    if (st != LOOM_OK) {
        free(ranks);
        return NULL;
    }
    *n_ranks = tp * pp;
    return ranks;
}

int cli_plan(int argc, char **argv) {
    plan_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_model_params mp = o.e.load; /* the whole model's sizes: plan_ranks works out each rank's shard */
    mp.tensor_parallel_size = mp.pipeline_parallel_size = 0;
    loom_model *model = NULL;
    loom_status st = loom_model_load(&mp, &model, &err);
    int n_ranks = 0;
    rank_plan *ranks = st == LOOM_OK ? plan_ranks(&o, model, &n_ranks, &err) : NULL;
    if (!ranks && st == LOOM_OK) st = err.status;
    if (ranks) {
        if (o.json) print_json(&o, ranks, n_ranks);
        else print_text(&o, ranks, n_ranks);
    }
    free(ranks);
    loom_model_free(model);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
