/* Speculative decoding options (vLLM's --speculative-config fields, llama.cpp's --model-draft), shared by
 * every command that runs the engine: serve, batch, bench throughput (through engine_opts.c) and
 * generate. */
#ifndef LOOM_CLI_SPEC_OPTS_H
#define LOOM_CLI_SPEC_OPTS_H

#include "loom.h"

#define CLI_SPEC_USAGE                                                                                                 \
    "[--speculative-method ngram|draft_model] [--num-speculative-tokens K] [--draft-model PATH]\n"                     \
    "           [--ngram-prompt-lookup-max N] [--ngram-prompt-lookup-min N]"

typedef struct cli_spec_opts {
    const char *draft_path; /* --draft-model */
} cli_spec_opts;

/* 1: a is a speculative-decoding option taking value v (into p and o); 0: not one; -1: usage error
 * already printed. */
int cli_spec_option(const char *cmd, const char *a, const char *v, loom_engine_params *p, cli_spec_opts *o);
/* 1 when a is one of those options (each takes a value). */
int cli_spec_is_option(const char *a);
/* After parsing: --draft-model implies the draft_model method, which needs it; a method needs K. Then
 * loads the draft model (the target's load format and quantization, no parallelism) into p->draft_model;
 * the caller frees it after the engine. */
loom_status cli_spec_prepare(const loom_model_params *target, const cli_spec_opts *o, loom_engine_params *p,
                             loom_error *err);

#endif
