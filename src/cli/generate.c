/* loom generate: one prompt, streamed to stdout (or one JSON object with --json). Stop strings
 * (--stop, repeatable) are cut from the streamed text. One sample per run: --n above 1 is refused
 * with a pointer to `loom batch`, where parallel samples share the prompt's KV blocks. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define PROMPT_CHUNK_TOKENS 512

typedef struct gen_opts {
    const char *prompt, *ids, *dump_logits;
    long long n_new;
    loom_sampling_params sampling;
    const char *stop[LOOM_MAX_STOP_STRINGS];
    int32_t n_stop;
    int ignore_eos, json, logprobs_k, threads;
    loom_model_params load; /* path, load format, quantization, parallel sizes */
    loom_constraint constraint; /* structured output (--json-schema ...) */
} gen_opts;

typedef struct gen_state {
    const gen_opts *o;
    loom_model *model;
    loom_context *ctx;
    loom_sampler *sampler;
    loom_detokenizer *detok;
    loom_stop_matcher *stop; /* NULL without --stop */
    loom_grammar *grammar;   /* NULL without a constraint */
    float *masked;           /* [vocab] the logits with the constraint's mask applied */
    FILE *dump;
    int32_t *prompt, *out;
    size_t n_prompt, n_out;
    json_t *logprobs;  /* array, with --json */
    char *text;        /* generated text so far */
    size_t text_len;
    const char *finish_reason;
    int32_t last_logits; /* row of the newest token's logits after the last decode */
} gen_state;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Flags without a value; every other known option takes one. */
static int is_flag(const char *a) { return !strcmp(a, "--ignore-eos") || !strcmp(a, "--json") || cli_constraint_flag(a); }

static int is_known(const char *a) {
    static const char *const names[] = {"-m", "--model", "--prompt", "-p", "--ids", "--dump-logits", "--ignore-eos",
                                        "--json", "-n", "--max-tokens", "--temperature", "--top-p", "--min-p",
                                        "--top-k", "--seed", "--logprobs", "--threads", "-t", "--load-format", "--quantization",
                                        "--tensor-parallel-size", "--pipeline-parallel-size",
                                        "--repetition-penalty", "--presence-penalty", "--frequency-penalty",
                                        "--stop", "--n", "--json-schema", "--grammar", "--regex", "--choice",
                                        "--json-object"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(a, names[i])) return 1;
    return 0;
}

static int parse_opts(int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->load = loom_model_default_params();
    o->n_new = 128;
    o->sampling = loom_sampling_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long iv;
        double fv;
        if (!is_known(a)) return cli_usage_error("generate", "unknown option '%s'", a);
        if (!is_flag(a) && !(v = cli_option_value(argc, argv, &i))) return cli_usage_error("generate", "%s needs a value", a);
        int model_option = cli_model_option("generate", a, v, &o->load);
        if (!model_option) model_option = cli_constraint_option("generate", a, v, &o->constraint);
        if (model_option) {
            if (model_option < 0) return 2;
            continue;
        }
        if (!strcmp(a, "--prompt") || !strcmp(a, "-p")) o->prompt = v;
        else if (!strcmp(a, "--ids")) o->ids = v;
        else if (!strcmp(a, "--dump-logits")) o->dump_logits = v;
        else if (!strcmp(a, "--ignore-eos")) o->ignore_eos = 1;
        else if (!strcmp(a, "--json")) o->json = 1;
        else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (cli_parse_int(v, 0, 1 << 24, &o->n_new)) return cli_usage_error("generate", "-n needs a count >= 0, got '%s'", v);
        } else if (!strcmp(a, "--temperature")) {
            if (cli_parse_float(v, 0, 100, &fv)) return cli_usage_error("generate", "--temperature needs a number in [0, 100], got '%s'", v);
            o->sampling.temperature = (float)fv;
        } else if (!strcmp(a, "--top-p")) {
            if (cli_parse_float(v, 1e-9, 1, &fv)) return cli_usage_error("generate", "--top-p needs a number in (0, 1], got '%s'", v);
            o->sampling.top_p = (float)fv;
        } else if (!strcmp(a, "--min-p")) {
            if (cli_parse_float(v, 0, 1, &fv)) return cli_usage_error("generate", "--min-p needs a number in [0, 1], got '%s'", v);
            o->sampling.min_p = (float)fv;
        } else if (!strcmp(a, "--repetition-penalty")) {
            if (cli_parse_float(v, 1e-6, 100, &fv))
                return cli_usage_error("generate", "--repetition-penalty needs a number in (0, 100], got '%s'", v);
            o->sampling.repetition_penalty = (float)fv;
        } else if (!strcmp(a, "--presence-penalty") || !strcmp(a, "--frequency-penalty")) {
            if (cli_parse_float(v, -2, 2, &fv)) return cli_usage_error("generate", "%s needs a number in [-2, 2], got '%s'", a, v);
            *(a[2] == 'p' ? &o->sampling.presence_penalty : &o->sampling.frequency_penalty) = (float)fv;
        } else if (!strcmp(a, "--stop")) {
            if (!v[0]) return cli_usage_error("generate", "--stop needs a non-empty string");
            if (o->n_stop == LOOM_MAX_STOP_STRINGS)
                return cli_usage_error("generate", "at most %d --stop strings", LOOM_MAX_STOP_STRINGS);
            o->stop[o->n_stop++] = v;
        } else if (!strcmp(a, "--n")) {
            if (cli_parse_int(v, 1, 128, &iv)) return cli_usage_error("generate", "--n needs a count in [1, 128], got '%s'", v);
            if (iv > 1)
                return cli_usage_error("generate", "--n %lld: generate makes one sample; use `loom batch` for parallel samples "
                                       "(they share the prompt's KV)", iv);
        } else if (!strcmp(a, "--top-k")) {
            if (cli_parse_int(v, -1, 1 << 30, &iv)) return cli_usage_error("generate", "--top-k needs an integer >= -1, got '%s'", v);
            o->sampling.top_k = (int32_t)iv;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_int(v, 0, INT64_MAX, &iv)) return cli_usage_error("generate", "--seed needs an integer >= 0, got '%s'", v);
            o->sampling.seed = (uint64_t)iv;
            o->sampling.has_seed = 1;
        } else if (!strcmp(a, "--logprobs")) {
            if (cli_parse_int(v, 0, 1024, &iv)) return cli_usage_error("generate", "--logprobs needs a count in [0, 1024], got '%s'", v);
            o->logprobs_k = (int)iv;
        } else { /* --threads */
            if (cli_parse_int(v, 0, 512, &iv)) return cli_usage_error("generate", "--threads needs a count in [0, 512], got '%s'", v);
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
            return cli_fail(err, LOOM_ERR_INVALID_ARG, "--ids must be a comma-separated list of token ids");
    } else {
        loom_status st = loom_tokenize(g->model, o->prompt, strlen(o->prompt), 1, &g->prompt, &g->n_prompt, err);
        if (st != LOOM_OK) return st;
    }
    const loom_model_info *info = loom_model_get_info(g->model);
    if (g->n_prompt == 0) return cli_fail(err, LOOM_ERR_INVALID_ARG, "the prompt is empty");
    for (size_t i = 0; i < g->n_prompt; i++)
        if (g->prompt[i] >= info->vocab_size)
            return cli_fail(err, LOOM_ERR_INVALID_ARG, "token id %d is outside the vocabulary (%d)", g->prompt[i], info->vocab_size);
    if (g->n_prompt >= (size_t)info->max_position_embeddings)
        return cli_fail(err, LOOM_ERR_INVALID_ARG, "the prompt has %zu tokens; the model's context is %d", g->n_prompt,
                         info->max_position_embeddings);
    return LOOM_OK;
}

static loom_status dump_logits(gen_state *g, int32_t n_rows, loom_error *err) {
    int32_t vocab = loom_model_get_info(g->model)->vocab_size;
    for (int32_t i = 0; i < n_rows; i++)
        if (fwrite(loom_get_logits(g->ctx, i), sizeof(float), (size_t)vocab, g->dump) != (size_t)vocab)
            return cli_fail(err, LOOM_ERR_IO, "%s: write failed", g->o->dump_logits);
    return LOOM_OK;
}

/* Runs tokens [0, n) of ids at positions start.. as sequence 0, in chunks; logits of every position when
 * dumping, else of the last token only. */
static loom_status run_tokens(gen_state *g, const int32_t *ids, size_t n, int32_t start, loom_error *err) {
    int32_t pos[PROMPT_CHUNK_TOKENS], seq[PROMPT_CHUNK_TOKENS];
    uint8_t want[PROMPT_CHUNK_TOKENS];
    for (size_t done = 0; done < n;) {
        int32_t chunk = (int32_t)(n - done < PROMPT_CHUNK_TOKENS ? n - done : PROMPT_CHUNK_TOKENS);
        for (int32_t i = 0; i < chunk; i++) {
            pos[i] = start + (int32_t)done + i;
            seq[i] = 0;
            want[i] = g->dump != NULL || done + (size_t)i == n - 1;
        }
        loom_batch_input b = {chunk, ids + done, pos, seq, want};
        loom_status st = loom_decode(g->ctx, &b, err);
        if (st == LOOM_OK && g->dump) st = dump_logits(g, chunk, err);
        if (st != LOOM_OK) return st;
        g->last_logits = g->dump ? chunk - 1 : 0;
        done += (size_t)chunk;
    }
    return LOOM_OK;
}

static int is_eos(const loom_model_info *info, int32_t id) {
    for (int32_t i = 0; i < info->n_eos_ids; i++)
        if (info->eos_ids[i] == id) return 1;
    return 0;
}

/* Appends final text (already past the stop matcher) to the output and the terminal. */
static loom_status append_text(gen_state *g, const char *text, size_t len, loom_error *err) {
    char *grown = realloc(g->text, g->text_len + len + 1);
    if (!grown) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    g->text = grown;
    memcpy(g->text + g->text_len, text, len);
    g->text_len += len;
    g->text[g->text_len] = 0;
    if (!g->o->json && len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return LOOM_OK;
}

/* Takes a detokenized piece (freed here) through the stop matcher; *stopped when a stop string
 * matched. */
static loom_status emit_text(gen_state *g, char *piece, int *stopped, loom_error *err) {
    if (!piece) return LOOM_OK;
    loom_status st;
    if (!g->stop) st = append_text(g, piece, strlen(piece), err);
    else {
        loom_stop_result r;
        st = loom_stop_matcher_push(g->stop, piece, strlen(piece), 1, &r, err);
        if (st == LOOM_OK) st = append_text(g, r.text, r.text_len, err);
        if (r.stop_index >= 0) *stopped = 1;
    }
    free(piece);
    return st;
}

static void record_logprobs(gen_state *g, const float *logits, int32_t id) {
    if (!g->logprobs) return;
    int32_t vocab = loom_model_get_info(g->model)->vocab_size, k = g->o->logprobs_k;
    int32_t top_ids[1024];
    float top_lp[1024], lp;
    loom_logprobs(logits, vocab, id, k, &lp, top_ids, top_lp);
    json_t *top = json_array();
    for (int32_t j = 0; j < k && j < vocab; j++) json_array_append_new(top, json_pack("[i,f]", top_ids[j], (double)top_lp[j]));
    json_array_append_new(g->logprobs, json_pack("{s:i,s:f,s:o}", "id", id, "logprob", (double)lp, "top", top));
}

static loom_status generate_loop(gen_state *g, loom_error *err) {
    const loom_model_info *info = loom_model_get_info(g->model);
    g->finish_reason = "length";
    for (size_t step = 0; step < (size_t)g->o->n_new; step++) {
        const float *logits = loom_get_logits(g->ctx, g->last_logits), *allowed = logits;
        if (g->grammar) { /* the constraint's mask on a copy: logprobs stay those of the raw logits */
            memcpy(g->masked, logits, (size_t)info->vocab_size * sizeof *g->masked);
            loom_status st = loom_grammar_mask_logits(g->grammar, g->masked, err);
            if (st != LOOM_OK) return st;
            allowed = g->masked;
        }
        int32_t id = loom_sampler_sample(g->sampler, allowed);
        if (g->grammar) {
            loom_status st = loom_grammar_accept(g->grammar, id, err);
            if (st != LOOM_OK) return st;
        }
        record_logprobs(g, logits, id);
        g->out[g->n_out++] = id;
        int stop = (!g->o->ignore_eos && is_eos(info, id)) || (g->grammar && loom_grammar_is_terminated(g->grammar));
        if (g->detok) {
            char *piece = NULL;
            loom_status st = loom_detokenizer_push(g->detok, id, &piece, err);
            if (st == LOOM_OK) st = emit_text(g, piece, &stop, err);
            if (st != LOOM_OK) return st;
        }
        if (stop) {
            g->finish_reason = "stop";
            break;
        }
        if (step + 1 == (size_t)g->o->n_new) break; /* the last token is never run */
        loom_status st = run_tokens(g, &id, 1, (int32_t)(g->n_prompt + g->n_out - 1), err);
        if (st != LOOM_OK) return st;
    }
    if (g->detok) {
        char *piece = NULL;
        int stopped = 0;
        loom_status st = loom_detokenizer_flush(g->detok, &piece, err);
        if (st == LOOM_OK) st = emit_text(g, piece, &stopped, err);
        if (st != LOOM_OK || !g->stop) return st;
        if (stopped) g->finish_reason = "stop";
        loom_stop_result r;
        loom_stop_matcher_flush(g->stop, &r);
        return append_text(g, r.text, r.text_len, err);
    }
    return LOOM_OK;
}

static void print_json(const gen_state *g) {
    json_t *prompt = json_array(), *ids = json_array();
    for (size_t i = 0; i < g->n_prompt; i++) json_array_append_new(prompt, json_integer(g->prompt[i]));
    for (size_t i = 0; i < g->n_out; i++) json_array_append_new(ids, json_integer(g->out[i]));
    json_t *root = json_pack("{s:o,s:o,s:s,s:s}", "prompt_ids", prompt, "ids", ids, "text", g->text ? g->text : "",
                             "finish_reason", g->finish_reason);
    json_object_set(root, "logprobs", g->logprobs ? g->logprobs : json_null());
    char *s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) puts(s);
    free(s);
    json_decref(root);
}

static loom_status setup(gen_state *g, loom_error *err) {
    const gen_opts *o = g->o;
    loom_status st = cli_model_load(&o->load, &g->model, err);
    if (st == LOOM_OK) st = tokenize_prompt(g, err);
    if (st != LOOM_OK) return st;
    const loom_model_info *info = loom_model_get_info(g->model);
    size_t room = (size_t)info->max_position_embeddings - g->n_prompt;
    if ((size_t)o->n_new > room) {
        fprintf(stderr, "loom: -n %lld exceeds the model's context; generating at most %zu tokens\n", o->n_new, room);
        ((gen_opts *)o)->n_new = (long long)room;
    }
    loom_context_params cp = loom_context_default_params();
    cp.n_threads = o->threads;
    cp.max_seqs = 1;
    cp.max_tokens_per_seq = (int32_t)(g->n_prompt + (size_t)o->n_new);
    cp.max_batch_tokens = PROMPT_CHUNK_TOKENS;
    if ((st = loom_context_create(g->model, &cp, &g->ctx, err)) != LOOM_OK) return st;
    if ((st = loom_sampler_create(&o->sampling, info->vocab_size, &g->sampler, err)) != LOOM_OK ||
        (st = loom_sampler_set_prompt(g->sampler, g->prompt, g->n_prompt, err)) != LOOM_OK)
        return st;
    if (!(g->out = malloc(((size_t)o->n_new + 1) * sizeof *g->out))) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    st = loom_detokenizer_create(g->model, 1, &g->detok, err);
    if (st == LOOM_ERR_UNSUPPORTED && o->ids) st = LOOM_OK; /* no tokenizer: --ids still gives ids */
    if (st == LOOM_OK && g->detok) st = loom_detokenizer_prime(g->detok, g->prompt, g->n_prompt, err);
    if (st != LOOM_OK) return st;
    if (o->n_stop > 0) {
        if (!g->detok) return cli_fail(err, LOOM_ERR_INVALID_ARG, "--stop needs the model's tokenizer");
        st = loom_stop_matcher_create(o->stop, o->n_stop, 0, &g->stop, err);
        if (st != LOOM_OK) return st;
    }
    if (o->dump_logits && !(g->dump = fopen(o->dump_logits, "wb")))
        return cli_fail(err, LOOM_ERR_IO, "%s: cannot create", o->dump_logits);
    if (o->json) g->logprobs = json_array();
    if (o->constraint.kind != LOOM_CONSTRAINT_NONE) {
        if (!(g->masked = malloc((size_t)info->vocab_size * sizeof *g->masked)))
            return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        st = loom_grammar_create(g->model, &o->constraint, &g->grammar, err);
    }
    return st;
}

static void teardown(gen_state *g) {
    if (g->dump) fclose(g->dump);
    json_decref(g->logprobs);
    loom_detokenizer_free(g->detok);
    loom_stop_matcher_free(g->stop);
    loom_grammar_free(g->grammar);
    free(g->masked);
    loom_sampler_free(g->sampler);
    loom_context_free(g->ctx);
    loom_model_free(g->model);
    free(g->prompt);
    free(g->out);
    free(g->text);
}

int cli_generate(int argc, char **argv) {
    gen_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) {
        cli_constraint_free(&o.constraint);
        return rc;
    }
    gen_state g = {.o = &o};
    loom_error err = {0};
    loom_status st = setup(&g, &err);
    double t0 = now_ms(), t1 = t0;
    if (st == LOOM_OK && o.n_new > 0) {
        st = run_tokens(&g, g.prompt, g.n_prompt, 0, &err);
        t1 = now_ms();
        if (st == LOOM_OK) st = generate_loop(&g, &err);
    }
    double t2 = now_ms();
    if (st == LOOM_OK) {
        if (o.json) print_json(&g);
        else putchar('\n');
        fflush(stdout);
        fprintf(stderr, "loom: prompt %zu tokens in %.1f ms (%.1f tok/s); generated %zu tokens in %.1f ms (%.1f tok/s)\n",
                g.n_prompt, t1 - t0, g.n_prompt / ((t1 - t0) / 1e3 + 1e-9), g.n_out, t2 - t1,
                (g.n_out > 1 ? g.n_out - 1 : 0) / ((t2 - t1) / 1e3 + 1e-9));
    }
    teardown(&g);
    cli_constraint_free(&o.constraint);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
