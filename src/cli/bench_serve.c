/* `loom bench serve`: a load generator for a running OpenAI-compatible server, like `vllm bench
 * serve`. Requests arrive as a Poisson process at --request-rate (or all at once with inf), each a
 * streamed /v1/completions call with a random token-id prompt and a random output length (ignore_eos,
 * so it produces exactly that many tokens). Reports request throughput, output tokens/s, and the
 * mean / median / p99 of TTFT, TPOT and ITL. HTTP through libcurl, one thread per request. */
#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

typedef struct serve_bench_opts {
    const char *base_url, *model, *api_key;
    long long num_prompts, input_len, output_len, seed;
    double request_rate; /* requests/s; INFINITY = all at once */
    double range_ratio;  /* lengths uniform in [len x (1 - r), len x (1 + r)] */
    int json;
} serve_bench_opts;

typedef struct request_result {
    const serve_bench_opts *o;
    char *body; /* the request JSON */
    int32_t input_tokens, output_tokens;
    double start_s, first_s, end_s;
    double *itl_s; /* gaps between content chunks */
    size_t n_itl, cap_itl;
    double last_s;
    char pending[65536]; /* SSE bytes not yet split into events */
    size_t pending_len;
    int ok, saw_usage;
    pthread_t thread;
} request_result;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: the prompt ids, lengths and arrival gaps, reproducible from --seed. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) { return (double)(next_random(state) >> 11) / 9007199254740992.0; }

static int32_t random_len(long long len, double ratio, uint64_t *state) {
    double lo = (double)len * (1 - ratio), hi = (double)len * (1 + ratio);
    long long n = (long long)floor(lo + (hi - lo + 1) * uniform01(state));
    return (int32_t)(n < 1 ? 1 : n);
}

/* One SSE event: a chunk with text (TTFT / ITL), or the usage chunk. */
static void on_event(request_result *r, const char *data) {
    if (strcmp(data, "[DONE]") == 0) {
        r->ok = r->saw_usage;
        return;
    }
    json_t *v = json_loads(data, 0, NULL);
    json_t *usage = json_object_get(v, "usage"), *choice = json_array_get(json_object_get(v, "choices"), 0);
    if (json_is_object(usage)) {
        r->output_tokens = (int32_t)json_integer_value(json_object_get(usage, "completion_tokens"));
        r->input_tokens = (int32_t)json_integer_value(json_object_get(usage, "prompt_tokens"));
        r->saw_usage = 1;
    }
    const char *text = json_string_value(json_object_get(choice, "text"));
    if (text && text[0]) {
        double t = now_s();
        if (r->first_s == 0) {
            r->first_s = t;
        } else if (r->n_itl < r->cap_itl) {
            r->itl_s[r->n_itl++] = t - r->last_s;
        }
        r->last_s = t;
    }
    json_decref(v);
}

static size_t on_bytes(char *data, size_t size, size_t n, void *user) {
    request_result *r = user;
    size_t len = size * n;
    if (r->pending_len + len >= sizeof r->pending) return 0; /* an event larger than 64 KiB: fail */
    memcpy(r->pending + r->pending_len, data, len);
    r->pending_len += len;
    r->pending[r->pending_len] = '\0';
    char *start = r->pending, *end;
    while ((end = strstr(start, "\n\n"))) {
        *end = '\0';
        if (strncmp(start, "data: ", 6) == 0) on_event(r, start + 6);
        start = end + 2;
    }
    r->pending_len -= (size_t)(start - r->pending);
    memmove(r->pending, start, r->pending_len);
    return len;
}

static struct curl_slist *json_headers(const serve_bench_opts *o) {
    char auth[1024];
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (o->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->api_key);
        headers = curl_slist_append(headers, auth);
    }
    return headers;
}

static void *run_request(void *arg) {
    request_result *r = arg;
    CURL *c = curl_easy_init();
    char url[1024];
    snprintf(url, sizeof url, "%s/v1/completions", r->o->base_url);
    struct curl_slist *headers = json_headers(r->o);
    r->start_s = now_s();
    if (c) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_bytes);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        long status = 0;
        if (curl_easy_perform(c) != CURLE_OK || (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200))
            r->ok = 0;
        curl_easy_cleanup(c);
    }
    curl_slist_free_all(headers);
    r->end_s = now_s();
    return NULL;
}

/* Token ids to build prompts from: the server's tokenization of a fixed passage (any model's ids). */
static int fetch_vocab_sample(const serve_bench_opts *o, json_t **ids) {
    CURL *c = curl_easy_init();
    char url[1024], *text = NULL;
    size_t len = 0;
    FILE *sink = open_memstream(&text, &len);
    snprintf(url, sizeof url, "%s/tokenize", o->base_url);
    struct curl_slist *headers = json_headers(o);
    const char *body =
        "{\"prompt\": \"The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins "
        "with a single step. Numbers 0123456789, symbols +-*/=, and words: river, mountain, engine.\"}";
    int ok = c && sink;
    if (ok) {
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
        ok = curl_easy_perform(c) == CURLE_OK;
    }
    if (sink) fclose(sink);
    json_t *v = ok && text ? json_loads(text, 0, NULL) : NULL;
    *ids = json_incref(json_object_get(v, "tokens"));
    json_decref(v);
    free(text);
    curl_slist_free_all(headers);
    if (c) curl_easy_cleanup(c);
    return json_array_size(*ids) > 0 ? 0 : -1;
}

static char *request_body(const serve_bench_opts *o, const json_t *vocab, int32_t n_in, int32_t n_out, uint64_t *rng) {
    json_t *prompt = json_array();
    for (int32_t i = 0; i < n_in; i++)
        json_array_append(prompt, json_array_get(vocab, next_random(rng) % json_array_size(vocab)));
    json_t *req = json_pack("{s:o, s:i, s:b, s:b, s:f, s:{s:b}}", "prompt", prompt, "max_tokens", n_out, "ignore_eos",
                            1, "stream", 1, "temperature", 0.0, "stream_options", "include_usage", 1);
    if (o->model) json_object_set_new(req, "model", json_string(o->model));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    return body;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double mean_ms, median_ms, p99_ms;
} stats;

static stats summarize(double *v_s, size_t n) {
    stats s = {0};
    if (n == 0) return s;
    qsort(v_s, n, sizeof *v_s, compare_doubles);
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += v_s[i];
    s.mean_ms = 1e3 * sum / (double)n;
    s.median_ms = 1e3 * (n % 2 ? v_s[n / 2] : (v_s[n / 2 - 1] + v_s[n / 2]) / 2);
    s.p99_ms = 1e3 * v_s[(size_t)ceil(0.99 * (double)n) - 1];
    return s;
}

static int parse_opts(int argc, char **argv, serve_bench_opts *o) {
    *o = (serve_bench_opts){.base_url = "http://127.0.0.1:8000",
                            .num_prompts = 100,
                            .input_len = 128,
                            .output_len = 64,
                            .request_rate = INFINITY,
                            .range_ratio = 0.5,
                            .seed = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!(v = cli_option_value(argc, argv, &i))) return cli_usage_error("bench serve", "%s needs a value", a);
        int bad = 0;
        if (!strcmp(a, "--base-url")) o->base_url = v;
        else if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(a, "--num-prompts")) bad = cli_parse_int(v, 1, 1000000, &o->num_prompts);
        else if (!strcmp(a, "--input-len")) bad = cli_parse_int(v, 1, 1 << 20, &o->input_len);
        else if (!strcmp(a, "--output-len")) bad = cli_parse_int(v, 1, 1 << 20, &o->output_len);
        else if (!strcmp(a, "--seed")) bad = cli_parse_int(v, 0, INT64_MAX, &o->seed);
        else if (!strcmp(a, "--range-ratio")) bad = cli_parse_float(v, 0, 0.99, &o->range_ratio);
        else if (!strcmp(a, "--request-rate")) {
            if (!strcmp(v, "inf")) o->request_rate = INFINITY;
            else bad = cli_parse_float(v, 1e-6, 1e9, &o->request_rate);
        } else return cli_usage_error("bench serve", "unknown option '%s'", a);
        if (bad) return cli_usage_error("bench serve", "%s: invalid value '%s'", a, v);
    }
    return 0;
}

static void report(const serve_bench_opts *o, request_result *rs, double duration_s) {
    size_t n = (size_t)o->num_prompts, ok = 0, n_itl = 0;
    long long in_tokens = 0, out_tokens = 0;
    double *ttft = calloc(n, sizeof *ttft), *tpot = calloc(n, sizeof *tpot);
    for (size_t i = 0; i < n; i++) n_itl += rs[i].n_itl;
    double *itl = calloc(n_itl + 1, sizeof *itl);
    size_t n_tpot = 0, k = 0;
    for (size_t i = 0; ttft && tpot && itl && i < n; i++) {
        request_result *r = &rs[i];
        if (!r->ok) continue;
        ttft[ok++] = r->first_s - r->start_s;
        in_tokens += r->input_tokens;
        out_tokens += r->output_tokens;
        if (r->output_tokens > 1) tpot[n_tpot++] = (r->end_s - r->first_s) / (r->output_tokens - 1);
        memcpy(itl + k, r->itl_s, r->n_itl * sizeof *itl);
        k += r->n_itl;
    }
    stats t = summarize(ttft, ok), p = summarize(tpot, n_tpot), g = summarize(itl, k);
    double req_s = (double)ok / duration_s, tok_s = (double)out_tokens / duration_s;
    if (o->json) {
        json_t *j =
            json_pack("{s:i, s:i, s:f, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "completed",
                      (int)ok, "failed", (int)(n - ok), "duration_s", duration_s, "input_tokens", (json_int_t)in_tokens,
                      "output_tokens", (json_int_t)out_tokens, "request_throughput", req_s, "output_throughput", tok_s,
                      "mean_ttft_ms", t.mean_ms, "median_ttft_ms", t.median_ms, "p99_ttft_ms", t.p99_ms, "mean_tpot_ms",
                      p.mean_ms, "median_tpot_ms", p.median_ms, "p99_tpot_ms", p.p99_ms, "mean_itl_ms", g.mean_ms,
                      "median_itl_ms", g.median_ms, "p99_itl_ms", g.p99_ms);
        char *text = json_dumps(j, JSON_COMPACT);
        if (text) puts(text);
        free(text);
        json_decref(j);
    } else {
        printf("============ Serving Benchmark Result ============\n"
               "Successful requests:            %zu\nFailed requests:                %zu\n"
               "Benchmark duration (s):         %.2f\nTotal input tokens:             %lld\n"
               "Total generated tokens:         %lld\nRequest throughput (req/s):     %.2f\n"
               "Output token throughput (tok/s): %.2f\n",
               ok, n - ok, duration_s, in_tokens, out_tokens, req_s, tok_s);
        printf("Mean / median / P99 TTFT (ms):  %.2f / %.2f / %.2f\n", t.mean_ms, t.median_ms, t.p99_ms);
        printf("Mean / median / P99 TPOT (ms):  %.2f / %.2f / %.2f\n", p.mean_ms, p.median_ms, p.p99_ms);
        printf("Mean / median / P99 ITL (ms):   %.2f / %.2f / %.2f\n", g.mean_ms, g.median_ms, g.p99_ms);
    }
    free(ttft);
    free(tpot);
    free(itl);
}

int cli_bench_serve(int argc, char **argv) {
    serve_bench_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_t *vocab = NULL;
    if (fetch_vocab_sample(&o, &vocab) != 0) {
        curl_global_cleanup();
        fprintf(stderr, "loom bench serve: cannot tokenize through %s/tokenize (is the server up?)\n", o.base_url);
        return 1;
    }
    uint64_t rng = (uint64_t)o.seed;
    request_result *rs = calloc((size_t)o.num_prompts, sizeof *rs);
    for (long long i = 0; rs && i < o.num_prompts; i++) {
        request_result *r = &rs[i];
        int32_t n_in = random_len(o.input_len, o.range_ratio, &rng),
                n_out = random_len(o.output_len, o.range_ratio, &rng);
        r->o = &o;
        r->body = request_body(&o, vocab, n_in, n_out, &rng);
        r->cap_itl = (size_t)n_out;
        r->itl_s = calloc(r->cap_itl, sizeof *r->itl_s);
    }
    double begin_s = now_s(), next_s = begin_s;
    for (long long i = 0; rs && i < o.num_prompts; i++) {
        if (isfinite(o.request_rate)) { /* exponential gaps: a Poisson process at request_rate */
            next_s += -log(1 - uniform01(&rng)) / o.request_rate;
            double wait_s = next_s - now_s();
            if (wait_s > 0) nanosleep(&(struct timespec){(time_t)wait_s, (long)((wait_s - floor(wait_s)) * 1e9)}, NULL);
        }
        if (pthread_create(&rs[i].thread, NULL, run_request, &rs[i]) != 0) run_request(&rs[i]);
    }
    for (long long i = 0; rs && i < o.num_prompts; i++)
        if (rs[i].thread) pthread_join(rs[i].thread, NULL);
    double duration_s = now_s() - begin_s;
    if (rs) report(&o, rs, duration_s);
    for (long long i = 0; rs && i < o.num_prompts; i++) {
        free(rs[i].body);
        free(rs[i].itl_s);
    }
    free(rs);
    json_decref(vocab);
    curl_global_cleanup();
    return rs ? 0 : 1;
}
