/*
 * optim.h - optimizers over the flat parameter buffer, with PyTorch's update
 * rules, and gradient clipping. One loop each: the parameter table means no
 * optimizer ever needs to know which tensor it is updating.
 */
#ifndef RECUR_OPTIM_H
#define RECUR_OPTIM_H

#include "base/internal.h"

typedef struct optim_state {
    recur_optim kind;
    size_t n;
    float *m;       /* adam: first moment; sgd: momentum buffer; adagrad/rmsprop: unused */
    float *v;       /* adam: second moment; adagrad: sum of squares; rmsprop: mean square */
    long long t;    /* updates taken (adam's bias correction) */
} optim_state;

int optim_init(optim_state *o, recur_optim kind, size_t n, recur_error *err);
void optim_free(optim_state *o);
/* One update of w from g. Adam runs on kern.h's vector kernel; the others,
 * and optim_step_ref for every kind, are the plain per-element loop the
 * kernel is tested against (the two give the same bits). optim_step returns
 * 1 when every weight is finite after the update, 0 if one overflowed or is
 * NaN (checked in the same pass). */
int optim_step(optim_state *o, float *w, const float *g, float lr, float momentum);
void optim_step_ref(optim_state *o, float *w, const float *g, float lr, float momentum);
const char *optim_name(recur_optim kind);
int optim_parse(const char *name); /* -1 if unknown */

/* Decoupled weight decay over w[0..n): w <- w * (1 - lr * wd) (AdamW's, applied
 * before the optimizer's own update). */
void decay_weights(float *w, size_t n, float lr, float wd);
/* sqrt(sum g^2), accumulated in double (kern.h's sumsq: a fixed order). */
double grad_norm(const float *g, size_t n);
/* Scales g so its norm is at most max_norm (given its current norm). */
void clip_by_norm(float *g, size_t n, double norm, float max_norm);
/* Clamps every element to [-clip, clip] (min-char-rnn, char-rnn). */
void clip_by_value(float *g, size_t n, float clip);

#endif
