/*
 * rng.h - an explicit-state random generator (xoshiro256** seeded through
 * splitmix64). No global state: every user owns its generator, so the same
 * seed and thread count give the same bits.
 */
#ifndef RECUR_RNG_H
#define RECUR_RNG_H

#include <stdint.h>

typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 24 random bits (exactly representable as float). */
float rng_uniform(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform_d(rng *r);
/* Standard normal (Box-Muller, one value per call). */
float rng_normal(rng *r);

#endif
