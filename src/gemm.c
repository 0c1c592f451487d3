/*
 * gemm.c - blocked matrix products with a register tile of 4 rows x 64
 * columns, compiled for AVX-512, AVX2 and plain x86-64 and chosen at run time
 * (target_clones: cpuid, once). The _ref versions are the definition.
 *
 * Why the results are identical on every path: each C[i][j] accumulates
 * a[i][k]*b[k][j] over k in increasing order in its own float, with no FMA
 * contraction (-std=c11 turns it off), so vector width cannot change the sum.
 */
#include "gemm.h"

#include <string.h>

#define MR 4
#define NR 64

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(RECUR_NO_CLONES)
#define RECUR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RECUR_CLONES
#endif

// One tile: C[mr x nc] (+)= sum_k a(r,k) * B[k, 0..nc), where a(r,k) is
// A[r*ars + k*aks] so the same code serves A and A^T.
RECUR_CLONES
static void tile(int mr, int nc, int K, const float *A, long ars, long aks, const float *B,
                 long ldb, float *C, long ldc, int accumulate)
{
    float c[MR][NR];
    if (mr == MR && nc == NR) {
        // The common case, with constant bounds so the compiler keeps c in registers.
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) c[r][j] = accumulate ? C[r * ldc + j] : 0.0f;
        for (int k = 0; k < K; k++) {
            const float *b = B + k * ldb;
            for (int r = 0; r < MR; r++) {
                float a = A[r * ars + k * aks];
                for (int j = 0; j < NR; j++) c[r][j] += a * b[j];
            }
        }
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++) C[r * ldc + j] = c[r][j];
        return;
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++) c[r][j] = accumulate ? C[r * ldc + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        for (int r = 0; r < mr; r++) {
            float a = A[r * ars + k * aks];
            for (int j = 0; j < nc; j++) c[r][j] += a * b[j];
        }
    }
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nc; j++) C[r * ldc + j] = c[r][j];
}

static void gemm_tiles(int M, int N, int K, const float *A, long ars, long aks, const float *B,
                       int ldb, float *C, int ldc, int accumulate, int threads)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (!accumulate)
            for (int i = 0; i < M; i++) memset(C + (long)i * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    int mt = (M + MR - 1) / MR, nt = (N + NR - 1) / NR;
    long ntiles = (long)mt * nt;
    double flops = 2.0 * M * N * K;
    (void)threads;
    (void)flops;
#ifdef RECUR_OPENMP
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && flops > 2e5)
#endif
    for (long t = 0; t < ntiles; t++) {
        int i = (int)(t / nt) * MR, j = (int)(t % nt) * NR;
        int mr = M - i < MR ? M - i : MR, nc = N - j < NR ? N - j : NR;
        tile(mr, nc, K, A + i * ars, ars, aks, B + j, ldb, C + (long)i * ldc + j, ldc, accumulate);
    }
}

void gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads)
{
    gemm_tiles(M, N, K, A, lda, 1, B, ldb, C, ldc, accumulate, threads);
}

void gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads)
{
    gemm_tiles(M, N, K, A, 1, lda, B, ldb, C, ldc, accumulate, threads);
}

/* ---------------------------------------------------------------- references */

void gemm_nn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? C[(long)i * ldc + j] : 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}

void gemm_tn_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? C[(long)i * ldc + j] : 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)k * lda + i] * B[(long)k * ldb + j];
            C[(long)i * ldc + j] = s;
        }
}

void transpose(float *dst, const float *src, int rows, int cols)
{
    // 16x16 blocks keep both sides in cache for large matrices.
    for (int i0 = 0; i0 < rows; i0 += 16)
        for (int j0 = 0; j0 < cols; j0 += 16)
            for (int i = i0; i < rows && i < i0 + 16; i++)
                for (int j = j0; j < cols && j < j0 + 16; j++)
                    dst[(long)j * rows + i] = src[(long)i * cols + j];
}
