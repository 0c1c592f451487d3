/*
 * gradcheck.h - analytic vs numerical gradients (central differences) for
 * every parameter tensor of a model, the CS231n habit as a library call.
 */
#ifndef RECUR_GRADCHECK_H
#define RECUR_GRADCHECK_H

#include "nn/model.h"

/* A window to differentiate on: ids and cond [T*B]; tgt [T*B], or [B] when
 * pool (one answer per row, as a classifier); lens [B] or NULL (all T). */
typedef struct gc_window {
    const int32_t *ids, *tgt, *cond, *lens;
    int T, B, pool;
    int bf16; /* the analytic gradient from bf16 products (ws_set_bf16; the
                 numerical one stays fp32): the check of bf16 training.
                 Where the CPU has no bf16 products, both are fp32 */
    int recompute; /* > 0: both sides through a recomputing workspace
                      (ws_set_recompute) whose chunks are at most this many
                      rows (a step's B rows at least): the check of the
                      chunked forward and of the backward that remakes gates */
} gc_window;

/* Compares the gradient of the mean loss on the window from the given
 * initial states (h0/c0: one [B*H] per unit, or NULL for zeros) for up to
 * per_tensor entries of each tensor. corrupt >= 0 adds 1% + 1e-3 to the
 * analytic gradient of tensor number `corrupt` first: the self-test that
 * proves the check can fail. Rows are in table order. */
int gradcheck_model(recur_model *m, const gc_window *w, float *const *h0, float *const *c0,
                    int per_tensor, int corrupt, uint64_t seed, recur_gradcheck_row *rows,
                    int *nrows, recur_error *err);

#endif
