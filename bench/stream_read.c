/* Read bandwidth, STREAM-style: T threads each sum their slice of a 1 GiB array (far larger than any
 * cache, huge pages requested); best of 5 passes. Prints GB/s (1e9 bytes/s). usage: stream_read THREADS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define ARRAY_BYTES (1ull << 30)

typedef struct slice {
    const double *p;
    size_t n;
    double sum;
} slice;

/* LANES independent accumulators: the adds vectorize into several independent chains, so the loop is
 * bound by memory, not by the latency of one chain of floating-point adds. */
#define LANES 32
static void *sum_slice(void *arg) {
    slice *s = arg;
    double acc[LANES] = {0};
    for (size_t i = 0; i + LANES <= s->n; i += LANES)
        for (int j = 0; j < LANES; j++) acc[j] += s->p[i + j];
    s->sum = 0;
    for (int j = 0; j < LANES; j++) s->sum += acc[j];
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    if (threads < 1 || threads > 64) return 2;
    size_t n = ARRAY_BYTES / sizeof(double);
    double *a = aligned_alloc(1u << 21, ARRAY_BYTES); /* 2 MiB pages where the kernel allows: 4 KiB pages */
    if (!a) return 1;                                 /* cost ~15% in TLB misses at this size */
    madvise(a, ARRAY_BYTES, MADV_HUGEPAGE);
    for (size_t i = 0; i < n; i++) a[i] = (double)(i & 7);
    double best = 0, check = 0;
    for (int pass = 0; pass < 5; pass++) {
        pthread_t tid[64];
        slice s[64];
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            s[t] = (slice){a + n / threads * t, n / threads, 0};
            pthread_create(&tid[t], NULL, sum_slice, &s[t]);
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            check += s[t].sum;
        }
        double gbs = (double)ARRAY_BYTES / (now_s() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    printf("%.2f\n", best);
    fprintf(stderr, "(checksum %g)\n", check);
    free(a);
    return 0;
}
