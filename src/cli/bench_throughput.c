/* loom bench throughput: the same requests through continuous batching and one at a time on the same
 * engine, alternating, `--rounds` times each; reports aggregate output tokens/s of both, their ratio,
 * and the scheduling overhead (step time outside the forward pass) as a share of step time.
 * With --batch N: the decode step itself, 1 sequence against N sequences decoding together (each after an
 * --input-len prompt), --output-len timed steps each, alternating; reports ms per step (forward and the
 * rest: sampling, detokenization, scheduling) and the N-sequence step's cost as a multiple of the
 * 1-sequence step's. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/engine_opts.h"

typedef struct throughput_opts {
    cli_engine_opts engine;
    long long num_prompts, input_len, output_len, rounds, baseline_prompts, seed, batch;
    double temperature, top_p;
    long long top_k;
    const char *json_out;
} throughput_opts;

typedef struct run_result {
    double seconds;
    uint64_t output_tokens, steps;
    double step_ms, forward_ms;
} run_result;

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void count_tokens(const loom_output *out, void *user) { *(uint64_t *)user += (uint64_t)out->n_new; }

/* --temperature / --top-p / --top-k (default greedy), ignore_eos, max_tokens tokens */
static loom_sampling_params bench_sampling(const throughput_opts *o, long long max_tokens) {
    loom_sampling_params sp = loom_sampling_default_params();
    sp.temperature = (float)o->temperature;
    sp.top_p = (float)o->top_p;
    sp.top_k = (int32_t)o->top_k;
    sp.ignore_eos = 1;
    sp.max_tokens = (int32_t)max_tokens;
    sp.has_seed = 1;
    sp.seed = (uint64_t)o->seed;
    return sp;
}

/* input_len random ids from the xorshift state *rng */
static void random_prompt(int32_t *prompt, long long n, int32_t vocab, uint64_t *rng) {
    for (long long k = 0; k < n; k++) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        prompt[k] = (int32_t)(*rng % (uint64_t)vocab);
    }
}

/* n prompts of input_len random ids (a fresh set per run, so the prefix cache never serves an earlier
 * run), greedy, exactly output_len tokens each; all added at once, or each after the previous ended. */
static loom_status run_once(loom_engine *e, const throughput_opts *o, int32_t vocab, long long n, uint64_t seed,
                            int one_at_a_time, run_result *res, loom_error *err) {
    int32_t *prompt = malloc((size_t)o->input_len * sizeof *prompt);
    if (!prompt) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_engine_metrics before, after;
    loom_engine_get_metrics(e, &before);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1, tokens = 0;
    loom_request_params rp = {.prompt_ids = prompt,
                              .n_prompt = (size_t)o->input_len,
                              .on_output = count_tokens,
                              .user = &tokens,
                              .sampling = bench_sampling(o, o->output_len)};
    loom_status st = LOOM_OK;
    double t0 = wall_s();
    for (long long i = 0; i < n && st == LOOM_OK; i++) {
        random_prompt(prompt, o->input_len, vocab, &rng);
        st = loom_engine_add_request(e, &rp, NULL, err);
        while (st == LOOM_OK && (one_at_a_time || i == n - 1) && loom_engine_has_work(e)) st = loom_engine_step(e, err);
    }
    res->seconds = wall_s() - t0;
    free(prompt);
    loom_engine_get_metrics(e, &after);
    res->output_tokens = tokens;
    res->steps = after.steps_total - before.steps_total;
    res->step_ms = after.step_time_ms_total - before.step_time_ms_total;
    res->forward_ms = after.forward_time_ms_total - before.forward_time_ms_total;
    return st;
}

static void accumulate(run_result *total, const run_result *r) {
    total->seconds += r->seconds;
    total->output_tokens += r->output_tokens;
    total->steps += r->steps;
    total->step_ms += r->step_ms;
    total->forward_ms += r->forward_ms;
}

/* counts the sequences that have their first token */
static void count_started(const loom_output *out, void *user) {
    if (out->n_new > 0 && out->n_output_tokens == out->n_new) ++*(uint64_t *)user;
}

/* Decode steps of n sequences: n requests of input_len random ids, stepped until every one has its first
 * token (prefill done), then output_len timed steps in which all n decode (each step's seconds to
 * step_s[]); then aborted. */
static loom_status run_decode_steps(loom_engine *e, const throughput_opts *o, int32_t vocab, long long n, uint64_t seed,
                                    run_result *res, double *step_s, loom_error *err) {
    int32_t *prompt = malloc((size_t)o->input_len * sizeof *prompt);
    uint64_t *ids = malloc((size_t)n * sizeof *ids);
    loom_status st = prompt && ids ? LOOM_OK : cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1, started = 0;
    /* the first sequences to finish prefill decode while the others prefill: room for those steps */
    loom_request_params rp = {.prompt_ids = prompt,
                              .n_prompt = (size_t)o->input_len,
                              .on_output = count_started,
                              .user = &started,
                              .sampling = bench_sampling(o, o->output_len + 64)};
    for (long long i = 0; i < n && st == LOOM_OK; i++) {
        random_prompt(prompt, o->input_len, vocab, &rng);
        st = loom_engine_add_request(e, &rp, &ids[i], err);
    }
    loom_engine_metrics before, after;
    while (st == LOOM_OK && started < (uint64_t)n) st = loom_engine_step(e, err); /* prefill, maybe chunked */
    loom_engine_get_metrics(e, &before);
    double t0 = wall_s();
    for (long long s = 0; s < o->output_len && st == LOOM_OK; s++) {
        double s0 = wall_s();
        st = loom_engine_step(e, err);
        step_s[s] = wall_s() - s0;
    }
    res->seconds = wall_s() - t0;
    loom_engine_get_metrics(e, &after);
    res->steps = after.steps_total - before.steps_total;
    res->output_tokens = after.batched_tokens_total - before.batched_tokens_total;
    res->step_ms = after.step_time_ms_total - before.step_time_ms_total;
    res->forward_ms = after.forward_time_ms_total - before.forward_time_ms_total;
    for (long long i = 0; i < n && st == LOOM_OK; i++) st = loom_engine_abort(e, ids[i], err);
    while (st == LOOM_OK && loom_engine_has_work(e)) st = loom_engine_step(e, err);
    if (st == LOOM_OK && res->output_tokens != (uint64_t)(n * o->output_len))
        st = cli_fail(err, LOOM_ERR_INTERNAL,
                      "%llu tokens in %llu steps, expected %lld decoding sequences per step "
                      "(raise --max-num-seqs / --num-kv-blocks?)",
                      (unsigned long long)res->output_tokens, (unsigned long long)res->steps, n);
    free(prompt);
    free(ids);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_ms(double *s, long long n) {
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return s[n / 2] * 1e3;
}

/* The ratio is of the median steps (a shared machine's stalls land on a few steps), and of the best steps
 * (what a quiet machine gives); means beside them. */
static loom_status report_decode_steps(const throughput_opts *o, const run_result *one, const run_result *many,
                                       double *one_s, double *many_s, loom_error *err) {
    long long n = o->rounds * o->output_len;
    double med_one = median_ms(one_s, n), med_many = median_ms(many_s, n); /* sorts them: [0] is the best */
    printf("decode step: %lld sequences vs 1, after %lld-token prompts, %lld steps x %lld round(s), alternating\n",
           o->batch, o->input_len, o->output_len, o->rounds);
    printf("  1 sequence:    median %8.3f ms/step; mean %.3f (forward %.3f, rest %.3f)\n", med_one,
           one->seconds * 1e3 / (double)one->steps, one->forward_ms / (double)one->steps,
           (one->step_ms - one->forward_ms) / (double)one->steps);
    printf("  %lld sequences: median %8.3f ms/step; mean %.3f (forward %.3f, rest %.3f), %.1f output tok/s\n", o->batch,
           med_many, many->seconds * 1e3 / (double)many->steps, many->forward_ms / (double)many->steps,
           (many->step_ms - many->forward_ms) / (double)many->steps, (double)many->output_tokens / many->seconds);
    printf("  step ratio: %.2fx (tokens per second %.2fx); best steps %.3f and %.3f ms: %.2fx\n", med_many / med_one,
           (double)o->batch * med_one / med_many, one_s[0] * 1e3, many_s[0] * 1e3, many_s[0] / one_s[0]);
    if (!o->json_out) return LOOM_OK;
    json_t *j = json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "batch", (json_int_t)o->batch, "best_ms_per_step_1",
                          one_s[0] * 1e3, "best_ms_per_step_batch", many_s[0] * 1e3, "median_ms_per_step_1", med_one,
                          "median_ms_per_step_batch", med_many, "forward_ms_per_step_batch",
                          many->forward_ms / (double)many->steps, "step_ratio", med_many / med_one, "batch_tok_s",
                          (double)many->output_tokens / many->seconds);
    int rc = json_dump_file(j, o->json_out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? cli_fail(err, LOOM_ERR_IO, "%s: cannot write", o->json_out) : LOOM_OK;
}

static loom_status bench_decode_steps(loom_engine *e, const throughput_opts *o, int32_t vocab, loom_error *err) {
    run_result one = {0}, many = {0};
    double *one_s = malloc((size_t)(o->rounds * o->output_len) * sizeof *one_s);
    double *many_s = malloc((size_t)(o->rounds * o->output_len) * sizeof *many_s);
    loom_status st = one_s && many_s ? LOOM_OK : cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    for (long long r = 0; r < o->rounds && st == LOOM_OK; r++) {
        run_result a, b;
        st = run_decode_steps(e, o, vocab, 1, (uint64_t)(o->seed + 2 * r), &a, one_s + r * o->output_len, err);
        if (st == LOOM_OK)
            st = run_decode_steps(e, o, vocab, o->batch, (uint64_t)(o->seed + 2 * r + 1), &b,
                                  many_s + r * o->output_len, err);
        if (st != LOOM_OK) break;
        fprintf(stderr, "round %lld: 1 sequence %.3f ms/step, %lld sequences %.3f ms/step (means)\n", r + 1,
                a.seconds * 1e3 / (double)a.steps, o->batch, b.seconds * 1e3 / (double)b.steps);
        accumulate(&one, &a);
        accumulate(&many, &b);
    }
    if (st == LOOM_OK) st = report_decode_steps(o, &one, &many, one_s, many_s, err);
    free(one_s);
    free(many_s);
    return st;
}

static int parse_opts(int argc, char **argv, throughput_opts *o) {
    memset(o, 0, sizeof *o);
    cli_engine_opts_init(&o->engine);
    o->num_prompts = 200, o->input_len = 128, o->output_len = 128, o->rounds = 1, o->baseline_prompts = -1,
    o->top_p = 1;
    enum { N_INT = 8 };
    static const char *const names[] = {"--num-prompts",      "--input-len", "--output-len", "--rounds",
                                        "--baseline-prompts", "--seed",      "--top-k",      "--batch"};
    long long *fields[N_INT] = {&o->num_prompts,      &o->input_len, &o->output_len, &o->rounds,
                                &o->baseline_prompts, &o->seed,      &o->top_k,      &o->batch};
    for (int i = 1; i < argc; i++) {
        int r = cli_engine_option("bench throughput", argc, argv, &i, &o->engine);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i], *v = cli_option_value(argc, argv, &i);
        size_t k = 0;
        while (k < N_INT && strcmp(a, names[k])) k++;
        int is_float = !strcmp(a, "--temperature") || !strcmp(a, "--top-p");
        if (k == N_INT && strcmp(a, "--json") && !is_float)
            return cli_usage_error("bench throughput", "unknown option '%s'", a);
        if (!v) return cli_usage_error("bench throughput", "%s needs a value", a);
        if (!strcmp(a, "--temperature")) {
            if (cli_parse_float(v, 0, 100, &o->temperature))
                return cli_usage_error("bench throughput", "--temperature needs a number in [0, 100], got '%s'", v);
        } else if (!strcmp(a, "--top-p")) {
            if (cli_parse_float(v, 1e-9, 1, &o->top_p))
                return cli_usage_error("bench throughput", "--top-p needs a number in (0, 1], got '%s'", v);
        } else if (k == N_INT) o->json_out = v;
        else if (cli_parse_int(v, k == 5 || k == 6 ? 0 : 1, 1 << 24, fields[k]))
            return cli_usage_error("bench throughput", "%s needs a positive integer, got '%s'", a, v);
    }
    if (!o->engine.load.path) return cli_usage_error("bench throughput", "-m MODEL is required");
    if (o->baseline_prompts < 0 || o->baseline_prompts > o->num_prompts) o->baseline_prompts = o->num_prompts;
    return 0;
}

static loom_status report(const throughput_opts *o, const run_result *batched, const run_result *single, loom_error *err) {
    double cb = batched->output_tokens / batched->seconds, one = single->output_tokens / single->seconds;
    double overhead = 100 * (batched->step_ms - batched->forward_ms) / batched->step_ms;
    double overhead_one = 100 * (single->step_ms - single->forward_ms) / single->step_ms;
    printf("throughput: %lld prompts x (%lld in, %lld out), %lld round(s)\n", o->num_prompts, o->input_len, o->output_len, o->rounds);
    printf("  continuous batching: %.2f output tok/s (%.2f ms/step, scheduling overhead %.2f%% of step time)\n", cb,
           batched->step_ms / (double)batched->steps, overhead);
    printf("  one at a time (%lld prompts): %.2f output tok/s (%.2f ms/step, overhead %.2f%%)\n", o->baseline_prompts, one,
           single->step_ms / (double)single->steps, overhead_one);
    printf("  ratio: %.2fx\n", cb / one);
    if (!o->json_out) return LOOM_OK;
    json_t *j = json_pack("{s:f,s:f,s:f,s:f,s:f}", "batched_tok_s", cb, "one_at_a_time_tok_s", one, "ratio", cb / one,
                          "scheduling_overhead_pct", overhead, "batched_ms_per_step", batched->step_ms / (double)batched->steps);
    int rc = json_dump_file(j, o->json_out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? cli_fail(err, LOOM_ERR_IO, "%s: cannot write", o->json_out) : LOOM_OK;
}

int cli_bench_throughput(int argc, char **argv) {
    throughput_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_model *model = NULL;
    loom_engine *e = NULL;
    loom_status st = cli_engine_open(&o.engine, &model, &e, &err);
    run_result batched = {0}, single = {0};
    int32_t vocab = st == LOOM_OK ? loom_model_get_info(model)->vocab_size : 1;
    if (st == LOOM_OK && o.batch) {
        st = bench_decode_steps(e, &o, vocab, &err);
        loom_engine_free(e);
        loom_model_free(model);
        return st == LOOM_OK ? 0 : cli_error(&err);
    }
    for (long long r = 0; r < o.rounds && st == LOOM_OK; r++) {
        run_result a, b;
        st = run_once(e, &o, vocab, o.num_prompts, (uint64_t)(o.seed + 2 * r), 0, &a, &err);
        if (st == LOOM_OK) st = run_once(e, &o, vocab, o.baseline_prompts, (uint64_t)(o.seed + 2 * r + 1), 1, &b, &err);
        if (st != LOOM_OK) break;
        fprintf(stderr, "round %lld: continuous batching %.2f tok/s (%llu tokens, %.1f s), one at a time %.2f tok/s (%llu tokens, %.1f s)\n",
                r + 1, a.output_tokens / a.seconds, (unsigned long long)a.output_tokens, a.seconds,
                b.output_tokens / b.seconds, (unsigned long long)b.output_tokens, b.seconds);
        accumulate(&batched, &a);
        accumulate(&single, &b);
    }
    if (st == LOOM_OK) st = report(&o, &batched, &single, &err);
    loom_engine_free(e);
    loom_model_free(model);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
