/* A persistent pool with chunk claiming: a job is [0, n_items) cut into chunks of `grain` items;
 * every participant (the caller included) claims chunks from one atomic word until none is left, so a
 * worker that the OS has descheduled on a busy machine never holds up the job — the others take its
 * share. The claim word packs the job's generation with the next chunk index, and the job descriptions
 * alternate between two slots by generation parity: a worker reads the slot, then claims with a
 * compare-exchange on the word it read, which succeeds only while that job is still the current one —
 * so the slot it read cannot have been reused (that needs the next job published and finished). */
#include "core/thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ITERATIONS 4000 /* pause-spins (~100-200 µs) before a worker sleeps or the caller yields */
#define MAX_CHUNKS 0x7fffffffLL /* chunk indices live in the low 32 bits of the claim word */

typedef struct pool_job {
    loom_pool_fn fn;
    void *ctx;
    int64_t n_items, grain;
    atomic_llong n_chunks;    /* read before the claim, so atomic */
    atomic_llong chunks_done;
} pool_job;

struct loom_pool {
    int n_threads; /* including the calling thread */
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    /* high 32 bits: job generation; low 32 bits: next unclaimed chunk of that job */
    _Atomic unsigned long long claim;
    pool_job jobs[2]; /* the job of generation g is jobs[g & 1] */
    atomic_int stop;
    atomic_int sleepers; /* workers blocked on `wake` */
};

static unsigned generation_of(unsigned long long word) { return (unsigned)(word >> 32); }

/* Claims and runs chunks of the job of generation `gen` until none is left (or a newer job started). */
static void work_on(loom_pool *p, unsigned gen, int index) {
    for (;;) {
        unsigned long long word = atomic_load(&p->claim);
        if (generation_of(word) != gen) return;
        pool_job *j = &p->jobs[gen & 1];
        int64_t chunk = (int64_t)(word & 0xffffffffu);
        if (chunk >= atomic_load(&j->n_chunks)) return;
        if (!atomic_compare_exchange_weak(&p->claim, &word, word + 1)) continue;
        int64_t begin = chunk * j->grain, end = begin + j->grain;
        if (end > j->n_items) end = j->n_items;
        j->fn(j->ctx, begin, end, index);
        atomic_fetch_add(&j->chunks_done, 1);
    }
}

typedef struct worker_arg {
    loom_pool *pool;
    int index;
} worker_arg;

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    loom_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned seen = generation_of(atomic_load(&p->claim));
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = generation_of(atomic_load_explicit(&p->claim, memory_order_acquire))) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if (++spins < SPIN_ITERATIONS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (generation_of(atomic_load(&p->claim)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        work_on(p, gen, index);
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
    if ((n_items + grain - 1) / grain > MAX_CHUNKS) grain = (n_items + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (p->n_threads == 1 || n_items <= grain) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    unsigned gen = generation_of(atomic_load(&p->claim)) + 1;
    pool_job *job = &p->jobs[gen & 1];
    job->fn = fn;
    job->ctx = ctx;
    job->n_items = n_items;
    job->grain = grain;
    int64_t n_chunks = (n_items + grain - 1) / grain;
    atomic_store(&job->n_chunks, n_chunks);
    atomic_store(&job->chunks_done, 0);
    atomic_store(&p->claim, (unsigned long long)gen << 32); /* publishes the job: chunk 0 of generation gen */
    if (atomic_load(&p->sleepers) > 0) {
        /* a sleeper re-checks the generation under the mutex, so this broadcast cannot be lost */
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    work_on(p, gen, 0);
    /* every chunk is claimed; wait for the ones other threads are still running */
    for (int spins = 0; atomic_load(&job->chunks_done) < n_chunks; spins++) {
        if (spins > SPIN_ITERATIONS) sched_yield(); /* oversubscribed: let the workers run */
        else cpu_relax();
    }
}
