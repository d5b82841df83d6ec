/* `loom bench latency`: batch-1 prefill and decode speed (what llama-bench's pp/tg measure).
 * `loom bench perplexity`: perplexity of a text file, scored in non-overlapping windows (every token
 * but the first of a window is predicted from the tokens before it in that window). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

typedef struct bench_opts {
    const char *file;
    loom_model_params load; /* path, load format, quantization, parallel sizes */
    int threads, json;
    long long prompt_len, gen_len, reps, max_tokens, window;
} bench_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int parse_opts(const char *mode, int argc, char **argv, bench_opts *o) {
    *o = (bench_opts){.load = loom_model_default_params(),
                      .prompt_len = 512,
                      .gen_len = 128,
                      .reps = 1,
                      .max_tokens = 1 << 30,
                      .window = 512};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json") || cli_model_flag(a, &o->load)) {
            o->json |= !strcmp(a, "--json");
            continue;
        }
        const char *v = cli_option_value(argc, argv, &i);
        if (!v) return cli_usage_error("bench", "%s needs a value", a);
        long long *count = !strcmp(a, "--prompt-len") ? &o->prompt_len
            : !strcmp(a, "--gen-len")                 ? &o->gen_len
            : !strcmp(a, "--reps")                    ? &o->reps
            : !strcmp(a, "--max-tokens")              ? &o->max_tokens
            : !strcmp(a, "--window")                  ? &o->window
                                                      : NULL;
        long long iv;
        int model_option = cli_model_option("bench", a, v, &o->load);
        if (model_option < 0) return 2;
        if (model_option) continue;
        if (!strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
            if (cli_parse_int(v, 0, 512, &iv))
                return cli_usage_error("bench", "--threads needs a count in [0, 512], got '%s'", v);
            o->threads = (int)iv;
        } else if (count) {
            if (cli_parse_int(v, 1, 1 << 30, count))
                return cli_usage_error("bench", "%s needs a positive count, got '%s'", a, v);
        } else return cli_usage_error("bench", "unknown option '%s'", a);
    }
    if (!o->load.path) return cli_usage_error("bench", "-m MODEL is required");
    if (!strcmp(mode, "perplexity") && !o->file) return cli_usage_error("bench", "perplexity needs --file TEXT");
    return 0;
}

static loom_status open_model(const bench_opts *o, int32_t max_tokens, int32_t max_batch, loom_model **model,
                              loom_context **ctx, loom_error *err) {
    loom_status st = cli_model_load(&o->load, model, err);
    if (st != LOOM_OK) return st;
    loom_context_params cp = loom_context_default_params();
    cp.n_threads = o->threads;
    cp.max_tokens_per_seq = max_tokens;
    cp.max_batch_tokens = max_batch;
    return loom_context_create(*model, &cp, ctx, err);
}

/* One forward over tokens [0, n) at positions start.. of sequence 0; want_logits NULL = last only. */
static loom_status run_tokens(loom_context *ctx, const int32_t *tokens, int32_t n, int32_t start,
                              const uint8_t *want_logits, loom_error *err) {
    int32_t *pos = malloc((size_t)n * sizeof *pos), *seq = calloc((size_t)n, sizeof *seq);
    if (!pos || !seq) {
        free(pos);
        free(seq);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < n; i++) pos[i] = start + i;
    loom_batch_input b = {
        .n_tokens = n, .tokens = tokens, .positions = pos, .seq_ids = seq, .want_logits = want_logits};
    loom_status st = loom_decode(ctx, &b, err);
    free(pos);
    free(seq);
    return st;
}

enum { MAX_RANKS = 64 };

/* Per rank: weights, KV, resident memory, and communication time per step between two snapshots. */
static void print_ranks(const bench_opts *o, const loom_rank_stats *before, const loom_rank_stats *after, int32_t n,
                        long long steps) {
    if (o->json) printf(",\"ranks\":[");
    for (int32_t r = 0; r < n && r < MAX_RANKS; r++) {
        const loom_rank_stats *a = &after[r];
        double comm_ms = (a->comm_seconds - before[r].comm_seconds) * 1e3 / (double)(steps ? steps : 1);
        if (o->json)
            printf("%s{\"rank\":%d,\"tp_rank\":%d,\"pp_rank\":%d,\"weight_bytes\":%llu,\"kv_bytes\":%llu,"
                   "\"rss_bytes\":%llu,\"comm_ms_per_step\":%.4f}",
                   r ? "," : "", a->rank, a->tp_rank, a->pp_rank, (unsigned long long)a->weight_bytes,
                   (unsigned long long)a->kv_bytes, (unsigned long long)a->rss_bytes, comm_ms);
        else if (n > 1)
            printf("rank %d (tensor %d, stage %d): weights %.1f MiB, KV %.1f MiB, resident %.1f MiB, communication "
                   "%.3f ms/step\n",
                   a->rank, a->tp_rank, a->pp_rank, a->weight_bytes / 1048576.0, a->kv_bytes / 1048576.0,
                   a->rss_bytes / 1048576.0, comm_ms);
    }
    if (o->json) printf("]");
}

static loom_status bench_latency(const bench_opts *o, loom_error *err) {
    loom_model *model = NULL;
    loom_context *ctx = NULL;
    int32_t n_prompt = (int32_t)o->prompt_len, n_gen = (int32_t)o->gen_len;
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt);
    loom_status st = prompt ? open_model(o, n_prompt + n_gen, n_prompt, &model, &ctx, err)
                            : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    double best_prefill = 0, best_decode = 0; /* tokens/s, best of the repetitions */
    loom_rank_stats before[MAX_RANKS], after[MAX_RANKS];
    int32_t n_ranks = st == LOOM_OK ? loom_context_rank_stats(ctx, before, MAX_RANKS) : 0;
    for (long long rep = 0; st == LOOM_OK && rep < o->reps; rep++) {
        int32_t vocab = loom_model_get_info(model)->vocab_size;
        for (int32_t i = 0; i < n_prompt; i++) prompt[i] = (int32_t)((i * 7919u + 17u) % (uint32_t)vocab);
        loom_seq_clear(ctx, 0);
        double t0 = now_s();
        st = run_tokens(ctx, prompt, n_prompt, 0, NULL, err);
        double t1 = now_s();
        int32_t tok = prompt[n_prompt - 1];
        for (int32_t g = 0; st == LOOM_OK && g < n_gen; g++) {
            st = run_tokens(ctx, &tok, 1, n_prompt + g, NULL, err);
            tok = (tok * 31 + 7) % vocab; /* any token: speed does not depend on which */
        }
        double t2 = now_s();
        if (n_prompt / (t1 - t0) > best_prefill) best_prefill = n_prompt / (t1 - t0);
        if (n_gen / (t2 - t1) > best_decode) best_decode = n_gen / (t2 - t1);
    }
    if (st == LOOM_OK) {
        loom_context_rank_stats(ctx, after, MAX_RANKS);
        if (o->json) printf("{\"prefill_tokens_per_s\":%.2f,\"decode_tokens_per_s\":%.2f", best_prefill, best_decode);
        else
            printf("prefill %d tokens: %.1f tok/s; decode %d tokens: %.1f tok/s\n", n_prompt, best_prefill, n_gen,
                   best_decode);
        print_ranks(o, before, after, n_ranks, o->reps * (1 + (long long)n_gen));
        if (o->json) printf("}\n");
    }
    free(prompt);
    loom_context_free(ctx);
    loom_model_free(model);
    return st;
}

static loom_status read_text_file(const char *path, char **text, size_t *len, loom_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return loom_fail(err, LOOM_ERR_IO, "%s: cannot open", path);
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (!grown) free(buf);
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory reading %s", path);
    buf[n] = 0;
    *text = buf;
    *len = n;
    return LOOM_OK;
}

/* -log p(target) from one row of logits */
static double nll_of(const float *logits, int32_t vocab, int32_t target) {
    float mx = logits[0];
    for (int32_t i = 1; i < vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double z = 0;
    for (int32_t i = 0; i < vocab; i++) z += exp((double)logits[i] - mx);
    return log(z) + mx - logits[target];
}

static loom_status bench_perplexity(const bench_opts *o, loom_error *err) {
    loom_model *model = NULL;
    loom_context *ctx = NULL;
    char *text = NULL;
    size_t text_len = 0, n_ids = 0;
    int32_t *ids = NULL, window = (int32_t)o->window;
    uint8_t *want = malloc((size_t)window);
    loom_status st =
        want ? read_text_file(o->file, &text, &text_len, err) : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    if (st == LOOM_OK) st = open_model(o, window, window, &model, &ctx, err);
    if (st == LOOM_OK) st = loom_tokenize(model, text, text_len, 0, &ids, &n_ids, err);
    if (st == LOOM_OK && n_ids > (size_t)o->max_tokens) n_ids = (size_t)o->max_tokens;
    double nll = 0;
    long long scored = 0;
    memset(want, 1, (size_t)window);
    for (size_t at = 0; st == LOOM_OK && at + 1 < n_ids; at += (size_t)window) {
        int32_t n = n_ids - at < (size_t)window ? (int32_t)(n_ids - at) : window;
        loom_seq_clear(ctx, 0);
        st = run_tokens(ctx, ids + at, n, 0, want, err);
        int32_t vocab = loom_model_get_info(model)->vocab_size;
        for (int32_t i = 0; st == LOOM_OK && i + 1 < n; i++, scored++)
            nll += nll_of(loom_get_logits(ctx, i), vocab, ids[at + i + 1]);
    }
    if (st == LOOM_OK) {
        double ppl = exp(nll / (double)(scored ? scored : 1));
        if (o->json) printf("{\"perplexity\":%.6f,\"tokens_scored\":%lld}\n", ppl, scored);
        else printf("perplexity %.4f over %lld tokens (windows of %d)\n", ppl, scored, window);
    }
    free(want);
    free(text);
    free(ids);
    loom_context_free(ctx);
    loom_model_free(model);
    return st;
}

int cli_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "serve")) return cli_bench_serve(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "throughput")) return cli_bench_throughput(argc - 1, argv + 1);
    if (argc < 2 || (strcmp(argv[1], "latency") && strcmp(argv[1], "perplexity")))
        return cli_usage_error("bench", "expected `bench latency|throughput|perplexity|serve`");
    bench_opts o;
    int rc = parse_opts(argv[1], argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_status st = !strcmp(argv[1], "latency") ? bench_latency(&o, &err) : bench_perplexity(&o, &err);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
