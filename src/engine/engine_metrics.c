/* Engine metrics: latency histograms (per-bucket counts, not cumulative: the server sums them for
 * Prometheus) and the gauges read from the scheduler and the block manager. */
#include <math.h>

#include "engine/engine_internal.h"

const double loom_latency_buckets_s[16] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                           0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  10.0, INFINITY};

void engine_metrics_observe(uint64_t *buckets, double *sum, uint64_t *count, double seconds) {
    int b = 0;
    while (b < 15 && seconds > loom_latency_buckets_s[b]) b++;
    buckets[b]++;
    *sum += seconds;
    (*count)++;
}

void engine_metrics_refresh_gauges(loom_engine *e) {
    loom_sched_counts c;
    loom_block_manager_stats bs;
    loom_sched_get_counts(e->sched, &c);
    loom_bm_get_stats(e->kvm.bm, &bs);
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
    engine_metrics_observe(m->e2e_buckets, &m->e2e_sum_s, &m->e2e_count, now_s - r->arrival_s);
}
