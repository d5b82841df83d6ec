#include "cli/spec_opts.h"

#include <string.h>

#include "cli/cli.h"

static const char *const names[] = {"--speculative-method", "--num-speculative-tokens", "--draft-model",
                                    "--ngram-prompt-lookup-max", "--ngram-prompt-lookup-min"};

int cli_spec_is_option(const char *a) {
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (!strcmp(a, names[k])) return 1;
    return 0;
}

int cli_spec_option(const char *cmd, const char *a, const char *v, loom_engine_params *p, cli_spec_opts *o) {
    if (!cli_spec_is_option(a)) return 0;
    long long n;
    if (!strcmp(a, "--draft-model")) {
        o->draft_path = v;
        return 1;
    }
    if (!strcmp(a, "--speculative-method")) {
        if (!strcmp(v, "ngram")) p->speculative_method = LOOM_SPEC_NGRAM;
        else if (!strcmp(v, "draft_model")) p->speculative_method = LOOM_SPEC_DRAFT_MODEL;
        else return cli_usage_error(cmd, "--speculative-method must be ngram or draft_model, got '%s'", v), -1;
        return 1;
    }
    int32_t *field = !strcmp(a, "--num-speculative-tokens") ? &p->num_speculative_tokens
        : !strcmp(a, "--ngram-prompt-lookup-max")           ? &p->ngram_prompt_lookup_max
                                                            : &p->ngram_prompt_lookup_min;
    long long max = field == &p->num_speculative_tokens ? LOOM_MAX_SPEC_TOKENS : 1024;
    if (cli_parse_int(v, 1, max, &n))
        return cli_usage_error(cmd, "%s needs an integer in [1, %lld], got '%s'", a, max, v), -1;
    *field = (int32_t)n;
    return 1;
}

loom_status cli_spec_prepare(const loom_model_params *target, const cli_spec_opts *o, loom_engine_params *p,
                             loom_error *err) {
    if (o->draft_path && p->speculative_method == LOOM_SPEC_NONE) p->speculative_method = LOOM_SPEC_DRAFT_MODEL;
    if (p->speculative_method == LOOM_SPEC_DRAFT_MODEL && !o->draft_path)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "--speculative-method draft_model needs --draft-model PATH");
    if (o->draft_path && p->speculative_method != LOOM_SPEC_DRAFT_MODEL)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "--draft-model goes with --speculative-method draft_model");
    if (p->speculative_method != LOOM_SPEC_NONE && p->num_speculative_tokens == 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "speculative decoding needs --num-speculative-tokens K (1..%d)",
                         LOOM_MAX_SPEC_TOKENS);
    if (!o->draft_path) return LOOM_OK;
    loom_model_params mp = *target;
    mp.path = o->draft_path;
    mp.tensor_parallel_size = mp.pipeline_parallel_size = 0;
    return loom_model_load(&mp, &p->draft_model, err);
}
