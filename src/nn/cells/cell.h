/*
 * cell.h - what a recurrent cell is to the rest of recur: the pointwise part
 * of one time step, forward and backward. The matrix products around it are
 * the same for every cell and live in model.c:
 *
 *   px_t = W_ih x_t + b_ih          [B, G*H]  (all T steps at once, one GEMM)
 *   ph_t = W_hh h_{t-1} + b_hh      [B, G*H]  (one GEMM per step: the critical path)
 *   h_t, c_t = cell(px_t, ph_t, h_{t-1}, c_{t-1})
 *
 * Keeping px and ph apart (instead of summing them) is what lets GRU put
 * b_hn inside r * (W_hn h + b_hn), as PyTorch does. Gate blocks are in
 * PyTorch's order (LSTM i,f,g,o; GRU r,z,n). Adding a cell = one new file
 * defining a cell_def, plus its line in cells.c.
 */
#ifndef RECUR_CELL_H
#define RECUR_CELL_H

#include "recur.h"

#include <math.h>

typedef struct cell_def {
    const char *name;  /* "rnn", "lstm", "gru": recur.cell in checkpoints */
    recur_cell id;
    int gates;         /* G: gate blocks stacked in W_ih, W_hh, b_ih, b_hh */
    int has_c;         /* 1 if the cell carries a second state (LSTM's c) */
    int cache;         /* floats saved per unit per row per step for backward: 0, or at
                          least G (the step's input projections are first written there) */
    int dph_apart;     /* 1 if dph's last gate block differs from dpx's (GRU: r * dpx_n);
                          rec.c keeps it in the cache's last H columns after the backward */

    /* One step for B rows. Reads px, ph [B,G*H], h_prev, c_prev [B,H] (c only
     * if has_c); writes h [B,H], c [B,H] (if has_c) and cache [B, cache*H].
     * px may be the same memory as cache (G*H == cache*H, or B == 1) or, for a
     * cell without a cache, as h: every element is read before the same
     * element of cache (h) is written, so the step may run in place. */
    void (*forward)(int B, int H, int relu, const float *px, const float *ph,
                    const float *h_prev, const float *c_prev, float *h, float *c, float *cache);

    /* The step's backward. dh [B,H]: dL/dh_t, everything that reaches h_t.
     * dc [B,H] (has_c): on entry dL/dc_t from step t+1, on exit dL/dc_{t-1}.
     * Writes dpx, dph [B,G*H] (the gradients of px_t and ph_t; equal except
     * for GRU's n block) and dh_prev [B,H]: the part of dL/dh_{t-1} that
     * does not go through W_hh (GRU's z*h term; zero for RNN and LSTM).
     * dpx may be the same memory as cache (as for the forward): the cache's
     * elements of a unit are read before its dpx is written; dph may equal
     * dpx when they are the same. */
    void (*backward)(int B, int H, int relu, const float *dh, float *dc, const float *h_prev,
                     const float *c_prev, const float *h, const float *c, const float *cache,
                     float *dpx, float *dph, float *dh_prev);
} cell_def;

/* The cell for an id, or NULL. */
const cell_def *cell_get(recur_cell id);
/* The cell for a name ("rnn", ...), or NULL. */
const cell_def *cell_find(const char *name);

/* Activations shared by the cells (scalar; documented error: exact libm). */
static inline float sigmoidf_(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

#endif
