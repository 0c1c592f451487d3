/*
 * attention.c - Luong "general" attention (attention.h has the equations):
 * the decoder's state at each target step scores every encoder output
 * through W_a, reads their softmax-weighted sum, and mixes it with its own
 * state through W_c. Plain loops: the products here are small (a source of
 * tens of steps) next to the recurrences around them.
 */
#include "attention.h"

#include <math.h>
#include <string.h>

static float dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

long attn_scratch(const attn_dims *d)
{
    return (long)d->S * d->B * d->Hd + d->He + d->Hd + d->S;
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
    (void)threads;
    const int S = d->S, B = d->B, He = d->He, Hd = d->Hd, C = He + Hd;
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
                for (int k = 0; k < He; k++) x[k] += a[i] * e[k];
            }
            memcpy(x + He, q, sizeof(float) * (size_t)Hd);
            // o_t = tanh(W_c cat + b_c)
            for (int j = 0; j < Hd; j++) out[row * Hd + j] = tanhf(dot(W_c + (long)j * C, x, C) + b_c[j]);
        }
}

void attn_backward(const attn_dims *d, const int32_t *lens, const float *enc, const float *keys,
                   const float *dec, const float *W_a, const float *W_c, const float *alpha,
                   const float *cat, const float *out, const float *dout, float *dW_a,
                   float *dW_c, float *db_c, float *denc, float *ddec, float *scratch,
                   int threads)
{
    (void)threads;
    const int S = d->S, B = d->B, He = d->He, Hd = d->Hd, C = He + Hd;
    float *dkeys = scratch;                        // [S*B, Hd]
    float *dcat = dkeys + (long)S * B * Hd;        // [C]
    float *dal = dcat + C;                         // [S]
    memset(dkeys, 0, sizeof(float) * (size_t)S * B * Hd);
    for (int t = 0; t < d->T; t++)
        for (int b = 0; b < B; b++) {
            long row = (long)t * B + b;
            const float *a = alpha + row * S, *x = cat + row * C, *q = dec + row * Hd;
            const float *o = out + row * Hd, *go = dout + row * Hd;
            float *gq = ddec + row * Hd;
            int n = lens[b];
            // (1) o = tanh(z): dz = do * (1 - o^2); dW_c += dz cat^T; db_c += dz; dcat = W_c^T dz
            memset(dcat, 0, sizeof(float) * (size_t)C);
            for (int j = 0; j < Hd; j++) {
                float dz = go[j] * (1.0f - o[j] * o[j]);
                if (dz == 0.0f) continue;
                db_c[j] += dz;
                float *gw = dW_c + (long)j * C;
                const float *w = W_c + (long)j * C;
                for (int k = 0; k < C; k++) {
                    gw[k] += dz * x[k];
                    dcat[k] += dz * w[k];
                }
            }
            // (2) cat = [c; d]: the d half goes straight to the decoder state
            for (int k = 0; k < Hd; k++) gq[k] += dcat[He + k];
            // (3) c = sum_i a_i e_i: da_i = dc . e_i, de_i += a_i dc
            float adot = 0.0f;
            for (int i = 0; i < n; i++) {
                const float *e = enc + ((long)i * B + b) * He;
                float *ge = denc + ((long)i * B + b) * He;
                dal[i] = dot(dcat, e, He);
                adot += a[i] * dal[i];
                for (int k = 0; k < He; k++) ge[k] += a[i] * dcat[k];
            }
            // (4) softmax: ds_i = a_i (da_i - sum_j a_j da_j); s_i = d . k_i
            for (int i = 0; i < n; i++) {
                float ds = a[i] * (dal[i] - adot);
                const float *k = keys + ((long)i * B + b) * Hd;
                float *gk = dkeys + ((long)i * B + b) * Hd;
                for (int j = 0; j < Hd; j++) {
                    gq[j] += ds * k[j];
                    gk[j] += ds * q[j];
                }
            }
        }
    // (5) k_i = W_a e_i: dW_a += dk e^T; de += W_a^T dk
    for (long r = 0; r < (long)S * B; r++) {
        const float *gk = dkeys + r * Hd, *e = enc + r * He;
        float *ge = denc + r * He;
        for (int j = 0; j < Hd; j++) {
            if (gk[j] == 0.0f) continue;
            float *gw = dW_a + (long)j * He;
            const float *w = W_a + (long)j * He;
            for (int k = 0; k < He; k++) {
                gw[k] += gk[j] * e[k];
                ge[k] += gk[j] * w[k];
            }
        }
    }
}
