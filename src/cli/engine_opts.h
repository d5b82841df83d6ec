/* Engine options shared by the subcommands that run the engine (batch, bench). */
#ifndef LOOM_CLI_ENGINE_OPTS_H
#define LOOM_CLI_ENGINE_OPTS_H

#include <jansson.h>
#include <stdio.h>

#include "cli/spec_opts.h"
#include "loom.h"

#define CLI_ENGINE_USAGE                                                                                               \
    "-m MODEL [--load-format auto|dummy] [--quantization none|f32|int8|int4|fp8] [--threads N] [--max-num-seqs N] "    \
    "[--max-num-batched-tokens N]\n"                                                                                   \
    "           [--num-kv-blocks N] [--block-size N] [--no-prefix-caching] [--no-chunked-prefill]\n"                   \
    "           [--preemption-mode recompute|swap] [--swap-space BYTES] [--kv-cache-dtype "                            \
    "auto|f32|f16|bf16|int8|fp8]\n"                                                                                    \
    "           [--kv-cache-memory BYTES] [--memory-limit BYTES] [--max-model-len N] [--tensor-parallel-size N]\n"     \
    "           [--pipeline-parallel-size N] [--enable-expert-parallel]\n           " CLI_SPEC_USAGE

typedef struct cli_engine_opts {
    loom_model_params load; /* path, load format, quantization, parallel sizes */
    loom_engine_params params;
    cli_spec_opts spec; /* the draft model's path; the draft model itself is params.draft_model */
} cli_engine_opts;

void cli_engine_opts_init(cli_engine_opts *o);
/* 1: argv[*i] was an engine option (its value consumed); 0: not one; < 0: usage error already printed
 * (return 2 from the command). */
int cli_engine_option(const char *cmd, int argc, char **argv, int *i, cli_engine_opts *o);
/* Loads the model (and a draft model into o->params.draft_model) and creates the engine. */
loom_status cli_engine_open(cli_engine_opts *o, loom_model **model, loom_engine **engine, loom_error *err);
/* Frees the engine, then the models; clears the pointers. */
void cli_engine_close(cli_engine_opts *o, loom_model **model, loom_engine **engine);
/* Two lines: counts, tokens per step, preemptions, prefix hits, latencies, scheduling overhead. */
void cli_print_metrics(FILE *f, const loom_engine_metrics *m);
json_t *cli_metrics_json(const loom_engine_metrics *m);

#endif
