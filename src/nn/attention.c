/*
 * attention.c - Luong "general" attention (attention.h has the equations):
 * the decoder's state at each target step scores every encoder output
 * through W_a, reads their softmax-weighted sum, and mixes it with its own
 * state through W_c. The products with W_a and W_c (and their gradients)
 * run over all rows at once as GEMMs; the per-row scores, softmax and
 * context are plain loops of O(S * H) each.
 */
#include "nn/attention.h"

#include "kernels/gemm.h"

#include <math.h>
#include <string.h>

// Eight independent partial sums: one running sum is a chain of dependent
// additions (the latency of each add, per element), and the compiler may
// not reorder float additions to vectorise it; eight chains it can.
static float dot(const float *a, const float *b, int n)
{
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float t = 0.0f;
    for (; i < n; i++) t += a[i] * b[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])) + t;
}

// y += a x. Unrolled by eight over restrict pointers so that the compiler
// vectorises it at -O2; each element is the same single multiply-add as the
// plain loop, so results do not change.
static void axpy(float *restrict y, float a, const float *restrict x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) y[i + k] += a * x[i + k];
    for (; i < n; i++) y[i] += a * x[i];
}

long attn_scratch(const attn_dims *d)
{
    // dkeys [S*B, Hd], dz [T*B, Hd], dcat [T*B, He+Hd], dalpha [S]
    return (long)d->S * d->B * d->Hd + (long)d->T * d->B * (2L * d->Hd + d->He) + d->S;
}

void attn_keys(const attn_dims *d, const float *W_a, const float *enc, float *keys, int threads)
{
    (void)threads;
    for (long r = 0; r < (long)d->S * d->B; r++)
        for (int j = 0; j < d->Hd; j++) keys[r * d->Hd + j] = dot(W_a + (long)j * d->He, enc + r * d->He, d->He);
}

void attn_forward(const attn_dims *d, const int32_t *lens, const float *enc, const float *keys,
                  const float *dec, const float *W_c, const float *b_c, float *alpha, float *cat,
                  float *out, int threads)
{
    const int S = d->S, B = d->B, He = d->He, Hd = d->Hd, C = He + Hd;
    const long TB = (long)d->T * B;
    for (int t = 0; t < d->T; t++)
        for (int b = 0; b < B; b++) {
            long row = (long)t * B + b;
            const float *q = dec + row * Hd;
            float *a = alpha + row * S, *x = cat + row * C;
            int n = lens[b];
            // s_i = d_t . k_i, softmax over the row's real source steps only
            float mx = -INFINITY;
            for (int i = 0; i < n; i++) {
                a[i] = dot(q, keys + ((long)i * B + b) * Hd, Hd);
                mx = a[i] > mx ? a[i] : mx;
            }
            float sum = 0.0f;
            for (int i = 0; i < n; i++) sum += (a[i] = expf(a[i] - mx));
            for (int i = 0; i < n; i++) a[i] /= sum;
            for (int i = n; i < S; i++) a[i] = 0.0f;
            // c_t = sum_i a_i e_i; cat = [c_t; d_t]
            memset(x, 0, sizeof(float) * (size_t)He);
            for (int i = 0; i < n; i++) {
                const float *e = enc + ((long)i * B + b) * He;
                axpy(x, a[i], e, He);
            }
            memcpy(x + He, q, sizeof(float) * (size_t)Hd);
        }
    // o_t = tanh(W_c cat + b_c), all T*B rows in one product.
    for (long r = 0; r < TB; r++) memcpy(out + r * Hd, b_c, sizeof(float) * (size_t)Hd);
    gemm_nt((int)TB, Hd, C, cat, C, W_c, C, out, Hd, 1, threads);
    for (long i = 0; i < TB * Hd; i++) out[i] = tanhf(out[i]);
}

void attn_backward(const attn_dims *d, const int32_t *lens, const float *enc, const float *keys,
                   const float *dec, const float *W_a, const float *W_c, const float *alpha,
                   const float *cat, const float *out, const float *dout, float *dW_a,
                   float *dW_c, float *db_c, float *denc, float *ddec, float *scratch,
                   int threads)
{
    const int S = d->S, B = d->B, He = d->He, Hd = d->Hd, C = He + Hd;
    const long TB = (long)d->T * B, SB = (long)S * B;
    float *dkeys = scratch;                        // [S*B, Hd]
    float *dz = dkeys + SB * Hd;                   // [T*B, Hd]
    float *dcat = dz + TB * Hd;                    // [T*B, C]
    float *dal = dcat + TB * C;                    // [S]
    memset(dkeys, 0, sizeof(float) * (size_t)SB * Hd);
    // (1) o = tanh(z): dz = do * (1 - o^2); db_c += sum dz; dW_c += dz^T cat;
    // dcat = dz W_c (the products over all T*B rows at once)
    for (long i = 0; i < TB * Hd; i++) dz[i] = dout[i] * (1.0f - out[i] * out[i]);
    for (long r = 0; r < TB; r++)
        for (int j = 0; j < Hd; j++) db_c[j] += dz[r * Hd + j];
    gemm_tn(Hd, C, (int)TB, dz, Hd, cat, C, dW_c, C, 1, threads);
    gemm_nn((int)TB, C, Hd, dz, Hd, W_c, C, dcat, C, 0, threads);
    for (int t = 0; t < d->T; t++)
        for (int b = 0; b < B; b++) {
            long row = (long)t * B + b;
            const float *a = alpha + row * S, *q = dec + row * Hd, *dc = dcat + row * C;
            float *gq = ddec + row * Hd;
            int n = lens[b];
            // (2) cat = [c; d]: the d half goes straight to the decoder state
            for (int k = 0; k < Hd; k++) gq[k] += dc[He + k];
            // (3) c = sum_i a_i e_i: da_i = dc . e_i, de_i += a_i dc
            float adot = 0.0f;
            for (int i = 0; i < n; i++) {
                const float *e = enc + ((long)i * B + b) * He;
                float *ge = denc + ((long)i * B + b) * He;
                dal[i] = dot(dc, e, He);
                adot += a[i] * dal[i];
                axpy(ge, a[i], dc, He);
            }
            // (4) softmax: ds_i = a_i (da_i - sum_j a_j da_j); s_i = d . k_i
            for (int i = 0; i < n; i++) {
                float ds = a[i] * (dal[i] - adot);
                const float *k = keys + ((long)i * B + b) * Hd;
                float *gk = dkeys + ((long)i * B + b) * Hd;
                axpy(gq, ds, k, Hd);
                axpy(gk, ds, q, Hd);
            }
        }
    // (5) k_i = W_a e_i: dW_a += dk^T e; de += dk W_a
    gemm_tn(Hd, He, (int)SB, dkeys, Hd, enc, He, dW_a, He, 1, threads);
    gemm_nn((int)SB, He, Hd, dkeys, Hd, W_a, He, denc, He, 1, threads);
}
