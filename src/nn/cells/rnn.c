/*
 * rnn.c - the vanilla RNN cell of the founding text (Karpathy / CS231n):
 *
 *   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (or relu)
 *
 * which is the seed's h_t = tanh(W_hh h_{t-1} + W_xh x_t) with biases.
 * Derivation of the backward: docs/math.md#vanilla-rnn.
 */
#include "nn/cells/cell.h"

#include <math.h>
#include <string.h>

static void rnn_forward(int B, int H, int relu, const float *px, const float *ph,
                        const float *h_prev, const float *c_prev, float *h, float *c, float *cache)
{
    for (int i = 0; i < B * H; i++) {
        float a = px[i] + ph[i];
        h[i] = relu ? (a > 0.0f ? a : 0.0f) : tanhf(a);
    }
}

static void rnn_backward(int B, int H, int relu, const float *dh, float *dc, const float *h_prev,
                         const float *c_prev, const float *h, const float *c, const float *cache,
                         float *dpx, float *dph, float *dh_prev)
{
    for (int i = 0; i < B * H; i++) {
        // The derivative from the output alone: tanh' = 1 - h^2, relu' = [h > 0].
        float d = relu ? (h[i] > 0.0f ? dh[i] : 0.0f) : dh[i] * (1.0f - h[i] * h[i]);
        dpx[i] = d;
        dph[i] = d;
    }
    memset(dh_prev, 0, sizeof(float) * (size_t)B * (size_t)H);
}

const cell_def cell_rnn = {
    .name = "rnn", .id = RECUR_CELL_RNN, .gates = 1, .has_c = 0, .cache = 0,
    .forward = rnn_forward, .backward = rnn_backward,
};
