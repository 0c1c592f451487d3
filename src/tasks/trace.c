/*
 * trace.c - looking inside a model: the forward pass over a text with every
 * step's state, gates and output distribution kept (recur_trace_text), and
 * a seq2seq model's attention weights over a source (recur_seq2seq_attention).
 *
 * Nothing here computes a cell: the numbers are read out of the workspace
 * that model_forward fills for the backward pass (h and c in ws->hs/ws->cs,
 * the gates in ws->cache: LSTM i,f,g,o; GRU r,z,n,ph_n; rec.h), so a trace is
 * the same pass, to the bit, as evaluation and training.
 */
#include "nn/model.h"
#include "tasks/seq2seq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Steps per forward pass for a one-directional model: the window only
// bounds the workspace; the state is carried between windows.
#define TRACE_WINDOW 128

struct recur_trace {
    int n, L, D, U, H, O;
    long long skipped;
    int32_t *ids;               /* [n] */
    uint32_t *cps;              /* [n] code points (bytes, for a byte model) */
    size_t *off;                /* [n] byte offsets */
    uint8_t *nb;                /* [n] byte lengths */
    float *val[RECUR_TRACE_NVALUES]; /* [n][U][H] each, or NULL */
    float *probs;               /* [n][O] or NULL */
};

static const char *const value_names[RECUR_TRACE_NVALUES] = {"h", "c", "i", "f", "g",
                                                             "o", "r", "z", "n"};

const char *recur_trace_value_name(recur_trace_value what)
{
    return (unsigned)what < RECUR_TRACE_NVALUES ? value_names[what] : "?";
}

void recur_trace_config_default(recur_trace_config *cfg)
{
    cfg->skip_unknown = 0;
    cfg->gates = 1;
    cfg->threads = 1;
    cfg->max_chars = 0;
}

void recur_trace_free(recur_trace *t)
{
    if (!t) return;
    for (int k = 0; k < RECUR_TRACE_NVALUES; k++) free(t->val[k]);
    free(t->probs);
    free(t->ids);
    free(t->cps);
    free(t->off);
    free(t->nb);
    free(t);
}

/* ---------------------------------------------------------------- encoding */

// The text as ids with their byte positions. Unknown characters become
// U+FFFD where the vocabulary has it (the applications' models), are left
// out with skip_unknown, or stop the trace naming the first one.
static int trace_encode(const recur_model *m, recur_trace *t, const char *text, size_t len,
                        const recur_trace_config *cfg, recur_error *err)
{
    const recur_vocab *v = m->vocab;
    const uint8_t *s = (const uint8_t *)text;
    size_t cap = len ? len : 1;
    if (cfg->max_chars > 0 && (size_t)cfg->max_chars < cap) cap = (size_t)cfg->max_chars;
    t->ids = xcalloc(cap, sizeof *t->ids);
    t->off = xcalloc(cap, sizeof *t->off);
    t->nb = xcalloc(cap, 1);
    t->cps = xcalloc(cap, sizeof *t->cps);
    if (!t->ids || !t->cps || !t->off || !t->nb) return set_error(err, RECUR_ENOMEM, "out of memory for a trace of %zu characters", cap);
    int unk = recur_vocab_id(v, 0xFFFDu);
    size_t pos = 0;
    while (pos < len && (size_t)t->n < cap) {
        size_t at = pos;
        uint32_t cp = 0;
        int32_t id = vocab_next_id(v, s, len, &pos, &cp);
        if (id == -2) return set_error(err, RECUR_EFORMAT, "invalid UTF-8 at byte offset %zu", at);
        if (id == -1 && unk >= 0 && !v->bytes) id = unk;
        if (id == -1) {
            if (cfg->skip_unknown) {
                t->skipped++;
                continue;
            }
            char u[5] = {0};
            utf8_encode(cp, u);
            return v->bytes ? set_error(err, RECUR_EVOCAB, "byte 0x%02X at offset %zu is not in the model's vocabulary", cp, at)
                            : set_error(err, RECUR_EVOCAB, "character '%s' (U+%04X) at byte offset %zu is not in the model's vocabulary",
                                        cp < 0x20 ? "?" : u, cp, at);
        }
        t->ids[t->n] = id;
        t->cps[t->n] = cp;
        t->off[t->n] = at;
        t->nb[t->n] = (uint8_t)(pos - at);
        t->n++;
    }
    if (t->n == 0)
        return set_error(err, RECUR_EINVAL, t->skipped ? "nothing to trace: every character of the text is outside the vocabulary"
                                                       : "nothing to trace: the text is empty");
    return RECUR_OK;
}

/* ---------------------------------------------------------------- the pass */

// Copies the window's values (steps s0..s0+T of the text) out of ws.
static void trace_copy(const recur_model *m, const workspace *ws, recur_trace *t, int s0,
                       int gates)
{
    const int T = ws->T, H = m->H, U = m->U, kc = m->cell->cache;
    for (int u = 0; u < U; u++) {
        const int rev = u % m->D == 1;
        for (int p = 0; p < T; p++) {
            // A reverse unit's own step k reads sequence position T-1-k.
            const int k = rev ? T - 1 - p : p;
            const size_t dst = ((size_t)(s0 + p) * U + u) * H;
            memcpy(t->val[RECUR_TRACE_H] + dst, ws->hs[u] + (size_t)(k + 1) * H, sizeof(float) * H);
            if (t->val[RECUR_TRACE_C])
                memcpy(t->val[RECUR_TRACE_C] + dst, ws->cs[u] + (size_t)(k + 1) * H, sizeof(float) * H);
            if (!gates || !kc) continue;
            const float *cache = ws->cache[u] + (size_t)k * kc * H;
            const int first = m->cell->id == RECUR_CELL_LSTM ? RECUR_TRACE_I : RECUR_TRACE_R;
            for (int g = 0; g < m->G; g++)
                memcpy(t->val[first + g] + dst, cache + (size_t)g * H, sizeof(float) * H);
        }
    }
    if (!t->probs) return;
    for (int p = 0; p < T; p++) {
        const float *z = ws->logits + (size_t)p * m->O;
        float *q = t->probs + (size_t)(s0 + p) * m->O;
        float mx = z[0];
        for (int j = 1; j < m->O; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0;
        for (int j = 0; j < m->O; j++) sum += exp((double)z[j] - mx);
        for (int j = 0; j < m->O; j++) q[j] = (float)(exp((double)z[j] - mx) / sum);
    }
}

int recur_trace_text(const recur_model *m, const char *text, size_t len,
                     const recur_trace_config *cfg, recur_trace **out, recur_error *err)
{
    if (!m || !out || (!text && len)) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    recur_trace_config def;
    recur_trace_config_default(&def);
    if (!cfg) cfg = &def;
    recur_trace *t = calloc(1, sizeof *t);
    if (!t) return set_error(err, RECUR_ENOMEM, "out of memory");
    t->L = m->L, t->D = m->D, t->U = m->U, t->H = m->H, t->O = m->O;
    int rc = trace_encode(m, t, text, len, cfg, err);
    if (rc) {
        recur_trace_free(t);
        return rc;
    }

    // Storage: h always; c for LSTM; the cell's gates if asked; outputs.
    const size_t per = (size_t)t->n * (size_t)m->U * (size_t)m->H;
    int want[RECUR_TRACE_NVALUES] = {1, m->cell->has_c};
    if (cfg->gates && m->cell->cache) {
        const int first = m->cell->id == RECUR_CELL_LSTM ? RECUR_TRACE_I : RECUR_TRACE_R;
        for (int g = 0; g < m->G; g++) want[first + g] = 1;
    }
    int fail = 0;
    for (int k = 0; k < RECUR_TRACE_NVALUES; k++)
        if (want[k] && !(t->val[k] = xmalloc(per, sizeof(float)))) fail = 1;
    if (m->O && !(t->probs = xmalloc((size_t)t->n * (size_t)m->O, sizeof(float)))) fail = 1;
    if (fail) {
        recur_trace_free(t);
        return set_error(err, RECUR_ENOMEM, "out of memory for a trace of %d steps", t->n);
    }

    // One direction: windows with the state carried. Two: the whole text is
    // one sequence (the reverse direction needs its end first).
    const int W = m->D == 2 ? t->n : (t->n < TRACE_WINDOW ? t->n : TRACE_WINDOW);
    workspace *ws = NULL;
    rc = ws_new(m, W, 1, cfg->threads, &ws, err);
    if (rc) {
        recur_trace_free(t);
        return rc;
    }
    ws_zero_state(m, ws);
    for (int s0 = 0; s0 < t->n; s0 += W) {
        const int T = t->n - s0 < W ? t->n - s0 : W;
        ws->T = T;
        ws->lens[0] = T;
        // A conditioned model (generation by class) reads class 0.
        if (m->Cc) memset(ws->cond, 0, sizeof(int32_t) * (size_t)T);
        model_forward(m, ws, t->ids + s0, NULL);
        trace_copy(m, ws, t, s0, cfg->gates);
        ws_carry_state(m, ws);
    }
    ws->T = W;
    ws_free(m, ws);
    *out = t;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- accessors */

int recur_trace_steps(const recur_trace *t) { return t ? t->n : 0; }
int recur_trace_layers(const recur_trace *t) { return t ? t->L : 0; }
int recur_trace_directions(const recur_trace *t) { return t ? t->D : 0; }
int recur_trace_hidden(const recur_trace *t) { return t ? t->H : 0; }
int recur_trace_outputs(const recur_trace *t) { return t ? t->O : 0; }
long long recur_trace_skipped(const recur_trace *t) { return t ? t->skipped : 0; }

int recur_trace_char(const recur_trace *t, int step, size_t *offset, int *nbytes)
{
    if (!t || step < 0 || step >= t->n) return -1;
    if (offset) *offset = t->off[step];
    if (nbytes) *nbytes = t->nb[step];
    return t->ids[step];
}

const float *recur_trace_get(const recur_trace *t, recur_trace_value what, int step, int layer,
                             int dir)
{
    if (!t || (unsigned)what >= RECUR_TRACE_NVALUES || !t->val[what] || step < 0 || step >= t->n ||
        layer < 0 || layer >= t->L || dir < 0 || dir >= t->D)
        return NULL;
    return t->val[what] + ((size_t)step * t->U + (size_t)(layer * t->D + dir)) * t->H;
}

const float *recur_trace_probs(const recur_trace *t, int step)
{
    if (!t || !t->probs || step < 0 || step >= t->n) return NULL;
    return t->probs + (size_t)step * t->O;
}

/* ---------------------------------------------------------------- features */

static const char *const feature_names[RECUR_FEAT_COUNT] = {"quote", "bracket", "linepos", "indent", "word", "newline"};

const char *recur_feature_name(recur_feature f)
{
    return (unsigned)f < RECUR_FEAT_COUNT ? feature_names[f] : "?";
}

int recur_trace_feature(const recur_trace *t, recur_feature f, float *out, recur_error *err)
{
    if (!t || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    if ((unsigned)f >= RECUR_FEAT_COUNT) return set_error(err, RECUR_EINVAL, "unknown feature %d", (int)f);
    int quote = 0, depth = 0, linepos = 0, indent = 0, leading = 1;
    for (int s = 0; s < t->n; s++) {
        const uint32_t c = t->cps[s];
        float v = 0;
        if (c == '\n') {
            linepos = 0, indent = 0, leading = 1;
        } else {
            linepos++;
            if (leading && (c == ' ' || c == '\t')) indent += c == '\t' ? 4 : 1;
            else leading = 0;
        }
        switch (f) {
        case RECUR_FEAT_QUOTE:
            // The opening quote counts as inside, the closing one as outside:
            // the state after reading the character.
            if (c == '"') quote = !quote;
            else if (c == 0x201C) quote = 1;
            else if (c == 0x201D) quote = 0;
            v = (float)quote;
            break;
        case RECUR_FEAT_BRACKET:
            if (c == '(' || c == '[' || c == '{') depth++;
            else if ((c == ')' || c == ']' || c == '}') && depth > 0) depth--;
            v = (float)depth;
            break;
        case RECUR_FEAT_LINEPOS: v = (float)linepos; break;
        case RECUR_FEAT_INDENT: v = (float)indent; break;
        case RECUR_FEAT_WORD:
            v = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c > 127;
            break;
        case RECUR_FEAT_NEWLINE: v = c == '\n'; break;
        default: break;
        }
        out[s] = v;
    }
    return RECUR_OK;
}

int recur_trace_correlate(const recur_trace *t, recur_trace_value what, const float *x,
                          float *corr, recur_error *err)
{
    if (!t || !x || !corr) return set_error(err, RECUR_EINVAL, "NULL argument");
    if ((unsigned)what >= RECUR_TRACE_NVALUES || !t->val[what])
        return set_error(err, RECUR_EINVAL, "the trace holds no '%s' values", recur_trace_value_name(what));
    const int n = t->n, UH = t->U * t->H;
    // Pearson's r in double, from the centred sums (two passes: no
    // cancellation from sum(x^2) - n mean^2).
    double mx = 0, sxx = 0;
    for (int s = 0; s < n; s++) mx += x[s];
    mx /= n;
    for (int s = 0; s < n; s++) sxx += (x[s] - mx) * (x[s] - mx);
    double *mu = calloc((size_t)UH, sizeof *mu), *acc = calloc((size_t)UH * 2, sizeof *acc);
    if (!mu || !acc) {
        free(mu);
        free(acc);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    const float *v = t->val[what];
    for (int s = 0; s < n; s++)
        for (int j = 0; j < UH; j++) mu[j] += v[(size_t)s * UH + j];
    for (int j = 0; j < UH; j++) mu[j] /= n;
    for (int s = 0; s < n; s++) {
        const double dx = x[s] - mx;
        for (int j = 0; j < UH; j++) {
            const double dv = v[(size_t)s * UH + j] - mu[j];
            acc[2 * j] += dv * dx;
            acc[2 * j + 1] += dv * dv;
        }
    }
    for (int j = 0; j < UH; j++) {
        const double den = sqrt(acc[2 * j + 1] * sxx);
        corr[j] = den > 1e-12 ? (float)(acc[2 * j] / den) : 0.0f;
    }
    free(mu);
    free(acc);
    return RECUR_OK;
}

/* ---------------------------------------------------------------- attention */

int recur_seq2seq_attention(const recur_seq2seq *m, const char *src, size_t src_len,
                            const char *tgt, size_t tgt_len, float *weights, size_t cap,
                            int *rows, int *cols, recur_error *err)
{
    if (!m || (!src && src_len) || (!tgt && tgt_len) || !rows || !cols)
        return set_error(err, RECUR_EINVAL, "NULL argument");
    if (!m->cfg.attention) return set_error(err, RECUR_EINVAL, "this seq2seq model has no attention");
    recur_pair pr = {src ? src : "", tgt ? tgt : "", src_len, tgt_len};
    s2s_data d = {0};
    s2s_batch b = {0};
    s2s_work *w = NULL;
    int rc = s2s_encode(m, &pr, 1, 1, &d, err);
    if (rc) return rc;
    // Teacher forcing on the given target: the decoder's states, and so the
    // attention, are those of a decoder that wrote exactly this target.
    const int S = d.src_len[0] + 1, T = d.tgt_len[0] + 1;
    *rows = T;
    *cols = S;
    if (!weights || cap < (size_t)S * (size_t)T) {
        s2s_data_free(&d);
        return set_error(err, RECUR_EINVAL, "room for %zu weights, %d x %d needed", cap, T, S);
    }
    size_t idx = 0;
    if (!(rc = s2s_batch_new(S, T, 1, &b, err)) && !(rc = s2s_work_new(m, S, T, 1, 1, &w, err))) {
        s2s_batch_fill(m, &d, &idx, 1, &b);
        int count = 0;
        s2s_forward(m, w, &b, NULL, 0, &count);
        // alpha [T*B, S] with B = 1 and the batch's S (== S here).
        memcpy(weights, w->alpha, sizeof(float) * (size_t)S * (size_t)T);
    }
    s2s_work_free(m, w);
    s2s_batch_free(&b);
    s2s_data_free(&d);
    return rc;
}
