/*
 * seq2seq.h - the encoder-decoder inside librecur: two recur_models (a
 * headless encoder over the source characters, a decoder with a head over
 * the target characters) and optional Luong attention between them; the
 * batched forward and backward passes (teacher forcing), greedy and beam
 * decoding, and the encoded data the trainer and the evaluator share.
 * Public face: include/recur.h, "sequence-to-sequence". Math: docs/math.md#seq2seq.
 */
#ifndef RECUR_SEQ2SEQ_H
#define RECUR_SEQ2SEQ_H

#include "nn/attention.h"
#include "nn/model.h"
#include "formats/checkpoint.h"

/* Reserved control characters of the target vocabulary: the decoder's first
 * input (BOS) and the end of every target (EOS). EOS also ends every source,
 * so even an empty source gives the encoder one step to read (and attention
 * one position to look at). Data containing either is rejected. */
#define S2S_BOS 0x02u
#define S2S_EOS 0x03u
/* As in every application of recur, a source character never seen in
 * training is read as U+FFFD, which every source vocabulary holds. */
#define S2S_UNK 0xFFFDu

struct recur_seq2seq {
    recur_seq2seq_config cfg;
    recur_model *enc;      /* outputs = -1: states only */
    recur_model *dec;      /* O = target vocabulary size */
    int He, Hd;            /* encoder and decoder widths (equal: the encoder's final state starts the decoder) */
    int src_eos;           /* id of EOS in the source vocabulary */
    int src_unk;           /* id of U+FFFD in the source vocabulary (-1: none; unknown is an error) */
    int bos, eos;          /* ids of BOS and EOS in the target vocabulary */
    float *aw;             /* attention parameters (NULL without attention), naw floats: */
    size_t naw;            /*   W_a [Hd, He] at wa, W_c [Hd, He+Hd] at wc, b_c [Hd] at bc */
    size_t wa, wc, bc;
    long long steps;       /* optimizer steps taken */
    double best_val;       /* teacher-forced validation loss of the saved model (NaN: none) */
    double best_exact;     /* its validation exact-match fraction (NaN: none) */
    char *train_meta;      /* training settings as JSON (recur.train), or NULL */
};

/* Builds the structure for cfg over the two vocabularies (copied; they must
 * hold EOS, and the target also BOS); parameters are zero. */
int s2s_alloc(const recur_seq2seq_config *cfg, const recur_vocab *src, const recur_vocab *tgt,
              recur_seq2seq **out, recur_error *err);
/* PyTorch's default initialisation: the two recur_models as model_init;
 * nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for W_a, W_c and b_c. */
void s2s_init(recur_seq2seq *m, uint64_t seed);
/* Writes m plus a training state's tensors and metadata (extra may be
 * empty) atomically; recur_seq2seq_save is s2s_write with none. */
int s2s_write(const recur_seq2seq *m, const st_entry *extra, size_t nextra, const st_kv *extra_meta,
              size_t nextra_meta, const char *path, recur_error *err);
/* Builds a model from a parsed file (tensors of a training state ignored). */
int s2s_read(const st_file *f, recur_seq2seq **out, recur_error *err);
/* Marks the weights changed (workspaces re-pack their transposed copies). */
void s2s_touch(recur_seq2seq *m);

/* ---------------------------------------------------------------- encoded data */

/* Pairs as ids: source ids (without the EOS the encoder appends) and target
 * ids (without BOS/EOS). tgt_len[i] < 0: the target holds a character
 * outside the target vocabulary, so no decoding can match it (evaluation
 * counts the pair as a miss and leaves it out of the loss). */
typedef struct s2s_data {
    size_t n;
    int32_t *ids;              /* every pair's source ids, then its target ids */
    size_t *off;               /* [n] where pair i's ids start */
    int32_t *src_len, *tgt_len; /* [n] */
    int32_t *tgt_chars;        /* [n] characters in each target (also when tgt_len < 0) */
    int max_src, max_tgt;      /* longest source and (encodable) target, in characters */
} s2s_data;

/* Encodes pairs[0..n). A source character outside the source vocabulary
 * becomes U+FFFD's id. A target character outside the target vocabulary is
 * RECUR_EVOCAB naming the pair when strict_tgt (training), while evaluation
 * gets tgt_len -1. Invalid UTF-8 is RECUR_EINVAL; BOS or EOS inside the data
 * is RECUR_EINVAL. */
int s2s_encode(const recur_seq2seq *m, const recur_pair *pairs, size_t n, int strict_tgt,
               s2s_data *out, recur_error *err);
void s2s_data_free(s2s_data *d);

/* ---------------------------------------------------------------- teacher forcing */

/* One batch, time-major (index t*B + b). */
typedef struct s2s_batch {
    int S, T, B;         /* source steps (EOS included), target steps (BOS / EOS included), rows */
    int32_t *src;        /* [S*B] source ids then EOS, padded with EOS */
    int32_t *src_lens;   /* [B] 1..S: each row's source length with its EOS */
    int32_t *dec_in;     /* [T*B] BOS, target ids; padded with EOS */
    int32_t *dec_tgt;    /* [T*B] target ids, EOS; -1 past the end (no loss) */
} s2s_batch;

/* Allocates a batch for up to S x T x B. */
int s2s_batch_new(int S, int T, int B, s2s_batch *b, recur_error *err);
void s2s_batch_free(s2s_batch *b);
/* Fills b with pairs idx[0..n) of d (n <= the capacity's B; pairs with
 * tgt_len < 0 must not be among them). */
void s2s_batch_fill(const recur_seq2seq *m, const s2s_data *d, const size_t *idx, int n,
                    s2s_batch *b);

/* Everything one batch of up to (S, T, B) needs, allocated once. The
 * workspaces are sized for the largest batch and serve any smaller one:
 * model.c indexes every array by the current ws->T and ws->B only. */
typedef struct s2s_work {
    int S, T, B;
    workspace *ews, *dws;
    float *keys;    /* [S*B, Hd]  k_i = W_a e_i */
    float *alpha;   /* [T*B, S]   attention weights */
    float *cat;     /* [T*B, He+Hd] [c_t; d_t] */
    float *att;     /* [T*B, Hd]  o_t, what the head reads */
    float *datt;    /* [T*B, Hd]  dL/do_t */
    float *ddec;    /* [T*B, Hd]  dL/dd_t from attention */
    float *denc;    /* [S*B, He]  dL/de_i from attention */
    float *scratch; /* attn_scratch floats */
    double denom;   /* > 0: the loss's gradient is d(sum / denom) (a data-parallel rank's
                       share of a batch whose whole count is denom); 0: the batch's mean */
} s2s_work;

int s2s_work_new(const recur_seq2seq *m, int S, int T, int B, int threads, s2s_work **out,
                 recur_error *err);
void s2s_work_free(const recur_seq2seq *m, s2s_work *w);

/* Encoder over the batch's sources, its final states into the decoder's
 * slot 0, decoder over BOS + target (teacher forcing), attention, head,
 * softmax cross-entropy. Returns the loss summed over the counted target
 * positions (*count of them); with want_grad the logits become dL/dlogits
 * of the mean loss, ready for s2s_backward. drop: dropout masks (training) or NULL. */
double s2s_forward(const recur_seq2seq *m, s2s_work *w, const s2s_batch *b, rng *drop,
                   int want_grad, int *count);
/* Backward of the last s2s_forward(want_grad = 1): accumulates into g_enc
 * (enc->nw floats), g_dec (dec->nw) and g_att (naw; may be NULL without attention). */
void s2s_backward(const recur_seq2seq *m, s2s_work *w, const s2s_batch *b, float *g_enc,
                  float *g_dec, float *g_att);

/* ---------------------------------------------------------------- decoding */

/* Decoding buffers for sources of up to S-1 characters, B rows (greedy) or a
 * beam of B, and outputs of up to maxlen characters. */
typedef struct s2s_dec s2s_dec;

int s2s_dec_new(const recur_seq2seq *m, int S, int B, int maxlen, s2s_dec **out,
                recur_error *err);
void s2s_dec_free(const recur_seq2seq *m, s2s_dec *d);
/* Its encoder's workspace through ws_set_recompute (forward only: it keeps
 * one chunk's gates, not the whole source's). */
int s2s_dec_set_recompute(const recur_seq2seq *m, s2s_dec *d, int on, recur_error *err);

/* Greedy decoding of n <= B sources (pairs idx[0..n) of data): each row
 * takes the most likely character (never BOS) until EOS or its limit
 * (maxlen, or 2 * source + 10 when maxlen is 0). out: [n * d's maxlen],
 * out_len: [n]. */
void s2s_greedy(const recur_seq2seq *m, s2s_dec *d, const s2s_data *data, const size_t *idx,
                int n, int maxlen, int32_t *out, int *out_len);
/* Beam search of width K <= B for one source of len ids: hypotheses ranked
 * by log P / len^alpha (len counts EOS). out: [d's maxlen]. */
void s2s_beam(const recur_seq2seq *m, s2s_dec *d, const int32_t *src, int len, int K,
              float alpha, int maxlen, int32_t *out, int *out_len);

/* The default output limit for a source of len characters. */
int s2s_default_maxlen(int len);

/* Mean teacher-forced loss (nats per target character, EOS included) and
 * exact-match count over data (pairs with tgt_len < 0 are misses and carry
 * no loss). w: a work area for batches of up to w->B rows; d: a decoder for
 * as many rows (greedy) or the beam. */
int s2s_evaluate(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                 const recur_seq2seq_decode *opt, double *loss, size_t *exact, double *char_acc,
                 recur_error *err);
/* The same, also giving the loss as its sum over the counted target
 * characters and their count (data-parallel validation adds them up). */
int s2s_evaluate_sums(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                      const recur_seq2seq_decode *opt, double *loss_sum, long long *loss_count,
                      double *loss, size_t *exact, double *char_acc, recur_error *err);

#endif
