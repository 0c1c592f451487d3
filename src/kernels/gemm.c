/*
 * gemm.c - the general matrix product on top of kern.h's micro-kernel
 * (a 6 x 64 register tile of C), and the naive _ref definitions.
 *
 * Blocking (per thread): columns in blocks of a few panels of 64 and k in
 * blocks (5 panels and k up to 384-576 when A is row-major; 8 panels and k
 * up to 256-384 when A is given transposed, whose rows are then copied 96 at
 * a time into contiguous runs), for which B is packed into the thread's
 * scratch as panels [k][64] (unless B's rows are short enough to read in
 * place); then every row of the thread's share runs through the
 * micro-kernel against those panels, in blocks of up to 6 rows of nearly
 * equal size. Between k blocks the partial sums sit in C, which changes
 * nothing: each element is still one FMA chain over k in increasing order,
 * whatever the blocking, the split between threads, or the instruction set
 * (kern.h) - so 1 and 2 threads give the same bits.
 *
 * Threads split the columns (whole panels) when there are enough of them,
 * else the rows.
 */
#include "kernels/gemm.h"

#include "kernels/kern.h"

#include <stdlib.h>
#include <string.h>

#define KC 256       /* k per packed block (a block may take up to KC + KC/2) */
#define NCP 8        /* panels per packed block */
#define ACHUNK 96    /* rows of a transposed A packed at once (gemm.h: GEMM_SCRATCH) */

/* What gemm_part's calls of gemm_block may write in a thread's scratch (B's
 * panels for k blocks of up to kcmax * 3/2, then A's copy), and in the stack
 * panel of a product without scratch (kcmax 42, 1 panel, one row block). */
_Static_assert(NCP * (KC + KC / 2) * MK_NR + ACHUNK * (KC + KC / 2) <= GEMM_SCRATCH, "transposed A");
_Static_assert(NCP * 5 / 8 * (KC + KC / 2 + (KC + KC / 2) / 2) * MK_NR <= GEMM_SCRATCH, "row-major A");
_Static_assert((42 + 21) * MK_NR + MK_MR * (42 + 21) <= 64 * MK_NR + 64 * MK_MR, "stack panel");

/* ---------------------------------------------------------------- packing */

// Bp[p][k][j] = b(k0 + k, j0 + 64p + j) for the block's panels, zero past n1.
static void pack_b(float *Bp, const gemm_args *g, int k0, int kc, int j0, int j1)
{
    for (int p = 0; j0 + p * MK_NR < j1; p++) {
        int c0 = j0 + p * MK_NR, nc = j1 - c0 < MK_NR ? j1 - c0 : MK_NR;
        float *dst = Bp + (size_t)p * kc * MK_NR;
        if (g->bjs == 1) {
            for (int k = 0; k < kc; k++) {
                const float *src = g->B + (long)(k0 + k) * g->bks + c0;
                float *d = dst + (size_t)k * MK_NR;
                memcpy(d, src, sizeof(float) * (size_t)nc);
                if (nc < MK_NR) memset(d + nc, 0, sizeof(float) * (size_t)(MK_NR - nc));
            }
        } else {
            // B^T given (b(k,j) = B[j*bjs + k*bks]): read each column's run of k.
            if (nc < MK_NR)
                for (int k = 0; k < kc; k++)
                    memset(dst + (size_t)k * MK_NR + nc, 0, sizeof(float) * (size_t)(MK_NR - nc));
            for (int j = 0; j < nc; j++) {
                const float *src = g->B + (long)(c0 + j) * g->bjs + (long)k0 * g->bks;
                for (int k = 0; k < kc; k++) dst[(size_t)k * MK_NR + j] = src[(long)k * g->bks];
            }
        }
    }
}

/* ---------------------------------------------------------------- the product */

// Where the chunk of a transposed A that starts at row block b ends: whole
// row blocks of [m0, m1) (nb of them), as many as fit in `chunk` rows and at
// least block b. Both products copy A's rows a chunk at a time.
static int chunk_end(int m0, int m1, int nb, int b, int chunk)
{
    int i, hi, lo;
    mk_block(m0, m1, nb, b, &i, &hi);
    for (int e = b + 1; e < nb; e++) {
        int end;
        mk_block(m0, m1, nb, e, &lo, &end);
        if (end - i > chunk) break;
        hi = end;
    }
    return hi;
}

// Rows [m0, m1) x columns [j0, j1) of C. achunk: rows of a transposed A
// packed at once (room for achunk x (kcmax + kcmax/2) floats after B's panels).
static void gemm_block(const kern *kn, const gemm_args *g, int m0, int m1, int j0, int j1,
                       float *scratch, int kcmax, int ncp, int achunk)
{
    const int K = g->K;
    // A given transposed (a(i,k) = A[k*aks + i]: the weight gradients'
    // dL/dgates^T) puts each k of a row block on its own cache line, aks
    // floats from the last; at the usual power-of-two G*H those lines crowd
    // into a few cache sets and fall out of L1 and L2 between panels. So the
    // rows of up to achunk at a time are copied into [kc][rows] (contiguous
    // runs of A, once per k block) and every panel reads the copy; the values
    // and their order are the same.
    const int pack_a = g->ars == 1 && g->aks != 1;
    float *ap = scratch + (size_t)ncp * (kcmax + kcmax / 2) * MK_NR;
    // Row-major B with short rows (at most 2 KiB: no cache-set aliasing between
    // rows) is read in place; anything else is packed into panels first.
    const int inplace = g->bjs == 1 && g->bks <= 512;
    for (int jb = j0; jb < j1; jb += ncp * MK_NR) {
        int je = jb + ncp * MK_NR < j1 ? jb + ncp * MK_NR : j1;
        int np = (je - jb + MK_NR - 1) / MK_NR;
        for (int k0 = 0; k0 < K;) {
            int kc = K - k0 <= kcmax + kcmax / 2 ? K - k0 : kcmax;
            if (!inplace) pack_b(scratch, g, k0, kc, jb, je);
            int init = (k0 > 0 || g->accumulate) ? 1 : g->bias ? 2 : 0;
            for (int b = 0, nb = mk_blocks(m0, m1), ca = 0, cb = 0; b < nb; b++) {
                int i, i1;
                mk_block(m0, m1, nb, b, &i, &i1);
                const float *a = g->A + (long)i * g->ars + (long)k0 * g->aks;
                long ars = g->ars, aks = g->aks;
                if (pack_a) {
                    if (i >= cb) {
                        ca = i, cb = chunk_end(m0, m1, nb, b, achunk);
                        for (int k = 0; k < kc; k++)
                            memcpy(ap + (size_t)k * (cb - ca), g->A + (long)(k0 + k) * g->aks + ca,
                                   sizeof(float) * (size_t)(cb - ca));
                    }
                    a = ap + (i - ca), ars = 1, aks = cb - ca;
                }
                if (b + 1 < nb) {
                    // The next row block's stretch of C, to be read (partial
                    // sums) and written: asked for now, so that it is in cache
                    // when its tiles start rather than missed one line at a time.
                    int n0, n1;
                    mk_block(m0, m1, nb, b + 1, &n0, &n1);
                    for (int r = n0; r < n1; r++)
                        for (int c = jb; c < je; c += 16) __builtin_prefetch(g->C + (long)r * g->ldc + c, 1, 3);
                }
                for (int p = 0; p < np; p++) {
                    int c0 = jb + p * MK_NR, nc = je - c0 < MK_NR ? je - c0 : MK_NR;
                    const float *bp = inplace ? g->B + (long)k0 * g->bks + c0
                                              : scratch + (size_t)p * kc * MK_NR;
                    kn->mk(i1 - i, nc, kc, a, ars, aks, bp, inplace ? g->bks : MK_NR,
                           g->C + (long)i * g->ldc + c0, g->ldc, init, g->bias ? g->bias + c0 : NULL);
                }
            }
            k0 += kc;
        }
    }
}

/* ---------------------------------------------------------------- bfloat16 */

// A pair of b(k, j), b(k + 1, j) (0 at k + 1 == kend).
static inline uint32_t b_pair(const gemm_args *g, int k, int kend, int j)
{
    const float *p = g->B + (long)k * g->bks + (long)j * g->bjs;
    return bf16_pair(p[0], k + 1 < kend ? p[g->bks] : 0.0f);
}

// pack_b's panels as bf16 pairs: Bp[p][q][j] = pair of k0 + 2q, k0 + 2q + 1.
// Rows of B (bjs 1) pair two rows at a time, columns of B^T (bks 1) convert
// a column's run of k at once; both with the kernels' vector conversion.
static void pack_b16(const kern *kn, uint32_t *Bp, const gemm_args *g, int k0, int kc, int j0, int j1)
{
    const int kp = (kc + 1) / 2, kend = k0 + kc;
    for (int p = 0; j0 + p * MK_NR < j1; p++) {
        int c0 = j0 + p * MK_NR, nc = j1 - c0 < MK_NR ? j1 - c0 : MK_NR;
        uint32_t *dst = Bp + (size_t)p * kp * MK_NR;
        if (nc < MK_NR)
            for (int q = 0; q < kp; q++) memset(dst + (size_t)q * MK_NR + nc, 0, sizeof(uint32_t) * (size_t)(MK_NR - nc));
        if (g->bjs == 1) {
            for (int q = 0; q < kp; q++) {
                const float *r0 = g->B + (long)(k0 + 2 * q) * g->bks + c0;
                kn->pair_rows(dst + (size_t)q * MK_NR, r0, k0 + 2 * q + 1 < kend ? r0 + g->bks : NULL, nc);
            }
        } else if (g->bks == 1) {
            uint32_t col[KC * 3 / 4 + 1]; // kc <= KC * 3/2 floats as pairs
            for (int j = 0; j < nc; j++) {
                col[kp - 1] = 0; // an odd kc's last pair has no k + 1
                kn->to_bf16((uint16_t *)(void *)col, g->B + (long)(c0 + j) * g->bjs + k0, kc);
                for (int q = 0; q < kp; q++) dst[(size_t)q * MK_NR + j] = col[q];
            }
        } else {
            for (int q = 0; q < kp; q++)
                for (int j = 0; j < nc; j++) dst[(size_t)q * MK_NR + j] = b_pair(g, k0 + 2 * q, kend, c0 + j);
        }
    }
}

// Rows [i, i + mr) of A, k in [k0, k0 + kc), as pairs, in the layout that
// reads A's memory in order: rows of A (aks 1) as Ap[r][q] (*aqs = 1),
// columns of A^T (ars 1: the weight gradients' dpx^T) as Ap[q][r] (*aqs =
// mr), many rows at once (gemm_block_bf16 packs a chunk of row blocks).
// Returns the row stride (*aqs: the pair stride) for mk_bf16.
static long pack_a16(const kern *kn, uint32_t *Ap, const gemm_args *g, int i, int mr, int k0, int kc,
                     long *aqs)
{
    const int kp = (kc + 1) / 2;
    if (g->ars == 1 && g->aks != 1) {
        for (int q = 0; q < kp; q++) {
            const float *r0 = g->A + i + (long)(k0 + 2 * q) * g->aks;
            kn->pair_rows(Ap + (size_t)q * mr, r0, 2 * q + 1 < kc ? r0 + g->aks : NULL, mr);
        }
        *aqs = mr;
        return 1;
    }
    *aqs = 1;
    for (int r = 0; r < mr; r++) {
        const float *a = g->A + (long)(i + r) * g->ars + (long)k0 * g->aks;
        uint32_t *d = Ap + (size_t)r * kp;
        if (g->aks == 1) {
            d[kp - 1] = 0;
            kn->to_bf16((uint16_t *)(void *)d, a, kc);
        } else {
            for (int q = 0; q < kp; q++)
                d[q] = bf16_pair(a[(long)2 * q * g->aks], 2 * q + 1 < kc ? a[(long)(2 * q + 1) * g->aks] : 0.0f);
        }
    }
    return kp;
}

// gemm_block on bf16 pairs: the same blocking (k blocks of even length but
// the last, so no pair straddles two), B and the row block's A packed.
static void gemm_block_bf16(const kern *kn, const gemm_args *g, int m0, int m1, int j0, int j1,
                            float *scratch, int kcmax, int ncp)
{
    const int K = g->K;
    uint32_t *bp16 = (uint32_t *)(void *)scratch;
    uint32_t *ap16 = bp16 + (size_t)ncp * ((kcmax + kcmax / 2 + 1) / 2) * MK_NR;
    // A^T given: row blocks are packed together, up to `chunk` rows (what the
    // scratch left after B holds), so each conversion runs along long rows.
    const int transposed = g->ars == 1 && g->aks != 1;
    const int chunk = ncp > 1 ? ncp * MK_NR / 2 : MK_MR;
    for (int jb = j0; jb < j1; jb += ncp * MK_NR) {
        int je = jb + ncp * MK_NR < j1 ? jb + ncp * MK_NR : j1;
        int np = (je - jb + MK_NR - 1) / MK_NR;
        for (int k0 = 0; k0 < K;) {
            int kc = K - k0 <= kcmax + kcmax / 2 ? K - k0 : kcmax, kp = (kc + 1) / 2;
            pack_b16(kn, bp16, g, k0, kc, jb, je);
            int init = (k0 > 0 || g->accumulate) ? 1 : g->bias ? 2 : 0;
            for (int b = 0, nb = mk_blocks(m0, m1), ca = 0, cb = 0; b < nb; b++) {
                int i, i1;
                mk_block(m0, m1, nb, b, &i, &i1);
                long aqs, ars;
                const uint32_t *ap = ap16;
                if (transposed) {
                    if (i >= cb) {
                        ca = i, cb = chunk_end(m0, m1, nb, b, chunk);
                        pack_a16(kn, ap16, g, ca, cb - ca, k0, kc, &aqs);
                    }
                    ap = ap16 + (i - ca), ars = 1, aqs = cb - ca;
                } else {
                    ars = pack_a16(kn, ap16, g, i, i1 - i, k0, kc, &aqs);
                }
                for (int p = 0; p < np; p++) {
                    int c0 = jb + p * MK_NR, nc = je - c0 < MK_NR ? je - c0 : MK_NR;
                    kn->mk_bf16(i1 - i, nc, kp, ap, ars, aqs, bp16 + (size_t)p * kp * MK_NR, MK_NR,
                                g->C + (long)i * g->ldc + c0, g->ldc, init, g->bias ? g->bias + c0 : NULL);
                }
            }
            k0 += kc;
        }
    }
}

void gemm_part(const gemm_args *g, int tid, int nth, float *scratch)
{
    const int M = g->M, N = g->N, K = g->K;
    if (M <= 0 || N <= 0) return;
    int np = (N + MK_NR - 1) / MK_NR, mb = (M + MK_MR - 1) / MK_MR;
    int m0 = 0, m1 = M, j0 = 0, j1 = N;
    if (nth > 1) {
        if (np >= 2 * nth || (np >= nth && mb < 4 * nth)) {
            j0 = (int)((long)np * tid / nth) * MK_NR;
            j1 = (int)((long)np * (tid + 1) / nth) * MK_NR;
            if (j1 > N) j1 = N;
        } else {
            m0 = (int)((long)mb * tid / nth) * MK_MR;
            m1 = (int)((long)mb * (tid + 1) / nth) * MK_MR;
            if (m1 > M) m1 = M;
        }
        if (m0 >= m1 || j0 >= j1) return;
    }
    if (K <= 0) {
        if (!g->accumulate)
            for (int i = m0; i < m1; i++) {
                float *c = g->C + (long)i * g->ldc + j0;
                if (g->bias)
                    memcpy(c, g->bias + j0, sizeof(float) * (size_t)(j1 - j0));
                else
                    memset(c, 0, sizeof(float) * (size_t)(j1 - j0));
            }
        return;
    }
    const kern *kn = kern_get();
    if (g->bf16 && kn->mk_bf16) {
        if (scratch) {
            gemm_block_bf16(kn, g, m0, m1, j0, j1, scratch, KC, NCP);
        } else {
            _Alignas(64) float small[64 * MK_NR + 64 * MK_MR];
            gemm_block_bf16(kn, g, m0, m1, j0, j1, small, 42, 1);
        }
        return;
    }
    const int init = g->accumulate ? 1 : g->bias ? 2 : 0;
    if (g->bjs == 1 && m1 - m0 <= 2 * MK_MR) {
        // A few rows (one step of a small batch, sampling): packing B would
        // cost as much as the product; read it in place.
        if (m1 - m0 == 1) {
            // A matrix-vector product: four panels per call (kern.h, mv).
            for (int c0 = j0; c0 < j1; c0 += 4 * MK_NR) {
                int q = 0, nc[4];
                const float *bp[4], *bs[4];
                float *cp[4];
                for (; q < 4 && c0 + q * MK_NR < j1; q++) {
                    int c = c0 + q * MK_NR;
                    nc[q] = j1 - c < MK_NR ? j1 - c : MK_NR;
                    bp[q] = g->B + c;
                    bs[q] = g->bias ? g->bias + c : NULL;
                    cp[q] = g->C + (long)m0 * g->ldc + c;
                }
                kn->mv(q, nc, K, g->A + (long)m0 * g->ars, g->aks, bp, g->bks, cp, init, bs);
            }
            return;
        }
        for (int b = 0, nb = mk_blocks(m0, m1); b < nb; b++) {
            int i, i1;
            mk_block(m0, m1, nb, b, &i, &i1);
            int mr = i1 - i;
            for (int c0 = j0; c0 < j1; c0 += MK_NR) {
                int nc = j1 - c0 < MK_NR ? j1 - c0 : MK_NR;
                kn->mk(mr, nc, K, g->A + (long)i * g->ars, g->ars, g->aks, g->B + c0, g->bks,
                       g->C + (long)i * g->ldc + c0, g->ldc, init, g->bias ? g->bias + c0 : NULL);
            }
        }
        return;
    }
    if (scratch) {
        // A row-major A takes k blocks of 384-576 (5 panels: 480-720 KiB
        // packed): fewer trips for each element of C to memory and back than
        // 256-384 (4-8 % faster at the models' window products); a transposed
        // A, copied per k block, does better with 8 panels and k blocks of
        // 256-384 (the copy stays in L2 beside them).
        if (g->aks == 1)
            gemm_block(kn, g, m0, m1, j0, j1, scratch, KC + KC / 2, NCP * 5 / 8, 0);
        else
            gemm_block(kn, g, m0, m1, j0, j1, scratch, KC, NCP, ACHUNK);
    } else {
        // No scratch (a product outside any pool that could not allocate): one
        // small panel at a time from the stack; same result.
        _Alignas(64) float small[64 * MK_NR + 64 * MK_MR];
        gemm_block(kn, g, m0, m1, j0, j1, small, 42, 1, MK_MR);
    }
}

typedef struct run_ctx {
    const gemm_args *g;
    pool *p;
} run_ctx;

static void run_job(void *arg, int tid, int nth)
{
    run_ctx *c = arg;
    gemm_part(c->g, tid, nth, pool_scratch(c->p, tid));
}

void gemm_run(pool *p, const gemm_args *g)
{
    if (p && pool_size(p) > 1 && (double)g->M * g->N * g->K > 1e5) {
        run_ctx c = {g, p};
        pool_run(p, run_job, &c);
        return;
    }
    // Without a pool (no workspace is current: a caller outside the model's
    // passes) there is no scratch: the product runs from small panels on the
    // stack, with the same result. It never allocates, so it cannot fail, and
    // a loop of small products (beam search) costs no malloc/free each.
    gemm_part(g, 0, 1, p ? pool_scratch(p, 0) : NULL);
}

static _Thread_local pool *current;
static _Thread_local int current_bf16;

pool *gemm_set_pool(pool *p)
{
    pool *old = current;
    current = p;
    return old;
}

int gemm_set_bf16(int on)
{
    int old = current_bf16;
    current_bf16 = on != 0;
    return old;
}

int gemm_has_bf16(void)
{
    return kern_get()->mk_bf16 != NULL;
}

static void run(int M, int N, int K, const float *A, long ars, long aks, const float *B, long bks,
                long bjs, float *C, long ldc, int accumulate, const float *bias, int threads)
{
    gemm_args g = {M, N, K, A, ars, aks, B, bks, bjs, C, ldc, accumulate, bias, current_bf16};
    (void)threads; // the pool decides; results do not depend on it
    gemm_run(current, &g);
}

void gemm_nn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads)
{
    run(M, N, K, A, lda, 1, B, ldb, 1, C, ldc, accumulate, NULL, threads);
}

void gemm_tn(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads)
{
    run(M, N, K, A, 1, lda, B, ldb, 1, C, ldc, accumulate, NULL, threads);
}

void gemm_nt(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
             int ldc, int accumulate, int threads)
{
    run(M, N, K, A, lda, 1, B, 1, ldb, C, ldc, accumulate, NULL, threads);
}

void gemm_nn_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int threads)
{
    run(M, N, K, A, lda, 1, B, ldb, 1, C, ldc, 0, bias, threads);
}

void gemm_nt_bias(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                  const float *bias, float *C, int ldc, int threads)
{
    run(M, N, K, A, lda, 1, B, 1, ldb, C, ldc, 0, bias, threads);
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

void gemm_nt_ref(int M, int N, int K, const float *A, int lda, const float *B, int ldb, float *C,
                 int ldc, int accumulate)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = accumulate ? C[(long)i * ldc + j] : 0.0f;
            for (int k = 0; k < K; k++) s += A[(long)i * lda + k] * B[(long)j * ldb + k];
            C[(long)i * ldc + j] = s;
        }
}

void gemm_ref_bf16(const gemm_args *g)
{
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            float *c = g->C + (long)i * g->ldc + j;
            float acc = g->accumulate ? *c : g->bias ? g->bias[j] : 0.0f;
            for (int k = 0; k < g->K; k += 2) {
                const float *a = g->A + (long)i * g->ars + (long)k * g->aks;
                const float *b = g->B + (long)k * g->bks + (long)j * g->bjs;
                int odd = k + 1 < g->K;
                acc = kern_dot_bf16_ref(acc, bf16_pair(a[0], odd ? a[g->aks] : 0.0f),
                                        bf16_pair(b[0], odd ? b[g->bks] : 0.0f));
            }
            *c = acc;
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
