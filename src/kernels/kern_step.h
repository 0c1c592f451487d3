/*
 * kern_step.h - the inner loop of a batch-1 sampling step (step.c), in two
 * builds chosen at run time like kern.h's: AVX-512 (kern_step_avx512.c) and
 * portable C (kern_step_portable.c), following kern_get()'s choice (so
 * RECUR_KERNELS=portable forces both).
 *
 * At batch 1 a step is matrix-vector products whose weights do not fit in
 * the core's L2 from H = 512 up: the time goes into reading the weights, not
 * into arithmetic. So the weights are packed once, in exactly the order the
 * kernel reads them, as "chunks": up to 4 panels of 64 output columns,
 * interleaved by k,
 *
 *     fp32:  w[k][p][j]          = W(k, col(p, j))            k < K
 *     bf16:  w[k/2][p][j] (u32)  = bf16(W(k, ·)) | bf16(W(k+1, ·)) << 16
 *
 * so one chunk is one contiguous stream of K * np * 64 weights (the pair
 * layout of bf16 is the one AVX512-BF16's dot product uses: a 32-bit lane
 * holds two consecutive k). Column j >= nc of a panel is packed as zero.
 *
 * Arithmetic (both builds, both precisions): for p < np and j < nc[p] <= nw,
 *     acc = init ? init[p][j] : 0
 *     for k = 0 .. K-1:  acc = fma(x[k], w(k, p, j), acc)      (rounded once)
 *     out[p][j] = acc
 * one chain of fused multiply-adds over k in increasing order - the same
 * chain as kern.h's mv and mk, so a product here gives the same bits as the
 * one model_forward computes (and 1 or 2 threads, AVX-512 or portable, give
 * the same bits). bf16 weights are widened exactly to fp32 (a bf16 is the top
 * half of a float) before the multiply: only the weights are rounded, never
 * x or the sums.
 *
 * int8 (`recur sample --int8`): each output column (a row of PyTorch's
 * [out, in] matrix) is stored as round(W / s) in [-127, 127] with its own
 * fp32 scale s = max|W(., col)| / 127, four consecutive k in one 32-bit lane
 * (k % 4 = byte), the layout of VNNI's VPDPBUSD. x is quantized per product
 * to unsigned bytes around 128: xq = 128 + round(x / xs), xs = max|x| / 127.
 * The part of a chunk is its ceil(K/4) rows of words, then one row of the
 * columns' scales (fp32) and one of their sums of quantized weights (int32):
 *     acc = sum_k xq[k] * wq(k, p, j)                 (int32, exact)
 *     out[p][j] = fma((float)(acc - 128 * colsum), xs * s[p][j], init or 0)
 * The sum is exact integer arithmetic, so both builds give the same bits
 * here too (tests/test_step.c); the result differs from fp32 by the
 * quantization of W and x (docs/api.md gives the measured distance).
 */
#ifndef RECUR_KERN_STEP_H
#define RECUR_KERN_STEP_H

#include <stdint.h>
#include <string.h>

#define STEP_NR 64 /* columns per panel, at most (nv = 4) */
#define STEP_QUANT_MIN 1e-30f /* int8: a smaller max|x| or max|W(., col)| quantizes to zero */
#define STEP_NP 4  /* panels per chunk, at most */

typedef struct step_kern {
    const char *name; /* "avx512" or "portable" */
    void (*mv_f32)(int np, int nv, const int *nc, int K, const float *x, const float *w,
                   const float *const *init, float *const *out);
    void (*mv_bf16)(int np, int nv, const int *nc, int K, const float *x, const uint32_t *w,
                    const float *const *init, float *const *out);
    /* xq: ceil(K/4)*4 bytes (past K: any value, their weights are 0). */
    void (*mv_i8)(int np, int nv, const int *nc, int K, const uint8_t *xq, float xs, const uint32_t *w,
                  const float *const *init, float *const *out);
    const char *i8_name; /* "avx512-vnni" or "portable" */
    /* x[0..K) quantized for mv_i8: xq[k] = 128 + rint(x[k] * (1 / xs)) with
     * xs = max|x| / 127 (returned), bytes K up to a multiple of 4 set to 128.
     * Every byte is 128 and xs is 0 when max|x| < STEP_QUANT_MIN (1 / xs
     * would overflow), and NaN when x holds a NaN or an Inf (so the product
     * is NaN, as fp32's would be). Both builds give the same bytes (one
     * rounding of each product, ties to even). */
    float (*quantize)(const float *x, int K, uint8_t *xq);
} step_kern;

/* The portable int8 product and quantizer, which the AVX-512 build also
 * uses where the CPU lacks VNNI. */
float step_quantize_portable(const float *x, int K, uint8_t *xq);
void step_mv_i8_portable(int np, int nv, const int *nc, int K, const uint8_t *xq, float xs, const uint32_t *w,
                         const float *const *init, float *const *out);

/* The build kern_get() chose (AVX-512 when the CPU has it, unless
 * RECUR_KERNELS=portable). */
const step_kern *step_kern_get(void);
const step_kern *step_kern_portable(void);
/* NULL when this CPU (or compiler) cannot run it. */
const step_kern *step_kern_avx512(void);

/* fp32 -> bf16, rounding to nearest even (NaN stays NaN, quiet). */
static inline uint16_t bf16_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* bf16 -> fp32, exact. */
static inline float f32_from_bf16(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#endif
