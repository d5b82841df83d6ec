/* Engine metrics: latency histograms (per-bucket counts, not cumulative: the server sums them for
 * Prometheus) and the gauges read from the scheduler and the block manager. */
#include <math.h>

#include "engine/engine_internal.h"

const double loom_latency_buckets_s[16] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                           0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  10.0, INFINITY};
const double loom_request_time_buckets_s[LOOM_REQUEST_TIME_BUCKETS] = {
    0.1,  0.25, 0.5,  1.0,   2.5,   5.0,   10.0,  15.0,   20.0,   30.0,
    40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0, INFINITY};

static void observe(const double *bounds, int n, uint64_t *buckets, double *sum, uint64_t *count, double seconds) {
    int b = 0;
    while (b < n - 1 && seconds > bounds[b]) b++;
    buckets[b]++;
    *sum += seconds;
    (*count)++;
}

void engine_metrics_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds) {
    observe(loom_latency_buckets_s, 16, buckets, sum, count, seconds);
}

#define OBSERVE_REQUEST_TIME(m, name, seconds)                                                                         \
    observe(loom_request_time_buckets_s, LOOM_REQUEST_TIME_BUCKETS, (m)->name##_buckets, &(m)->name##_sum_s,           \
            &(m)->name##_count, seconds)

void engine_metrics_refresh_gauges(loom_engine *e) {
    loom_sched_counts c;
    loom_block_manager_stats bs;
    sched_get_counts(e->sched, &c);
    bm_get_stats(e->kvm.bm, &bs);
    loom_engine_metrics *m = &e->metrics;
    m->num_running = c.n_running;
    m->num_waiting = c.n_waiting + c.n_swapped;
    m->num_preempted_now = c.n_waiting_preempted + c.n_swapped;
    m->num_preemptions_total = c.preemptions_total;
    m->kv_blocks_total = bs.n_blocks_total;
    m->kv_blocks_free = bs.n_blocks_free;
    m->kv_usage = bs.n_blocks_total ? (double)(bs.n_blocks_total - bs.n_blocks_free) / bs.n_blocks_total : 0;
    m->prefix_cache_queries = bs.prefix_query_tokens;
    m->prefix_cache_hits = bs.prefix_hit_tokens;
}

void engine_metrics_request_done(loom_engine *e, const engine_request *r, double now_s) {
    loom_engine_metrics *m = &e->metrics;
    m->requests_finished_total++;
    OBSERVE_REQUEST_TIME(m, e2e, now_s - r->arrival_s);
    if (r->scheduled_s <= 0) return; /* aborted while waiting */
    OBSERVE_REQUEST_TIME(m, queue, r->scheduled_s - r->arrival_s);
    if (r->first_token_s <= 0) return;
    double last_token_s = r->first_token_s;
    for (int32_t i = 0; i < r->p.n; i++)
        if (r->seqs[i].last_token_s > last_token_s) last_token_s = r->seqs[i].last_token_s;
    OBSERVE_REQUEST_TIME(m, prefill, r->first_token_s - r->scheduled_s);
    OBSERVE_REQUEST_TIME(m, decode, last_token_s - r->first_token_s);
    OBSERVE_REQUEST_TIME(m, inference, last_token_s - r->scheduled_s);
}

void engine_metrics_mark_scheduled(const loom_sched_step *step, double now_s) {
    for (int32_t i = 0; i < step->n_items; i++) {
        engine_request *r = ((engine_seq *)step->items[i].seq->owner)->req;
        if (r->scheduled_s <= 0) r->scheduled_s = now_s;
    }
}
