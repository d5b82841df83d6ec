/* The engine options `loom batch` and `loom bench` share: parsing, opening model + engine, and the
 * metrics summary (text for people, JSON for tests). */
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_opts.h"

void cli_engine_opts_init(cli_engine_opts *o) {
    memset(o, 0, sizeof *o);
    o->load = loom_model_default_params();
    o->params = loom_engine_default_params();
}

static int int_option(const char *cmd, const char *name, const char *v, long long min, long long max, long long *out) {
    if (cli_parse_int(v, min, max, out) == 0) return 1;
    return -cli_usage_error(cmd, "%s needs an integer in [%lld, %lld], got '%s'", name, min, max, v);
}

int cli_engine_option(const char *cmd, int argc, char **argv, int *i, cli_engine_opts *o) {
    const char *a = argv[*i];
    loom_engine_params *p = &o->params;
    /* vLLM's spellings too: --[no-]enable-prefix-caching, --[no-]enable-chunked-prefill */
    if (!strcmp(a, "--no-prefix-caching") || !strcmp(a, "--no-enable-prefix-caching"))
        return p->enable_prefix_caching = 0, 1;
    if (!strcmp(a, "--enable-prefix-caching")) return p->enable_prefix_caching = 1, 1;
    if (!strcmp(a, "--no-chunked-prefill") || !strcmp(a, "--no-enable-chunked-prefill"))
        return p->enable_chunked_prefill = 0, 1;
    if (!strcmp(a, "--enable-chunked-prefill")) return p->enable_chunked_prefill = 1, 1;
    if (cli_model_flag(a, &o->load)) return 1;
    static const char *const valued[] = {"-m",
                                         "--model",
                                         "--load-format",
                                         "--threads",
                                         "-t",
                                         "--max-num-seqs",
                                         "--max-num-batched-tokens",
                                         "--num-kv-blocks",
                                         "--block-size",
                                         "--preemption-mode",
                                         "--swap-space",
                                         "--kv-cache-dtype",
                                         "--max-model-len",
                                         "--quantization",
                                         "--tensor-parallel-size",
                                         "--pipeline-parallel-size",
                                         "--kv-cache-memory",
                                         "--memory-limit"};
    size_t k = 0;
    while (k < sizeof valued / sizeof valued[0] && strcmp(a, valued[k])) k++;
    if (k == sizeof valued / sizeof valued[0] && !cli_spec_is_option(a)) return 0;
    const char *v = cli_option_value(argc, argv, i);
    if (!v) return -cli_usage_error(cmd, "%s needs a value", a);
    long long n = 0;
    int r = cli_spec_option(cmd, a, v, p, &o->spec);
    if (r) return r;
    r = cli_model_option(cmd, a, v, &o->load);
    if (r) return r;
    r = 1;
    if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        if ((r = int_option(cmd, a, v, 0, 512, &n)) > 0) p->n_threads = (int32_t)n;
    } else if (!strcmp(a, "--max-num-seqs")) {
        if ((r = int_option(cmd, a, v, 1, 65536, &n)) > 0) p->max_num_seqs = (int32_t)n;
    } else if (!strcmp(a, "--max-num-batched-tokens")) {
        if ((r = int_option(cmd, a, v, 1, 1 << 20, &n)) > 0) p->max_num_batched_tokens = (int32_t)n;
    } else if (!strcmp(a, "--num-kv-blocks")) {
        if ((r = int_option(cmd, a, v, 1, 1 << 28, &n)) > 0) p->num_kv_blocks = (int32_t)n;
    } else if (!strcmp(a, "--block-size")) {
        if ((r = int_option(cmd, a, v, 1, 4096, &n)) > 0) p->block_size = (int32_t)n;
    } else if (!strcmp(a, "--max-model-len")) {
        if ((r = int_option(cmd, a, v, 1, 1 << 24, &n)) > 0) p->max_model_len = (int32_t)n;
    } else if (!strcmp(a, "--kv-cache-memory") || !strcmp(a, "--memory-limit")) {
        uint64_t bytes;
        if (cli_parse_bytes(v, &bytes))
            return -cli_usage_error(cmd, "%s needs a size in bytes (e.g. 4294967296 or 4GiB), got '%s'", a, v);
        *(a[2] == 'k' ? &p->kv_cache_memory_bytes : &p->memory_limit_bytes) = bytes;
    } else if (!strcmp(a, "--swap-space")) {
        if ((r = int_option(cmd, a, v, 0, INT64_MAX, &n)) > 0) p->swap_space_bytes = (uint64_t)n;
    } else if (!strcmp(a, "--preemption-mode")) {
        if (!strcmp(v, "recompute")) p->preemption_mode = LOOM_PREEMPT_RECOMPUTE;
        else if (!strcmp(v, "swap")) p->preemption_mode = LOOM_PREEMPT_SWAP;
        else return -cli_usage_error(cmd, "--preemption-mode must be recompute or swap, got '%s'", v);
    } else if ((n = loom_kv_dtype_parse(v)) >= LOOM_KV_AUTO) { /* --kv-cache-dtype */
        p->kv_cache_dtype = (loom_kv_dtype)n;
    } else {
        return -cli_usage_error(cmd, "--kv-cache-dtype must be auto, f32, f16, bf16, int8 or fp8, got '%s'", v);
    }
    return r;
}

loom_status cli_engine_open(cli_engine_opts *o, loom_model **model, loom_engine **engine, loom_error *err) {
    loom_status st = cli_model_load(&o->load, model, err);
    if (st == LOOM_OK) st = cli_spec_prepare(&o->load, &o->spec, &o->params, err);
    if (st == LOOM_OK) st = loom_engine_create(*model, &o->params, engine, err);
    return st;
}

void cli_engine_close(cli_engine_opts *o, loom_model **model, loom_engine **engine) {
    loom_engine_free(*engine);
    loom_model_free(o->params.draft_model);
    loom_model_free(*model);
    *engine = NULL;
    *model = NULL;
    o->params.draft_model = NULL;
}

static double mean_ms(double sum_s, uint64_t count) { return count ? sum_s * 1e3 / (double)count : 0; }

void cli_print_metrics(FILE *f, const loom_engine_metrics *m) {
    double overhead = m->step_time_ms_total > 0
        ? 100 * (m->step_time_ms_total - m->forward_time_ms_total) / m->step_time_ms_total
        : 0;
    fprintf(
        f,
        "loom: %llu requests, %llu prompt + %llu generated tokens in %llu steps (%.1f tokens/step); "
        "preemptions %llu; prefix cache %llu/%llu tokens hit; KV %d/%d blocks free\n"
        "loom: mean TTFT %.1f ms, TPOT %.1f ms, e2e %.1f ms; step %.1f ms total, forward %.1f ms (scheduling %.2f%%)\n",
        (unsigned long long)m->requests_finished_total, (unsigned long long)m->prompt_tokens_total,
        (unsigned long long)m->generation_tokens_total, (unsigned long long)m->steps_total,
        m->steps_total ? (double)m->batched_tokens_total / (double)m->steps_total : 0,
        (unsigned long long)m->num_preemptions_total, (unsigned long long)m->prefix_cache_hits,
        (unsigned long long)m->prefix_cache_queries, m->kv_blocks_free, m->kv_blocks_total,
        mean_ms(m->ttft_sum_s, m->ttft_count), mean_ms(m->tpot_sum_s, m->tpot_count),
        mean_ms(m->e2e_sum_s, m->e2e_count), m->step_time_ms_total, m->forward_time_ms_total, overhead);
    if (m->spec_drafts_total)
        fprintf(f,
                "loom: speculative decoding: %llu of %llu proposed tokens accepted (%.1f%%), %.2f tokens per "
                "verification\n",
                (unsigned long long)m->spec_accepted_tokens_total, (unsigned long long)m->spec_draft_tokens_total,
                m->spec_draft_tokens_total
                    ? 100.0 * (double)m->spec_accepted_tokens_total / (double)m->spec_draft_tokens_total
                    : 0,
                1.0 + (double)m->spec_accepted_tokens_total / (double)m->spec_drafts_total);
}

json_t *cli_metrics_json(const loom_engine_metrics *m) {
    json_t *j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "requests_finished_total",
        (json_int_t)m->requests_finished_total, "prompt_tokens_total", (json_int_t)m->prompt_tokens_total,
        "generation_tokens_total", (json_int_t)m->generation_tokens_total, "steps_total", (json_int_t)m->steps_total,
        "batched_tokens_total", (json_int_t)m->batched_tokens_total, "num_preemptions_total",
        (json_int_t)m->num_preemptions_total, "prefix_cache_queries", (json_int_t)m->prefix_cache_queries,
        "prefix_cache_hits", (json_int_t)m->prefix_cache_hits, "kv_blocks_total", m->kv_blocks_total, "kv_blocks_free",
        m->kv_blocks_free, "num_running", m->num_running, "num_waiting", m->num_waiting, "step_time_ms_total",
        m->step_time_ms_total, "forward_time_ms_total", m->forward_time_ms_total, "ttft_mean_ms",
        mean_ms(m->ttft_sum_s, m->ttft_count), "tpot_mean_ms", mean_ms(m->tpot_sum_s, m->tpot_count), "e2e_mean_ms",
        mean_ms(m->e2e_sum_s, m->e2e_count));
    json_object_set_new(j, "spec_drafts_total", json_integer((json_int_t)m->spec_drafts_total));
    json_object_set_new(j, "spec_draft_tokens_total", json_integer((json_int_t)m->spec_draft_tokens_total));
    json_object_set_new(j, "spec_accepted_tokens_total", json_integer((json_int_t)m->spec_accepted_tokens_total));
    return j;
}
