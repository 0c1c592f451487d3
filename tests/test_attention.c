/*
 * test_attention.c - the seq2seq attention kernels: weights sum to one over
 * each row's real source steps (zero past it), and the backward pass agrees
 * with central differences for every input and parameter, with rows of
 * different source lengths.
 */
#include "nn/attention.h"
#include "check.h"
#include "base/rng.h"

#include <stdlib.h>
#include <string.h>

enum { S = 5, T = 4, B = 3, HE = 6, HD = 4, C = HE + HD };

static float enc[S * B * HE], dec[T * B * HD], W_a[HD * HE], W_c[HD * C], b_c[HD], R[T * B * HD];
static const int32_t lens[B] = {5, 2, 1};

// L = sum(out * R): a fixed random projection makes every output matter.
static double loss(void)
{
    attn_dims d = {S, T, B, HE, HD};
    static float keys[S * B * HD], alpha[T * B * S], cat[T * B * C], out[T * B * HD];
    attn_keys(&d, W_a, enc, keys, 1);
    attn_forward(&d, lens, enc, keys, dec, W_c, b_c, alpha, cat, out, 1);
    double l = 0;
    for (int i = 0; i < T * B * HD; i++) l += (double)out[i] * R[i];
    return l;
}

static void check_grad(const char *name, float *p, const float *g, int n)
{
    double worst = 0;
    int checked = 0;
    for (int i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + 1e-2f;
        double lp = loss();
        p[i] = keep - 1e-2f;
        double lm = loss();
        p[i] = keep;
        double num = (lp - lm) / 2e-2, ana = g[i], den = fmax(fabs(num), fabs(ana));
        if (den < 1e-4) continue;
        worst = fmax(worst, fabs(num - ana) / den);
        checked++;
    }
    printf("  %-8s %4d entries, worst relative error %.2e\n", name, checked, worst);
    CHECK(worst < 1e-2 && checked > 0, "%s: worst relative error %.3g", name, worst);
}

int main(void)
{
    rng r;
    rng_seed(&r, 3);
    float *all[] = {enc, dec, W_a, W_c, b_c, R};
    int sizes[] = {S * B * HE, T * B * HD, HD * HE, HD * C, HD, T * B * HD};
    for (int k = 0; k < 6; k++)
        for (int i = 0; i < sizes[k]; i++) all[k][i] = rng_uniform(&r) * 2 - 1;

    attn_dims d = {S, T, B, HE, HD};
    static float keys[S * B * HD], alpha[T * B * S], cat[T * B * C], out[T * B * HD];
    attn_keys(&d, W_a, enc, keys, 1);
    attn_forward(&d, lens, enc, keys, dec, W_c, b_c, alpha, cat, out, 1);
    printf("attention:\n");
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            double s = 0;
            for (int i = 0; i < S; i++) {
                s += alpha[(t * B + b) * S + i];
                if (i >= lens[b]) CHECK(alpha[(t * B + b) * S + i] == 0, "weight past the source end");
            }
            CHECK(fabs(s - 1) < 1e-6, "weights of row (%d,%d) sum to %g", t, b, s);
        }

    static float dW_a[HD * HE], dW_c[HD * C], db_c[HD], denc[S * B * HE], ddec[T * B * HD];
    float *scratch = calloc((size_t)attn_scratch(&d), sizeof(float));
    attn_backward(&d, lens, enc, keys, dec, W_a, W_c, alpha, cat, out, R, dW_a, dW_c, db_c, denc,
                  ddec, scratch, 1);
    free(scratch);
    // Encoder outputs past a row's length must get no gradient.
    for (int b = 0; b < B; b++)
        for (int i = lens[b]; i < S; i++)
            for (int k = 0; k < HE; k++) CHECK(denc[(i * B + b) * HE + k] == 0, "gradient into padding");
    check_grad("W_a", W_a, dW_a, HD * HE);
    check_grad("W_c", W_c, dW_c, HD * C);
    check_grad("b_c", b_c, db_c, HD);
    check_grad("enc", enc, denc, S * B * HE);
    check_grad("dec", dec, ddec, T * B * HD);
    return check_exit();
}
