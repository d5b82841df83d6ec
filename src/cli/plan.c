/* loom plan: prints the memory plan (weights, activations, KV blocks, max tokens in KV, max concurrent
 * sequences) for a model and engine settings, without allocating the KV cache or running anything.
 * With --load-format dummy only config.json is read (no weights needed). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct plan_opts {
    const char *model;
    loom_load_format load_format;
    loom_engine_params engine;
    int json;
} plan_opts;

static const char *const kv_dtype_names[] = {"f32", "f16", "bf16", "int8", "fp8"};

static int parse_bytes_or_count(const char *cmd_flag, const char *v, long long min, long long max, long long *out) {
    if (cli_parse_int(v, min, max, out)) return cli_usage_error("plan", "%s needs an integer in [%lld, %lld], got '%s'", cmd_flag, min, max, v);
    return 0;
}

static int parse_opts(int argc, char **argv, plan_opts *o) {
    memset(o, 0, sizeof *o);
    o->engine = loom_engine_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long iv = 0;
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!(v = cli_option_value(argc, argv, &i))) return cli_usage_error("plan", "%s needs a value (or is unknown)", a);
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--memory-limit")) {
            if (parse_bytes_or_count(a, v, 1, INT64_MAX, &iv)) return 2;
            o->engine.memory_limit_bytes = (uint64_t)iv;
        } else if (!strcmp(a, "--kv-cache-memory")) {
            if (parse_bytes_or_count(a, v, 1, INT64_MAX, &iv)) return 2;
            o->engine.kv_cache_memory_bytes = (uint64_t)iv;
        } else if (!strcmp(a, "--max-model-len")) {
            if (parse_bytes_or_count(a, v, 1, 1 << 24, &iv)) return 2;
            o->engine.max_model_len = (int32_t)iv;
        } else if (!strcmp(a, "--block-size")) {
            if (parse_bytes_or_count(a, v, 1, 4096, &iv)) return 2;
            o->engine.block_size = (int32_t)iv;
        } else if (!strcmp(a, "--max-num-batched-tokens")) {
            if (parse_bytes_or_count(a, v, 1, 1 << 20, &iv)) return 2;
            o->engine.max_num_batched_tokens = (int32_t)iv;
        } else if (!strcmp(a, "--max-num-seqs")) {
            if (parse_bytes_or_count(a, v, 1, 65536, &iv)) return 2;
            o->engine.max_num_seqs = (int32_t)iv;
        } else if (!strcmp(a, "--kv-cache-dtype")) {
            int found = -1;
            for (int t = 0; t < 5; t++)
                if (!strcmp(v, kv_dtype_names[t])) found = t;
            if (found < 0) return cli_usage_error("plan", "--kv-cache-dtype must be f32, f16, bf16, int8 or fp8, got '%s'", v);
            o->engine.kv_cache_dtype = (loom_kv_dtype)found;
        } else if (!strcmp(a, "--load-format")) {
            if (!strcmp(v, "auto")) o->load_format = LOOM_LOAD_AUTO;
            else if (!strcmp(v, "dummy")) o->load_format = LOOM_LOAD_DUMMY;
            else return cli_usage_error("plan", "--load-format must be auto or dummy, got '%s'", v);
        } else {
            return cli_usage_error("plan", "unknown option '%s'", a);
        }
    }
    if (!o->model) return cli_usage_error("plan", "-m MODEL is required");
    return 0;
}

static void print_json(const plan_opts *o, const loom_memory_plan *p) {
    json_t *j = json_pack("{s:I, s:I, s:I, s:i, s:i, s:I, s:I, s:i, s:i, s:I, s:s, s:s}",
                          "weights_bytes", (json_int_t)p->weights_bytes, "activation_bytes", (json_int_t)p->activation_bytes,
                          "kv_bytes_per_token", (json_int_t)p->kv_bytes_per_token, "block_size", p->block_size,
                          "num_kv_blocks", p->num_kv_blocks, "kv_cache_bytes", (json_int_t)p->kv_cache_bytes,
                          "max_tokens_in_kv", (json_int_t)p->max_tokens_in_kv, "max_model_len", p->max_model_len,
                          "max_concurrent_seqs", p->max_concurrent_seqs, "memory_limit_bytes",
                          (json_int_t)p->memory_limit_bytes, "kv_cache_dtype", kv_dtype_names[o->engine.kv_cache_dtype],
                          "memory_limit_source", o->engine.memory_limit_bytes ? "--memory-limit" : "0.9 x physical RAM");
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) puts(s);
    free(s);
    json_decref(j);
}

static void print_text(const plan_opts *o, const loom_model_info *info, const loom_memory_plan *p) {
    const double mib = 1024.0 * 1024.0;
    printf("model              %s (%s, %d layers, %d KV heads x head_dim %d)\n", o->model, info->architecture,
           info->n_layers, info->n_kv_heads, info->head_dim);
    if (o->engine.memory_limit_bytes)
        printf("memory limit       %llu bytes (%.1f MiB, --memory-limit)\n", (unsigned long long)p->memory_limit_bytes,
               p->memory_limit_bytes / mib);
    else
        printf("memory limit       %llu bytes (%.1f MiB = 0.9 x physical RAM; nothing else subtracted)\n",
               (unsigned long long)p->memory_limit_bytes, p->memory_limit_bytes / mib);
    printf("weights            %llu bytes (%.1f MiB)\n", (unsigned long long)p->weights_bytes, p->weights_bytes / mib);
    printf("activations        %llu bytes (%.1f MiB for %d batched tokens, %d sequences' logits)\n",
           (unsigned long long)p->activation_bytes, p->activation_bytes / mib, o->engine.max_num_batched_tokens,
           o->engine.max_num_seqs);
    printf("KV bytes/token     %llu (2 x %d layers x %d KV heads x %d head_dim x %s%s)\n",
           (unsigned long long)p->kv_bytes_per_token, info->n_layers, info->n_kv_heads, info->head_dim,
           kv_dtype_names[o->engine.kv_cache_dtype],
           o->engine.kv_cache_dtype >= LOOM_KV_INT8 ? " + a 4-byte float32 scale per token, layer, K/V and KV head" : "");
    printf("KV cache           %d blocks x %d tokens = %lld tokens, %llu bytes (%.1f MiB%s)\n", p->num_kv_blocks,
           p->block_size, (long long)p->max_tokens_in_kv, (unsigned long long)p->kv_cache_bytes, p->kv_cache_bytes / mib,
           o->engine.kv_cache_memory_bytes ? ", --kv-cache-memory" : ", what the limit leaves");
    printf("max concurrent     %d sequences of max_model_len %d\n", p->max_concurrent_seqs, p->max_model_len);
}

int cli_plan(int argc, char **argv) {
    plan_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_model_params mp = loom_model_default_params();
    mp.path = o.model;
    mp.load_format = o.load_format;
    mp.metadata_only = 1;
    loom_model *model = NULL;
    loom_status st = loom_model_load(&mp, &model, &err);
    loom_memory_plan plan;
    if (st == LOOM_OK) st = loom_memory_plan_compute(model, &o.engine, &plan, &err);
    if (st == LOOM_OK) {
        if (o.json) print_json(&o, &plan);
        else print_text(&o, loom_model_get_info(model), &plan);
    }
    loom_model_free(model);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
