#include "kernels/cpu/split_rmsnorm.h"

#include <math.h>

#include "kernels/cpu/rowops.h"

typedef struct norm_job {
    float *y;
    const float *x, *weight, *sum_squares;
    int64_t full_dim, dim;
    float eps;
} norm_job;

static void sum_rows(void *ctx, int64_t t0, int64_t t1, int ti) {
    const norm_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) j->y[t] = dot_f32(j->x + t * j->dim, j->x + t * j->dim, j->dim);
}

void cpu_sum_squares(loom_pool *pool, float *out, const float *x, int64_t n_tok, int64_t dim) {
    norm_job j = {.y = out, .x = x, .dim = dim};
    pool_run(pool, n_tok, 16, sum_rows, &j);
}

/* the same expression as the rmsnorm op, so an unsplit row gets rmsnorm's bits */
static void scale_rows(void *ctx, int64_t t0, int64_t t1, int ti) {
    const norm_job *j = ctx;
    for (int64_t t = t0; t < t1; t++) {
        float inv = 1.0f / sqrtf(j->sum_squares[t] / (float)j->full_dim + j->eps);
        const float *x = j->x + t * j->dim;
        float *y = j->y + t * j->dim;
        for (int64_t i = 0; i < j->dim; i++) y[i] = j->weight[i] * (inv * x[i]);
    }
}

void cpu_rmsnorm_given(loom_pool *pool, float *y, const float *x, const float *weight, const float *sum_squares,
                       int64_t full_dim, float eps, int64_t n_tok, int64_t dim) {
    norm_job j = {y, x, weight, sum_squares, full_dim, dim, eps};
    pool_run(pool, n_tok, 4, scale_rows, &j);
}
