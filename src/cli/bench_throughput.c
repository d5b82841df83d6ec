/* loom bench throughput: the same requests through continuous batching and one at a time on the same
 * engine, alternating, `--rounds` times each; reports aggregate output tokens/s of both, their ratio,
 * and the scheduling overhead (step time outside the forward pass) as a share of step time.
 * With a constraint (--json-schema FILE, --grammar FILE, --regex RE, --choice JSON, --json-object,
 * --structural-tag FILE) it compares instead continuous batching with the constraint against the same
 * without it, alternating which goes first each round: the cost of structured outputs on decode. With
 * --batch N it times the decode step instead (bench_decode_steps.c). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench_throughput.h"
#include "cli/cli.h"

double bench_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void count_tokens(const loom_output *out, void *user) {
    run_result *r = user;
    r->output_tokens += (uint64_t)out->n_new;
    r->ended_early += out->finish_reason != LOOM_FINISH_NONE && out->finish_reason != LOOM_FINISH_LENGTH;
}

loom_request_params bench_request(const throughput_opts *o, long long max_tokens) {
    loom_request_params rp = loom_request_default_params();
    rp.sampling.temperature = (float)o->temperature;
    rp.sampling.top_p = (float)o->top_p;
    rp.sampling.top_k = (int32_t)o->top_k;
    rp.sampling.has_seed = 1;
    rp.sampling.seed = (uint64_t)o->seed;
    rp.ignore_eos = 1;
    rp.max_tokens = (int32_t)max_tokens;
    return rp;
}

void bench_random_prompt(int32_t *prompt, long long n, int32_t vocab, uint64_t *rng) {
    for (long long k = 0; k < n; k++) {
        *rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
        prompt[k] = (int32_t)(*rng % (uint64_t)vocab);
    }
}

void bench_step_counters(run_result *r, const loom_engine_metrics *before, const loom_engine_metrics *after) {
    r->steps = after->steps_total - before->steps_total;
    r->step_ms = after->step_time_ms_total - before->step_time_ms_total;
    r->forward_ms = after->forward_time_ms_total - before->forward_time_ms_total;
}

/* n prompts of input_len random ids (a fresh set per run, so the prefix cache never serves an earlier
 * run), sampled as bench_request says, exactly output_len tokens each; all added at once, or each after the previous
  * ended. */
static loom_status run_once(loom_engine *e, const throughput_opts *o, int32_t vocab, long long n, uint64_t seed,
                            int one_at_a_time, const loom_constraint *c, run_result *res, loom_error *err) {
    int32_t *prompt = malloc((size_t)o->input_len * sizeof *prompt);
    if (!prompt) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_engine_metrics before, after;
    loom_engine_get_metrics(e, &before);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    *res = (run_result){0};
    loom_request_params rp = bench_request(o, o->output_len);
    rp.prompt_ids = prompt;
    rp.n_prompt = (size_t)o->input_len;
    rp.on_output = count_tokens;
    rp.user = res;
    if (c) rp.constraint = *c;
    loom_status st = LOOM_OK;
    double t0 = bench_wall_s(), c0 = cpu_s();
    for (long long i = 0; i < n && st == LOOM_OK; i++) {
        bench_random_prompt(prompt, o->input_len, vocab, &rng);
        st = loom_engine_add_request(e, &rp, NULL, err);
        while (st == LOOM_OK && (one_at_a_time || i == n - 1) && loom_engine_has_work(e)) st = loom_engine_step(e, err);
    }
    res->seconds = bench_wall_s() - t0;
    res->cpu_seconds = cpu_s() - c0;
    free(prompt);
    loom_engine_get_metrics(e, &after);
    bench_step_counters(res, &before, &after);
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
        const char *a = argv[i], *v = cli_constraint_flag(a) ? "" : cli_option_value(argc, argv, &i);
        if (v && (r = cli_constraint_option("bench throughput", a, v, &o->constraint)) != 0) {
            if (r < 0) return 2;
            continue;
        }
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
    if (o->batch && o->constraint.kind != LOOM_CONSTRAINT_NONE)
        return cli_usage_error("bench throughput", "--batch times unconstrained decode steps: drop the constraint");
    if (o->baseline_prompts < 0 || o->baseline_prompts > o->num_prompts) o->baseline_prompts = o->num_prompts;
    return 0;
}

void bench_accumulate(run_result *total, const run_result *r) {
    total->seconds += r->seconds;
    total->cpu_seconds += r->cpu_seconds;
    total->output_tokens += r->output_tokens;
    total->ended_early += r->ended_early;
    total->steps += r->steps;
    total->step_ms += r->step_ms;
    total->forward_ms += r->forward_ms;
}

/* Constrained against unconstrained continuous batching. */
static loom_status report_constrained(const throughput_opts *o, const run_result *with, const run_result *without,
                                      loom_error *err) {
    double a = with->output_tokens / with->seconds, b = without->output_tokens / without->seconds;
    printf("throughput: %lld prompts x (%lld in, %lld out), %lld round(s), constrained vs unconstrained\n",
           o->num_prompts, o->input_len, o->output_len, o->rounds);
    printf("  constrained:   %.2f output tok/s (%llu tokens, %.2f ms/step over %llu steps)\n", a,
           (unsigned long long)with->output_tokens, with->step_ms / (double)with->steps,
           (unsigned long long)with->steps);
    printf("  unconstrained: %.2f output tok/s (%llu tokens, %.2f ms/step over %llu steps)\n", b,
           (unsigned long long)without->output_tokens, without->step_ms / (double)without->steps,
           (unsigned long long)without->steps);
    printf("  ratio: %.3fx\n", a / b);
    /* on a shared machine wall time counts other processes' slices too; CPU time per token does not */
    double ca = with->output_tokens / with->cpu_seconds, cb = without->output_tokens / without->cpu_seconds;
    printf("  per CPU second: constrained %.2f tok, unconstrained %.2f tok, ratio %.3fx\n", ca, cb, ca / cb);
    /* what the constraint adds lies outside the forward pass (masks, sampling): per step, against the step */
    double out_a = (with->step_ms - with->forward_ms) / (double)with->steps;
    double out_b = (without->step_ms - without->forward_ms) / (double)without->steps;
    printf("  outside the forward: constrained %.3f ms/step, unconstrained %.3f ms/step: +%.2f%% of an unconstrained "
           "step\n",
           out_a, out_b, 100 * (out_a - out_b) / (without->step_ms / (double)without->steps));
    if (with->ended_early || without->ended_early)
        printf(
            "  note: %llu constrained and %llu unconstrained sequences ended before --output-len (the grammar ended, "
            "or an error): compare ms/step with care\n",
            (unsigned long long)with->ended_early, (unsigned long long)without->ended_early);
    if (!o->json_out) return LOOM_OK;
    json_t *j = json_pack("{s:f,s:f,s:f,s:f,s:I,s:I}", "constrained_tok_s", a, "unconstrained_tok_s", b, "ratio", a / b,
                          "cpu_ratio", ca / cb, "constrained_tokens", (json_int_t)with->output_tokens,
                          "unconstrained_tokens", (json_int_t)without->output_tokens);
    int rc = json_dump_file(j, o->json_out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? loom_fail(err, LOOM_ERR_IO, "%s: cannot write", o->json_out) : LOOM_OK;
}

static loom_status report(const throughput_opts *o, const run_result *batched, const run_result *single,
                          loom_error *err) {
    double cb = batched->output_tokens / batched->seconds, one = single->output_tokens / single->seconds;
    double overhead = 100 * (batched->step_ms - batched->forward_ms) / batched->step_ms;
    double overhead_one = 100 * (single->step_ms - single->forward_ms) / single->step_ms;
    printf("throughput: %lld prompts x (%lld in, %lld out), %lld round(s)\n", o->num_prompts, o->input_len,
           o->output_len, o->rounds);
    printf("  continuous batching: %.2f output tok/s (%.2f ms/step, scheduling overhead %.2f%% of step time)\n", cb,
           batched->step_ms / (double)batched->steps, overhead);
    printf("  one at a time (%lld prompts): %.2f output tok/s (%.2f ms/step, overhead %.2f%%)\n", o->baseline_prompts,
           one, single->step_ms / (double)single->steps, overhead_one);
    printf("  ratio: %.2fx\n", cb / one);
    if (!o->json_out) return LOOM_OK;
    json_t *j = json_pack("{s:f,s:f,s:f,s:f,s:f}", "batched_tok_s", cb, "one_at_a_time_tok_s", one, "ratio", cb / one,
                          "scheduling_overhead_pct", overhead, "batched_ms_per_step",
                          batched->step_ms / (double)batched->steps);
    int rc = json_dump_file(j, o->json_out, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? loom_fail(err, LOOM_ERR_IO, "%s: cannot write", o->json_out) : LOOM_OK;
}

int cli_bench_throughput(int argc, char **argv) {
    throughput_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) {
        cli_constraint_free(&o.constraint);
        return rc;
    }
    loom_error err = {0};
    loom_model *model = NULL;
    loom_engine *e = NULL;
    loom_status st = cli_engine_open(&o.engine, &model, &e, &err);
    run_result batched = {0}, single = {0};
    int32_t vocab = st == LOOM_OK ? loom_model_get_info(model)->vocab_size : 1;
    int constrained = o.constraint.kind != LOOM_CONSTRAINT_NONE;
    if (st == LOOM_OK && o.batch) st = bench_decode_steps(e, &o, vocab, &err);
    for (long long r = 0; r < o.rounds && st == LOOM_OK && !o.batch; r++) {
        run_result a, b;
        if (constrained) { /* a: with the constraint, b: without; the first one alternates */
            uint64_t seed = (uint64_t)(o.seed + 2 * r);
            if (r % 2 == 0) st = run_once(e, &o, vocab, o.num_prompts, seed, 0, &o.constraint, &a, &err);
            if (st == LOOM_OK) st = run_once(e, &o, vocab, o.num_prompts, seed + 1, 0, NULL, &b, &err);
            if (st == LOOM_OK && r % 2 == 1)
                st = run_once(e, &o, vocab, o.num_prompts, seed, 0, &o.constraint, &a, &err);
        } else {
            st = run_once(e, &o, vocab, o.num_prompts, (uint64_t)(o.seed + 2 * r), 0, NULL, &a, &err);
            if (st == LOOM_OK)
                st = run_once(e, &o, vocab, o.baseline_prompts, (uint64_t)(o.seed + 2 * r + 1), 1, NULL, &b, &err);
        }
        if (st != LOOM_OK) break;
        fprintf(stderr,
                "round %lld: %s %.2f tok/s (%llu tokens, %.1f s, %.1f CPU s), %s %.2f tok/s (%llu tokens, %.1f s, %.1f "
                "CPU s)\n",
                r + 1, constrained ? "constrained" : "continuous batching", a.output_tokens / a.seconds,
                (unsigned long long)a.output_tokens, a.seconds, a.cpu_seconds,
                constrained ? "unconstrained" : "one at a time", b.output_tokens / b.seconds,
                (unsigned long long)b.output_tokens, b.seconds, b.cpu_seconds);
        bench_accumulate(&batched, &a);
        bench_accumulate(&single, &b);
    }
    if (st == LOOM_OK && !o.batch)
        st = constrained ? report_constrained(&o, &batched, &single, &err) : report(&o, &batched, &single, &err);
    cli_constraint_free(&o.constraint);
    cli_engine_close(&o.engine, &model, &e);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
