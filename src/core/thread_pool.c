#include "core/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define SPIN_ITERATIONS 200000 /* ~100 µs of polling before a worker sleeps */

struct loom_pool {
    int n_threads; /* including the calling thread */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_uint generation; /* bumped once per job */
    atomic_int pending;     /* workers still running the current job */
    atomic_int stop;
    atomic_int sleepers;    /* workers blocked on `wake` */
    /* the current job */
    loom_pool_fn fn;
    void *ctx;
    int64_t n_items, grain;
};

typedef struct worker_arg {
    loom_pool *pool;
    int index;
} worker_arg;

static void run_share(loom_pool *p, int index) {
    /* ranges are balanced in units of `grain` */
    int64_t units = (p->n_items + p->grain - 1) / p->grain;
    int64_t u0 = units * index / p->n_threads, u1 = units * (index + 1) / p->n_threads;
    int64_t begin = u0 * p->grain, end = u1 * p->grain;
    if (end > p->n_items) end = p->n_items;
    if (begin < end) p->fn(p->ctx, begin, end, index);
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    loom_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->stop)) {
            if (++spins < SPIN_ITERATIONS) continue;
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        run_share(p, index);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

int loom_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

loom_status loom_pool_create(int n_threads, loom_pool **out, loom_error *err) {
    if (n_threads <= 0) n_threads = loom_cpu_count();
    if (n_threads > 512) return loom_fail(err, LOOM_ERR_INVALID_ARG, "too many threads (%d)", n_threads);
    loom_pool *p = calloc(1, sizeof *p);
    if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating thread pool");
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        loom_pool_free(p);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i; /* only threads 1..i-1 exist */
            loom_pool_free(p);
            return loom_fail(err, LOOM_ERR_INTERNAL, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return LOOM_OK;
}

void loom_pool_free(loom_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->n_threads; i++)
        if (p->threads) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int loom_pool_size(const loom_pool *p) { return p->n_threads; }

void loom_pool_run(loom_pool *p, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx) {
    if (n_items <= 0) return;
    if (grain < 1) grain = 1;
    if (p->n_threads == 1 || n_items <= grain) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n_items;
    p->grain = grain;
    atomic_store(&p->pending, p->n_threads - 1);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0) {
        /* a sleeper re-checks the generation under the mutex, so this broadcast cannot be lost */
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_share(p, 0);
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++)
        if (spins > SPIN_ITERATIONS) sched_yield(); /* oversubscribed: let the workers run */
}
