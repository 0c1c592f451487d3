/*
 * lstm.c - the LSTM cell, with PyTorch's gate order i, f, g, o:
 *
 *   i = sigmoid(px_i + ph_i)   f = sigmoid(px_f + ph_f)
 *   g = tanh(px_g + ph_g)      o = sigmoid(px_o + ph_o)
 *   c_t = f * c_{t-1} + i * g
 *   h_t = o * tanh(c_t)
 *
 * cache per unit: i, f, g, o (tanh(c_t) is recomputed from c_t in the backward,
 * which saves a fifth of the cache). Derivation: docs/math.md#lstm.
 */
#include "nn/cells/cell.h"

#include <math.h>
#include <string.h>

static void lstm_forward(int B, int H, int relu, const float *px, const float *ph,
                         const float *h_prev, const float *c_prev, float *h, float *c, float *cache)
{
    int G = 4 * H;
    for (int b = 0; b < B; b++) {
        const float *x = px + b * G, *r = ph + b * G;
        float *k = cache + b * 4 * H;
        for (int u = 0; u < H; u++) {
            float i = sigmoidf_(x[u] + r[u]);
            float f = sigmoidf_(x[H + u] + r[H + u]);
            float g = tanhf(x[2 * H + u] + r[2 * H + u]);
            float o = sigmoidf_(x[3 * H + u] + r[3 * H + u]);
            float ct = f * c_prev[b * H + u] + i * g;
            float tc = tanhf(ct);
            c[b * H + u] = ct;
            h[b * H + u] = o * tc;
            k[u] = i;
            k[H + u] = f;
            k[2 * H + u] = g;
            k[3 * H + u] = o;
        }
    }
}

static void lstm_backward(int B, int H, int relu, const float *dh, float *dc, const float *h_prev,
                          const float *c_prev, const float *h, const float *c, const float *cache,
                          float *dpx, float *dph, float *dh_prev)
{
    int G = 4 * H;
    for (int b = 0; b < B; b++) {
        const float *k = cache + b * 4 * H;
        float *dx = dpx + b * G, *dr = dph + b * G;
        for (int u = 0; u < H; u++) {
            int n = b * H + u;
            float i = k[u], f = k[H + u], g = k[2 * H + u], o = k[3 * H + u], tc = tanhf(c[n]);
            // (1) h = o * tanh(c): into o, and into c on top of what c_{t+1} sent back.
            float d_o = dh[n] * tc;
            float dct = dc[n] + dh[n] * o * (1.0f - tc * tc);
            // (2) c = f * c_prev + i * g
            float di = dct * g, dg = dct * i, df = dct * c_prev[n];
            dc[n] = dct * f;
            // (3) through the gate nonlinearities to the pre-activations
            dx[u] = di * i * (1.0f - i);
            dx[H + u] = df * f * (1.0f - f);
            dx[2 * H + u] = dg * (1.0f - g * g);
            dx[3 * H + u] = d_o * o * (1.0f - o);
        }
        if (dr != dx) memcpy(dr, dx, sizeof(float) * (size_t)G);
    }
    memset(dh_prev, 0, sizeof(float) * (size_t)B * (size_t)H);
}

const cell_def cell_lstm = {
    .name = "lstm", .id = RECUR_CELL_LSTM, .gates = 4, .has_c = 1, .cache = 4,
    .forward = lstm_forward, .backward = lstm_backward,
};
