/*
 * rec.c - the recurrence of one unit over a window, forward and backward,
 * on the workspace's pool (rec.h). Notation as in docs/math.md: B rows, H
 * units, G gate blocks, T steps; px, ph [B, G*H] per step.
 */
#include "nn/rec.h"

#include "kernels/gemm.h"
#include "kernels/kern.h"

#include <stdlib.h>
#include <string.h>

#define UB MK_NR /* units per block: one 64-column panel per gate */

/* The backward reads W_hh's rows in place, 256 at a time; rows longer than
 * this (2 KiB) land in too few cache sets to stay in L2, so above it they are
 * packed into contiguous panels too. */
#define PACK_BACK 512

struct rec_state {
    pool *pool;
    float *dwt;              /* [max in, G*H] one-hot weight-gradient columns, transposed */
    size_t ndwt;
    const kern *kn;
    float **wf;              /* [U] W_hh^T panels: (block, gate) -> [H][64] */
    float **wb;              /* [U] W_hh panels: block -> [G*H][64], only for H > PACK_BACK */
    unsigned long *version;  /* [U] model version the panels hold (0: none) */
    int bmax;                /* the rows the workspace was made for */
    /* bf16 training (rec_set_bf16): the same panels as bf16 pairs (kern.h,
     * mk_bf16), their own versions, and each thread's copy of a step's left
     * operand (h_{t-1} or dph_t) as pairs. NULL when off. */
    uint32_t **wf16;         /* [U] (block, gate) -> [ceil(H/2)][64] */
    uint32_t **wb16;         /* [U] block -> [ceil(G*H/2)][64] */
    unsigned long *version16;
    uint32_t *x16;           /* [threads][x16_ld] */
    size_t x16_ld;
};

static int nblocks(int H)
{
    return (H + UB - 1) / UB;
}

int rec_new(const recur_model *m, workspace *ws)
{
    rec_state *rs = calloc(1, sizeof *rs);
    if (!rs) return -1;
    ws->rec = rs;
    rs->kn = kern_get();
    rs->bmax = ws->B;
    rs->pool = pool_new(ws->threads);
    const int U = m->U, H = m->H, G = m->G, nub = nblocks(H);
    rs->wf = calloc((size_t)U, sizeof *rs->wf);
    rs->wb = calloc((size_t)U, sizeof *rs->wb);
    rs->version = calloc((size_t)U, sizeof *rs->version);
    if (!rs->pool || !rs->wf || !rs->wb || !rs->version) return -1;
    for (int u = 0; u < m->D && u < U; u++)
        if ((size_t)m->lay[u].in * G * H > rs->ndwt) rs->ndwt = (size_t)m->lay[u].in * G * H;
    rs->dwt = malloc(sizeof(float) * (rs->ndwt ? rs->ndwt : 1));
    if (!rs->dwt) return -1;
    size_t n = (size_t)nub * G * H * UB;
    for (int u = 0; u < U; u++)
        if (!(rs->wf[u] = aligned_alloc(64, sizeof(float) * n))) return -1;
    for (int u = 0; u < U && H > PACK_BACK; u++)
        if (!(rs->wb[u] = aligned_alloc(64, sizeof(float) * n))) return -1;
    // Counted in the workspace's fixed bytes (independent of the window): the
    // panels, the transposed one-hot gradient, each pool thread's product scratch.
    ws->wbytes += sizeof(float) * (n * (size_t)U * (H > PACK_BACK ? 2 : 1) + (rs->ndwt ? rs->ndwt : 1) +
                                   (size_t)pool_size(rs->pool) * GEMM_SCRATCH);
    return 0;
}

void rec_free(const recur_model *m, workspace *ws)
{
    rec_state *rs = ws->rec;
    if (!rs) return;
    for (int u = 0; rs->wf && u < m->U; u++) free(rs->wf[u]);
    for (int u = 0; rs->wb && u < m->U; u++) free(rs->wb[u]);
    for (int u = 0; rs->wf16 && u < m->U; u++) free(rs->wf16[u]);
    for (int u = 0; rs->wb16 && u < m->U; u++) free(rs->wb16[u]);
    free(rs->wf16);
    free(rs->wb16);
    free(rs->version16);
    free(rs->x16);
    free(rs->wf);
    free(rs->wb);
    free(rs->version);
    free(rs->dwt);
    pool_free(rs->pool);
    free(rs);
    ws->rec = NULL;
}

int rec_set_bf16(const recur_model *m, workspace *ws, int on)
{
    rec_state *rs = ws->rec;
    ws->bf16 = 0;
    if (!on || !rs->kn->mk_bf16) return 0; // fp32 where the CPU has no bf16 products
    const int U = m->U, H = m->H, G = m->G, nub = nblocks(H);
    const size_t hp = (size_t)(H + 1) / 2, ghp = (size_t)(G * H + 1) / 2;
    if (!rs->wf16) {
        const size_t nf = (size_t)nub * G * hp * UB, nb = (size_t)nub * ghp * UB;
        rs->x16_ld = ((size_t)rs->bmax * (ghp > hp ? ghp : hp) + 15) / 16 * 16;
        rs->wf16 = calloc((size_t)U, sizeof *rs->wf16);
        rs->wb16 = calloc((size_t)U, sizeof *rs->wb16);
        rs->version16 = calloc((size_t)U, sizeof *rs->version16);
        rs->x16 = aligned_alloc(64, sizeof(uint32_t) * rs->x16_ld * (size_t)pool_size(rs->pool));
        int fail = !rs->wf16 || !rs->wb16 || !rs->version16 || !rs->x16;
        for (int u = 0; !fail && u < U; u++)
            if (!(rs->wf16[u] = aligned_alloc(64, sizeof(uint32_t) * nf)) ||
                !(rs->wb16[u] = aligned_alloc(64, sizeof(uint32_t) * nb)))
                fail = 1;
        if (fail) { // all or nothing: a later call starts again
            for (int u = 0; u < U; u++) {
                if (rs->wf16) free(rs->wf16[u]);
                if (rs->wb16) free(rs->wb16[u]);
            }
            free(rs->wf16), free(rs->wb16), free(rs->version16), free(rs->x16);
            rs->wf16 = rs->wb16 = NULL, rs->version16 = NULL, rs->x16 = NULL;
            return -1;
        }
        ws->wbytes += sizeof(uint32_t) * ((nf + nb) * (size_t)U + rs->x16_ld * (size_t)pool_size(rs->pool));
    }
    ws->bf16 = 1;
    return 0;
}

pool *rec_enter(workspace *ws)
{
    gemm_set_bf16(ws->bf16);
    return gemm_set_pool(ws->rec ? ws->rec->pool : NULL);
}

void rec_leave(pool *prev)
{
    gemm_set_bf16(0);
    gemm_set_pool(prev);
}

/* ---------------------------------------------------------------- packing */

// Forward panels of block ub: [H][64] per gate, column j = unit ub*64 + j of
// gate g, i.e. row g*H + ub*64 + j of W_hh (zero past H).
static void pack_forward(float *wf, const float *W, int H, int G, int ub)
{
    int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
    for (int g = 0; g < G; g++) {
        float *dst = wf + ((size_t)ub * G + g) * H * UB;
        for (int k0 = 0; k0 < H; k0 += 16) {
            int k1 = k0 + 16 < H ? k0 + 16 : H;
            for (int j = 0; j < UB; j++) {
                if (j >= nc) {
                    for (int k = k0; k < k1; k++) dst[(size_t)k * UB + j] = 0.0f;
                    continue;
                }
                const float *src = W + ((size_t)g * H + c0 + j) * H;
                for (int k = k0; k < k1; k++) dst[(size_t)k * UB + j] = src[k];
            }
        }
    }
}

// Backward panel of block ub: [G*H][64], row k = the block's columns of W_hh's row k.
static void pack_backward(float *wb, const float *W, int H, int G, int ub)
{
    int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
    float *dst = wb + (size_t)ub * G * H * UB;
    for (int k = 0; k < G * H; k++) memcpy(dst + (size_t)k * UB, W + (size_t)k * H + c0, sizeof(float) * (size_t)nc);
}

// rows x cols floats (rows ld apart) as bf16 pairs of columns, ceil(cols/2) per row.
static void to_pairs(const kern *kn, uint32_t *dst, const float *src, int rows, int cols, size_t ld)
{
    const int cp = (cols + 1) / 2;
    for (int b = 0; b < rows; b++) {
        uint32_t *d = dst + (size_t)b * cp;
        d[cp - 1] = 0; // an odd row's last pair has no k + 1
        kn->to_bf16((uint16_t *)(void *)d, src + (size_t)b * ld, cols);
    }
}

// pack_forward's panels as bf16 pairs of k: [ceil(H/2)][64] per gate. Each
// unit's row of W_hh is converted whole (its k are consecutive), then spread.
static void pack_forward16(const kern *kn, uint32_t *wf, uint32_t *row, const float *W, int H, int G, int ub)
{
    const int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB, hp = (H + 1) / 2;
    for (int g = 0; g < G; g++) {
        uint32_t *dst = wf + ((size_t)ub * G + g) * hp * UB;
        for (int j = 0; j < UB; j++) {
            if (j >= nc) {
                for (int q = 0; q < hp; q++) dst[(size_t)q * UB + j] = 0;
                continue;
            }
            to_pairs(kn, row, W + ((size_t)g * H + c0 + j) * H, 1, H, (size_t)H);
            for (int q = 0; q < hp; q++) dst[(size_t)q * UB + j] = row[q];
        }
    }
}

// pack_backward's panel as bf16 pairs of rows: [ceil(G*H/2)][64].
static void pack_backward16(const kern *kn, uint32_t *wb, const float *W, int H, int G, int ub)
{
    const int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB, GH = G * H, ghp = (GH + 1) / 2;
    uint32_t *dst = wb + (size_t)ub * ghp * UB;
    for (int q = 0; q < ghp; q++) {
        const float *r0 = W + (size_t)(2 * q) * H + c0;
        uint32_t *d = dst + (size_t)q * UB;
        kn->pair_rows(d, r0, 2 * q + 1 < GH ? r0 + H : NULL, nc);
        for (int j = nc; j < UB; j++) d[j] = 0;
    }
}

/* ---------------------------------------------------------------- gate rows */

gate_rows rec_rows(const recur_model *m, const workspace *ws, int u, float *dout)
{
    const cell_def *cell = m->cell;
    const int H = m->H, G = m->G;
    gate_rows r;
    if (cell->cache) {
        // The step's gates are written where its pre-activations were read
        // (the kernels read every element before writing it), and its gate
        // gradients where its gates were.
        r.px = r.dpx = ws->cache[u];
        r.ld = cell->cache * H;
        r.dph_last = cell->dph_apart ? (cell->cache - 1) * H : (G - 1) * H;
    } else {
        // No cache (RNN, G == 1): px_t in h_t's slot, dpx_t over dout_t.
        r.px = ws->hs[u] + (size_t)ws->B * H;
        r.dpx = dout;
        r.ld = G * H;
        r.dph_last = (G - 1) * H;
    }
    return r;
}

// How the cell kernels are called on a step's B rows: all at once when px
// rows are ld = G*H apart as the kernels expect (or B == 1), else one row per
// call; kc: floats of cache per row.
typedef struct row_split {
    int calls, rows;
    size_t kc;
} row_split;

static row_split split_rows(const recur_model *m, int B, int ld)
{
    const int one = B == 1 || ld == m->G * m->H;
    return (row_split){one ? 1 : B, one ? B : 1, (size_t)m->cell->cache * m->H};
}

// The cell's step on every row, units [u0, u1): one call when rows of px are
// G*H apart as the kernels expect, else row by row (GRU: its px rows are the
// cache's, 4H apart). fwd NULL: the cell's plain function, all units.
static void step_forward(const recur_model *m, cell_fwd_fn fwd, int B, int u0, int u1,
                         const float *px, int ld, const float *ph, const float *hp,
                         const float *cp, float *h, float *c, float *cache)
{
    const cell_def *cell = m->cell;
    const int H = m->H, GH = m->G * H, relu = m->cfg.relu;
    const row_split r = split_rows(m, B, ld);
    for (int b = 0; b < r.calls; b++) {
        const size_t o = (size_t)b * H;
        const float *x = px + (size_t)b * ld, *p = ph + (size_t)b * GH, *hq = hp + o;
        const float *cq = cp ? cp + o : NULL;
        float *hh = h + o, *cc = c ? c + o : NULL, *k = cache ? cache + b * r.kc : NULL;
        if (fwd)
            fwd(r.rows, H, u0, u1, relu, x, p, hq, cq, hh, cc, k);
        else
            cell->forward(r.rows, H, relu, x, p, hq, cq, hh, cc, k);
    }
}

// Its backward, likewise: dpx rows ld apart, dph rows G*H apart.
static void step_backward(const recur_model *m, cell_bwd_fn bwd, int B, int u0, int u1,
                          const float *dh, float *dc, const float *hp, const float *cp,
                          const float *h, const float *c, const float *cache, float *dpx, int ld,
                          float *dph, float *dhp)
{
    const cell_def *cell = m->cell;
    const int H = m->H, GH = m->G * H, relu = m->cfg.relu;
    const row_split r = split_rows(m, B, ld);
    for (int b = 0; b < r.calls; b++) {
        const size_t o = (size_t)b * H;
        float *dcq = dc ? dc + o : NULL, *x = dpx + (size_t)b * ld, *p = dph + (size_t)b * GH;
        const float *cpq = cp ? cp + o : NULL, *cq = c ? c + o : NULL;
        const float *k = cache ? cache + b * r.kc : NULL;
        if (bwd)
            bwd(r.rows, H, u0, u1, relu, dh + o, dcq, hp + o, cpq, h + o, cq, k, x, p, dhp + o);
        else
            cell->backward(r.rows, H, relu, dh + o, dcq, hp + o, cpq, h + o, cq, k, x, p, dhp + o);
    }
}

/* ---------------------------------------------------------------- jobs */

typedef struct rec_job {
    const recur_model *m;
    workspace *ws;
    int u;
    float *dout;
    int repack;
    int nth;  /* threads taking part (1: run on the caller, no barriers) */
    int bf16; /* the step's products on bf16 pairs (rec_set_bf16; B > 1) */
    int t0, t1; /* the steps [t0, t1) it runs (the whole window but under recompute) */
    int c0;     /* the step whose rows start the cache: 0, or t0 under recompute (rec_rows) */
} rec_job;

static void barrier(const rec_job *j)
{
    if (j->nth > 1) pool_barrier(j->ws->rec->pool);
}

// This thread's blocks [*b0, *b1) of units.
static void my_blocks(int H, int tid, int nth, int *b0, int *b1)
{
    int nub = nblocks(H);
    *b0 = (int)((long)nub * tid / nth);
    *b1 = (int)((long)nub * (tid + 1) / nth);
}

static void forward_job(void *arg, int tid, int nth)
{
    const rec_job *j = arg;
    const recur_model *m = j->m;
    workspace *ws = j->ws;
    rec_state *rs = ws->rec;
    const kern *kn = rs->kn;
    const cell_def *cell = m->cell;
    const int B = ws->B, H = m->H, G = m->G, GH = G * H, u = j->u;
    const size_t BH = (size_t)B * H;
    const float *W = m->w + m->lay[u].w_hh, *bhh = m->w + m->lay[u].b_hh;
    int b0, b1;
    my_blocks(H, tid, nth, &b0, &b1);
    if (j->repack && j->bf16)
        for (int ub = b0; ub < b1; ub++) {
            // (this thread's x16 is free until its first step: a row's scratch)
            pack_forward16(kn, rs->wf16[u], rs->x16 + (size_t)tid * rs->x16_ld, W, H, G, ub);
            pack_backward16(kn, rs->wb16[u], W, H, G, ub);
        }
    else if (j->repack)
        for (int ub = b0; ub < b1; ub++) {
            pack_forward(rs->wf[u], W, H, G, ub);
            if (rs->wb[u]) pack_backward(rs->wb[u], W, H, G, ub);
        }
    cell_fwd_fn fwd = (int)cell->id < 3 ? kn->cell_fwd[cell->id] : NULL;
    const gate_rows gr = rec_rows(m, ws, u, NULL);
    if (B == 1) {
        // One row (sampling, a single stream): matrix-vector products, four
        // panels per call so that enough FMA chains are in flight.
        const int u0 = b0 * UB, u1 = b1 * UB < H ? b1 * UB : H;
        for (int t = j->t0; t < j->t1; t++) {
            const float *hp = ws->hs[u] + (size_t)t * H, *px = gr.px + (size_t)(t - j->c0) * gr.ld;
            float *h = ws->hs[u] + (size_t)(t + 1) * H;
            const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * H : NULL;
            float *c = cell->has_c ? ws->cs[u] + (size_t)(t + 1) * H : NULL;
            float *cache = cell->cache ? ws->cache[u] + (size_t)(t - j->c0) * H * cell->cache : NULL;
            int np = 0, nc[4];
            const float *bp[4], *bias[4];
            float *cp4[4];
            for (int ub = b0; ub < b1; ub++)
                for (int g = 0; g < G; g++) {
                    int c0 = ub * UB, col = g * H + c0;
                    nc[np] = H - c0 < UB ? H - c0 : UB;
                    bp[np] = rs->wf[u] + ((size_t)ub * G + g) * H * UB;
                    bias[np] = bhh + col;
                    cp4[np] = ws->ph + col;
                    if (++np == 4 || (ub == b1 - 1 && g == G - 1)) {
                        kn->mv(np, nc, H, hp, 1, bp, UB, cp4, 2, bias);
                        np = 0;
                    }
                }
            if (fwd && u1 > u0) fwd(1, H, u0, u1, m->cfg.relu, px, ws->ph, hp, cp, h, c, cache);
            if (!fwd) step_forward(m, NULL, 1, 0, H, px, gr.ld, ws->ph, hp, cp, h, c, cache);
            barrier(j);
        }
        return;
    }
    for (int t = j->t0; t < j->t1; t++) {
        const float *hp = ws->hs[u] + (size_t)t * BH, *px = gr.px + (size_t)(t - j->c0) * B * gr.ld;
        float *h = ws->hs[u] + (size_t)(t + 1) * BH;
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        float *c = cell->has_c ? ws->cs[u] + (size_t)(t + 1) * BH : NULL;
        float *cache = cell->cache ? ws->cache[u] + (size_t)(t - j->c0) * BH * cell->cache : NULL;
        const int hp2 = (H + 1) / 2;
        uint32_t *x16 = j->bf16 ? rs->x16 + (size_t)tid * rs->x16_ld : NULL;
        if (x16 && b1 > b0) to_pairs(kn, x16, hp, B, H, (size_t)H); // h_{t-1} in bf16, this thread's copy
        for (int ub = b0; ub < b1; ub++) {
            // ph[:, g*H + block] = b_hh + h_{t-1} W_hh^T, every gate of the block ...
            int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
            for (int g = 0; x16 && g < G; g++) {
                const uint32_t *panel = rs->wf16[u] + ((size_t)ub * G + g) * hp2 * UB;
                int col = g * H + c0;
                for (int b = 0, nb = mk_blocks(0, B); b < nb; b++) {
                    int i, i1;
                    mk_block(0, B, nb, b, &i, &i1);
                    kn->mk_bf16(i1 - i, nc, hp2, x16 + (size_t)i * hp2, hp2, 1, panel, UB,
                                ws->ph + (size_t)i * GH + col, GH, 2, bhh + col);
                }
            }
            for (int g = 0; !x16 && g < G; g++) {
                const float *panel = rs->wf[u] + ((size_t)ub * G + g) * H * UB;
                int col = g * H + c0;
                for (int b = 0, nb = mk_blocks(0, B); b < nb; b++) {
                    int i, i1;
                    mk_block(0, B, nb, b, &i, &i1);
                    kn->mk(i1 - i, nc, H, hp + (size_t)i * H, H, 1, panel, UB,
                           ws->ph + (size_t)i * GH + col, GH, 2, bhh + col);
                }
            }
            // ... then the cell on the block's units while ph is in cache.
            if (fwd) step_forward(m, fwd, B, c0, c0 + nc, px, gr.ld, ws->ph, hp, cp, h, c, cache);
        }
        if (!fwd) step_forward(m, NULL, B, 0, H, px, gr.ld, ws->ph, hp, cp, h, c, cache);
        barrier(j);
    }
}

static void backward_job(void *arg, int tid, int nth)
{
    const rec_job *j = arg;
    const recur_model *m = j->m;
    workspace *ws = j->ws;
    rec_state *rs = ws->rec;
    const kern *kn = rs->kn;
    const cell_def *cell = m->cell;
    const int T = ws->T, B = ws->B, H = m->H, G = m->G, GH = G * H, u = j->u;
    const size_t BH = (size_t)B * H;
    const float *W = m->w + m->lay[u].w_hh;
    // W_hh's rows are the k of dph_t W_hh: read in place, or from the panels
    // the forward packed (long rows; only if they hold these weights).
    const float *wb = rs->wb[u] && rs->version[u] == m->version ? rs->wb[u] : NULL;
    // bf16: W_hh's panels as pairs (packed by the forward of these weights).
    const int ghp = (GH + 1) / 2;
    uint32_t *x16 = j->bf16 ? rs->x16 + (size_t)tid * rs->x16_ld : NULL;
    int b0, b1;
    my_blocks(H, tid, nth, &b0, &b1);
    const int u0 = b0 * UB, u1 = b1 * UB < H ? b1 * UB : H;
    float *dc = ws->dc0[u], *dnext = ws->dh0[u];
    cell_bwd_fn bwd = (int)cell->id < 3 ? kn->cell_bwd[cell->id] : NULL;
    const gate_rows gr = rec_rows(m, ws, u, j->dout);
    // Truncated BPTT: nothing flows back from beyond the window. (A chunk
    // below the last, under recompute, goes on from where the one above left
    // dnext and dc.)
    for (int b = 0; j->t1 == T && b < B; b++) {
        memset(dnext + (size_t)b * H + u0, 0, sizeof(float) * (size_t)(u1 - u0));
        memset(dc + (size_t)b * H + u0, 0, sizeof(float) * (size_t)(u1 - u0));
    }
    for (int t = j->t1 - 1; t >= j->t0; t--) {
        const float *dnow = j->dout + (size_t)t * BH;
        const float *hp = ws->hs[u] + (size_t)t * BH, *h = hp + BH;
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        const float *c = cp ? cp + BH : NULL;
        const float *cache = cell->cache ? ws->cache[u] + (size_t)(t - j->c0) * BH * cell->cache : NULL;
        // dph_t: dpx_t itself, or (GRU) its own rows, alternating between two
        // so that a thread still multiplying by step t's while another has
        // moved on to step t-1 reads what it should (one barrier per step).
        float *dpx = gr.dpx + (size_t)(t - j->c0) * B * gr.ld;
        float *dph = cell->dph_apart ? ws->ph + (size_t)(t & 1) * B * GH : dpx;
        for (int b = 0; b < B; b++)
            for (int k = u0; k < u1; k++) ws->dh[(size_t)b * H + k] = dnow[(size_t)b * H + k] + dnext[(size_t)b * H + k];
        if (ws->final_grad)
            for (int b = 0; b < B; b++) {
                if (ws->lens[b] - 1 != t) continue;
                // What reads this row's final state (a decoder) sends its gradient here.
                size_t at = (size_t)b * H;
                for (int k = u0; k < u1; k++) ws->dh[at + k] += ws->dhf[u][at + k];
                if (cell->has_c)
                    for (int k = u0; k < u1; k++) dc[at + k] += ws->dcf[u][at + k];
            }
        if (bwd)
            step_backward(m, bwd, B, u0, u1, ws->dh, dc, hp, cp, h, c, cache, dpx, gr.ld, dph, ws->dhp);
        else if (tid == 0)
            step_backward(m, NULL, B, 0, H, ws->dh, dc, hp, cp, h, c, cache, dpx, gr.ld, dph, ws->dhp);
        if (cell->dph_apart)
            // dph's last block, for the weight gradients after the sweep, in
            // the cache columns the step's backward has just read.
            for (int b = 0; b < B; b++)
                memcpy(dpx + (size_t)b * gr.ld + gr.dph_last + u0, dph + (size_t)b * GH + (G - 1) * H + u0,
                       sizeof(float) * (size_t)(u1 - u0));
        barrier(j); // every thread's dph_t is needed below
        // dh_{t-1} = direct term + dph_t W_hh, for this thread's units.
        for (int b = 0; b < B; b++)
            memcpy(dnext + (size_t)b * H + u0, ws->dhp + (size_t)b * H + u0, sizeof(float) * (size_t)(u1 - u0));
        if (B == 1) {
            int np = 0, nc[4];
            const float *bp[4];
            float *cp4[4];
            for (int ub = b0; ub < b1; ub++) {
                int c0 = ub * UB;
                nc[np] = H - c0 < UB ? H - c0 : UB;
                bp[np] = wb ? wb + (size_t)ub * GH * UB : W + c0;
                cp4[np] = dnext + c0;
                if (++np == 4 || ub == b1 - 1) {
                    kn->mv(np, nc, GH, dph, 1, bp, wb ? UB : H, cp4, 1, NULL);
                    np = 0;
                }
            }
            continue;
        }
        if (x16) {
            // dph_t in bf16 (this thread's copy) against the pair panels, 128
            // pairs of rows at a time.
            if (b1 > b0) to_pairs(kn, x16, dph, B, GH, (size_t)GH);
            for (int ub = b0; ub < b1; ub++) {
                int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
                for (int q0 = 0; q0 < ghp; q0 += 128) {
                    int qc = ghp - q0 < 128 ? ghp - q0 : 128;
                    for (int b = 0, nb = mk_blocks(0, B); b < nb; b++) {
                        int i, i1;
                        mk_block(0, B, nb, b, &i, &i1);
                        kn->mk_bf16(i1 - i, nc, qc, x16 + (size_t)i * ghp + q0, ghp, 1,
                                    rs->wb16[u] + ((size_t)ub * ghp + q0) * UB, UB,
                                    dnext + (size_t)i * H + c0, H, 1, NULL);
                    }
                }
            }
            continue;
        }
        for (int ub = b0; ub < b1; ub++) {
            // W_hh's columns of the block, read in place, 256 of its G*H rows at a
            // time (64 KiB, which stays in L2 while every row block uses it); the
            // partial sums wait in dnext, so each element is still one chain.
            int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
            for (int k0 = 0; k0 < GH; k0 += 256) {
                int kc = GH - k0 < 256 ? GH - k0 : 256;
                for (int b = 0, nb = mk_blocks(0, B); b < nb; b++) {
                    int i, i1;
                    mk_block(0, B, nb, b, &i, &i1);
                    const float *bp = wb ? wb + ((size_t)ub * GH + k0) * UB : W + (size_t)k0 * H + c0;
                    kn->mk(i1 - i, nc, kc, dph + (size_t)i * GH + k0, GH, 1, bp, wb ? UB : H,
                           dnext + (size_t)i * H + c0, H, 1, NULL);
                }
            }
        }
    }
}

// Threads for a unit's steps: one when a step is too small to share (fewer
// than ws->step_min_flops, rec.h) or the cell has no vector kernel.
static int step_threads(const recur_model *m, const workspace *ws)
{
    int n = pool_size(ws->rec->pool), nub = nblocks(m->H);
    double flops = 2.0 * ws->B * m->G * m->H * m->H;
    if (n > nub) n = nub;
    if (flops < ws->step_min_flops || (int)m->cell->id >= 3) n = 1;
    return n;
}

static void run(pool *p, pool_fn fn, rec_job *j)
{
    if (j->nth > 1)
        pool_run(p, fn, j);
    else
        fn(j, 0, 1);
}

int rec_chunk_steps(const workspace *ws)
{
    if (!ws->recompute) return ws->T;
    int c = ws->crows / ws->B;
    return c < 1 ? 1 : c > ws->T ? ws->T : c;
}

void rec_forward(const recur_model *m, workspace *ws, int u)
{
    rec_forward_steps(m, ws, u, 0, ws->T);
}

void rec_forward_steps(const recur_model *m, workspace *ws, int u, int t0, int t1)
{
    rec_state *rs = ws->rec;
    // bf16 panels have their own version: a workspace may also run batch-1
    // windows, whose matrix-vector steps stay fp32.
    const int bf16 = ws->bf16 && ws->B > 1;
    unsigned long *version = bf16 ? rs->version16 : rs->version;
    rec_job j = {m, ws, u, NULL, version[u] != m->version, step_threads(m, ws), bf16, t0, t1,
                 ws->recompute ? t0 : 0};
    // A pool bigger than the job: the extra threads only wait at the barriers.
    if (j.nth > 1) j.nth = pool_size(rs->pool);
    run(rs->pool, forward_job, &j);
    version[u] = m->version;
}

void rec_backward(const recur_model *m, workspace *ws, int u, float *dout)
{
    rec_backward_steps(m, ws, u, dout, 0, ws->T);
}

void rec_backward_steps(const recur_model *m, workspace *ws, int u, float *dout, int t0, int t1)
{
    rec_state *rs = ws->rec;
    const int bf16 = ws->bf16 && ws->B > 1 && rs->version16[u] == m->version;
    rec_job j = {m, ws, u, dout, 0, step_threads(m, ws), bf16, t0, t1, ws->recompute ? t0 : 0};
    if (j.nth > 1) j.nth = pool_size(rs->pool);
    run(rs->pool, backward_job, &j);
}

/* ---------------------------------------------------------------- window-wide sums */

typedef struct sum_job {
    workspace *ws;
    float *dst;
    const float *src;
    const int32_t *id;
    int base, rows, cols, ld;
    const float *bias;
    int lds; /* row stride of src (colsum, scatter) or dst (gather) */
} sum_job;

// This thread's columns [*j0, *j1) of cols, in multiples of 16.
static void my_cols(int cols, int tid, int nth, int *j0, int *j1)
{
    int nb = (cols + 15) / 16;
    *j0 = (int)((long)nb * tid / nth) * 16;
    *j1 = (int)((long)nb * (tid + 1) / nth) * 16;
    if (*j1 > cols) *j1 = cols;
}

static void colsum_job(void *arg, int tid, int nth)
{
    const sum_job *s = arg;
    int j0, j1;
    my_cols(s->cols, tid, nth, &j0, &j1);
    const kern *kn = s->ws->rec->kn;
    if (j0 >= j1) return;
    for (int i = 0; i < s->rows; i++) kn->add(s->dst + j0, s->src + (size_t)i * s->lds + j0, j1 - j0);
}

static void scatter_job(void *arg, int tid, int nth)
{
    const sum_job *s = arg;
    float *dwt = s->ws->rec->dwt;
    int j0, j1;
    my_cols(s->cols, tid, nth, &j0, &j1);
    if (j0 >= j1) return;
    // Rows of dW^T for the columns that occur, summed in row order, then added in.
    int lo = s->ld, hi = -1;
    for (int n = 0; n < s->rows; n++) {
        int c = s->base + s->id[n];
        if (c < lo) lo = c;
        if (c > hi) hi = c;
    }
    for (int c = lo; c <= hi; c++) memset(dwt + (size_t)c * s->cols + j0, 0, sizeof(float) * (size_t)(j1 - j0));
    const kern *kn = s->ws->rec->kn;
    for (int n = 0; n < s->rows; n++)
        kn->add(dwt + (size_t)(s->base + s->id[n]) * s->cols + j0, s->src + (size_t)n * s->lds + j0, j1 - j0);
    for (int j = j0; j < j1; j++) {
        float *w = s->dst + (size_t)j * s->ld;
        for (int c = lo; c <= hi; c++) w[c] += dwt[(size_t)c * s->cols + j];
    }
}

static void gather_job(void *arg, int tid, int nth)
{
    const sum_job *s = arg;
    int j0, j1;
    my_cols(s->cols, tid, nth, &j0, &j1);
    const kern *kn = s->ws->rec->kn;
    if (j0 >= j1) return;
    for (int n = 0; n < s->rows; n++) {
        float *p = s->dst + (size_t)n * s->lds + j0;
        const float *col = s->src + (size_t)(s->base + s->id[n]) * s->cols + j0;
        if (s->bias)
            kn->sum(p, s->bias + j0, col, j1 - j0);
        else
            kn->add(p, col, j1 - j0);
    }
}

static void run_sum(workspace *ws, pool_fn fn, sum_job *s)
{
    pool *p = ws->rec ? ws->rec->pool : NULL;
    if ((double)s->rows * s->cols < 65536 || pool_size(p) < 2)
        fn(s, 0, 1);
    else
        pool_run(p, fn, s);
}

void rec_colsum(workspace *ws, float *dst, const float *src, int lds, int rows, int cols)
{
    sum_job s = {ws, dst, src, NULL, 0, rows, cols, 0, NULL, lds};
    run_sum(ws, colsum_job, &s);
}

void rec_scatter(workspace *ws, float *W, int ld, const float *d, int ldd, const int32_t *id,
                 int base, int rows, int cols)
{
    if (rows < 1) return;
    sum_job s = {ws, W, d, id, base, rows, cols, ld, NULL, ldd};
    if (!ws->rec || (size_t)ld * cols > ws->rec->ndwt || rows < ld) {
        // Few rows (cheaper than clearing and adding back the transposed
        // sums), or no room for them (not a first-layer unit): directly.
        for (int n = 0; n < rows; n++)
            for (int j = 0; j < cols; j++) W[(size_t)j * ld + base + id[n]] += d[(size_t)n * ldd + j];
        return;
    }
    run_sum(ws, scatter_job, &s);
}

void rec_gather(workspace *ws, float *px, int ldp, const float *wt, const int32_t *id, int base,
                int rows, int cols, const float *bias)
{
    sum_job s = {ws, px, wt, id, base, rows, cols, 0, bias, ldp};
    run_sum(ws, gather_job, &s);
}

/* ---------------------------------------------------------------- references */

void rec_forward_ref(const recur_model *m, workspace *ws, int u)
{
    const int T = ws->T, B = ws->B, H = m->H, GH = m->G * m->H;
    const size_t BH = (size_t)B * H;
    const cell_def *cell = m->cell;
    const float *W = m->w + m->lay[u].w_hh, *bhh = m->w + m->lay[u].b_hh;
    const gate_rows gr = rec_rows(m, ws, u, NULL);
    for (int t = 0; t < T; t++) {
        const float *hp = ws->hs[u] + (size_t)t * BH;
        for (int b = 0; b < B; b++) {
            // ph = b_hh + h_{t-1} W_hh^T, each element summed over k in order
            for (int j = 0; j < GH; j++) {
                float acc = bhh[j];
                for (int k = 0; k < H; k++) acc += hp[(size_t)b * H + k] * W[(size_t)j * H + k];
                ws->ph[(size_t)b * GH + j] = acc;
            }
        }
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        float *c = cell->has_c ? ws->cs[u] + (size_t)(t + 1) * BH : NULL;
        float *cache = cell->cache ? ws->cache[u] + (size_t)t * BH * cell->cache : NULL;
        step_forward(m, NULL, B, 0, H, gr.px + (size_t)t * B * gr.ld, gr.ld, ws->ph, hp, cp,
                     ws->hs[u] + (size_t)(t + 1) * BH, c, cache);
    }
}

void rec_backward_ref(const recur_model *m, workspace *ws, int u, float *dout)
{
    const int T = ws->T, B = ws->B, H = m->H, G = m->G, GH = G * H;
    const size_t BH = (size_t)B * H;
    const cell_def *cell = m->cell;
    const float *W = m->w + m->lay[u].w_hh;
    const gate_rows gr = rec_rows(m, ws, u, dout);
    float *dc = ws->dc0[u], *dnext = ws->dh0[u];
    memset(dnext, 0, BH * sizeof(float));
    memset(dc, 0, BH * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        const float *dnow = dout + (size_t)t * BH;
        for (size_t i = 0; i < BH; i++) ws->dh[i] = dnow[i] + dnext[i];
        if (ws->final_grad)
            for (int b = 0; b < B; b++) {
                if (ws->lens[b] - 1 != t) continue;
                for (int k = 0; k < H; k++) ws->dh[(size_t)b * H + k] += ws->dhf[u][(size_t)b * H + k];
                if (cell->has_c)
                    for (int k = 0; k < H; k++) dc[(size_t)b * H + k] += ws->dcf[u][(size_t)b * H + k];
            }
        const float *hp = ws->hs[u] + (size_t)t * BH, *h = hp + BH;
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        const float *c = cp ? cp + BH : NULL;
        const float *cache = cell->cache ? ws->cache[u] + (size_t)t * BH * cell->cache : NULL;
        float *dpx = gr.dpx + (size_t)t * B * gr.ld, *dph = cell->dph_apart ? ws->ph : dpx;
        step_backward(m, NULL, B, 0, H, ws->dh, dc, hp, cp, h, c, cache, dpx, gr.ld, dph, ws->dhp);
        if (cell->dph_apart)
            for (int b = 0; b < B; b++)
                memcpy(dpx + (size_t)b * gr.ld + gr.dph_last, dph + (size_t)b * GH + (G - 1) * H,
                       sizeof(float) * H);
        memcpy(dnext, ws->dhp, BH * sizeof(float));
        gemm_nn_ref(B, H, GH, dph, GH, W, H, dnext, H, 1);
    }
}
