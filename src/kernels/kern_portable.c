/*
 * kern_portable.c - the kernels in plain C, one lane at a time (kern.h).
 * fmaf keeps the micro-kernel's arithmetic identical to the AVX-512 build;
 * on x86-64 the hot loops are also compiled for FMA-capable CPUs and chosen
 * at run time (target_clones), which is this path's "AVX2" speed.
 */
#include "kernels/kern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(RECUR_NO_CLONES)
#define PORTABLE_CLONES __attribute__((target_clones("fma", "default")))
#else
#define PORTABLE_CLONES
#endif

/* ---------------------------------------------------------------- one-lane vectors */

typedef float vf;
#define VW 1
#define KB(name) portable_##name
#define KB_FN

static inline vf v_load(const float *p, int n)
{
    (void)n;
    return *p;
}
static inline void v_store(float *p, vf v, int n)
{
    (void)n;
    *p = v;
}
static inline vf v_set1(float x) { return x; }
static inline vf v_add(vf a, vf b) { return a + b; }
static inline vf v_sub(vf a, vf b) { return a - b; }
static inline vf v_mul(vf a, vf b) { return a * b; }
static inline vf v_div(vf a, vf b) { return a / b; }
static inline vf v_sqrt(vf a) { return sqrtf(a); }
static inline vf v_fma(vf a, vf b, vf c) { return fmaf(a, b, c); }
// As AVX-512's vminps/vmaxps: the second operand unless the first is strictly smaller/larger.
static inline vf v_min(vf a, vf b) { return a < b ? a : b; }
static inline vf v_max(vf a, vf b) { return a > b ? a : b; }
static inline vf v_abs(vf a) { return fabsf(a); }
static inline vf v_copysign(vf mag, vf sign) { return copysignf(mag, sign); }
static inline vf v_lt_select(vf a, vf b, vf x, vf y) { return a < b ? x : y; }
static inline vf v_pos_select(vf h, vf x) { return h > 0.0f ? x : 0.0f; }
static inline vf v_ldexp(vf p, vf n) { return n == n ? ldexpf(p, (int)n) : n; }

#include "kernels/kern_body.h"

/* ---------------------------------------------------------------- micro-kernel */

PORTABLE_CLONES
static void portable_mk(int mr, int nc, int K, const float *A, long ars, long aks, const float *Bp,
                        long ldb, float *C, long ldc, int init, const float *bias)
{
    float acc[MK_MR][MK_NR];
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++)
            acc[r][j] = init == 1 ? C[r * ldc + j] : init == 2 ? bias[j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *b = Bp + k * ldb;
        for (int r = 0; r < mr; r++) {
            float a = A[r * ars + k * aks];
            for (int j = 0; j < nc; j++) acc[r][j] = fmaf(a, b[j], acc[r][j]);
        }
    }
    for (int r = 0; r < mr; r++) memcpy(C + r * ldc, acc[r], sizeof(float) * (size_t)nc);
}

static void portable_mv(int np, const int *nc, int K, const float *a, long aks,
                        const float *const *B, long ldb, float *const *C, int init,
                        const float *const *bias)
{
    for (int p = 0; p < np; p++)
        portable_mk(1, nc[p], K, a, 0, aks, B[p], ldb, C[p], 0, init, bias ? bias[p] : NULL);
}

/* kern.h: 16 lanes of doubles, lane l summing elements i = l (mod 16). */
static double portable_sumsq(const float *x, long n)
{
    double lane[16] = {0};
    for (long i = 0; i < n; i++) lane[i % 16] += (double)x[i] * x[i];
    double s = 0.0;
    for (int l = 0; l < 16; l++) s += lane[l];
    return s;
}

/* ---------------------------------------------------------------- bf16 (oracle) */

static float bf16_value(uint32_t h)
{
    // A subnormal bf16 reads as zero (VDPBF16PS's DAZ).
    if ((h & 0x7F80u) == 0) h &= 0x8000u;
    union { uint32_t u; float f; } v = {h << 16};
    return v.f;
}

static float flush(float x)
{
    // A subnormal sum becomes zero of its sign (VDPBF16PS's FTZ).
    return fabsf(x) < 0x1p-126f ? copysignf(0.0f, x) : x;
}

float kern_dot_bf16_ref(float acc, uint32_t a, uint32_t b)
{
    // Each product of two bf16 is exact in fp32; only the sums round.
    acc = flush(acc + bf16_value(a >> 16) * bf16_value(b >> 16));
    return flush(acc + bf16_value(a & 0xFFFFu) * bf16_value(b & 0xFFFFu));
}

void kern_mk_bf16_ref(int mr, int nc, int Kp, const uint32_t *A, long ars, long aqs,
                      const uint32_t *Bp, long ldb, float *C, long ldc, int init, const float *bias)
{
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++) {
            float acc = init == 1 ? C[r * ldc + j] : init == 2 ? bias[j] : 0.0f;
            for (int q = 0; q < Kp; q++) acc = kern_dot_bf16_ref(acc, A[r * ars + q * aqs], Bp[q * ldb + j]);
            C[r * ldc + j] = acc;
        }
}

static const kern portable = {
    .name = "portable",
    .mk = portable_mk,
    .mv = portable_mv,
    .cell_fwd = {portable_rnn_fwd, portable_lstm_fwd, portable_gru_fwd},
    .cell_bwd = {portable_rnn_bwd, portable_lstm_bwd, portable_gru_bwd},
    .xent = portable_xent,
    .add = portable_add,
    .sum = portable_sum,
    .adam = portable_adam,
    .sumsq = portable_sumsq,
    .act_exp = portable_act_exp,
    .act_sigmoid = portable_act_sigmoid,
    .act_tanh = portable_act_tanh,
};

const kern *kern_portable(void)
{
    return &portable;
}

const kern *kern_get(void)
{
    const char *force = getenv("RECUR_KERNELS");
    if (force && strcmp(force, "portable") == 0) return &portable;
    const kern *k = kern_avx512();
    return k ? k : &portable;
}
