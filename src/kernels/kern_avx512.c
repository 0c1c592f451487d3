/*
 * kern_avx512.c - the kernels with AVX-512F intrinsics, 16 floats per
 * register (kern.h). Compiled for AVX-512 whatever the build's -march, and
 * used only when the CPU says it has it (kern_get).
 *
 * The micro-kernel holds a tile of up to 6 rows x 64 columns of C in 24
 * registers; per k it loads 4 vectors of the packed panel and broadcasts one
 * element of A per row into 4 fused multiply-adds, so it is bound by the two
 * FMA pipes rather than by loads once the panel sits in L1/L2.
 */
#include "kernels/kern.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RECUR_NO_AVX512)

#include <immintrin.h>
#include <math.h>
#include <stddef.h>

#define KB_FN __attribute__((target("avx512f")))
#define KB_INLINE KB_FN static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- 16-lane vectors */

typedef __m512 vf;
#define VW 16
#define KB(name) avx512_##name

KB_INLINE __mmask16 lanes(int n)
{
    return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1u);
}
KB_INLINE vf v_load(const float *p, int n)
{
    return n >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(lanes(n), p);
}
KB_INLINE void v_store(float *p, vf v, int n)
{
    if (n >= 16)
        _mm512_storeu_ps(p, v);
    else
        _mm512_mask_storeu_ps(p, lanes(n), v);
}
KB_INLINE vf v_set1(float x) { return _mm512_set1_ps(x); }
KB_INLINE vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
KB_INLINE vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
KB_INLINE vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
KB_INLINE vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
KB_INLINE vf v_sqrt(vf a) { return _mm512_sqrt_ps(a); }
KB_INLINE vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
KB_INLINE vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
KB_INLINE vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
KB_INLINE vf v_abs(vf a)
{
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF)));
}
KB_INLINE vf v_copysign(vf mag, vf sign)
{
    __m512i m = _mm512_set1_epi32(0x7FFFFFFF);
    __m512i r = _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(mag), m),
                                _mm512_andnot_si512(m, _mm512_castps_si512(sign)));
    return _mm512_castsi512_ps(r);
}
KB_INLINE vf v_lt_select(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
KB_INLINE vf v_pos_select(vf h, vf x)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(h, _mm512_setzero_ps(), _CMP_GT_OQ), x);
}
KB_INLINE vf v_ldexp(vf p, vf n) { return _mm512_scalef_ps(p, n); }

#include "kernels/kern_body.h"

/* ---------------------------------------------------------------- micro-kernel */

KB_INLINE void tile(const int mr, const int nv, int nc, int K, const float *A, long ars, long aks,
                    const float *Bp, long ldb, float *C, long ldc, int init, const float *bias)
{
    __m512 acc[MK_MR][4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) m[v] = lanes(nc - 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = init == 1   ? _mm512_maskz_loadu_ps(m[v], C + r * ldc + 16 * v)
                        : init == 2 ? _mm512_maskz_loadu_ps(m[v], bias + 16 * v)
                                    : _mm512_setzero_ps();
    const float *a = A;
    for (int k = 0; k < K; k++, a += aks) {
        const float *b = Bp + k * ldb;
        __m512 bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_ps(m[v], b + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512 x = _mm512_set1_ps(a[r * ars]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(x, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m[v], acc[r][v]);
}

#define TILE_CASE(MR, NV)                                                 \
    case (MR) * 8 + (NV):                                                 \
        tile(MR, NV, nc, K, A, ars, aks, Bp, ldb, C, ldc, init, bias);         \
        return;
#define TILE_ROW(MR) TILE_CASE(MR, 1) TILE_CASE(MR, 2) TILE_CASE(MR, 3) TILE_CASE(MR, 4)

KB_FN static void avx512_mk(int mr, int nc, int K, const float *A, long ars, long aks,
                            const float *Bp, long ldb, float *C, long ldc, int init,
                            const float *bias)
{
    int nv = (nc + 15) / 16;
    switch (mr * 8 + nv) {
        TILE_ROW(1)
        TILE_ROW(2)
        TILE_ROW(3)
        TILE_ROW(4)
        TILE_ROW(5)
        TILE_ROW(6)
    default:
        return;
    }
}

KB_INLINE void mv_tile(const int np, const int *nc, int K, const float *a, long aks,
                       const float *const *B, long ldb, float *const *C, int init,
                       const float *const *bias)
{
    __m512 acc[4][4];
    __mmask16 m[4][4];
    const float *b[4];
#pragma GCC unroll 4
    for (int p = 0; p < np; p++) {
        b[p] = B[p];
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            m[p][v] = lanes(nc[p] - 16 * v);
            acc[p][v] = init == 1   ? _mm512_maskz_loadu_ps(m[p][v], C[p] + 16 * v)
                        : init == 2 ? _mm512_maskz_loadu_ps(m[p][v], bias[p] + 16 * v)
                                    : _mm512_setzero_ps();
        }
    }
    for (int k = 0; k < K; k++, a += aks) {
        __m512 x = _mm512_set1_ps(*a);
#pragma GCC unroll 4
        for (int p = 0; p < np; p++) {
            const float *bk = b[p] + k * ldb;
#pragma GCC unroll 4
            for (int v = 0; v < 4; v++)
                acc[p][v] = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m[p][v], bk + 16 * v), acc[p][v]);
        }
    }
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) _mm512_mask_storeu_ps(C[p] + 16 * v, m[p][v], acc[p][v]);
}

KB_FN static void avx512_mv(int np, const int *nc, int K, const float *a, long aks,
                            const float *const *B, long ldb, float *const *C, int init,
                            const float *const *bias)
{
    switch (np) {
    case 1: mv_tile(1, nc, K, a, aks, B, ldb, C, init, bias); return;
    case 2: mv_tile(2, nc, K, a, aks, B, ldb, C, init, bias); return;
    case 3: mv_tile(3, nc, K, a, aks, B, ldb, C, init, bias); return;
    default: mv_tile(4, nc, K, a, aks, B, ldb, C, init, bias); return;
    }
}

/* ---------------------------------------------------------------- bf16 micro-kernel */

/* mk on bfloat16 pairs (kern.h, mk_bf16): per pair of k, 4 loads of the
 * panel and one broadcast pair per row into 4 VDPBF16PS, each doing the work
 * of two FMAs. Compiled for AVX512-BF16 and used only where the CPU has it. */
#define KBF_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define KBF_INLINE KBF_FN static inline __attribute__((always_inline))

KBF_INLINE void tile_bf16(const int mr, const int nv, int nc, int Kp, const uint32_t *A, long ars,
                          long aqs, const uint32_t *Bp, long ldb, float *C, long ldc, int init,
                          const float *bias)
{
    __m512 acc[MK_MR][4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) m[v] = lanes(nc - 16 * v);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = init == 1   ? _mm512_maskz_loadu_ps(m[v], C + r * ldc + 16 * v)
                        : init == 2 ? _mm512_maskz_loadu_ps(m[v], bias + 16 * v)
                                    : _mm512_setzero_ps();
    for (int q = 0; q < Kp; q++) {
        const uint32_t *b = Bp + q * ldb;
        __m512i bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) bv[v] = _mm512_maskz_loadu_epi32(m[v], b + 16 * v);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512i x = _mm512_set1_epi32((int)A[r * ars + q * aqs]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_dpbf16_ps(acc[r][v], (__m512bh)x, (__m512bh)bv[v]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(C + r * ldc + 16 * v, m[v], acc[r][v]);
}

#define TILE16_CASE(MR, NV)                                                \
    case (MR) * 8 + (NV):                                                  \
        tile_bf16(MR, NV, nc, Kp, A, ars, aqs, Bp, ldb, C, ldc, init, bias); \
        return;
#define TILE16_ROW(MR) TILE16_CASE(MR, 1) TILE16_CASE(MR, 2) TILE16_CASE(MR, 3) TILE16_CASE(MR, 4)

KBF_FN static void avx512_mk_bf16(int mr, int nc, int Kp, const uint32_t *A, long ars, long aqs,
                                  const uint32_t *Bp, long ldb, float *C, long ldc, int init,
                                  const float *bias)
{
    int nv = (nc + 15) / 16;
    switch (mr * 8 + nv) {
        TILE16_ROW(1)
        TILE16_ROW(2)
        TILE16_ROW(3)
        TILE16_ROW(4)
        TILE16_ROW(5)
        TILE16_ROW(6)
    default: // mr is 1..MK_MR and nc 1..MK_NR (gemm.c, rec.c): not reached
        return;
    }
}

// 16 floats -> 16 bf16 (vcvtneps2bf16: round to nearest even, subnormals to zero).
KBF_INLINE __m256i cvt16(const float *src, __mmask16 m)
{
    return (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src));
}

KBF_FN static void avx512_to_bf16(uint16_t *dst, const float *src, long n)
{
    long i = 0;
    for (; i + 16 <= n; i += 16) _mm256_storeu_si256((__m256i *)(void *)(dst + i), cvt16(src + i, 0xFFFF));
    if (i < n) {
        __mmask16 m = lanes((int)(n - i));
        _mm256_mask_storeu_epi16(dst + i, m, cvt16(src + i, m));
    }
}

KBF_FN static void avx512_pair_rows(uint32_t *dst, const float *r0, const float *r1, long n)
{
    for (long i = 0; i < n; i += 16) {
        __mmask16 m = lanes(n - i >= 16 ? 16 : (int)(n - i));
        __m512i lo = _mm512_cvtepu16_epi32(cvt16(r0 + i, m));
        __m512i hi = r1 ? _mm512_slli_epi32(_mm512_cvtepu16_epi32(cvt16(r1 + i, m)), 16) : _mm512_setzero_si512();
        _mm512_mask_storeu_epi32(dst + i, m, _mm512_or_si512(lo, hi));
    }
}

/* ---------------------------------------------------------------- sum of squares */

/* kern.h: 16 double lanes, lane l summing elements i = l (mod 16) in order.
 * A float's square is exact in double, so fma(x, x, acc) rounds as acc + x*x. */
KB_FN static double avx512_sumsq(const float *x, long n)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512d lo = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        __m512d hi = _mm512_cvtps_pd(_mm256_loadu_ps(x + i + 8));
        a0 = _mm512_fmadd_pd(lo, lo, a0);
        a1 = _mm512_fmadd_pd(hi, hi, a1);
    }
    double lane[16];
    _mm512_storeu_pd(lane, a0);
    _mm512_storeu_pd(lane + 8, a1);
    for (int l = 0; i < n; i++, l++) lane[l] += (double)x[i] * x[i];
    double s = 0.0;
    for (int l = 0; l < 16; l++) s += lane[l];
    return s;
}

#define AVX512_KERNELS                                                  \
    .name = "avx512",                                                   \
    .mk = avx512_mk,                                                    \
    .mv = avx512_mv,                                                    \
    .cell_fwd = {avx512_rnn_fwd, avx512_lstm_fwd, avx512_gru_fwd},      \
    .cell_bwd = {avx512_rnn_bwd, avx512_lstm_bwd, avx512_gru_bwd},      \
    .xent = avx512_xent,                                                \
    .add = avx512_add,                                                  \
    .sum = avx512_sum,                                                  \
    .adam = avx512_adam,                                                \
    .sumsq = avx512_sumsq,                                              \
    .act_exp = avx512_act_exp,                                          \
    .act_sigmoid = avx512_act_sigmoid,                                  \
    .act_tanh = avx512_act_tanh

static const kern avx512 = {AVX512_KERNELS};
// The same with AVX512-BF16's micro-kernel (Zen 4 and 5, Cooper Lake, Sapphire Rapids).
static const kern avx512_bf16 = {AVX512_KERNELS, .mk_bf16 = avx512_mk_bf16, .to_bf16 = avx512_to_bf16,
                                  .pair_rows = avx512_pair_rows};

const kern *kern_avx512(void)
{
    // cpuid, read once by the runtime; it also checks that the OS saves the registers.
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return (const kern *)0;
    return __builtin_cpu_supports("avx512bf16") ? &avx512_bf16 : &avx512;
}

#else

const kern *kern_avx512(void)
{
    return 0;
}

#endif
