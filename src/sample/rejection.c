/* Speculative verification: accept with min(1, p/q), else draw from the residual (see rejection.h). */
#include "sample/rejection.h"

#include "sample/sampler_internal.h"
#include "sample/select.h"

int32_t rejection_verify(loom_sampler *s, const float *p, const float *q, int32_t vocab, int32_t proposal,
                         float *residual, int *accepted) {
    float qd = q ? q[proposal] : 1.0f;
    /* u < p(d) / q(d), without the division; q(d) > 0 since d was drawn from q */
    *accepted = sampler_uniform(s) * (double)qd < (double)p[proposal];
    if (*accepted) return proposal;
    double total = 0;
    for (int32_t i = 0; i < vocab; i++) {
        float r = p[i] - (q ? q[i] : (float)(i == proposal));
        residual[i] = r > 0 ? r : 0;
        total += residual[i];
    }
    const float *from = residual;
    if (!(total > 0)) { /* p == q up to rounding: rejection had probability ~0; p is the right law then */
        from = p;
        total = 0;
        for (int32_t i = 0; i < vocab; i++) total += p[i];
    }
    return draw_index(from, vocab, total, sampler_uniform(s));
}
