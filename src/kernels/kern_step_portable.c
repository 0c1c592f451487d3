/*
 * kern_step_portable.c - kern_step.h's kernels in plain C. fmaf rounds once,
 * like the AVX-512 build's fused multiply-adds, and the k loop runs in the
 * same order, so both builds give the same bits. The loops run k outermost
 * over a row of accumulators so that the compiler can vectorise across
 * columns (with FMA where the CPU has it: target_clones, as kern_portable.c).
 */
#include "kernels/kern_step.h"

#include "kernels/kern.h"

#include <math.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(RECUR_NO_CLONES)
#define STEP_CLONES __attribute__((target_clones("fma", "default")))
#else
#define STEP_CLONES
#endif

STEP_CLONES static void portable_mv_f32(int np, int nv, const int *nc, int K, const float *x, const float *w,
                                        const float *const *init, float *const *out)
{
    float acc[STEP_NP * STEP_NR];
    const int nw = 16 * nv, ld = np * nw;
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nw; j++) acc[p * nw + j] = init && j < nc[p] ? init[p][j] : 0.0f;
    for (int k = 0; k < K; k++, w += ld) {
        const float xk = x[k];
        for (int i = 0; i < ld; i++) acc[i] = fmaf(xk, w[i], acc[i]);
    }
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nc[p]; j++) out[p][j] = acc[p * nw + j];
}

STEP_CLONES static void portable_mv_bf16(int np, int nv, const int *nc, int K, const float *x, const uint32_t *w,
                                         const float *const *init, float *const *out)
{
    float acc[STEP_NP * STEP_NR];
    const int nw = 16 * nv, ld = np * nw;
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nw; j++) acc[p * nw + j] = init && j < nc[p] ? init[p][j] : 0.0f;
    for (int k = 0; k < K; k += 2, w += ld) {
        const float x0 = x[k];
        for (int i = 0; i < ld; i++) acc[i] = fmaf(x0, f32_from_bf16((uint16_t)(w[i] & 0xFFFFu)), acc[i]);
        if (k + 1 == K) break; // odd K: the high halves are padding
        const float x1 = x[k + 1];
        for (int i = 0; i < ld; i++) acc[i] = fmaf(x1, f32_from_bf16((uint16_t)(w[i] >> 16)), acc[i]);
    }
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nc[p]; j++) out[p][j] = acc[p * nw + j];
}

static const step_kern portable = {
    .name = "portable",
    .mv_f32 = portable_mv_f32,
    .mv_bf16 = portable_mv_bf16,
};

const step_kern *step_kern_portable(void)
{
    return &portable;
}

const step_kern *step_kern_get(void)
{
    const kern *k = kern_get();
    const step_kern *a = step_kern_avx512();
    return a && k && strcmp(k->name, "avx512") == 0 ? a : &portable;
}
