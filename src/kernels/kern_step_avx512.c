/*
 * kern_step_avx512.c - kern_step.h's kernels with AVX-512F intrinsics.
 *
 * Per k: one broadcast of x[k] and np*4 fused multiply-adds against the next
 * np*64 weights, which are contiguous (the chunk layout), so the whole chunk
 * is one sequential read. Up to 16 independent accumulators (np = 4) hide the
 * FMA latency; the loop is bound by how fast the weights arrive, which is the
 * point: a batch-1 step reads every weight once.
 *
 * bf16: a 32-bit lane holds the weights of k (low half) and k+1 (high half);
 * shifting left by 16 and masking off the low half turn them into the two
 * floats exactly, and the two multiply-adds go into the same accumulator in
 * k order (the chain of kern_step.h, not a pairwise dot product).
 *
 * int8 (AVX512-VNNI): per row of four k, one broadcast of the four quantized
 * x bytes and np*4 VPDPBUSD, each multiplying 64 unsigned x bytes by 64
 * signed weights and adding the four products of each lane into its int32
 * accumulator - a quarter of fp32's bytes and instructions per weight.
 */
#include "kernels/kern_step.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(RECUR_NO_AVX512)

#include <immintrin.h>
#include <float.h>
#include <math.h>

#define KS_FN __attribute__((target("avx512f")))
#define KS_INLINE KS_FN static inline __attribute__((always_inline))

/* Each cache line of weights is also prefetched this far ahead of its load
 * (a k row of a 4-panel chunk). Measured on the benchmark's models: worth a
 * few per cent for L3-sized ones, within the noise for larger ones; the
 * hardware prefetcher does most of the work either way. */
#define PF_BYTES 1024

KS_INLINE __mmask16 lanes(int n)
{
    return (__mmask16)(n >= 16 ? 0xFFFF : n <= 0 ? 0 : (1u << n) - 1u);
}

// The accumulators of a chunk's np panels of nv vectors: from init (or
// zero) at the start, into out at the end; lanes past nc[p] stay untouched.
KS_INLINE void acc_start(const int np, const int nv, const int *nc, const float *const *init,
                         __mmask16 m[STEP_NP][4], __m512 acc[STEP_NP][4])
{
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            m[p][v] = lanes(nc[p] - 16 * v);
            acc[p][v] = init ? _mm512_maskz_loadu_ps(m[p][v], init[p] + 16 * v) : _mm512_setzero_ps();
        }
}

KS_INLINE void acc_store(const int np, const int nv, float *const *out, __mmask16 m[STEP_NP][4],
                         __m512 acc[STEP_NP][4])
{
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(out[p] + 16 * v, m[p][v], acc[p][v]);
}

KS_INLINE void mv32(const int np, const int nv, const int *nc, int K, const float *x, const float *w,
                    const float *const *init, float *const *out)
{
    __m512 acc[STEP_NP][4];
    __mmask16 m[STEP_NP][4];
    const int nw = 16 * nv, ld = np * nw;
    acc_start(np, nv, nc, init, m, acc);
    for (int k = 0; k < K; k++, w += ld) {
        const __m512 xv = _mm512_set1_ps(x[k]);
#pragma GCC unroll 4
        for (int p = 0; p < np; p++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                _mm_prefetch((const char *)(w + p * nw + 16 * v) + PF_BYTES, _MM_HINT_T0);
                acc[p][v] = _mm512_fmadd_ps(xv, _mm512_load_ps(w + p * nw + 16 * v), acc[p][v]);
            }
        }
    }
    acc_store(np, nv, out, m, acc);
}

KS_INLINE void mv16(const int np, const int nv, const int *nc, int K, const float *x, const uint32_t *w,
                    const float *const *init, float *const *out)
{
    __m512 acc[STEP_NP][4];
    __mmask16 m[STEP_NP][4];
    const int nw = 16 * nv, ld = np * nw;
    const __m512i hi_mask = _mm512_set1_epi32((int)0xFFFF0000u);
    acc_start(np, nv, nc, init, m, acc);
    int k = 0;
    for (; k + 1 < K; k += 2, w += ld) {
        const __m512 x0 = _mm512_set1_ps(x[k]), x1 = _mm512_set1_ps(x[k + 1]);
#pragma GCC unroll 4
        for (int p = 0; p < np; p++) {
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                _mm_prefetch((const char *)(w + p * nw + 16 * v) + PF_BYTES, _MM_HINT_T0);
                __m512i d = _mm512_load_si512((const void *)(w + p * nw + 16 * v));
                __m512 lo = _mm512_castsi512_ps(_mm512_slli_epi32(d, 16));
                __m512 hi = _mm512_castsi512_ps(_mm512_and_si512(d, hi_mask));
                acc[p][v] = _mm512_fmadd_ps(x0, lo, acc[p][v]);
                acc[p][v] = _mm512_fmadd_ps(x1, hi, acc[p][v]);
            }
        }
    }
    if (k < K) {
        // Odd K: the last row's high halves are zero padding, not read.
        const __m512 x0 = _mm512_set1_ps(x[k]);
#pragma GCC unroll 4
        for (int p = 0; p < np; p++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                __m512i d = _mm512_load_si512((const void *)(w + p * nw + 16 * v));
                acc[p][v] = _mm512_fmadd_ps(x0, _mm512_castsi512_ps(_mm512_slli_epi32(d, 16)), acc[p][v]);
            }
    }
    acc_store(np, nv, out, m, acc);
}

#define KS_VNNI __attribute__((target("avx512f,avx512vnni")))

KS_VNNI static inline __attribute__((always_inline)) void mv8(const int np, const int nv, const int *nc, int K,
                                                             const uint8_t *xq, float xs, const uint32_t *w,
                                                             const float *const *init, float *const *out)
{
    __m512i acc[STEP_NP][4];
    const int nw = 16 * nv, ld = np * nw, rows = (K + 3) / 4;
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[p][v] = _mm512_setzero_si512();
    for (int r = 0; r < rows; r++, w += ld) {
        uint32_t x4;
        memcpy(&x4, xq + 4 * r, 4);
        const __m512i xv = _mm512_set1_epi32((int)x4);
#pragma GCC unroll 4
        for (int p = 0; p < np; p++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
                _mm_prefetch((const char *)(w + p * nw + 16 * v) + PF_BYTES, _MM_HINT_T0);
                acc[p][v] = _mm512_dpbusd_epi32(acc[p][v], xv, _mm512_load_si512((const void *)(w + p * nw + 16 * v)));
            }
    }
    const float *scale = (const float *)(const void *)w;
    const int32_t *colsum = (const int32_t *)(const void *)(w + ld);
    const __m512 xsv = _mm512_set1_ps(xs);
#pragma GCC unroll 4
    for (int p = 0; p < np; p++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) {
            const __mmask16 m = lanes(nc[p] - 16 * v);
            const int i = p * nw + 16 * v;
            __m512i a = _mm512_sub_epi32(acc[p][v], _mm512_slli_epi32(_mm512_load_si512((const void *)(colsum + i)), 7));
            __m512 s = _mm512_mul_ps(xsv, _mm512_load_ps(scale + i));
            __m512 b = init ? _mm512_maskz_loadu_ps(m, init[p] + 16 * v) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(out[p] + 16 * v, m, _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), s, b));
        }
}

// One instance per shape: full chunks (nv = 4, np = 1..4) and a narrow
// panel alone (np = 1, nv = 1..3); anything else falls to the general case.
#define DISPATCH(fn, ...)                                          \
    switch (np * 8 + nv) {                                         \
    case 1 * 8 + 4: fn(1, 4, __VA_ARGS__); return;                 \
    case 2 * 8 + 4: fn(2, 4, __VA_ARGS__); return;                 \
    case 3 * 8 + 4: fn(3, 4, __VA_ARGS__); return;                 \
    case 4 * 8 + 4: fn(4, 4, __VA_ARGS__); return;                 \
    case 1 * 8 + 1: fn(1, 1, __VA_ARGS__); return;                 \
    case 1 * 8 + 2: fn(1, 2, __VA_ARGS__); return;                 \
    case 1 * 8 + 3: fn(1, 3, __VA_ARGS__); return;                 \
    default: fn(np, nv, __VA_ARGS__); return;                      \
    }

KS_FN static void avx512_mv_f32(int np, int nv, const int *nc, int K, const float *x, const float *w,
                                const float *const *init, float *const *out)
{
    DISPATCH(mv32, nc, K, x, w, init, out)
}

KS_FN static void avx512_mv_bf16(int np, int nv, const int *nc, int K, const float *x,
                                 const uint32_t *w, const float *const *init, float *const *out)
{
    DISPATCH(mv16, nc, K, x, w, init, out)
}

KS_VNNI static void avx512_mv_i8(int np, int nv, const int *nc, int K, const uint8_t *xq, float xs,
                                 const uint32_t *w, const float *const *init, float *const *out)
{
    DISPATCH(mv8, nc, K, xq, xs, w, init, out)
}

// step_kern.quantize with AVX-512F: the same max, the same one-rounding
// products and ties-to-even as the portable build, 16 at a time.
KS_FN static float avx512_quantize(const float *x, int K, uint8_t *xq)
{
    __m512 mx = _mm512_setzero_ps();
    const __m512 big = _mm512_set1_ps(FLT_MAX);
    __mmask16 bad = 0;
    int k = 0;
    for (; k < K; k += 16) {
        const __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(lanes(K - k), x + k));
        bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ); // NaN or Inf
        mx = _mm512_max_ps(mx, a);
    }
    const float amax = _mm512_reduce_max_ps(mx); // finite when nothing was bad
    const int Kp = (K + 3) / 4 * 4;
    if (bad || !(amax >= STEP_QUANT_MIN)) {
        memset(xq, 128, (size_t)Kp);
        return bad ? NAN : 0.0f;
    }
    const float xs = amax / 127, inv = 1 / xs;
    const __m512 iv = _mm512_set1_ps(inv), lo = _mm512_set1_ps(-127), hi = _mm512_set1_ps(127);
    const __m512i zero = _mm512_set1_epi32(128);
    for (k = 0; k < K; k += 16) {
        const __mmask16 m = lanes(K - k);
        __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + k), iv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
        uint8_t b[16];
        _mm_storeu_si128((__m128i *)(void *)b, _mm512_cvtepi32_epi8(_mm512_add_epi32(_mm512_cvtps_epi32(q), zero)));
        memcpy(xq + k, b, K - k < 16 ? (size_t)(K - k) : 16);
    }
    for (k = K; k < Kp; k++) xq[k] = 128;
    return xs;
}

static const step_kern avx512 = {
    .name = "avx512",
    .mv_f32 = avx512_mv_f32,
    .mv_bf16 = avx512_mv_bf16,
    .mv_i8 = avx512_mv_i8,
    .i8_name = "avx512-vnni",
    .quantize = avx512_quantize,
};

// AVX-512 without VNNI (Skylake-X): the fp32 and bf16 kernels, int8 portable.
static const step_kern avx512_no_vnni = {
    .name = "avx512",
    .mv_f32 = avx512_mv_f32,
    .mv_bf16 = avx512_mv_bf16,
    .mv_i8 = step_mv_i8_portable,
    .i8_name = "portable",
    .quantize = avx512_quantize,
};

const step_kern *step_kern_avx512(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f")) return (const step_kern *)0;
    return __builtin_cpu_supports("avx512vnni") ? &avx512 : &avx512_no_vnni;
}

#else

const step_kern *step_kern_avx512(void)
{
    return 0;
}

#endif
