/*
 * workspace.c - what one pass over a window needs besides the weights: the
 * activations and gate caches the backward reads, their gradients, the
 * transposed weight copies of small windows, the recurrence's packed panels
 * and thread pool (rec.h), and the switches that change what is kept (bf16,
 * recompute). model.c runs the passes through it; docs/design.md#memory
 * counts its bytes.
 */
#include "nn/model.h"

#include "kernels/gemm.h"
#include "nn/rec.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

// Windows of at most this many rows (T*B: sampling, one stream) multiply by
// transposed copies of W_ih and the head made once per weight version; larger
// ones pack the weights inside each product instead (gemm.c).
#define SMALL_WINDOW 12

/* Rows of the chunk cache under recompute: a chunk's input projection is
 * one product of this many rows (enough for the GEMM's blocking), and the
 * cache is this many rows rather than T*B. */
#define RECOMPUTE_ROWS 1024

// n floats, zeroed, counted in *bytes.
static float *falloc(size_t *bytes, size_t n, int *fail)
{
    float *p = xcalloc(n ? n : 1, sizeof(float));
    if (!p) *fail = 1;
    *bytes += (n ? n : 1) * sizeof(float);
    return p;
}

static int32_t *ialloc(workspace *ws, size_t n, int *fail)
{
    int32_t *p = xcalloc(n ? n : 1, sizeof(int32_t));
    if (!p) *fail = 1;
    ws->bytes += (n ? n : 1) * sizeof(int32_t);
    return p;
}

static float **palloc(int n, int *fail)
{
    float **p = calloc((size_t)n, sizeof(float *));
    if (!p) *fail = 1;
    return p;
}

int ws_set_bf16(const recur_model *m, workspace *ws, int on, recur_error *err)
{
    if (rec_set_bf16(m, ws, on)) {
        ws->bf16 = 0;
        return set_error(err, RECUR_ENOMEM, "out of memory (bf16 weight panels)");
    }
    return 0;
}

int ws_new(const recur_model *m, int T, int B, int threads, workspace **out, recur_error *err)
{
    *out = NULL;
    if (T < 1 || B < 1) return set_error(err, RECUR_EINVAL, "window must be at least 1x1");
    // The kernels index a window's buffers with int products (t*B*H, n*G*H,
    // rows*O, ...): refuse a window whose widest buffer would not fit in one,
    // whatever entry point asked for it (training configs, a long text to
    // classify or tag, a seq2seq batch).
    {
        double width = (double)m->G * m->H;
        double cand[] = {(double)m->H * (m->cell->cache > 1 ? m->cell->cache : 1), (double)m->O,
                         (double)m->D * m->H, (double)m->E, (double)m->lay[0].in};
        for (size_t i = 0; i < sizeof cand / sizeof cand[0]; i++) width = cand[i] > width ? cand[i] : width;
        if ((double)T * (double)B * width > (double)INT_MAX)
            return set_error(err, RECUR_EINVAL, "a window of %d steps x %d rows is too large for this model: "
                             "a buffer of %.0f elements, over %d", T, B, (double)T * B * width, INT_MAX);
    }
    workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return set_error(err, RECUR_ENOMEM, "out of memory");
    ws->T = ws->T0 = T;
    ws->B = ws->B0 = B;
    ws->threads = threads < 1 ? 1 : threads;
    ws->step_min_flops = REC_STEP_MIN_FLOPS;
    const int L = m->L, U = m->U, D = m->D, H = m->H, GH = m->G * m->H, O = m->O;
    const size_t N = (size_t)T * (size_t)B, BH = (size_t)B * (size_t)H;
    // The widest input that is ever materialised: a layer's output, or the
    // embedding (one-hot ids and classes never are).
    int fail = 0, maxin = D * H > m->E ? D * H : m->E;
    ws->hs = palloc(U, &fail);
    ws->cs = palloc(U, &fail);
    ws->cache = palloc(U, &fail);
    ws->wt_ih = palloc(U, &fail);
    ws->dh0 = palloc(U, &fail);
    ws->dc0 = palloc(U, &fail);
    ws->dhf = palloc(U, &fail);
    ws->dcf = palloc(U, &fail);
    ws->keep = calloc((size_t)L, sizeof(uint8_t *));
    if (!ws->keep) fail = 1;
    ws->cat = palloc(L, &fail);
    for (int u = 0; u < U && !fail; u++) {
        // What a unit keeps for its backward: h (and c) at every step, and
        // the cell's cache, which also holds the step's input projections
        // and later its gate gradients (rec.h: rec_rows).
        ws->hs[u] = falloc(&ws->bytes, (N + B) * H, &fail);
        if (m->cell->has_c) ws->cs[u] = falloc(&ws->bytes, (N + B) * H, &fail);
        if (m->cell->cache) ws->cache[u] = falloc(&ws->bytes, N * H * m->cell->cache, &fail);
        // W_ih^T: for the one-hot gathers of layer 0, and for windows so small
        // (sampling) that transposing once beats packing W_ih at every call.
        if ((u < D && (!m->E || m->Cc)) || N <= SMALL_WINDOW)
            ws->wt_ih[u] = falloc(&ws->wbytes, (size_t)m->lay[u].in * GH, &fail);
        ws->dh0[u] = falloc(&ws->bytes, BH, &fail);
        ws->dc0[u] = falloc(&ws->bytes, BH, &fail);
        ws->dhf[u] = falloc(&ws->bytes, BH, &fail);
        ws->dcf[u] = falloc(&ws->bytes, BH, &fail);
    }
    for (int l = 0; l < L && !fail; l++) {
        // Masks where the model drops: the embedding's values (layer 0), the
        // layer below's outputs (l > 0).
        const size_t width = l == 0 ? (size_t)m->E : (size_t)D * H;
        if (model_drop_p(m, l) > 0 && width) {
            ws->keep[l] = xcalloc(N * width, 1);
            ws->bytes += N * width;
            if (!ws->keep[l]) fail = 1;
        }
        if (D == 2) ws->cat[l] = falloc(&ws->bytes, N * 2 * H, &fail);
    }
    if (!fail) {
        if (N <= SMALL_WINDOW) ws->wt_head = falloc(&ws->wbytes, (size_t)D * H * O, &fail);
        ws->ids = ialloc(ws, N, &fail);
        ws->cond = ialloc(ws, N, &fail);
        ws->lens = ialloc(ws, (size_t)B, &fail);
        if (D == 2) {
            ws->rev = ialloc(ws, N, &fail);
            ws->ids_r = ialloc(ws, N, &fail);
            ws->cond_r = ialloc(ws, N, &fail);
        }
        // One step's ph; two steps' dph for a cell that keeps it apart (rec.c).
        ws->ph = falloc(&ws->bytes, (size_t)(m->cell->dph_apart ? 2 : 1) * B * GH, &fail);
        ws->logits = falloc(&ws->bytes, N * O, &fail);
        ws->pooled = falloc(&ws->bytes, (size_t)B * D * H, &fail);
        ws->dpooled = falloc(&ws->bytes, (size_t)B * D * H, &fail);
        if (m->cfg.dropout_out > 0 && O) {
            ws->keep_out = xcalloc(N * D * H, 1);
            ws->bytes += N * D * H;
            if (!ws->keep_out) fail = 1;
            ws->head_in = falloc(&ws->bytes, N * D * H, &fail);
        }
        ws->dh_seq = falloc(&ws->bytes, N * maxin, &fail);
        // A second gradient buffer only where dh_seq is still in use when a
        // layer's input gradient is made: RNN keeps its gate gradients there
        // (when some layer has a materialised input), bidirectional layers
        // split it in two.
        if (D == 2 || (!m->cell->cache && (L > 1 || m->E)))
            ws->dx_seq = falloc(&ws->bytes, N * maxin, &fail);
        ws->dh = falloc(&ws->bytes, BH, &fail);
        ws->dhp = falloc(&ws->bytes, BH, &fail);
        if (D == 2 && (L > 1 || m->E)) { // some layer's input is materialised
            ws->xr = falloc(&ws->bytes, N * maxin, &fail);
            ws->dxr = falloc(&ws->bytes, N * maxin, &fail);
        }
    }
    if (!fail && rec_new(m, ws)) fail = 1;
    if (fail) {
        ws_free(m, ws);
        return set_error(err, RECUR_ENOMEM, "out of memory for a %dx%d window workspace", T, B);
    }
    for (int b = 0; b < B; b++) ws->lens[b] = T;
    *out = ws;
    return RECUR_OK;
}

int ws_set_recompute(const recur_model *m, workspace *ws, int on, recur_error *err)
{
    if (!on || ws->recompute || !m->cell->cache) return 0;
    // The window it was made for, whatever smaller one it serves now.
    const int T = ws->T0, B = ws->B0, H = m->H, D = m->D, kc = m->cell->cache;
    const int steps = RECOMPUTE_ROWS / B < 1 ? 1 : RECOMPUTE_ROWS / B > T ? T : RECOMPUTE_ROWS / B;
    const size_t crows = (size_t)steps * B, N = (size_t)T * B;
    const int maxin = D * H > m->E ? D * H : m->E;
    size_t bytes = 0;
    int fail = 0;
    float *cc = falloc(&bytes, crows * H * kc, &fail);
    // A chunk's input, when a layer's input is made rather than read in
    // place (embedding rows, dropout, the reverse order: layer_input_rows).
    int made = m->E > 0;
    for (int l = 1; l < m->L; l++) made |= D == 2 || model_drop_p(m, l) > 0;
    float *xc = made ? falloc(&bytes, crows * maxin, &fail) : NULL;
    // The first layer's input gradient goes over dh_seq chunk by chunk while
    // the chunks below still need theirs: where its rows are narrower (an
    // embedding smaller than H) they would land on those; then apart.
    float *dx = D == 1 && m->E && m->E < H && !ws->dx_seq ? falloc(&bytes, N * m->E, &fail) : NULL;
    if (fail) {
        free(cc), free(xc), free(dx);
        return set_error(err, RECUR_ENOMEM, "out of memory (recompute chunk)");
    }
    for (int u = 0; u < m->U; u++) {
        free(ws->cache[u]);
        ws->cache[u] = cc; // shared: units run one at a time
    }
    ws->bytes -= sizeof(float) * N * H * kc * (size_t)m->U;
    ws->bytes += bytes;
    ws->xchunk = xc;
    if (dx) ws->dx_seq = dx;
    ws->crows = (int)crows;
    ws->recompute = 1;
    return 0;
}

void ws_free(const recur_model *m, workspace *ws)
{
    if (!ws) return;
    rec_free(m, ws);
    if (ws->recompute) { // one chunk cache behind every unit's pointer
        free(ws->cache[0]);
        for (int u = 0; u < m->U; u++) ws->cache[u] = NULL;
    }
    free(ws->xchunk);
    float **per_unit[] = {ws->hs, ws->cs, ws->cache, ws->wt_ih, ws->dh0, ws->dc0, ws->dhf, ws->dcf};
    for (size_t k = 0; k < sizeof per_unit / sizeof per_unit[0]; k++) {
        if (!per_unit[k]) continue;
        for (int u = 0; u < m->U; u++) free(per_unit[k][u]);
        free(per_unit[k]);
    }
    for (int l = 0; l < m->L; l++) {
        if (ws->keep) free(ws->keep[l]);
        if (ws->cat) free(ws->cat[l]);
    }
    free(ws->keep);
    free(ws->cat);
    void *flat[] = {ws->wt_head, ws->ids, ws->cond, ws->lens, ws->rev, ws->ids_r,
                    ws->cond_r, ws->ph, ws->logits, ws->pooled, ws->dpooled,
                    ws->dh_seq, ws->dx_seq, ws->dh, ws->dhp, ws->xr, ws->dxr, ws->keep_out,
                    ws->head_in};
    for (size_t k = 0; k < sizeof flat / sizeof flat[0]; k++) free(flat[k]);
    free(ws);
}

void ws_zero_state(const recur_model *m, workspace *ws)
{
    size_t BH = (size_t)ws->B * m->H;
    for (int u = 0; u < m->U; u++) {
        memset(ws->hs[u], 0, BH * sizeof(float));
        if (ws->cs[u]) memset(ws->cs[u], 0, BH * sizeof(float));
    }
}

void ws_carry_state(const recur_model *m, workspace *ws)
{
    size_t BH = (size_t)ws->B * m->H, last = (size_t)ws->T * BH;
    for (int u = 0; u < m->U; u++) {
        memmove(ws->hs[u], ws->hs[u] + last, BH * sizeof(float));
        if (ws->cs[u]) memmove(ws->cs[u], ws->cs[u] + last, BH * sizeof(float));
    }
}

// The forward products read W^T so that every GEMM is gemm_nn with unit
// stride along G*H; repacked only when the weights changed.
void ws_pack(const recur_model *m, workspace *ws)
{
    if (ws->packed == m->version) return;
    int GH = m->G * m->H;
    for (int u = 0; u < m->U; u++) {
        if (ws->wt_ih[u]) transpose(ws->wt_ih[u], m->w + m->lay[u].w_ih, GH, m->lay[u].in);
    }
    if (ws->wt_head) transpose(ws->wt_head, m->w + m->head_w, m->O, m->D * m->H);
    ws->packed = m->version;
}
