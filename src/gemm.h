/*
 * gemm.h - the matrix products the model needs, row-major float32:
 *   gemm_nn: C[M,N] (+)= A[M,K] . B[K,N]
 *   gemm_tn: C[M,N] (+)= A[K,M]^T . B[K,N]   (weight gradients: sum over time)
 * plus transpose (to turn W[GH,in] into W^T once per window, so that the
 * forward products x.W^T become gemm_nn). Each has a naive _ref twin, kept as
 * the tests' oracle. No allocation, no I/O.
 *
 * Results do not depend on the thread count or the instruction set: every
 * element of C is one thread's sum over k in increasing order.
 */
#ifndef RECUR_GEMM_H
#define RECUR_GEMM_H

void gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads);
void gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads);
void gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate);
void gemm_tn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate);
/* dst[cols, rows] = src[rows, cols]^T */
void transpose(float *dst, const float *src, int rows, int cols);

#endif
