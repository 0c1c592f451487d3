/*
 * trainer.h - the trainer's fields, for the two files that make up the
 * engine: engine.c (the loop) and state.c (the resumable state). Tasks see
 * only engine.h.
 */
#ifndef RECUR_TRAIN_TRAINER_H
#define RECUR_TRAIN_TRAINER_H

#include "train/engine.h"

#define MAX_SKIPS 10 /* consecutive non-finite steps before giving up */

struct recur_trainer {
    train_task *task;
    recur_train_config cfg;
    float *g[ENGINE_MAX_BUFS]; /* views of gbase: one buffer, one allreduce per step */
    float *gbase;
    size_t gtotal;
    recur_comm comm;           /* data-parallel ranks (comm.size 0: one process) */
    optim_state opt[ENGINE_MAX_BUFS];
    rng drop;                  /* dropout masks: saved in the state */
    long long step, total, per_epoch;
    float lr;                  /* lr x step decays x skip halvings (schedule_factor on top) */
    double last_val, last_metric; /* the last validation */
    double best_val, best_metric; /* the saved best model's */
    int skips;
    int plateau;               /* validations in a row without a lower loss (plateau schedule) */
    double plateau_best;       /* the lowest validation loss so far (plateau schedule) */
    char *best_path, *last_path;
    float *best_w[ENGINE_MAX_BUFS]; /* the best weights, kept when no best_path holds them */
    int have_best_w;
    int best_lost;             /* resumed, and best_path does not hold the run's best model */
};

#endif
