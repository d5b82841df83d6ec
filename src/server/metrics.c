/* GET /metrics: the engine's and the HTTP side's metrics in the Prometheus text format (version 0.0.4).
 * Every series is loom_-prefixed and carries model_name="<served model name>", as vLLM's vllm: series
 * do; README's "Serving" section maps each to its vLLM name. */
#include <stdio.h>
#include <stdlib.h>

#include "server/server_internal.h"

typedef struct metrics_out {
    FILE *f;
    char label[320]; /* model_name="...", escaped */
} metrics_out;

static void head(metrics_out *o, const char *name, const char *type, const char *help) {
    fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(metrics_out *o, const char *name, const char *help, double v) {
    head(o, name, "gauge", help);
    fprintf(o->f, "%s{%s} %.17g\n", name, o->label, v);
}

static void counter(metrics_out *o, const char *name, const char *help, unsigned long long v) {
    head(o, name, "counter", help);
    fprintf(o->f, "%s{%s} %llu\n", name, o->label, v);
}

/* counts[i]: observations in bucket i (upper bound bounds[i], the last +inf); Prometheus wants
 * cumulative counts. */
static void histogram(metrics_out *o, const char *name, const char *help, const double *bounds, int n,
                      const uint64_t *counts, double sum_s, uint64_t count) {
    head(o, name, "histogram", help);
    unsigned long long cumulative = 0;
    for (int i = 0; i < n; i++) {
        cumulative += counts[i];
        if (i == n - 1) fprintf(o->f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, o->label, cumulative);
        else fprintf(o->f, "%s_bucket{%s,le=\"%g\"} %llu\n", name, o->label, bounds[i], cumulative);
    }
    fprintf(o->f, "%s_sum{%s} %.17g\n%s_count{%s} %llu\n", name, o->label, sum_s, name, o->label,
            (unsigned long long)count);
}

/* model_name="..." with \, " and newlines escaped as the text format wants. */
static void make_label(metrics_out *o, const char *model) {
    size_t n = (size_t)snprintf(o->label, sizeof o->label, "model_name=\"");
    for (const char *p = model; *p && n + 4 < sizeof o->label; p++) {
        if (*p == '\\' || *p == '"') o->label[n++] = '\\';
        if (*p == '\n') {
            o->label[n++] = '\\';
            o->label[n++] = 'n';
        } else {
            o->label[n++] = *p;
        }
    }
    snprintf(o->label + n, sizeof o->label - n, "\"");
}

static void engine_series(metrics_out *o, const loom_engine_metrics *m) {
    gauge(o, "loom_num_requests_running", "Sequences in the running batch.", m->num_running);
    gauge(o, "loom_num_requests_waiting", "Requests waiting to be scheduled.", m->num_waiting);
    gauge(o, "loom_kv_cache_usage_percent", "Used KV-cache blocks, percent of all blocks.", 100.0 * m->kv_usage);
    gauge(o, "loom_kv_cache_blocks_total", "KV-cache blocks in the pool.", m->kv_blocks_total);
    gauge(o, "loom_kv_cache_blocks_free", "KV-cache blocks free.", m->kv_blocks_free);
    counter(o, "loom_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
            (unsigned long long)m->prefix_cache_queries);
    counter(o, "loom_prefix_cache_hits_total", "Prompt tokens served from the prefix cache.",
            (unsigned long long)m->prefix_cache_hits);
    gauge(o, "loom_prefix_cache_hit_rate", "Prefix-cache hits / queries (tokens) since start.",
          m->prefix_cache_queries ? (double)m->prefix_cache_hits / (double)m->prefix_cache_queries : 0.0);
    counter(o, "loom_num_preemptions_total", "Sequences preempted since start.",
            (unsigned long long)m->num_preemptions_total);
    counter(o, "loom_prompt_tokens_total", "Prompt tokens processed.", (unsigned long long)m->prompt_tokens_total);
    counter(o, "loom_generation_tokens_total", "Tokens generated.", (unsigned long long)m->generation_tokens_total);
    counter(o, "loom_request_finished_total", "Requests finished.", (unsigned long long)m->requests_finished_total);
    static const char *const reasons[] = {"stop", "length", "abort", "error"};
    head(o, "loom_request_success_total", "counter", "Finished samples (each of a request's n) by finish reason.");
    for (int i = 0; i < 4; i++)
        fprintf(o->f, "loom_request_success_total{%s,finished_reason=\"%s\"} %llu\n", o->label, reasons[i],
                (unsigned long long)m->seqs_finished_by_reason[LOOM_FINISH_STOP + i]);
    histogram(o, "loom_time_to_first_token_seconds", "Time to first token.", loom_latency_buckets_s, 16,
              m->ttft_buckets, m->ttft_sum_s, m->ttft_count);
    histogram(o, "loom_time_per_output_token_seconds", "Time per output token after the first.", loom_latency_buckets_s,
              16, m->tpot_buckets, m->tpot_sum_s, m->tpot_count);
    const double *rb = loom_request_time_buckets_s;
    const int nb = LOOM_REQUEST_TIME_BUCKETS;
    histogram(o, "loom_e2e_request_latency_seconds", "End-to-end request latency.", rb, nb, m->e2e_buckets,
              m->e2e_sum_s, m->e2e_count);
    histogram(o, "loom_request_queue_time_seconds", "Time from arrival to first being scheduled.", rb, nb,
              m->queue_buckets, m->queue_sum_s, m->queue_count);
    histogram(o, "loom_request_prefill_time_seconds", "Time from first being scheduled to the first token.", rb, nb,
              m->prefill_buckets, m->prefill_sum_s, m->prefill_count);
    histogram(o, "loom_request_decode_time_seconds", "Time from the first to the last token.", rb, nb,
              m->decode_buckets, m->decode_sum_s, m->decode_count);
    histogram(o, "loom_request_inference_time_seconds", "Time from first being scheduled to the last token.", rb, nb,
              m->inference_buckets, m->inference_sum_s, m->inference_count);
}

static void http_series(metrics_out *o, srv_server *s) {
    srv_conn_stats c;
    srv_listener_stats(s->listener, &c);
    gauge(o, "loom_num_http_requests_pending", "Generation requests the HTTP server has in flight.",
          (double)atomic_load(&s->pending_requests));
    gauge(o, "loom_http_connections", "Open HTTP connections.", c.open);
    gauge(o, "loom_http_connections_limit", "Open HTTP connections allowed (--max-connections).", c.limit);
    gauge(o, "loom_http_connections_per_ip_limit",
          "Open connections allowed from one address (--max-connections-per-ip).", c.per_ip_limit);
    counter(o, "loom_http_connections_refused_total", "Connections refused over a connection limit.",
            (unsigned long long)c.refused_total);
    counter(o, "loom_http_requests_timed_out_total",
            "Connections closed: the request did not arrive within --request-timeout.",
            (unsigned long long)c.timed_out_total);
    counter(o, "loom_http_bad_framing_total", "Requests refused for malformed Content-Length / Transfer-Encoding.",
            (unsigned long long)c.bad_headers_total);
}

char *srv_metrics_text(srv_server *s) {
    loom_engine_metrics m;
    loom_engine_get_metrics(s->engine, &m);
    char *text = NULL;
    size_t size = 0;
    metrics_out o = {.f = open_memstream(&text, &size)};
    if (!o.f) return NULL;
    make_label(&o, s->cfg.served_model_name);
    engine_series(&o, &m);
    http_series(&o, s);
    if (fclose(o.f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
