/*
 * seqtask.h - training (through the engine) and evaluating a model on
 * separate examples (not one long text): sequences of different lengths, batched with padding, with a
 * loss either at every step (tagging, generation by class) or once per
 * sequence from its final states (classification). The applications
 * (apps.c) turn their data into seq_items; this file only sees ids.
 */
#ifndef RECUR_SEQTASK_H
#define RECUR_SEQTASK_H

#include "nn/model.h"
#include "train/engine.h"

typedef struct seq_item {
    const int32_t *ids; /* [len] inputs */
    const int32_t *tgt; /* [len] per-step targets (-1: no loss here), or NULL when pooled */
    int len;            /* >= 1 */
    int label;          /* pooled: the sequence's class */
    int cond;           /* conditioning class (models with Cc > 0) */
} seq_item;

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

/* ---------------------------------------------------------------- batches */

/* A workspace sized for the longest item and the batch, and the ids and
 * targets of one padded batch laid out time-major. */
typedef struct exbatch {
    workspace *ws;
    int Tcap, Bcap;
    int32_t *in, *tgt; /* [Tcap*Bcap] */
} exbatch;

int exb_new(const recur_model *m, const seq_item *a, size_t na, const seq_item *b, size_t nb,
            int batch, int threads, exbatch *bt, recur_error *err);
void exb_free(const recur_model *m, exbatch *bt);
/* Lays items idx[0..nb) out in the workspace (narrowed to this batch) and
 * returns the number of loss rows: nb when pooled, else T*nb. */
int exb_fill(exbatch *bt, const seq_item *items, const size_t *idx, int nb, int pool);
/* seq_evaluate on an existing batch workspace. */
int seq_evaluate_with(const recur_model *m, exbatch *bt, const seq_item *items, size_t n, int pool,
                      seq_eval *res, int32_t *pred, recur_error *err);

/* qsort has no context argument, so each index travels with its length. */
typedef struct keyed {
    int len;
    size_t idx;
} keyed;

/* A new epoch's order of items: shuffled by r, then sorted by length within
 * chunks of 50 batches so that each batch holds sequences of similar length
 * (tmp: scratch of n). */
void seq_epoch_order(size_t *order, size_t n, const seq_item *items, int batch, rng *r, keyed *tmp);

/* ---------------------------------------------------------------- the task */

/* What the application keeps for its trainer (data the items point into,
 * what its report needs); freed with the trainer. */
typedef struct seq_owner {
    void *data;
    void (*free)(void *data);
    /* The validation report of m (optional). */
    int (*report)(void *data, const recur_model *m, int threads, recur_report *r, recur_error *err);
} seq_owner;

/* A trainer for an example task: m (taken, freed with the trainer, also on
 * failure) learns train and validates on val. kind names the task
 * (classify: pooled, best by accuracy; tag: per step, best by accuracy;
 * condlm: per step, best by loss). owner is taken likewise. */
int seq_trainer_new(recur_task kind, recur_model *m, const seq_item *train, size_t ntrain,
                    const seq_item *val, size_t nval, const recur_train_config *cfg,
                    seq_owner owner, recur_trainer **out, recur_error *err);
/* Hands the model of a trainer made by seq_trainer_new to the caller; the
 * trainer can then only be freed. */
recur_model *seq_trainer_take_model(recur_trainer *t);

#endif
