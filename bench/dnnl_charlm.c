/*
 * dnnl_charlm.c - the oneDNN twin of `recur bench` and bench/torch_charlm.py
 * (docs/benchmarks.md).
 *
 * The same model: one-hot input of the vocabulary -> L stacked layers of a
 * vanilla RNN (tanh), LSTM or GRU (oneDNN's lbr_gru, which is PyTorch's GRU:
 * the reset gate multiplies W_hn h + b_hn) with H units -> a linear head to V
 * logits -> softmax cross-entropy. The same data layout: B streams over the
 * text, windows of T characters, the hidden (and cell) state carried from one
 * window to the next without its gradient (truncated BPTT), back to zero when
 * the streams wrap. The same step: mean cross-entropy over the B*T
 * characters, its gradient, the gradients' global L2 norm clipped at 5,
 * Adam (lr 2e-3, betas 0.9/0.999, eps 1e-8, PyTorch's bias correction).
 * The same parameters as PyTorch's nn.RNN/LSTM/GRU + nn.Linear (two biases
 * per layer, b_ih and b_hh, each trained by Adam; they are added into the
 * primitive's bias before each step), initialised the same way
 * (uniform +-1/sqrt(H), from this program's own random numbers).
 *
 * oneDNN does the work: per group of layers, an RNN forward_training and a
 * backward primitive created once (layer 0, whose input is the V-wide
 * one-hot, and layers 1..L-1 stacked in one primitive, since a oneDNN RNN
 * primitive has one input width for all its layers), their workspace
 * allocated once and reused; the head is an inner_product primitive
 * (forward_training, backward_data, backward_weights: nn.Linear), the
 * softmax a logsoftmax primitive. The cross-entropy from the log-
 * probabilities, its gradient, the clip and Adam are plain loops (elementwise
 * work; PyTorch's are elementwise kernels too). Weights are kept in oneDNN's
 * plain ldigo layout; where a primitive wants another (the backward's
 * weights), a reorder primitive made once converts them every step, as
 * PyTorch's mkldnn path does.
 *
 * The same measurements and JSON keys as bench/torch_charlm.py: training
 * chars/s (B*T per step) for about --seconds after a --warmup, batch-1
 * sampling chars/s (temperature 1; forward_inference primitives for one
 * character, weights reordered once into the layout they choose), peak RSS,
 * and GFLOP/s by recur's formula (one-hot layer-0 input counted as 0 FLOPs,
 * head excluded) - plus which implementation oneDNN picked for each
 * primitive (its impl_info_str, as ONEDNN_VERBOSE prints it), the ISA it
 * dispatches to and its version.
 *
 * --loss-steps N: train N steps from the start and print the loss of each
 * (JSON lines {"step","train_loss"}), for bench/loss_check.sh; --init-out
 * FILE also writes the initial parameters with PyTorch's names and layouts
 * (safetensors), which bench/torch_charlm.py --init FILE starts from.
 *
 *   cc -O3 -march=native -fopenmp bench/dnnl_charlm.c -o build/dnnl_charlm -ldnnl -lm
 *   build/dnnl_charlm --cell lstm --hidden 128 --layers 2 --batch 50 --seq 50 --threads 2 --json
 *
 * Threads: oneDNN here (Debian's libdnnl2) runs on OpenMP; --threads N sets
 * omp_set_num_threads(N). bench only: needs libdnnl-dev.
 *
 * What oneDNN 2.6.3 picks on an AVX-512 (with AVX512_BF16) CPU: "ref" for the
 * RNN forward_training and backward primitives - its gemm-based RNN driver,
 * not a slow path: the products run on its AVX-512 JIT sgemm and the cell
 * math on JIT kernels (jit_uni_{rnn,lstm,gru_lbr}_cell_postgemm_{fwd,bwd};
 * ONEDNN_JIT_PROFILE=2 lists the generated kernels in /tmp/perf-PID.map);
 * "x64:gemm:jit" for the inner products, "jit:avx512_core" for the
 * logsoftmax; for batch-1 sampling "brgemm" (rnn, lstm) or "ref" (lbr_gru).
 * ONEDNN_MAX_CPU_ISA=AVX512_CORE / AVX2 caps the ISA.
 *
 * --bf16: oneDNN's own bf16 training, the peer of `recur bench --bf16`.
 * The RNN primitives take bf16 src_layer, src_iter, weights_layer,
 * weights_iter, dst_layer and dst_iter; the bias, the LSTM's cell state and
 * every diff_* tensor stay f32 (2.6.3 refuses bf16 diff tensors:
 * "unimplemented" at the backward descriptor). The head inner product takes
 * the top layer's bf16 output, bf16 weights and a bf16 gradient of the
 * logits; logits, logsoftmax, the gradient of its input and its weight
 * gradients are f32. The master weights, gradients, clip and Adam stay
 * f32: reorder primitives make the bf16 copies (forward's and backward's
 * layouts) each step. The JSON says "impl":"onednn_bf16", "bf16":1 (0
 * without --bf16). Sampling stays f32. On an AVX512_BF16 CPU 2.6.3 picks
 * "brgemm" for the bf16 rnn and lstm training primitives and "ref" for
 * lbr_gru (and "ref" for all under ONEDNN_MAX_CPU_ISA=AVX512_CORE); a
 * primitive it refuses is named on stderr and the program exits 3.
 */
#define _GNU_SOURCE
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- utilities */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "dnnl_charlm: %s: %s\n", what, why);
    exit(1);
}

static const char *status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}

#define CHECK(f)                                              \
    do {                                                      \
        dnnl_status_t s_ = (f);                               \
        if (s_ != dnnl_success) die(#f, status_str(s_));      \
    } while (0)

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) die("calloc", "out of memory");
    return p;
}

static float *falloc(size_t n)
{
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes)) die("posix_memalign", "out of memory");
    memset(p, 0, bytes);
    return p;
}

/* splitmix64: the initial weights and the sampled characters. */
static uint64_t rng_state;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

/* ---------------------------------------------------------------- the text */

/* The UTF-8 text at path as code points. */
static uint32_t *read_utf8(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path, "cannot open");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = xcalloc((size_t)size + 1, 1);
    if (fread(b, 1, (size_t)size, f) != (size_t)size) die(path, "read error");
    fclose(f);
    uint32_t *cp = xcalloc((size_t)size + 1, sizeof *cp);
    size_t k = 0;
    for (long i = 0; i < size;) {
        unsigned c = b[i];
        int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > size) die(path, "not UTF-8");
        uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (int j = 1; j < len; j++) {
            if ((b[i + j] & 0xc0) != 0x80) die(path, "not UTF-8");
            v = (v << 6) | (b[i + j] & 0x3f);
        }
        cp[k++] = v;
        i += len;
    }
    free(b);
    *n = k;
    return cp;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* As torch_common.read_text: the vocabulary is the sorted distinct
 * characters, each character's id its index there. */
static int *read_text(const char *path, size_t *n, int *V)
{
    uint32_t *cp = read_utf8(path, n);
    uint32_t *voc = xcalloc(*n + 1, sizeof *voc);
    memcpy(voc, cp, *n * sizeof *cp);
    qsort(voc, *n, sizeof *voc, cmp_u32);
    size_t v = 0;
    for (size_t i = 0; i < *n; i++)
        if (v == 0 || voc[v - 1] != voc[i]) voc[v++] = voc[i];
    int *ids = xcalloc(*n + 1, sizeof *ids);
    for (size_t i = 0; i < *n; i++) {
        uint32_t *p = bsearch(&cp[i], voc, v, sizeof *voc, cmp_u32);
        ids[i] = (int)(p - voc);
    }
    free(cp);
    free(voc);
    *V = (int)v;
    return ids;
}

/* ---------------------------------------------------------------- parameters */

/* One trained tensor: its value, gradient and Adam's two moments, n floats
 * each in one layout (oneDNN's plain one, or a primitive's own when it takes
 * its weights and gives their gradient in the same layout; padding, if that
 * layout has any, stays zero); `real` is its number of values. */
typedef struct param {
    float *w, *g, *m, *v;
    size_t n, real;
} param;

enum { MAX_PARAMS = 16 };
static param params[MAX_PARAMS];
static int nparams;

static param *param_new(size_t n, float bound)
{
    if (nparams == MAX_PARAMS) die("param_new", "too many tensors");
    param *p = &params[nparams++];
    p->n = p->real = n;
    p->w = falloc(n);
    p->g = falloc(n);
    p->m = falloc(n);
    p->v = falloc(n);
    for (size_t i = 0; i < n; i++) p->w[i] = (float)((2.0 * rng_uniform() - 1.0) * bound);
    return p;
}

/* Elementwise loops shorter than this stay on one thread: waking the OpenMP
 * team costs more than they do (batch-1 steps have dozens of them). */
enum { PAR_MIN = 1 << 16 };

/* torch.nn.utils.clip_grad_norm_(params, 5.0), then torch.optim.Adam(lr) */
static float clip_and_adam(float max_norm, float lr, long t)
{
    double ss = 0;
    for (int k = 0; k < nparams; k++) {
        const float *g = params[k].g;
        long n = (long)params[k].n;
        double s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static) if (n >= PAR_MIN)
        for (long i = 0; i < n; i++) s += (double)g[i] * g[i];
        ss += s;
    }
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f);
    if (coef > 1.0f) coef = 1.0f;
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    float bc1 = 1.0f - powf(b1, (float)t), bc2 = 1.0f - powf(b2, (float)t);
    float step = lr / bc1, rbc2 = 1.0f / sqrtf(bc2);
    for (int k = 0; k < nparams; k++) {
        float *w = params[k].w, *g = params[k].g, *m = params[k].m, *v = params[k].v;
        long n = (long)params[k].n;
#pragma omp parallel for simd schedule(static) if (n >= PAR_MIN)
        for (long i = 0; i < n; i++) {
            float gi = g[i] * coef;
            m[i] = b1 * m[i] + (1.0f - b1) * gi;
            v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
            w[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
        }
    }
    return norm;
}

/* ---------------------------------------------------------------- oneDNN glue */

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static dnnl_memory_desc_t md_tag(int nd, const int64_t *d, dnnl_format_tag_t tag, dnnl_data_type_t dt)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {0};
    for (int i = 0; i < nd; i++) dims[i] = d[i];
    CHECK(dnnl_memory_desc_init_by_tag(&md, nd, dims, dt, tag));
    return md;
}
/* f32 (MD) or a given data type (MDT: f32 or bf16) */
#define MDT(dt, tag, ...) \
    md_tag(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), (int64_t[]){__VA_ARGS__}, tag, dt)
#define MD(tag, ...) MDT(dnnl_f32, tag, __VA_ARGS__)

/* --bf16: a primitive oneDNN will not make in bf16 is reported (which one,
 * and oneDNN's status) and the program exits 3, so that bench/run.sh can
 * skip the oneDNN bf16 runs. */
static int bf16_mode;
static void bf16_check(dnnl_status_t s, const char *what)
{
    if (s == dnnl_success) return;
    if (!bf16_mode) die(what, status_str(s));
    const dnnl_version_t *v = dnnl_version();
    fprintf(stderr, "dnnl_charlm: --bf16: oneDNN %d.%d.%d refuses bf16 %s: %s\n", v->major, v->minor, v->patch, what,
            status_str(s));
    exit(3);
}

static dnnl_memory_t mem_on(const dnnl_memory_desc_t *md, void *ptr)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, eng, ptr));
    return m;
}

static float *mem_ptr(dnnl_memory_t m)
{
    void *p;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    return p;
}

static size_t mem_bytes(dnnl_memory_t m)
{
    const dnnl_memory_desc_t *md;
    CHECK(dnnl_memory_get_memory_desc(m, &md));
    return dnnl_memory_desc_get_size(md);
}

static size_t mem_floats(dnnl_memory_t m) { return mem_bytes(m) / sizeof(float); }

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, int arg)
{
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

static const char *pd_impl(const_dnnl_primitive_desc_t pd)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s) return "?";
    return s;
}

/* A primitive's argument bound to a user memory in a plain layout: the same
 * memory when the primitive takes that layout, else a memory in the
 * primitive's layout and a reorder between the two (made once). */
typedef struct bound {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder; /* NULL: prim is user */
    int out;                  /* 1: reorder prim -> user after; 0: user -> prim before */
} bound;

static int nreorders;            /* reorders made for the training step */
static char reorder_names[1024]; /* which: "group:primitive:argument ..." */
static int bind_group;           /* the group of layers being bound: 0 (layer 0) or 1 (layers 1..L-1); -1 the head */

static bound bind(const_dnnl_primitive_desc_t pd, int arg, dnnl_memory_t user, int out, const char *name)
{
    bound b = {.user = user, .prim = user, .reorder = NULL, .out = out};
    const dnnl_memory_desc_t *want = pd_md(pd, arg), *have;
    CHECK(dnnl_memory_get_memory_desc(user, &have));
    if (dnnl_memory_desc_equal(want, have)) return b;
    b.prim = mem_on(want, DNNL_MEMORY_ALLOCATE);
    dnnl_primitive_desc_t rpd;
    if (out)
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, want, eng, have, eng, NULL));
    else
        CHECK(dnnl_reorder_primitive_desc_create(&rpd, have, eng, want, eng, NULL));
    CHECK(dnnl_primitive_create(&b.reorder, rpd));
    CHECK(dnnl_primitive_desc_destroy(rpd));
    nreorders++;
    size_t len = strlen(reorder_names);
    if (bind_group < 0)
        snprintf(reorder_names + len, sizeof reorder_names - len, "%s%s", len ? " " : "", name);
    else
        snprintf(reorder_names + len, sizeof reorder_names - len, "%sg%d:%s", len ? " " : "", bind_group, name);
    return b;
}

static void run_reorder(const bound *b)
{
    if (!b->reorder) return;
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, b->out ? b->prim : b->user}, {DNNL_ARG_TO, b->out ? b->user : b->prim}};
    CHECK(dnnl_primitive_execute(b->reorder, strm, 2, a));
}

/* Moves a tensor (just initialised, in the plain layout `from`) into the
 * layout `to` for good: its value by a reorder, the rest zero. */
static void param_relayout(param *p, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to)
{
    size_t n = dnnl_memory_desc_get_size(to) / sizeof(float);
    float *w = falloc(n);
    dnnl_memory_t a = mem_on(from, p->w), b = mem_on(to, w);
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, eng, to, eng, NULL));
    CHECK(dnnl_primitive_create(&r, rpd));
    CHECK(dnnl_primitive_execute(r, strm, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_FROM, a}, {DNNL_ARG_TO, b}}));
    CHECK(dnnl_primitive_destroy(r));
    CHECK(dnnl_primitive_desc_destroy(rpd));
    CHECK(dnnl_memory_destroy(a));
    CHECK(dnnl_memory_destroy(b));
    free(p->w);
    free(p->g);
    free(p->m);
    free(p->v);
    p->w = w;
    p->g = falloc(n);
    p->m = falloc(n);
    p->v = falloc(n);
    p->n = n;
}

static void exec(dnnl_primitive_t p, int n, const dnnl_exec_arg_t *a)
{
    CHECK(dnnl_primitive_execute(p, strm, n, a));
}

/* ---------------------------------------------------------------- the model */

typedef enum { CELL_RNN, CELL_LSTM, CELL_GRU } cell_kind;
static const int GATES[] = {1, 4, 3};       /* PyTorch's gate blocks */
static const int BIAS_GATES[] = {1, 4, 4};  /* oneDNN's bias blocks (lbr_gru: 4) */

/* The op descriptor of one group of layers: forward (prop forward_training
 * or forward_inference) or backward. Data in plain layouts, weights and
 * bias in whatever the primitive prefers, or (wl_md, wi_md not NULL: the
 * sampler's fallback) the forward's weights in those layouts. dt: the data
 * type of src_layer, src_iter, weights, dst_layer and dst_iter (f32, or
 * bf16 for --bf16); the bias, the LSTM's cell state (src_iter_c,
 * dst_iter_c) and every diff_* tensor are f32 either way, as oneDNN's bf16
 * RNN training takes them. */
static dnnl_rnn_desc_t rnn_desc_w(cell_kind cell, dnnl_prop_kind_t prop, int Lg, int SLC, int H, int T, int N,
                                  dnnl_data_type_t dt, const dnnl_memory_desc_t *wl_md,
                                  const dnnl_memory_desc_t *wi_md)
{
    int G = GATES[cell], Gb = BIAS_GATES[cell];
    dnnl_memory_desc_t src_layer = MDT(dt, dnnl_tnc, T, N, SLC), dst_layer = MDT(dt, dnnl_tnc, T, N, H);
    dnnl_memory_desc_t iter = MDT(dt, dnnl_ldnc, Lg, 1, N, H), iter_c = MD(dnnl_ldnc, Lg, 1, N, H);
    dnnl_memory_desc_t wl = wl_md ? *wl_md : MDT(dt, dnnl_format_tag_any, Lg, 1, SLC, G, H);
    dnnl_memory_desc_t wi = wi_md ? *wi_md : MDT(dt, dnnl_format_tag_any, Lg, 1, H, G, H);
    dnnl_memory_desc_t b = MD(dnnl_format_tag_any, Lg, 1, Gb, H);
    dnnl_rnn_desc_t d;
    const dnnl_rnn_direction_t dir = dnnl_unidirectional_left2right;
    const char *what = prop == dnnl_backward ? "RNN backward descriptor" : "RNN forward descriptor";
    if (prop != dnnl_backward) {
        if (cell == CELL_RNN)
            bf16_check(dnnl_vanilla_rnn_forward_desc_init(&d, prop, dnnl_eltwise_tanh, dir, &src_layer, &iter, &wl,
                                                          &wi, &b, &dst_layer, &iter, 0, 0.f, 0.f),
                       what);
        else if (cell == CELL_LSTM)
            bf16_check(dnnl_lstm_forward_desc_init(&d, prop, dir, &src_layer, &iter, &iter_c, &wl, &wi, &b, &dst_layer,
                                                   &iter, &iter_c, 0),
                       what);
        else
            bf16_check(dnnl_lbr_gru_forward_desc_init(&d, prop, dir, &src_layer, &iter, &wl, &wi, &b, &dst_layer,
                                                      &iter, 0),
                       what);
        return d;
    }
    /* the gradients: f32 */
    dnnl_memory_desc_t d_src_layer = MD(dnnl_tnc, T, N, SLC), d_dst_layer = MD(dnnl_tnc, T, N, H);
    dnnl_memory_desc_t d_iter = MD(dnnl_ldnc, Lg, 1, N, H);
    dnnl_memory_desc_t dwl = MD(dnnl_format_tag_any, Lg, 1, SLC, G, H);
    dnnl_memory_desc_t dwi = MD(dnnl_format_tag_any, Lg, 1, H, G, H), db = b;
    if (cell == CELL_RNN)
        bf16_check(dnnl_vanilla_rnn_backward_desc_init(&d, prop, dnnl_eltwise_tanh, dir, &src_layer, &iter, &wl, &wi,
                                                       &b, &dst_layer, &iter, &d_src_layer, &d_iter, &dwl, &dwi, &db,
                                                       &d_dst_layer, &d_iter, 0, 0.f, 0.f),
                   what);
    else if (cell == CELL_LSTM)
        bf16_check(dnnl_lstm_backward_desc_init(&d, prop, dir, &src_layer, &iter, &iter_c, &wl, &wi, &b, &dst_layer,
                                                &iter, &iter_c, &d_src_layer, &d_iter, &d_iter, &dwl, &dwi, &db,
                                                &d_dst_layer, &d_iter, &d_iter, 0),
                   what);
    else
        bf16_check(dnnl_lbr_gru_backward_desc_init(&d, prop, dir, &src_layer, &iter, &wl, &wi, &b, &dst_layer, &iter,
                                                   &d_src_layer, &d_iter, &dwl, &dwi, &db, &d_dst_layer, &d_iter, 0),
                   what);
    return d;
}

/* A group of stacked layers run by one RNN primitive: layer 0 (input: the
 * one-hot characters, SLC = V), or layers 1..L-1 (SLC = H). */
typedef struct group {
    int Lg, SLC;
    param *wl, *wi, *bih, *bhh;  /* PyTorch's tensors (weights in ldigo, or the forward's layout) */
    float *bias, *dbias;         /* oneDNN's bias ldgo: b_ih + b_hh (lbr_gru: 4 blocks) */
    /* our side of each argument (bound to the primitives' layouts by bind()) */
    dnnl_memory_t src_layer, dst_layer, src_iter, src_iter_c, dst_iter, dst_iter_c;
    dnnl_memory_t u_wl, u_wi, u_b, u_dwl, u_dwi, u_db;
    dnnl_memory_t diff_src_layer, diff_dst_layer, diff_src_iter, diff_src_iter_c, diff_dst_iter, diff_dst_iter_c;
    dnnl_memory_t workspace;
    /* training */
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    dnnl_primitive_t fwd, bwd;
    bound f_wl, f_wi, f_b, b_wl, b_wi, b_b, b_dwl, b_dwi, b_db;
    /* sampling (batch 1, one character) */
    dnnl_primitive_desc_t inf_pd;
    dnnl_primitive_t inf;
    dnnl_memory_t s_src_layer, s_dst_layer, s_src_iter, s_src_iter_c, s_dst_iter, s_dst_iter_c;
    bound s_wl, s_wi, s_b;
} group;

typedef struct model {
    cell_kind cell;
    int V, H, L, B, T, ngroups;
    dnnl_data_type_t dt; /* the RNN's and the head's data and weights: f32, or bf16 (--bf16) */
    group g[2];
    param *hw, *hb;  /* the head: weight [V, H], bias [V] */
    /* head, training */
    dnnl_memory_t y, dy, hw_m, hb_m, hdw_m, hdb_m, logits, logp, dlogits;
    bound hw_b, dl_b; /* the weights and dlogits as the head takes them (bf16: a reorder each step) */
    dnnl_primitive_desc_t ip_fwd_pd, ip_bwd_data_pd, ip_bwd_w_pd, lsm_pd;
    dnnl_primitive_t ip_fwd, ip_bwd_data, ip_bwd_w, lsm;
    /* head, sampling */
    dnnl_memory_t s_y, s_logits, s_prob;
    dnnl_primitive_desc_t s_ip_pd, s_sm_pd;
    dnnl_primitive_t s_ip, s_sm;
    int *prev_in; /* the characters set in the one-hot input (to clear) */
    int diff_weights_accumulate;
} model;

/* oneDNN's bias from PyTorch's two: rnn, lstm: b_ih + b_hh; lbr_gru: the
 * update and reset blocks summed, then b_in and b_hn apart. */
static void bias_combine(const model *m, group *g)
{
    int H = m->H, G = GATES[m->cell], Gb = BIAS_GATES[m->cell];
    for (int l = 0; l < g->Lg; l++) {
        const float *bi = g->bih->w + (size_t)l * G * H, *bh = g->bhh->w + (size_t)l * G * H;
        float *b = g->bias + (size_t)l * Gb * H;
        for (int i = 0; i < G * H; i++) b[i] = bi[i] + bh[i];
        if (m->cell == CELL_GRU) {
            for (int i = 0; i < H; i++) {
                b[2 * H + i] = bi[2 * H + i];
                b[3 * H + i] = bh[2 * H + i];
            }
        }
    }
}

static void bias_split(const model *m, group *g)
{
    int H = m->H, G = GATES[m->cell], Gb = BIAS_GATES[m->cell];
    for (int l = 0; l < g->Lg; l++) {
        float *gi = g->bih->g + (size_t)l * G * H, *gh = g->bhh->g + (size_t)l * G * H;
        const float *d = g->dbias + (size_t)l * Gb * H;
        for (int i = 0; i < G * H; i++) gi[i] = gh[i] = d[i];
        if (m->cell == CELL_GRU)
            for (int i = 0; i < H; i++) gh[2 * H + i] = d[3 * H + i];
    }
}

static void group_init(model *m, group *g, dnnl_memory_t src_layer, dnnl_memory_t diff_dst_layer_below)
{
    int H = m->H, T = m->T, N = m->B, G = GATES[m->cell], Gb = BIAS_GATES[m->cell];
    int Lg = g->Lg, SLC = g->SLC;
    float bound = 1.0f / sqrtf((float)H);
    g->wl = param_new((size_t)Lg * SLC * G * H, bound);
    g->wi = param_new((size_t)Lg * H * G * H, bound);
    g->bih = param_new((size_t)Lg * G * H, bound);
    g->bhh = param_new((size_t)Lg * G * H, bound);
    g->bias = falloc((size_t)Lg * Gb * H);
    g->dbias = falloc((size_t)Lg * Gb * H);

    dnnl_memory_desc_t dst_layer = MDT(m->dt, dnnl_tnc, T, N, H), src_layer_md = MD(dnnl_tnc, T, N, SLC);
    dnnl_memory_desc_t iter = MDT(m->dt, dnnl_ldnc, Lg, 1, N, H), iter_f32 = MD(dnnl_ldnc, Lg, 1, N, H);
    dnnl_memory_desc_t d_dst_layer = MD(dnnl_tnc, T, N, H);
    dnnl_memory_desc_t wl = MD(dnnl_ldigo, Lg, 1, SLC, G, H), wi = MD(dnnl_ldigo, Lg, 1, H, G, H);
    dnnl_memory_desc_t b = MD(dnnl_ldgo, Lg, 1, Gb, H);

    g->src_layer = src_layer;
    g->dst_layer = mem_on(&dst_layer, DNNL_MEMORY_ALLOCATE);
    g->src_iter = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
    g->dst_iter = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
    g->src_iter_c = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);
    g->dst_iter_c = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);
    g->u_b = mem_on(&b, g->bias);
    g->u_db = mem_on(&b, g->dbias);
    g->diff_src_layer = mem_on(&src_layer_md, DNNL_MEMORY_ALLOCATE);
    g->diff_dst_layer = diff_dst_layer_below ? diff_dst_layer_below : mem_on(&d_dst_layer, DNNL_MEMORY_ALLOCATE);
    g->diff_src_iter = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);
    g->diff_src_iter_c = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);
    g->diff_dst_iter = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);  /* zero: truncated BPTT */
    g->diff_dst_iter_c = mem_on(&iter_f32, DNNL_MEMORY_ALLOCATE);
    memset(mem_ptr(g->diff_dst_iter), 0, mem_bytes(g->diff_dst_iter));
    memset(mem_ptr(g->diff_dst_iter_c), 0, mem_bytes(g->diff_dst_iter_c));
    memset(mem_ptr(g->src_iter), 0, mem_bytes(g->src_iter));
    memset(mem_ptr(g->src_iter_c), 0, mem_bytes(g->src_iter_c));

    dnnl_rnn_desc_t fd = rnn_desc_w(m->cell, dnnl_forward_training, Lg, SLC, H, T, N, m->dt, NULL, NULL);
    bf16_check(dnnl_primitive_desc_create(&g->fwd_pd, &fd, NULL, eng, NULL), "RNN forward_training primitive");
    dnnl_rnn_desc_t bd = rnn_desc_w(m->cell, dnnl_backward, Lg, SLC, H, T, N, m->dt, NULL, NULL);
    bf16_check(dnnl_primitive_desc_create(&g->bwd_pd, &bd, NULL, eng, g->fwd_pd), "RNN backward primitive");
    CHECK(dnnl_primitive_create(&g->fwd, g->fwd_pd));
    CHECK(dnnl_primitive_create(&g->bwd, g->bwd_pd));
    g->workspace = mem_on(dnnl_primitive_desc_query_md(g->fwd_pd, dnnl_query_workspace_md, 0), DNNL_MEMORY_ALLOCATE);

    /* The weights live in the forward primitive's layout when the backward
     * gives their gradient in that same layout (Adam is elementwise): then
     * only the backward's own weight layout needs a reorder per step. In
     * bf16 (never the same: the gradients are f32) the f32 master weights
     * stay in plain ldigo and reorders make the forward's and the
     * backward's bf16 copies each step. */
    const dnnl_memory_desc_t *fwl = pd_md(g->fwd_pd, DNNL_ARG_WEIGHTS_LAYER);
    const dnnl_memory_desc_t *fwi = pd_md(g->fwd_pd, DNNL_ARG_WEIGHTS_ITER);
    if (dnnl_memory_desc_equal(fwl, pd_md(g->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_LAYER)) &&
        dnnl_memory_desc_equal(fwi, pd_md(g->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_ITER))) {
        param_relayout(g->wl, &wl, fwl);
        param_relayout(g->wi, &wi, fwi);
        wl = *fwl;
        wi = *fwi;
    }
    g->u_wl = mem_on(&wl, g->wl->w);
    g->u_wi = mem_on(&wi, g->wi->w);
    g->u_dwl = mem_on(&wl, g->wl->g);
    g->u_dwi = mem_on(&wi, g->wi->g);
    bind_group = g == &m->g[0] ? 0 : 1;
    g->f_wl = bind(g->fwd_pd, DNNL_ARG_WEIGHTS_LAYER, g->u_wl, 0, "fwd:weights_layer");
    g->f_wi = bind(g->fwd_pd, DNNL_ARG_WEIGHTS_ITER, g->u_wi, 0, "fwd:weights_iter");
    g->f_b = bind(g->fwd_pd, DNNL_ARG_BIAS, g->u_b, 0, "fwd:bias");
    g->b_wl = bind(g->bwd_pd, DNNL_ARG_WEIGHTS_LAYER, g->u_wl, 0, "bwd:weights_layer");
    g->b_wi = bind(g->bwd_pd, DNNL_ARG_WEIGHTS_ITER, g->u_wi, 0, "bwd:weights_iter");
    g->b_b = bind(g->bwd_pd, DNNL_ARG_BIAS, g->u_b, 0, "bwd:bias");
    g->b_dwl = bind(g->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_LAYER, g->u_dwl, 1, "bwd:diff_weights_layer");
    g->b_dwi = bind(g->bwd_pd, DNNL_ARG_DIFF_WEIGHTS_ITER, g->u_dwi, 1, "bwd:diff_weights_iter");
    g->b_db = bind(g->bwd_pd, DNNL_ARG_DIFF_BIAS, g->u_db, 1, "bwd:diff_bias");
}

static void group_forward(model *m, group *g)
{
    bias_combine(m, g);
    run_reorder(&g->f_wl);
    run_reorder(&g->f_wi);
    run_reorder(&g->f_b);
    dnnl_exec_arg_t a[12];
    int n = 0;
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_LAYER, g->src_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER, g->src_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, g->f_wl.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, g->f_wi.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, g->f_b.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_LAYER, g->dst_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, g->dst_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, g->workspace};
    if (m->cell == CELL_LSTM) {
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER_C, g->src_iter_c};
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, g->dst_iter_c};
    }
    exec(g->fwd, n, a);
}

static void zero_mem(dnnl_memory_t mem)
{
    memset(mem_ptr(mem), 0, mem_bytes(mem));
}

static void group_backward(model *m, group *g)
{
    run_reorder(&g->b_wl);
    run_reorder(&g->b_wi);
    run_reorder(&g->b_b);
    if (m->diff_weights_accumulate) {
        zero_mem(g->b_dwl.prim);
        zero_mem(g->b_dwi.prim);
        zero_mem(g->b_db.prim);
    }
    dnnl_exec_arg_t a[24];
    int n = 0;
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_LAYER, g->src_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER, g->src_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, g->b_wl.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, g->b_wi.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, g->b_b.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_LAYER, g->dst_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, g->dst_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC_LAYER, g->diff_src_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC_ITER, g->diff_src_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS_LAYER, g->b_dwl.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_WEIGHTS_ITER, g->b_dwi.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_BIAS, g->b_db.prim};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_LAYER, g->diff_dst_layer};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_ITER, g->diff_dst_iter};
    a[n++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, g->workspace};
    if (m->cell == CELL_LSTM) {
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER_C, g->src_iter_c};
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, g->dst_iter_c};
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_SRC_ITER_C, g->diff_src_iter_c};
        a[n++] = (dnnl_exec_arg_t){DNNL_ARG_DIFF_DST_ITER_C, g->diff_dst_iter_c};
    }
    exec(g->bwd, n, a);
    run_reorder(&g->b_dwl);
    run_reorder(&g->b_dwi);
    run_reorder(&g->b_db);
    bias_split(m, g);
}

/* The state for the next window: this window's last (detached). */
static void group_carry(model *m, group *g)
{
    memcpy(mem_ptr(g->src_iter), mem_ptr(g->dst_iter), mem_bytes(g->src_iter));
    if (m->cell == CELL_LSTM)
        memcpy(mem_ptr(g->src_iter_c), mem_ptr(g->dst_iter_c), mem_bytes(g->src_iter_c));
}

static void group_reset(model *m, group *g)
{
    zero_mem(g->src_iter);
    if (m->cell == CELL_LSTM) zero_mem(g->src_iter_c);
}

static void model_init(model *m)
{
    int V = m->V, H = m->H, T = m->T, N = m->B;
    m->ngroups = m->L > 1 ? 2 : 1;
    dnnl_memory_desc_t x_md = MDT(m->dt, dnnl_tnc, T, N, V);
    dnnl_memory_t x = mem_on(&x_md, DNNL_MEMORY_ALLOCATE);
    zero_mem(x);
    m->prev_in = xcalloc((size_t)T * N, sizeof(int));
    /* Layers bottom to top (PyTorch creates its tensors in this order too);
     * the group above reads the one below's output and writes the gradient
     * of it, which is the one below's diff_dst_layer. */
    m->g[0].Lg = 1;
    m->g[0].SLC = V;
    if (m->ngroups == 2) {
        m->g[1].Lg = m->L - 1;
        m->g[1].SLC = H;
    }
    dnnl_memory_desc_t hmd = MD(dnnl_tnc, T, N, H);
    dnnl_memory_t below_diff = m->ngroups == 2 ? mem_on(&hmd, DNNL_MEMORY_ALLOCATE) : NULL;
    group_init(m, &m->g[0], x, below_diff);
    if (m->ngroups == 2) {
        group_init(m, &m->g[1], m->g[0].dst_layer, NULL);
        /* group 1's diff_src_layer is group 0's diff_dst_layer */
        CHECK(dnnl_memory_destroy(m->g[1].diff_src_layer));
        m->g[1].diff_src_layer = below_diff;
    }
    group *top = &m->g[m->ngroups - 1];

    /* The head: nn.Linear(H, V) as an inner product on [T*N, H]. */
    float bound = 1.0f / sqrtf((float)H);
    m->hw = param_new((size_t)V * H, bound);
    m->hb = param_new((size_t)V, bound);
    /* In bf16 its input (the top group's bf16 output), weights and logits'
     * gradient are bf16; the bias, logits, its weight gradients and the
     * gradient of its input (the RNN's f32 diff_dst_layer) f32. */
    dnnl_memory_desc_t y_md = MDT(m->dt, dnnl_nc, (int64_t)T * N, H), dy_md = MD(dnnl_nc, (int64_t)T * N, H);
    dnnl_memory_desc_t w_md = MD(dnnl_oi, V, H), wt_md = MDT(m->dt, dnnl_oi, V, H), b_md = MD(dnnl_x, V);
    dnnl_memory_desc_t l_md = MD(dnnl_nc, (int64_t)T * N, V), dl_md = MDT(m->dt, dnnl_nc, (int64_t)T * N, V);
    m->y = mem_on(&y_md, mem_ptr(top->dst_layer));
    m->dy = mem_on(&dy_md, mem_ptr(top->diff_dst_layer));
    m->hw_m = mem_on(&w_md, m->hw->w);
    m->hb_m = mem_on(&b_md, m->hb->w);
    m->hdw_m = mem_on(&w_md, m->hw->g);
    m->hdb_m = mem_on(&b_md, m->hb->g);
    m->logits = mem_on(&l_md, DNNL_MEMORY_ALLOCATE);
    m->logp = mem_on(&l_md, DNNL_MEMORY_ALLOCATE);
    m->dlogits = mem_on(&l_md, DNNL_MEMORY_ALLOCATE);
    dnnl_inner_product_desc_t ipd;
    bf16_check(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_training, &y_md, &wt_md, &b_md, &l_md),
               "head inner_product forward descriptor");
    bf16_check(dnnl_primitive_desc_create(&m->ip_fwd_pd, &ipd, NULL, eng, NULL),
               "head inner_product forward_training primitive");
    bf16_check(dnnl_inner_product_backward_data_desc_init(&ipd, &dy_md, &wt_md, &dl_md),
               "head inner_product backward_data descriptor");
    bf16_check(dnnl_primitive_desc_create(&m->ip_bwd_data_pd, &ipd, NULL, eng, m->ip_fwd_pd),
               "head inner_product backward_data primitive");
    bf16_check(dnnl_inner_product_backward_weights_desc_init(&ipd, &y_md, &w_md, &b_md, &dl_md),
               "head inner_product backward_weights descriptor");
    bf16_check(dnnl_primitive_desc_create(&m->ip_bwd_w_pd, &ipd, NULL, eng, m->ip_fwd_pd),
               "head inner_product backward_weights primitive");
    /* f32: the same memories, no reorder */
    bind_group = -1;
    m->hw_b = bind(m->ip_fwd_pd, DNNL_ARG_WEIGHTS, m->hw_m, 0, "head:weights");
    m->dl_b = bind(m->ip_bwd_w_pd, DNNL_ARG_DIFF_DST, m->dlogits, 0, "head:diff_dst");
    CHECK(dnnl_primitive_create(&m->ip_fwd, m->ip_fwd_pd));
    CHECK(dnnl_primitive_create(&m->ip_bwd_data, m->ip_bwd_data_pd));
    CHECK(dnnl_primitive_create(&m->ip_bwd_w, m->ip_bwd_w_pd));
    dnnl_logsoftmax_desc_t lsd;
    CHECK(dnnl_logsoftmax_forward_desc_init(&lsd, dnnl_forward_training, &l_md, 1));
    CHECK(dnnl_primitive_desc_create(&m->lsm_pd, &lsd, NULL, eng, NULL));
    CHECK(dnnl_primitive_create(&m->lsm, m->lsm_pd));
}

/* Does the RNN backward add into its weight gradients (so that they must
 * be zeroed first) or overwrite them? Asked of the library once: two
 * backward passes of the same window must give the same gradients. */
static void probe_accumulate(model *m)
{
    group *g = &m->g[0];
    size_t n = mem_floats(g->b_db.prim);
    float *d = mem_ptr(g->b_db.prim);
    m->diff_weights_accumulate = 1;  /* zeroed before each pass here */
    float *first = falloc(n);
    group_forward(m, g);
    /* some nonzero output gradient */
    float *dd = mem_ptr(g->diff_dst_layer);
    size_t nd = mem_floats(g->diff_dst_layer);
    for (size_t i = 0; i < nd; i++) dd[i] = 1e-3f * (float)((i % 7) + 1);
    group_backward(m, g);
    memcpy(first, d, n * sizeof(float));
    m->diff_weights_accumulate = 0;
    group_backward(m, g);
    double diff = 0;
    for (size_t i = 0; i < n; i++) diff += fabs(d[i] - first[i]);
    m->diff_weights_accumulate = diff > 0;
    free(first);
    memset(dd, 0, nd * sizeof(float));
}

/* ---------------------------------------------------------------- one step */

typedef struct run {
    const int *data;
    size_t per_stream;
    long windows, w, t;
} run;

static float train_step(model *m, run *r)
{
    int V = m->V, T = m->T, N = m->B;
    if (r->w >= r->windows) {
        r->w = 0;
        for (int k = 0; k < m->ngroups; k++) group_reset(m, &m->g[k]);
    }
    long w = r->w++;
    /* The one-hot window: clear the last window's ones, set this one's. */
    float *x = mem_ptr(m->g[0].src_layer);
    uint16_t *xb = (uint16_t *)x; /* bf16: 1.0 is 0x3f80 */
    for (int t = 0; t < T; t++)
        for (int b = 0; b < N; b++) {
            size_t i = (size_t)t * N + b;
            int c = r->data[(size_t)b * r->per_stream + (size_t)w * T + t];
            if (m->dt == dnnl_bf16) {
                xb[i * V + m->prev_in[i]] = 0;
                xb[i * V + c] = 0x3f80;
            } else {
                x[i * V + m->prev_in[i]] = 0.0f;
                x[i * V + c] = 1.0f;
            }
            m->prev_in[i] = c;
        }

    for (int k = 0; k < m->ngroups; k++) group_forward(m, &m->g[k]);

    run_reorder(&m->hw_b);
    exec(m->ip_fwd, 4,
         (dnnl_exec_arg_t[]){{DNNL_ARG_SRC, m->y}, {DNNL_ARG_WEIGHTS, m->hw_b.prim}, {DNNL_ARG_BIAS, m->hb_m},
                             {DNNL_ARG_DST, m->logits}});
    exec(m->lsm, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_SRC, m->logits}, {DNNL_ARG_DST, m->logp}});

    /* F.cross_entropy (mean) and its gradient: (softmax - onehot) / (T*N) */
    const float *lp = mem_ptr(m->logp);
    float *dl = mem_ptr(m->dlogits);
    long rows = (long)T * N;
    float scale = 1.0f / (float)rows;
    double loss = 0;
#pragma omp parallel for reduction(+ : loss) schedule(static) if (rows * V >= PAR_MIN)
    for (long i = 0; i < rows; i++) {
        int t = (int)(i / N), b = (int)(i % N);
        int y = r->data[(size_t)b * r->per_stream + (size_t)w * T + t + 1];
        const float *p = lp + (size_t)i * V;
        float *d = dl + (size_t)i * V;
        loss -= p[y];
        for (int v = 0; v < V; v++) d[v] = expf(p[v]) * scale;
        d[y] -= scale;
    }
    loss /= (double)rows;

    run_reorder(&m->dl_b);
    exec(m->ip_bwd_data, 3,
         (dnnl_exec_arg_t[]){{DNNL_ARG_DIFF_DST, m->dl_b.prim}, {DNNL_ARG_WEIGHTS, m->hw_b.prim},
                             {DNNL_ARG_DIFF_SRC, m->dy}});
    exec(m->ip_bwd_w, 4,
         (dnnl_exec_arg_t[]){{DNNL_ARG_SRC, m->y}, {DNNL_ARG_DIFF_DST, m->dl_b.prim},
                             {DNNL_ARG_DIFF_WEIGHTS, m->hdw_m}, {DNNL_ARG_DIFF_BIAS, m->hdb_m}});
    for (int k = m->ngroups - 1; k >= 0; k--) group_backward(m, &m->g[k]);
    for (int k = 0; k < m->ngroups; k++) group_carry(m, &m->g[k]);

    clip_and_adam(5.0f, 2e-3f, ++r->t);
    return (float)loss;
}

/* ---------------------------------------------------------------- sampling */

/* Whether the weights in `user` can be moved into what pd wants for arg. */
static int reorder_ok(const_dnnl_primitive_desc_t pd, int arg, dnnl_memory_t user)
{
    const dnnl_memory_desc_t *want = pd_md(pd, arg), *have;
    CHECK(dnnl_memory_get_memory_desc(user, &have));
    if (dnnl_memory_desc_equal(want, have)) return 1;
    dnnl_primitive_desc_t rpd;
    if (dnnl_reorder_primitive_desc_create(&rpd, have, eng, want, eng, NULL) != dnnl_success) return 0;
    CHECK(dnnl_primitive_desc_destroy(rpd));
    return 1;
}

static void sampler_init(model *m)
{
    int V = m->V, H = m->H;
    for (int k = 0; k < m->ngroups; k++) {
        group *g = &m->g[k];
        dnnl_memory_desc_t in = MD(dnnl_tnc, 1, 1, g->SLC), out = MD(dnnl_tnc, 1, 1, H);
        dnnl_memory_desc_t iter = MD(dnnl_ldnc, g->Lg, 1, 1, H);
        g->s_src_layer = k == 0 ? mem_on(&in, DNNL_MEMORY_ALLOCATE) : m->g[k - 1].s_dst_layer;
        if (k == 0) zero_mem(g->s_src_layer);
        g->s_dst_layer = mem_on(&out, DNNL_MEMORY_ALLOCATE);
        g->s_src_iter = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
        g->s_dst_iter = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
        g->s_src_iter_c = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
        g->s_dst_iter_c = mem_on(&iter, DNNL_MEMORY_ALLOCATE);
        zero_mem(g->s_src_iter);
        zero_mem(g->s_src_iter_c);
        dnnl_rnn_desc_t d = rnn_desc_w(m->cell, dnnl_forward_inference, g->Lg, g->SLC, H, 1, 1, dnnl_f32, NULL, NULL);
        CHECK(dnnl_primitive_desc_create(&g->inf_pd, &d, NULL, eng, NULL));
        if (!reorder_ok(g->inf_pd, DNNL_ARG_WEIGHTS_LAYER, g->u_wl) || !reorder_ok(g->inf_pd, DNNL_ARG_WEIGHTS_ITER, g->u_wi)) {
            /* oneDNN 2.6 has no reorder from the training layout into the
             * packed one its inference primitive picks for lbr_gru at
             * H >= 512: then the weights as training keeps them, or plain
             * ldigo (a reorder every version of oneDNN has). */
            const dnnl_memory_desc_t *hl, *hi;
            CHECK(dnnl_memory_get_memory_desc(g->u_wl, &hl));
            CHECK(dnnl_memory_get_memory_desc(g->u_wi, &hi));
            CHECK(dnnl_primitive_desc_destroy(g->inf_pd));
            d = rnn_desc_w(m->cell, dnnl_forward_inference, g->Lg, g->SLC, H, 1, 1, dnnl_f32, hl, hi);
            const char *how = "the training layout";
            if (dnnl_primitive_desc_create(&g->inf_pd, &d, NULL, eng, NULL) != dnnl_success) {
                int G = GATES[m->cell];
                dnnl_memory_desc_t pl = MD(dnnl_ldigo, g->Lg, 1, g->SLC, G, H), pi = MD(dnnl_ldigo, g->Lg, 1, H, G, H);
                d = rnn_desc_w(m->cell, dnnl_forward_inference, g->Lg, g->SLC, H, 1, 1, dnnl_f32, &pl, &pi);
                CHECK(dnnl_primitive_desc_create(&g->inf_pd, &d, NULL, eng, NULL));
                how = "plain ldigo";
            }
            fprintf(stderr, "dnnl_charlm: sampling group %d: no reorder into the inference primitive's weight layout; its weights in %s\n",
                    k, how);
        }
        CHECK(dnnl_primitive_create(&g->inf, g->inf_pd));
        /* the trained weights, once, in the layout the primitive chose */
        bias_combine(m, g);
        bind_group = k;
        g->s_wl = bind(g->inf_pd, DNNL_ARG_WEIGHTS_LAYER, g->u_wl, 0, "sample:weights_layer");
        g->s_wi = bind(g->inf_pd, DNNL_ARG_WEIGHTS_ITER, g->u_wi, 0, "sample:weights_iter");
        g->s_b = bind(g->inf_pd, DNNL_ARG_BIAS, g->u_b, 0, "sample:bias");
        run_reorder(&g->s_wl);
        run_reorder(&g->s_wi);
        run_reorder(&g->s_b);
    }
    dnnl_memory_desc_t y_md = MD(dnnl_nc, 1, H), w_md = MD(dnnl_oi, V, H), b_md = MD(dnnl_x, V);
    dnnl_memory_desc_t l_md = MD(dnnl_nc, 1, V);
    m->s_y = mem_on(&y_md, mem_ptr(m->g[m->ngroups - 1].s_dst_layer));
    m->s_logits = mem_on(&l_md, DNNL_MEMORY_ALLOCATE);
    m->s_prob = mem_on(&l_md, DNNL_MEMORY_ALLOCATE);
    dnnl_inner_product_desc_t ipd;
    CHECK(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &y_md, &w_md, &b_md, &l_md));
    CHECK(dnnl_primitive_desc_create(&m->s_ip_pd, &ipd, NULL, eng, NULL));
    CHECK(dnnl_primitive_create(&m->s_ip, m->s_ip_pd));
    dnnl_softmax_desc_t sd;
    CHECK(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &l_md, 1));
    CHECK(dnnl_primitive_desc_create(&m->s_sm_pd, &sd, NULL, eng, NULL));
    CHECK(dnnl_primitive_create(&m->s_sm, m->s_sm_pd));
}

/* n characters, each from the model's distribution after the last. */
static int sample(model *m, int cur, int n)
{
    float *x = mem_ptr(m->g[0].s_src_layer);
    const float *p = mem_ptr(m->s_prob);
    for (int s = 0; s < n; s++) {
        memset(x, 0, (size_t)m->V * sizeof(float));
        x[cur] = 1.0f;
        for (int k = 0; k < m->ngroups; k++) {
            group *g = &m->g[k];
            dnnl_exec_arg_t a[10];
            int na = 0;
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_LAYER, g->s_src_layer};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER, g->s_src_iter};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_LAYER, g->s_wl.prim};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS_ITER, g->s_wi.prim};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, g->s_b.prim};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_LAYER, g->s_dst_layer};
            a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER, g->s_dst_iter};
            if (m->cell == CELL_LSTM) {
                a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC_ITER_C, g->s_src_iter_c};
                a[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST_ITER_C, g->s_dst_iter_c};
            }
            exec(g->inf, na, a);
        }
        for (int k = 0; k < m->ngroups; k++) {
            group *g = &m->g[k];
            dnnl_memory_t t = g->s_src_iter;
            g->s_src_iter = g->s_dst_iter;
            g->s_dst_iter = t;
            t = g->s_src_iter_c;
            g->s_src_iter_c = g->s_dst_iter_c;
            g->s_dst_iter_c = t;
        }
        exec(m->s_ip, 4,
             (dnnl_exec_arg_t[]){{DNNL_ARG_SRC, m->s_y}, {DNNL_ARG_WEIGHTS, m->hw_m}, {DNNL_ARG_BIAS, m->hb_m},
                                 {DNNL_ARG_DST, m->s_logits}});
        exec(m->s_sm, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_SRC, m->s_logits}, {DNNL_ARG_DST, m->s_prob}});
        /* torch.multinomial(p, 1) */
        double sum = 0;
        for (int v = 0; v < m->V; v++) sum += p[v];
        double u = rng_uniform() * sum, c = 0;
        int next = m->V - 1;
        for (int v = 0; v < m->V; v++) {
            c += p[v];
            if (u < c) {
                next = v;
                break;
            }
        }
        cur = next;
    }
    return cur;
}

/* ---------------------------------------------------------------- export */

/* The initial parameters as a safetensors file with PyTorch's names and
 * layouts (rnn.weight_ih_l0 [G*H, in], ..., head.weight, head.bias), so that
 * bench/torch_charlm.py --init FILE starts from the same weights and the two
 * loss curves can be compared value for value (bench/loss_check.sh). */
typedef struct tensor_out {
    char name[64];
    int64_t rows, cols; /* cols 0: a vector */
    float *data;
} tensor_out;

/* PyTorch's gate block for oneDNN's gate block g: LSTM i,f,c,o in both;
 * GRU: oneDNN u(=z),r,o against PyTorch r,z,n. */
static int torch_gate(cell_kind cell, int g)
{
    return cell == CELL_GRU && g < 2 ? 1 - g : g;
}

/* rows [G*H] x cols [in] from oneDNN's plain ldigo (layer l of the group). */
static float *weights_to_torch(const model *m, const float *ldigo, int l, int in)
{
    int G = GATES[m->cell], H = m->H;
    float *t = falloc((size_t)G * H * in);
    const float *src = ldigo + (size_t)l * in * G * H;
    for (int i = 0; i < in; i++)
        for (int g = 0; g < G; g++)
            for (int o = 0; o < H; o++)
                t[((size_t)torch_gate(m->cell, g) * H + o) * in + i] = src[((size_t)i * G + g) * H + o];
    return t;
}

static float *bias_to_torch(const model *m, const float *b, int l)
{
    int G = GATES[m->cell], H = m->H;
    float *t = falloc((size_t)G * H);
    for (int g = 0; g < G; g++)
        for (int o = 0; o < H; o++) t[(size_t)torch_gate(m->cell, g) * H + o] = b[((size_t)l * G + g) * H + o];
    return t;
}

/* A weight tensor (in whatever layout it lives) in plain ldigo. */
static float *plain_ldigo(dnnl_memory_t mem, int Lg, int in, int G, int H)
{
    dnnl_memory_desc_t md = MD(dnnl_ldigo, Lg, 1, in, G, H);
    float *out = falloc((size_t)Lg * in * G * H);
    dnnl_memory_t dst = mem_on(&md, out);
    const dnnl_memory_desc_t *have;
    CHECK(dnnl_memory_get_memory_desc(mem, &have));
    dnnl_primitive_desc_t rpd;
    dnnl_primitive_t r;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, have, eng, &md, eng, NULL));
    CHECK(dnnl_primitive_create(&r, rpd));
    CHECK(dnnl_primitive_execute(r, strm, 2, (dnnl_exec_arg_t[]){{DNNL_ARG_FROM, mem}, {DNNL_ARG_TO, dst}}));
    CHECK(dnnl_primitive_destroy(r));
    CHECK(dnnl_primitive_desc_destroy(rpd));
    CHECK(dnnl_memory_destroy(dst));
    return out;
}

static void export_init(const model *m, const char *path)
{
    tensor_out t[4 * 64 + 2];
    int nt = 0, G = GATES[m->cell], H = m->H;
    for (int k = 0; k < m->ngroups; k++) {
        const group *g = &m->g[k];
        float *wl = plain_ldigo(g->u_wl, g->Lg, g->SLC, G, H), *wi = plain_ldigo(g->u_wi, g->Lg, H, G, H);
        for (int l = 0; l < g->Lg && nt + 4 <= 4 * 64; l++) {
            int layer = k == 0 ? 0 : 1 + l;
            tensor_out *x = &t[nt];
            snprintf(x[0].name, sizeof x[0].name, "rnn.weight_ih_l%d", layer);
            x[0].rows = (int64_t)G * H, x[0].cols = g->SLC, x[0].data = weights_to_torch(m, wl, l, g->SLC);
            snprintf(x[1].name, sizeof x[1].name, "rnn.weight_hh_l%d", layer);
            x[1].rows = (int64_t)G * H, x[1].cols = H, x[1].data = weights_to_torch(m, wi, l, H);
            snprintf(x[2].name, sizeof x[2].name, "rnn.bias_ih_l%d", layer);
            x[2].rows = (int64_t)G * H, x[2].cols = 0, x[2].data = bias_to_torch(m, g->bih->w, l);
            snprintf(x[3].name, sizeof x[3].name, "rnn.bias_hh_l%d", layer);
            x[3].rows = (int64_t)G * H, x[3].cols = 0, x[3].data = bias_to_torch(m, g->bhh->w, l);
            nt += 4;
        }
        free(wl);
        free(wi);
    }
    snprintf(t[nt].name, sizeof t[nt].name, "head.weight");
    t[nt].rows = m->V, t[nt].cols = H, t[nt].data = m->hw->w;
    nt++;
    snprintf(t[nt].name, sizeof t[nt].name, "head.bias");
    t[nt].rows = m->V, t[nt].cols = 0, t[nt].data = m->hb->w;
    nt++;
    /* safetensors: 8-byte little-endian header size, JSON header, data */
    char *hdr = xcalloc(64 + (size_t)nt * 160, 1);
    size_t len = 0, off = 0;
    len += sprintf(hdr + len, "{");
    for (int i = 0; i < nt; i++) {
        size_t bytes = (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1) * sizeof(float);
        if (t[i].cols)
            len += sprintf(hdr + len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%zu,%zu]}",
                           i ? "," : "", t[i].name, (long long)t[i].rows, (long long)t[i].cols, off, off + bytes);
        else
            len += sprintf(hdr + len, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%zu,%zu]}",
                           i ? "," : "", t[i].name, (long long)t[i].rows, off, off + bytes);
        off += bytes;
    }
    len += sprintf(hdr + len, "}");
    while (len % 8) hdr[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) die(path, "cannot write");
    uint64_t n8 = len;
    fwrite(&n8, 8, 1, f);
    fwrite(hdr, 1, len, f);
    for (int i = 0; i < nt; i++) {
        fwrite(t[i].data, sizeof(float), (size_t)t[i].rows * (t[i].cols ? t[i].cols : 1), f);
        if (t[i].data != m->hw->w && t[i].data != m->hb->w) free(t[i].data);
    }
    if (fclose(f)) die(path, "write error");
    free(hdr);
}

/* ---------------------------------------------------------------- main */

static const char *isa_name(dnnl_cpu_isa_t isa)
{
    switch ((int)isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all";
    }
}

static double model_flops(cell_kind cell, int H, int L, int embed)
{
    int G = GATES[cell];
    double f = 0;
    for (int l = 0; l < L; l++) {
        int width = l > 0 ? H : embed;
        f += 2.0 * G * H * (double)(H + width);
    }
    return f;
}

static void json_str(const char *key, const char *s)
{
    printf(",\"%s\":", key);
    if (!s) {
        printf("null");
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: dnnl_charlm [--cell rnn|lstm|gru] [--hidden H] [--layers L] [--batch B] [--seq T]\n"
            "                   [--threads N] [--seconds S] [--warmup S] [--sample-seconds S] [--text FILE]\n"
            "                   [--seed S] [--json] [--loss-steps N] [--init-out FILE] [--bf16] [--version]\n"
            "The oneDNN twin of bench/torch_charlm.py (same options, same JSON keys).\n"
            "--bf16: train on oneDNN's bf16 RNN and inner product (f32 master weights and Adam; JSON impl\n"
            "\"onednn_bf16\"); exits 3, saying which primitive, where oneDNN refuses bf16.\n");
    exit(rc);
}

int main(int argc, char **argv)
{
    const char *cellname = "lstm", *text = NULL, *init_out = NULL;
    int H = 128, L = 2, B = 50, T = 50, threads = 1, json = 0;
    long loss_steps = 0;
    double seconds = 5, warmup = 1, sample_seconds = -1;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        char *arg = argv[i], *val = NULL, *eq = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) usage(0);
        if (!strcmp(arg, "--version")) {
            const dnnl_version_t *v = dnnl_version();
            printf("%d.%d.%d\n", v->major, v->minor, v->patch);
            return 0;
        }
        if (!strcmp(arg, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(arg, "--bf16")) {
            bf16_mode = 1;
            continue;
        }
        if (!strncmp(arg, "--", 2) && (eq = strchr(arg, '='))) {
            *eq = 0;
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            usage(2);
        }
        if (!strcmp(arg, "--cell")) cellname = val;
        else if (!strcmp(arg, "--hidden")) H = atoi(val);
        else if (!strcmp(arg, "--layers")) L = atoi(val);
        else if (!strcmp(arg, "--batch")) B = atoi(val);
        else if (!strcmp(arg, "--seq")) T = atoi(val);
        else if (!strcmp(arg, "--threads")) threads = atoi(val);
        else if (!strcmp(arg, "--seconds")) seconds = atof(val);
        else if (!strcmp(arg, "--warmup")) warmup = atof(val);
        else if (!strcmp(arg, "--sample-seconds")) sample_seconds = atof(val);
        else if (!strcmp(arg, "--text")) text = val;
        else if (!strcmp(arg, "--seed")) seed = strtoull(val, NULL, 10);
        else if (!strcmp(arg, "--loss-steps")) loss_steps = atol(val);
        else if (!strcmp(arg, "--init-out")) init_out = val;
        else {
            fprintf(stderr, "dnnl_charlm: unknown option %s\n", arg);
            usage(2);
        }
    }
    cell_kind cell = !strcmp(cellname, "rnn") ? CELL_RNN : !strcmp(cellname, "lstm") ? CELL_LSTM
                   : !strcmp(cellname, "gru") ? CELL_GRU : (cell_kind)-1;
    if ((int)cell < 0) {
        fprintf(stderr, "dnnl_charlm: --cell must be rnn, lstm or gru\n");
        return 2;
    }
    if (H < 1 || L < 1 || B < 1 || T < 1 || threads < 1) {
        fprintf(stderr, "dnnl_charlm: --hidden, --layers, --batch, --seq and --threads must be positive\n");
        return 2;
    }
    if (sample_seconds < 0) sample_seconds = seconds / 2 > 1.0 ? seconds / 2 : 1.0;

    omp_set_num_threads(threads);
    rng_state = seed;

    /* The default text, found from this program's own directory (build/):
     * ../data/tinyshakespeare.txt, else data/ under the working directory. */
    char pathbuf[4096];
    if (!text) {
        char self[4000];
        ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
        text = "data/tinyshakespeare.txt";
        if (k > 0) {
            self[k] = 0;
            char *slash = strrchr(self, '/');
            if (slash) {
                *slash = 0;
                snprintf(pathbuf, sizeof pathbuf, "%s/../data/tinyshakespeare.txt", self);
                FILE *f = fopen(pathbuf, "rb");
                if (f) {
                    fclose(f);
                    text = pathbuf;
                }
            }
        }
    }
    size_t n;
    int V;
    int *data = read_text(text, &n, &V);
    size_t per_stream = n / (size_t)B;
    if (per_stream < (size_t)T + 1) die(text, "too short for these streams and windows");
    run r = {.data = data, .per_stream = per_stream, .windows = (long)((per_stream - 1) / (size_t)T), .w = 0, .t = 0};

    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    model m = {.cell = cell, .V = V, .H = H, .L = L, .B = B, .T = T, .dt = bf16_mode ? dnnl_bf16 : dnnl_f32};
    model_init(&m);
    int train_reorders = nreorders;
    probe_accumulate(&m);
    if (init_out) export_init(&m, init_out);
    /* start from the initial weights and a zero state, as PyTorch does */
    for (int k = 0; k < m.ngroups; k++) group_reset(&m, &m.g[k]);

    if (loss_steps > 0) {
        for (long s = 1; s <= loss_steps; s++) {
            float loss = train_step(&m, &r);
            printf("{\"step\":%ld,\"train_loss\":%.6f}\n", s, loss);
        }
        return 0;
    }

    double t0 = now_s();
    long warm = 0;
    float loss = 0;
    for (;;) {
        loss = train_step(&m, &r);
        warm++;
        if (now_s() - t0 >= warmup) break;
    }
    long steps = 0;
    double ts = now_s(), cs = cpu_s(), te;
    for (;;) {
        loss = train_step(&m, &r);
        steps++;
        te = now_s();
        if (te - ts >= seconds) break;
    }
    double train_s = te - ts, train_cpu = cpu_s() - cs;
    double train_rate = (double)steps * B * T / train_s;

    /* Batch-1 sampling, temperature 1. */
    sampler_init(&m);
    rng_state = seed ^ 0x5851f42d4c957f2dull;
    int cur = 0;
    long sampled = 0;
    cur = sample(&m, cur, 64);
    double s0 = now_s(), sc0 = cpu_s(), s1;
    for (;;) {
        cur = sample(&m, cur, 64);
        sampled += 64;
        s1 = now_s();
        if (s1 - s0 >= sample_seconds) break;
    }
    double sample_rate = (double)sampled / (s1 - s0), sample_cpu = cpu_s() - sc0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = (double)ru.ru_maxrss / 1024.0;
    double gflops = train_rate * 3 * model_flops(cell, H, L, 0) * 1e-9;
    size_t nparam = 0;
    for (int k = 0; k < nparams; k++) nparam += params[k].real;
    const dnnl_version_t *ver = dnnl_version();
    char version[64];
    snprintf(version, sizeof version, "%d.%d.%d", ver->major, ver->minor, ver->patch);
    const char *isa = isa_name(dnnl_get_effective_cpu_isa());
    group *top = &m.g[m.ngroups - 1];

    if (json) {
        printf("{\"impl\":\"%s\"", bf16_mode ? "onednn_bf16" : "onednn");
        json_str("onednn", version);
        json_str("cell", cellname);
        printf(",\"hidden\":%d,\"layers\":%d,\"embed\":0,\"batch\":%d,\"seq\":%d,\"threads\":%d,\"vocab\":%d,"
               "\"params\":%zu,\"bf16\":%d",
               H, L, B, T, threads, V, nparam, bf16_mode);
        printf(",\"train_steps\":%ld,\"train_seconds\":%.3f,\"train_chars_per_s\":%.1f,\"sample_chars\":%ld,"
               "\"sample_chars_per_s\":%.1f,\"peak_rss_mib\":%.2f,\"gflops\":%.3f,\"train_cpu_seconds\":%.3f,"
               "\"sample_seconds\":%.3f,\"sample_cpu_seconds\":%.3f",
               steps, train_s, train_rate, sampled, sample_rate, rss, gflops, train_cpu, s1 - s0, sample_cpu);
        json_str("openblas_num_threads", getenv("OPENBLAS_NUM_THREADS"));
        json_str("openblas_coretype", getenv("OPENBLAS_CORETYPE"));
        json_str("onednn_isa", isa);
        json_str("onednn_max_cpu_isa", getenv("ONEDNN_MAX_CPU_ISA") ? getenv("ONEDNN_MAX_CPU_ISA")
                                                                    : getenv("DNNL_MAX_CPU_ISA"));
        json_str("onednn_impl", pd_impl(m.g[0].fwd_pd));
        json_str("onednn_impl_bwd", pd_impl(m.g[0].bwd_pd));
        json_str("onednn_impl_top", pd_impl(top->fwd_pd));
        json_str("onednn_impl_top_bwd", pd_impl(top->bwd_pd));
        json_str("onednn_impl_head", pd_impl(m.ip_fwd_pd));
        json_str("onednn_impl_head_bwd", pd_impl(m.ip_bwd_w_pd));
        json_str("onednn_impl_logsoftmax", pd_impl(m.lsm_pd));
        json_str("onednn_impl_sample", pd_impl(m.g[0].inf_pd));
        printf(",\"onednn_reorders_per_step\":%d", train_reorders);
        json_str("onednn_reorders", reorder_names);
        printf(",\"onednn_diff_weights_accumulate\":%s,\"train_loss\":%.4f}\n",
               m.diff_weights_accumulate ? "true" : "false", loss);
    } else {
        printf("oneDNN %s bench%s: %s H%d L%d B%d T%d, %d thread(s), V=%d, %zu parameters\n", version,
               bf16_mode ? " (bf16 training)" : "", cellname, H, L, B, T, threads, V, nparam);
        printf("  isa %s; rnn %s (backward %s); head %s\n", isa, pd_impl(m.g[0].fwd_pd), pd_impl(m.g[0].bwd_pd),
               pd_impl(m.ip_fwd_pd));
        printf("  train   %12.0f chars/s  (%ld steps in %.2f s after %ld warm-up; loss %.4f)\n", train_rate, steps,
               train_s, warm, loss);
        printf("  sample  %12.0f chars/s  (batch 1, %ld chars)\n", sample_rate, sampled);
        printf("  peak RSS %11.1f MiB\n", rss);
        printf("  GEMM    %12.2f GFLOP/s\n", gflops);
    }
    return 0;
}
