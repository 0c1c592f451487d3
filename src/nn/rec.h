/*
 * rec.h - the sequential part of a recurrent unit, fast: the T steps of
 * ph_t = W_hh h_{t-1} + b_hh followed by the cell (forward), and the sweep
 * back through time dh_{t-1} = dph_t W_hh + direct term (backward), on the
 * workspace's thread pool.
 *
 * Each thread owns a range of hidden units (blocks of 64) for the whole
 * window: it computes every gate's recurrent product for its units and then
 * the cell's pointwise step for them, so one barrier per step is the only
 * synchronisation (the next step needs all of h_t). For the forward, W_hh^T
 * is packed once per weight version into 64-column panels per gate, each
 * thread packing the panels it uses; the backward reads W_hh in place, or,
 * when its rows are long (H > 512), from panels packed alongside.
 *
 * Results are the same as model.c's reference loop up to float rounding
 * (fused multiply-adds, polynomial activations) and do not depend on the
 * thread count.
 */
#ifndef RECUR_REC_H
#define RECUR_REC_H

#include "nn/model.h"
#include "kernels/pool.h"

/* A unit's steps are shared between the pool's threads only from this many
 * FLOPs per step (2 B G H^2; ws->step_min_flops starts here). Each shared
 * step ends at a barrier, forward and backward: below about 4 MFLOP (rnn H128
 * at B50: 1.6 MFLOP, about 8 us of work) that made the whole training step
 * slower than one thread alone (2 threads: 282k chars/s at 0.4 MFLOP, 398k
 * at 4; lstm and gru H128 B50, 6.5 and 4.9 MFLOP, gain from sharing).
 * Results do not depend on it. */
#define REC_STEP_MIN_FLOPS 4e6

/* Allocates ws->rec (pool of ws->threads threads, packed weights, scratch). */
int rec_new(const recur_model *m, workspace *ws);
void rec_free(const recur_model *m, workspace *ws);
/* ws_set_bf16's part here: the bf16 panels and scratch (once); -1 when out
 * of memory. Sets ws->bf16. */
int rec_set_bf16(const recur_model *m, workspace *ws, int on);

/* Makes the workspace's pool the one gemm_nn/tn/nt use on this thread for
 * the duration of a forward or backward, and its precision theirs; returns
 * the previous pool. Not nested: rec_leave sets the precision back to fp32. */
pool *rec_enter(workspace *ws);
void rec_leave(pool *prev);

/* Where unit u's gate rows live. They have no buffers of their own: each
 * step's rows are written where that step's saved activations go, or where
 * something already read lies (docs/design.md#memory):
 *   px   [T*B, G*H] before rec_forward: the input projections (b_ih included),
 *        in the unit's cache (LSTM, GRU: the step's gates replace them), or in
 *        slots 1..T of ws->hs[u] (RNN: h_t replaces them);
 *   dpx  [T*B, G*H] after rec_backward: their gradients, over the cache again
 *        (a step's cache is dead once its gradients are made), or over dout
 *        (RNN: read at the start of the step);
 *   dph  the gradient of ph_t, equal to dpx except for GRU's n block
 *        (r * dpx_n), which is kept in the cache's last H columns.
 * Row n = t*B + b of px and dpx starts at n*ld; dph's blocks 0..G-2 are
 * dpx's, its last one starts at column dph_last of the row. dout is the
 * gradient rec_backward is (or was) given; NULL before a forward. */
typedef struct gate_rows {
    float *px, *dpx;
    int ld, dph_last;
} gate_rows;
gate_rows rec_rows(const recur_model *m, const workspace *ws, int u, float *dout);

/* Unit u's recurrence over the window, from the input projections in
 * rec_rows(...).px and the state in slot 0 of ws->hs[u] (and ws->cs[u]);
 * fills slots 1..T and ws->cache[u]. */
void rec_forward(const recur_model *m, workspace *ws, int u);

/* Recompute (ws->recompute, ws_set_recompute): the cache holds one chunk of
 * steps, rec_chunk_steps(ws) of them (the whole window otherwise), and the
 * row of step t in rec_rows(...) is the one of t - t0 while [t0, t1) runs.
 * rec_forward_steps runs steps [t0, t1) from slot t0 (the forward, chunk by
 * chunk, and again in the backward to remake a chunk's gates: the same
 * kernels on the same inputs, so the same bits); rec_backward_steps sweeps
 * back over [t0, t1), from zero when t1 == T, else from the dL/dh and dL/dc
 * the chunk above left in ws->dh0[u] and ws->dc0[u]. rec_forward and
 * rec_backward are the whole window, [0, T). */
int rec_chunk_steps(const workspace *ws);
void rec_forward_steps(const recur_model *m, workspace *ws, int u, int t0, int t1);

/* Unit u's sweep back through time from dout [T*B, H] (gradient at its
 * outputs; RNN: overwritten by the gate gradients): leaves dpx and dph where
 * rec_rows(m, ws, u, dout) says, and dL/dh_0, dL/dc_0 in ws->dh0[u], ws->dc0[u]. */
void rec_backward(const recur_model *m, workspace *ws, int u, float *dout);
void rec_backward_steps(const recur_model *m, workspace *ws, int u, float *dout, int t0, int t1);

/* The window-wide pointwise sums, on the workspace's threads (each output
 * element summed over rows in increasing order by one thread):
 *   rec_colsum:  dst[j] += sum_i src[i*lds + j]                  (bias gradients)
 *   rec_scatter: W[j*ld + base + id[n]] += d[n*ldd + j]          (one-hot input:
 *                the transpose of a column gather), j < cols
 *   rec_gather:  px[n*ldp + j] = (bias ? bias[j] : px[n*ldp + j])
 *                                 + wt[(base + id[n])*cols + j]  (its forward) */
void rec_colsum(workspace *ws, float *dst, const float *src, int lds, int rows, int cols);
void rec_scatter(workspace *ws, float *W, int ld, const float *d, int ldd, const int32_t *id,
                 int base, int rows, int cols);
void rec_gather(workspace *ws, float *px, int ldp, const float *wt, const int32_t *id, int base,
                int rows, int cols, const float *bias);

/* The same two, written plainly (libm activations, separate multiply and
 * add, one thread): the oracle of tests/test_kernels.c. */
void rec_forward_ref(const recur_model *m, workspace *ws, int u);
void rec_backward_ref(const recur_model *m, workspace *ws, int u, float *dout);

#endif
