/*
 * test_optim.c - the optimizer's vector kernels against their plain loops:
 *  - Adam (optim_step, kern.h's adam) against optim_step_ref bit for bit over
 *    many steps, in both builds, for lengths that are and are not multiples
 *    of 16, with gradients spanning tiny to huge magnitudes and zeros;
 *  - the sum of squares behind the gradient norm: both builds the same bits,
 *    and within the rounding bound of a plain double loop;
 *  - clipping by norm, and the other optimizers (still plain loops) left
 *    unchanged by the dispatch.
 */
#include "check.h"
#include "kernels/kern.h"
#include "nn/optim.h"
#include "base/rng.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill(float *p, size_t n, rng *r)
{
    // Magnitudes from 1e-8 to 1e2, both signs, a few exact zeros: the
    // division by sqrt(v) + eps sees both of its regimes.
    for (size_t i = 0; i < n; i++) {
        float mag = powf(10.0f, -8.0f + 10.0f * rng_uniform(r));
        p[i] = rng_uniform(r) < 0.02f ? 0.0f : (rng_uniform(r) < 0.5f ? -mag : mag);
    }
}

static void test_adam(const kern *k, const char *name)
{
    const size_t sizes[] = {1, 15, 16, 17, 1000, 4099};
    rng r;
    rng_seed(&r, 7);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        float *w0 = malloc(n * sizeof(float)), *w1 = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
        optim_state a, b;
        CHECK(optim_init(&a, RECUR_ADAM, n, NULL) == 0 && optim_init(&b, RECUR_ADAM, n, NULL) == 0, "init");
        fill(w0, n, &r);
        memcpy(w1, w0, n * sizeof(float));
        int same = 1;
        for (int step = 1; step <= 25; step++) {
            fill(g, n, &r);
            float lr = step < 10 ? 2e-3f : 5e-4f;
            // The kernel path, forced to the build under test.
            b.t++;
            float c1 = 1.0f - powf(0.9f, (float)b.t), c2s = sqrtf(1.0f - powf(0.999f, (float)b.t));
            k->adam(w1, b.m, b.v, g, (long)n, 0.9f, 0.999f, 1e-8f, lr / c1, c2s);
            optim_step_ref(&a, w0, g, lr, 0);
            same &= memcmp(w0, w1, n * sizeof(float)) == 0 && memcmp(a.m, b.m, n * sizeof(float)) == 0 &&
                    memcmp(a.v, b.v, n * sizeof(float)) == 0;
        }
        CHECK(same, "adam (%s, n=%zu): differs from the plain loop", name, n);
        // And the dispatched optim_step is the same update.
        optim_step(&b, w1, g, 1e-3f, 0);
        optim_step_ref(&a, w0, g, 1e-3f, 0);
        CHECK(memcmp(w0, w1, n * sizeof(float)) == 0, "optim_step (n=%zu) differs from optim_step_ref", n);
        optim_free(&a);
        optim_free(&b);
        free(w0), free(w1), free(g);
    }
    printf("  adam (%s): 25 steps at 6 lengths, bit-identical to the plain loop\n", name);
}

static void test_sumsq(const kern *p, const kern *a)
{
    rng r;
    rng_seed(&r, 11);
    double worst = 0;
    for (size_t n = 0; n < 200; n += 7) {
        float *x = malloc((n ? n : 1) * sizeof(float));
        fill(x, n, &r);
        double plain = 0;
        for (size_t i = 0; i < n; i++) plain += (double)x[i] * x[i];
        double sp = p->sumsq(x, (long)n);
        // n terms of a positive sum: each order is within n ulps of the exact value.
        double err = fabs(sp - plain) / (plain > 0 ? plain : 1);
        if (err > worst) worst = err;
        CHECK(err <= 2.0 * (double)(n + 1) * DBL_EPSILON, "sumsq n=%zu: %.3g from the plain loop", n, err);
        if (a) CHECK(a->sumsq(x, (long)n) == sp, "sumsq n=%zu: avx512 and portable differ", n);
        free(x);
    }
    float inf[3] = {1.0f, INFINITY, 2.0f}, nan[2] = {NAN, 0.0f};
    CHECK(isinf(p->sumsq(inf, 3)) && isnan(p->sumsq(nan, 2)), "sumsq: Inf/NaN must propagate");
    if (a) CHECK(isinf(a->sumsq(inf, 3)) && isnan(a->sumsq(nan, 2)), "sumsq (avx512): Inf/NaN must propagate");
    printf("  sum of squares: within %.2g of a plain double loop%s\n", worst, a ? ", builds bit-identical" : "");
}

static void test_clip_and_others(void)
{
    float g[5] = {3, 4, 0, 0, 0};
    double norm = grad_norm(g, 5);
    CHECK(fabs(norm - 5.0) < 1e-12, "grad_norm: %g, want 5", norm);
    clip_by_norm(g, 5, norm, 1.0f);
    CHECK(fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f, "clip_by_norm: %g %g", g[0], g[1]);
    // The other optimizers are the plain loop either way.
    for (int kind = RECUR_ADAGRAD; kind <= RECUR_SGD; kind++) {
        optim_state a, b;
        float w0[3] = {1, -2, 3}, w1[3] = {1, -2, 3}, gg[3] = {0.5f, -0.25f, 2};
        CHECK(optim_init(&a, (recur_optim)kind, 3, NULL) == 0 && optim_init(&b, (recur_optim)kind, 3, NULL) == 0, "init");
        for (int s = 0; s < 3; s++) {
            optim_step(&a, w0, gg, 0.1f, 0.9f);
            optim_step_ref(&b, w1, gg, 0.1f, 0.9f);
        }
        CHECK(memcmp(w0, w1, sizeof w0) == 0 && w0[0] != 1.0f, "%s: optim_step and optim_step_ref differ",
              optim_name((recur_optim)kind));
        optim_free(&a);
        optim_free(&b);
    }
    // optim_step reports a weight that overflowed or became NaN, every kind.
    for (int kind = RECUR_ADAM; kind <= RECUR_SGD; kind++) {
        optim_state o;
        float w[20], gg[20];
        for (int i = 0; i < 20; i++) w[i] = 1.0f, gg[i] = 0.5f;
        CHECK(optim_init(&o, (recur_optim)kind, 20, NULL) == 0, "init");
        CHECK(optim_step(&o, w, gg, 0.1f, 0) == 1, "%s: finite step reported as diverged", optim_name((recur_optim)kind));
        w[17] = -3e38f;
        CHECK(optim_step(&o, w, gg, 3e38f, 0) == 0 && isinf(w[17]), "%s: overflow to -Inf not reported",
              optim_name((recur_optim)kind));
        for (int i = 0; i < 20; i++) w[i] = 1.0f;
        gg[3] = NAN;
        CHECK(optim_step(&o, w, gg, 0.1f, 0) == 0, "%s: NaN weight not reported", optim_name((recur_optim)kind));
        optim_free(&o);
    }
    printf("  clipping by norm, adagrad/rmsprop/sgd through optim_step, Inf/NaN weights reported\n");
}

int main(void)
{
    const kern *p = kern_portable(), *a = kern_avx512();
    printf("optimizer kernels (this CPU runs: %s):\n", kern_get()->name);
    test_adam(p, "portable");
    if (a) test_adam(a, "avx512");
    test_sumsq(p, a);
    test_clip_and_others();
    return check_exit();
}
