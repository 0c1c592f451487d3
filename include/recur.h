/*
 * recur.h - the one public header of librecur: recurrent neural networks
 * (vanilla RNN, LSTM, GRU) for character-level language models, trained by
 * truncated backpropagation through time, sampled from and evaluated.
 *
 * Conventions (see docs/api.md):
 *  - Every fallible call returns an int: 0 (RECUR_OK) on success or a negative
 *    RECUR_E* code, and fills the optional recur_error with one line of text.
 *  - Whoever creates an object frees it: recur_x_new/_load pairs with
 *    recur_x_free; passing NULL to a _free function is fine.
 *  - The library never prints, exits or aborts. Two models in two threads
 *    are independent; one object must not be used from two threads at once.
 *    What is process-wide, exactly: (1) a table of the files recur_text_open
 *    has mapped (at most 64 remembered, behind a mutex), so that a pass over
 *    a mapped text can release the pages behind it; (2) the kernels' choice,
 *    made from the CPU and the environment variable RECUR_KERNELS=portable
 *    each time a workspace or sampler is made (getenv: do not change the
 *    environment from another thread meanwhile); (3) a thread-local "current
 *    pool" the products of one call run on. None of it is visible in results.
 *  - Worker threads the library starts block every asynchronous signal: a
 *    program's signal handlers run on its own threads.
 *  - Tensor names in checkpoints are PyTorch's (docs/format.md).
 */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RECUR_VERSION "0.1.0"

/* Marks the public functions: the only global symbols of librecur.a (the
 * build localises everything else, so the library cannot clash with names
 * in the program that links it). */
#if defined(__GNUC__)
#define RECUR_API __attribute__((visibility("default")))
#else
#define RECUR_API
#endif

/* ---------------------------------------------------------------- errors */

enum recur_status {
    RECUR_OK = 0,
    RECUR_EINVAL = -1,     /* bad argument or configuration */
    RECUR_ENOMEM = -2,     /* allocation failed */
    RECUR_EIO = -3,        /* open/read/write/rename failed */
    RECUR_EFORMAT = -4,    /* malformed or inconsistent file (checkpoint, text) */
    RECUR_EVOCAB = -5,     /* a character outside the model's vocabulary */
    RECUR_ENUMERIC = -6,   /* NaN or Inf where a finite number was needed */
    RECUR_EINTERRUPT = -7, /* a callback asked to stop */
};

typedef struct recur_error {
    int code;
    char msg[512];
} recur_error;

/* A short English name for a status code ("invalid argument", ...). */
RECUR_API const char *recur_strerror(int code);
/* Prepends "prefix: " to err's message, e.g. the path an error is about. */
RECUR_API void recur_error_prefix(recur_error *err, const char *prefix);
/* sizeof the public struct named type_name ("recur_train_config", ...), 0 for
 * a name it does not know: bindings that lay the structs out themselves
 * (python/recur) check theirs against the library they load. */
RECUR_API size_t recur_sizeof(const char *type_name);

/* ---------------------------------------------------------------- vocabulary */

/* A vocabulary maps characters (Unicode code points, or bytes in byte mode)
 * to ids 0..size-1, sorted by code point so that the same text always gives
 * the same ids. */
typedef struct recur_vocab recur_vocab;

/* Builds the vocabulary of every character in text[0..len). In UTF-8 mode
 * (bytes == 0) invalid UTF-8 is an error naming the byte offset. */
RECUR_API int recur_vocab_from_text(const char *text, size_t len, int bytes, recur_vocab **out,
                          recur_error *err);
RECUR_API void recur_vocab_free(recur_vocab *v);
RECUR_API int recur_vocab_size(const recur_vocab *v);
RECUR_API int recur_vocab_is_bytes(const recur_vocab *v);
/* The id of code point (or byte) cp, or -1 if it is not in the vocabulary. */
RECUR_API int recur_vocab_id(const recur_vocab *v, uint32_t cp);
/* The code point (or byte) of id. */
RECUR_API uint32_t recur_vocab_char(const recur_vocab *v, int id);
/* Writes id's character as UTF-8 (or its byte, in byte mode) to out and
 * returns the length (1..4). */
RECUR_API int recur_vocab_char_utf8(const recur_vocab *v, int id, char out[4]);

/* ---------------------------------------------------------------- text files */

/* A whole file, read-only: memory-mapped when it is a regular file (a 1 GB
 * corpus is never copied), read into memory otherwise (a pipe). Errors name
 * the path: missing, a directory, empty. */
typedef struct recur_text {
    const char *data;
    size_t len;
    void *impl_; /* private */
} recur_text;

RECUR_API int recur_text_open(const char *path, recur_text *t, recur_error *err);
RECUR_API void recur_text_close(recur_text *t);

/* ---------------------------------------------------------------- model */

typedef struct recur_model recur_model;

typedef enum recur_cell { RECUR_CELL_RNN = 0, RECUR_CELL_LSTM = 1, RECUR_CELL_GRU = 2 } recur_cell;

typedef struct recur_model_config {
    recur_cell cell;
    int relu;      /* vanilla RNN only: ReLU instead of tanh */
    int hidden;    /* H, units per layer */
    int layers;    /* stacked recurrent layers */
    int embed;     /* 0: one-hot input (a column gather of W_ih); >0: learned embedding of E */
    float dropout; /* between layers, training only (as nn.LSTM's dropout) */
    int outputs;   /* head outputs: 0 = the vocabulary size (a language model); else classes
                      or tags; -1 = no head (an encoder whose states something else reads) */
    int cond;      /* conditioning classes fed as a one-hot input at every step (0: none) */
    int bidirectional; /* a second direction per layer reads the sequence backwards (not for LM) */
    /* More dropout, training only (docs/results.md says what each did). Inverted like
     * `dropout`: a kept value is scaled by 1/(1-p), so evaluation needs no change. */
    float dropout_in;  /* on the input embedding's values (needs embed > 0) */
    float dropout_out; /* on the last layer's output, before the head */
    int variational;   /* 1: every mask is drawn once per window (per stream and unit) and used
                          at every step, as in Gal & Ghahramani (2016); 0: a new mask per step */
    int tie;           /* 1: the head's weight is the embedding (Press & Wolf 2017): one [V, H]
                          matrix; needs embed == hidden and a language model's head. Saved as
                          both tensors (PyTorch loads them as two equal ones) */
} recur_model_config;
/* outputs, cond and bidirectional exist for the applications (their train
 * functions give such a model its task and labels). A model made here with
 * any of them non-default saves and loads as what it is, but no entry point
 * (eval, sampler, trainer, classify, tag) takes it: each refuses it with
 * RECUR_EINVAL naming its kind (docs/reliability.md, "Kinds of model"). */

/* Fills cfg with the defaults (rnn, tanh, H=128, 2 layers, one-hot, no dropout). */
RECUR_API void recur_model_config_default(recur_model_config *cfg);

/* A new model over a copy of vocab, initialised as PyTorch does (uniform
 * +-1/sqrt(H) for the recurrent layers and the head, N(0,1) for the embedding),
 * from the given seed. */
RECUR_API int recur_model_new(const recur_model_config *cfg, const recur_vocab *vocab, uint64_t seed,
                    recur_model **out, recur_error *err);
RECUR_API void recur_model_free(recur_model *m);

/* Loads a checkpoint (safetensors, docs/format.md). The file is untrusted:
 * any inconsistency is RECUR_EFORMAT with a message naming the tensor. */
RECUR_API int recur_model_load(const char *path, recur_model **out, recur_error *err);
/* Writes the model (no optimizer state) atomically: temp file, fsync, rename. */
RECUR_API int recur_model_save(const recur_model *m, const char *path, recur_error *err);

typedef struct recur_model_info {
    recur_cell cell;
    int relu;
    int hidden, layers, embed, vocab_size;
    float dropout;
    size_t params;    /* number of trainable floats */
    long long steps;  /* training steps recorded in the checkpoint (0 if new) */
    double best_val;  /* best validation loss in nats/char (NaN if none) */
    int outputs;      /* rows of the head: vocab_size for a language model, else labels (0: no head) */
    int directions;   /* 1, or 2 when bidirectional */
    int cond;         /* conditioning classes fed at every step (condlm; 0: none) */
    float dropout_in, dropout_out;
    int variational;
    int tie;          /* the head's weight is the embedding */
} recur_model_info;

RECUR_API void recur_model_get_info(const recur_model *m, recur_model_info *info);
RECUR_API const recur_vocab *recur_model_vocab(const recur_model *m);
RECUR_API const char *recur_cell_name(recur_cell cell);
/* Parses "rnn", "lstm" or "gru"; returns -1 for anything else. */
RECUR_API int recur_cell_parse(const char *name);

/* ---------------------------------------------------------------- evaluation */

typedef struct recur_eval_result {
    long long chars;   /* characters predicted (the first one is only input) */
    long long skipped; /* characters outside the vocabulary, skipped (skip_unknown) */
    double nats_per_char;
    double bits_per_char;
} recur_eval_result;

/* The mean loss of predicting each character of text from all the ones
 * before it: the state starts at zero and is carried through the whole text.
 * A character outside the vocabulary is RECUR_EVOCAB unless skip_unknown.
 * m must be a language model: any other kind (a classifier, a tagger, a
 * condlm, a model made with non-default outputs/cond/bidirectional) is
 * RECUR_EINVAL with a message naming its kind. */
RECUR_API int recur_eval_text(const recur_model *m, const char *text, size_t len, int skip_unknown,
                    int threads, recur_eval_result *res, recur_error *err);

/* ---------------------------------------------------------------- sampling */

typedef struct recur_sampler recur_sampler;

typedef struct recur_sample_config {
    float temperature; /* 0: greedy (argmax); otherwise logits / temperature */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off (nucleus sampling) */
    uint64_t seed;
    int threads;       /* threads per step (default 1; more pays from about H = 256 up,
                          on idle cores); the characters drawn do not depend on it */
    int bf16;          /* 1: read the weights as bfloat16 (half the bytes, faster on large
                          models; probabilities differ slightly: docs/api.md). Default 0 */
    int int8;          /* 1: weights quantized to int8 per output row with fp32 scales when the
                          sampler first runs (a quarter of the bytes; AVX512-VNNI where the CPU has
                          it); probabilities differ more than bf16's: docs/api.md. Not with bf16.
                          Default 0 */
} recur_sample_config;

RECUR_API void recur_sample_config_default(recur_sample_config *cfg);

/* A generator over m (m must outlive it). State starts at zero. m must be a
 * language model or a condlm (recur_condlm_train); any other kind (a
 * classifier, a tagger, a bidirectional model, a model made with non-default
 * outputs/cond) is RECUR_EINVAL with a message naming its kind. */
RECUR_API int recur_sampler_new(const recur_model *m, const recur_sample_config *cfg, recur_sampler **out,
                      recur_error *err);
RECUR_API void recur_sampler_free(recur_sampler *s);
/* Feeds text (UTF-8, or bytes for a byte model) through the model. A character
 * outside the vocabulary is RECUR_EVOCAB naming it; nothing is fed then. */
RECUR_API int recur_sampler_prime(recur_sampler *s, const char *text, size_t len, recur_error *err);
/* Draws the next character from the current distribution, feeds it back, and
 * writes it to out as UTF-8 (1..4 bytes, or 1 byte in byte mode); *out_len
 * gets the length. There must be something to predict from: it is
 * RECUR_EINVAL to call this before any character was primed. */
RECUR_API int recur_sampler_next(recur_sampler *s, char out[4], int *out_len, recur_error *err);
/* For a model trained with recur_condlm_train: the class (a label id) the
 * next characters are generated for. Default 0. */
RECUR_API int recur_sampler_set_class(recur_sampler *s, int label, recur_error *err);
/* Back to the zero state and nothing primed (the class is kept). */
RECUR_API void recur_sampler_reset(recur_sampler *s);
/* The probability the model gave to the character last returned by next(). */
RECUR_API float recur_sampler_last_prob(const recur_sampler *s);
/* The threads the steps are shared between: config threads, or 1 when the model
 * is too small for a second thread to pay (its weights fit in one core's cache).
 * While the other cores are busy the sampler runs on one anyway (docs/api.md). */
RECUR_API int recur_sampler_threads(const recur_sampler *s);
/* The kernels the steps run on: "avx512", "portable", or for int8 weights
 * "avx512-vnni" or "portable" (a CPU without VNNI). */
RECUR_API const char *recur_sampler_kernel(const recur_sampler *s);

/* ---------------------------------------------------------------- training */

typedef enum recur_optim { RECUR_ADAM = 0, RECUR_ADAGRAD, RECUR_RMSPROP, RECUR_SGD } recur_optim;
typedef enum recur_clip_mode { RECUR_CLIP_NORM = 0, RECUR_CLIP_VALUE = 1 } recur_clip_mode;

/* How the learning rate moves over a run. On top of each, a linear warm-up
 * over the first `warmup` steps; a step whose loss or gradient is not finite
 * halves the rate for the rest of the run. */
typedef enum recur_schedule {
    RECUR_SCHED_STEP = 0,     /* lr x lr_decay every lr_decay_every steps (0: every epoch);
                                 with lr_decay 1 (the default) the rate is constant */
    RECUR_SCHED_CONSTANT = 1, /* lr throughout */
    RECUR_SCHED_COSINE = 2,   /* from lr toward lr_min along half a cosine, which it would
                                 reach one step after the last (PyTorch's CosineAnnealingLR with
                                 T_max the steps after the warm-up) */
    RECUR_SCHED_PLATEAU = 3,  /* lr x lr_decay whenever the validation loss has not improved
                                 for `patience` validations in a row */
} recur_schedule;

RECUR_API const char *recur_schedule_name(recur_schedule s);
/* Parses "step", "constant", "cosine" or "plateau"; -1 for anything else. */
RECUR_API int recur_schedule_parse(const char *name);

/* The settings of a training run, shared by every task (the language model,
 * classification, tagging, generation by class, sequence-to-sequence).
 * Fields a task has no use for are ignored by it (seq and val_max_chars are
 * the language model's; sample_every its progress samples). */
typedef struct recur_train_config {
    int seq;              /* T: steps per truncated-BPTT window (language model) */
    int batch;            /* B: parallel streams over the text (char-rnn's layout), or
                             examples (sentences, pairs) per step */
    recur_optim optim;
    float lr;
    float lr_decay;       /* step schedule: multiply lr by this ... */
    int lr_decay_every;   /* ... every this many steps (0: after every epoch) */
    float momentum;       /* sgd only */
    float clip;           /* 0: off */
    recur_clip_mode clip_mode;
    long long steps;      /* total steps of the run; if 0, epochs decide */
    double epochs;        /* used when steps == 0 */
    double val_frac;      /* fraction held out for validation when no validation data is given
                             (the language model: the end of the text) */
    int eval_every;       /* steps between validation passes (0: after every epoch); there is
                             always one at the last step */
    int sample_every;     /* steps between progress samples (0: never) */
    int sample_len;       /* characters in a progress sample */
    long long save_every; /* steps between periodic state saves (0: only at the end) */
    uint64_t seed;
    int threads;
    long long val_max_chars; /* cap on validation characters per pass (0: all) */
    recur_schedule schedule; /* default RECUR_SCHED_STEP */
    long long warmup;     /* steps of linear warm-up: step s (from 0) uses lr (s+1)/warmup */
    float lr_min;         /* cosine: the floor the rate falls toward (default 0) */
    int patience;         /* plateau: validations without improvement before a decay (default 2) */
    float weight_decay;   /* decoupled weight decay (AdamW with adam): every step multiplies the
                             weight matrices (not the biases) by 1 - lr * weight_decay before the
                             update. Default 0 */
    int bf16;             /* 1: bf16 mixed precision: every matrix product of a training step
                             takes its inputs (weights, activations, gradients) in bfloat16 and
                             sums in fp32; the weights, the optimizer and the gate math stay
                             fp32, and so are validation and the saved model. Needs AVX512-BF16
                             (recur_has_bf16); elsewhere training runs in fp32. Default 0 */
    int recompute;        /* 1: keep less memory: the LSTM/GRU gates of a window are not kept
                             for the backward but made again from the kept states, a chunk of
                             steps at a time (about a third more FLOPs; docs/design.md#recompute).
                             The weight gradients differ from a keeping run's in rounding only.
                             No effect on RNN. Default 0 */
} recur_train_config;

RECUR_API void recur_train_config_default(recur_train_config *cfg);
/* 1 when this CPU runs bf16 products (AVX512-BF16), so recur_train_config.bf16
 * takes effect; 0 when training would run in fp32 all the same. */
RECUR_API int recur_has_bf16(void);

typedef enum recur_event_kind {
    RECUR_EV_START = 0, /* before the first step: total steps known */
    RECUR_EV_STEP,      /* after each optimizer step */
    RECUR_EV_EVAL,      /* after a validation pass */
    RECUR_EV_SAMPLE,    /* a progress sample is ready in ev->text */
    RECUR_EV_SAVE,      /* a checkpoint was written to ev->text */
    RECUR_EV_SKIP,      /* a step was skipped: non-finite loss or gradient */
} recur_event_kind;

typedef struct recur_train_event {
    recur_event_kind kind;
    long long step, total_steps;
    double epoch;
    double train_loss;  /* nats/char, this step */
    double val_loss;    /* nats/char, last validation (NaN before the first) */
    double best_val;
    double lr;
    double grad_norm;   /* before clipping */
    double chars_per_s; /* training throughput, smoothed */
    double elapsed_s;
    long long train_chars, val_chars; /* START: training and validation size, in `unit` */
    const char *text;   /* SAMPLE: the sample; SAVE: the path */
    /* Every task's own metric beside the loss (classification and tagging:
     * accuracy; sequence-to-sequence: exact match), NaN where it has none. */
    double val_metric;  /* at the last validation */
    double best_metric; /* of the saved best model */
    const char *metric; /* its name ("accuracy", "exact_match"), or NULL */
    const char *unit;   /* what train_chars and val_chars count: "characters", "examples",
                           "sentences", "pairs"; chars_per_s always counts input characters */
    const char *task;   /* "lm", "classify", "tag", "condlm", "seq2seq" */
} recur_train_event;

/* Called from the training loop; return non-zero to stop it cleanly: the
 * step under way finishes (its validation and saves as in a run that goes
 * on), the trainer saves its state and returns RECUR_EINTERRUPT. */
typedef int (*recur_train_callback)(const recur_train_event *ev, void *user);

/* The trainer: one training loop for every task (docs/design.md#training).
 * It owns the step (forward, loss, backward, the NaN/Inf guard, clipping,
 * the optimizer, the schedule), validation with the task's metric, the best
 * model, periodic and final saves and a resumable state that continues a
 * run bit for bit. Constructors differ by task; everything after is shared:
 *
 *   recur_trainer_new*()           make the trainer (and, for applications, the model)
 *   recur_trainer_set_outputs()    where the best model and the state go
 *   recur_trainer_resume()         optionally continue a stopped run
 *   recur_trainer_run()            train, with progress events to a callback
 *   recur_trainer_restore_best()   optionally put the best model back in memory
 *   recur_trainer_free()
 */
typedef struct recur_trainer recur_trainer;

/* A language model: m (which must outlive the trainer) on train text and
 * optional val text (NULL: the last val_frac of train). Text buffers must
 * outlive the trainer; they may be memory-mapped files. */
RECUR_API int recur_trainer_new(recur_model *m, const recur_train_config *cfg, const char *train,
                      size_t train_len, const char *val, size_t val_len, recur_trainer **out,
                      recur_error *err);
RECUR_API void recur_trainer_free(recur_trainer *t);
/* Paths the trainer writes: best is the best-validation model (the last one
 * without validation); last is the latest resumable state (weights,
 * optimizer, data position, generators). Either may be NULL. */
RECUR_API int recur_trainer_set_outputs(recur_trainer *t, const char *best_path, const char *last_path,
                              recur_error *err);
/* Restores the trainer's full state from a state file written as `last`, or
 * from the model file written as `best` when its state file (named by
 * recur_state_path) exists beside it. The state must be of this very model
 * (task, shape, vocabulary, labels) and of the same data layout; anything
 * else is RECUR_EINVAL naming what differs, and nothing is taken. */
RECUR_API int recur_trainer_resume(recur_trainer *t, const char *path, recur_error *err);
/* Runs until the last step; calls cb for progress. */
RECUR_API int recur_trainer_run(recur_trainer *t, recur_train_callback cb, void *user, recur_error *err);
/* Writes the resumable state now. */
RECUR_API int recur_trainer_save_state(recur_trainer *t, const char *path, recur_error *err);

/* Data-parallel training (docs/distributed.md). The library needs no MPI:
 * the program that runs N copies of itself hands each trainer the way its
 * processes talk. Rank r of size N takes its share of every batch (the
 * language model's streams [r*B/N, (r+1)*B/N); the same slice of each
 * batch of examples), the gradients are summed over the ranks every step
 * and every rank applies the same update, so N ranks follow the run of one
 * process with the same batch. Only rank 0 writes files (the best model,
 * the state) and calls the progress callback; every rank must make the same
 * calls (set_comm, resume, run, save_state) in the same order, since they
 * communicate. Every operation returns 0 on success; it must not return
 * until every rank has made the same call. */
typedef struct recur_comm {
    int rank, size;  /* this process, and how many there are (size >= 1) */
    void *ctx;       /* passed to every operation */
    /* In place: buf[i] becomes the sum over all ranks of their buf[i]. */
    int (*allreduce_f32)(void *ctx, float *buf, size_t n);
    int (*allreduce_f64)(void *ctx, double *buf, size_t n);
    /* root's bytes to every rank. */
    int (*broadcast)(void *ctx, void *buf, size_t bytes, int root);
    /* Optional (NULL: never): whether this rank was asked to stop (a
     * signal); any rank asking stops all of them after the same step. */
    int (*stop_requested)(void *ctx);
} recur_comm;
/* Makes t one of comm->size ranks (all must call it, before resume and
 * run; comm is copied). Checks, on every rank alike, that the batch divides
 * among the ranks and that every rank has the same model, data and
 * settings: on any failure every rank gets an error (rank 0 the message,
 * the others an empty one) and t stays a one-process trainer. */
RECUR_API int recur_trainer_set_comm(recur_trainer *t, const recur_comm *comm, recur_error *err);
RECUR_API long long recur_trainer_step(const recur_trainer *t);
RECUR_API long long recur_trainer_total_steps(const recur_trainer *t);
/* "lm", "classify", "tag", "condlm" or "seq2seq"; and its metric's name or NULL. */
RECUR_API const char *recur_trainer_task_name(const recur_trainer *t);
RECUR_API const char *recur_trainer_metric_name(const recur_trainer *t);
/* Puts the best model's weights back into the model being trained (after a
 * run the model holds the last step's): from memory, or from the best file
 * when the run was resumed. Nothing to do without validation. */
RECUR_API int recur_trainer_restore_best(recur_trainer *t, recur_error *err);
/* The state file written beside a model file: "m.safetensors" ->
 * "m.last.safetensors", any other name + ".last". RECUR_EINVAL if it does
 * not fit in cap bytes. */
RECUR_API int recur_state_path(const char *model_path, char *out, size_t cap);

/* ---------------------------------------------------------------- a time budget */

/* `recur train FILE --budget 30m`: the language model a time budget allows
 * (docs/results.md, "--budget"). recur_budget_choose applies the rule; the
 * speeds it needs come from a function, so that the rule can be tested with
 * made-up speeds and the command can use recur_budget_measure's. */
typedef struct recur_budget_choice {
    recur_cell cell;
    int hidden, layers, seq, batch;
    float dropout;     /* between the layers */
    float dropout_out; /* on the last layer's output, before the head */
    float lr, lr_min;  /* Adam, cosine from lr to lr_min with a linear warm-up */
    long long warmup, steps;
    int eval_every;
    size_t params;       /* of the chosen model */
    double chars_per_s;  /* its measured training speed */
    double passes;       /* over the training text in the planned steps */
    double train_s;      /* the seconds of training planned (steps / speed) */
    int candidates;      /* models whose speed was measured */
    char why[1024];      /* the reasons, one per line, for people */
} recur_budget_choice;

/* Characters per second one training step of (cell, hidden, layers) makes at
 * (seq, batch) on this machine; <= 0 if it cannot be measured. */
typedef double (*recur_speed_fn)(void *ctx, recur_cell cell, int hidden, int layers, int seq, int batch);

/* Chooses the model and the run for `seconds` of training on train_chars
 * characters of vocab_size symbols (val_chars of validation, whose passes
 * the plan pays for). Deterministic given the speeds; calls speed for the
 * candidates it considers, smallest first, and stops at the first that is
 * too large. RECUR_EINVAL for a budget or text too small to train on. */
RECUR_API int recur_budget_choose(size_t train_chars, size_t val_chars, int vocab_size, double seconds,
                                  recur_speed_fn speed, void *ctx, recur_budget_choice *out,
                                  recur_error *err);

/* The steps (and validations, warm-up, passes, train_s, and the dropout the passes call for) of c's model for
 * `seconds` of training at its measured speed, as recur_budget_choose plans
 * them: for when the measuring itself took time out of the budget. */
RECUR_API void recur_budget_plan_steps(recur_budget_choice *c, size_t train_chars, size_t val_chars,
                                       double seconds);

/* A speed measurement for recur_budget_choose: trains a model of that shape
 * with those dropouts (their masks cost time) on text (the median of at
 * least 3 steps after two that warm up, at most about max_s seconds) with
 * `threads` threads (and bf16 mixed precision if bf16, the gates recomputed
 * if recompute, as recur_train_config) and returns characters per second, or a negative number
 * (err set) if it could not run. */
RECUR_API double recur_budget_measure(const char *text, size_t len, int bytes, recur_cell cell, int hidden,
                                      int layers, int seq, int batch, float dropout, float dropout_out,
                                      int threads, int bf16, int recompute, double max_s, recur_error *err);

/* ---------------------------------------------------------------- applications */

/* What a model was trained for. A language model predicts the next
 * character; the others are the applications of docs/applications.md. */
typedef enum recur_task {
    RECUR_TASK_LM = 0,       /* many-to-many, the next character (recur train) */
    RECUR_TASK_CLASSIFY = 1, /* many-to-one: a label per text (recur classify) */
    RECUR_TASK_TAG = 2,      /* many-to-many: a tag per token (recur tag) */
    RECUR_TASK_CONDLM = 3,   /* one-to-many: text generated for a class (recur train --by-class) */
} recur_task;

RECUR_API recur_task recur_model_task(const recur_model *m);
RECUR_API const char *recur_task_name(recur_task t);
/* The model's labels: classes (classify, condlm) or tags (tag); 0 for a
 * language model. recur_model_label_id is -1 for an unknown name. */
RECUR_API int recur_model_label_count(const recur_model *m);
RECUR_API const char *recur_model_label(const recur_model *m, int i);
RECUR_API int recur_model_label_id(const recur_model *m, const char *name);

/* Training an application (classify, tag, condlm): the model's shape plus
 * the training settings; recur_app_config_default fills what works on the
 * bundled data in minutes on two cores. */
typedef struct recur_app_config {
    recur_model_config model;
    int batch;
    double epochs;       /* used when steps == 0 */
    long long steps;
    recur_optim optim;
    float lr, lr_decay;  /* lr is multiplied by lr_decay after every epoch */
    float clip;          /* global gradient norm (0: off) */
    uint64_t seed;
    int threads;
    double val_frac;     /* held out for validation (stratified for classes) */
    int eval_every;      /* steps between validation passes (0: every epoch) */
    int column;          /* tag: the tag column of a CoNLL file (0: the second) */
} recur_app_config;

RECUR_API void recur_app_config_default(recur_app_config *c, recur_task task);

/* What training or evaluating an application measured. */
typedef struct recur_report {
    size_t ntrain, nval;          /* examples (sentences, for tagging) */
    size_t duplicates, ambiguous; /* repeated (label, text) pairs removed; texts with several labels */
    long long correct, total;     /* validation answers right / given (tokens, for tagging) */
    double accuracy, val_loss;    /* val_loss in nats per answer (per character for condlm) */
    char *table;                  /* a text report: confusion matrix, per-label precision/recall */
    char *json;                   /* the same as one JSON object */
} recur_report;

RECUR_API void recur_report_free(recur_report *r);

/* Many-to-one. data: a directory of <Label>.txt files (one example per line)
 * or a label<TAB>text file. Deduplicates, holds out a stratified split,
 * trains (best validation accuracy kept), writes out_path (if not NULL) and
 * returns the model in *model (caller frees) and the validation report. */
RECUR_API int recur_classify_train(const char *data, const recur_app_config *cfg,
                                   const char *out_path, recur_train_callback cb, void *user,
                                   recur_model **model, recur_report *report, recur_error *err);
/* probs[recur_model_label_count(m)]: the model's probability of each label
 * for text. Characters it never saw are read as one unknown character.
 * m must be a classifier (RECUR_EINVAL naming its kind otherwise). */
RECUR_API int recur_classify(const recur_model *m, const char *text, size_t len, float *probs,
                             recur_error *err);

/* Many-to-many. train, dev: CoNLL-style files (token TAB tag ..., a blank
 * line between sentences); dev may be NULL (then val_frac of the training
 * sentences). The model reads each sentence's characters (tokens joined by
 * spaces) and predicts a tag at the last character of every token. */
RECUR_API int recur_tag_train(const char *train, const char *dev, const recur_app_config *cfg,
                              const char *out_path, recur_train_callback cb, void *user,
                              recur_model **model, recur_report *report, recur_error *err);
/* Per-token accuracy on a CoNLL file (tags outside the model's tag set count as misses). */
RECUR_API int recur_tag_eval(const recur_model *m, const char *path, int column, int threads,
                             recur_report *report, recur_error *err);
/* tags[n] = the tag id of each of tokens[0..n) (lens[i] bytes each). m must
 * be a tagger (RECUR_EINVAL naming its kind otherwise, as for recur_tag_eval). */
RECUR_API int recur_tag(const recur_model *m, const char *const *tokens, const size_t *lens, int n,
                        int *tags, recur_error *err);

/* One-to-many: a character model of the texts of each class (data as for
 * recur_classify_train) that takes the class as an input at every step;
 * sample it with recur_sampler_set_class. Each text is learned as
 * "\n" + text -> text + "\n", so a sample starts after "\n" and ends at one. */
RECUR_API int recur_condlm_train(const char *data, const recur_app_config *cfg,
                                 const char *out_path, recur_train_callback cb, void *user,
                                 recur_model **model, recur_report *report, recur_error *err);

/* The applications on the one trainer (the calls above are wrappers over
 * these), for what it gives every task: a state to resume bit for bit,
 * periodic saves, schedules, progress events. The trainer reads the data,
 * builds the model from it (vocabulary: the training texts' characters and
 * U+FFFD; shape from mc; initialised from cfg->seed) and owns it. From cfg:
 * batch (examples per step), optim, lr, schedule, clip, steps or epochs,
 * val_frac (held out, stratified for classes; tag: only without dev),
 * eval_every (0: each epoch), save_every, seed, threads. Classification and
 * tagging keep the model with the best validation accuracy; generation by
 * class the lowest validation loss. */
RECUR_API int recur_trainer_new_classify(const char *data, const recur_model_config *mc,
                                         const recur_train_config *cfg, recur_trainer **out,
                                         recur_error *err);
RECUR_API int recur_trainer_new_condlm(const char *data, const recur_model_config *mc,
                                       const recur_train_config *cfg, recur_trainer **out,
                                       recur_error *err);
/* column: the tag column of the CoNLL files (0: the second). */
RECUR_API int recur_trainer_new_tag(const char *train, const char *dev, int column,
                                    const recur_model_config *mc, const recur_train_config *cfg,
                                    recur_trainer **out, recur_error *err);
/* The model being trained (owned by the trainer for the applications, by the
 * caller for a language model); NULL for sequence-to-sequence. */
RECUR_API recur_model *recur_trainer_model(recur_trainer *t);
/* The validation report of the model as it is now (after
 * recur_trainer_restore_best: the best one). RECUR_EINVAL for a language
 * model or sequence-to-sequence (recur_eval_text, recur_seq2seq_eval). */
RECUR_API int recur_trainer_report(recur_trainer *t, recur_report *report, recur_error *err);

/* ---------------------------------------------------------------- gradient check */

typedef struct recur_gradcheck_row {
    char name[64];    /* tensor name, e.g. rnn.weight_hh_l1 */
    double max_rel;   /* worst relative error |a-n| / max(|a|,|n|) over checked entries */
    int checked;      /* entries compared */
} recur_gradcheck_row;

/* Builds a small random model of cfg over a vocab of vocab_size symbols, a
 * random window of T steps and batch B, and compares analytic gradients with
 * central differences (double-precision loss) for entries of every parameter
 * tensor. One row per tensor: at most 4*layers*directions+3 (an embedding,
 * four per layer and direction, the head's two), RECUR_GRADCHECK_ROWS(cfg).
 * cap is the number of rows the caller's array holds; if the model has more
 * tensors than that, the call is RECUR_EINVAL with *nrows the count needed
 * and nothing written. *nrows gets the count. A model without a head
 * (outputs -1) has no loss to check: RECUR_EINVAL. */
#define RECUR_GRADCHECK_ROWS(cfg) (4 * (cfg)->layers * ((cfg)->bidirectional ? 2 : 1) + 3)
RECUR_API int recur_gradcheck(const recur_model_config *cfg, int vocab_size, int T, int B, uint64_t seed,
                              recur_gradcheck_row *rows, int cap, int *nrows, recur_error *err);

/* ---------------------------------------------------------------- trace */

/* What a model computes on a text, step by step: the recurrent state (h, and
 * c for LSTM), the gates and the output distribution after every character,
 * for every layer and direction (docs/api.md, "Look inside"). A trace is the
 * forward pass itself (the same code and the same bits as recur_eval_text),
 * with the numbers that pass makes kept instead of dropped. */
typedef struct recur_trace recur_trace;

/* The quantities a trace holds, each [hidden] floats per step and unit. */
typedef enum recur_trace_value {
    RECUR_TRACE_H = 0, /* the unit's output h_t (every cell) */
    RECUR_TRACE_C,     /* LSTM cell state c_t */
    RECUR_TRACE_I,     /* LSTM input gate */
    RECUR_TRACE_F,     /* LSTM forget gate */
    RECUR_TRACE_G,     /* LSTM candidate g = tanh(...) */
    RECUR_TRACE_O,     /* LSTM output gate */
    RECUR_TRACE_R,     /* GRU reset gate */
    RECUR_TRACE_Z,     /* GRU update gate */
    RECUR_TRACE_N,     /* GRU candidate n = tanh(...) */
    RECUR_TRACE_NVALUES
} recur_trace_value;

typedef struct recur_trace_config {
    int skip_unknown;  /* 1: leave out characters outside the vocabulary; 0: RECUR_EVOCAB
                          naming the first (a model whose vocabulary holds U+FFFD, as the
                          applications' do, reads them as U+FFFD either way) */
    int gates;         /* 1 (default): keep the gates; 0: only h, c and the outputs */
    int threads;       /* threads of the forward pass (default 1; same numbers for any count) */
    long long max_chars; /* trace at most this many characters (0: all) */
} recur_trace_config;

RECUR_API void recur_trace_config_default(recur_trace_config *cfg);

/* Runs m over text[0..len) (UTF-8, or bytes for a byte model) from the zero
 * state, as recur_eval_text does, and keeps every step's values. Step t
 * reads the t-th character; its outputs are the model's distribution after
 * reading characters 0..t (a language model: over the next character; a
 * classifier or tagger: over its labels, the head applied to that step's
 * top-layer state). A bidirectional model is run over the whole text as one
 * sequence. Memory: steps * units * hidden * (2 + gates) floats plus
 * steps * outputs (LSTM 512x3, 2000 steps: 74 MB). An empty text (or one
 * whose characters were all skipped) is RECUR_EINVAL; invalid UTF-8 is
 * RECUR_EFORMAT naming the byte offset. The trace owns its numbers and does
 * not point at m or text; free it with recur_trace_free. */
RECUR_API int recur_trace_text(const recur_model *m, const char *text, size_t len,
                               const recur_trace_config *cfg, recur_trace **out, recur_error *err);
RECUR_API void recur_trace_free(recur_trace *t);

RECUR_API int recur_trace_steps(const recur_trace *t);   /* characters read */
RECUR_API int recur_trace_layers(const recur_trace *t);
RECUR_API int recur_trace_directions(const recur_trace *t); /* 1, or 2 if bidirectional */
RECUR_API int recur_trace_hidden(const recur_trace *t);
RECUR_API int recur_trace_outputs(const recur_trace *t); /* floats per step of the outputs */
RECUR_API long long recur_trace_skipped(const recur_trace *t); /* characters left out */
/* Step t's character: its vocabulary id, and where it lies in the text given
 * to recur_trace_text (byte offset and length). */
RECUR_API int recur_trace_char(const recur_trace *t, int step, size_t *offset, int *nbytes);
/* values[hidden] of what at step t for (layer, dir); NULL when out of range
 * or when the cell has no such value (c and the gates of a GRU, say) or the
 * gates were not kept. The pointer lives as long as the trace. */
RECUR_API const float *recur_trace_get(const recur_trace *t, recur_trace_value what, int step,
                                       int layer, int dir);
/* probs[outputs] after step t (softmax of the head; NULL for a headless model). */
RECUR_API const float *recur_trace_probs(const recur_trace *t, int step);
/* The name of a value ("h", "c", "i", ...). */
RECUR_API const char *recur_trace_value_name(recur_trace_value what);

/* Simple features of the traced text, one number per step (the state after
 * reading that step's character), for finding units that track them (the
 * cells of Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding
 * Recurrent Networks", 2015). */
typedef enum recur_feature {
    RECUR_FEAT_QUOTE = 0, /* 1 inside "double quotes" (or curly ones), the opening one included */
    RECUR_FEAT_BRACKET,   /* depth of ( [ { nesting, never below 0 */
    RECUR_FEAT_LINEPOS,   /* characters since the last newline (0 on the newline itself) */
    RECUR_FEAT_INDENT,    /* spaces and tabs (a tab counts 4) that start the current line */
    RECUR_FEAT_WORD,      /* 1 on a letter or digit (any non-ASCII character counts as a letter) */
    RECUR_FEAT_NEWLINE,   /* 1 on a newline: the state just after reading one */
    RECUR_FEAT_COUNT
} recur_feature;

/* "quote", "bracket", "linepos", "indent", "word", "newline". */
RECUR_API const char *recur_feature_name(recur_feature f);
/* out[steps]: feature f at every step of t (computed from the characters the
 * trace read, skipped ones left out). */
RECUR_API int recur_trace_feature(const recur_trace *t, recur_feature f, float *out,
                                  recur_error *err);
/* corr[layers * directions * hidden], unit (l, d, j) at (l*directions + d)*hidden + j:
 * Pearson's correlation over the steps between x[steps] and that unit's
 * value what. A constant unit or a constant x correlates 0. RECUR_EINVAL if
 * the trace does not hold what. */
RECUR_API int recur_trace_correlate(const recur_trace *t, recur_trace_value what, const float *x,
                                    float *corr, recur_error *err);

/* ---------------------------------------------------------------- sequence-to-sequence */

/* An encoder-decoder over characters (docs/applications.md): an encoder RNN
 * reads the source, its final state (every layer) starts a decoder RNN that
 * writes the target one character at a time, optionally reading the encoder's
 * outputs through Luong "general" attention. Trained with teacher forcing;
 * decoded greedily or with a beam. The target vocabulary reserves U+0002
 * (start) and U+0003 (end), and every source ends with U+0003; data holding
 * either character is rejected. A source character never seen in training
 * is read as U+FFFD (every source vocabulary holds it). Checkpoints:
 * docs/format.md. */
typedef struct recur_seq2seq recur_seq2seq;

/* One (source, target) pair of UTF-8 strings (not NUL-terminated). */
typedef struct recur_pair {
    const char *src, *tgt;
    size_t src_len, tgt_len;
} recur_pair;

/* Pairs read from a file of source<TAB>target lines (a trailing \r dropped,
 * blank lines skipped; either side may be empty). A line without exactly
 * one TAB, invalid UTF-8 or a NUL byte is RECUR_EFORMAT naming the line. */
typedef struct recur_pairs {
    const recur_pair *pairs;
    size_t n;
    void *impl_; /* private */
} recur_pairs;

RECUR_API int recur_pairs_read(const char *path, recur_pairs *out, recur_error *err);
/* n generated pairs of a task with one right answer: "reverse" (a string of
 * lo..hi characters from alphabet -> the same string reversed; alphabet NULL
 * means "abcdefgh") or "add" (two numbers of lo..hi digits "a+b" -> their
 * sum in decimal; alphabet unused). The same seed gives the same pairs. */
RECUR_API int recur_pairs_generate(const char *task, const char *alphabet, int lo, int hi, size_t n,
                         uint64_t seed, recur_pairs *out, recur_error *err);
RECUR_API void recur_pairs_free(recur_pairs *p);

typedef struct recur_seq2seq_config {
    recur_cell cell;   /* of both the encoder and the decoder */
    int hidden;        /* H of both (the encoder's final state is the decoder's first) */
    int layers;        /* L of both */
    int embed;         /* 0: one-hot input; >0: learned embeddings of E (source and target) */
    float dropout;     /* between stacked layers, training only */
    int attention;     /* 1: Luong general attention over the encoder's top-layer outputs */
    float dropout_in;  /* on both embeddings' values (needs embed > 0), as recur_model_config's */
    float dropout_out; /* on the decoder's output (after attention), before the head */
    int variational;   /* 1: masks drawn once per batch and used at every step */
} recur_seq2seq_config;

/* lstm, H=128, 1 layer, one-hot input, no dropout, no attention. */
RECUR_API void recur_seq2seq_config_default(recur_seq2seq_config *cfg);

/* A new model whose vocabularies are the characters of the pairs' sources
 * and targets (plus the reserved ones), initialised as PyTorch does from seed. */
RECUR_API int recur_seq2seq_new(const recur_seq2seq_config *cfg, const recur_pair *pairs, size_t n,
                      uint64_t seed, recur_seq2seq **out, recur_error *err);
RECUR_API void recur_seq2seq_free(recur_seq2seq *m);
/* Loads a seq2seq checkpoint; the file is untrusted: any inconsistency is
 * RECUR_EFORMAT naming the tensor or metadata key. */
RECUR_API int recur_seq2seq_load(const char *path, recur_seq2seq **out, recur_error *err);
/* Writes the model atomically (temp file, fsync, rename). */
RECUR_API int recur_seq2seq_save(const recur_seq2seq *m, const char *path, recur_error *err);

typedef struct recur_seq2seq_info {
    recur_seq2seq_config cfg;
    int src_vocab, tgt_vocab; /* sizes, reserved characters included */
    size_t params;            /* trainable floats: encoder + decoder + attention */
    long long steps;          /* training steps recorded */
    double best_val;          /* validation loss of this model, nats/char (NaN if none) */
    double best_exact;        /* its validation exact-match fraction (NaN if none) */
} recur_seq2seq_info;

RECUR_API void recur_seq2seq_get_info(const recur_seq2seq *m, recur_seq2seq_info *info);

/* How to decode. */
typedef struct recur_seq2seq_decode {
    int beam;           /* 1: greedy (the most likely character each step); K > 1: beam search */
    float length_alpha; /* beam: finished hypotheses ranked by log P / len^alpha, len counting
                           the end marker; 0 = raw log-probability (favours short outputs),
                           1 = mean log-probability per character (default) */
    int max_len;        /* output characters at most; 0 = 2 * source characters + 10 */
} recur_seq2seq_decode;

RECUR_API void recur_seq2seq_decode_default(recur_seq2seq_decode *opt);

/* Translates src[0..len) (UTF-8) into out (UTF-8, NUL-terminated; *out_len
 * gets its length without the NUL). opt NULL: the defaults (greedy).
 * Invalid UTF-8 is RECUR_EINVAL. If the output and its NUL do not fit in
 * cap bytes, the call is RECUR_EINVAL with *out_len still the output's
 * length (so cap = *out_len + 1 works); 4 * max_len + 1 bytes always fit.
 * Thread-safe on a shared model (the call owns its buffers). */
RECUR_API int recur_seq2seq_predict(const recur_seq2seq *m, const char *src, size_t len,
                          const recur_seq2seq_decode *opt, char *out, size_t cap, size_t *out_len,
                          recur_error *err);

typedef struct recur_seq2seq_eval_result {
    size_t pairs;       /* pairs evaluated */
    size_t exact;       /* decoded exactly right */
    double exact_frac;  /* exact / pairs */
    double char_acc;    /* target characters right at their position, over target characters */
    double loss;        /* teacher-forced nats per target character, end marker included */
} recur_seq2seq_eval_result;

/* Decodes every source of pairs[0..n) with opt and compares with its target.
 * A target character the model cannot write makes that pair a miss. */
RECUR_API int recur_seq2seq_eval(const recur_seq2seq *m, const recur_pair *pairs, size_t n,
                       const recur_seq2seq_decode *opt, int threads,
                       recur_seq2seq_eval_result *res, recur_error *err);

typedef struct recur_seq2seq_event {
    recur_event_kind kind; /* START, STEP, EVAL, SAVE or SKIP (as for recur_trainer) */
    long long step, total_steps;
    double epoch;
    double train_loss;     /* nats per target character, this step */
    double val_loss;       /* teacher-forced, last validation (NaN before the first or without) */
    double val_exact;      /* exact-match fraction of the validation pairs, greedy (NaN likewise) */
    double best_exact;     /* of the saved model */
    double lr, grad_norm;  /* grad_norm: global, before clipping */
    double pairs_per_s, elapsed_s;
    long long train_pairs, val_pairs;
    const char *text;      /* SAVE: the path written */
} recur_seq2seq_event;

/* Return non-zero to stop after the current step (run returns RECUR_EINTERRUPT). */
typedef int (*recur_seq2seq_callback)(const recur_seq2seq_event *ev, void *user);

typedef struct recur_seq2seq_trainer recur_seq2seq_trainer;

/* A trainer for m (which must outlive it) on copies of the pairs. Uses from
 * cfg: batch (pairs per step), optim, lr, lr_decay(_every), momentum, clip
 * and clip_mode (norm: the global norm over encoder, decoder and attention),
 * steps or epochs, val_frac, eval_every, seed, threads. With val NULL the
 * last val_frac of the shuffled train pairs is held out, minus any whose
 * source also occurs in training (so validation is honest). */
RECUR_API int recur_seq2seq_trainer_new(recur_seq2seq *m, const recur_train_config *cfg,
                              const recur_pair *train, size_t ntrain, const recur_pair *val,
                              size_t nval, recur_seq2seq_trainer **out, recur_error *err);
RECUR_API void recur_seq2seq_trainer_free(recur_seq2seq_trainer *t);
/* Where the best model (highest validation exact match, then lowest loss; the
 * last one without validation) is written. NULL: nowhere. */
RECUR_API int recur_seq2seq_trainer_set_output(recur_seq2seq_trainer *t, const char *best_path,
                                     recur_error *err);
RECUR_API int recur_seq2seq_trainer_run(recur_seq2seq_trainer *t, recur_seq2seq_callback cb, void *user,
                              recur_error *err);
RECUR_API long long recur_seq2seq_trainer_total_steps(const recur_seq2seq_trainer *t);

/* The encoder-decoder on the one trainer (recur_seq2seq_trainer_* are
 * wrappers over it): m must outlive the trainer; the settings and the
 * validation split are as for recur_seq2seq_trainer_new. The best model has
 * the highest validation exact match (then the lowest loss); events carry
 * it as val_metric "exact_match" and count pairs in train_chars/val_chars. */
RECUR_API int recur_trainer_new_seq2seq(recur_seq2seq *m, const recur_train_config *cfg,
                                        const recur_pair *train, size_t ntrain,
                                        const recur_pair *val, size_t nval, recur_trainer **out,
                                        recur_error *err);

/* Where the decoder looked: the attention weights of a model with attention
 * (cfg.attention) when it writes tgt for src, teacher-forced (give it
 * recur_seq2seq_predict's output to see the prediction's attention). *rows
 * gets the output steps (tgt's characters + 1, the end marker), *cols the
 * source positions (src's characters + 1, its end marker); weights[r * cols
 * + c] (each row sums to 1). If cap < rows * cols the call is RECUR_EINVAL
 * with *rows and *cols set. A target character outside the target vocabulary
 * is RECUR_EVOCAB; a model without attention is RECUR_EINVAL. */
RECUR_API int recur_seq2seq_attention(const recur_seq2seq *m, const char *src, size_t src_len,
                                      const char *tgt, size_t tgt_len, float *weights,
                                      size_t cap, int *rows, int *cols, recur_error *err);

#ifdef __cplusplus
}
#endif
#endif /* RECUR_H */
