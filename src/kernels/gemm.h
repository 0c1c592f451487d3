/*
 * gemm.h - the matrix products the model needs, row-major float32:
 *   gemm_nn: C[M,N] (+)= A[M,K] . B[K,N]
 *   gemm_tn: C[M,N] (+)= A[K,M]^T . B[K,N]   (weight gradients: sum over time)
 *   gemm_nt: C[M,N] (+)= A[M,K] . B[N,K]^T   (x . W^T without transposing W)
 * plus transpose. Each has a naive _ref twin, kept as the tests' oracle. No
 * allocation per call when a pool is current (below), no I/O.
 *
 * Every element of C is one fused multiply-add chain over k in increasing
 * order, started from C (accumulate) or 0, computed by one thread: the
 * result does not depend on the thread count, the blocking or the
 * instruction set (kern.h). It differs from the _ref twins (separate
 * multiply and add) by float rounding only.
 *
 * threads > 1 runs on the pool made current on this thread by gemm_set_pool
 * (model_forward/model_backward make their workspace's pool current), or
 * else on one thread (with the same result).
 */
#ifndef RECUR_GEMM_H
#define RECUR_GEMM_H

#include "kernels/pool.h"

void gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads);
void gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads);
void gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads);
/* C[M,N] = bias[N] (each row) + A[M,K] . B (B as in gemm_nn / gemm_nt): the
 * bias is where each element's chain starts, as if C had been filled with
 * it and accumulated into. */
void gemm_nn_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int threads);
void gemm_nt_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int threads);
void gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate);
void gemm_tn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate);
void gemm_nt_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate);
/* dst[cols, rows] = src[rows, cols]^T */
void transpose(float *dst, const float *src, int rows, int cols);

/* The general product behind the three: a(i,k) = A[i*ars + k*aks],
 * b(k,j) = B[k*bks + j*bjs]. */
typedef struct gemm_args {
    int M, N, K;
    const float *A;
    long ars, aks;
    const float *B;
    long bks, bjs;
    float *C;
    long ldc;
    int accumulate;     /* start from C ... */
    const float *bias;  /* ... else from bias[j] if not NULL, else from 0 */
    int bf16;           /* 1: a and b rounded to bfloat16 as they are packed, the
                           product on kern.h's mk_bf16 (fp32 sums); where the
                           CPU has no mk_bf16, the fp32 product */
} gemm_args;

/* Floats of per-thread scratch a product packs into (pool_new gives each
 * thread this much): 8 panels of B and, when A is given transposed, 96 of its
 * rows, for k blocks of up to 384 (gemm.c: KC * 3/2; a row-major A takes 5
 * panels for k blocks of up to 576 instead). A bf16 product uses
 * 32-bit words of it: B's 8 panels as pairs (98,304) and A as pairs, up to
 * 256 rows at once when A is given transposed (49,152). */
#define GEMM_SCRATCH (8 * 64 * 384 + 96 * 384)

/* Thread tid's share of the product, for use inside a pool job: the shares
 * of tid = 0..nth-1 together compute it once. scratch: GEMM_SCRATCH floats,
 * 64-byte aligned. */
void gemm_part(const gemm_args *g, int tid, int nth, float *scratch);
/* The whole product on p, with its threads' scratch. NULL: on this thread
 * from small stack panels (same result, slower on large products; nothing
 * is allocated, so it cannot fail). The library's passes make their
 * workspace's pool current (rec_enter), so only tests run products without. */
void gemm_run(pool *p, const gemm_args *g);

/* Makes p the pool that gemm_nn/tn/nt use on this thread (NULL: none);
 * returns the previous one. */
pool *gemm_set_pool(pool *p);
/* Whether gemm_nn/tn/nt (and _bias) on this thread take bfloat16 inputs
 * (gemm_args.bf16; bf16 mixed-precision training: rec_enter sets it from
 * the workspace). Returns the previous setting. */
int gemm_set_bf16(int on);
/* 1 when this CPU runs bf16 products (kern.h's mk_bf16), else 0: a bf16
 * product is then the fp32 one. */
int gemm_has_bf16(void);

/* The definition of a bf16 product, one element at a time: a(i,k) and
 * b(k,j) rounded to bfloat16 (to nearest even), every element's chain
 * started as gemm_run's, then for each pair of k (2q, 2q+1; a zero past K)
 * kern_dot_bf16_ref. gemm_run with bf16 computes each element as this same
 * chain of vdpbf16ps, whatever the blocking and the threads, so it gives
 * these bits where the CPU rounds as the definition does (kern.h, mk_bf16:
 * Zen 5, normal-range values; tests/test_kernels.c). */
void gemm_ref_bf16(const gemm_args *g);

#endif
