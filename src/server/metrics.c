/* GET /metrics: the engine's metrics in the Prometheus text format (version 0.0.4). */
#include <stdio.h>
#include <stdlib.h>

#include "server/server_internal.h"

static void gauge(FILE *b, const char *name, const char *help, double v) {
    fprintf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

static void counter(FILE *b, const char *name, const char *help, unsigned long long v) {
    fprintf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

/* counts[i]: observations in bucket i (upper bound loom_latency_buckets_s[i]); Prometheus wants
 * cumulative counts with the last bound +Inf. */
static void histogram(FILE *b, const char *name, const char *help, const uint64_t counts[16], double sum_s,
                      uint64_t count) {
    fprintf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cumulative = 0;
    for (int i = 0; i < 16; i++) {
        cumulative += counts[i];
        if (i == 15) fprintf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, cumulative);
        else fprintf(b, "%s_bucket{le=\"%g\"} %llu\n", name, loom_latency_buckets_s[i], cumulative);
    }
    fprintf(b, "%s_sum %.17g\n%s_count %llu\n", name, sum_s, name, (unsigned long long)count);
}

char *srv_metrics_text(srv_server *s) {
    loom_engine_metrics m;
    loom_engine_get_metrics(s->engine, &m);
    char *text = NULL;
    size_t size = 0;
    FILE *b = open_memstream(&text, &size);
    if (!b) return NULL;
    gauge(b, "loom_num_requests_running", "Sequences in the running batch.", m.num_running);
    gauge(b, "loom_num_requests_waiting", "Requests waiting to be scheduled.", m.num_waiting);
    gauge(b, "loom_num_http_requests_pending", "Generation requests the HTTP server has in flight.",
          (double)atomic_load(&s->pending_requests));
    gauge(b, "loom_kv_cache_usage_percent", "Used KV-cache blocks, percent of all blocks.", 100.0 * m.kv_usage);
    gauge(b, "loom_kv_cache_blocks_total", "KV-cache blocks in the pool.", m.kv_blocks_total);
    gauge(b, "loom_kv_cache_blocks_free", "KV-cache blocks free.", m.kv_blocks_free);
    counter(b, "loom_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.",
            (unsigned long long)m.prefix_cache_queries);
    counter(b, "loom_prefix_cache_hits_total", "Prompt tokens served from the prefix cache.",
            (unsigned long long)m.prefix_cache_hits);
    gauge(b, "loom_prefix_cache_hit_rate", "Prefix-cache hits / queries (tokens) since start.",
          m.prefix_cache_queries ? (double)m.prefix_cache_hits / (double)m.prefix_cache_queries : 0.0);
    counter(b, "loom_num_preemptions_total", "Sequences preempted since start.", (unsigned long long)m.num_preemptions_total);
    counter(b, "loom_prompt_tokens_total", "Prompt tokens processed.", (unsigned long long)m.prompt_tokens_total);
    counter(b, "loom_generation_tokens_total", "Tokens generated.", (unsigned long long)m.generation_tokens_total);
    counter(b, "loom_request_finished_total", "Requests finished.", (unsigned long long)m.requests_finished_total);
    histogram(b, "loom_time_to_first_token_seconds", "Time to first token.", m.ttft_buckets, m.ttft_sum_s, m.ttft_count);
    histogram(b, "loom_time_per_output_token_seconds", "Time per output token after the first.", m.tpot_buckets,
              m.tpot_sum_s, m.tpot_count);
    histogram(b, "loom_e2e_request_latency_seconds", "End-to-end request latency.", m.e2e_buckets, m.e2e_sum_s,
              m.e2e_count);
    if (fclose(b) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
