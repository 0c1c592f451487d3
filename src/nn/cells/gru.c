/*
 * gru.c - the GRU cell exactly as PyTorch's nn.GRU (gate order r, z, n;
 * the reset gate multiplies W_hn h + b_hn, after the product):
 *
 *   r = sigmoid(px_r + ph_r)
 *   z = sigmoid(px_z + ph_z)
 *   n = tanh(px_n + r * ph_n)
 *   h_t = (1 - z) * n + z * h_{t-1}
 *
 * cache per unit: r, z, n, ph_n. Derivation: docs/math.md#gru.
 */
#include "nn/cells/cell.h"

#include <math.h>

static void gru_forward(int B, int H, int relu, const float *px, const float *ph,
                        const float *h_prev, const float *c_prev, float *h, float *c, float *cache)
{
    int G = 3 * H;
    for (int b = 0; b < B; b++) {
        const float *x = px + b * G, *p = ph + b * G;
        float *k = cache + b * 4 * H;
        for (int u = 0; u < H; u++) {
            float r = sigmoidf_(x[u] + p[u]);
            float z = sigmoidf_(x[H + u] + p[H + u]);
            float n = tanhf(x[2 * H + u] + r * p[2 * H + u]);
            h[b * H + u] = (1.0f - z) * n + z * h_prev[b * H + u];
            k[u] = r;
            k[H + u] = z;
            k[2 * H + u] = n;
            k[3 * H + u] = p[2 * H + u];
        }
    }
}

static void gru_backward(int B, int H, int relu, const float *dh, float *dc, const float *h_prev,
                         const float *c_prev, const float *h, const float *c, const float *cache,
                         float *dpx, float *dph, float *dh_prev)
{
    int G = 3 * H;
    for (int b = 0; b < B; b++) {
        const float *k = cache + b * 4 * H;
        float *dx = dpx + b * G, *dp = dph + b * G;
        for (int u = 0; u < H; u++) {
            int i = b * H + u;
            float r = k[u], z = k[H + u], n = k[2 * H + u], phn = k[3 * H + u];
            // (1) h = (1 - z) n + z h_prev
            float dn = dh[i] * (1.0f - z);
            float dz = dh[i] * (h_prev[i] - n);
            dh_prev[i] = dh[i] * z;
            // (2) n = tanh(px_n + r * ph_n)
            float dan = dn * (1.0f - n * n);
            float dr = dan * phn;
            dx[2 * H + u] = dan;
            dp[2 * H + u] = dan * r;
            // (3) r, z through their sigmoids; px and ph enter as a sum
            float dar = dr * r * (1.0f - r), daz = dz * z * (1.0f - z);
            dx[u] = dp[u] = dar;
            dx[H + u] = dp[H + u] = daz;
        }
    }
}

const cell_def cell_gru = {
    .name = "gru", .id = RECUR_CELL_GRU, .gates = 3, .has_c = 0, .cache = 4, .dph_apart = 1,
    .forward = gru_forward, .backward = gru_backward,
};
