/* Sampler microbenchmark on a 151936-entry vocabulary (Qwen2's): time per token for greedy, plain
 * temperature, top-k 50, top-p 0.9, top-k 50 + top-p 0.9, min-p 0.05 and penalties over 2000 seen
 * ids. The baseline is the naive top-p (sort the whole row with qsort, then walk it), timed
 * alternately with loom's top-p in the same run. Logits: N(0, sigma^2), fixed seed; sigma 2 is
 * close to a small LM's spread, sigma 0.5 a flat row where top-p keeps most of the vocabulary.
 * Usage: sampler_bench [tokens per case, default 200]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loom.h"

enum { VOCAB = 151936 };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void gaussian_logits(float *l, double sigma, uint64_t seed) {
    for (int i = 0; i < VOCAB; i += 2) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = ((seed >> 11) + 1) / 9007199254740993.0;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (seed >> 11) / 9007199254740992.0, r = sqrt(-2 * log(u1)) * sigma;
        l[i] = (float)(r * cos(2 * M_PI * u2));
        if (i + 1 < VOCAB) l[i + 1] = (float)(r * sin(2 * M_PI * u2));
    }
}

typedef struct pair {
    float p;
    int32_t id;
} pair;

static int by_prob_desc(const void *a, const void *b) {
    const pair *x = a, *y = b;
    return x->p != y->p ? (x->p > y->p ? -1 : 1) : (x->id > y->id) - (x->id < y->id);
}

/* The naive nucleus sampler: softmax, full sort, walk to top_p, draw. */
static int32_t naive_top_p(const float *l, pair *buf, double top_p, double u) {
    float max = l[0];
    for (int i = 1; i < VOCAB; i++) max = l[i] > max ? l[i] : max;
    double total = 0;
    for (int i = 0; i < VOCAB; i++) total += buf[i].p = expf(l[i] - max), buf[i].id = i;
    qsort(buf, VOCAB, sizeof *buf, by_prob_desc);
    double before = 0;
    int kept = 0;
    while (kept < VOCAB && before < top_p * total) before += buf[kept++].p;
    double target = u * before, run = 0;
    for (int i = 0; i < kept; i++)
        if ((run += buf[i].p) > target) return buf[i].id;
    return buf[kept - 1].id;
}

static loom_sampler *sampler(float temperature, int32_t top_k, float top_p, float min_p, float rep) {
    loom_sampling_params p = loom_sampling_default_params();
    p.temperature = temperature, p.top_k = top_k, p.top_p = top_p, p.min_p = min_p;
    p.repetition_penalty = rep, p.frequency_penalty = rep != 1 ? 0.1f : 0;
    p.seed = 1, p.has_seed = 1;
    loom_sampler *s = NULL;
    loom_error err;
    if (loom_sampler_create(&p, VOCAB, &s, &err) != LOOM_OK) {
        fprintf(stderr, "sampler_bench: %s\n", err.message);
        exit(1);
    }
    if (rep != 1) {
        int32_t prompt[2000];
        for (int i = 0; i < 2000; i++) prompt[i] = (int32_t)((i * 7919u) % VOCAB);
        loom_sampler_set_prompt(s, prompt, 2000, &err);
    }
    return s;
}

static double us_per_token(loom_sampler *s, const float *l, int tokens) {
    double t0 = now_ms();
    for (int i = 0; i < tokens; i++) loom_sampler_sample(s, l);
    return (now_ms() - t0) * 1e3 / tokens;
}

int main(int argc, char **argv) {
    int tokens = argc > 1 ? atoi(argv[1]) : 200;
    if (tokens <= 0) return fprintf(stderr, "usage: sampler_bench [tokens per case]\n"), 2;
    float *l = malloc(VOCAB * sizeof *l);
    pair *buf = malloc(VOCAB * sizeof *buf);
    struct {
        const char *name;
        float t;
        int32_t k;
        float top_p, min_p, rep;
    } cases[] = {
        {"greedy", 0, 0, 1, 0, 1},
        {"temperature 1", 1, 0, 1, 0, 1},
        {"top-k 50", 1, 50, 1, 0, 1},
        {"top-p 0.9", 1, 0, 0.9f, 0, 1},
        {"top-k 50 + top-p 0.9", 1, 50, 0.9f, 0, 1},
        {"min-p 0.05", 1, 0, 1, 0.05f, 1},
        {"greedy + penalties (2000 ids)", 0, 0, 1, 0, 1.2f},
    };
    const double sigmas[2] = {2.0, 0.5};
    printf("vocabulary %d, %d tokens per case\n", VOCAB, tokens);
    for (int si = 0; si < 2; si++) {
        gaussian_logits(l, sigmas[si], 42);
        printf("\nlogits N(0, %.1f^2)\n%-32s %12s\n", sigmas[si], "case", "us/token");
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            loom_sampler *s = sampler(cases[c].t, cases[c].k, cases[c].top_p, cases[c].min_p, cases[c].rep);
            us_per_token(s, l, tokens / 10 + 1); /* warm-up */
            printf("%-32s %12.1f\n", cases[c].name, us_per_token(s, l, tokens));
            loom_sampler_free(s);
        }
        /* top-p 0.9: loom vs the naive full sort, alternating rounds */
        loom_sampler *s = sampler(1, 0, 0.9f, 0, 1);
        double loom_us = 0, naive_us = 0;
        int rounds = 5, per_round = tokens / rounds + 1;
        for (int r = 0; r < rounds; r++) {
            loom_us += us_per_token(s, l, per_round) / rounds;
            double t0 = now_ms();
            for (int i = 0; i < per_round; i++) naive_top_p(l, buf, 0.9, (i + 0.5) / per_round);
            naive_us += (now_ms() - t0) * 1e3 / per_round / rounds;
        }
        printf("top-p 0.9 vs full-sort baseline: loom %.1f us, baseline %.1f us, speed-up %.1fx\n", loom_us, naive_us,
               naive_us / loom_us);
        loom_sampler_free(s);
    }
    free(l);
    free(buf);
    return 0;
}
