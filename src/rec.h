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

#include "model.h"
#include "pool.h"

/* Allocates ws->rec (pool of ws->threads threads, packed weights, scratch). */
int rec_new(const recur_model *m, workspace *ws);
void rec_free(const recur_model *m, workspace *ws);

/* Makes the workspace's pool the one gemm_nn/tn/nt use on this thread for
 * the duration of a forward or backward; returns the previous one. */
pool *rec_enter(workspace *ws);
void rec_leave(pool *prev);

/* Unit u's recurrence over the window, from ws->px [T*B, G*H] (input
 * projections, b_ih included) and the state in slot 0 of ws->hs[u] (and
 * ws->cs[u]); fills slots 1..T and ws->cache[u]. */
void rec_forward(const recur_model *m, workspace *ws, int u);

/* Unit u's sweep back through time from dout [T*B, H] (gradient at its
 * outputs): fills ws->dpx and ws->dph [T*B, G*H] and leaves dL/dh_0, dL/dc_0
 * in ws->dh0[u], ws->dc0[u]. */
void rec_backward(const recur_model *m, workspace *ws, int u, const float *dout);

/* The window-wide pointwise sums, on the workspace's threads (each output
 * element summed over rows in increasing order by one thread):
 *   rec_colsum:  dst[j] += sum_i src[i*cols + j]                 (bias gradients)
 *   rec_scatter: W[j*ld + base + id[n]] += d[n*cols + j]          (one-hot input:
 *                the transpose of a column gather), j < cols
 *   rec_gather:  px[n*cols + j] = (bias ? bias[j] : px[n*cols + j])
 *                                 + wt[(base + id[n])*cols + j]  (its forward) */
void rec_colsum(workspace *ws, float *dst, const float *src, int rows, int cols);
void rec_scatter(workspace *ws, float *W, int ld, const float *d, const int32_t *id, int base,
                 int rows, int cols);
void rec_gather(workspace *ws, float *px, const float *wt, const int32_t *id, int base, int rows,
                int cols, const float *bias);

/* The same two, written plainly (libm activations, separate multiply and
 * add, one thread): the oracle of tests/test_kernels.c. */
void rec_forward_ref(const recur_model *m, workspace *ws, int u);
void rec_backward_ref(const recur_model *m, workspace *ws, int u, const float *dout);

#endif
