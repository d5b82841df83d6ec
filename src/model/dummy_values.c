/* The values of --load-format dummy weights (dummy.c makes the tensor table): uniform with std 0.02 for
 * matrices, 1 for norms, 0 for biases, each a hash of the seed, the tensor's name and the element's index,
 * so a shard generates exactly the whole model's values at its positions. */
#include <string.h>

#include "model/model.h"

/* splitmix64's output function */
static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t tensor_key(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    return mix64(seed ^ mix64(h));
}

typedef enum fill_kind { FILL_RANDOM, FILL_ONES, FILL_ZEROS } fill_kind;

static fill_kind fill_of(const char *name) {
    size_t n = strlen(name);
    if (n >= 5 && strcmp(name + n - 5, ".bias") == 0) return FILL_ZEROS;
    return strstr(name, "norm.") ? FILL_ONES : FILL_RANDOM;
}

void dummy_fill(uint64_t seed, const loom_tensor_entry *e, int64_t row_begin, int64_t n_rows, int64_t col_begin,
                int64_t n_cols, float *out) {
    fill_kind fill = fill_of(e->name);
    uint64_t key = tensor_key(seed, e->name);
    int64_t row_len = e->shape[e->n_dims - 1];
    const float amplitude = 0.02f * 1.7320508f; /* uniform(-a, a) has std a/sqrt(3) */
    for (int64_t r = 0; r < n_rows; r++) {
        float *dst = out + r * n_cols;
        uint64_t first = (uint64_t)((row_begin + r) * row_len + col_begin);
        for (int64_t c = 0; c < n_cols; c++) {
            if (fill != FILL_RANDOM) {
                dst[c] = fill == FILL_ONES ? 1.0f : 0.0f;
                continue;
            }
            uint64_t bits = mix64(key + (first + (uint64_t)c + 1) * 0x9e3779b97f4a7c15ull);
            dst[c] = amplitude * (2.0f * (float)(bits >> 40) / 16777216.0f - 1.0f);
        }
    }
}
