/*
 * seqtask.h - training and evaluating a model on separate examples (not one
 * long text): sequences of different lengths, batched with padding, with a
 * loss either at every step (tagging, generation by class) or once per
 * sequence from its final states (classification). The applications
 * (apps.c) turn their data into seq_items; this file only sees ids.
 */
#ifndef RECUR_SEQTASK_H
#define RECUR_SEQTASK_H

#include "nn/model.h"

typedef struct seq_item {
    const int32_t *ids; /* [len] inputs */
    const int32_t *tgt; /* [len] per-step targets (-1: no loss here), or NULL when pooled */
    int len;            /* >= 1 */
    int label;          /* pooled: the sequence's class */
    int cond;           /* conditioning class (models with Cc > 0) */
} seq_item;

typedef struct seq_config {
    int pool;        /* 1: one answer per sequence (ws->pool) */
    int batch;
    double epochs;   /* used when steps == 0 */
    long long steps;
    recur_optim optim;
    float lr, lr_decay; /* lr is multiplied by lr_decay after every epoch */
    float clip;         /* global norm (0: off) */
    uint64_t seed;
    int threads;
    int eval_every;  /* steps between validation passes (0: once per epoch) */
    int select_by_loss; /* 1: keep the model with the lowest validation loss, else the most accurate */
} seq_config;

typedef struct seq_eval {
    double loss;       /* mean nats per counted target */
    long long correct; /* argmax == target */
    long long total;   /* counted targets */
} seq_eval;

/* Runs the model over items and scores it. pred (optional) gets the argmax:
 * [n] labels when pooled, else one per step concatenated in item order
 * (sum of lens; -1 where the target is -1). */
int seq_evaluate(const recur_model *m, const seq_item *items, size_t n, int pool, int batch,
                 int threads, seq_eval *res, int32_t *pred, recur_error *err);

/* Trains m on train, validating on val (may be empty) every eval_every steps
 * (or each epoch) and at the end. The best model on validation is written to
 * best_path (if not NULL) and left in m at the end. Progress goes to cb with
 * RECUR_EV_STEP and RECUR_EV_EVAL events (val_loss; best_val holds the
 * accuracy of the last validation in [0, 1]). */
int seq_train(recur_model *m, const seq_item *train, size_t ntrain, const seq_item *val,
              size_t nval, const seq_config *cfg, const char *best_path, recur_train_callback cb,
              void *user, recur_error *err);

#endif
