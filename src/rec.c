/*
 * rec.c - the recurrence of one unit over a window, forward and backward,
 * on the workspace's pool (rec.h). Notation as in docs/math.md: B rows, H
 * units, G gate blocks, T steps; px, ph [B, G*H] per step.
 */
#include "rec.h"

#include "gemm.h"
#include "kern.h"

#include <stdlib.h>
#include <string.h>

#define UB MK_NR /* units per block: one 64-column panel per gate */

struct rec_state {
    pool *pool;
    const kern *kn;
    float **wf;              /* [U] W_hh^T panels: (block, gate) -> [H][64] */
    float **wb;              /* [U] W_hh panels: block -> [G*H][64] */
    unsigned long *version;  /* [U] model version the panels hold (0: none) */
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
    rs->pool = pool_new(ws->threads);
    const int U = m->U, H = m->H, G = m->G, nub = nblocks(H);
    rs->wf = calloc((size_t)U, sizeof *rs->wf);
    rs->wb = calloc((size_t)U, sizeof *rs->wb);
    rs->version = calloc((size_t)U, sizeof *rs->version);
    if (!rs->pool || !rs->wf || !rs->wb || !rs->version) return -1;
    size_t n = (size_t)nub * G * H * UB; // both layouts hold nub * G*H * 64 floats
    for (int u = 0; u < U; u++) {
        rs->wf[u] = aligned_alloc(64, sizeof(float) * n);
        rs->wb[u] = aligned_alloc(64, sizeof(float) * n);
        if (!rs->wf[u] || !rs->wb[u]) return -1;
    }
    return 0;
}

void rec_free(const recur_model *m, workspace *ws)
{
    rec_state *rs = ws->rec;
    if (!rs) return;
    for (int u = 0; rs->wf && u < m->U; u++) free(rs->wf[u]);
    for (int u = 0; rs->wb && u < m->U; u++) free(rs->wb[u]);
    free(rs->wf);
    free(rs->wb);
    free(rs->version);
    pool_free(rs->pool);
    free(rs);
    ws->rec = NULL;
}

pool *rec_enter(workspace *ws)
{
    return gemm_set_pool(ws->rec ? ws->rec->pool : NULL);
}

void rec_leave(pool *prev)
{
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

// Backward panel of block ub: [G*H][64], row k = columns ub*64.. of W_hh's row k.
static void pack_backward(float *wb, const float *W, int H, int G, int ub)
{
    int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
    float *dst = wb + (size_t)ub * G * H * UB;
    for (int k = 0; k < G * H; k++) {
        memcpy(dst + (size_t)k * UB, W + (size_t)k * H + c0, sizeof(float) * (size_t)nc);
        if (nc < UB) memset(dst + (size_t)k * UB + nc, 0, sizeof(float) * (size_t)(UB - nc));
    }
}

/* ---------------------------------------------------------------- jobs */

typedef struct rec_job {
    const recur_model *m;
    workspace *ws;
    int u;
    const float *dout;
    int repack;
    int nth; /* threads taking part (1: run on the caller, no barriers) */
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
    const int T = ws->T, B = ws->B, H = m->H, G = m->G, GH = G * H, u = j->u;
    const size_t BH = (size_t)B * H;
    const float *W = m->w + m->lay[u].w_hh, *bhh = m->w + m->lay[u].b_hh;
    int b0, b1;
    my_blocks(H, tid, nth, &b0, &b1);
    if (j->repack)
        for (int ub = b0; ub < b1; ub++) {
            pack_forward(rs->wf[u], W, H, G, ub);
            pack_backward(rs->wb[u], W, H, G, ub);
        }
    cell_fwd_fn fwd = (int)cell->id < 3 ? kn->cell_fwd[cell->id] : NULL;
    for (int t = 0; t < T; t++) {
        const float *hp = ws->hs[u] + (size_t)t * BH, *px = ws->px + (size_t)t * B * GH;
        float *h = ws->hs[u] + (size_t)(t + 1) * BH;
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        float *c = cell->has_c ? ws->cs[u] + (size_t)(t + 1) * BH : NULL;
        float *cache = cell->cache ? ws->cache[u] + (size_t)t * BH * cell->cache : NULL;
        for (int ub = b0; ub < b1; ub++) {
            // ph[:, g*H + block] = b_hh + h_{t-1} W_hh^T, every gate of the block ...
            int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
            for (int g = 0; g < G; g++) {
                const float *panel = rs->wf[u] + ((size_t)ub * G + g) * H * UB;
                int col = g * H + c0;
                for (int i = 0; i < B; i += MK_MR) {
                    int mr = B - i < MK_MR ? B - i : MK_MR;
                    kn->mk(mr, nc, H, hp + (size_t)i * H, H, 1, panel, UB,
                           ws->ph + (size_t)i * GH + col, GH, 2, bhh + col);
                }
            }
            // ... then the cell on the block's units while ph is in cache.
            if (fwd) fwd(B, H, c0, c0 + nc, m->cfg.relu, px, ws->ph, hp, cp, h, c, cache);
        }
        if (!fwd) cell->forward(B, H, m->cfg.relu, px, ws->ph, hp, cp, h, c, cache);
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
    int b0, b1;
    my_blocks(H, tid, nth, &b0, &b1);
    if (j->repack)
        for (int ub = b0; ub < b1; ub++) {
            pack_forward(rs->wf[u], m->w + m->lay[u].w_hh, H, G, ub);
            pack_backward(rs->wb[u], m->w + m->lay[u].w_hh, H, G, ub);
        }
    const int u0 = b0 * UB, u1 = b1 * UB < H ? b1 * UB : H;
    float *dc = ws->dc0[u], *dnext = ws->dh0[u];
    cell_bwd_fn bwd = (int)cell->id < 3 ? kn->cell_bwd[cell->id] : NULL;
    // Truncated BPTT: nothing flows back from beyond the window.
    for (int b = 0; b < B; b++) {
        memset(dnext + (size_t)b * H + u0, 0, sizeof(float) * (size_t)(u1 - u0));
        memset(dc + (size_t)b * H + u0, 0, sizeof(float) * (size_t)(u1 - u0));
    }
    for (int t = T - 1; t >= 0; t--) {
        const float *dnow = j->dout + (size_t)t * BH;
        const float *hp = ws->hs[u] + (size_t)t * BH, *h = hp + BH;
        const float *cp = cell->has_c ? ws->cs[u] + (size_t)t * BH : NULL;
        const float *c = cp ? cp + BH : NULL;
        const float *cache = cell->cache ? ws->cache[u] + (size_t)t * BH * cell->cache : NULL;
        float *dpx = ws->dpx + (size_t)t * B * GH, *dph = ws->dph + (size_t)t * B * GH;
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
            bwd(B, H, u0, u1, m->cfg.relu, ws->dh, dc, hp, cp, h, c, cache, dpx, dph, ws->dhp);
        else
            cell->backward(B, H, m->cfg.relu, ws->dh, dc, hp, cp, h, c, cache, dpx, dph, ws->dhp);
        barrier(j); // every thread's dph_t is needed below
        // dh_{t-1} = direct term + dph_t W_hh, for this thread's units.
        for (int b = 0; b < B; b++)
            memcpy(dnext + (size_t)b * H + u0, ws->dhp + (size_t)b * H + u0, sizeof(float) * (size_t)(u1 - u0));
        for (int ub = b0; ub < b1; ub++) {
            int c0 = ub * UB, nc = H - c0 < UB ? H - c0 : UB;
            const float *panel = rs->wb[u] + (size_t)ub * GH * UB;
            for (int i = 0; i < B; i += MK_MR) {
                int mr = B - i < MK_MR ? B - i : MK_MR;
                kn->mk(mr, nc, GH, dph + (size_t)i * GH, GH, 1, panel, UB, dnext + (size_t)i * H + c0,
                       H, 1, NULL);
            }
        }
    }
}

// Threads for a unit's steps: one when a step is too small to share (a
// barrier costs about a microsecond) or the cell has no vector kernel.
static int step_threads(const recur_model *m, const workspace *ws)
{
    int n = pool_size(ws->rec->pool), nub = nblocks(m->H);
    double flops = 2.0 * ws->B * m->G * m->H * m->H;
    if (n > nub) n = nub;
    if (flops < 4e5 || (int)m->cell->id >= 3) n = 1;
    return n;
}

static void run(pool *p, pool_fn fn, rec_job *j)
{
    if (j->nth > 1)
        pool_run(p, fn, j);
    else
        fn(j, 0, 1);
}

void rec_forward(const recur_model *m, workspace *ws, int u)
{
    rec_state *rs = ws->rec;
    rec_job j = {m, ws, u, NULL, rs->version[u] != m->version, step_threads(m, ws)};
    // A pool bigger than the job: the extra threads only wait at the barriers.
    if (j.nth > 1) j.nth = pool_size(rs->pool);
    run(rs->pool, forward_job, &j);
    rs->version[u] = m->version;
}

void rec_backward(const recur_model *m, workspace *ws, int u, const float *dout)
{
    rec_state *rs = ws->rec;
    rec_job j = {m, ws, u, dout, rs->version[u] != m->version, step_threads(m, ws)};
    if (j.nth > 1) j.nth = pool_size(rs->pool);
    run(rs->pool, backward_job, &j);
    rs->version[u] = m->version;
}
