/*
 * test_kernels.c - the speed kernels against their definitions:
 *  - the polynomial exp, sigmoid and tanh against double precision on a dense
 *    sweep, with the maximum errors kern.h documents, and NaN propagation;
 *  - the AVX-512 build against the portable build, bit for bit (micro-
 *    kernels, cells forward and backward, softmax cross-entropy);
 *  - the products against the _ref twins (within the rounding bound of a
 *    K-term sum), and every thread split giving the same bits;
 *  - the recurrence (rec.c, 1 and 2 threads) against its plain twin
 *    (rec_*_ref: libm, separate multiply and add), every cell, batch 1 and
 *    more, hidden sizes that are not multiples of 64 or above 512 (packed
 *    backward panels), and 1 vs 2 threads bit for bit;
 *  - bf16 (AVX512-BF16, where the CPU has it): the micro-kernel against
 *    kern_mk_bf16_ref and every product against gemm_ref_bf16 bit for bit
 *    (the instruction's definition), within bf16's rounding of fp32; the
 *    recurrence in bf16 near fp32's and 1 vs 2 threads bit for bit; without
 *    it, a bf16 product is the fp32 one;
 *  - the thread pool's barrier.
 */
#include "check.h"
#include "kernels/gemm.h"
#include "kernels/kern.h"
#include "nn/model.h"
#include "kernels/pool.h"
#include "nn/rec.h"

#include <float.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void fill(float *p, size_t n, rng *r, float scale)
{
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * rng_uniform(r) - 1.0f) * scale;
}

static int same_bits(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* ---------------------------------------------------------------- activations */

static double ulp_of(double x)
{
    float f = (float)fabs(x);
    return (double)nextafterf(f, INFINITY) - (double)f;
}

static void test_activations(const kern *k)
{
    const int n = 1 << 20;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    double e_ulp = 0, s_rel = 0, t_abs = 0, t_ulp = 0;
    // exp over [-87, 88]: relative error in ulps of the result.
    for (int i = 0; i < n; i++) x[i] = -87.0f + 175.0f * (float)i / (float)(n - 1);
    k->act_exp(y, x, n);
    for (int i = 0; i < n; i++) {
        double want = exp((double)x[i]), d = fabs(y[i] - want) / ulp_of(want);
        if (d > e_ulp) e_ulp = d;
    }
    // sigmoid and tanh over [-20, 20], plus a fine sweep near 0 for tanh.
    for (int i = 0; i < n; i++) x[i] = -20.0f + 40.0f * (float)i / (float)(n - 1);
    k->act_sigmoid(y, x, n);
    for (int i = 0; i < n; i++) {
        double want = 1.0 / (1.0 + exp(-(double)x[i])), d = fabs(y[i] - want) / want;
        if (d > s_rel) s_rel = d;
    }
    k->act_tanh(y, x, n);
    for (int i = 0; i < n; i++) {
        double want = tanh((double)x[i]), d = fabs(y[i] - want);
        if (d > t_abs) t_abs = d;
        if (fabs(want) > 1e-30 && d / ulp_of(want) > t_ulp) t_ulp = d / ulp_of(want);
    }
    for (int i = 0; i < n; i++) x[i] = -1.0f + 2.0f * (float)i / (float)(n - 1);
    k->act_tanh(y, x, n);
    for (int i = 0; i < n; i++) {
        double want = tanh((double)x[i]), d = fabs(y[i] - want);
        if (d > t_abs) t_abs = d;
        if (fabs(want) > 1e-30 && d / ulp_of(want) > t_ulp) t_ulp = d / ulp_of(want);
    }
    printf("  %-9s exp %.2f ulp, sigmoid %.2e relative, tanh %.2e absolute (%.2f ulp)\n", k->name,
           e_ulp, s_rel, t_abs, t_ulp);
    // The bounds kern.h documents (measured: 0.99 ulp, 1.5e-7, 7.8e-8 and 1.31 ulp).
    CHECK(e_ulp <= 1.0, "%s exp: %.2f ulp", k->name, e_ulp);
    CHECK(s_rel <= 2e-7, "%s sigmoid: %.3g relative", k->name, s_rel);
    CHECK(t_abs <= 1e-7 && t_ulp <= 1.5, "%s tanh: %.3g absolute, %.2f ulp", k->name, t_abs, t_ulp);
    // NaN goes through (a diverging run must be noticed); inputs are clamped
    // to [-87.3, 88.3], so exp(-inf) is exp(-87.3) (1.2e-38), not 0.
    float sp[4] = {NAN, INFINITY, -INFINITY, 0.0f}, out[4];
    k->act_exp(out, sp, 4);
    CHECK(isnan(out[0]) && out[1] > 1e38f && out[2] < 1.3e-38f && out[3] == 1.0f, "%s exp specials",
          k->name);
    k->act_sigmoid(out, sp, 4);
    CHECK(isnan(out[0]) && out[1] == 1.0f && out[2] < 1e-38f && out[3] == 0.5f, "%s sigmoid specials",
          k->name);
    k->act_tanh(out, sp, 4);
    CHECK(isnan(out[0]) && out[1] == 1.0f && out[2] == -1.0f && out[3] == 0.0f, "%s tanh specials",
          k->name);
    free(x);
    free(y);
}

/* ---------------------------------------------------------------- builds agree */

static void test_builds_agree(const kern *a, const kern *p)
{
    rng r;
    rng_seed(&r, 11);
    // Micro-kernel: every tile shape, init mode and a strided A.
    const int K = 37;
    float A[8 * 40], Bp[40 * 64 * 4], bias[64], C1[8 * 80], C2[8 * 80];
    fill(A, sizeof A / 4, &r, 1);
    fill(Bp, sizeof Bp / 4, &r, 1);
    fill(bias, 64, &r, 1);
    int same = 1;
    for (int mr = 1; mr <= MK_MR; mr++)
        for (int nc = 1; nc <= MK_NR; nc += (nc < 20 ? 1 : 7))
            for (int init = 0; init < 3; init++)
                for (int tr = 0; tr < 2; tr++) {
                    fill(C1, sizeof C1 / 4, &r, 1);
                    memcpy(C2, C1, sizeof C1);
                    long ars = tr ? 1 : 40, aks = tr ? 8 : 1;
                    a->mk(mr, nc, K, A, ars, aks, Bp, 64, C1, 80, init, bias);
                    p->mk(mr, nc, K, A, ars, aks, Bp, 64, C2, 80, init, bias);
                    same &= same_bits(C1, C2, sizeof C1 / 4);
                }
    CHECK(same, "micro-kernel: avx512 and portable differ");
    // Matrix-vector kernel.
    for (int np = 1; np <= 4; np++) {
        int nc[4] = {64, 17, 64, 5};
        const float *bp[4] = {Bp, Bp + 64, Bp + 128, Bp + 192};
        float *c1[4] = {C1, C1 + 64, C1 + 128, C1 + 192}, *c2[4] = {C2, C2 + 64, C2 + 128, C2 + 192};
        const float *bs[4] = {bias, bias, bias, bias};
        for (int init = 0; init < 3; init++) {
            fill(C1, sizeof C1 / 4, &r, 1);
            memcpy(C2, C1, sizeof C1);
            a->mv(np, nc, K, A, 3, bp, 256, c1, init, bs);
            p->mv(np, nc, K, A, 3, bp, 256, c2, init, bs);
            same &= same_bits(C1, C2, sizeof C1 / 4);
        }
    }
    CHECK(same, "matrix-vector kernel: avx512 and portable differ");
    // Cells: forward then backward over every unit range split.
    const int Bn = 3, H = 37;
    for (int cid = 0; cid < 3; cid++) {
        int G = cid == 1 ? 4 : cid == 2 ? 3 : 1, nk = cid == 0 ? 1 : 4;
        size_t nG = (size_t)Bn * G * H, nH = (size_t)Bn * H, nK = (size_t)Bn * nk * H;
        float *px = malloc(nG * 4), *ph = malloc(nG * 4), *hp = malloc(nH * 4), *cp = malloc(nH * 4);
        float *h1 = malloc(nH * 4), *h2 = malloc(nH * 4), *c1 = malloc(nH * 4), *c2 = malloc(nH * 4);
        float *k1 = malloc(nK * 4), *k2 = malloc(nK * 4), *dh = malloc(nH * 4);
        float *dc1 = malloc(nH * 4), *dc2 = malloc(nH * 4), *dx1 = malloc(nG * 4), *dx2 = malloc(nG * 4);
        float *dp1 = malloc(nG * 4), *dp2 = malloc(nG * 4), *dq1 = malloc(nH * 4), *dq2 = malloc(nH * 4);
        fill(px, nG, &r, 3);
        fill(ph, nG, &r, 3);
        fill(hp, nH, &r, 1);
        fill(cp, nH, &r, 2);
        fill(dh, nH, &r, 1);
        fill(dc1, nH, &r, 1);
        memcpy(dc2, dc1, nH * 4);
        for (int relu = 0; relu <= (cid == 0); relu++) {
            a->cell_fwd[cid](Bn, H, 0, H, relu, px, ph, hp, cp, h1, c1, k1);
            p->cell_fwd[cid](Bn, H, 0, 20, relu, px, ph, hp, cp, h2, c2, k2);
            p->cell_fwd[cid](Bn, H, 20, H, relu, px, ph, hp, cp, h2, c2, k2);
            int ok = same_bits(h1, h2, nH) && (cid != 1 || same_bits(c1, c2, nH)) &&
                     (cid == 0 || same_bits(k1, k2, nK));
            a->cell_bwd[cid](Bn, H, 0, H, relu, dh, dc1, hp, cp, h1, c1, k1, dx1, dp1, dq1);
            p->cell_bwd[cid](Bn, H, 0, 5, relu, dh, dc2, hp, cp, h2, c2, k2, dx2, dp2, dq2);
            p->cell_bwd[cid](Bn, H, 5, H, relu, dh, dc2, hp, cp, h2, c2, k2, dx2, dp2, dq2);
            ok = ok && same_bits(dx1, dx2, nG) && same_bits(dp1, dp2, nG) && same_bits(dq1, dq2, nH) &&
                 (cid != 1 || same_bits(dc1, dc2, nH));
            CHECK(ok, "cell %d (relu %d): avx512 and portable differ", cid, relu);
        }
        float *ps[] = {px, ph, hp, cp, h1, h2, c1, c2, k1, k2, dh, dc1, dc2, dx1, dx2, dp1, dp2, dq1, dq2};
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    }
    // Softmax cross-entropy, with and without gradient, with an ignored row.
    const int N = 5, V = 67;
    float z1[5 * 67], z2[5 * 67];
    int32_t tgt[5] = {3, 66, -1, 0, 40};
    fill(z1, (size_t)N * V, &r, 8);
    memcpy(z2, z1, sizeof z1);
    double l1 = a->xent(z1, tgt, 0, N, V, 1, 0.25f), l2 = p->xent(z2, tgt, 0, N, V, 1, 0.25f);
    CHECK(l1 == l2 && same_bits(z1, z2, (size_t)N * V), "softmax cross-entropy: builds differ");
    float y1[100], y2[100], x[100];
    fill(y1, 100, &r, 1);
    fill(x, 100, &r, 1);
    memcpy(y2, y1, sizeof y1);
    a->add(y1, x, 100);
    p->add(y2, x, 100);
    CHECK(same_bits(y1, y2, 100), "add: builds differ");
    printf("  avx512 and portable builds: micro-kernels, cells, loss bit-identical\n");
}

/* ---------------------------------------------------------------- products */

static void test_products(void)
{
    rng r;
    rng_seed(&r, 5);
    // (100, 600, 384): a transposed A's full 96-row copy at k 384 beside packed
    // B; (20, 640, 576): a row-major A's 5 full panels at k 576 - the most
    // either writes in the scratch (gemm.c).
    const int shapes[][3] = {{1, 1, 1},     {1, 300, 70},   {7, 5, 3},      {12, 130, 40},
                             {13, 64, 300},  {50, 512, 128}, {97, 65, 129},  {300, 200, 500},
                             {20, 530, 384}, {7, 600, 383},  {61, 1100, 700}, {100, 600, 384},
                             {20, 640, 576}};
    pool *p2 = pool_new(2);
    float *scratch = aligned_alloc(64, sizeof(float) * GEMM_SCRATCH);
    int close = 1, split = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
        float *C2 = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
        fill(A, (size_t)M * K, &r, 1);
        fill(B, (size_t)K * N, &r, 1);
        fill(C0, (size_t)M * N, &r, 1);
        float *bias = malloc(sizeof(float) * N);
        fill(bias, (size_t)N, &r, 1);
        for (int form = 0; form < 4; form++) {
            // nn: A [M,K], B [K,N]; tn: A as [K,M]; nt: B as [N,K]; nn from a bias.
            gemm_args g = {M, N, K, A, K, 1, B, N, 1, C1, N, 1, NULL, 0};
            if (form == 1) g.ars = 1, g.aks = M;
            if (form == 2) g.bks = 1, g.bjs = K;
            if (form == 3) {
                g.accumulate = 0;
                g.bias = bias;
                for (int i = 0; i < M; i++) memcpy(C0 + (size_t)i * N, bias, sizeof(float) * N);
            }
            memcpy(R, C0, sizeof(float) * M * N);
            if (form == 0 || form == 3) gemm_nn_ref(M, N, K, A, K, B, N, R, N, 1);
            if (form == 1) gemm_tn_ref(M, N, K, A, M, B, N, R, N, 1);
            if (form == 2) gemm_nt_ref(M, N, K, A, K, B, K, R, N, 1);
            memcpy(C1, C0, sizeof(float) * M * N);
            if (form == 3) memset(C1, 0, sizeof(float) * M * N); // the bias, not C, must count
            gemm_part(&g, 0, 1, scratch);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double mag = fabs(C0[i * N + j]);
                    for (int k = 0; k < K; k++)
                        mag += fabs((double)A[i * g.ars + k * g.aks] * B[k * g.bks + j * g.bjs]);
                    double d = fabs((double)C1[i * N + j] - R[i * N + j]);
                    if (d > 2.0 * (K + 1) * ldexp(1.0, -24) * mag) close = 0;
                }
            // Every split into shares, and the pool, give the same bits.
            for (int nth = 2; nth <= 5; nth++) {
                memcpy(C2, C0, sizeof(float) * M * N);
                g.C = C2;
                for (int t = 0; t < nth; t++) gemm_part(&g, t, nth, scratch);
                split &= same_bits(C1, C2, (size_t)M * N);
            }
            memcpy(C2, C0, sizeof(float) * M * N);
            gemm_run(p2, &g);
            split &= same_bits(C1, C2, (size_t)M * N);
            // Without scratch (the small stack panel) too.
            memcpy(C2, C0, sizeof(float) * M * N);
            gemm_part(&g, 0, 1, NULL);
            split &= same_bits(C1, C2, (size_t)M * N);
            g.C = C1;
        }
        free(A), free(B), free(C0), free(C1), free(C2), free(R), free(bias);
    }
    CHECK(close, "products differ from _ref beyond the rounding bound");
    CHECK(split, "a split of a product into thread shares changes its bits");
    printf("  nn/tn/nt/bias products: within the rounding bound of _ref; every split and the pool bit-identical\n");
    free(scratch);
    pool_free(p2);
}

/* ---------------------------------------------------------------- bf16 products */

static void test_bf16_products(void)
{
    const kern *kn = kern_get();
    rng r;
    rng_seed(&r, 9);
    const int shapes[][3] = {{1, 1, 1},    {1, 300, 70},  {7, 5, 3},     {12, 130, 41}, {50, 512, 128},
                             {97, 65, 129}, {20, 530, 384}, {7, 600, 383}, {61, 1100, 700},
                             {700, 70, 517} /* tn: A^T packed in several chunks of row blocks */};
    pool *p2 = pool_new(2);
    float *scratch = aligned_alloc(64, sizeof(float) * GEMM_SCRATCH);
    int exact = 1, split = 1, near = 1, differs = 0, kernel_exact = 1;
    double dev = 0;
    if (kn->mk_bf16) {
        // The micro-kernel against its definition, every tile shape and start.
        uint32_t a[6 * 40], b[40 * 64];
        float c1[6 * 64], c2[6 * 64], bias[64];
        for (int i = 0; i < 6 * 40; i++) a[i] = bf16_pair(2 * rng_uniform(&r) - 1, 2 * rng_uniform(&r) - 1);
        for (int i = 0; i < 40 * 64; i++) b[i] = bf16_pair(2 * rng_uniform(&r) - 1, 2 * rng_uniform(&r) - 1);
        fill(bias, 64, &r, 1);
        for (int mr = 1; mr <= 6; mr++)
            for (int nc = 1; nc <= 64; nc += 9)
                for (int init = 0; init < 3; init++) {
                    fill(c1, 6 * 64, &r, 1);
                    memcpy(c2, c1, sizeof c1);
                    // rows 40 pairs apart, or interleaved ([q][r]: the transposed packing)
                    long ars = init == 1 ? 1 : 40, aqs = init == 1 ? 6 : 1;
                    kn->mk_bf16(mr, nc, 40, a, ars, aqs, b, 64, c1, 64, init, bias);
                    kern_mk_bf16_ref(mr, nc, 40, a, ars, aqs, b, 64, c2, 64, init, bias);
                    exact &= same_bits(c1, c2, 6 * 64);
                    for (int q = 0; q < 6 * 64; q++) dev = fmax(dev, fabs((double)c1[q] - c2[q]));
                }
        // Intel documents vdpbf16ps's rounding exactly and Zen 5 follows it on
        // these normal-range values: a kernel that sums in another order (the
        // even product first, say) is off by an ulp here and must fail.
        kernel_exact = exact;
        CHECK(exact, "bf16 micro-kernel differs from kern_mk_bf16_ref (by up to %.3g)", dev);
        // The packing conversions against bf16_bits on every class of float
        // (random bits: normals, subnormals, zeros, infinities, NaNs), odd lengths.
        enum { NC = 4099 };
        float *x = malloc(sizeof(float) * NC), *y = malloc(sizeof(float) * NC);
        uint16_t *h = malloc(sizeof(uint16_t) * (NC + 1));
        uint32_t *p = malloc(sizeof(uint32_t) * NC);
        int conv = 1;
        for (int i = 0; i < NC; i++) {
            uint32_t u = (uint32_t)rng_next(&r), v = (uint32_t)rng_next(&r);
            if (i % 5 == 0) u &= 0x807FFFFFu; // subnormal or zero
            if (i % 7 == 0) v |= 0x7F800000u; // infinity or NaN
            memcpy(&x[i], &u, 4);
            memcpy(&y[i], &v, 4);
        }
        for (int n = 1; n <= NC; n = n * 3 + 1) {
            h[n] = 0xABCD;
            kn->to_bf16(h, x, n);
            for (int i = 0; i < n; i++) conv &= h[i] == bf16_bits(x[i]);
            conv &= h[n] == 0xABCD; // nothing past n
            kn->pair_rows(p, x, (n & 1) ? y : NULL, n);
            for (int i = 0; i < n; i++) conv &= p[i] == bf16_pair(x[i], (n & 1) ? y[i] : 0.0f);
        }
        CHECK(conv, "bf16 packing conversions differ from bf16_bits");
        free(x), free(y), free(h), free(p);
    }
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C0 = malloc(sizeof(float) * M * N), *C1 = malloc(sizeof(float) * M * N);
        float *C2 = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
        float *bias = malloc(sizeof(float) * N);
        fill(A, (size_t)M * K, &r, 1);
        fill(B, (size_t)K * N, &r, 1);
        fill(C0, (size_t)M * N, &r, 1);
        fill(bias, (size_t)N, &r, 1);
        for (int form = 0; form < 4; form++) {
            gemm_args g = {M, N, K, A, K, 1, B, N, 1, C1, N, 1, NULL, 1};
            if (form == 1) g.ars = 1, g.aks = M;
            if (form == 2) g.bks = 1, g.bjs = K;
            if (form == 3) g.accumulate = 0, g.bias = bias;
            // R: the definition (bf16) or, without bf16, the fp32 product.
            memcpy(R, C0, sizeof(float) * M * N);
            g.C = R;
            if (kn->mk_bf16) {
                gemm_ref_bf16(&g);
            } else {
                g.bf16 = 0;
                gemm_part(&g, 0, 1, scratch);
                g.bf16 = 1;
            }
            memcpy(C1, C0, sizeof(float) * M * N);
            g.C = C1;
            gemm_part(&g, 0, 1, scratch);
            int same = same_bits(C1, R, (size_t)M * N);
            exact &= same;
            if (!same) // only on a CPU that rounds otherwise (above): within its sums' rounding
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double mag = 0;
                        for (int k = 0; k < K; k++)
                            mag += fabs((double)A[i * g.ars + k * g.aks] * B[k * g.bks + j * g.bjs]);
                        if (fabs((double)C1[i * N + j] - R[i * N + j]) > (K + 2) * ldexp(1.0, -23) * (mag + 2))
                            near = 0;
                    }
            // Within bf16's rounding of each input (2^-8 relative, twice) of the fp32 product.
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double mag = 0, ref = form == 3 ? bias[j] : C0[i * N + j];
                    for (int k = 0; k < K; k++) {
                        double t = (double)A[i * g.ars + k * g.aks] * B[k * g.bks + j * g.bjs];
                        ref += t;
                        mag += fabs(t);
                    }
                    double d = fabs(C1[i * N + j] - ref);
                    if (d > 2.0 * ldexp(1.0, -8) * mag + (K + 1) * ldexp(1.0, -23) * (mag + fabs(ref))) near = 0;
                    if (d > 0) differs = 1;
                }
            for (int nth = 2; nth <= 4; nth++) {
                memcpy(C2, C0, sizeof(float) * M * N);
                g.C = C2;
                for (int t = 0; t < nth; t++) gemm_part(&g, t, nth, scratch);
                split &= same_bits(C1, C2, (size_t)M * N);
            }
            memcpy(C2, C0, sizeof(float) * M * N);
            g.C = C2;
            gemm_run(p2, &g);
            split &= same_bits(C1, C2, (size_t)M * N);
            memcpy(C2, C0, sizeof(float) * M * N);
            gemm_part(&g, 0, 1, NULL);
            split &= same_bits(C1, C2, (size_t)M * N);
        }
        free(A), free(B), free(C0), free(C1), free(C2), free(R), free(bias);
    }
    if (!kn->mk_bf16) CHECK(exact, "bf16 fallback differs from fp32");
    // Where the micro-kernel matched its definition (Zen 5), every product is
    // a chain of it and must match gemm_ref_bf16 exactly too.
    if (kn->mk_bf16 && kernel_exact) CHECK(exact, "bf16 products differ from gemm_ref_bf16");
    if (kn->mk_bf16 && !exact) printf("  note: bf16 products not bit for bit gemm_ref_bf16 on this CPU (within its rounding)\n");
    CHECK(split, "a split of a bf16 product into thread shares changes its bits");
    CHECK(near, "bf16 products further from fp32 than bf16's rounding");
    if (kn->mk_bf16) CHECK(differs, "bf16 products equal fp32's: the bf16 path did not run");
    printf("  bf16 products: %s\n", !kn->mk_bf16 ? "no AVX512-BF16 here: the fp32 product, as documented"
                                   : exact ? "micro-kernel and products bit for bit their definitions, "
                                             "within bf16 rounding of fp32, every split identical"
                                           : "within a sum's rounding of their definitions (note above), "
                                             "within bf16 rounding of fp32, every split identical");
    free(scratch);
    pool_free(p2);
}

/* ---------------------------------------------------------------- recurrence */

static double rel_diff(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

// A unit's px goes where rec_rows says (inside its cache or its h slots);
// its gate gradients come back from there as dense [N, G*H] arrays.
static void put_px(const recur_model *m, workspace *ws, const float *px, size_t N)
{
    const gate_rows gr = rec_rows(m, ws, 0, NULL);
    const int GH = m->G * m->H;
    for (size_t n = 0; n < N; n++) memcpy(gr.px + n * gr.ld, px + n * GH, sizeof(float) * GH);
}

static void get_grads(const recur_model *m, const workspace *ws, float *dout, size_t N, float *dpx,
                      float *dph)
{
    const gate_rows gr = rec_rows(m, ws, 0, dout);
    const int GH = m->G * m->H, lead = (m->G - 1) * m->H;
    for (size_t n = 0; n < N; n++)
        for (int j = 0; j < GH; j++) {
            const float *row = gr.dpx + n * gr.ld;
            dpx[n * GH + j] = row[j];
            dph[n * GH + j] = j < lead ? row[j] : row[gr.dph_last + j - lead];
        }
}

static void test_recurrence(void)
{
    const int cases[][4] = {/* cell, H, B, T */ {0, 37, 1, 6},  {1, 37, 1, 6},  {2, 37, 1, 6},
                            {0, 130, 7, 5}, {1, 130, 7, 5}, {2, 130, 7, 5}, {1, 64, 50, 4},
                            {2, 200, 13, 3}, {1, 520, 3, 2}, {2, 520, 1, 2}};
    recur_vocab *v = NULL;
    CHECK(recur_vocab_from_text("abcdefg", 7, 0, &v, NULL) == 0, "vocab");
    double worst = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.cell = (recur_cell)cases[c][0];
        cfg.hidden = cases[c][1];
        cfg.layers = 1;
        const int B = cases[c][2], T = cases[c][3], H = cfg.hidden;
        recur_model *m = NULL;
        CHECK(recur_model_new(&cfg, v, 3 + c, &m, NULL) == 0, "model");
        const int G = m->G, GH = G * H;
        const size_t N = (size_t)T * B, BH = (size_t)B * H;
        rng r;
        rng_seed(&r, 100 + c);
        float *px = malloc(sizeof(float) * N * GH), *dout = malloc(sizeof(float) * N * H);
        float *h0 = malloc(sizeof(float) * BH), *c0 = malloc(sizeof(float) * BH);
        fill(px, N * GH, &r, 1);
        fill(dout, N * H, &r, 1);
        fill(h0, BH, &r, 0.5f);
        fill(c0, BH, &r, 0.5f);
        workspace *ws[3] = {NULL, NULL, NULL};
        float *douts[3], *dpx[3], *dph[3];
        for (int k = 0; k < 3; k++) {
            CHECK(ws_new(m, T, B, k == 2 ? 2 : 1, &ws[k], NULL) == 0, "workspace");
            ws[k]->step_min_flops = 0; // share every step, however small (rec.h)
            put_px(m, ws[k], px, N);
            memcpy(ws[k]->hs[0], h0, sizeof(float) * BH);
            if (ws[k]->cs[0]) memcpy(ws[k]->cs[0], c0, sizeof(float) * BH);
            // Each its own dout: the RNN's backward leaves its gate gradients there.
            douts[k] = malloc(sizeof(float) * N * H);
            memcpy(douts[k], dout, sizeof(float) * N * H);
            dpx[k] = malloc(sizeof(float) * N * GH);
            dph[k] = malloc(sizeof(float) * N * GH);
        }
        rec_forward_ref(m, ws[0], 0);
        rec_forward(m, ws[1], 0);
        rec_forward(m, ws[2], 0);
        size_t nh = (N + B) * H;
        // The forward alone must not touch what the backward needs beyond
        // its cache: compare h before the backward.
        double eh = rel_diff(ws[1]->hs[0], ws[0]->hs[0], nh);
        int same_h = same_bits(ws[1]->hs[0], ws[2]->hs[0], nh);
        rec_backward_ref(m, ws[0], 0, douts[0]);
        rec_backward(m, ws[1], 0, douts[1]);
        rec_backward(m, ws[2], 0, douts[2]);
        for (int k = 0; k < 3; k++) get_grads(m, ws[k], douts[k], N, dpx[k], dph[k]);
        double e[6] = {rel_diff(ws[1]->hs[0], ws[0]->hs[0], nh),
                       ws[0]->cs[0] ? rel_diff(ws[1]->cs[0], ws[0]->cs[0], nh) : 0,
                       rel_diff(dpx[1], dpx[0], N * GH), rel_diff(dph[1], dph[0], N * GH),
                       rel_diff(ws[1]->dh0[0], ws[0]->dh0[0], BH), eh};
        double e_max = 0;
        for (int i = 0; i < 6; i++) e_max = e[i] > e_max ? e[i] : e_max;
        if (e_max > worst) worst = e_max;
        int same = same_h && same_bits(ws[1]->hs[0], ws[2]->hs[0], nh) && same_bits(dpx[1], dpx[2], N * GH) &&
                   same_bits(dph[1], dph[2], N * GH) && same_bits(ws[1]->dh0[0], ws[2]->dh0[0], BH) &&
                   (!ws[1]->cs[0] || (same_bits(ws[1]->cs[0], ws[2]->cs[0], nh) &&
                                      same_bits(ws[1]->dc0[0], ws[2]->dc0[0], BH)));
        printf("  %-4s H=%-3d B=%-2d T=%d: vs plain twin %.2e (h, c, dpx, dph, dh0), 2 threads %s\n",
               recur_cell_name(cfg.cell), H, B, T, e_max, same ? "bit-identical" : "DIFFERENT");
        CHECK(e_max < 1e-5, "%s H=%d B=%d: recurrence differs from its twin by %.3g",
              recur_cell_name(cfg.cell), H, B, e_max);
        CHECK(same, "%s H=%d B=%d: 2 threads differ from 1", recur_cell_name(cfg.cell), H, B);
        for (int k = 0; k < 3; k++) {
            ws_free(m, ws[k]);
            free(douts[k]), free(dpx[k]), free(dph[k]);
        }
        free(px), free(dout), free(h0), free(c0);
        recur_model_free(m);
    }
    recur_vocab_free(v);
    (void)worst;
}

// The recurrence with bf16 products: near fp32's plain twin (bf16 keeps 8
// bits: 1e-2 relative over a few steps), not equal to fp32's (the bf16 path
// ran), and 1 vs 2 threads bit for bit.
static void test_recurrence_bf16(void)
{
    if (!gemm_has_bf16()) {
        printf("  no AVX512-BF16 here: bf16 recurrence not run (ws_set_bf16 leaves fp32)\n");
        return;
    }
    const int cases[][4] = {{0, 130, 7, 5}, {1, 130, 7, 5}, {2, 130, 7, 5}, {1, 64, 50, 4},
                            {2, 201, 13, 3}, {1, 520, 3, 2}};
    recur_vocab *v = NULL;
    CHECK(recur_vocab_from_text("abcdefg", 7, 0, &v, NULL) == 0, "vocab");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        recur_model_config cfg;
        recur_model_config_default(&cfg);
        cfg.cell = (recur_cell)cases[c][0];
        cfg.hidden = cases[c][1];
        cfg.layers = 1;
        const int B = cases[c][2], T = cases[c][3], H = cfg.hidden;
        recur_model *m = NULL;
        CHECK(recur_model_new(&cfg, v, 30 + c, &m, NULL) == 0, "model");
        const int GH = m->G * H;
        const size_t N = (size_t)T * B, BH = (size_t)B * H, nh = (N + B) * H;
        rng r;
        rng_seed(&r, 200 + c);
        float *px = malloc(sizeof(float) * N * GH), *dout = malloc(sizeof(float) * N * H);
        float *h0 = malloc(sizeof(float) * BH);
        fill(px, N * GH, &r, 1);
        fill(dout, N * H, &r, 1);
        fill(h0, BH, &r, 0.5f);
        workspace *ws[3] = {NULL, NULL, NULL};
        float *douts[3], *dpx[3], *dph[3];
        for (int k = 0; k < 3; k++) {
            CHECK(ws_new(m, T, B, k == 2 ? 2 : 1, &ws[k], NULL) == 0, "workspace");
            CHECK(ws_set_bf16(m, ws[k], k > 0, NULL) == 0 && ws[k]->bf16 == (k > 0), "ws_set_bf16");
            ws[k]->step_min_flops = 0;
            put_px(m, ws[k], px, N);
            memcpy(ws[k]->hs[0], h0, sizeof(float) * BH);
            if (ws[k]->cs[0]) memset(ws[k]->cs[0], 0, sizeof(float) * BH);
            douts[k] = malloc(sizeof(float) * N * H);
            memcpy(douts[k], dout, sizeof(float) * N * H);
            dpx[k] = malloc(sizeof(float) * N * GH);
            dph[k] = malloc(sizeof(float) * N * GH);
        }
        rec_forward_ref(m, ws[0], 0);
        rec_forward(m, ws[1], 0);
        rec_forward(m, ws[2], 0);
        rec_backward_ref(m, ws[0], 0, douts[0]);
        rec_backward(m, ws[1], 0, douts[1]);
        rec_backward(m, ws[2], 0, douts[2]);
        for (int k = 0; k < 3; k++) get_grads(m, ws[k], douts[k], N, dpx[k], dph[k]);
        double e[3] = {rel_diff(ws[1]->hs[0], ws[0]->hs[0], nh), rel_diff(dpx[1], dpx[0], N * GH),
                       rel_diff(ws[1]->dh0[0], ws[0]->dh0[0], BH)};
        double e_max = e[0] > e[1] ? e[0] : e[1];
        e_max = e[2] > e_max ? e[2] : e_max;
        int same = same_bits(ws[1]->hs[0], ws[2]->hs[0], nh) && same_bits(dpx[1], dpx[2], N * GH) &&
                   same_bits(dph[1], dph[2], N * GH) && same_bits(ws[1]->dh0[0], ws[2]->dh0[0], BH);
        printf("  bf16 %-4s H=%-3d B=%-2d T=%d: vs fp32 twin %.2e (h, dpx, dh0), 2 threads %s\n",
               recur_cell_name(cfg.cell), H, B, T, e_max, same ? "bit-identical" : "DIFFERENT");
        CHECK(e_max < 1e-2 && e_max > 1e-6, "bf16 %s H=%d: %.3g from fp32 (expected bf16 rounding: 1e-6..1e-2)",
              recur_cell_name(cfg.cell), H, e_max);
        CHECK(same, "bf16 %s H=%d B=%d: 2 threads differ from 1", recur_cell_name(cfg.cell), H, B);
        for (int k = 0; k < 3; k++) {
            ws_free(m, ws[k]);
            free(douts[k]), free(dpx[k]), free(dph[k]);
        }
        free(px), free(dout), free(h0);
        recur_model_free(m);
    }
    recur_vocab_free(v);
}

/* ---------------------------------------------------------------- pool */

typedef struct count_job {
    pool *p;
    atomic_int hits;
    int rounds;
    int bad;
} count_job;

static void count_fn(void *arg, int tid, int nth)
{
    count_job *c = arg;
    (void)tid;
    for (int i = 0; i < c->rounds; i++) {
        atomic_fetch_add(&c->hits, 1);
        pool_barrier(c->p);
        // After the barrier every thread of round i has counted.
        if (atomic_load(&c->hits) < (i + 1) * nth) c->bad = 1;
        pool_barrier(c->p);
    }
}

static void test_pool(void)
{
    for (int n = 1; n <= 3; n++) {
        pool *p = pool_new(n);
        CHECK(p != NULL, "pool_new(%d)", n);
        count_job c = {p, 0, 1000, 0};
        for (int rep = 0; rep < 3; rep++) {
            atomic_store(&c.hits, 0);
            pool_run(p, count_fn, &c);
            CHECK(atomic_load(&c.hits) == 1000 * pool_size(p) && !c.bad, "pool of %d: %d hits", n,
                  atomic_load(&c.hits));
        }
        pool_free(p);
    }
    printf("  pool: jobs and barriers with 1, 2 and 3 threads\n");
}

int main(void)
{
    const kern *p = kern_portable(), *a = kern_avx512();
    printf("kernels (this CPU runs: %s):\n", kern_get()->name);
    test_activations(p);
    if (a) {
        test_activations(a);
        test_builds_agree(a, p);
    } else {
        printf("  no AVX-512 here: the portable build only\n");
    }
    test_products();
    test_bf16_products();
    test_recurrence();
    test_recurrence_bf16();
    test_pool();
    return check_exit();
}
