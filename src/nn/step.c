/*
 * step.c - one step of a model at batch 1 on weights packed for streaming
 * (step.h). Notation as in docs/math.md: H units, G gate blocks, O outputs;
 * px = W_ih x + b_ih and ph = W_hh h_{t-1} + b_hh [G*H], then the cell.
 *
 * The packed weights are one array, laid out in the order the threads read
 * them: for each layer, each thread's chunks (kern_step.h) of that layer in
 * unit order, each chunk holding W_ih^T's rows for its columns (none for a
 * one-hot layer: that is a row gather) followed by W_hh^T's; then the head's
 * chunks. A chunk covers one block of 64 units with all its gates (LSTM 4
 * panels, GRU 3) or up to 4 blocks of a vanilla RNN, so after its two
 * products the cell of those units runs at once, on gates still in L1.
 *
 * Threads own fixed ranges of unit blocks (and head panels) for the life of
 * the engine, pack their own chunks, and meet at a barrier after each layer
 * (the next layer needs all of h) and around the draw; while that is slower
 * than one thread doing every range (busy cores: adapt, below), one does.
 * Every output element is computed by one thread with the same chain of
 * operations whatever the split, so the thread count never changes a bit.
 */
#include "nn/step.h"

#include "kernels/kern.h"
#include "kernels/kern_step.h"
#include "kernels/pool.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Below this many bytes of weights per step a step takes a few microseconds
 * and the weights sit in one core's L2: a second thread's barriers would
 * cost more than its share of the reading saves. */
#define SHARE_MIN_BYTES (1 << 20)

/* adapt's windows (characters), and its waits between tries (windows): after
 * the first window, after a switch, and at most. */
#define ADAPT_WIN 64
#define ADAPT_FIRST 1
#define ADAPT_AFTER 2
#define ADAPT_MAX 256

enum { IN_ONEHOT, IN_EMBED, IN_BELOW };

typedef struct chunk {
    int np;                      /* panels (1..STEP_NP) */
    int nv;                      /* 16-column vectors per panel (1..4): 4 but for a narrow last one */
    int u0, u1;                  /* units whose cell it completes (layers) */
    int col[STEP_NP], nc[STEP_NP]; /* each panel's first output column (gate-major G*H, or O) and width */
    size_t off;                  /* its weights in the stream, in 4-byte words */
} chunk;

typedef struct slayer {
    int in_kind;
    int kx;                /* W_ih rows in the stream: 0 (gather), E, or H */
    const float *wih, *whh, *bih, *bhh;
    int ldih;              /* row length of W_ih (its input width) */
    chunk *ch;             /* chunks, thread by thread */
    int *first;            /* thread t's chunks are [first[t], first[t+1]) */
} slayer;

struct step_net {
    const recur_model *m;
    const kern *kn;
    const step_kern *sk;
    cell_fwd_fn fwd;
    int L, H, G, GH, O, E, V, Cc, nth, prec; /* prec: STEP_FP32, STEP_BF16 or STEP_INT8 */
    int packed;             /* the stream holds the model's weights of ... */
    unsigned long version;  /* ... this version */
    uint32_t *stream;       /* packed matrices: floats, pairs of bf16, or int8 quads (kern_step.h) */
    size_t words;
    float *gather;          /* rows of W_ih^T read by id: [V + Cc][GH] (one-hot) or [Cc][GH] */
    int class_row;          /* the first class's row in gather */
    slayer *lay;
    chunk *hch;             /* head chunks, thread by thread */
    int *hfirst;
    float *h, *c;           /* [L][2][H] states, double-buffered: a step reads all of h_{t-1} */
    int *cur;               /* [L] which half holds the current state */
    int *cur0;              /* [L] cur as a job starts (read-only during it) */
    int *tcur;              /* [nth][L] each thread's copy, flipped as it steps */
    float *px, *ph;         /* [G*H] */
    float *cache;           /* [max(cache, 4)*H] what the cell kernels save for a backward (unused here) */
    float *logits;          /* [O] */
    uint8_t *xq;            /* int8: [nth][2][xq_len] each thread's quantized inputs (x, h) */
    int xq_len;
    int cls;
    pool *pool;
    double bytes;
    int use;                /* threads the next job runs on: nth, or 1 (adapt) */
    int adaptive;           /* nth > 1 and not exact: choose use by timing steps */
    int win_n, probing;     /* adapt's window: steps timed, and whether it tries the other setting */
    int since, wait;        /* windows since the last try, and to wait before the next */
    double win_t, last_avg; /* the window's time; seconds per step of the setting in use */
};

int step_supported(const recur_model *m)
{
    return m && m->D == 1 && (int)m->cell->id < 3 && m->G <= STEP_NP && m->O > 0 && m->U == m->L;
}

/* ---------------------------------------------------------------- layout */

static int nblocks(int n)
{
    return (n + STEP_NR - 1) / STEP_NR;
}

// Words a part of K rows takes in chunk c (int8: its scales and sums too).
static size_t part_words(int K, const chunk *c, int prec)
{
    if (K == 0) return 0; // one-hot input: no product, no part
    size_t rows = prec == STEP_BF16 ? (size_t)(K + 1) / 2 : prec == STEP_INT8 ? (size_t)(K + 3) / 4 + 2 : (size_t)K;
    return rows * (size_t)c->np * 16 * (size_t)c->nv;
}

// Panels of width nc (<= 64): the vectors they need.
static int vectors(int nc)
{
    return (nc + 15) / 16;
}

// Thread t's share [*a, *b) of n items.
static void share(int n, int t, int nth, int *a, int *b)
{
    *a = (int)((long)n * t / nth);
    *b = (int)((long)n * (t + 1) / nth);
}

// The chunks of one layer for every thread, placed from word *at on.
static int layer_chunks(step_net *n, slayer *ly, size_t *at)
{
    const int H = n->H, G = n->G, nub = nblocks(H);
    ly->ch = calloc((size_t)nub, sizeof *ly->ch);
    ly->first = calloc((size_t)n->nth + 1, sizeof *ly->first);
    if (!ly->ch || !ly->first) return -1;
    int k = 0;
    for (int t = 0; t < n->nth; t++) {
        int b0, b1;
        share(nub, t, n->nth, &b0, &b1);
        ly->first[t] = k;
        for (int ub = b0; ub < b1;) {
            chunk *c = &ly->ch[k++];
            // All gates of one block; or, for one gate (RNN), up to 4 whole
            // blocks, a narrow last block (H not a multiple of 64) alone.
            int blocks = 1;
            if (G == 1)
                while (blocks < STEP_NP && ub + blocks < b1 && (ub + blocks + 1) * STEP_NR <= H) blocks++;
            c->np = G > 1 ? G : blocks;
            c->u0 = ub * STEP_NR;
            c->u1 = (ub + blocks) * STEP_NR < H ? (ub + blocks) * STEP_NR : H;
            for (int p = 0; p < c->np; p++) {
                int u = G > 1 ? c->u0 : c->u0 + p * STEP_NR;
                c->col[p] = (G > 1 ? p * H : 0) + u;
                c->nc[p] = H - u < STEP_NR ? H - u : STEP_NR;
            }
            c->nv = vectors(c->nc[c->np - 1]);
            c->off = *at;
            *at += part_words(ly->kx, c, n->prec) + part_words(H, c, n->prec);
            ub += blocks;
        }
    }
    ly->first[n->nth] = k;
    return 0;
}

static int head_chunks(step_net *n, size_t *at)
{
    const int nhp = nblocks(n->O);
    n->hch = calloc((size_t)nhp, sizeof *n->hch);
    n->hfirst = calloc((size_t)n->nth + 1, sizeof *n->hfirst);
    if (!n->hch || !n->hfirst) return -1;
    int k = 0;
    for (int t = 0; t < n->nth; t++) {
        int p0, p1;
        share(nhp, t, n->nth, &p0, &p1);
        n->hfirst[t] = k;
        for (int p = p0; p < p1;) {
            chunk *c = &n->hch[k++];
            // Up to 4 whole panels; the narrow last one (65 characters: one
            // column) alone, 16 columns wide instead of 64.
            c->np = 1;
            while (c->np < STEP_NP && p + c->np < p1 && (p + c->np + 1) * STEP_NR <= n->O) c->np++;
            for (int q = 0; q < c->np; q++) {
                c->col[q] = (p + q) * STEP_NR;
                c->nc[q] = n->O - c->col[q] < STEP_NR ? n->O - c->col[q] : STEP_NR;
            }
            c->nv = vectors(c->nc[c->np - 1]);
            c->off = *at;
            *at += part_words(n->H, c, n->prec);
            p += c->np;
        }
    }
    n->hfirst[n->nth] = k;
    return 0;
}

/* ---------------------------------------------------------------- packing */

// One part of a chunk: element (k, p, j) = W[(col[p] + j) * ld + k] for
// k < K, j < nc[p] (zero past nc); fp32, bf16 pairs (k even low, k+1
// high), or int8 quads with each column's scale and sum (kern_step.h).
static void pack_part(uint32_t *dst, int prec, const float *W, long ld, const chunk *c, int K)
{
    const int nw = 16 * c->nv;
    const size_t w = (size_t)c->np * nw;
    for (int p = 0; p < c->np; p++)
        for (int j = 0; j < nw; j++) {
            const float *src = j < c->nc[p] ? W + (long)(c->col[p] + j) * ld : NULL;
            size_t at = (size_t)p * nw + j;
            if (prec == STEP_INT8) {
                const size_t rows = (size_t)(K + 3) / 4;
                // A column holding NaN or Inf gets a NaN scale (its output is
                // NaN, as fp32's); one under STEP_QUANT_MIN is zero.
                float amax = 0;
                int bad = 0;
                for (int k = 0; src && k < K; k++) {
                    const float a = fabsf(src[k]);
                    if (!(a <= FLT_MAX)) bad = 1;
                    else if (a > amax) amax = a;
                }
                const int zero = bad || !(amax >= STEP_QUANT_MIN);
                const float scale = bad ? NAN : zero ? 0 : amax / 127, inv = zero ? 0 : 1 / scale;
                int32_t sum = 0;
                for (size_t r = 0; r < rows; r++) {
                    uint32_t word = 0;
                    for (int b = 0; b < 4; b++) {
                        const int k = (int)r * 4 + b;
                        long q = src && k < K && !zero ? lrintf(src[k] * inv) : 0;
                        q = q > 127 ? 127 : q < -127 ? -127 : q;
                        sum += (int32_t)q;
                        word |= (uint32_t)(uint8_t)(int8_t)q << (8 * b);
                    }
                    dst[r * w + at] = word;
                }
                memcpy(&dst[rows * w + at], &scale, 4);
                memcpy(&dst[(rows + 1) * w + at], &sum, 4);
                continue;
            }
            if (prec == STEP_FP32) {
                float *d = (float *)(void *)dst;
                for (int k = 0; k < K; k++) d[(size_t)k * w + at] = src ? src[k] : 0.0f;
                continue;
            }
            for (int k = 0; k < K; k += 2) {
                uint32_t lo = src ? bf16_from_f32(src[k]) : 0;
                uint32_t hi = src && k + 1 < K ? bf16_from_f32(src[k + 1]) : 0;
                dst[(size_t)(k / 2) * w + at] = lo | hi << 16;
            }
        }
}

// Thread tid's chunks of every layer and of the head; thread 0 also the
// gathered rows of W_ih^T.
static void pack_thread(step_net *n, int tid)
{
    const recur_model *m = n->m;
    for (int l = 0; l < n->L; l++) {
        const slayer *ly = &n->lay[l];
        for (int i = ly->first[tid]; i < ly->first[tid + 1]; i++) {
            const chunk *c = &ly->ch[i];
            uint32_t *d = n->stream + c->off;
            if (ly->kx) {
                pack_part(d, n->prec, ly->wih, ly->ldih, c, ly->kx);
                d += part_words(ly->kx, c, n->prec);
            }
            pack_part(d, n->prec, ly->whh, n->H, c, n->H);
        }
    }
    for (int i = n->hfirst[tid]; i < n->hfirst[tid + 1]; i++)
        pack_part(n->stream + n->hch[i].off, n->prec, m->w + m->head_w, n->H, &n->hch[i], n->H);
    if (tid == 0 && n->gather) {
        // Columns [c0, lay[0].in) of W_ih as rows: W_ih^T, as model.c's transpose.
        const int in = m->lay[0].in, c0 = n->lay[0].in_kind == IN_ONEHOT ? 0 : n->E;
        const float *W = m->w + m->lay[0].w_ih;
        for (int r = 0; r < in - c0; r++)
            for (int j = 0; j < n->GH; j++) n->gather[(size_t)r * n->GH + j] = W[(size_t)j * in + c0 + r];
    }
}

/* ---------------------------------------------------------------- new / free */

static float *falloc(size_t n, int *fail)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *fail = 1;
    return p;
}

int step_new(const recur_model *m, int threads, int prec, int exact, step_net **out, recur_error *err)
{
    *out = NULL;
    if (!step_supported(m)) return set_error(err, RECUR_EINVAL, "this model cannot use the single-step path");
    step_net *n = calloc(1, sizeof *n);
    if (!n) return set_error(err, RECUR_ENOMEM, "out of memory");
    n->m = m;
    n->kn = kern_get();
    n->sk = step_kern_get();
    n->fwd = n->kn->cell_fwd[m->cell->id];
    n->L = m->L, n->H = m->H, n->G = m->G, n->GH = m->G * m->H, n->O = m->O;
    n->E = m->E, n->V = m->V, n->Cc = m->Cc, n->prec = prec;
    const int H = n->H, GH = n->GH, L = n->L;

    // Weight bytes per step (fp32), to decide whether a second thread pays.
    double mat = 0;
    for (int l = 0; l < L; l++) mat += (double)GH * ((l == 0 ? m->E : H) + H);
    mat += (double)m->O * H;
    int nth = threads < 1 ? 1 : threads;
    if (nth > nblocks(H)) nth = nblocks(H);
    if (mat * 4 < SHARE_MIN_BYTES && !exact) nth = 1;
    n->nth = nth;
    n->use = nth;
    n->adaptive = nth > 1 && !exact;
    n->wait = ADAPT_FIRST;

    int fail = 0;
    n->lay = calloc((size_t)L, sizeof *n->lay);
    n->cur = calloc((size_t)L, sizeof *n->cur);
    n->cur0 = calloc((size_t)L, sizeof *n->cur0);
    n->tcur = calloc((size_t)L * nth, sizeof *n->tcur);
    if (!n->lay || !n->cur || !n->cur0 || !n->tcur) fail = 1;
    size_t at = 0;
    for (int l = 0; l < L && !fail; l++) {
        slayer *ly = &n->lay[l];
        const layer_off *lo = &m->lay[l];
        ly->in_kind = l > 0 ? IN_BELOW : m->E ? IN_EMBED : IN_ONEHOT;
        ly->kx = l > 0 ? H : m->E;
        ly->wih = m->w + lo->w_ih;
        ly->whh = m->w + lo->w_hh;
        ly->bih = m->w + lo->b_ih;
        ly->bhh = m->w + lo->b_hh;
        ly->ldih = lo->in;
        if (layer_chunks(n, ly, &at)) fail = 1;
    }
    if (!fail && head_chunks(n, &at)) fail = 1;
    n->words = at;
    if (!fail) {
        n->stream = aligned_alloc(64, (at ? at : 16) * sizeof(uint32_t));
        if (!n->stream) fail = 1;
        int grows = n->lay[0].in_kind == IN_ONEHOT ? m->V + m->Cc : m->Cc;
        n->class_row = n->lay[0].in_kind == IN_ONEHOT ? m->V : 0;
        if (grows) n->gather = falloc((size_t)grows * GH, &fail);
        n->h = falloc((size_t)L * 2 * H, &fail);
        n->c = falloc((size_t)L * 2 * H, &fail);
        n->px = falloc((size_t)GH, &fail);
        n->ph = falloc((size_t)GH, &fail);
        n->cache = falloc((size_t)(m->cell->cache > 4 ? m->cell->cache : 4) * H, &fail);
        n->logits = falloc((size_t)n->O, &fail);
        // int8: each thread's quantized input, the longest K rounded up to 4.
        n->xq_len = ((m->E > H ? m->E : H) + 3) / 4 * 4;
        if (prec == STEP_INT8 && !(n->xq = calloc((size_t)nth * 2 * n->xq_len, 1))) fail = 1;
    }
    if (!fail && nth > 1) {
        // Fewer threads may start than asked: the shares are still nth, and a
        // job's threads take turns at them (run_job).
        n->pool = pool_new(nth);
        if (!n->pool) fail = 1;
        else if (pool_size(n->pool) < 2)
            n->use = 1, n->adaptive = 0;
    }
    if (fail) {
        step_free(n);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    // Bytes read per step: the packed stream (with its zero padding), the
    // gathered rows and the biases.
    n->bytes = 4.0 * (double)at + 4.0 * (2.0 * GH * L + n->O);
    if (n->gather) n->bytes += 4.0 * GH * (n->lay[0].in_kind == IN_ONEHOT) + 4.0 * GH * (m->Cc > 0);
    *out = n;
    return RECUR_OK;
}

void step_free(step_net *n)
{
    if (!n) return;
    pool_free(n->pool);
    for (int l = 0; n->lay && l < n->L; l++) {
        free(n->lay[l].ch);
        free(n->lay[l].first);
    }
    free(n->lay);
    free(n->hch);
    free(n->hfirst);
    free(n->stream);
    free(n->gather);
    free(n->h);
    free(n->c);
    free(n->cur);
    free(n->cur0);
    free(n->tcur);
    free(n->px);
    free(n->ph);
    free(n->cache);
    free(n->logits);
    free(n->xq);
    free(n);
}

int step_threads(const step_net *n)
{
    return n->nth;
}

double step_bytes(const step_net *n)
{
    return n->bytes;
}

const char *step_kernel(const step_net *n)
{
    return n->prec == STEP_INT8 ? n->sk->i8_name : n->sk->name;
}

void step_reset(step_net *n)
{
    memset(n->h, 0, sizeof(float) * (size_t)n->L * 2 * n->H);
    memset(n->c, 0, sizeof(float) * (size_t)n->L * 2 * n->H);
    memset(n->cur, 0, sizeof(int) * (size_t)n->L);
}

void step_set_class(step_net *n, int cls)
{
    n->cls = cls;
}

/* ---------------------------------------------------------------- the step */

// out = bias + W x over chunk c; int8: x as quantized once per step (xq, xs).
static void mv(const step_net *n, const chunk *c, int K, const float *x, const uint8_t *xq, float xs,
               const uint32_t *w, const float *bias, float *out)
{
    const float *init[STEP_NP];
    float *o[STEP_NP];
    for (int p = 0; p < c->np; p++) {
        init[p] = bias + c->col[p];
        o[p] = out + c->col[p];
    }
    if (n->prec == STEP_INT8)
        n->sk->mv_i8(c->np, c->nv, c->nc, K, xq, xs, w, init, o);
    else if (n->prec == STEP_BF16)
        n->sk->mv_bf16(c->np, c->nv, c->nc, K, x, w, init, o);
    else
        n->sk->mv_f32(c->np, c->nv, c->nc, K, x, (const float *)(const void *)w, init, o);
}

// Layer l's step for thread tid's units, input id (layer 0) or the layer
// below's new state; cur is the thread's copy of which halves are current.
static void layer_step(step_net *n, int tid, int l, int32_t id, const int *cur)
{
    const recur_model *m = n->m;
    const slayer *ly = &n->lay[l];
    const int H = n->H, GH = n->GH;
    const float *hp = n->h + ((size_t)l * 2 + cur[l]) * H;
    float *hn = n->h + ((size_t)l * 2 + (cur[l] ^ 1)) * H;
    const float *cp = n->c + ((size_t)l * 2 + cur[l]) * H;
    float *cn = n->c + ((size_t)l * 2 + (cur[l] ^ 1)) * H;
    const float *x = NULL, *row = NULL, *crow = NULL;
    if (ly->in_kind == IN_BELOW)
        x = n->h + ((size_t)(l - 1) * 2 + cur[l - 1]) * H;
    else if (ly->in_kind == IN_EMBED)
        x = m->w + m->embed + (size_t)id * n->E;
    else
        row = n->gather + (size_t)id * GH;
    if (l == 0 && n->Cc) crow = n->gather + (size_t)(n->class_row + n->cls) * GH;
    // int8: this thread quantizes the step's two inputs once for its chunks.
    uint8_t *xq = NULL, *hq = NULL;
    float xs = 0, hs = 0;
    if (n->prec == STEP_INT8) {
        xq = n->xq + (size_t)tid * 2 * n->xq_len;
        hq = xq + n->xq_len;
        if (x) xs = n->sk->quantize(x, ly->kx, xq);
        hs = n->sk->quantize(hp, H, hq);
    }
    for (int i = ly->first[tid]; i < ly->first[tid + 1]; i++) {
        const chunk *c = &ly->ch[i];
        const uint32_t *w = n->stream + c->off;
        // px = b_ih + W_ih x: a gathered column (one-hot), or a product, and
        // the class's column added after, as model.c does.
        if (row)
            for (int p = 0; p < c->np; p++)
                n->kn->sum(n->px + c->col[p], ly->bih + c->col[p], row + c->col[p], c->nc[p]);
        else
            mv(n, c, ly->kx, x, xq, xs, w, ly->bih, n->px);
        if (crow)
            for (int p = 0; p < c->np; p++) n->kn->add(n->px + c->col[p], crow + c->col[p], c->nc[p]);
        w += part_words(ly->kx, c, n->prec);
        // ph = b_hh + W_hh h_{t-1}, then the cell on these units.
        mv(n, c, H, hp, hq, hs, w, ly->bhh, n->ph);
        n->fwd(1, H, c->u0, c->u1, m->cfg.relu, n->px, n->ph, hp, cp, hn, cn, n->cache);
    }
}

static void head_step(step_net *n, int tid, const int *cur)
{
    const recur_model *m = n->m;
    const float *h = n->h + ((size_t)(n->L - 1) * 2 + cur[n->L - 1]) * n->H;
    uint8_t *hq = NULL;
    float hs = 0;
    if (n->prec == STEP_INT8 && n->hfirst[tid] < n->hfirst[tid + 1]) {
        hq = n->xq + (size_t)tid * 2 * n->xq_len;
        hs = n->sk->quantize(h, n->H, hq);
    }
    for (int i = n->hfirst[tid]; i < n->hfirst[tid + 1]; i++)
        mv(n, &n->hch[i], n->H, h, hq, hs, n->stream + n->hch[i].off, m->w + m->head_b, n->logits);
}

typedef struct job {
    step_net *n;
    const int32_t *ids;
    int count;
    int head;           /* compute the logits first */
    step_draw_fn draw;  /* then (thread 0) pick = draw(user, logits) and feed it */
    void *user;
    int pick;
    int repack;
} job;

static void sync(step_net *n, int nth)
{
    if (nth > 1) pool_barrier(n->pool);
}

/* A job runs on R real threads (the pool's, or 1 while a second thread does
 * not pay: see adapt). The weights are packed in n->nth shares; real thread
 * r does the shares r, r + R, ...: all of them when R = 1. Which thread
 * computes a share never changes what it computes. */

// last: the job's last step, whose last layer needs no barrier (the end of
// the job waits for every thread).
static void feed_one(step_net *n, int tid, int R, int32_t id, int *cur, int last)
{
    for (int l = 0; l < n->L; l++) {
        for (int v = tid; v < n->nth; v += R) layer_step(n, v, l, id, cur);
        if (!last || l < n->L - 1) sync(n, R); // all of layer l's new state before anything reads it
        cur[l] ^= 1;
    }
}

static void run_job(void *arg, int tid, int R)
{
    job *j = arg;
    step_net *n = j->n;
    if (j->repack) {
        for (int v = tid; v < n->nth; v += R) pack_thread(n, v);
        sync(n, R);
    }
    int *cur = n->tcur + (size_t)tid * n->L;
    memcpy(cur, n->cur0, sizeof(int) * (size_t)n->L);
    int fed = 0;
    if (j->head) {
        for (int v = tid; v < n->nth; v += R) head_step(n, v, cur);
        if (j->draw) {
            sync(n, R);
            if (tid == 0) j->pick = j->draw(j->user, n->logits);
            sync(n, R);
            feed_one(n, tid, R, j->pick, cur, j->count == 0);
            fed = 1;
        }
    }
    for (int i = 0; i < j->count; i++, fed = 1) feed_one(n, tid, R, j->ids[i], cur, i == j->count - 1);
    // No thread reads n->cur during a job (cur0 is their copy): thread 0 can
    // write it back whatever the others are still doing.
    if (tid == 0 && fed) memcpy(n->cur, cur, sizeof(int) * (size_t)n->L);
}

static void run(step_net *n, job *j)
{
    j->n = n;
    j->repack = !n->packed || n->version != n->m->version;
    memcpy(n->cur0, n->cur, sizeof(int) * (size_t)n->L);
    if (n->use > 1)
        pool_run(n->pool, run_job, j);
    else
        run_job(j, 0, 1);
    n->packed = 1;
    n->version = n->m->version;
}

/* ---------------------------------------------------------------- one thread or several */

/* Sharing a step between threads pays only while the threads run at the same
 * time: a step has a barrier per layer, so on a machine whose cores are busy
 * with other work, a partner that has been preempted stalls every step (on
 * the shared benchmark machine, 2 threads then took 10x longer per character
 * than 1). So the sampler times its steps in windows of ADAPT_WIN characters
 * and now and then tries the other setting for a window, keeping it if it was
 * faster: first after one window, then after each failed try twice as many
 * windows as before (up to ADAPT_MAX), after a switch after two. A try is cut
 * short as soon as it has cost 1.5 windows of the current setting, so a
 * setting that keeps losing costs about 1 % once the waits have grown.
 * Only the speed changes: every number is computed the same way on one
 * thread or several. */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void adapt(step_net *n, double dt)
{
    n->win_t += dt;
    n->win_n++;
    const int other = n->use == 1 ? pool_size(n->pool) : 1;
    if (n->probing) {
        if (n->win_t > 1.5 * ADAPT_WIN * n->last_avg) {
            // Already slower than a whole window of the setting it tries to beat.
            n->probing = 0;
            n->use = other;
            n->wait = 2 * n->wait < ADAPT_MAX ? 2 * n->wait : ADAPT_MAX;
            n->since = n->win_n = 0;
            n->win_t = 0;
            return;
        }
        if (n->win_n < ADAPT_WIN) return;
        double avg = n->win_t / n->win_n;
        n->probing = 0;
        n->since = n->win_n = 0;
        n->win_t = 0;
        if (avg < 0.95 * n->last_avg) {
            n->last_avg = avg;
            n->wait = ADAPT_AFTER; // the machine's load changes: check back soon
        } else {
            n->use = other;
            n->wait = 2 * n->wait < ADAPT_MAX ? 2 * n->wait : ADAPT_MAX;
        }
        return;
    }
    if (n->win_n < ADAPT_WIN) return;
    n->last_avg = n->win_t / n->win_n;
    n->win_n = 0;
    n->win_t = 0;
    if (++n->since >= n->wait) {
        n->probing = 1;
        n->use = other;
    }
}

void step_use_threads(step_net *n, int k)
{
    n->use = k > 1 && n->pool && pool_size(n->pool) > 1 ? pool_size(n->pool) : 1;
}

void step_feed(step_net *n, const int32_t *ids, int count)
{
    job j = {.ids = ids, .count = count};
    run(n, &j);
}

const float *step_logits(step_net *n)
{
    job j = {.head = 1};
    run(n, &j);
    return n->logits;
}

int step_next(step_net *n, step_draw_fn draw, void *user)
{
    job j = {.head = 1, .draw = draw, .user = user};
    double t0 = n->adaptive ? now_s() : 0;
    run(n, &j);
    if (n->adaptive) adapt(n, now_s() - t0);
    return j.pick;
}
