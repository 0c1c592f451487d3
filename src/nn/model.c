/*
 * model.c - a model is embed (optional) -> rnn (L stacked cells) -> head,
 * laid out as the PyTorch module {embed: nn.Embedding, rnn: nn.RNN/LSTM/GRU,
 * head: nn.Linear}. This file holds its parameter table, PyTorch's default
 * initialisation, its dropout, and the forward and backward passes
 * (backpropagation through time) through a window's workspace (workspace.c).
 * The pointwise math of each cell is in src/nn/cells/; the derivation of the
 * whole backward is docs/math.md; what a model is for (task, labels, kind
 * checks) is kinds.c.
 */
#include "nn/model.h"

#include "kernels/gemm.h"
#include "kernels/kern.h"
#include "nn/rec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- parameters */

static void add_view(recur_model *m, const char *name, int rows, int cols, size_t *off)
{
    param_view *v = &m->views[m->nviews++];
    snprintf(v->name, sizeof v->name, "%s", name);
    v->rows = rows;
    v->cols = cols;
    v->off = *off;
    v->n = (size_t)rows * (size_t)(cols ? cols : 1);
    *off += v->n;
}

int model_alloc(const recur_model_config *cfg, const recur_vocab *vocab, recur_model **out,
                recur_error *err)
{
    *out = NULL;
    const cell_def *cell = cell_get(cfg->cell);
    if (!cell) return set_error(err, RECUR_EINVAL, "unknown cell type %d", (int)cfg->cell);
    if (cfg->hidden < 1 || cfg->hidden > 65536)
        return set_error(err, RECUR_EINVAL, "hidden size must be 1..65536, got %d", cfg->hidden);
    if (cfg->layers < 1 || cfg->layers > 64)
        return set_error(err, RECUR_EINVAL, "layers must be 1..64, got %d", cfg->layers);
    if (cfg->embed < 0 || cfg->embed > 65536)
        return set_error(err, RECUR_EINVAL, "embedding size must be 0..65536, got %d", cfg->embed);
    if (!(cfg->dropout >= 0.0f && cfg->dropout < 1.0f))
        return set_error(err, RECUR_EINVAL, "dropout must be in [0, 1), got %g", cfg->dropout);
    if (!(cfg->dropout_in >= 0.0f && cfg->dropout_in < 1.0f) || !(cfg->dropout_out >= 0.0f && cfg->dropout_out < 1.0f))
        return set_error(err, RECUR_EINVAL, "input and output dropout must be in [0, 1), got %g and %g",
                         cfg->dropout_in, cfg->dropout_out);
    if (cfg->dropout_in > 0 && cfg->embed == 0)
        return set_error(err, RECUR_EINVAL, "input dropout needs a learned embedding (embed > 0); "
                         "a one-hot input has no values to drop");
    if (cfg->variational != 0 && cfg->variational != 1)
        return set_error(err, RECUR_EINVAL, "variational must be 0 or 1, got %d", cfg->variational);
    if (cfg->tie != 0 && cfg->tie != 1) return set_error(err, RECUR_EINVAL, "tie must be 0 or 1, got %d", cfg->tie);
    if (cfg->tie && (cfg->embed != cfg->hidden || cfg->outputs != 0 || cfg->bidirectional))
        return set_error(err, RECUR_EINVAL, "tying the head to the embedding needs an embedding as wide as the "
                         "hidden layer (embed %d, hidden %d) and a language model's head (one per character)",
                         cfg->embed, cfg->hidden);
    if (cfg->relu && cfg->cell != RECUR_CELL_RNN)
        return set_error(err, RECUR_EINVAL, "relu nonlinearity is only for the rnn cell");
    if (!vocab || vocab->n < 1) return set_error(err, RECUR_EINVAL, "empty vocabulary");
    if (cfg->outputs < -1 || cfg->outputs > 1000000 || cfg->cond < 0 || cfg->cond > 1000000)
        return set_error(err, RECUR_EINVAL, "outputs must be -1..1000000 and cond 0..1000000");

    recur_model *m = calloc(1, sizeof *m);
    if (!m) return set_error(err, RECUR_ENOMEM, "out of memory");
    m->cfg = *cfg;
    m->cell = cell;
    m->V = vocab->n;
    m->H = cfg->hidden;
    m->L = cfg->layers;
    m->E = cfg->embed;
    m->G = cell->gates;
    m->O = cfg->outputs == 0 ? vocab->n : (cfg->outputs < 0 ? 0 : cfg->outputs); // 0: no head
    m->Cc = cfg->cond;
    m->best_val = NAN;
    m->version = 1;
    int rc = vocab_clone(vocab, &m->vocab, err);
    if (rc) {
        free(m);
        return rc;
    }
    m->D = cfg->bidirectional ? 2 : 1;
    m->U = m->L * m->D;
    m->views = calloc((size_t)(4 * m->U + 3), sizeof *m->views);
    m->lay = calloc((size_t)m->U, sizeof *m->lay);
    if (!m->views || !m->lay) {
        recur_model_free(m);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }

    // The table, in PyTorch's registration order: embed, rnn (per layer and
    // direction: weight_ih, weight_hh, bias_ih, bias_hh; "_reverse" for the
    // second direction), head.
    size_t off = 0;
    char name[48];
    int GH = m->G * m->H;
    if (m->E) {
        m->embed = off;
        add_view(m, "embed.weight", m->V, m->E, &off);
    }
    static const char *const kinds[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    for (int u = 0; u < m->U; u++) {
        int l = u / m->D, d = u % m->D;
        layer_off *lo = &m->lay[u];
        lo->in = l == 0 ? (m->E ? m->E : m->V) + m->Cc : m->D * m->H;
        size_t *offs[4] = {&lo->w_ih, &lo->w_hh, &lo->b_ih, &lo->b_hh};
        for (int k = 0; k < 4; k++) {
            *offs[k] = off;
            snprintf(name, sizeof name, "rnn.%s_l%d%s", kinds[k], l, d ? "_reverse" : "");
            add_view(m, name, GH, k == 0 ? lo->in : (k == 1 ? m->H : 0), &off);
        }
    }
    m->head_w = m->head_b = off;
    if (m->O && cfg->tie) {
        // The head's weight [V, H] is the embedding [V, E = H]: a second name for it.
        size_t at = m->embed;
        add_view(m, "head.weight", m->O, m->D * m->H, &at);
        m->views[m->nviews - 1].alias = 1;
        m->head_w = m->embed;
        m->head_b = off;
        add_view(m, "head.bias", m->O, 0, &off);
    } else if (m->O) {
        add_view(m, "head.weight", m->O, m->D * m->H, &off);
        m->head_b = off;
        add_view(m, "head.bias", m->O, 0, &off);
    }
    m->nw = off;
    m->w = xcalloc(off, sizeof(float));
    if (!m->w) {
        recur_model_free(m);
        return set_error(err, RECUR_ENOMEM, "out of memory for %zu parameters", off);
    }
    *out = m;
    return RECUR_OK;
}

void model_init(recur_model *m, rng *r)
{
    // nn.RNN/LSTM/GRU: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)).
    // nn.Linear(H, V): weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (fan_in = H).
    // nn.Embedding: N(0, 1).
    // A tied embedding starts as the head does (N(0, 1) would make logits
    // of size sqrt(H)).
    float k = 1.0f / sqrtf((float)m->H);
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        float *p = m->w + v->off;
        if (v->alias) continue;
        int is_embed = m->E && v->off == m->embed && !m->cfg.tie;
        for (size_t j = 0; j < v->n; j++)
            p[j] = is_embed ? rng_normal(r) : (2.0f * rng_uniform(r) - 1.0f) * k;
    }
    m->version++;
}

const param_view *model_find_view(const recur_model *m, const char *name)
{
    for (int i = 0; i < m->nviews; i++)
        if (strcmp(m->views[i].name, name) == 0) return &m->views[i];
    return NULL;
}

void recur_model_config_default(recur_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cell = RECUR_CELL_RNN;
    cfg->hidden = 128;
    cfg->layers = 2;
}

int recur_model_new(const recur_model_config *cfg, const recur_vocab *vocab, uint64_t seed,
                    recur_model **out, recur_error *err)
{
    if (!cfg || !vocab || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    int rc = model_alloc(cfg, vocab, out, err);
    if (rc) return rc;
    rng r;
    rng_seed(&r, seed);
    model_init(*out, &r);
    return RECUR_OK;
}

void recur_model_free(recur_model *m)
{
    if (!m) return;
    recur_vocab_free(m->vocab);
    free(m->w);
    free(m->views);
    free(m->lay);
    free(m->train_meta);
    labels_free(m->labels, m->nlabels);
    free(m);
}

void recur_model_get_info(const recur_model *m, recur_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->cell = m->cfg.cell;
    info->relu = m->cfg.relu;
    info->hidden = m->H;
    info->layers = m->L;
    info->embed = m->E;
    info->vocab_size = m->V;
    info->dropout = m->cfg.dropout;
    info->dropout_in = m->cfg.dropout_in;
    info->dropout_out = m->cfg.dropout_out;
    info->variational = m->cfg.variational;
    info->tie = m->cfg.tie;
    info->params = m->nw;
    info->steps = m->steps;
    info->best_val = m->best_val;
    info->outputs = m->O;
    info->directions = m->D;
    info->cond = m->Cc;
}

const recur_vocab *recur_model_vocab(const recur_model *m)
{
    return m->vocab;
}

/* ---------------------------------------------------------------- forward */

// A reverse unit reads each row backwards from its last real step: its step
// t of row b is the sequence's step lens[b]-1-t (padding, past the end, stays
// where it is and comes after the real steps, so it never reaches them).
static void make_reverse_order(workspace *ws)
{
    const int T = ws->T, B = ws->B;
    for (int b = 0; b < B; b++) {
        int len = ws->lens[b] < 1 ? 1 : (ws->lens[b] > T ? T : ws->lens[b]);
        for (int t = 0; t < T; t++) ws->rev[t * B + b] = (t < len ? len - 1 - t : t) * B + b;
    }
}

// (2) px = W_ih x + b_ih for the rows of steps [t0, t1) at once: x, ids and
// cond from those steps' first row. One-hot input is a row gather of W_ih^T
// (a column of W_ih), never a product; so is the conditioning class, whose
// columns follow the input's. px goes where the recurrence will replace it
// (rec.h: rec_rows; under recompute the chunk's cache).
static void unit_px(const recur_model *m, workspace *ws, int u, const float *x, const int32_t *ids,
                    const int32_t *cond, int t0, int t1)
{
    const int B = ws->B, GH = m->G * m->H, N = (t1 - t0) * B, th = ws->threads;
    const layer_off *lo = &m->lay[u];
    const int first = u < m->D; // a unit of layer 0
    const float *b_ih = m->w + lo->b_ih;
    int xin = first ? lo->in - m->Cc : lo->in; // columns of W_ih that x feeds
    const gate_rows gr = rec_rows(m, ws, u, NULL);
    float *px = gr.px + (size_t)(ws->recompute ? 0 : t0) * B * gr.ld;
    if (x && ws->wt_ih[u])
        gemm_nn_bias(N, GH, xin, x, xin, ws->wt_ih[u], GH, b_ih, px, gr.ld, th);
    else if (x)
        gemm_nt_bias(N, GH, xin, x, xin, m->w + lo->w_ih, lo->in, b_ih, px, gr.ld, th);
    else
        rec_gather(ws, px, gr.ld, ws->wt_ih[u], ids, 0, N, GH, b_ih);
    if (first && m->Cc) rec_gather(ws, px, gr.ld, ws->wt_ih[u], cond, xin, N, GH, NULL);
}

// One unit over the window: x [N, xin] (NULL: one-hot ids), its ids and
// classes, in the unit's own time order. Leaves h_1..h_T in ws->hs[u].
static void unit_forward(const recur_model *m, workspace *ws, int u, const float *x,
                         const int32_t *ids, const int32_t *cond)
{
    const int T = ws->T, B = ws->B, C = rec_chunk_steps(ws);
    const int xin = u < m->D ? m->lay[u].in - m->Cc : m->lay[u].in;
    // (2) the input projections, then (3) the recurrence: ph = W_hh h_{t-1} +
    // b_hh, then the cell, for t = 1..T (rec.c: on the workspace's threads,
    // one barrier per step). All T steps at once, or under recompute a chunk
    // of C steps at a time through the chunk cache.
    for (int t0 = 0; t0 < T; t0 += C) {
        const int t1 = t0 + C < T ? t0 + C : T;
        const size_t n0 = (size_t)t0 * B;
        unit_px(m, ws, u, x ? x + n0 * xin : NULL, ids + n0, cond + n0, t0, t1);
        rec_forward_steps(m, ws, u, t0, t1);
    }
}

float model_drop_p(const recur_model *m, int l)
{
    return l == 0 ? m->cfg.dropout_in : m->cfg.dropout;
}

int model_has_dropout(const recur_model *m)
{
    return m->cfg.dropout_in > 0 || (m->cfg.dropout_out > 0 && m->O) || (m->L > 1 && m->cfg.dropout > 0);
}

// Draws a dropout mask for this workspace's T x B positions (time-major
// rows of width values): 1 (kept) with probability 1 - p. Data-parallel
// (ws->drop_B), the whole batch's Tall x drop_B rows are drawn in its order
// and this share's rows kept, so every rank draws what one process would.
// Variational: one row per stream, the same at every step.
static void draw_mask(const recur_model *m, const workspace *ws, uint8_t *keep, int T, int Tall,
                      int width, float p, rng *r)
{
    (void)m;
    const int B = ws->B, dB = ws->drop_B ? ws->drop_B : B, off = ws->drop_B ? ws->drop_off : 0;
    const int steps = m->cfg.variational ? 1 : Tall;
    for (int t = 0; t < steps; t++)
        for (int b = 0; b < dB; b++) {
            const int own = t < T && b >= off && b < off + B;
            uint8_t *k = own ? keep + ((size_t)t * B + (size_t)(b - off)) * width : NULL;
            for (int j = 0; j < width; j++) {
                const uint8_t kj = !(rng_uniform(r) < p);
                if (k) k[j] = kj;
            }
        }
    if (m->cfg.variational)
        for (int t = 1; t < T; t++) memcpy(keep + (size_t)t * B * width, keep, (size_t)B * width);
}

size_t model_dropout_draws(const recur_model *m, int Tall, int B, int pooled)
{
    const size_t DH = (size_t)m->D * m->H, steps = m->cfg.variational ? 1 : (size_t)Tall;
    size_t n = 0;
    if (m->cfg.dropout_in > 0) n += steps * B * m->E;
    if (m->cfg.dropout > 0 && m->L > 1) n += (size_t)(m->L - 1) * steps * B * DH;
    if (m->cfg.dropout_out > 0 && m->O) n += (pooled ? 1 : steps) * B * DH;
    return n;
}

int model_dropout_differs(const recur_model *a, const recur_model *b, char *what, size_t cap)
{
    if (a->cfg.tie != b->cfg.tie) {
        snprintf(what, cap, "--tie %d, not %d", a->cfg.tie, b->cfg.tie);
        return 1;
    }
    const float pa[] = {a->cfg.dropout, a->cfg.dropout_in, a->cfg.dropout_out, (float)a->cfg.variational};
    const float pb[] = {b->cfg.dropout, b->cfg.dropout_in, b->cfg.dropout_out, (float)b->cfg.variational};
    static const char *const flag[] = {"--dropout", "--dropout-in", "--dropout-out", "--variational"};
    for (int i = 0; i < 4; i++)
        if (pa[i] != pb[i]) {
            snprintf(what, cap, "%s %g, not %g", flag[i], (double)pa[i], (double)pb[i]);
            return 1;
        }
    return 0;
}

void model_train_settings(const recur_model *m, float out[5])
{
    out[0] = m->cfg.dropout;
    out[1] = m->cfg.dropout_in;
    out[2] = m->cfg.dropout_out;
    out[3] = (float)m->cfg.variational;
    out[4] = (float)m->cfg.tie;
}

// A gradient through a dropout mask: kept values scaled, dropped ones zero.
static void mask_grad(float *d, const uint8_t *keep, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) d[i] = keep[i] ? d[i] * scale : 0.0f;
}

// The output of layer l in sequence order: [N, D*H].
static const float *layer_output(const recur_model *m, const workspace *ws, int l)
{
    return m->D == 1 ? ws->hs[l] + (size_t)ws->B * m->H : ws->cat[l];
}

// Layer l's input as the forward reads it, rows [n0, n0 + rows): NULL for
// one-hot ids, the layer below's output itself when nothing changes it, else
// made in dst [rows, xin] (its row 0 is row n0): embedding rows, or the layer
// below's output through dropout (inverted, as nn.LSTM's: kept elements
// scaled by 1/(1-p)). reverse: in the reverse unit's order (always made in
// dst). Nothing of it is kept between the forward and the backward, which
// makes it again, bit for bit, from the ids, the weights and the masks.
static const float *layer_input_rows(const recur_model *m, const workspace *ws, int l, float *dst,
                                     int reverse, int n0, int rows)
{
    const int DH = m->D * m->H;
    if (l == 0 && !m->E) return NULL;
    const int xin = l == 0 ? m->E : DH;
    const uint8_t *keep = ws->dropped ? ws->keep[l] : NULL;
    const float scale = 1.0f / (1.0f - model_drop_p(m, l));
    const float *out = l > 0 ? layer_output(m, ws, l - 1) : NULL;
    if (l > 0 && !keep && !reverse) return out + (size_t)n0 * xin;
    for (int n = n0; n < n0 + rows; n++) {
        const int src = reverse ? ws->rev[n] : n; // the sequence row
        const size_t r = (size_t)src * xin;
        float *d = dst + (size_t)(n - n0) * xin;
        const float *s = l == 0 ? m->w + m->embed + (size_t)ws->ids[src] * m->E : out + r;
        if (!keep)
            memcpy(d, s, sizeof(float) * (size_t)xin);
        else
            for (int i = 0; i < xin; i++) d[i] = s[i] * (keep[r + i] ? scale : 0.0f);
    }
    return dst;
}

// The whole window's: rows [0, T*B).
static const float *layer_input(const recur_model *m, const workspace *ws, int l, float *dst,
                                int reverse)
{
    return layer_input_rows(m, ws, l, dst, reverse, 0, ws->T * ws->B);
}

void model_forward_stack(const recur_model *m, workspace *ws, const int32_t *ids, rng *drop)
{
    pool *prev = rec_enter(ws); // the products below run on the workspace's threads
    const int T = ws->T, B = ws->B, H = m->H, L = m->L, D = m->D;
    const int N = T * B, DH = D * H;
    ws_pack(m, ws);
    memcpy(ws->ids, ids, sizeof(int32_t) * (size_t)N);
    if (D == 2) {
        make_reverse_order(ws);
        for (int n = 0; n < N; n++) {
            ws->ids_r[n] = ids[ws->rev[n]];
            ws->cond_r[n] = ws->cond[ws->rev[n]];
        }
    }
    ws->dropped = drop && model_has_dropout(m);

    for (int l = 0; l < L; l++) {
        // (1) The layer's input: one-hot ids (NULL), embedding rows, or the
        // layer below's output, through dropout when training; made (if at
        // all) in dh_seq, which the forward does not otherwise use.
        if (ws->dropped && ws->keep[l])
            draw_mask(m, ws, ws->keep[l], T, ws->drop_B ? ws->drop_T : T, l == 0 ? m->E : DH,
                      model_drop_p(m, l), drop);
        const float *x = layer_input(m, ws, l, ws->dh_seq, 0);
        unit_forward(m, ws, l * D, x, ids, ws->cond);
        if (D == 1) continue;
        // The reverse unit reads the same input, reordered.
        unit_forward(m, ws, l * D + 1, layer_input(m, ws, l, ws->xr, 1), ws->ids_r, ws->cond_r);
        // Both directions side by side, in sequence order.
        const float *hf = ws->hs[l * D] + (size_t)B * H, *hb = ws->hs[l * D + 1] + (size_t)B * H;
        for (int n = 0; n < N; n++) {
            memcpy(ws->cat[l] + (size_t)n * DH, hf + (size_t)n * H, sizeof(float) * H);
            memcpy(ws->cat[l] + (size_t)ws->rev[n] * DH + H, hb + (size_t)n * H, sizeof(float) * H);
        }
    }
    rec_leave(prev);
}

const float *model_top(const recur_model *m, const workspace *ws)
{
    return layer_output(m, ws, m->L - 1);
}

void model_forward_head(const recur_model *m, workspace *ws, const float *in, int rows)
{
    pool *prev = rec_enter(ws); // the products below run on the workspace's threads
    const int O = m->O, DH = m->D * m->H;
    ws_pack(m, ws);
    const float *b = m->w + m->head_b;
    if (ws->wt_head)
        gemm_nn_bias(rows, O, DH, in, DH, ws->wt_head, O, b, ws->logits, O, ws->threads);
    else
        gemm_nt_bias(rows, O, DH, in, DH, m->w + m->head_w, DH, b, ws->logits, O, ws->threads);
    rec_leave(prev);
}

void ws_final_state(const recur_model *m, const workspace *ws, int u, float *h, float *c)
{
    const int B = ws->B, H = m->H;
    for (int b = 0; b < B; b++) {
        size_t at = ((size_t)ws->lens[b] * B + b) * H;
        memcpy(h + (size_t)b * H, ws->hs[u] + at, sizeof(float) * H);
        if (c && ws->cs[u]) memcpy(c + (size_t)b * H, ws->cs[u] + at, sizeof(float) * H);
    }
}

// The head's input through output dropout when the forward drops: rows x DH
// values of top, masked into ws->head_in (the backward reads the masks).
const float *model_head_input(const recur_model *m, workspace *ws, const float *top, int rows, rng *drop)
{
    if (!ws->dropped || !ws->keep_out) return top;
    const int DH = m->D * m->H;
    const float p = m->cfg.dropout_out, scale = 1.0f / (1.0f - p);
    if (ws->pool) // one row per stream
        draw_mask(m, ws, ws->keep_out, 1, 1, DH, p, drop);
    else
        draw_mask(m, ws, ws->keep_out, ws->T, ws->drop_B ? ws->drop_T : ws->T, DH, p, drop);
    for (size_t i = 0; i < (size_t)rows * DH; i++) ws->head_in[i] = ws->keep_out[i] ? top[i] * scale : 0.0f;
    return ws->head_in;
}

const float *model_head_read(const recur_model *m, const workspace *ws, const float *top)
{
    (void)m;
    return ws->dropped && ws->keep_out ? ws->head_in : top;
}

void model_head_input_grad(const recur_model *m, const workspace *ws, float *d, int rows)
{
    if (ws->dropped && ws->keep_out)
        mask_grad(d, ws->keep_out, (size_t)rows * m->D * m->H, 1.0f / (1.0f - m->cfg.dropout_out));
}

void model_forward(const recur_model *m, workspace *ws, const int32_t *ids, rng *drop)
{
    const int B = ws->B, H = m->H, L = m->L, D = m->D, DH = D * H;
    model_forward_stack(m, ws, ids, drop);
    if (!m->O) return; // headless: the caller reads the states
    // The head: logits = W_hy h + b_y, on every position, or (pool) on one
    // feature row per stream: the forward state after the last real step and
    // the reverse state after reading the whole row (its position 0).
    if (!ws->pool) {
        const int N = ws->T * B;
        model_forward_head(m, ws, model_head_input(m, ws, model_top(m, ws), N, drop), N);
        return;
    }
    const float *hf = ws->hs[(L - 1) * D] + (size_t)B * H;
    for (int b = 0; b < B; b++) {
        int last = ws->lens[b] - 1;
        memcpy(ws->pooled + (size_t)b * DH, hf + ((size_t)last * B + b) * H, sizeof(float) * H);
        if (D == 2)
            memcpy(ws->pooled + (size_t)b * DH + H,
                   ws->hs[(L - 1) * D + 1] + ((size_t)(last + 1) * B + b) * H, sizeof(float) * H);
    }
    model_forward_head(m, ws, model_head_input(m, ws, ws->pooled, B, drop), B);
}

/* ---------------------------------------------------------------- backward */

// (3) and (4) of a unit's backward for the rows of steps [t0, t1), once
// their gate gradients are in rec_rows(...).dpx: the weight gradients, each
// one product over those rows (dph's last gate block apart when it is not
// dpx's: GRU's n), and dx = dpx W_ih. x holds the rows' input from their
// first row (NULL: one-hot); ids, cond and dx are the window's.
static void unit_grads(const recur_model *m, workspace *ws, int u, const float *x, const int32_t *ids,
                       const int32_t *cond, float *dout, float *dx, float *g, int t0, int t1)
{
    const int B = ws->B, H = m->H, G = m->G, GH = G * H, N = (t1 - t0) * B, th = ws->threads;
    const size_t n0 = (size_t)t0 * B;
    const layer_off *lo = &m->lay[u];
    gate_rows gr = rec_rows(m, ws, u, dout);
    gr.dpx += (size_t)(ws->recompute ? 0 : t0) * B * gr.ld;
    const float *hs = ws->hs[u] + n0 * H; // h_{t-1} of each row
    const int lead = (G - 1) * H; // dph's columns that are dpx's
    if (gr.dph_last == lead) {
        gemm_tn(GH, H, N, gr.dpx, gr.ld, hs, H, g + lo->w_hh, H, 1, th);
        rec_colsum(ws, g + lo->b_hh, gr.dpx, gr.ld, N, GH);
    } else {
        if (lead) gemm_tn(lead, H, N, gr.dpx, gr.ld, hs, H, g + lo->w_hh, H, 1, th);
        gemm_tn(H, H, N, gr.dpx + gr.dph_last, gr.ld, hs, H, g + lo->w_hh + (size_t)lead * H, H, 1, th);
        if (lead) rec_colsum(ws, g + lo->b_hh, gr.dpx, gr.ld, N, lead);
        rec_colsum(ws, g + lo->b_hh + lead, gr.dpx + gr.dph_last, gr.ld, N, H);
    }
    rec_colsum(ws, g + lo->b_ih, gr.dpx, gr.ld, N, GH);
    const int first = u < m->D;
    const int xin = first ? lo->in - m->Cc : lo->in;
    // One-hot inputs (characters, classes): dW_ih[:, id] += dpx, the
    // transpose of the gather.
    if (first && m->Cc) rec_scatter(ws, g + lo->w_ih, lo->in, gr.dpx, gr.ld, cond + n0, xin, N, GH);
    if (!x) {
        rec_scatter(ws, g + lo->w_ih, lo->in, gr.dpx, gr.ld, ids + n0, 0, N, GH);
        return;
    }
    gemm_tn(GH, xin, N, gr.dpx, gr.ld, x, xin, g + lo->w_ih, lo->in, 1, th);
    // (4) The gradient of the unit's input, dx = dpx W_ih.
    gemm_nn(N, xin, GH, gr.dpx, gr.ld, m->w + lo->w_ih, lo->in, dx + n0 * xin, xin, 0, th);
}

// One unit backwards over the window, from dout [N, H] (the gradient at its
// outputs, in its own time order; RNN: overwritten). Accumulates the unit's
// weight gradients into g; writes dx [N, xin] = dL/dx (unless x is one-hot)
// and dh0/dc0. Its input is made again in xbuf (layer_input) once the sweep
// is done; xbuf may be dx (the input is dead once dW_ih is made), and dx may
// be dout when the cell has a cache (dout is dead once the sweep has run).
// Under recompute the window is done a chunk at a time from the last: the
// chunk's input made again (in ws->xchunk), its gates remade from it and
// the kept state before it, its sweep, its products; dx may still be dout
// then (rows at least as wide as dout's: a chunk's dx lands on rows whose
// dout has been read), xbuf is not used.
static void unit_backward(const recur_model *m, workspace *ws, int u, float *dout, float *xbuf,
                          float *dx, float *g)
{
    const int T = ws->T, B = ws->B, C = rec_chunk_steps(ws);
    const int l = u / m->D, reverse = u % m->D;
    const int32_t *ids = reverse ? ws->ids_r : ws->ids, *cond = reverse ? ws->cond_r : ws->cond;
    if (!ws->recompute) {
        // (2) The sweep back through time (rec.c). Only dh_{t-1} = dph_t W_hh is
        // sequential; it leaves dL/dh_0 and dL/dc_0 of this unit in ws->dh0, ws->dc0.
        rec_backward(m, ws, u, dout);
        unit_grads(m, ws, u, layer_input(m, ws, l, xbuf, reverse), ids, cond, dout, dx, g, 0, T);
        return;
    }
    for (int t0 = (T - 1) / C * C; t0 >= 0; t0 -= C) {
        const int t1 = t0 + C < T ? t0 + C : T, n0 = t0 * B;
        const float *x = layer_input_rows(m, ws, l, ws->xchunk, reverse, n0, (t1 - t0) * B);
        unit_px(m, ws, u, x, ids + n0, cond + n0, t0, t1);
        rec_forward_steps(m, ws, u, t0, t1);
        rec_backward_steps(m, ws, u, dout, t0, t1);
        unit_grads(m, ws, u, x, ids, cond, dout, dx, g, t0, t1);
    }
}

void model_backward_head(const recur_model *m, workspace *ws, const float *in, int rows, float *g,
                         float *din)
{
    pool *prev = rec_enter(ws);
    const int O = m->O, DH = m->D * m->H, th = ws->threads;
    const float *dlogits = ws->logits;
    // dW_hy += dlogits^T in, db_y += sum dlogits, din = dlogits W_hy
    gemm_tn(O, DH, rows, dlogits, O, in, DH, g + m->head_w, DH, 1, th);
    rec_colsum(ws, g + m->head_b, dlogits, O, rows, O);
    if (din) gemm_nn(rows, DH, O, dlogits, O, m->w + m->head_w, DH, din, DH, 0, th);
    rec_leave(prev);
}

void model_backward(const recur_model *m, workspace *ws, float *g)
{
    const int T = ws->T, B = ws->B, H = m->H, D = m->D, N = T * B, DH = D * H;
    if (!ws->pool) {
        model_backward_head(m, ws, model_head_read(m, ws, model_top(m, ws)), N, g, ws->dh_seq);
        model_head_input_grad(m, ws, ws->dh_seq, N);
        model_backward_stack(m, ws, g);
        return;
    }
    // Pooled: the gradient reaches the stack only at the rows' ends.
    model_backward_head(m, ws, model_head_read(m, ws, ws->pooled), B, g, ws->dpooled);
    model_head_input_grad(m, ws, ws->dpooled, B);
    memset(ws->dh_seq, 0, sizeof(float) * (size_t)N * DH);
    for (int b = 0; b < B; b++) {
        // The reverse half was read at the reverse unit's last step, which
        // is the row's position 0 in sequence order.
        int last = ws->lens[b] - 1;
        memcpy(ws->dh_seq + ((size_t)last * B + b) * DH, ws->dpooled + (size_t)b * DH, sizeof(float) * H);
        if (D == 2)
            memcpy(ws->dh_seq + (size_t)b * DH + H, ws->dpooled + (size_t)b * DH + H, sizeof(float) * H);
    }
    model_backward_stack(m, ws, g);
}

void model_backward_stack(const recur_model *m, workspace *ws, float *g)
{
    pool *prev = rec_enter(ws); // the products below run on the workspace's threads
    const int T = ws->T, B = ws->B, H = m->H, L = m->L, D = m->D;
    const int N = T * B, DH = D * H;
    for (int l = L - 1; l >= 0; l--) {
        const int onehot = l == 0 && !m->E;
        const int xin = l == 0 ? m->lay[0].in - m->Cc : DH;
        // Where the layer's input gradient lands: over dh_seq when the sweep
        // leaves it dead (a cell with a cache keeps its gate gradients there),
        // else in dx_seq.
        // (Under recompute a first layer narrower than dout, an embedding
        // smaller than H, has its own: ws_set_recompute.)
        float *dx = D == 1 && m->cell->cache && !(ws->recompute && l == 0 && xin < DH) ? ws->dh_seq : ws->dx_seq;
        if (D == 1) {
            unit_backward(m, ws, l, ws->dh_seq, dx, dx, g);
        } else {
            // Split dh_seq [N, 2H] into the forward half (dh_seq, now [N, H])
            // and the reverse half in the reverse unit's time order (dx_seq).
            for (int n = 0; n < N; n++)
                memcpy(ws->dx_seq + (size_t)n * H, ws->dh_seq + (size_t)ws->rev[n] * DH + H, sizeof(float) * H);
            for (int n = 0; n < N; n++) // in place: row n moves down to n*H <= n*2H
                memmove(ws->dh_seq + (size_t)n * H, ws->dh_seq + (size_t)n * DH, sizeof(float) * H);
            // Reverse unit first: its input in its own order (xr), its dx
            // (reverse order) to dxr, then back into sequence order in xr's
            // place; the forward unit's input is then made in dxr.
            unit_backward(m, ws, l * D + 1, ws->dx_seq, ws->xr, ws->dxr, g);
            if (!onehot)
                for (int n = 0; n < N; n++)
                    memcpy(ws->xr + (size_t)ws->rev[n] * xin, ws->dxr + (size_t)n * xin, sizeof(float) * xin);
            unit_backward(m, ws, l * D, ws->dh_seq, ws->dxr, ws->dx_seq, g);
            if (!onehot)
                for (size_t i = 0; i < (size_t)N * xin; i++) ws->dx_seq[i] += ws->xr[i];
        }
        if (onehot) continue; // one-hot input: its gradient was scattered into W_ih
        if (l > 0) {
            // dx becomes the gradient at the outputs of the layer below (through dropout).
            const uint8_t *keep = ws->dropped ? ws->keep[l] : NULL;
            const float scale = 1.0f / (1.0f - m->cfg.dropout);
            if (keep)
                for (size_t i = 0; i < (size_t)N * DH; i++) ws->dh_seq[i] = dx[i] * (keep[i] ? scale : 0.0f);
            else if (dx != ws->dh_seq)
                memcpy(ws->dh_seq, dx, sizeof(float) * (size_t)N * DH);
        } else {
            // Embedding: scatter the rows back to the ids that were looked up
            // (through input dropout).
            const uint8_t *keep = ws->dropped ? ws->keep[0] : NULL;
            if (keep) mask_grad(dx, keep, (size_t)N * m->E, 1.0f / (1.0f - m->cfg.dropout_in));
            for (int n = 0; n < N; n++) {
                float *ge = g + m->embed + (size_t)ws->ids[n] * m->E;
                const float *d = dx + (size_t)n * m->E;
                for (int j = 0; j < m->E; j++) ge[j] += d[j];
            }
        }
    }
    rec_leave(prev);
}

/* ---------------------------------------------------------------- loss */

double softmax_xent_over(float *logits, const int32_t *tgt, int N, int V, int want_grad, double denom,
                         int *count)
{
    int counted = 0;
    for (int n = 0; n < N; n++) counted += tgt[n] >= 0;
    float scale = denom > 0 ? (float)(1.0 / denom) : 0.0f;
    double total = kern_get()->xent(logits, tgt, 0, N, V, want_grad, scale);
    if (count) *count = counted;
    return total;
}

double softmax_xent(float *logits, const int32_t *tgt, int N, int V, int want_grad, int *count)
{
    // Per row: the max, exp(z - max) once per logit (vectorised, kern.h), the
    // sum in double; the loss is logsumexp - z_target and, with want_grad,
    // d(mean loss)/dz = (softmax(z) - onehot(target)) / counted.
    int counted = 0;
    for (int n = 0; n < N; n++) counted += tgt[n] >= 0;
    float scale = counted ? (float)(1.0 / counted) : 0.0f;
    double total = kern_get()->xent(logits, tgt, 0, N, V, want_grad, scale);
    if (count) *count = counted;
    return total;
}

int model_matrix_ranges(const recur_model *m, size_t *out)
{
    int k = 0;
    for (int i = 0; i < m->nviews; i++)
        if (m->views[i].cols && !m->views[i].alias) {
            out[2 * k] = m->views[i].off;
            out[2 * k + 1] = m->views[i].n;
            k++;
        }
    return k;
}
