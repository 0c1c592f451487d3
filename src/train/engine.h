/*
 * engine.h - the one training loop of librecur and the interface a task
 * plugs into it.
 *
 * The engine owns everything every task shares: the step (the task's
 * forward and backward -> the NaN/Inf guard -> clipping over the global
 * norm of every parameter buffer -> the optimizer -> the learning-rate
 * schedule), periodic validation with the task's metric, keep-best, the
 * periodic and final saves, the resumable state (optimizer moments, step,
 * learning rate, dropout generator, best scores), progress events and
 * threads. A task (task_lm.c, task_seq.c, task_s2s.c, or one defined
 * outside the library) supplies only what differs: its parameter buffers,
 * its batches with their loss and gradient, its validation metric, how its
 * model and its part of the state are written and read. Adding a task
 * touches nothing here.
 *
 * The engine does not know what a model is: it sees float buffers and
 * calls the task. It may use: base, kernels (through nn/optim), nn/optim,
 * formats.
 */
#ifndef RECUR_ENGINE_H
#define RECUR_ENGINE_H

#include "base/rng.h"
#include "formats/checkpoint.h"
#include "nn/optim.h"

#define ENGINE_MAX_BUFS 4   /* parameter buffers a task may have (seq2seq: 3) */
/* Tensors a state file may add to its model's: the optimizer's two per
 * buffer, and a task's own (the language model: h and c of up to 64 layers,
 * the stream positions). Metadata entries likewise (ENGINE_EXTRA_META in
 * formats/checkpoint.h is what a model writer takes beside its own). */
#define ENGINE_MAX_EXTRA (2 * ENGINE_MAX_BUFS + 2 * 64 + 8)

/* One parameter buffer the optimizer updates, and its gradient's owner. */
typedef struct engine_buf {
    float *w;
    size_t n;
    const size_t *decay;  /* [2*ndecay] (offset, count) ranges weight decay applies to: the
                             weight matrices, not the biases (NULL: none) */
    int ndecay;
    const char *name; /* names its optimizer tensors: "" -> optim.m / optim.v (the language
                         model's, as every state file before the engine); "encoder" ->
                         optim.encoder.m / optim.encoder.v */
} engine_buf;

/* What a task adds to a state file: tensors and metadata, whose storage the
 * task keeps alive until the engine has written the file. */
typedef struct engine_extra {
    st_entry e[ENGINE_MAX_EXTRA];
    size_t ne;
    st_kv kv[ENGINE_EXTRA_META];
    size_t nkv;
    int full; /* an add found no room: the state is refused, not written short */
} engine_extra;

/* Add a tensor or a metadata entry; past the room they set x->full (the
 * engine then fails the save with RECUR_EINVAL) instead of writing. */
void extra_tensor(engine_extra *x, st_entry e);
void extra_meta(engine_extra *x, const char *key, const char *value);

/* What one validation pass measured. */
typedef struct engine_val {
    double loss;   /* mean nats per predicted unit */
    double metric; /* the task's metric in [0, 1] (accuracy, exact match); NaN if none */
} engine_val;

/* A validation pass's sums over the part of the held-out data one rank
 * took (data-parallel runs): the engine adds them over the ranks, then
 * loss = loss_sum / count, metric = correct / total (NaN without totals). */
typedef struct engine_valsum {
    double loss_sum, count;
    double correct, total;
} engine_valsum;

typedef struct train_task train_task;

typedef struct train_task_ops {
    const char *name;   /* "lm", "classify", "tag", "condlm", "seq2seq", ... */
    const char *metric; /* name of the validation metric ("accuracy", "exact_match"), or NULL */
    /* keep-best: 1 = the highest metric wins (ties: the lower loss); 0 = the lowest loss */
    int best_by_metric;

    /* Steps in one pass over the training data. */
    long long (*steps_per_epoch)(train_task *t);
    /* The position in the data as a fractional epoch count. */
    double (*epoch)(train_task *t);
    /* One step's forward and backward: the next batch's loss (mean over its
     * counted units, in nats) and gradients ADDED into g[k] (zeroed by the
     * engine) for each buffer k. drop is the dropout generator (NULL: no
     * dropout). chars: input characters this step read (for speed). */
    int (*step)(train_task *t, float *const *g, rng *drop, double *loss, long long *chars,
                recur_error *err);
    /* After a skipped (non-finite) step: forget whatever the step carried
     * (the language model restarts its hidden state). May be NULL. */
    void (*after_skip)(train_task *t);
    /* The weights changed (workspaces re-pack their copies). */
    void (*touch)(train_task *t);
    /* Validation on the held-out data; has_val says whether there is any. */
    int (*has_val)(train_task *t);
    int (*validate)(train_task *t, engine_val *v, recur_error *err);
    /* Records the optimizer step count, best loss/metric in the model (saved with it). */
    void (*set_progress)(train_task *t, long long steps, double best_loss, double best_metric);
    /* Writes the model alone (the best one) or the model plus extra (the state). */
    int (*write)(train_task *t, const char *path, const engine_extra *extra, recur_error *err);
    /* The task's own part of a state file, and reading it back: the model's
     * weights (after checking the file holds this very model: same kind,
     * shape, vocabulary) and the data position. */
    int (*state_add)(train_task *t, engine_extra *x, recur_error *err);
    int (*state_read)(train_task *t, const st_file *f, const char *path, recur_error *err);
    /* Loads only the weights of a model file written by write(path, NULL). */
    int (*load_weights)(train_task *t, const char *path, recur_error *err);
    /* Optional: a progress sample of text (language models). */
    int (*sample)(train_task *t, long long step, strbuf *out, recur_error *err);
    /* Optional: the recur_model being trained (NULL: none, e.g. seq2seq),
     * and the application's validation report of it. */
    recur_model *(*model)(train_task *t);
    int (*report)(train_task *t, recur_report *r, recur_error *err);
    void (*free)(train_task *t);

    /* Data-parallel runs (recur_trainer_set_comm; NULL: the task cannot be
     * trained on several processes). shard: from now on, step takes only
     * this rank's share of each batch (task->rank of task->nranks, see
     * below) and returns its loss as its part of the whole batch's mean
     * (loss sum / the whole batch's count), its gradient likewise, so that
     * the sums over the ranks are the one-process loss and gradient; its
     * dropout masks are the rows the one process draws for that share.
     * state_add and state_read may then communicate (task->comm), and
     * state_read takes this rank's share of a state written by any number of
     * ranks. Called once, before resume and run; single-process runs never
     * call it, so their bytes do not depend on it. */
    int (*shard)(train_task *t, recur_error *err);
    /* Optional: validation's sums over this rank's part of the held-out data
     * (NULL: every rank runs validate on all of it). */
    int (*validate_part)(train_task *t, engine_valsum *s, recur_error *err);
    /* Optional: a hash of what the task's data is (its vocabulary, labels,
     * the text), compared over the ranks at the start. */
    uint64_t (*fingerprint)(train_task *t);
} train_task_ops;

/* A task: its operations, its parameter buffers, and its own data. */
struct train_task {
    const train_task_ops *ops;
    engine_buf buf[ENGINE_MAX_BUFS];
    int nbuf;
    const char *unit; /* what a step's examples are: "characters", "examples", "sentences", "pairs" */
    long long ntrain, nval; /* training and validation units, for the START event */
    const recur_comm *comm; /* data-parallel: the ranks (NULL: one process) */
    int rank, nranks;       /* this rank of nranks (0 of 1: one process) */
    int recompute;          /* its training workspaces make the gates again (--recompute took
                               effect: LSTM/GRU); what the trainer records and compares */
};

/* For tasks: the share [*lo, *hi) of n rows that rank r of N takes. */
void engine_share(long long n, int r, int N, long long *lo, long long *hi);

/* Whether a run of c trains with bf16 products: asked for (c->bf16) and
 * possible here (AVX512-BF16). What the state, the model's recur.train and
 * the ranks' fingerprint record: a --bf16 run where the CPU cannot is the
 * fp32 run, and says so. */
int engine_bf16(const recur_train_config *c);
/* For tasks: in-place sums over the ranks (no-op in one process). */
int engine_sum_f32(train_task *t, float *buf, size_t n, recur_error *err);
int engine_sum_f64(train_task *t, double *buf, size_t n, recur_error *err);
/* FNV-1a over bytes, continuing from h (start: ENGINE_FNV0). */
#define ENGINE_FNV0 0xcbf29ce484222325ull
uint64_t engine_fnv(uint64_t h, const void *p, size_t n);

/* Checks the task-independent settings of cfg (ranges, products that must
 * not overflow); errors name the CLI flag. */
int engine_check_config(const recur_train_config *cfg, recur_error *err);

/* The trainer: the loop over any task. recur_trainer (include/recur.h) is
 * this; the constructors in task_*.c make the task and call trainer_make,
 * which takes ownership of task (freed with the trainer, also on failure). */
int trainer_make(train_task *task, const recur_train_config *cfg, recur_trainer **out,
                 recur_error *err);
train_task *trainer_task(recur_trainer *t);

/* The learning rate of step s (0-based: the step about to be taken) for a
 * run of total steps, before the skip halvings and step decays the trainer
 * keeps in its running rate: the linear warm-up and the cosine factor. */
double schedule_factor(const recur_train_config *cfg, long long s, long long total);

#endif
