/* loom generate: one prompt through the engine (the path `loom batch` and `loom serve` take), streamed to
 * stdout (or one JSON object with --json). Stop strings (--stop, repeatable) are cut from the streamed
 * text. One sample per run: --n above 1 is refused with a pointer to `loom batch`, where parallel samples
 * share the prompt's KV blocks. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/spec_opts.h"

/* Prompt tokens one engine step computes (the prefill's chunk size) */
#define PROMPT_CHUNK_TOKENS 512

typedef struct gen_opts {
    const char *prompt, *ids, *dump_logits;
    long long n_new;
    loom_request_params req; /* sampling, stop strings, ignore_eos, logprobs, constraint (--json-schema ...) */
    int json, threads;
    loom_kv_dtype kv_cache_dtype;
    loom_model_params load;  /* path, load format, quantization, parallel sizes */
    loom_engine_params spec; /* its speculative-decoding fields (--speculative-method ...) */
    cli_spec_opts spec_opts; /* --draft-model */
} gen_opts;

typedef struct gen_state {
    const gen_opts *o;
    loom_model *model, *draft; /* draft: --draft-model */
    loom_engine *engine;
    FILE *dump;
    int32_t *prompt;
    size_t n_prompt;
    json_t *ids, *logprobs; /* with --json */
    size_t n_out;
    char *text; /* generated text so far (--json) */
    size_t text_len;
    loom_finish_reason finish;
    double first_token_ms;
    loom_status io_status; /* a failed write in a callback */
} gen_state;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Flags without a value; every other known option takes one. */
static int is_flag(const char *a) {
    return !strcmp(a, "--ignore-eos") || !strcmp(a, "--json") || !strcmp(a, "--enable-expert-parallel") ||
        cli_constraint_flag(a);
}

static int is_known(const char *a) {
    if (cli_spec_is_option(a)) return 1;
    static const char *const names[] = {"-m",
                                        "--model",
                                        "--prompt",
                                        "-p",
                                        "--ids",
                                        "--dump-logits",
                                        "--ignore-eos",
                                        "--json",
                                        "-n",
                                        "--max-tokens",
                                        "--temperature",
                                        "--top-p",
                                        "--min-p",
                                        "--top-k",
                                        "--seed",
                                        "--logprobs",
                                        "--threads",
                                        "-t",
                                        "--load-format",
                                        "--quantization",
                                        "--tensor-parallel-size",
                                        "--pipeline-parallel-size",
                                        "--enable-expert-parallel",
                                        "--repetition-penalty",
                                        "--presence-penalty",
                                        "--frequency-penalty",
                                        "--stop",
                                        "--n",
                                        "--kv-cache-dtype",
                                        "--json-schema",
                                        "--grammar",
                                        "--regex",
                                        "--choice",
                                        "--json-object",
                                        "--structural-tag"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i])) return 1;
    return 0;
}

static int parse_opts(int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->load = loom_model_default_params();
    o->n_new = 128;
    o->req = loom_request_default_params();
    o->kv_cache_dtype = LOOM_KV_AUTO;
    o->spec = loom_engine_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long iv;
        double fv;
        if (!is_known(a)) return cli_usage_error("generate", "unknown option '%s'", a);
        if (!is_flag(a) && !(v = cli_option_value(argc, argv, &i)))
            return cli_usage_error("generate", "%s needs a value", a);
        int spec_option = cli_spec_option("generate", a, v, &o->spec, &o->spec_opts);
        if (spec_option) {
            if (spec_option < 0) return 2;
            continue;
        }
        int model_option = cli_model_option("generate", a, v, &o->load);
        if (!model_option) model_option = cli_constraint_option("generate", a, v, &o->req.constraint);
        if (model_option) {
            if (model_option < 0) return 2;
            continue;
        }
        if (!strcmp(a, "--prompt") || !strcmp(a, "-p")) o->prompt = v;
        else if (!strcmp(a, "--ids")) o->ids = v;
        else if (!strcmp(a, "--dump-logits")) o->dump_logits = v;
        else if (!strcmp(a, "--ignore-eos")) o->req.ignore_eos = 1;
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (cli_parse_int(v, 0, 1 << 24, &o->n_new))
                return cli_usage_error("generate", "-n needs a count >= 0, got '%s'", v);
        } else if (!strcmp(a, "--temperature")) {
            if (cli_parse_float(v, 0, 100, &fv))
                return cli_usage_error("generate", "--temperature needs a number in [0, 100], got '%s'", v);
            o->req.sampling.temperature = (float)fv;
        } else if (!strcmp(a, "--top-p")) {
            if (cli_parse_float(v, 1e-9, 1, &fv))
                return cli_usage_error("generate", "--top-p needs a number in (0, 1], got '%s'", v);
            o->req.sampling.top_p = (float)fv;
        } else if (!strcmp(a, "--min-p")) {
            if (cli_parse_float(v, 0, 1, &fv))
                return cli_usage_error("generate", "--min-p needs a number in [0, 1], got '%s'", v);
            o->req.sampling.min_p = (float)fv;
        } else if (!strcmp(a, "--repetition-penalty")) {
            if (cli_parse_float(v, 1e-6, 100, &fv))
                return cli_usage_error("generate", "--repetition-penalty needs a number in (0, 100], got '%s'", v);
            o->req.sampling.repetition_penalty = (float)fv;
        } else if (!strcmp(a, "--presence-penalty") || !strcmp(a, "--frequency-penalty")) {
            if (cli_parse_float(v, -2, 2, &fv))
                return cli_usage_error("generate", "%s needs a number in [-2, 2], got '%s'", a, v);
            *(a[2] == 'p' ? &o->req.sampling.presence_penalty : &o->req.sampling.frequency_penalty) = (float)fv;
        } else if (!strcmp(a, "--stop")) {
            if (!v[0]) return cli_usage_error("generate", "--stop needs a non-empty string");
            if (o->req.n_stop == LOOM_MAX_STOP_STRINGS)
                return cli_usage_error("generate", "at most %d --stop strings", LOOM_MAX_STOP_STRINGS);
            o->req.stop[o->req.n_stop++] = v;
        } else if (!strcmp(a, "--n")) {
            if (cli_parse_int(v, 1, 128, &iv))
                return cli_usage_error("generate", "--n needs a count in [1, 128], got '%s'", v);
            if (iv > 1)
                return cli_usage_error("generate",
                                       "--n %lld: generate makes one sample; use `loom batch` for parallel samples "
                                       "(they share the prompt's KV)",
                                       iv);
        } else if (!strcmp(a, "--kv-cache-dtype")) {
            if ((iv = loom_kv_dtype_parse(v)) < LOOM_KV_AUTO)
                return cli_usage_error("generate",
                                       "--kv-cache-dtype must be auto, f32, f16, bf16, int8 or fp8, got '%s'", v);
            o->kv_cache_dtype = (loom_kv_dtype)iv;
        } else if (!strcmp(a, "--top-k")) {
            if (cli_parse_int(v, -1, 1 << 30, &iv))
                return cli_usage_error("generate", "--top-k needs an integer >= -1, got '%s'", v);
            o->req.sampling.top_k = (int32_t)iv;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(v, 0, INT64_MAX, &iv))
                return cli_usage_error("generate", "--seed needs an integer >= 0, got '%s'", v);
            o->req.sampling.seed = (uint64_t)iv;
            o->req.sampling.has_seed = 1;
        } else if (!strcmp(a, "--logprobs")) {
            if (cli_parse_int(v, 0, LOOM_MAX_LOGPROBS, &iv))
                return cli_usage_error("generate", "--logprobs needs a count in [0, %d], got '%s'", LOOM_MAX_LOGPROBS,
                                       v);
            o->req.logprobs = (int32_t)iv;
        } else { /* --threads */
            if (cli_parse_int(v, 0, 512, &iv))
                return cli_usage_error("generate", "--threads needs a count in [0, 512], got '%s'", v);
            o->threads = (int)iv;
        }
    }
    if (!o->load.path) return cli_usage_error("generate", "-m MODEL is required");
    if (!o->prompt == !o->ids) return cli_usage_error("generate", "give exactly one of --prompt TEXT or --ids 1,2,3");
    return 0;
}

static loom_status tokenize_prompt(gen_state *g, loom_error *err) {
    const gen_opts *o = g->o;
    if (o->ids) {
        if (cli_parse_ids(o->ids, &g->prompt, &g->n_prompt))
            return loom_fail(err, LOOM_ERR_INVALID_ARG, "--ids must be a comma-separated list of token ids");
    } else {
        loom_status st = loom_tokenize(g->model, o->prompt, strlen(o->prompt), 1, &g->prompt, &g->n_prompt, err);
        if (st != LOOM_OK) return st;
    }
    const loom_model_info *info = loom_model_get_info(g->model);
    if (g->n_prompt == 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "the prompt is empty");
    if (g->n_prompt >= (size_t)info->max_position_embeddings)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "the prompt has %zu tokens; the model's context is %d", g->n_prompt,
                         info->max_position_embeddings);
    return LOOM_OK;
}

/* Appends final text to the output (--json) or the terminal. */
static void append_text(gen_state *g, const char *text, size_t len) {
    if (!g->o->json) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
        return;
    }
    char *grown = realloc(g->text, g->text_len + len + 1);
    if (!grown) {
        g->io_status = LOOM_ERR_NO_MEMORY;
        return;
    }
    g->text = grown;
    memcpy(g->text + g->text_len, text, len);
    g->text[g->text_len += len] = 0;
}

static void record_logprobs(gen_state *g, const loom_token_logprob *lp) {
    json_t *top = json_array();
    for (int32_t j = 0; j < lp->n_top; j++)
        json_array_append_new(top, json_pack("[i,f]", lp->top_ids[j], (double)lp->top_logprobs[j]));
    json_array_append_new(g->logprobs,
                          json_pack("{s:i,s:f,s:o}", "id", lp->id, "logprob", (double)lp->logprob, "top", top));
}

static void on_output(const loom_output *out, void *user) {
    gen_state *g = user;
    if (out->n_new > 0 && g->n_out == 0) g->first_token_ms = now_ms();
    for (int32_t i = 0; i < out->n_new; i++) {
        if (g->ids) json_array_append_new(g->ids, json_integer(out->new_ids[i]));
        if (g->logprobs && out->logprobs) record_logprobs(g, &out->logprobs[i]);
    }
    g->n_out += (size_t)out->n_new;
    append_text(g, out->text_delta, strlen(out->text_delta));
    if (out->finish_reason != LOOM_FINISH_NONE) g->finish = out->finish_reason;
}

static void on_logits(int32_t seq_index, int32_t position, const float *logits, int32_t vocab, void *user) {
    gen_state *g = user;
    if (fwrite(logits, sizeof(float), (size_t)vocab, g->dump) != (size_t)vocab) g->io_status = LOOM_ERR_IO;
}

static void print_json(const gen_state *g) {
    json_t *prompt = json_array();
    for (size_t i = 0; i < g->n_prompt; i++) json_array_append_new(prompt, json_integer(g->prompt[i]));
    json_t *root =
        json_pack("{s:o,s:O,s:s,s:s,s:O}", "prompt_ids", prompt, "ids", g->ids, "text", g->text ? g->text : "",
                  "finish_reason", g->finish == LOOM_FINISH_STOP ? "stop" : "length", "logprobs", g->logprobs);
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) puts(s);
    free(s);
    json_decref(root);
}

/* One sequence's engine: KV for exactly prompt + n_new tokens, prompt prefilled in chunks. */
static loom_status open_engine(gen_state *g, loom_error *err) {
    const gen_opts *o = g->o;
    const loom_model_info *info = loom_model_get_info(g->model);
    size_t room = (size_t)info->max_position_embeddings - g->n_prompt;
    if ((size_t)o->n_new > room) {
        fprintf(stderr, "loom: -n %lld exceeds the model's context; generating at most %zu tokens\n", o->n_new, room);
        ((gen_opts *)o)->n_new = (long long)room;
    }
    loom_engine_params ep = loom_engine_default_params();
    ep.n_threads = o->threads;
    ep.max_num_seqs = 1;
    ep.max_num_batched_tokens = PROMPT_CHUNK_TOKENS;
    ep.max_model_len = (int32_t)(g->n_prompt + (size_t)(o->n_new > 0 ? o->n_new : 1));
    ep.enable_prefix_caching = 0;
    ep.kv_cache_dtype = o->kv_cache_dtype;
    if (o->req.logprobs > ep.max_logprobs) ep.max_logprobs = o->req.logprobs; /* --logprobs may exceed 20 */
    ep.speculative_method = o->spec.speculative_method;
    ep.num_speculative_tokens = o->spec.num_speculative_tokens;
    ep.ngram_prompt_lookup_max = o->spec.ngram_prompt_lookup_max;
    ep.ngram_prompt_lookup_min = o->spec.ngram_prompt_lookup_min;
    loom_status st = cli_spec_prepare(&o->load, &o->spec_opts, &ep, err);
    g->draft = ep.draft_model;
    if (st == LOOM_OK) st = loom_engine_create(g->model, &ep, &g->engine, err);
    return st;
}

static loom_status setup(gen_state *g, loom_error *err) {
    const gen_opts *o = g->o;
    loom_status st = cli_model_load(&o->load, &g->model, err);
    if (st == LOOM_OK) st = tokenize_prompt(g, err);
    if (st == LOOM_OK && o->req.n_stop > 0 && !loom_model_get_tokenizer(g->model))
        st = loom_fail(err, LOOM_ERR_INVALID_ARG, "--stop needs the model's tokenizer");
    if (st == LOOM_OK) st = open_engine(g, err);
    if (st != LOOM_OK) return st;
    if (o->dump_logits && !(g->dump = fopen(o->dump_logits, "wb")))
        return loom_fail(err, LOOM_ERR_IO, "%s: cannot create", o->dump_logits);
    if (o->json) {
        g->ids = json_array();
        g->logprobs = json_array();
    }
    return LOOM_OK;
}

static loom_status run(gen_state *g, loom_error *err) {
    loom_request_params rp = g->o->req;
    rp.prompt_ids = g->prompt;
    rp.n_prompt = g->n_prompt;
    rp.max_tokens = (int32_t)g->o->n_new;
    if (g->o->json && rp.logprobs < 0) rp.logprobs = 0; /* --json lists each token's logprob */
    rp.on_output = on_output;
    rp.on_logits = g->dump ? on_logits : NULL;
    rp.user = g;
    loom_status st = loom_engine_add_request(g->engine, &rp, NULL, err);
    while (st == LOOM_OK && loom_engine_has_work(g->engine)) st = loom_engine_step(g->engine, err);
    if (st == LOOM_OK && g->io_status != LOOM_OK)
        st = loom_fail(err, g->io_status, "%s",
                       g->io_status == LOOM_ERR_IO ? "writing --dump-logits failed" : "out of memory");
    if (st == LOOM_OK && g->finish == LOOM_FINISH_ERROR) st = loom_fail(err, LOOM_ERR_INTERNAL, "the request failed");
    return st;
}

static void teardown(gen_state *g) {
    if (g->dump) fclose(g->dump);
    json_decref(g->ids);
    json_decref(g->logprobs);
    loom_engine_free(g->engine);
    loom_model_free(g->draft);
    loom_model_free(g->model);
    free(g->prompt);
    free(g->text);
}

int cli_generate(int argc, char **argv) {
    gen_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) {
        cli_constraint_free(&o.req.constraint);
        return rc;
    }
    gen_state g = {.o = &o, .finish = LOOM_FINISH_LENGTH};
    loom_error err = {0};
    loom_status st = setup(&g, &err);
    double t0 = now_ms();
    g.first_token_ms = t0;
    if (st == LOOM_OK) st = run(&g, &err);
    double t2 = now_ms(), t1 = g.first_token_ms;
    if (st == LOOM_OK) {
        if (o.json) print_json(&g);
        else putchar('\n');
        fflush(stdout);
        fprintf(stderr,
                "loom: prompt %zu tokens in %.1f ms (%.1f tok/s); generated %zu tokens in %.1f ms (%.1f tok/s)\n",
                g.n_prompt, t1 - t0, g.n_prompt / ((t1 - t0) / 1e3 + 1e-9), g.n_out, t2 - t1,
                (g.n_out > 1 ? g.n_out - 1 : 0) / ((t2 - t1) / 1e3 + 1e-9));
        loom_engine_metrics m;
        loom_engine_get_metrics(g.engine, &m);
        if (m.spec_drafts_total)
            fprintf(stderr,
                    "loom: speculative decoding: %llu of %llu proposed tokens accepted (%.1f%%) in %llu steps\n",
                    (unsigned long long)m.spec_accepted_tokens_total, (unsigned long long)m.spec_draft_tokens_total,
                    100.0 * (double)m.spec_accepted_tokens_total / (double)m.spec_draft_tokens_total,
                    (unsigned long long)m.steps_total);
    }
    teardown(&g);
    cli_constraint_free(&o.req.constraint);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
