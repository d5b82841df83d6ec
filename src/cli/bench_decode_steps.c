/* loom bench throughput --batch N: the decode step of N sequences against 1 sequence's, alternating; ms per
 * step (forward and the rest: sampling, detokenization, scheduling) and the N-sequence step's cost as a
 * multiple of the 1-sequence step's. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/bench_throughput.h"
#include "cli/cli.h"

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
    loom_status st = prompt && ids ? LOOM_OK : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1, started = 0;
    /* the first sequences to finish prefill decode while the others prefill: room for those steps */
    loom_request_params rp = bench_request(o, o->output_len + 64);
    rp.prompt_ids = prompt;
    rp.n_prompt = (size_t)o->input_len;
    rp.on_output = count_started;
    rp.user = &started;
    for (long long i = 0; i < n && st == LOOM_OK; i++) {
        bench_random_prompt(prompt, o->input_len, vocab, &rng);
        st = loom_engine_add_request(e, &rp, &ids[i], err);
    }
    loom_engine_metrics before, after;
    while (st == LOOM_OK && started < (uint64_t)n) st = loom_engine_step(e, err); /* prefill, maybe chunked */
    loom_engine_get_metrics(e, &before);
    double t0 = bench_wall_s();
    for (long long s = 0; s < o->output_len && st == LOOM_OK; s++) {
        double s0 = bench_wall_s();
        st = loom_engine_step(e, err);
        step_s[s] = bench_wall_s() - s0;
    }
    res->seconds = bench_wall_s() - t0;
    loom_engine_get_metrics(e, &after);
    bench_step_counters(res, &before, &after);
    res->output_tokens = after.batched_tokens_total - before.batched_tokens_total;
    for (long long i = 0; i < n && st == LOOM_OK; i++) st = loom_engine_abort(e, ids[i], err);
    while (st == LOOM_OK && loom_engine_has_work(e)) st = loom_engine_step(e, err);
    if (st == LOOM_OK && res->output_tokens != (uint64_t)(n * o->output_len))
        st = loom_fail(err, LOOM_ERR_INTERNAL,
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
    return rc ? loom_fail(err, LOOM_ERR_IO, "%s: cannot write", o->json_out) : LOOM_OK;
}

loom_status bench_decode_steps(loom_engine *e, const throughput_opts *o, int32_t vocab, loom_error *err) {
    run_result one = {0}, many = {0};
    double *one_s = malloc((size_t)(o->rounds * o->output_len) * sizeof *one_s);
    double *many_s = malloc((size_t)(o->rounds * o->output_len) * sizeof *many_s);
    loom_status st = one_s && many_s ? LOOM_OK : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    for (long long r = 0; r < o->rounds && st == LOOM_OK; r++) {
        run_result a = {0}, b = {0};
        st = run_decode_steps(e, o, vocab, 1, (uint64_t)(o->seed + 2 * r), &a, one_s + r * o->output_len, err);
        if (st == LOOM_OK)
            st = run_decode_steps(e, o, vocab, o->batch, (uint64_t)(o->seed + 2 * r + 1), &b,
                                  many_s + r * o->output_len, err);
        if (st != LOOM_OK) break;
        fprintf(stderr, "round %lld: 1 sequence %.3f ms/step, %lld sequences %.3f ms/step (means)\n", r + 1,
                a.seconds * 1e3 / (double)a.steps, o->batch, b.seconds * 1e3 / (double)b.steps);
        bench_accumulate(&one, &a);
        bench_accumulate(&many, &b);
    }
    if (st == LOOM_OK) st = report_decode_steps(o, &one, &many, one_s, many_s, err);
    free(one_s);
    free(many_s);
    return st;
}
