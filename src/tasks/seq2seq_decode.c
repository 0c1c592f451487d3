/*
 * seq2seq_decode.c - writing a target with a trained encoder-decoder: greedy
 * decoding (many sources at once, one decoder step for all rows) and beam
 * search (the K best partial targets of one source as K rows), both over
 * buffers allocated once per call so that no decoding step allocates; and
 * the evaluation (teacher-forced loss, exact match) that training and
 * `recur seq2seq eval` share. recur_seq2seq_predict is the public entry.
 */
#include "tasks/seq2seq.h"

#include "nn/rec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    double score; /* log P of the hypothesis extended by tok */
    int row, tok;
} cand;

struct s2s_dec {
    int S, B, maxlen;
    workspace *ews, *dws;      /* encoder (S, B); decoder one step at a time (1, B) */
    float *keys, *alpha, *cat, *att; /* attention: [S*B, Hd], [B, S], [B, He+Hd], [B, Hd] */
    int32_t *src, *lens, *ids; /* [S*B] sources, [B] their lengths (EOS included), [B] step inputs */
    int *limit, *done;         /* greedy: [B] each row's output limit, finished */
    float *tmp;                /* beam: [B*H] rows of a state being reordered */
    int32_t *hyp;              /* beam: [2][B][maxlen] current and next hypotheses */
    int *hlen, *parent;        /* beam: [2][B] lengths; [B] the row each next one extends */
    double *score;             /* beam: [3][B] log P of each hypothesis (current, next); the K
                                  best finished, normalised */
    cand *cands;               /* beam: [2B] the best extensions of this step */
    int32_t *best;             /* beam: [maxlen] the best finished hypothesis */
};

int s2s_default_maxlen(int len)
{
    return 2 * len + 10;
}

int s2s_dec_new(const recur_seq2seq *m, int S, int B, int maxlen, s2s_dec **out,
                recur_error *err)
{
    *out = NULL;
    if (S < 1 || B < 1 || maxlen < 1)
        return set_error(err, RECUR_EINVAL, "decoder buffers need S, B, maxlen >= 1");
    s2s_dec *d = calloc(1, sizeof *d);
    if (!d) return set_error(err, RECUR_ENOMEM, "out of memory");
    d->S = S;
    d->B = B;
    d->maxlen = maxlen;
    int rc = ws_new(m->enc, S, B, 1, &d->ews, err);
    if (!rc) rc = ws_new(m->dec, 1, B, 1, &d->dws, err);
    if (!rc) {
        const size_t SB = (size_t)S * B, H = (size_t)m->Hd, C = (size_t)(m->He + m->Hd);
        d->src = xmalloc(SB, sizeof(int32_t));
        d->lens = xmalloc((size_t)B, sizeof(int32_t));
        d->ids = xmalloc((size_t)B, sizeof(int32_t));
        d->limit = xmalloc((size_t)B, sizeof(int));
        d->done = xmalloc((size_t)B, sizeof(int));
        d->tmp = xmalloc((size_t)B * H, sizeof(float));
        d->hyp = xmalloc((size_t)2 * B * maxlen, sizeof(int32_t));
        d->hlen = xmalloc((size_t)2 * B, sizeof(int));
        d->parent = xmalloc((size_t)B, sizeof(int));
        d->score = xmalloc((size_t)3 * B, sizeof(double));
        d->cands = xmalloc((size_t)2 * B, sizeof(cand));
        d->best = xmalloc((size_t)maxlen, sizeof(int32_t));
        int fail = !d->src || !d->lens || !d->ids || !d->limit || !d->done || !d->tmp || !d->hyp ||
                   !d->hlen || !d->parent || !d->score || !d->cands || !d->best;
        if (m->aw) {
            d->keys = xmalloc(SB * H, sizeof(float));
            d->alpha = xmalloc(SB, sizeof(float));
            d->cat = xmalloc((size_t)B * C, sizeof(float));
            d->att = xmalloc((size_t)B * H, sizeof(float));
            fail |= !d->keys || !d->alpha || !d->cat || !d->att;
        }
        if (fail) rc = set_error(err, RECUR_ENOMEM, "out of memory for decoding");
    }
    if (rc) {
        s2s_dec_free(m, d);
        return rc;
    }
    *out = d;
    return RECUR_OK;
}

int s2s_dec_set_recompute(const recur_seq2seq *m, s2s_dec *d, int on, recur_error *err)
{
    return ws_set_recompute(m->enc, d->ews, on, err);
}

void s2s_dec_free(const recur_seq2seq *m, s2s_dec *d)
{
    if (!d) return;
    ws_free(m->enc, d->ews);
    ws_free(m->dec, d->dws);
    void *p[] = {d->keys, d->alpha, d->cat,  d->att,    d->src,   d->lens,  d->ids, d->limit,
                 d->done, d->tmp,   d->hyp,  d->hlen,   d->parent, d->score, d->cands, d->best};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(d);
}

// The encoder over rows sources d->src [S*rows] of lengths d->lens, and the
// decoder's rows started from the encoder's final states; attention keys.
static void start(const recur_seq2seq *m, s2s_dec *d, int S, int rows)
{
    workspace *ews = d->ews, *dws = d->dws;
    ews->T = S;
    ews->B = dws->B = rows;
    dws->T = 1;
    memcpy(ews->lens, d->lens, sizeof(int32_t) * (size_t)rows);
    ws_zero_state(m->enc, ews);
    model_forward_stack(m->enc, ews, d->src, NULL);
    for (int u = 0; u < m->dec->U; u++) ws_final_state(m->enc, ews, u, dws->hs[u], dws->cs[u]);
    if (m->aw) {
        // Attention's products run on the encoder workspace's pool and its
        // scratch, made once with the decoder (s2s_dec_new), not per call.
        pool *prev = rec_enter(ews);
        attn_dims dims = {S, 1, rows, m->He, m->Hd};
        attn_keys(&dims, m->aw + m->wa, model_top(m->enc, ews), d->keys, 1);
        rec_leave(prev);
    }
}

// One decoder step for rows rows from the states in slot 0 and inputs
// d->ids: logits [rows, O] in dws->logits, the new states carried to slot 0.
// shared: every row reads the encoder's row 0 (the hypotheses of a beam).
static void step(const recur_seq2seq *m, s2s_dec *d, int S, int rows, int shared)
{
    workspace *dws = d->dws;
    dws->B = rows;
    model_forward_stack(m->dec, dws, d->ids, NULL);
    const float *top = model_top(m->dec, dws);
    if (m->aw) {
        const float *etop = model_top(m->enc, d->ews);
        const int C = m->He + m->Hd;
        // Every hypothesis's attention product on the workspace's scratch
        // (start): nothing is allocated inside the decode loop.
        pool *prev = rec_enter(d->ews);
        if (shared) {
            attn_dims one = {S, 1, 1, m->He, m->Hd};
            for (int k = 0; k < rows; k++)
                attn_forward(&one, d->lens, etop, d->keys, top + (size_t)k * m->Hd,
                             m->aw + m->wc, m->aw + m->bc, d->alpha + (size_t)k * S,
                             d->cat + (size_t)k * C, d->att + (size_t)k * m->Hd, 1);
        } else {
            attn_dims dims = {S, 1, rows, m->He, m->Hd};
            attn_forward(&dims, d->lens, etop, d->keys, top, m->aw + m->wc, m->aw + m->bc,
                         d->alpha, d->cat, d->att, 1);
        }
        rec_leave(prev);
        top = d->att;
    }
    model_forward_head(m->dec, dws, top, rows);
    ws_carry_state(m->dec, dws);
}

static int clamp_limit(const s2s_dec *d, int maxlen, int len)
{
    int lim = maxlen > 0 ? maxlen : s2s_default_maxlen(len);
    return lim < d->maxlen ? lim : d->maxlen;
}

void s2s_greedy(const recur_seq2seq *m, s2s_dec *d, const s2s_data *data, const size_t *idx,
                int n, int maxlen, int32_t *out, int *out_len)
{
    const int O = m->dec->O;
    int S = 1;
    for (int r = 0; r < n; r++)
        if (data->src_len[idx[r]] + 1 > S) S = data->src_len[idx[r]] + 1;
    for (int r = 0; r < n; r++) {
        const int32_t *s = data->ids + data->off[idx[r]];
        int len = data->src_len[idx[r]];
        for (int t = 0; t < S; t++) d->src[t * n + r] = t < len ? s[t] : m->src_eos;
        d->lens[r] = len + 1;
        d->limit[r] = clamp_limit(d, maxlen, len);
        d->done[r] = 0;
        d->ids[r] = m->bos;
        out_len[r] = 0;
    }
    start(m, d, S, n);
    for (int live = n; live > 0;) {
        step(m, d, S, n, 0);
        for (int r = 0; r < n; r++) {
            if (d->done[r]) continue;
            // y_t = argmax_j logits_tj over every character but BOS.
            const float *z = d->dws->logits + (size_t)r * O;
            int best = -1;
            for (int j = 0; j < O; j++)
                if (j != m->bos && (best < 0 || z[j] > z[best])) best = j;
            if (best == m->eos) {
                d->done[r] = 1;
            } else {
                out[(size_t)r * d->maxlen + out_len[r]++] = best;
                d->ids[r] = best;
                d->done[r] = out_len[r] >= d->limit[r];
            }
            live -= d->done[r];
        }
    }
}

// Keeps the 2K best candidates in descending order (a later equal score goes
// after the earlier ones, so ties resolve as greedy's argmax does).
static void cand_push(cand *c, int *n, int cap, double score, int row, int tok)
{
    if (*n == cap && !(score > c[cap - 1].score)) return;
    int i = *n < cap ? (*n)++ : cap - 1;
    while (i > 0 && c[i - 1].score < score) {
        c[i] = c[i - 1];
        i--;
    }
    c[i] = (cand){score, row, tok};
}

// The finished hypotheses: the K best normalised scores (descending) and
// the tokens of the best one.
typedef struct finished {
    double *score;
    int n, K;
    int32_t *best;
    int best_len;
} finished;

static void finish(finished *f, double norm, const int32_t *tokens, int len)
{
    if (f->n == f->K && !(norm > f->score[f->K - 1])) return;
    int i = f->n < f->K ? f->n++ : f->K - 1;
    while (i > 0 && f->score[i - 1] < norm) {
        f->score[i] = f->score[i - 1];
        i--;
    }
    f->score[i] = norm;
    if (i == 0) {
        memcpy(f->best, tokens, sizeof(int32_t) * (size_t)len);
        f->best_len = len;
    }
}

void s2s_beam(const recur_seq2seq *m, s2s_dec *d, const int32_t *src, int len, int K,
              float alpha, int maxlen, int32_t *out, int *out_len)
{
    const int O = m->dec->O, H = m->Hd, S = len + 1, ML = d->maxlen;
    const int limit = clamp_limit(d, maxlen, len);
    for (int t = 0; t < S; t++) d->src[t] = t < len ? src[t] : m->src_eos;
    d->lens[0] = S;
    start(m, d, S, 1);
    int32_t *cur = d->hyp, *nxt = d->hyp + (size_t)K * ML;
    int *clen = d->hlen, *nlen = d->hlen + K;
    double *cs = d->score, *ns = d->score + K;
    // Hypotheses are ranked by log P / len^alpha, len counting the EOS.
    finished fin = {d->score + 2 * K, 0, K, d->best, 0};
    int live = 1;
    clen[0] = 0;
    cs[0] = 0.0;
    d->ids[0] = m->bos;
    while (live > 0) {
        step(m, d, S, live, 1);
        // Extensions: score + log softmax(z)_j for every live row and character j != BOS.
        int nc = 0;
        for (int k = 0; k < live; k++) {
            const float *z = d->dws->logits + (size_t)k * O;
            double mx = z[0], sum = 0;
            for (int j = 1; j < O; j++) mx = z[j] > mx ? z[j] : mx;
            for (int j = 0; j < O; j++) sum += exp((double)z[j] - mx);
            double lse = mx + log(sum);
            for (int j = 0; j < O; j++)
                if (j != m->bos) cand_push(d->cands, &nc, 2 * K, cs[k] + ((double)z[j] - lse), k, j);
        }
        // The best ones in order: an EOS among the K best finishes its
        // hypothesis (one further down is too unlikely to count); the others
        // extend theirs, until K are live. 2K candidates always hold K that
        // are not EOS (each row has one EOS).
        int next = 0;
        for (int c = 0; c < nc && next < K; c++) {
            const cand *x = &d->cands[c];
            if (x->tok == m->eos) {
                if (c < K) finish(&fin, x->score / pow(clen[x->row] + 1.0, alpha), cur + (size_t)x->row * ML, clen[x->row]);
                continue;
            }
            memcpy(nxt + (size_t)next * ML, cur + (size_t)x->row * ML, sizeof(int32_t) * (size_t)clen[x->row]);
            nxt[(size_t)next * ML + clen[x->row]] = x->tok;
            nlen[next] = clen[x->row] + 1;
            ns[next] = x->score;
            d->parent[next] = x->row;
            next++;
        }
        if (next == 0) break;
        // Done when K have finished and the best live hypothesis, scored as
        // it stands, is no better than the K-th of them (exact for alpha = 0,
        // where log P only falls; the usual heuristic otherwise).
        if (fin.n == K && !(ns[0] / pow((double)nlen[0], alpha) > fin.score[K - 1])) break;
        // The survivors' states: row j of slot 0 becomes its parent's row.
        for (int u = 0; u < m->dec->U; u++)
            for (int s = 0; s < 2; s++) {
                float *st = s ? d->dws->cs[u] : d->dws->hs[u];
                if (!st) continue;
                for (int j = 0; j < next; j++)
                    memcpy(d->tmp + (size_t)j * H, st + (size_t)d->parent[j] * H, sizeof(float) * H);
                memcpy(st, d->tmp, sizeof(float) * (size_t)next * H);
            }
        int32_t *sw = cur;
        cur = nxt;
        nxt = sw;
        int *sl = clen;
        clen = nlen;
        nlen = sl;
        double *ss = cs;
        cs = ns;
        ns = ss;
        live = next;
        for (int j = 0; j < live; j++) d->ids[j] = cur[(size_t)j * ML + clen[j] - 1];
        if (clen[0] >= limit) {
            // Out of room: the live hypotheses end here, unfinished.
            for (int j = 0; j < live; j++) finish(&fin, cs[j] / pow((double)clen[j], alpha), cur + (size_t)j * ML, clen[j]);
            break;
        }
    }
    *out_len = fin.n ? fin.best_len : 0;
    memcpy(out, d->best, sizeof(int32_t) * (size_t)*out_len);
}

/* ---------------------------------------------------------------- evaluation */

int s2s_evaluate(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                 const recur_seq2seq_decode *opt, double *loss, size_t *exact, double *char_acc,
                 recur_error *err)
{
    double sum;
    long long counted;
    return s2s_evaluate_sums(m, data, w, d, opt, &sum, &counted, loss, exact, char_acc, err);
}

static int evaluate_sums(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                         const recur_seq2seq_decode *opt, double *loss_sum, long long *loss_count,
                         double *loss, size_t *exact, double *char_acc, recur_error *err);

int s2s_evaluate_sums(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                      const recur_seq2seq_decode *opt, double *loss_sum, long long *loss_count,
                      double *loss, size_t *exact, double *char_acc, recur_error *err)
{
    // Evaluation is fp32 even through a --bf16 training workspace.
    const int be = w->ews->bf16, bd = w->dws->bf16;
    w->ews->bf16 = w->dws->bf16 = 0;
    int rc = evaluate_sums(m, data, w, d, opt, loss_sum, loss_count, loss, exact, char_acc, err);
    w->ews->bf16 = be;
    w->dws->bf16 = bd;
    return rc;
}

static int evaluate_sums(const recur_seq2seq *m, const s2s_data *data, s2s_work *w, s2s_dec *d,
                         const recur_seq2seq_decode *opt, double *loss_sum, long long *loss_count,
                         double *loss, size_t *exact, double *char_acc, recur_error *err)
{
    const int beam = opt && opt->beam > 1 ? opt->beam : 1, maxlen = opt ? opt->max_len : 0;
    const float alpha = opt ? opt->length_alpha : 1.0f;
    // Greedy decodes a batch's rows together; a beam takes one source at a time.
    const int rows = beam > 1 || w->B < d->B ? w->B : d->B;
    size_t *idx = xmalloc((size_t)rows, sizeof *idx);
    int32_t *out = xmalloc((size_t)rows * d->maxlen, sizeof *out);
    int *out_len = xmalloc((size_t)rows, sizeof *out_len);
    s2s_batch b;
    int rc = idx && out && out_len ? s2s_batch_new(w->S, w->T, w->B, &b, err)
                                   : set_error(err, RECUR_ENOMEM, "out of memory");
    if (rc) {
        free(idx);
        free(out);
        free(out_len);
        return rc;
    }
    double total = 0;
    long long counted = 0, chars = 0, right = 0;
    size_t ex = 0;
    for (size_t i = 0; i < data->n;) {
        int n = 0;
        for (; i < data->n && n < rows; i++)
            if (data->tgt_len[i] >= 0) idx[n++] = i;
        if (n == 0) continue;
        // Teacher-forced loss of the batch.
        int c;
        s2s_batch_fill(m, data, idx, n, &b);
        total += s2s_forward(m, w, &b, NULL, 0, &c);
        counted += c;
        // Decoding.
        if (beam == 1) {
            s2s_greedy(m, d, data, idx, n, maxlen, out, out_len);
        } else {
            for (int r = 0; r < n; r++)
                s2s_beam(m, d, data->ids + data->off[idx[r]], data->src_len[idx[r]], beam, alpha,
                         maxlen, out + (size_t)r * d->maxlen, &out_len[r]);
        }
        for (int r = 0; r < n; r++) {
            const int32_t *tgt = data->ids + data->off[idx[r]] + data->src_len[idx[r]];
            const int32_t *o = out + (size_t)r * d->maxlen;
            int lt = data->tgt_len[idx[r]], same = out_len[r] == lt;
            for (int t = 0; t < lt; t++) {
                int ok = t < out_len[r] && o[t] == tgt[t];
                right += ok;
                same &= ok;
            }
            ex += (size_t)same;
        }
    }
    for (size_t i = 0; i < data->n; i++) chars += data->tgt_len[i] >= 0 ? data->tgt_len[i] : data->tgt_chars[i];
    *loss = counted ? total / (double)counted : NAN;
    *loss_sum = total;
    *loss_count = counted;
    *exact = ex;
    *char_acc = chars ? (double)right / (double)chars : (ex == data->n ? 1.0 : 0.0);
    s2s_batch_free(&b);
    free(idx);
    free(out);
    free(out_len);
    return RECUR_OK;
}

/* ---------------------------------------------------------------- public */

void recur_seq2seq_decode_default(recur_seq2seq_decode *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->beam = 1;
    opt->length_alpha = 1.0f;
    opt->max_len = 0;
}

static int check_decode(const recur_seq2seq_decode *opt, recur_error *err)
{
    if (opt->beam < 1 || opt->beam > 1000)
        return set_error(err, RECUR_EINVAL, "beam must be 1..1000, got %d", opt->beam);
    if (!(opt->length_alpha >= 0 && opt->length_alpha <= 10))
        return set_error(err, RECUR_EINVAL, "length_alpha must be in [0, 10], got %g",
                         (double)opt->length_alpha);
    if (opt->max_len < 0 || opt->max_len > 1000000)
        return set_error(err, RECUR_EINVAL, "max_len must be 0..1000000, got %d", opt->max_len);
    return RECUR_OK;
}

int recur_seq2seq_predict(const recur_seq2seq *m, const char *src, size_t len,
                          const recur_seq2seq_decode *opt, char *out, size_t cap, size_t *out_len,
                          recur_error *err)
{
    if (!m || (!src && len) || (!out && cap) || !out_len)
        return set_error(err, RECUR_EINVAL, "NULL argument");
    *out_len = 0;
    recur_seq2seq_decode def;
    recur_seq2seq_decode_default(&def);
    if (!opt) opt = &def;
    int rc = check_decode(opt, err);
    if (rc) return rc;
    s2s_data data;
    recur_pair p = {src ? src : "", "", len, 0};
    if ((rc = s2s_encode(m, &p, 1, 0, &data, err))) {
        // "pair 1: source character ..." reads oddly for one string: drop the pair.
        if (err && strncmp(err->msg, "pair 1: ", 8) == 0) memmove(err->msg, err->msg + 8, strlen(err->msg + 8) + 1);
        return rc;
    }
    const int slen = data.src_len[0];
    const int limit = opt->max_len > 0 ? opt->max_len : s2s_default_maxlen(slen);
    const int K = opt->beam;
    s2s_dec *d = NULL;
    int32_t *ids = xmalloc((size_t)limit, sizeof *ids);
    if (!ids) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    if (!rc) rc = s2s_dec_new(m, slen + 1, K, limit, &d, err);
    if (!rc) {
        int n = 0;
        size_t zero = 0;
        if (K == 1)
            s2s_greedy(m, d, &data, &zero, 1, limit, ids, &n);
        else
            s2s_beam(m, d, data.ids, slen, K, opt->length_alpha, limit, ids, &n);
        // The ids as UTF-8.
        size_t need = 0;
        char u[4];
        for (int i = 0; i < n; i++) need += (size_t)utf8_encode(m->dec->vocab->chars[ids[i]], u);
        *out_len = need;
        if (need + 1 > cap) {
            rc = set_error(err, RECUR_EINVAL, "output buffer of %zu bytes is too small: the translation needs %zu",
                           cap, need + 1);
        } else {
            size_t at = 0;
            for (int i = 0; i < n; i++) at += (size_t)utf8_encode(m->dec->vocab->chars[ids[i]], out + at);
            out[at] = 0;
        }
    }
    s2s_dec_free(m, d);
    free(ids);
    s2s_data_free(&data);
    return rc;
}

int recur_seq2seq_eval(const recur_seq2seq *m, const recur_pair *pairs, size_t n,
                       const recur_seq2seq_decode *opt, int threads,
                       recur_seq2seq_eval_result *res, recur_error *err)
{
    if (!m || (!pairs && n) || !res) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(res, 0, sizeof *res);
    res->loss = NAN;
    recur_seq2seq_decode def;
    recur_seq2seq_decode_default(&def);
    if (!opt) opt = &def;
    int rc = check_decode(opt, err);
    if (rc) return rc;
    if (n == 0) return set_error(err, RECUR_EINVAL, "no pairs to evaluate");
    s2s_data data;
    if ((rc = s2s_encode(m, pairs, n, 0, &data, err))) return rc;
    const int rows = n < 64 ? (int)n : 64;
    const int S = data.max_src + 1, T = data.max_tgt + 1;
    const int limit = opt->max_len > 0 ? opt->max_len : s2s_default_maxlen(data.max_src);
    s2s_work *w = NULL;
    s2s_dec *d = NULL;
    rc = s2s_work_new(m, S, T, rows, threads, &w, err);
    if (!rc) rc = s2s_dec_new(m, S, opt->beam > 1 ? opt->beam : rows, limit, &d, err);
    size_t exact = 0;
    if (!rc) rc = s2s_evaluate(m, &data, w, d, opt, &res->loss, &exact, &res->char_acc, err);
    if (!rc) {
        res->pairs = n;
        res->exact = exact;
        res->exact_frac = (double)exact / (double)n;
    }
    s2s_dec_free(m, d);
    s2s_work_free(m, w);
    s2s_data_free(&data);
    return rc;
}
