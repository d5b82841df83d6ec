/* A persistent pool with owner ranges and stealing. A job is [0, n_items) cut into units of `grain`
 * items; participant i (the caller is 0) owns a contiguous range of about units / n_threads and claims
 * its units front to back, one at a time, from a word on its own cache line: uncontended, and each
 * thread streams one contiguous stretch of memory (a matmul's rows), which the hardware prefetchers
 * follow — units interleaved between threads restart a prefetch stream at every unit. A participant
 * whose range is empty steals single units from the back of the others' ranges, so a worker the OS has
 * descheduled on a busy machine holds up the job by at most the unit it is running.
 *
 * Each range word packs a 16-bit job tag with the range's next and end units, so a claim is one
 * compare-exchange that succeeds only while the word still belongs to the job the claimer saw. The job
 * descriptions alternate between two slots by generation parity; a claimer reads the slot only after
 * a successful claim, and the slot of job g is rewritten only for job g + 2, which is published (all
 * range words overwritten) only after job g + 1 finished — so a successful claim always reads the job
 * it claimed from. Completion: each participant adds the units it ran to the job's `units_done` once,
 * when nothing is left to claim or steal; the caller waits for the total.
 *
 * Idle workers spin on the generation word (no system call while ops follow each other closely, as in a
 * decode step) and after ~SPIN_NS sleep on a futex on that word; the publisher makes the wake system
 * call only when some worker sleeps. */
#include "core/thread_pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_NS 200000LL /* how long an idle worker spins (and the waiting caller before yielding) */
#define CACHE_LINE 64
#define UNIT_BITS 24
#define MAX_UNITS ((1LL << UNIT_BITS) - 1)

typedef struct pool_job {
    alignas(CACHE_LINE) loom_pool_fn fn; /* written by the caller before publishing, then read-only */
    void *ctx;
    int64_t n_items, grain;
    alignas(CACHE_LINE) atomic_llong units_done;
} pool_job;

/* tag (16 bits) | next unit (24) | end unit (24) */
typedef struct owner_range {
    alignas(CACHE_LINE) _Atomic unsigned long long word;
} owner_range;

struct loom_pool {
    int n_threads; /* including the calling thread */
    unsigned gen;  /* the last published job; only the caller writes it */
    pthread_t *threads;
    owner_range *ranges;                       /* [n_threads] */
    alignas(CACHE_LINE) atomic_uint futex_gen; /* = gen once the job is published: what workers wait on */
    atomic_int sleepers;                       /* workers in (or entering) futex_wait */
    atomic_int stop;
    pool_job jobs[2]; /* the job of generation g is jobs[g & 1] */
};

static unsigned long long range_word(unsigned gen, int64_t next, int64_t end) {
    return (unsigned long long)(gen & 0xffffu) << (2 * UNIT_BITS) | (unsigned long long)next << UNIT_BITS |
        (unsigned long long)end;
}
static unsigned word_tag(unsigned long long w) { return (unsigned)(w >> (2 * UNIT_BITS)); }
static int64_t word_next(unsigned long long w) { return (int64_t)(w >> UNIT_BITS & MAX_UNITS); }
static int64_t word_end(unsigned long long w) { return (int64_t)(w & MAX_UNITS); }

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void futex_wait(atomic_uint *word, unsigned expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(atomic_uint *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }

/* Claims one unit of job `gen` from range r: its front (own range) or its back (stealing). Returns the
 * unit, or -1 when the range is empty or belongs to another job. */
static int64_t claim_unit(owner_range *r, unsigned gen, int from_back) {
    unsigned long long w = atomic_load_explicit(&r->word, memory_order_relaxed);
    for (;;) {
        int64_t next = word_next(w), end = word_end(w);
        if (word_tag(w) != (gen & 0xffffu) || next >= end) return -1;
        unsigned long long taken = from_back ? range_word(gen, next, end - 1) : range_word(gen, next + 1, end);
        if (atomic_compare_exchange_weak_explicit(&r->word, &w, taken, memory_order_acquire, memory_order_relaxed))
            return from_back ? end - 1 : next;
    }
}

static void run_unit(const pool_job *j, int64_t unit, int index) {
    int64_t begin = unit * j->grain, end = begin + j->grain;
    j->fn(j->ctx, begin, end < j->n_items ? end : j->n_items, index);
}

/* Runs participant `index`'s share of job `gen`: its own range, then whatever it can steal. */
static void work_on(loom_pool *p, unsigned gen, int index) {
    pool_job *j = &p->jobs[gen & 1];
    int64_t ran = 0;
    for (int64_t unit; (unit = claim_unit(&p->ranges[index], gen, 0)) >= 0; ran++) run_unit(j, unit, index);
    for (int k = 1; k < p->n_threads; k++) {
        owner_range *victim = &p->ranges[(index + k) % p->n_threads];
        for (int64_t unit; (unit = claim_unit(victim, gen, 1)) >= 0; ran++) run_unit(j, unit, index);
    }
    if (ran) atomic_fetch_add_explicit(&j->units_done, ran, memory_order_release);
}

typedef struct worker_arg {
    loom_pool *pool;
    int index;
} worker_arg;

/* Returns the next published generation (or the current one when the pool is stopping). */
static unsigned wait_for_job(loom_pool *p, unsigned seen) {
    long long spin_until = now_ns() + SPIN_NS;
    for (int spins = 0;; spins++) {
        unsigned gen = atomic_load_explicit(&p->futex_gen, memory_order_acquire);
        if (gen != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) return gen;
        if (spins % 64 != 63 || now_ns() < spin_until) {
            cpu_relax();
            continue;
        }
        /* sleep: announce it, then re-check inside the futex (the publisher stores the generation
         * before reading `sleepers`, so either it sees us or we see its generation) */
        atomic_fetch_add(&p->sleepers, 1);
        if (atomic_load(&p->futex_gen) == seen && !atomic_load(&p->stop)) futex_wait(&p->futex_gen, seen);
        atomic_fetch_sub(&p->sleepers, 1);
        spin_until = now_ns() + SPIN_NS;
    }
}

static void *worker_main(void *arg) {
    worker_arg *wa = arg;
    loom_pool *p = wa->pool;
    int index = wa->index;
    free(wa);
    unsigned seen = atomic_load(&p->futex_gen);
    for (;;) {
        unsigned gen = wait_for_job(p, seen);
        if (atomic_load(&p->stop)) return NULL;
        seen = gen;
        work_on(p, gen, index);
    }
}

int cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void *alloc_lines(size_t bytes) {
    void *p = aligned_alloc(CACHE_LINE, (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE);
    if (p) memset(p, 0, bytes);
    return p;
}

loom_status pool_create(int n_threads, loom_pool **out, loom_error *err) {
    if (n_threads <= 0) n_threads = cpu_count();
    if (n_threads > 512) return loom_fail(err, LOOM_ERR_INVALID_ARG, "too many threads (%d)", n_threads);
    loom_pool *p = alloc_lines(sizeof *p);
    if (!p) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating thread pool");
    p->n_threads = n_threads;
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    p->ranges = alloc_lines((size_t)n_threads * sizeof *p->ranges);
    if (!p->threads || !p->ranges) {
        p->n_threads = 1; /* no workers to stop */
        pool_free(p);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory creating thread pool");
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) *wa = (worker_arg){p, i};
        if (!wa || pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            p->n_threads = i; /* only threads 1..i-1 exist */
            pool_free(p);
            return loom_fail(err, LOOM_ERR_INTERNAL, "cannot start worker thread %d", i);
        }
    }
    *out = p;
    return LOOM_OK;
}

void pool_free(loom_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->futex_gen, 1); /* a sleeper re-checks `stop` after waking */
    futex_wake_all(&p->futex_gen);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->ranges);
    free(p);
}

int pool_size(const loom_pool *p) { return p->n_threads; }

void pool_run(loom_pool *p, int64_t n_items, int64_t grain, loom_pool_fn fn, void *ctx) {
    if (n_items <= 0) return;
    if (grain < 1) grain = 1;
    if ((n_items + grain - 1) / grain > MAX_UNITS) grain = (n_items + MAX_UNITS - 1) / MAX_UNITS;
    if (p->n_threads == 1 || n_items <= grain) {
        fn(ctx, 0, n_items, 0);
        return;
    }
    unsigned gen = ++p->gen;
    pool_job *job = &p->jobs[gen & 1];
    job->fn = fn;
    job->ctx = ctx;
    job->n_items = n_items;
    job->grain = grain;
    atomic_store_explicit(&job->units_done, 0, memory_order_relaxed);
    int64_t n_units = (n_items + grain - 1) / grain;
    /* each range word's release store publishes the descriptor to whoever claims from it */
    for (int i = 0; i < p->n_threads; i++)
        atomic_store_explicit(&p->ranges[i].word,
                              range_word(gen, n_units * i / p->n_threads, n_units * (i + 1) / p->n_threads),
                              memory_order_release);
    atomic_store(&p->futex_gen, gen); /* seq_cst: ordered before the load of `sleepers` */
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->futex_gen);
    work_on(p, gen, 0);
    /* nothing is left to claim; wait for the units other threads are still running */
    long long yield_after = 0;
    for (int spins = 0; atomic_load_explicit(&job->units_done, memory_order_acquire) < n_units; spins++) {
        if (spins % 64 != 63) {
            cpu_relax();
            continue;
        }
        if (!yield_after) yield_after = now_ns() + SPIN_NS;
        else if (now_ns() > yield_after) sched_yield(); /* oversubscribed: let the workers run */
    }
}
