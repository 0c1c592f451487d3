/*
 * attention.h - Luong's "general" attention for the seq2seq decoder, as
 * pure kernels over flat arrays (no allocation, no I/O). For decoder state
 * d_t (Hd) and encoder outputs e_i (He, i < len of the row):
 *
 *   k_i    = W_a e_i                         keys, [S, B, Hd] (once per source)
 *   s_ti   = d_t . k_i                       scores
 *   a_t    = softmax_i(s_t)                  attention weights over the source
 *   c_t    = sum_i a_ti e_i                  context, [He]
 *   o_t    = tanh(W_c [c_t; d_t] + b_c)      attentional state, [Hd]: the head reads o_t
 *
 * Shapes are time-major: index (t*B + b). Derivation: docs/math.md#attention.
 */
#ifndef RECUR_ATTENTION_H
#define RECUR_ATTENTION_H

#include <stdint.h>

typedef struct attn_dims {
    int S, T, B;   /* source steps, target steps, rows */
    int He, Hd;    /* encoder and decoder widths */
} attn_dims;

/* Floats of scratch attn_backward needs. */
long attn_scratch(const attn_dims *d);

/* keys[S*B, Hd] = enc[S*B, He] . W_a^T  (W_a: [Hd, He]) */
void attn_keys(const attn_dims *d, const float *W_a, const float *enc, float *keys, int threads);

/* Forward for all T target steps. lens[B]: real source lengths (>= 1).
 * Writes alpha [T*B, S] (zero past each row's length), cat [T*B, He+Hd]
 * ([c_t; d_t]) and out [T*B, Hd] (o_t). W_c: [Hd, He+Hd], b_c: [Hd]. */
void attn_forward(const attn_dims *d, const int32_t *lens, const float *enc, const float *keys,
                  const float *dec, const float *W_c, const float *b_c, float *alpha, float *cat,
                  float *out, int threads);

/* Backward from dout [T*B, Hd]; accumulates (+=) into dW_a, dW_c, db_c,
 * denc [S*B, He] and ddec [T*B, Hd]. scratch: attn_scratch(d) floats. */
void attn_backward(const attn_dims *d, const int32_t *lens, const float *enc, const float *keys,
                   const float *dec, const float *W_a, const float *W_c, const float *alpha,
                   const float *cat, const float *out, const float *dout, float *dW_a,
                   float *dW_c, float *db_c, float *denc, float *ddec, float *scratch,
                   int threads);

#endif
