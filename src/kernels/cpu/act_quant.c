#include "kernels/cpu/act_quant.h"

#include <math.h>

void loom_quantize_x_row(const float *x, loom_xblock *out, int64_t n) {
    for (int64_t b = 0; b < n / LOOM_XBLOCK_ELEMS; b++, x += LOOM_XBLOCK_ELEMS) {
        float amax = 0;
        for (int j = 0; j < LOOM_XBLOCK_ELEMS; j++) amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
        float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < LOOM_XBLOCK_ELEMS; j++) {
            int q = (int)lrintf(x[j] * id); /* round to nearest even; inlines to cvtps2dq */
            out[b].q[j] = (int8_t)q;
            sum += q;
        }
        out[b].d = d;
        out[b].dsum = d * (float)sum;
    }
}
