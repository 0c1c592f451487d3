/*
 * seq2seq.c - the encoder-decoder model: its structure over two recur_models
 * and the attention parameters, vocabularies from pairs, pairs as ids, the
 * teacher-forced forward and backward passes of a batch (the equations are
 * beside the code and derived in docs/math.md#seq2seq), and its checkpoint
 * (docs/format.md, "Sequence-to-sequence checkpoints"). Decoding and the
 * trainer are in seq2seq_decode.c and seq2seq_train.c.
 */
#include "tasks/seq2seq.h"

#include "formats/checkpoint.h"
#include "data/dataset.h"
#include "nn/rec.h"
#include "formats/safetensors.h"
#include "data/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S2S_MAX_CHARS 1000000 /* characters per source or target: keeps every count an int */

/* ---------------------------------------------------------------- the model */

void recur_seq2seq_config_default(recur_seq2seq_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cell = RECUR_CELL_LSTM;
    cfg->hidden = 128;
    cfg->layers = 1;
}

int s2s_alloc(const recur_seq2seq_config *cfg, const recur_vocab *src, const recur_vocab *tgt,
              recur_seq2seq **out, recur_error *err)
{
    *out = NULL;
    if (cfg->attention != 0 && cfg->attention != 1)
        return set_error(err, RECUR_EINVAL, "attention must be 0 or 1, got %d", cfg->attention);
    if (src->bytes || tgt->bytes)
        return set_error(err, RECUR_EINVAL, "seq2seq vocabularies are of code points, not bytes");
    int src_eos = recur_vocab_id(src, S2S_EOS), bos = recur_vocab_id(tgt, S2S_BOS),
        eos = recur_vocab_id(tgt, S2S_EOS);
    if (src_eos < 0)
        return set_error(err, RECUR_EINVAL, "the source vocabulary lacks the end marker U+0003");
    if (bos < 0 || eos < 0)
        return set_error(err, RECUR_EINVAL, "the target vocabulary lacks the %s marker U+%04X",
                         bos < 0 ? "start" : "end", bos < 0 ? S2S_BOS : S2S_EOS);
    recur_seq2seq *m = calloc(1, sizeof *m);
    if (!m) return set_error(err, RECUR_ENOMEM, "out of memory");
    m->cfg = *cfg;
    m->best_val = m->best_exact = NAN;
    m->src_eos = src_eos;
    m->src_unk = recur_vocab_id(src, S2S_UNK);
    m->bos = bos;
    m->eos = eos;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = cfg->cell;
    mc.hidden = cfg->hidden;
    mc.layers = cfg->layers;
    mc.embed = cfg->embed;
    mc.dropout = cfg->dropout;
    mc.dropout_in = cfg->dropout_in;
    mc.dropout_out = cfg->dropout_out; // the decoder's head only (the encoder has none)
    mc.variational = cfg->variational;
    mc.outputs = -1; // the encoder: states only, no head
    int rc = model_alloc(&mc, src, &m->enc, err);
    mc.outputs = 0; // the decoder: a head over the target vocabulary
    if (!rc) rc = model_alloc(&mc, tgt, &m->dec, err);
    if (rc) {
        recur_seq2seq_free(m);
        return rc;
    }
    m->He = m->enc->H;
    m->Hd = m->dec->H;
    if (cfg->attention) {
        const size_t He = (size_t)m->He, Hd = (size_t)m->Hd;
        m->wa = 0;
        m->wc = Hd * He;
        m->bc = m->wc + Hd * (He + Hd);
        m->naw = m->bc + Hd;
        if (!(m->aw = xcalloc(m->naw, sizeof(float)))) {
            recur_seq2seq_free(m);
            return set_error(err, RECUR_ENOMEM, "out of memory for the attention parameters");
        }
    }
    *out = m;
    return RECUR_OK;
}

void s2s_touch(recur_seq2seq *m)
{
    m->enc->version++;
    m->dec->version++;
}

void s2s_init(recur_seq2seq *m, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    model_init(m->enc, &r);
    model_init(m->dec, &r);
    if (m->aw) {
        // nn.Linear(in, out): weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)).
        float ka = 1.0f / sqrtf((float)m->He), kc = 1.0f / sqrtf((float)(m->He + m->Hd));
        for (size_t i = 0; i < m->naw; i++)
            m->aw[i] = (2.0f * rng_uniform(&r) - 1.0f) * (i < m->wc ? ka : kc);
    }
    s2s_touch(m);
}

void recur_seq2seq_free(recur_seq2seq *m)
{
    if (!m) return;
    recur_model_free(m->enc);
    recur_model_free(m->dec);
    free(m->aw);
    free(m->train_meta);
    free(m);
}

void recur_seq2seq_get_info(const recur_seq2seq *m, recur_seq2seq_info *info)
{
    memset(info, 0, sizeof *info);
    info->cfg = m->cfg;
    info->src_vocab = m->enc->V;
    info->tgt_vocab = m->dec->V;
    info->params = m->enc->nw + m->dec->nw + m->naw;
    info->steps = m->steps;
    info->best_val = m->best_val;
    info->best_exact = m->best_exact;
}

/* ---------------------------------------------------------------- vocabularies */

// Decodes s[0..len) into cps (room for len code points); -1 on invalid
// UTF-8 with *bad at its byte offset.
static int decode_all(const char *s, size_t len, uint32_t *cps, size_t *n, size_t *bad)
{
    size_t pos = 0, k = 0;
    while (pos < len) {
        int32_t cp = utf8_decode((const uint8_t *)s, len, &pos);
        if (cp < 0) {
            *bad = pos;
            return -1;
        }
        cps[k++] = (uint32_t)cp;
    }
    *n = k;
    return 0;
}

// Validates one side of pair i and returns its characters in cps.
static int pair_chars(const recur_pair *p, size_t i, int tgt, uint32_t *cps, size_t *n,
                      recur_error *err)
{
    const char *s = tgt ? p->tgt : p->src, *side = tgt ? "target" : "source";
    size_t len = tgt ? p->tgt_len : p->src_len, bad;
    if (!s && len) return set_error(err, RECUR_EINVAL, "pair %zu: NULL %s", i + 1, side);
    if (len > (size_t)4 * S2S_MAX_CHARS)
        return set_error(err, RECUR_EINVAL, "pair %zu: the %s is longer than %d characters", i + 1,
                         side, S2S_MAX_CHARS);
    if (decode_all(s, len, cps, n, &bad))
        return set_error(err, RECUR_EINVAL, "pair %zu: the %s is not valid UTF-8 (byte %zu)", i + 1,
                         side, bad + 1);
    if (*n > S2S_MAX_CHARS)
        return set_error(err, RECUR_EINVAL, "pair %zu: the %s is longer than %d characters", i + 1,
                         side, S2S_MAX_CHARS);
    for (size_t k = 0; k < *n; k++)
        if (cps[k] == S2S_BOS || cps[k] == S2S_EOS)
            return set_error(err, RECUR_EINVAL,
                             "pair %zu: the %s holds U+%04X, a control character seq2seq reserves "
                             "for its %s marker",
                             i + 1, side, (unsigned)cps[k], cps[k] == S2S_BOS ? "start" : "end");
    return RECUR_OK;
}

static size_t longest_side(const recur_pair *pairs, size_t n)
{
    size_t mx = 1;
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].src_len > mx) mx = pairs[i].src_len;
        if (pairs[i].tgt_len > mx) mx = pairs[i].tgt_len;
    }
    return mx;
}

// The code points of every source (side 0) or target (side 1), plus the
// reserved markers (and U+FFFD for sources), as a vocabulary. A bitmap over all of Unicode (136 KB)
// keeps this one linear pass however many pairs there are.
static int side_vocab(const recur_pair *pairs, size_t n, int side, recur_vocab **out,
                      recur_error *err)
{
    enum { NCP = 0x110000 };
    uint8_t *seen = calloc(NCP / 8, 1);
    uint32_t *cps = xmalloc(longest_side(pairs, n), sizeof *cps), *chars = NULL;
    int rc = RECUR_OK, nc = 0;
    if (!seen || !cps) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        size_t k;
        if ((rc = pair_chars(&pairs[i], i, side, cps, &k, err))) break;
        for (size_t j = 0; j < k; j++) seen[cps[j] >> 3] |= (uint8_t)(1u << (cps[j] & 7));
    }
    seen[S2S_EOS >> 3] |= 1u << (S2S_EOS & 7);
    if (side)
        seen[S2S_BOS >> 3] |= 1u << (S2S_BOS & 7);
    else
        seen[S2S_UNK >> 3] |= 1u << (S2S_UNK & 7);
    for (uint32_t c = 0; !rc && c < NCP; c++) nc += (seen[c >> 3] >> (c & 7)) & 1;
    if (!rc && !(chars = xmalloc((size_t)nc, sizeof *chars)))
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
    if (!rc) {
        int k = 0;
        for (uint32_t c = 0; c < NCP; c++)
            if ((seen[c >> 3] >> (c & 7)) & 1) chars[k++] = c;
        rc = vocab_from_chars(chars, nc, 0, out, err);
    }
    free(seen);
    free(cps);
    free(chars);
    return rc;
}

int recur_seq2seq_new(const recur_seq2seq_config *cfg, const recur_pair *pairs, size_t n,
                      uint64_t seed, recur_seq2seq **out, recur_error *err)
{
    if (!cfg || !out || (!pairs && n)) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    if (n == 0) return set_error(err, RECUR_EINVAL, "no pairs to build the vocabularies from");
    recur_vocab *src = NULL, *tgt = NULL;
    int rc = side_vocab(pairs, n, 0, &src, err);
    if (!rc) rc = side_vocab(pairs, n, 1, &tgt, err);
    if (!rc) rc = s2s_alloc(cfg, src, tgt, out, err);
    if (!rc) s2s_init(*out, seed);
    recur_vocab_free(src);
    recur_vocab_free(tgt);
    return rc;
}

/* ---------------------------------------------------------------- pairs as ids */

int s2s_encode(const recur_seq2seq *m, const recur_pair *pairs, size_t n, int strict_tgt,
               s2s_data *out, recur_error *err)
{
    memset(out, 0, sizeof *out);
    if (!pairs && n) return set_error(err, RECUR_EINVAL, "NULL pairs");
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        // A side's characters are counted in an int (lengths, windows, the
        // default max_len of twice the source): bound them first.
        if (pairs[i].src_len > DATA_MAX_EXAMPLE || pairs[i].tgt_len > DATA_MAX_EXAMPLE)
            return set_error(err, RECUR_EINVAL, "pair %zu: a side is longer than %d bytes", i + 1, DATA_MAX_EXAMPLE);
        if (size_add(total, pairs[i].src_len, &total) || size_add(total, pairs[i].tgt_len, &total))
            return set_error(err, RECUR_ENOMEM, "too many pairs");
    }
    out->n = n;
    out->ids = xmalloc(total ? total : 1, sizeof *out->ids);
    out->off = xmalloc(n ? n : 1, sizeof *out->off);
    out->src_len = xmalloc(n ? n : 1, sizeof *out->src_len);
    out->tgt_len = xmalloc(n ? n : 1, sizeof *out->tgt_len);
    out->tgt_chars = xmalloc(n ? n : 1, sizeof *out->tgt_chars);
    uint32_t *cps = xmalloc(longest_side(pairs, n), sizeof *cps);
    int rc = RECUR_OK;
    if (!out->ids || !out->off || !out->src_len || !out->tgt_len || !out->tgt_chars || !cps)
        rc = set_error(err, RECUR_ENOMEM, "out of memory for %zu pairs", n);
    size_t at = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        out->off[i] = at;
        for (int side = 0; side < 2 && !rc; side++) {
            const recur_vocab *v = side ? m->dec->vocab : m->enc->vocab;
            size_t k;
            if ((rc = pair_chars(&pairs[i], i, side, cps, &k, err))) break;
            int len = (int)k;
            for (size_t j = 0; j < k; j++) {
                int id = recur_vocab_id(v, cps[j]);
                if (id < 0 && side == 0) id = m->src_unk; // read as U+FFFD
                if (id < 0) {
                    if (side && !strict_tgt) {
                        len = -1; // no decoding can write this target
                        break;
                    }
                    char u[5] = {0};
                    utf8_encode(cps[j], u);
                    int printable = cps[j] >= 0x20 && cps[j] != 0x7F;
                    rc = set_error(err, RECUR_EVOCAB,
                                   "pair %zu: %s character %zu, U+%04lX%s%s%s, is not in the model's "
                                   "%s vocabulary",
                                   i + 1, side ? "target" : "source", j + 1, (unsigned long)cps[j],
                                   printable ? " '" : "", printable ? u : "", printable ? "'" : "",
                                   side ? "target" : "source");
                    break;
                }
                out->ids[at + j] = id;
            }
            if (rc) break;
            if (side == 0) {
                out->src_len[i] = len;
                if (len > out->max_src) out->max_src = len;
            } else {
                out->tgt_len[i] = len;
                out->tgt_chars[i] = (int32_t)k;
                if (len > out->max_tgt) out->max_tgt = len;
            }
            at += k;
        }
    }
    free(cps);
    if (rc) s2s_data_free(out);
    return rc;
}

void s2s_data_free(s2s_data *d)
{
    if (!d) return;
    free(d->ids);
    free(d->off);
    free(d->src_len);
    free(d->tgt_len);
    free(d->tgt_chars);
    memset(d, 0, sizeof *d);
}

int s2s_batch_new(int S, int T, int B, s2s_batch *b, recur_error *err)
{
    memset(b, 0, sizeof *b);
    b->S = S;
    b->T = T;
    b->B = B;
    b->src = xmalloc((size_t)S * B, sizeof(int32_t));
    b->src_lens = xmalloc((size_t)B, sizeof(int32_t));
    b->dec_in = xmalloc((size_t)T * B, sizeof(int32_t));
    b->dec_tgt = xmalloc((size_t)T * B, sizeof(int32_t));
    if (!b->src || !b->src_lens || !b->dec_in || !b->dec_tgt) {
        s2s_batch_free(b);
        return set_error(err, RECUR_ENOMEM, "out of memory for a batch of %d pairs", B);
    }
    return RECUR_OK;
}

void s2s_batch_free(s2s_batch *b)
{
    free(b->src);
    free(b->src_lens);
    free(b->dec_in);
    free(b->dec_tgt);
    memset(b, 0, sizeof *b);
}

void s2s_batch_fill(const recur_seq2seq *m, const s2s_data *d, const size_t *idx, int n,
                    s2s_batch *b)
{
    int S = 1, T = 1;
    for (int r = 0; r < n; r++) {
        if (d->src_len[idx[r]] + 1 > S) S = d->src_len[idx[r]] + 1;
        if (d->tgt_len[idx[r]] + 1 > T) T = d->tgt_len[idx[r]] + 1;
    }
    b->S = S;
    b->T = T;
    b->B = n;
    for (int r = 0; r < n; r++) {
        const int32_t *src = d->ids + d->off[idx[r]];
        const int32_t *tgt = src + d->src_len[idx[r]];
        int ls = d->src_len[idx[r]], lt = d->tgt_len[idx[r]];
        // Encoder: x = source, EOS, padding (EOS; never read past the row's length).
        for (int t = 0; t < S; t++) b->src[t * n + r] = t < ls ? src[t] : m->src_eos;
        b->src_lens[r] = ls + 1;
        // Decoder (teacher forcing): input BOS y_1 .. y_n, target y_1 .. y_n EOS.
        for (int t = 0; t < T; t++) {
            b->dec_in[t * n + r] = t == 0 ? m->bos : (t <= lt ? tgt[t - 1] : m->eos);
            b->dec_tgt[t * n + r] = t < lt ? tgt[t] : (t == lt ? m->eos : -1);
        }
    }
}

/* ---------------------------------------------------------------- work area */

int s2s_work_new(const recur_seq2seq *m, int S, int T, int B, int threads, s2s_work **out,
                 recur_error *err)
{
    *out = NULL;
    s2s_work *w = calloc(1, sizeof *w);
    if (!w) return set_error(err, RECUR_ENOMEM, "out of memory");
    w->S = S;
    w->T = T;
    w->B = B;
    int rc = ws_new(m->enc, S, B, threads, &w->ews, err);
    if (!rc) rc = ws_new(m->dec, T, B, threads, &w->dws, err);
    if (!rc && m->aw) {
        attn_dims dims = {S, T, B, m->He, m->Hd};
        const size_t SB = (size_t)S * B, TB = (size_t)T * B;
        w->keys = xmalloc(SB * m->Hd, sizeof(float));
        w->alpha = xmalloc(TB * S, sizeof(float));
        w->cat = xmalloc(TB * (m->He + m->Hd), sizeof(float));
        w->att = xmalloc(TB * m->Hd, sizeof(float));
        w->datt = xmalloc(TB * m->Hd, sizeof(float));
        w->ddec = xmalloc(TB * m->Hd, sizeof(float));
        w->denc = xmalloc(SB * m->He, sizeof(float));
        w->scratch = xmalloc((size_t)attn_scratch(&dims), sizeof(float));
        if (!w->keys || !w->alpha || !w->cat || !w->att || !w->datt || !w->ddec || !w->denc ||
            !w->scratch)
            rc = set_error(err, RECUR_ENOMEM, "out of memory for a %dx%dx%d seq2seq batch", S, T, B);
    }
    if (rc) {
        s2s_work_free(m, w);
        return rc;
    }
    *out = w;
    return RECUR_OK;
}

void s2s_work_free(const recur_seq2seq *m, s2s_work *w)
{
    if (!w) return;
    ws_free(m->enc, w->ews);
    ws_free(m->dec, w->dws);
    void *p[] = {w->keys, w->alpha, w->cat, w->att, w->datt, w->ddec, w->denc, w->scratch};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(w);
}

/* ---------------------------------------------------------------- forward and backward */

double s2s_forward(const recur_seq2seq *m, s2s_work *w, const s2s_batch *b, rng *drop,
                   int want_grad, int *count)
{
    const recur_model *enc = m->enc, *dec = m->dec;
    workspace *ews = w->ews, *dws = w->dws;
    const int S = b->S, T = b->T, B = b->B;
    // Shrink the workspaces to this batch (they were sized for the largest).
    ews->T = S;
    ews->B = dws->B = B;
    dws->T = T;
    memcpy(ews->lens, b->src_lens, sizeof(int32_t) * (size_t)B);

    // Encoder: e_i = RNN_enc(x_i, e_{i-1}) from zero, i < len_b (then EOS
    // padding that nothing reads: the final state is taken at each row's length).
    ws_zero_state(enc, ews);
    model_forward_stack(enc, ews, b->src, drop);
    // Decoder state at t = 0, per layer: h^dec_0 = h^enc_{len_b} (and c for LSTM).
    for (int u = 0; u < dec->U; u++) ws_final_state(enc, ews, u, dws->hs[u], dws->cs[u]);
    // Decoder (teacher forcing): d_t = RNN_dec(y_{t-1}, d_{t-1}), y_0 = BOS.
    model_forward_stack(dec, dws, b->dec_in, drop);
    const float *dtop = model_top(dec, dws);
    if (m->aw) {
        // o_t = tanh(W_c [c_t; d_t] + b_c), c_t = sum_i softmax_i(d_t . W_a e_i) e_i
        attn_dims dims = {S, T, B, m->He, m->Hd};
        const float *etop = model_top(enc, ews);
        pool *prev = rec_enter(ews); // attention's products on the workspace's threads
        attn_keys(&dims, m->aw + m->wa, etop, w->keys, ews->threads);
        attn_forward(&dims, b->src_lens, etop, w->keys, dtop, m->aw + m->wc, m->aw + m->bc,
                     w->alpha, w->cat, w->att, ews->threads);
        rec_leave(prev);
        dtop = w->att;
    }
    // logits_t = W_hy o_t + b_y (o_t = d_t without attention, through output
    // dropout when training); loss = mean xent.
    dtop = model_head_input(dec, dws, dtop, T * B, drop);
    model_forward_head(dec, dws, dtop, T * B);
    if (w->denom > 0) return softmax_xent_over(dws->logits, b->dec_tgt, T * B, dec->O, want_grad, w->denom, count);
    return softmax_xent(dws->logits, b->dec_tgt, T * B, dec->O, want_grad, count);
}

void s2s_backward(const recur_seq2seq *m, s2s_work *w, const s2s_batch *b, float *g_enc,
                  float *g_dec, float *g_att)
{
    const recur_model *enc = m->enc, *dec = m->dec;
    workspace *ews = w->ews, *dws = w->dws;
    const int S = b->S, T = b->T, B = b->B;
    const size_t BH = (size_t)B * enc->H;
    if (m->aw) {
        // Head: dW_hy += dlogits^T o, do = dlogits W_hy; then attention
        // backward splits do into dd (decoder outputs) and de (encoder outputs).
        attn_dims dims = {S, T, B, m->He, m->Hd};
        model_backward_head(dec, dws, model_head_read(dec, dws, w->att), T * B, g_dec, w->datt);
        model_head_input_grad(dec, dws, w->datt, T * B);
        memset(w->ddec, 0, sizeof(float) * (size_t)T * B * m->Hd);
        memset(w->denc, 0, sizeof(float) * (size_t)S * B * m->He);
        pool *prev = rec_enter(ews);
        attn_backward(&dims, b->src_lens, model_top(enc, ews), w->keys, model_top(dec, dws),
                      m->aw + m->wa, m->aw + m->wc, w->alpha, w->cat, w->att, w->datt,
                      g_att + m->wa, g_att + m->wc, g_att + m->bc, w->denc, w->ddec, w->scratch,
                      ews->threads);
        rec_leave(prev);
        memcpy(dws->dh_seq, w->ddec, sizeof(float) * (size_t)T * B * m->Hd);
    } else {
        model_backward_head(dec, dws, model_head_read(dec, dws, model_top(dec, dws)), T * B, g_dec, dws->dh_seq);
        model_head_input_grad(dec, dws, dws->dh_seq, T * B);
    }
    // Decoder through time; leaves dL/dh^dec_0 (and dc) per layer in dh0/dc0.
    model_backward_stack(dec, dws, g_dec);
    // The decoder's initial state was each encoder row's final state: its
    // gradient enters the encoder at step len_b - 1 (ws->dhf/dcf), and the
    // encoder's outputs get attention's de (zero without attention).
    for (int u = 0; u < enc->U; u++) {
        memcpy(ews->dhf[u], dws->dh0[u], sizeof(float) * BH);
        memcpy(ews->dcf[u], dws->dc0[u], sizeof(float) * BH);
    }
    ews->final_grad = 1;
    if (m->aw)
        memcpy(ews->dh_seq, w->denc, sizeof(float) * (size_t)S * B * m->He);
    else
        memset(ews->dh_seq, 0, sizeof(float) * (size_t)S * B * m->He);
    model_backward_stack(enc, ews, g_enc);
    ews->final_grad = 0;
}

/* ---------------------------------------------------------------- checkpoints */

int recur_seq2seq_save(const recur_seq2seq *m, const char *path, recur_error *err)
{
    if (!m || !path) return set_error(err, RECUR_EINVAL, "NULL argument");
    return s2s_write(m, NULL, 0, NULL, 0, path, err);
}

int s2s_write(const recur_seq2seq *m, const st_entry *extra, size_t nextra, const st_kv *extra_meta,
              size_t nextra_meta, const char *path, recur_error *err)
{
    if (nextra_meta > ENGINE_EXTRA_META)
        return set_error(err, RECUR_EINVAL, "too many metadata entries for one checkpoint");
    const recur_model *part[2] = {m->enc, m->dec};
    const char *prefix[2] = {"encoder.", "decoder."};
    size_t n = (size_t)m->enc->nviews + (size_t)m->dec->nviews + (m->aw ? 3 : 0) + nextra, k = 0;
    st_entry *e = calloc(n, sizeof *e);
    char(*names)[64] = calloc(n, sizeof *names);
    strbuf sv, tv;
    sb_init(&sv);
    sb_init(&tv);
    if (!e || !names) {
        free(e);
        free(names);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    // encoder.<name>, decoder.<name>: each recur_model's PyTorch names under a prefix.
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < part[p]->nviews; i++, k++) {
            const param_view *v = &part[p]->views[i];
            snprintf(names[k], sizeof names[k], "%s%s", prefix[p], v->name);
            e[k] = (st_entry){names[k], ST_F32, v->cols ? 2 : 1,
                              {(uint64_t)v->rows, (uint64_t)v->cols}, part[p]->w + v->off};
        }
    if (m->aw) {
        const uint64_t He = (uint64_t)m->He, Hd = (uint64_t)m->Hd;
        e[k++] = (st_entry){"attn.weight", ST_F32, 2, {Hd, He}, m->aw + m->wa};
        e[k++] = (st_entry){"attn_combine.weight", ST_F32, 2, {Hd, He + Hd}, m->aw + m->wc};
        e[k++] = (st_entry){"attn_combine.bias", ST_F32, 1, {Hd}, m->aw + m->bc};
    }
    for (size_t i = 0; i < nextra; i++) e[k++] = extra[i];
    char layers[16], hidden[16], embed[16], dropout[32], steps[32], best[32], exact[32];
    snprintf(layers, sizeof layers, "%d", m->cfg.layers);
    snprintf(hidden, sizeof hidden, "%d", m->cfg.hidden);
    snprintf(embed, sizeof embed, "%d", m->cfg.embed);
    snprintf(dropout, sizeof dropout, "%.9g", (double)m->cfg.dropout);
    snprintf(steps, sizeof steps, "%lld", m->steps);
    if (isnan(m->best_val))
        snprintf(best, sizeof best, "none");
    else
        snprintf(best, sizeof best, "%.17g", m->best_val);
    if (isnan(m->best_exact))
        snprintf(exact, sizeof exact, "none");
    else
        snprintf(exact, sizeof exact, "%.17g", m->best_exact);
    vocab_to_json(m->enc->vocab, &sv);
    vocab_to_json(m->dec->vocab, &tv);
    st_kv meta[18 + ENGINE_EXTRA_META] = {
        {"format", "pt"},
        {"recur.version", RECUR_VERSION},
        {"recur.task", "seq2seq"},
        {"recur.cell", m->enc->cell->name},
        {"recur.hidden", hidden},
        {"recur.layers", layers},
        {"recur.embed", embed},
        {"recur.dropout", dropout},
        {"recur.attention", m->aw ? "1" : "0"},
        {"recur.src_vocab", sv.s ? sv.s : "[]"},
        {"recur.tgt_vocab", tv.s ? tv.s : "[]"},
        {"recur.steps", steps},
        {"recur.best_val", best},
        {"recur.best_exact", exact},
        {"recur.train", m->train_meta ? m->train_meta : ""},
    };
    size_t nm = 15 - (m->train_meta ? 0 : 1);
    settings_meta dm;
    nm += checkpoint_drop_meta(&m->dec->cfg, &dm, meta + nm); // the decoder's: both stacks share them
    for (size_t i = 0; i < nextra_meta; i++) meta[nm++] = extra_meta[i];
    int rc = sv.oom || tv.oom ? set_error(err, RECUR_ENOMEM, "out of memory")
                              : st_write(path, e, n, meta, nm, err);
    sb_free(&sv);
    sb_free(&tv);
    free(e);
    free(names);
    return rc;
}

static int meta_number(const st_file *f, const char *key, double *out, recur_error *err)
{
    const char *s = st_meta(f, key);
    *out = NAN;
    if (!s || strcmp(s, "none") == 0) return RECUR_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata %s=\"%.40s\" is not a number", key, s);
    *out = v;
    return RECUR_OK;
}

// Whether name is one of the tensors m is made of (or of a training
// state's, which readers of the model ignore).
static int expected_tensor(const recur_seq2seq *m, const char *name)
{
    if (strncmp(name, "optim.", 6) == 0 || strncmp(name, "train.", 6) == 0) return 1;
    if (strncmp(name, "encoder.", 8) == 0) return model_find_view(m->enc, name + 8) != NULL;
    if (strncmp(name, "decoder.", 8) == 0) return model_find_view(m->dec, name + 8) != NULL;
    return m->aw && (strcmp(name, "attn.weight") == 0 || strcmp(name, "attn_combine.weight") == 0 ||
                     strcmp(name, "attn_combine.bias") == 0);
}

int s2s_read(const st_file *f, recur_seq2seq **out, recur_error *err)
{
    const char *task = st_meta(f, "recur.task");
    if (!task || strcmp(task, "seq2seq") != 0)
        return set_error(err, RECUR_EFORMAT, "not a seq2seq checkpoint (recur.task is %s%.40s%s)",
                         task ? "\"" : "absent", task ? task : "", task ? "\"" : "");
    const char *cell_name = st_meta(f, "recur.cell");
    if (!cell_name) return set_error(err, RECUR_EFORMAT, "checkpoint metadata lacks recur.cell");
    const cell_def *cell = cell_find(cell_name);
    if (!cell)
        return set_error(err, RECUR_EFORMAT, "checkpoint has unknown cell \"%.40s\" (expected rnn, lstm or gru)",
                         cell_name);
    long layers, hidden, embed, attention;
    double dropout, din, dout;
    long variational;
    int rc;
    if ((rc = meta_int(f, "recur.layers", 1, 64, 1, 0, &layers, err)) ||
        (rc = meta_int(f, "recur.variational", 0, 1, 0, 0, &variational, err)) ||
        (rc = meta_number(f, "recur.dropout_in", &din, err)) ||
        (rc = meta_number(f, "recur.dropout_out", &dout, err)) ||
        (rc = meta_int(f, "recur.hidden", 1, 65536, 1, 0, &hidden, err)) ||
        (rc = meta_int(f, "recur.embed", 0, 65536, 0, 0, &embed, err)) ||
        (rc = meta_int(f, "recur.attention", 0, 1, 0, 0, &attention, err)) ||
        (rc = meta_number(f, "recur.dropout", &dropout, err)))
        return rc;
    if (isnan(dropout)) dropout = 0;
    if (isnan(din)) din = 0;
    if (isnan(dout)) dout = 0;
    if (!(dropout >= 0 && dropout < 1) || !(din >= 0 && din < 1) || !(dout >= 0 && dout < 1))
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.dropout, dropout_in or dropout_out out of [0, 1)");
    recur_seq2seq_config cfg;
    recur_seq2seq_config_default(&cfg);
    cfg.cell = cell->id;
    cfg.layers = (int)layers;
    cfg.hidden = (int)hidden;
    cfg.embed = (int)embed;
    cfg.attention = (int)attention;
    cfg.dropout = (float)dropout;
    cfg.dropout_in = (float)din;
    cfg.dropout_out = (float)dout;
    cfg.variational = (int)variational;

    const char *key[2] = {"recur.src_vocab", "recur.tgt_vocab"};
    recur_vocab *v[2] = {NULL, NULL};
    for (int i = 0; i < 2 && !rc; i++) {
        const char *j = st_meta(f, key[i]);
        if (!j)
            rc = set_error(err, RECUR_EFORMAT, "checkpoint metadata lacks %s", key[i]);
        else if ((rc = vocab_from_json(j, 0, &v[i], err)))
            error_prefix(err, key[i]);
    }
    recur_seq2seq *m = NULL;
    if (!rc && (rc = s2s_alloc(&cfg, v[0], v[1], &m, err)) == RECUR_EINVAL) {
        rc = RECUR_EFORMAT; // a bad configuration here is a bad file
        if (err) err->code = rc;
    }
    recur_vocab_free(v[0]);
    recur_vocab_free(v[1]);
    if (rc) return rc;

    // Every tensor the metadata implies, F32 with exactly its shape; nothing else.
    const int He = m->He, Hd = m->Hd;
    if ((rc = checkpoint_read_views(f, "encoder.", m->enc, err)) ||
        (rc = checkpoint_read_views(f, "decoder.", m->dec, err)) ||
        (m->aw && ((rc = checkpoint_read_tensor(f, "attn.weight", Hd, He, m->aw + m->wa, err)) ||
                   (rc = checkpoint_read_tensor(f, "attn_combine.weight", Hd, He + Hd, m->aw + m->wc, err)) ||
                   (rc = checkpoint_read_tensor(f, "attn_combine.bias", Hd, 0, m->aw + m->bc, err))))) {
        recur_seq2seq_free(m);
        return rc;
    }
    for (size_t i = 0; i < f->ntensors; i++)
        if (!expected_tensor(m, f->tensors[i].name)) {
            rc = set_error(err, RECUR_EFORMAT,
                           "unexpected tensor \"%.60s\" in a seq2seq checkpoint (%s, %d layers, "
                           "embedding %d, attention %s)",
                           f->tensors[i].name, cell->name, cfg.layers, cfg.embed,
                           cfg.attention ? "on" : "off");
            recur_seq2seq_free(m);
            return rc;
        }
    long steps;
    if ((rc = meta_int(f, "recur.steps", 0, 0x7fffffffL, 0, 0, &steps, err)) ||
        (rc = meta_number(f, "recur.best_val", &m->best_val, err)) ||
        (rc = meta_number(f, "recur.best_exact", &m->best_exact, err))) {
        recur_seq2seq_free(m);
        return rc;
    }
    // A loss is finite and >= 0, a fraction in [0, 1] (NaN: none recorded).
    if ((!isnan(m->best_val) && !(isfinite(m->best_val) && m->best_val >= 0)) ||
        (!isnan(m->best_exact) && !(m->best_exact >= 0 && m->best_exact <= 1))) {
        recur_seq2seq_free(m);
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.best_val or recur.best_exact is out of range");
    }
    m->steps = steps;
    const char *tm = st_meta(f, "recur.train");
    if (tm && !(m->train_meta = strdup(tm))) {
        recur_seq2seq_free(m);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    s2s_touch(m);
    *out = m;
    return RECUR_OK;
}

int recur_seq2seq_load(const char *path, recur_seq2seq **out, recur_error *err)
{
    if (!path || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    st_file *f = NULL;
    int rc = st_read(path, &f, err);
    if (rc) return rc;
    rc = s2s_read(f, out, err);
    st_free(f);
    if (rc) error_prefix(err, path);
    return rc;
}

/* ---------------------------------------------------------------- pairs (public) */

typedef struct pairs_impl {
    pair_data d;
    recur_pair *p;
} pairs_impl;

// Wraps a pair_data (taken over) as the public recur_pairs.
static int pairs_wrap(pair_data *d, recur_pairs *out, recur_error *err)
{
    pairs_impl *im = calloc(1, sizeof *im);
    recur_pair *p = xmalloc(d->n ? d->n : 1, sizeof *p);
    if (!im || !p) {
        free(im);
        free(p);
        pair_data_free(d);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++)
        p[i] = (recur_pair){d->p[i].src, d->p[i].tgt, d->p[i].src_len, d->p[i].tgt_len};
    im->d = *d;
    im->p = p;
    out->pairs = p;
    out->n = d->n;
    out->impl_ = im;
    return RECUR_OK;
}

int recur_pairs_read(const char *path, recur_pairs *out, recur_error *err)
{
    if (!path || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(out, 0, sizeof *out);
    pair_data d;
    int rc = pairs_read(path, &d, err);
    return rc ? rc : pairs_wrap(&d, out, err);
}

int recur_pairs_generate(const char *task, const char *alphabet, int lo, int hi, size_t n,
                         uint64_t seed, recur_pairs *out, recur_error *err)
{
    if (!task || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(out, 0, sizeof *out);
    pair_data d;
    int rc;
    if (strcmp(task, "reverse") == 0)
        rc = pairs_gen_reverse(alphabet ? alphabet : "abcdefgh", lo, hi, n, seed, &d, err);
    else if (strcmp(task, "add") == 0)
        rc = pairs_gen_add(lo, hi, n, seed, &d, err);
    else
        return set_error(err, RECUR_EINVAL, "unknown task \"%.40s\" (expected reverse or add)", task);
    return rc ? rc : pairs_wrap(&d, out, err);
}

void recur_pairs_free(recur_pairs *p)
{
    if (!p || !p->impl_) return;
    pairs_impl *im = p->impl_;
    pair_data_free(&im->d);
    free(im->p);
    free(im);
    memset(p, 0, sizeof *p);
}
