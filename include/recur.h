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
 *  - The library never prints, exits or aborts, and keeps no global state:
 *    two models in two threads are independent. One object must not be used
 *    from two threads at once.
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
} recur_model_config;

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
 * A character outside the vocabulary is RECUR_EVOCAB unless skip_unknown. */
RECUR_API int recur_eval_text(const recur_model *m, const char *text, size_t len, int skip_unknown,
                    int threads, recur_eval_result *res, recur_error *err);

/* ---------------------------------------------------------------- sampling */

typedef struct recur_sampler recur_sampler;

typedef struct recur_sample_config {
    float temperature; /* 0: greedy (argmax); otherwise logits / temperature */
    int top_k;         /* 0: off */
    float top_p;       /* 1: off (nucleus sampling) */
    uint64_t seed;
} recur_sample_config;

RECUR_API void recur_sample_config_default(recur_sample_config *cfg);

/* A generator over m (m must outlive it). State starts at zero. */
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
/* The probability the model gave to the character last returned by next(). */
RECUR_API float recur_sampler_last_prob(const recur_sampler *s);

/* ---------------------------------------------------------------- training */

typedef enum recur_optim { RECUR_ADAM = 0, RECUR_ADAGRAD, RECUR_RMSPROP, RECUR_SGD } recur_optim;
typedef enum recur_clip_mode { RECUR_CLIP_NORM = 0, RECUR_CLIP_VALUE = 1 } recur_clip_mode;

typedef struct recur_train_config {
    int seq;              /* T: steps per truncated-BPTT window */
    int batch;            /* B: parallel streams over the text (char-rnn's layout) */
    recur_optim optim;
    float lr;
    float lr_decay;       /* multiply lr by this ... */
    int lr_decay_every;   /* ... every this many steps (0: never) */
    float momentum;       /* sgd only */
    float clip;           /* 0: off */
    recur_clip_mode clip_mode;
    long long steps;      /* total steps of the run; if 0, epochs decide */
    double epochs;        /* used when steps == 0 */
    double val_frac;      /* fraction of the text, from the end, held out (if no val text) */
    int eval_every;       /* steps between validation passes (0: only at the end) */
    int sample_every;     /* steps between progress samples (0: never) */
    int sample_len;       /* characters in a progress sample */
    long long save_every; /* steps between periodic state saves (0: only at the end) */
    uint64_t seed;
    int threads;
    long long val_max_chars; /* cap on validation characters per pass (0: all) */
} recur_train_config;

RECUR_API void recur_train_config_default(recur_train_config *cfg);

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
    long long train_chars, val_chars;
    const char *text;   /* SAMPLE: the sample; SAVE: the path */
} recur_train_event;

/* Called from the training loop; return non-zero to stop it cleanly (the
 * trainer then saves its state and returns RECUR_EINTERRUPT). */
typedef int (*recur_train_callback)(const recur_train_event *ev, void *user);

typedef struct recur_trainer recur_trainer;

/* A trainer for m (m must outlive it) on train text and optional val text
 * (NULL: the last val_frac of train). Text buffers must outlive the trainer;
 * they may be memory-mapped files. */
RECUR_API int recur_trainer_new(recur_model *m, const recur_train_config *cfg, const char *train,
                      size_t train_len, const char *val, size_t val_len, recur_trainer **out,
                      recur_error *err);
RECUR_API void recur_trainer_free(recur_trainer *t);
/* Paths the trainer writes: best is the best-validation model; last is the
 * latest resumable state (weights + optimizer + data position + RNG). Either
 * may be NULL. */
RECUR_API int recur_trainer_set_outputs(recur_trainer *t, const char *best_path, const char *last_path,
                              recur_error *err);
/* Restores the trainer's full state from a checkpoint written as `last`. */
RECUR_API int recur_trainer_resume(recur_trainer *t, const char *path, recur_error *err);
/* Runs until cfg->steps; calls cb for progress. */
RECUR_API int recur_trainer_run(recur_trainer *t, recur_train_callback cb, void *user, recur_error *err);
/* Writes the resumable state now (used on interruption). */
RECUR_API int recur_trainer_save_state(recur_trainer *t, const char *path, recur_error *err);
RECUR_API long long recur_trainer_step(const recur_trainer *t);
RECUR_API long long recur_trainer_total_steps(const recur_trainer *t);

/* ---------------------------------------------------------------- gradient check */

typedef struct recur_gradcheck_row {
    char name[64];    /* tensor name, e.g. rnn.weight_hh_l1 */
    double max_rel;   /* worst relative error |a-n| / max(|a|,|n|) over checked entries */
    int checked;      /* entries compared */
} recur_gradcheck_row;

/* Builds a small random model of cfg over a vocab of vocab_size symbols, a
 * random window of T steps and batch B, and compares analytic gradients with
 * central differences (double-precision loss) for entries of every parameter
 * tensor. rows must hold room for 4*layers+3 rows; *nrows gets the count. */
RECUR_API int recur_gradcheck(const recur_model_config *cfg, int vocab_size, int T, int B, uint64_t seed,
                    recur_gradcheck_row *rows, int *nrows, recur_error *err);

#ifdef __cplusplus
}
#endif
#endif /* RECUR_H */
