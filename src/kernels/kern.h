/*
 * kern.h - the inner loops, in two builds chosen at run time: AVX-512
 * (kern_avx512.c, intrinsics) and portable C (kern_portable.c). Both are
 * compiled from the same source (kern_body.h) for the pointwise work, and
 * the matrix micro-kernel is in both a chain of fused multiply-adds over k in
 * increasing order, so the two builds give the same bits: results do not
 * depend on the instruction set or on the thread count, only on the inputs.
 * The naive definitions they are tested against are gemm.c's _ref products
 * and the cells' own forward/backward (src/nn/cells/, libm).
 *
 * Activations (act_* below, and inside the cells) are polynomial (Cephes'
 * expf and tanhf): exp within 1 ulp on [-87, 88], sigmoid within 2e-7
 * relative, tanh within 1e-7 absolute and 1.5 ulp (measured: 0.99 ulp,
 * 1.5e-7, 7.8e-8, 1.31 ulp); inputs are clamped to [-87.3, 88.3] before exp
 * and NaN propagates. tests/test_kernels.c checks these bounds against
 * double precision on dense sweeps.
 */
#ifndef RECUR_KERN_H
#define RECUR_KERN_H

#include <stdint.h>

#define MK_MR 6  /* rows of the micro-kernel's register tile */
#define MK_NR 64 /* columns: four 16-float vectors */

/* Rows [m0, m1) in ceil(n / MK_MR) blocks of nearly equal size (50 rows: 5
 * blocks of 6 and 4 of 5, not 8 of 6 and a slow one of 2): block b is rows
 * [*i0, *i1). Which rows share a block never changes a result. */
static inline int mk_blocks(int m0, int m1)
{
    return (m1 - m0 + MK_MR - 1) / MK_MR;
}
static inline void mk_block(int m0, int m1, int nb, int b, int *i0, int *i1)
{
    *i0 = m0 + (int)((long)(m1 - m0) * b / nb);
    *i1 = m0 + (int)((long)(m1 - m0) * (b + 1) / nb);
}

typedef void (*cell_fwd_fn)(int B, int H, int u0, int u1, int relu, const float *px,
                            const float *ph, const float *h_prev, const float *c_prev, float *h,
                            float *c, float *cache);
typedef void (*cell_bwd_fn)(int B, int H, int u0, int u1, int relu, const float *dh, float *dc,
                            const float *h_prev, const float *c_prev, const float *h,
                            const float *c, const float *cache, float *dpx, float *dph,
                            float *dh_prev);

typedef struct kern {
    const char *name; /* "avx512" or "portable" */

    /* The micro-kernel: for r < mr (1..MK_MR) and j < nc (1..MK_NR),
     *   acc = init == 0 ? 0 : init == 1 ? C[r*ldc + j] : bias[j]
     *   for k < K: acc = fma(A[r*ars + k*aks], Bp[k*ldb + j], acc)
     *   C[r*ldc + j] = acc
     * Bp is a packed panel (ldb = MK_NR) or B itself; nothing past column nc
     * is read or written. */
    void (*mk)(int mr, int nc, int K, const float *A, long ars, long aks, const float *Bp,
               long ldb, float *C, long ldc, int init, const float *bias);

    /* One row against np (1..4) panels at once (16 chains of FMAs instead of
     * 4: a matrix-vector product is latency-bound otherwise): for p < np,
     * j < nc[p]: acc = init == 0 ? 0 : init == 1 ? C[p][j] : bias[p][j];
     * for k < K: acc = fma(a[k*aks], B[p][k*ldb + j], acc); C[p][j] = acc.
     * Each element is computed exactly as by mk. */
    void (*mv)(int np, const int *nc, int K, const float *a, long aks, const float *const *B,
               long ldb, float *const *C, int init, const float *const *bias);

    /* The micro-kernel on bfloat16 inputs (AVX512-BF16's VDPBF16PS; NULL
     * when the CPU lacks it, and in the portable build: bf16 training then
     * runs in fp32). A and Bp hold pairs of consecutive k in one 32-bit word
     * (low half k = 2q, high half 2q + 1; bf16_pair below): row r's pair q at
     * A[r*ars + q*aqs], column j's at Bp[q*ldb + j]. For r < mr, j < nc, with acc
     * started as mk's:
     *   for q < Kp: acc = acc + a(2q+1) b(2q+1);  acc = acc + a(2q) b(2q)
     * each product exact (8-bit by 8-bit significands), each sum rounded to
     * nearest even, bf16 subnormal inputs and fp32 subnormal sums as zero:
     * Intel's definition of the instruction, in C as kern_mk_bf16_ref. Zen 5
     * follows it bit for bit whenever products and sums are normal floats or
     * zero (measured; tests/test_kernels.c requires it, so a CPU that rounded
     * otherwise would fail the test). Products below 2^-126 are
     * not what the C rounds them to: a few % of such cases differ in the
     * last bit (the hardware's rule there is not documented). */
    void (*mk_bf16)(int mr, int nc, int Kp, const uint32_t *A, long ars, long aqs,
                    const uint32_t *Bp, long ldb, float *C, long ldc, int init, const float *bias);
    /* Packing for it (set with mk_bf16), bit for bit bf16_bits (they store
     * with vector stores: a portable version must write dst through memcpy,
     * as the buffers are uint32_t pairs seen as uint16_t):
     *   to_bf16:   dst[i] = bf16(src[i]), i < n (so n floats in a row become
     *              n/2 pairs of consecutive k)
     *   pair_rows: dst[j] = bf16_pair(r0[j], r1 ? r1[j] : 0), j < n */
    void (*to_bf16)(uint16_t *dst, const float *src, long n);
    void (*pair_rows)(uint32_t *dst, const float *r0, const float *r1, long n);

    /* A cell's pointwise step restricted to units [u0, u1) of every row, with
     * cell_def's array layouts and meaning (indexed by recur_cell). For the
     * backward, dph may equal dpx (RNN, LSTM: the two are the same). */
    cell_fwd_fn cell_fwd[3];
    cell_bwd_fn cell_bwd[3];

    /* Softmax cross-entropy of rows [n0, n1) of z [*, V] (model.c's
     * softmax_xent): returns the summed loss of rows with tgt >= 0; with
     * want_grad, rows become (softmax - onehot) * scale (zero if tgt < 0). */
    double (*xent)(float *z, const int32_t *tgt, int n0, int n1, int V, int want_grad,
                   float scale);

    /* y[i] += x[i] for i < n;  sum: y[i] = a[i] + b[i]. */
    void (*add)(float *y, const float *x, int n);
    void (*sum)(float *y, const float *a, const float *b, int n);

    /* Adam's update of n weights from gradients g (kern_body.h): bit for bit
     * optim.c's scalar loop. Returns 1 if every updated weight is finite. */
    int (*adam)(float *w, float *m, float *v, const float *g, long n, float b1, float b2,
                 float eps, float step, float c2s);
    /* Sum of x[i]^2 in double: 16 lanes, lane l adding elements i = l (mod 16)
     * in increasing i, then the lanes in order 0..15 (the same in both builds). */
    double (*sumsq)(const float *x, long n);

    /* y[i] = f(x[i]) for i < n: the activations the cells use (for tests). */
    void (*act_exp)(float *y, const float *x, int n);
    void (*act_sigmoid)(float *y, const float *x, int n);
    void (*act_tanh)(float *y, const float *x, int n);
} kern;

/* mk_bf16's definition, one element at a time (the tests' oracle). */
void kern_mk_bf16_ref(int mr, int nc, int Kp, const uint32_t *A, long ars, long aqs,
                      const uint32_t *Bp, long ldb, float *C, long ldc, int init, const float *bias);
/* One step of it: acc + lo(a) lo(b) + hi(a) hi(b) as VDPBF16PS adds them. */
float kern_dot_bf16_ref(float acc, uint32_t a, uint32_t b);

/* fp32 -> a bf16 pair's half: round to nearest even, a subnormal to zero of
 * its sign, NaN stays NaN (quiet): AVX512-BF16's vcvtneps2bf16, bit for bit
 * (measured on every class of input; tests/test_kernels.c). */
static inline uint32_t bf16_bits(float f)
{
    union { float f; uint32_t u; } v = {f};
    uint32_t u = v.u;
    if ((u & 0x7F800000u) == 0) return (u >> 16) & 0x8000u;
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (u >> 16) | 0x40u;
    u += 0x7FFFu + ((u >> 16) & 1u);
    return u >> 16;
}
/* The pair (lo = k even, hi = k + 1) as mk_bf16 reads it. */
static inline uint32_t bf16_pair(float lo, float hi)
{
    return bf16_bits(lo) | bf16_bits(hi) << 16;
}

/* The build for this CPU: AVX-512 when the CPU and OS support it, else
 * portable. RECUR_KERNELS=portable in the environment forces the portable
 * build (for tests and comparisons; never needed for speed). */
const kern *kern_get(void);
const kern *kern_portable(void);
/* NULL when this CPU (or this compiler) cannot run it. */
const kern *kern_avx512(void);

#endif
