/*
 * gradcheck.h - analytic vs numerical gradients (central differences) for
 * every parameter tensor of a model, the CS231n habit as a library call.
 */
#ifndef RECUR_GRADCHECK_H
#define RECUR_GRADCHECK_H

#include "model.h"

/* Compares the gradient of the mean loss on (ids, tgt) [T*B] (and cond, the
 * classes of a conditioned model, or NULL) from the given
 * initial states (h0/c0: [L][B*H], may be NULL for zeros) for up to
 * per_tensor entries of each tensor. corrupt >= 0 adds 1% + 1e-3 to the
 * analytic gradient of tensor number `corrupt` first: the self-test that
 * proves the check can fail. Rows are in table order. */
int gradcheck_model(recur_model *m, const int32_t *ids, const int32_t *tgt, const int32_t *cond,
                    int T, int B,
                    float *const *h0, float *const *c0, int per_tensor, int corrupt,
                    uint64_t seed, recur_gradcheck_row *rows, int *nrows, recur_error *err);

#endif
