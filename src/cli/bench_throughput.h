/* What `loom bench throughput`'s two modes share: the options, one run's totals, the requests. */
#ifndef LOOM_CLI_BENCH_THROUGHPUT_H
#define LOOM_CLI_BENCH_THROUGHPUT_H

#include "cli/engine_opts.h"

typedef struct throughput_opts {
    cli_engine_opts engine;
    long long num_prompts, input_len, output_len, rounds, baseline_prompts, seed;
    long long batch; /* > 0: the decode-step mode (bench_decode_steps.c) */
    double temperature, top_p;
    long long top_k;
    const char *json_out;
    loom_constraint constraint; /* none: batched vs one at a time; else constrained vs unconstrained */
} throughput_opts;

typedef struct run_result {
    double seconds, cpu_seconds;                /* wall, and CPU time of the whole process (all threads) */
    uint64_t output_tokens, steps, ended_early; /* sequences that stopped before output_len */
    double step_ms, forward_ms;
} run_result;

double bench_wall_s(void);
/* A request of max_tokens tokens (EOS ignored) sampled as --temperature / --top-p / --top-k / --seed say
 * (default greedy); the prompt and callback are the caller's. */
loom_request_params bench_request(const throughput_opts *o, long long max_tokens);
/* n random ids below vocab from the xorshift state *rng */
void bench_random_prompt(int32_t *prompt, long long n, int32_t vocab, uint64_t *rng);
void bench_accumulate(run_result *total, const run_result *r);
/* the step counters of the engine between two metrics snapshots into r */
void bench_step_counters(run_result *r, const loom_engine_metrics *before, const loom_engine_metrics *after);

/* --batch N: the decode step of N sequences against 1 sequence's, alternating (bench_decode_steps.c) */
loom_status bench_decode_steps(loom_engine *e, const throughput_opts *o, int32_t vocab, loom_error *err);

#endif
