/* A per-request random stream (xoshiro256**, seeded through splitmix64): the same seed gives the
 * same draws whatever else runs in the process. */
#ifndef LOOM_SAMPLE_RNG_H
#define LOOM_SAMPLE_RNG_H

#include <stdint.h>

typedef struct loom_rng {
    uint64_t s[4];
} loom_rng;

void rng_seed(loom_rng *r, uint64_t seed);
uint64_t rng_next(loom_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(loom_rng *r);

#endif
