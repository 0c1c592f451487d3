/*
 * order.h - the epoch order of a task that trains on separate examples
 * (classification, tagging, generation by class, seq2seq): a permutation of
 * the training examples, the position in it, the epoch count and the
 * shuffling generator, and their part of a resumable state (train.order,
 * recur.state.pos, .epoch, .shuffle, .batch; docs/format.md). What "pos" and
 * "epoch" count is the task's; this file only keeps, saves and checks them.
 */
#ifndef RECUR_ORDER_H
#define RECUR_ORDER_H

#include "train/engine.h"

typedef struct epoch_order {
    size_t *idx;          /* [n] this epoch's order */
    size_t n, pos;        /* examples; the task's position in the epoch */
    long long epoch;      /* the task's epoch count */
    rng shuffle;
    int batch;            /* the batch size pos may count in: a state of another is refused */
    int64_t *saved;       /* [n] idx as written */
    char spos[32], sepoch[32], srng[80], sbatch[16];
} epoch_order;

/* The identity order of n examples and a generator seeded with seed. */
int order_init(epoch_order *o, size_t n, int batch, uint64_t seed, recur_error *err);
void order_free(epoch_order *o);
/* Adds the order's tensor and metadata to a state being written (o keeps
 * their storage until the next call). */
void order_state_add(epoch_order *o, engine_extra *x);
/* Reads them back from f after checking all of them: the same batch size,
 * pos in [0, pos_max], a generator state, and an order that is a
 * permutation of the n examples (what = "examples", "pairs": for messages).
 * Nothing is taken unless everything is right. */
int order_state_read(epoch_order *o, const st_file *f, const char *path, long pos_max,
                     const char *what, recur_error *err);

#endif
