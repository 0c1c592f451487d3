/*
 * model.h - the model inside librecur: input (one-hot or embedding) -> a
 * stack of recurrent layers -> a linear head; its parameters in one
 * contiguous buffer described by a table of named views (the optimizer,
 * checkpoints and the gradient check all walk the same table); and the
 * forward and backward passes over a window of T steps for B streams.
 */
#ifndef RECUR_MODEL_H
#define RECUR_MODEL_H

#include "nn/cells/cell.h"
#include "base/internal.h"
#include "base/rng.h"
#include "data/text.h"

typedef struct param_view {
    char name[48];   /* PyTorch state_dict key, e.g. rnn.weight_hh_l0 */
    int rows, cols;  /* cols == 0: a vector of rows elements */
    size_t off, n;   /* offset into the buffer and element count */
    int alias;       /* 1: the same floats as an earlier view (a tied head is the embedding):
                        walks that update or count parameters skip it */
} param_view;

typedef struct layer_off {
    size_t w_ih, w_hh, b_ih, b_hh;  /* offsets of W_ih [G*H, in], W_hh [G*H, H], b [G*H] */
    int in;                         /* input width: V (one-hot) or E, plus Cc; or H */
} layer_off;

struct recur_model {
    recur_model_config cfg;
    const cell_def *cell;
    recur_vocab *vocab;
    int V, H, L, E, G;
    int O;                 /* head outputs: V for a language model, else classes/tags */
    int D;                 /* directions: 1, or 2 when bidirectional */
    int U;                 /* recurrent units (layer, direction): L * D, indexed l*D + d */
    int Cc;                /* conditioning classes: layer 0's input gets onehot(class) appended */
    float *w;              /* all parameters, nw floats */
    size_t nw;
    param_view *views;     /* table of named tensors over w */
    int nviews;
    layer_off *lay;        /* [U] */
    size_t embed, head_w, head_b;
    long long steps;       /* optimizer steps taken (saved in checkpoints) */
    double best_val;       /* best validation loss so far (NaN if none) */
    char *train_meta;      /* training settings as JSON text, saved as recur.train (may be NULL) */
    recur_task task;
    char **labels;         /* [nlabels] classes or tags (see recur_model_label), owned */
    int nlabels;
    unsigned long version; /* bumped whenever w changes, so workspaces re-pack */
};

/* Allocates the model's structure and parameter table for cfg over vocab
 * (copied); parameters are zero until model_init. */
int model_alloc(const recur_model_config *cfg, const recur_vocab *vocab, recur_model **out,
                recur_error *err);
/* Gives the model its task and labels (copied). Classify and tag need
 * nlabels == O; condlm needs nlabels == Cc. */
int model_set_labels(recur_model *m, recur_task task, const char *const *labels, int n,
                     recur_error *err);
/* Labels from the JSON array of strings stored as recur.labels. */
int labels_from_json(const char *json, char ***out, int *n, recur_error *err);
void labels_free(char **labels, int n);

/* ---- kinds of model ----
 * A model's kind is its task plus the shape that task implies. What each
 * well-formed kind is (the kernels index the head's logits by character id
 * for lm and condlm, so their head must have exactly V rows):
 *   lm        O == V, one direction, no conditioning, no labels
 *   condlm    O == V, one direction, Cc == labels >= 1
 *   classify  O == labels >= 1, no conditioning (either direction count)
 *   tag       O == labels >= 1, no conditioning (either direction count)
 * Anything else (for instance a public-config model with outputs != 0, cond
 * or bidirectional but task lm, or outputs -1: no head) is of no kind, and
 * every entry point refuses it. */
enum {
    MODEL_KIND_LM = 1u << RECUR_TASK_LM,
    MODEL_KIND_CLASSIFY = 1u << RECUR_TASK_CLASSIFY,
    MODEL_KIND_TAG = 1u << RECUR_TASK_TAG,
    MODEL_KIND_CONDLM = 1u << RECUR_TASK_CONDLM,
};
/* The one check every entry point makes before it runs a model: RECUR_OK
 * when m is a well-formed model of one of the kinds in accept (a mask of
 * MODEL_KIND_*), else RECUR_EINVAL with one line naming the entry point,
 * what it takes and what m is, e.g. "recur_eval_text takes a language
 * model; this is a bidirectional tag model (5 tags)". entry: a name for the
 * message ("recur eval", "recur_sampler_new"). */
int model_check_kind(const recur_model *m, unsigned accept, const char *entry, recur_error *err);
/* What m is, as a phrase ("a language model", "a classify model (3 labels)",
 * "a model of no usable kind (task lm, 7 outputs over 60 characters, ...)"). */
void model_kind_describe(const recur_model *m, char *buf, size_t cap);

/* Dropout. The probability at layer l's input: input dropout at 0, the
 * between-layer dropout above. Whether a training forward drops anything.
 * How many uniform draws a training forward over a batch of Tall x B rows
 * makes (pool: one head row per stream), for ranks that hold none of a
 * batch but must move their generator as the others do. */
float model_drop_p(const recur_model *m, int l);
int model_has_dropout(const recur_model *m);
size_t model_dropout_draws(const recur_model *m, int Tall, int B, int pooled);
/* Whether a and b drop differently; what names the first difference as the
 * flags that set it ("--dropout-in 0.1, not 0"). */
int model_dropout_differs(const recur_model *a, const recur_model *b, char *what, size_t cap);
/* The settings a model trains with beyond its shape (the dropouts, the
 * tie), as numbers: what data-parallel ranks must agree on. */
void model_train_settings(const recur_model *m, float out[5]);

/* PyTorch's default initialisation from r. */
void model_init(recur_model *m, rng *r);
const param_view *model_find_view(const recur_model *m, const char *name);
/* The (offset, count) pairs of m's weight matrices (views with two
 * dimensions: the embedding, W_ih, W_hh, the head; not the biases), where
 * weight decay applies; out holds 2 * m->nviews. Returns the pair count. */
int model_matrix_ranges(const recur_model *m, size_t *out);

/* Per-window buffers for one (T, B): activations saved for backward,
 * transposed weights, scratch. Sized once; no allocation per step. */
typedef struct rec_state rec_state; /* rec.c: thread pool, packed W_hh */

typedef struct workspace {
    int T, B, threads;
    int T0, B0;            /* the window ws_new made it for (T, B may be set smaller) */
    int training;          /* dropout on */
    unsigned long packed;  /* model version the transposed weights belong to (0: none) */
    float **hs, **cs;      /* [U] (T+1)*B*H; slot 0 = initial state, slot t+1 = h_t (in the
                              unit's own time order: a reverse unit's t runs backwards) */
    float **cache;         /* [U] T*B*H*cell->cache: what the cell saves for its backward. It
                              also holds the step's input projections before the step runs, and
                              its gate gradients after the backward (rec.h: rec_rows). Under
                              recompute every unit's is one chunk of crows rows (below) */
    uint8_t **keep;        /* [L] dropout masks of the layers' inputs (1: kept, scaled by
                              1/(1-p); 0: dropped): layer 0's embedding values (input
                              dropout), l > 0 the layer below's outputs; NULL where none. A layer's input
                              (embedding rows, dropped-out outputs) is made again from these
                              when the backward needs it, not kept */
    int dropped;           /* the last forward applied dropout */
    uint8_t *keep_out;     /* [T*B*D*H] output dropout's mask (pooled: [B*D*H]); NULL without */
    float *head_in;        /* the same size: the head's input through it (kept for backward) */
    int drop_T, drop_B, drop_off; /* data-parallel: this workspace's B rows are rows
                              [drop_off, drop_off + B) of a batch of drop_T x drop_B whose
                              masks are drawn whole (the one-process draws), and the rows it
                              keeps are its own (t < T); drop_B 0: the masks are its own */
    float **cat;           /* [L] bidirectional only: the layer's output [T*B, 2H], in sequence order */
    float **wt_ih;         /* [U] W_ih^T [in, G*H] where the forward reads it (one-hot, sampling) */
    int32_t *lens;         /* [B] real length of each row (<= T); a reverse unit starts at its end.
                              Defaults to T; sequences are padded at the end. */
    int pool;              /* many-to-one: the head reads one feature row per stream (below) */
    float *pooled;         /* [B, D*H] pool: forward state at lens-1, reverse state at position 0 */
    float *dpooled;        /* [B, D*H] its gradient */
    int32_t *rev;          /* [T*B] reverse order: row n of a reverse unit is sequence row rev[n] */
    float *xr, *dxr;       /* [T*B*max in] a layer's input in reverse order, and its gradient
                              (bidirectional only) */
    int32_t *ids_r, *cond_r; /* [T*B] ids and classes in reverse order */
    float *wt_head;        /* W_head^T [H, V] */
    int32_t *ids;          /* [T*B] the window's inputs */
    int32_t *cond;         /* [T*B] conditioning class per position (models with Cc > 0) */
    float *ph;             /* [B*G*H] one step's recurrent projection (forward); for GRU twice
                              that: its dph of steps t and t-1 (backward, rec.c) */
    float *logits;         /* [T*B*O]; softmax_xent turns it into dlogits */
    float *dh_seq;         /* [T*B*max(D*H, E)] gradients at the layer outputs; a layer's input
                              gradient replaces them (and, RNN, its gate gradients) */
    float *dx_seq;         /* the same size, where a layer's input gradient goes when dh_seq is
                              still in use (RNN: it holds the gate gradients; bidirectional);
                              NULL when never needed. Under recompute, a one-direction model
                              whose embedding is narrower than H has one of T*B*E for it */
    float *dh, *dhp;       /* [B*H] */
    float **dh0, **dc0;    /* [U] [B*H] gradients of the initial states (after backward) */
    float **dhf, **dcf;    /* [U] [B*H] extra gradient on each row's state after its last real
                              step (an encoder's final state feeds a decoder); used if final_grad */
    int final_grad;
    double step_min_flops; /* a unit's steps with fewer FLOPs than this run on one thread
                              (rec.c; REC_STEP_MIN_FLOPS); tests lower it to share small ones */
    rec_state *rec;        /* the fast recurrence's state (rec.h) */
    int bf16;              /* the products of its passes take bfloat16 inputs (ws_set_bf16);
                              evaluation through a training workspace sets it to 0 for its
                              passes (seq_evaluate_with, s2s_evaluate_sums) */
    int recompute;         /* the gates are not kept: the forward runs chunk by chunk through a
                              cache of crows rows that every unit shares, and the backward
                              makes each chunk's gates again before its sweep
                              (ws_set_recompute); cache[u] all point at it */
    int crows;             /* rows of that cache (a whole number of B-row steps, ws_set_recompute) */
    float *xchunk;         /* [crows * max in] a chunk's layer input, made again (recompute) */
    size_t bytes;          /* what ws_new allocated for the window (activations, gradients,
                              scratch: the terms that grow with T and B), in bytes */
    size_t wbytes;         /* and the rest: copies of weights in the kernels' layouts, the
                              threads' product scratch (docs/design.md#memory) */
} workspace;

/* A workspace made for (T, B) also serves any smaller window: set ws->T and
 * ws->B (and ws->lens) before a pass. Every buffer is indexed with the
 * current T and B, never the ones it was made with (seqtask.c and seq2seq.c
 * batch sequences of different lengths through one workspace). */
int ws_new(const recur_model *m, int T, int B, int threads, workspace **out, recur_error *err);
/* bf16 mixed precision for the passes through ws (training): every matrix
 * product's inputs (weights, activations, gradients) rounded to bfloat16,
 * its sums, the weights themselves, the pointwise gate math and everything
 * else in fp32. Where the CPU has no AVX512-BF16 (gemm_has_bf16() == 0) it
 * leaves ws in fp32 and returns 0: ws->bf16 says what it got. Batch-1
 * windows keep their recurrent matrix-vector steps in fp32. */
int ws_set_bf16(const recur_model *m, workspace *ws, int on, recur_error *err);
/* Recompute instead of keeping (training, LSTM and GRU): the window's gates
 * are not kept for the backward; it remakes them a chunk of steps at a
 * time (about 1024 rows: rec_chunk_steps) from the kept h and c, at the cost
 * of the forward's products once more (docs/design.md#recompute). A unit
 * then keeps h (and c) at every step and nothing else; the cache is one
 * chunk for all units. The weight gradients are summed chunk by chunk, so
 * they differ from a keeping run's in rounding, not more. A cell without a
 * cache (RNN) has nothing to recompute: ws is left as it is. Sized for the
 * window ws was made for (T0, B0), so any smaller window may follow; once
 * on, it stays on. RECUR_ENOMEM leaves ws as it was. */
int ws_set_recompute(const recur_model *m, workspace *ws, int on, recur_error *err);
void ws_free(const recur_model *m, workspace *ws);
/* Sets every unit's initial state (slot 0) to zero. */
void ws_zero_state(const recur_model *m, workspace *ws);
/* Copies each unit's final state (slot T) into slot 0: carry to the next window. */
void ws_carry_state(const recur_model *m, workspace *ws);
/* The transposed copies of W_ih and the head that small windows multiply by
 * (workspace.c), made again only when the weights changed (m->version). */
void ws_pack(const recur_model *m, workspace *ws);

/* Forward over ids[T*B] (time-major: t*B + b) from the states in slot 0;
 * for a conditioned model (Cc > 0) ws->cond[T*B] must hold each position's
 * class; ws->lens the rows' lengths (bidirectional or pooled). Fills
 * ws->logits: [T*B, O], or [B, O] when ws->pool. drop draws dropout masks. */
void model_forward(const recur_model *m, workspace *ws, const int32_t *ids, rng *drop);
/* Backward from ws->logits holding dL/dlogits; accumulates into g (same
 * layout as m->w) and leaves dL/dh0, dL/dc0 in ws->dh0, ws->dc0. */
void model_backward(const recur_model *m, workspace *ws, float *g);

/* The same passes in pieces, for models that put something between the
 * recurrent stack and the head (seq2seq attention):
 *   model_forward_stack   the layers only; model_top then gives the top
 *                         layer's output [T*B, D*H] in sequence order
 *   model_forward_head    logits [rows, O] = W_hy in + b_y
 *   model_backward_head   head gradients into g; din = dlogits W_hy (may be NULL)
 *   model_backward_stack  the layers, from ws->dh_seq [T*B, D*H] (sequence order)
 *                         plus ws->dhf/dcf when ws->final_grad */
void model_forward_stack(const recur_model *m, workspace *ws, const int32_t *ids, rng *drop);
const float *model_top(const recur_model *m, const workspace *ws);
void model_forward_head(const recur_model *m, workspace *ws, const float *in, int rows);
void model_backward_head(const recur_model *m, workspace *ws, const float *in, int rows, float *g,
                         float *din);
void model_backward_stack(const recur_model *m, workspace *ws, float *g);
/* Output dropout, for callers that run the head themselves: the head's
 * input for rows x D*H values of top (top itself unless the forward drops,
 * else masked into ws->head_in with new masks drawn from drop); what the
 * forward gave the head (for its backward); and the gradient at the head's
 * input taken back through the masks, in place. */
const float *model_head_input(const recur_model *m, workspace *ws, const float *top, int rows, rng *drop);
const float *model_head_read(const recur_model *m, const workspace *ws, const float *top);
void model_head_input_grad(const recur_model *m, const workspace *ws, float *d, int rows);
/* Each row's state after its last real step (slot lens[b]) of unit u: h, c [B*H] (c may be NULL). */
void ws_final_state(const recur_model *m, const workspace *ws, int u, float *h, float *c);

/* Softmax cross-entropy over N rows of V logits, in place: logits become
 * dL/dlogits of the mean loss over rows whose target is >= 0 (rows with a
 * negative target are ignored and get zero gradient). Returns the summed
 * loss in nats (double) and sets *count to the rows counted. With
 * want_grad == 0 the logits are left as log-probabilities' inputs and only
 * the loss is computed. */
double softmax_xent(float *logits, const int32_t *tgt, int N, int V, int want_grad, int *count);
/* softmax_xent with the gradient d(sum / denom)/dz, for a share of a batch
 * whose whole count is denom (data-parallel ranks). */
double softmax_xent_over(float *logits, const int32_t *tgt, int N, int V, int want_grad, double denom,
                         int *count);

#endif
