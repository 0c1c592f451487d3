/*
 * kern_step_portable.c - kern_step.h's kernels in plain C. fmaf rounds once,
 * like the AVX-512 build's fused multiply-adds, and the k loop runs in the
 * same order, so both builds give the same bits. The loops run k outermost
 * over a row of accumulators so that the compiler can vectorise across
 * columns (with FMA where the CPU has it: target_clones, as kern_portable.c).
 */
#include "kernels/kern_step.h"

#include "kernels/kern.h"

#include <float.h>
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

// Integer sums in the order of kern_step.h (any order gives the same int32),
// then one fused multiply-add per column, as the VNNI build.
void step_mv_i8_portable(int np, int nv, const int *nc, int K, const uint8_t *xq, float xs, const uint32_t *w,
                         const float *const *init, float *const *out)
{
    int32_t acc[STEP_NP * STEP_NR] = {0};
    const int nw = 16 * nv, ld = np * nw, rows = (K + 3) / 4;
    for (int r = 0; r < rows; r++, w += ld) {
        const int32_t x0 = xq[4 * r], x1 = xq[4 * r + 1], x2 = xq[4 * r + 2], x3 = xq[4 * r + 3];
        for (int i = 0; i < ld; i++) {
            const uint32_t d = w[i];
            acc[i] += x0 * (int8_t)(d & 0xFF) + x1 * (int8_t)(d >> 8 & 0xFF) + x2 * (int8_t)(d >> 16 & 0xFF) +
                      x3 * (int8_t)(d >> 24);
        }
    }
    const float *scale = (const float *)(const void *)w;
    const int32_t *colsum = (const int32_t *)(const void *)(w + ld);
    for (int p = 0; p < np; p++)
        for (int j = 0; j < nc[p]; j++) {
            const int i = p * nw + j;
            out[p][j] = fmaf((float)(acc[i] - 128 * colsum[i]), xs * scale[i], init ? init[p][j] : 0.0f);
        }
}

float step_quantize_portable(const float *x, int K, uint8_t *xq)
{
    float amax = 0;
    int bad = 0;
    for (int k = 0; k < K; k++) {
        const float a = fabsf(x[k]);
        if (!(a <= FLT_MAX)) bad = 1; // NaN or Inf
        else if (a > amax) amax = a;
    }
    const int Kp = (K + 3) / 4 * 4;
    if (bad || !(amax >= STEP_QUANT_MIN)) {
        memset(xq, 128, (size_t)Kp);
        return bad ? NAN : 0.0f;
    }
    const float xs = amax / 127, inv = 1 / xs;
    for (int k = 0; k < K; k++) {
        float q = rintf(x[k] * inv);
        q = q > 127 ? 127 : q < -127 ? -127 : q;
        xq[k] = (uint8_t)(128 + (int)q);
    }
    for (int k = K; k < Kp; k++) xq[k] = 128;
    return xs;
}

static const step_kern portable = {
    .name = "portable",
    .mv_f32 = portable_mv_f32,
    .mv_bf16 = portable_mv_bf16,
    .mv_i8 = step_mv_i8_portable,
    .i8_name = "portable",
    .quantize = step_quantize_portable,
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
