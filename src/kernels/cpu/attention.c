#include "kernels/cpu/attention.h"

#include <math.h>
#include <string.h>

#include "kernels/cpu/rowops.h"

void loom_cpu_attention_one(const loom_attention_args *a, int32_t token, int32_t head) {
    int32_t d = a->head_dim, kv_dim = a->n_kv_heads * d;
    int32_t kv_head = head / (a->n_heads / a->n_kv_heads);
    const float *q = a->q + ((int64_t)token * a->n_heads + head) * d;
    float *out = a->out + ((int64_t)token * a->n_heads + head) * d;
    const int32_t *table = a->block_tables + (int64_t)a->seq_of_token[token] * a->max_blocks_per_seq;
    int32_t n_keys = a->pos[token] + 1;

    float running_max = -INFINITY, denom = 0;
    memset(out, 0, (size_t)d * sizeof(float));
    for (int32_t j = 0; j < n_keys; j++) {
        int64_t slot = (int64_t)table[j / a->block_size] * a->block_size + j % a->block_size;
        const float *k = a->k_cache + slot * kv_dim + (int64_t)kv_head * d;
        const float *v = a->v_cache + slot * kv_dim + (int64_t)kv_head * d;
        float score = loom_dot_f32(q, k, d) * a->scale;
        if (score > running_max) {
            /* rescale what was accumulated under the old maximum */
            float correction = expf(running_max - score);
            denom *= correction;
            for (int32_t i = 0; i < d; i++) out[i] *= correction;
            running_max = score;
        }
        float p = expf(score - running_max);
        denom += p;
        for (int32_t i = 0; i < d; i++) out[i] += p * v[i];
    }
    float inv = 1.0f / denom;
    for (int32_t i = 0; i < d; i++) out[i] *= inv;
}
