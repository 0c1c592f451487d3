/*
 * task_lm.c - the language model as a task of the training engine: B
 * streams over one long text, windows of T characters, the hidden state
 * carried from one window to the next (truncated BPTT) and restarted at
 * each new epoch; validation is the mean loss over the held-out streams;
 * progress samples come from the model being trained. Its state file holds
 * what `recur train --resume` has always read (docs/format.md).
 */
#include "formats/checkpoint.h"
#include "train/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lm_task {
    train_task base;
    recur_model *m;
    recur_train_config cfg;
    text_batcher tb, vb;
    int have_val;
    workspace *ws, *vws;
    int32_t *in, *tgt;
    char names[2 * 64][24]; /* state tensor names, alive until the state is written */
    int64_t *pos;
    size_t *decay;          /* the model's weight matrices, for weight decay */
    char window[32], epoch[32], seq[16], batch[16];
    /* data-parallel (lm_shard): this rank's streams [lo, lo + b) of B and
     * validation streams [vlo, vhi), its inputs, the whole batch's carried
     * state gathered for a state file ([2L][B*H]) */
    int lo, b, vlo, vhi;
    int32_t *lin, *ltgt;
    float *gathered;
} lm_task;

// The byte offset where the last frac of the text (by bytes, moved forward to
// a character boundary) begins.
static size_t split_point(const uint8_t *s, size_t len, double frac, int bytes)
{
    size_t at = (size_t)((double)len * (1.0 - frac));
    if (at > len) at = len;
    while (!bytes && at < len && (s[at] & 0xC0) == 0x80) at++;
    return at;
}

static char *train_meta_json(const recur_train_config *c)
{
    strbuf b;
    sb_init(&b);
    sb_printf(&b,
              "{\"seq\":%d,\"batch\":%d,\"optim\":\"%s\",\"lr\":%.9g,\"lr_decay\":%.9g,"
              "\"lr_decay_every\":%d,\"clip\":%.9g,\"clip_mode\":\"%s\",\"seed\":%llu,"
              "\"val_frac\":%.9g",
              c->seq, c->batch, optim_name(c->optim), (double)c->lr, (double)c->lr_decay,
              c->lr_decay_every, (double)c->clip, c->clip_mode == RECUR_CLIP_VALUE ? "value" : "norm",
              (unsigned long long)c->seed, c->val_frac);
    // Settings that came with the engine are written only when used, so a
    // run with the old settings writes the old bytes.
    if (c->schedule != RECUR_SCHED_STEP) sb_printf(&b, ",\"schedule\":\"%s\"", recur_schedule_name(c->schedule));
    if (c->warmup) sb_printf(&b, ",\"warmup\":%lld", c->warmup);
    if (c->lr_min > 0) sb_printf(&b, ",\"lr_min\":%.9g", (double)c->lr_min);
    if (engine_bf16(c)) sb_printf(&b, ",\"bf16\":1");
    if (c->recompute) sb_printf(&b, ",\"recompute\":1");
    sb_putc(&b, '}');
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    return b.s;
}

/* ---------------------------------------------------------------- the task's operations */

static long long lm_steps_per_epoch(train_task *bt)
{
    return (long long)((lm_task *)bt)->tb.windows_per_epoch;
}

static double lm_epoch(train_task *bt)
{
    lm_task *t = (lm_task *)bt;
    return (double)t->tb.epoch + (double)t->tb.window / (double)t->tb.windows_per_epoch;
}

// One window: forward from the carried state, softmax cross-entropy over
// all T*B positions, backward, then carry the final state to the next window.
static int lm_step(train_task *bt, float *const *g, rng *drop, double *loss, long long *chars,
                   recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_model *m = t->m;
    const int N = t->cfg.seq * t->cfg.batch;
    int new_epoch;
    int rc = batcher_next(&t->tb, t->in, t->tgt, &new_epoch, err);
    if (rc) return rc;
    if (new_epoch) ws_zero_state(m, t->ws);
    if (t->base.nranks > 1) {
        // This rank's streams of the window; its part of the mean over all T*B.
        const int T = t->cfg.seq, B = t->cfg.batch, b = t->b;
        for (int s = 0; s < T; s++) {
            memcpy(t->lin + (size_t)s * b, t->in + (size_t)s * B + t->lo, sizeof(int32_t) * (size_t)b);
            memcpy(t->ltgt + (size_t)s * b, t->tgt + (size_t)s * B + t->lo, sizeof(int32_t) * (size_t)b);
        }
        model_forward(m, t->ws, t->lin, model_has_dropout(m) ? drop : NULL);
        *loss = softmax_xent_over(t->ws->logits, t->ltgt, T * b, m->O, 1, (double)N, NULL) / N;
        model_backward(m, t->ws, g[0]);
        ws_carry_state(m, t->ws);
        *chars = (long long)T * b;
        return RECUR_OK;
    }
    model_forward(m, t->ws, t->in, model_has_dropout(m) ? drop : NULL);
    *loss = softmax_xent(t->ws->logits, t->tgt, N, m->O, 1, NULL) / N;
    model_backward(m, t->ws, g[0]);
    ws_carry_state(m, t->ws);
    *chars = N;
    return RECUR_OK;
}

static void lm_after_skip(train_task *bt)
{
    lm_task *t = (lm_task *)bt;
    ws_zero_state(t->m, t->ws);
}

static void lm_touch(train_task *bt)
{
    ((lm_task *)bt)->m->version++;
}

static int lm_has_val(train_task *bt)
{
    return ((lm_task *)bt)->have_val;
}

// Mean loss over one pass of the validation streams, state from zero.
static int lm_validate(train_task *bt, engine_val *v, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    text_batcher *b = &t->vb;
    workspace *ws = t->vws;
    const int N = ws->T * ws->B;
    batcher_rewind(b);
    ws_zero_state(t->m, ws);
    size_t windows = b->windows_per_epoch;
    if (t->cfg.val_max_chars > 0) {
        size_t cap = (size_t)(t->cfg.val_max_chars / N);
        if (cap < 1) cap = 1;
        if (cap < windows) windows = cap;
    }
    double total = 0;
    long long count = 0;
    for (size_t w = 0; w < windows; w++) {
        int new_epoch, counted;
        int rc = batcher_next(b, t->in, t->tgt, &new_epoch, err);
        if (rc) return rc;
        model_forward(t->m, ws, t->in, NULL);
        ws_carry_state(t->m, ws);
        total += softmax_xent(ws->logits, t->tgt, N, t->m->O, 0, &counted);
        count += counted;
    }
    v->loss = count ? total / (double)count : NAN;
    v->metric = NAN;
    return RECUR_OK;
}

// Validation's sums over this rank's validation streams (the same windows
// as lm_validate: the cap counts the whole batch's characters).
static int lm_validate_part(train_task *bt, engine_valsum *v, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    text_batcher *b = &t->vb;
    const int T = t->cfg.seq, nb = t->vhi - t->vlo;
    if (nb <= 0) return RECUR_OK;
    workspace *ws = t->vws;
    batcher_rewind(b);
    ws_zero_state(t->m, ws);
    size_t windows = b->windows_per_epoch;
    if (t->cfg.val_max_chars > 0) {
        size_t cap = (size_t)(t->cfg.val_max_chars / ((long long)T * b->B));
        if (cap < 1) cap = 1;
        if (cap < windows) windows = cap;
    }
    for (size_t w = 0; w < windows; w++) {
        int new_epoch, counted;
        int rc = batcher_next(b, t->in, t->tgt, &new_epoch, err);
        if (rc) return rc;
        for (int s = 0; s < T; s++) {
            memcpy(t->lin + (size_t)s * nb, t->in + (size_t)s * b->B + t->vlo, sizeof(int32_t) * (size_t)nb);
            memcpy(t->ltgt + (size_t)s * nb, t->tgt + (size_t)s * b->B + t->vlo, sizeof(int32_t) * (size_t)nb);
        }
        model_forward(t->m, ws, t->lin, NULL);
        ws_carry_state(t->m, ws);
        v->loss_sum += softmax_xent(ws->logits, t->ltgt, T * nb, t->m->O, 0, &counted);
        v->count += counted;
    }
    return RECUR_OK;
}

static void lm_set_progress(train_task *bt, long long steps, double best_loss, double best_metric)
{
    lm_task *t = (lm_task *)bt;
    t->m->steps = steps;
    t->m->best_val = best_loss;
    (void)best_metric;
}

static int lm_write(train_task *bt, const char *path, const engine_extra *x, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    if (!x) return recur_model_save(t->m, path, err);
    return checkpoint_write(t->m, x->e, x->ne, x->kv, x->nkv, path, err);
}

// The carried state of every layer and each stream's position in the text.
static int lm_state_add(train_task *bt, engine_extra *x, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_model *m = t->m;
    const int B = t->cfg.batch;
    float *hs[64], *cs[64];
    for (int l = 0; l < m->L; l++) {
        hs[l] = t->ws->hs[l];
        cs[l] = m->cell->has_c ? t->ws->cs[l] : NULL;
    }
    if (t->base.nranks > 1) {
        // Every stream's carried state: each rank adds its rows into zeros.
        const size_t BH = (size_t)B * m->H, bh = (size_t)t->b * m->H, at = (size_t)t->lo * m->H;
        memset(t->gathered, 0, 2 * (size_t)m->L * BH * sizeof(float));
        for (int l = 0; l < m->L; l++) {
            hs[l] = t->gathered + 2 * (size_t)l * BH;
            memcpy(hs[l] + at, t->ws->hs[l], bh * sizeof(float));
            if (cs[l]) {
                cs[l] = hs[l] + BH;
                memcpy(cs[l] + at, t->ws->cs[l], bh * sizeof(float));
            }
        }
        int rc = engine_sum_f32(bt, t->gathered, 2 * (size_t)m->L * BH, err);
        if (rc) return rc;
    }
    for (int l = 0; l < m->L; l++) {
        snprintf(t->names[2 * l], sizeof t->names[0], "train.h.l%d", l);
        extra_tensor(x, (st_entry){t->names[2 * l], ST_F32, 2, {(uint64_t)B, (uint64_t)m->H}, hs[l]});
        if (m->cell->has_c) {
            snprintf(t->names[2 * l + 1], sizeof t->names[0], "train.c.l%d", l);
            extra_tensor(x, (st_entry){t->names[2 * l + 1], ST_F32, 2, {(uint64_t)B, (uint64_t)m->H}, cs[l]});
        }
    }
    for (int i = 0; i < B; i++) t->pos[i] = (int64_t)t->tb.pos[i];
    extra_tensor(x, (st_entry){"train.pos", ST_I64, 1, {(uint64_t)B}, t->pos});
    snprintf(t->window, sizeof t->window, "%zu", t->tb.window);
    snprintf(t->epoch, sizeof t->epoch, "%lld", t->tb.epoch);
    snprintf(t->seq, sizeof t->seq, "%d", t->cfg.seq);
    snprintf(t->batch, sizeof t->batch, "%d", B);
    extra_meta(x, "recur.state.window", t->window);
    extra_meta(x, "recur.state.epoch", t->epoch);
    extra_meta(x, "recur.state.seq", t->seq);
    extra_meta(x, "recur.state.batch", t->batch);
    (void)err;
    return RECUR_OK;
}

// A language model predicts the next character of one stream read left to
// right: its head has one output per character, it has one direction and no
// class input. The kernels index its logits by character id, so anything else
// must never reach them.
static int model_check_lm(const recur_model *m, recur_error *err)
{
    return model_check_kind(m, MODEL_KIND_LM, "recur_trainer_new (recur train)", err);
}

// Whether saved is this very model: its kind, shape and vocabulary.
static int same_model(const recur_model *m, const recur_model *saved, const char *path,
                      recur_error *err)
{
    int rc = model_check_lm(saved, err);
    if (rc) {
        error_prefix(err, path);
        return rc;
    }
    if (saved->cfg.cell != m->cfg.cell || saved->H != m->H || saved->L != m->L ||
        saved->E != m->E || saved->V != m->V || saved->cfg.relu != m->cfg.relu)
        return set_error(err, RECUR_EINVAL, "%s is a %s (hidden %d, %d layers, vocabulary %d), not the %s (hidden %d, %d layers, vocabulary %d) being trained",
                         path, saved->cell->name, saved->H, saved->L, saved->V, m->cell->name, m->H, m->L, m->V);
    char what[64];
    if (model_dropout_differs(saved, m, what, sizeof what))
        return set_error(err, RECUR_EINVAL, "%s was trained with %s; resume with the same settings", path, what);
    if (saved->nw != m->nw) // implied by the above; the copies below rely on it
        return set_error(err, RECUR_EINVAL, "%s holds %zu parameters, the model being trained %zu", path, saved->nw, m->nw);
    for (int i = 0; i < m->V; i++)
        if (saved->vocab->chars[i] != m->vocab->chars[i] || saved->vocab->bytes != m->vocab->bytes)
            return set_error(err, RECUR_EINVAL, "%s has a different vocabulary from this text", path);
    return RECUR_OK;
}

static int state_tensor(const st_file *f, const char *name, float *dst, size_t n,
                        recur_error *err)
{
    const st_tensor *tt = st_find(f, name);
    if (!tt) return set_error(err, RECUR_EFORMAT, "not a resumable state: tensor \"%s\" is missing", name);
    return st_copy_f32(tt, dst, n, err);
}

static int lm_state_read(train_task *bt, const st_file *f, const char *path, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_model *m = t->m, *saved = NULL;
    int rc = checkpoint_read_model(f, &saved, err);
    if (rc) {
        error_prefix(err, path);
        return rc;
    }
    if ((rc = same_model(m, saved, path, err))) goto done;
    long seq, batch, window, epoch;
    if ((rc = meta_int(f, "recur.state.seq", 1, 100000, 1, 0, &seq, err)) ||
        (rc = meta_int(f, "recur.state.batch", 1, 100000, 1, 0, &batch, err)) ||
        (rc = meta_int(f, "recur.state.window", 0, 0x7fffffffL, 1, 0, &window, err)) ||
        (rc = meta_int(f, "recur.state.epoch", 0, 0x7fffffffL, 1, 0, &epoch, err)))
        goto done;
    if (seq != t->cfg.seq || batch != t->cfg.batch) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained with --seq %ld --batch %ld; resume with the same values (got --seq %d --batch %d)",
                       path, seq, batch, t->cfg.seq, t->cfg.batch);
        goto done;
    }
    if ((size_t)window > t->tb.windows_per_epoch) {
        rc = set_error(err, RECUR_EFORMAT, "%s: data position is past the end of this text (was it trained on another file?)", path);
        goto done;
    }
    const st_tensor *pt = st_find(f, "train.pos");
    if (!pt || pt->dtype != ST_I64 || pt->nelem != (uint64_t)t->cfg.batch) {
        rc = set_error(err, RECUR_EFORMAT, "%s: tensor \"train.pos\" is missing or not I64 [%d]", path, t->cfg.batch);
        goto done;
    }
    for (int i = 0; i < t->cfg.batch; i++) {
        int64_t p;
        memcpy(&p, pt->data + 8 * (size_t)i, 8);
        if (p < (int64_t)t->tb.start[i] || (size_t)p > t->tb.len) {
            rc = set_error(err, RECUR_EFORMAT, "%s: data position of stream %d is outside this text", path, i);
            goto done;
        }
        // Before the epoch's end a stream must still hold its next window:
        // T+1 characters (of this vocabulary) inside its own part of the text,
        // read from a character's first byte. The batcher, trusting its own
        // positions, would otherwise read into the next stream, past the end
        // of the text, or from inside a character.
        if ((size_t)window < t->tb.windows_per_epoch) {
            const size_t end = i + 1 < t->cfg.batch ? t->tb.start[i + 1] : t->tb.len;
            size_t at = (size_t)p;
            int chars = 0;
            uint32_t cp;
            while (chars < t->cfg.seq + 1 && at < end &&
                   vocab_next_id(t->m->vocab, t->tb.s, end, &at, &cp) >= 0)
                chars++;
            if (chars < t->cfg.seq + 1) {
                rc = set_error(err, RECUR_EFORMAT, "%s: data position of stream %d does not start a window of this text", path, i);
                goto done;
            }
        }
    }
    // Everything checked but the carried state's tensors; read them, then take the rest.
    // A state written by any number of ranks holds every stream: a rank
    // takes its rows (read whole, then copied: nothing is taken on failure).
    const size_t BH = (size_t)t->cfg.batch * m->H;
    const int sharded = t->base.nranks > 1;
    char name[32];
    for (int l = 0; l < m->L && !rc; l++) {
        float *h = sharded ? t->gathered + 2 * (size_t)l * BH : t->ws->hs[l];
        snprintf(name, sizeof name, "train.h.l%d", l);
        rc = state_tensor(f, name, h, BH, err);
        if (!rc && m->cell->has_c) {
            snprintf(name, sizeof name, "train.c.l%d", l);
            rc = state_tensor(f, name, sharded ? h + BH : t->ws->cs[l], BH, err);
        }
    }
    if (rc) goto done;
    for (int l = 0; sharded && l < m->L; l++) {
        const size_t bh = (size_t)t->b * m->H, at = (size_t)t->lo * m->H;
        const float *h = t->gathered + 2 * (size_t)l * BH;
        memcpy(t->ws->hs[l], h + at, bh * sizeof(float));
        if (m->cell->has_c) memcpy(t->ws->cs[l], h + BH + at, bh * sizeof(float));
    }
    for (int i = 0; i < t->cfg.batch; i++) {
        int64_t p;
        memcpy(&p, pt->data + 8 * (size_t)i, 8);
        t->tb.pos[i] = (size_t)p;
    }
    memcpy(m->w, saved->w, m->nw * sizeof(float));
    t->tb.window = (size_t)window;
    t->tb.epoch = epoch;
done:
    recur_model_free(saved);
    return rc;
}

static int lm_load_weights(train_task *bt, const char *path, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_model *saved = NULL;
    int rc = recur_model_load(path, &saved, err);
    if (!rc) rc = same_model(t->m, saved, path, err);
    if (!rc) memcpy(t->m->w, saved->w, t->m->nw * sizeof(float));
    recur_model_free(saved);
    return rc;
}

// A progress sample: its own generator seeded from the step, so sampling
// never disturbs the training's random numbers.
static int lm_sample(train_task *bt, long long step, strbuf *out, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.seed = t->cfg.seed * 1000003u + (uint64_t)step;
    recur_sampler *s = NULL;
    int rc = recur_sampler_new(t->m, &sc, &s, err);
    if (rc) return rc;
    // Prime with a newline when the text has one (a natural start), else the first character.
    int nl = recur_vocab_id(t->m->vocab, '\n');
    char first[4];
    int flen = t->m->vocab->bytes ? (first[0] = (char)t->m->vocab->chars[0], 1)
                                  : utf8_encode(t->m->vocab->chars[0], first);
    rc = nl >= 0 ? recur_sampler_prime(s, "\n", 1, err) : recur_sampler_prime(s, first, (size_t)flen, err);
    for (int i = 0; !rc && i < t->cfg.sample_len; i++) {
        char c[4];
        int n;
        rc = recur_sampler_next(s, c, &n, err);
        if (!rc) sb_putn(out, c, (size_t)n);
    }
    recur_sampler_free(s);
    return rc;
}

static recur_model *lm_model(train_task *bt)
{
    return ((lm_task *)bt)->m;
}

static void lm_free(train_task *bt)
{
    lm_task *t = (lm_task *)bt;
    batcher_free(&t->tb);
    batcher_free(&t->vb);
    ws_free(t->m, t->ws);
    ws_free(t->m, t->vws);
    free(t->in);
    free(t->tgt);
    free(t->pos);
    free(t->lin);
    free(t->ltgt);
    free(t->gathered);
    free(t->decay);
    free(t);
}

// This rank's streams: a workspace of B/N rows whose dropout masks are those
// rows of the whole batch's, and its share of the validation streams.
static int lm_shard(train_task *bt, recur_error *err)
{
    lm_task *t = (lm_task *)bt;
    recur_model *m = t->m;
    const int T = t->cfg.seq, B = t->cfg.batch, r = bt->rank, N = bt->nranks;
    long long lo, hi;
    engine_share(B, r, N, &lo, &hi);
    t->lo = (int)lo;
    t->b = (int)(hi - lo);
    workspace *ws = NULL;
    int rc = ws_new(m, T, t->b, t->cfg.threads, &ws, err);
    if (!rc) rc = ws_set_bf16(m, ws, t->cfg.bf16, err);
    if (!rc) rc = ws_set_recompute(m, ws, t->cfg.recompute, err);
    if (rc) {
        ws_free(m, ws);
        return rc;
    }
    ws_free(m, t->ws);
    t->ws = ws;
    ws->training = 1;
    ws->drop_T = T;
    ws->drop_B = B;
    ws->drop_off = t->lo;
    ws_zero_state(m, ws);
    if (t->have_val) {
        engine_share(t->vb.B, r, N, &lo, &hi);
        t->vlo = (int)lo;
        t->vhi = (int)hi;
        ws_free(m, t->vws);
        t->vws = NULL;
        if (hi > lo && (rc = ws_new(m, T, (int)(hi - lo), t->cfg.threads, &t->vws, err))) return rc;
        if (t->vws && (rc = ws_set_recompute(m, t->vws, t->cfg.recompute, err))) return rc;
    }
    t->lin = calloc((size_t)T * B, sizeof(int32_t));
    t->ltgt = calloc((size_t)T * B, sizeof(int32_t));
    t->gathered = calloc(2 * (size_t)m->L * B * m->H, sizeof(float));
    if (!t->lin || !t->ltgt || !t->gathered) return set_error(err, RECUR_ENOMEM, "out of memory");
    return RECUR_OK;
}

// The vocabulary and the text (when it is in memory; else its length).
static uint64_t lm_fingerprint(train_task *bt)
{
    lm_task *t = (lm_task *)bt;
    const recur_vocab *v = t->m->vocab;
    uint64_t h = engine_fnv(ENGINE_FNV0, v->chars, sizeof v->chars[0] * (size_t)t->m->V);
    float s[5];
    model_train_settings(t->m, s);
    h = engine_fnv(h, s, sizeof s);
    const text_batcher *b[2] = {&t->tb, t->have_val ? &t->vb : NULL};
    for (int i = 0; i < 2; i++) {
        if (!b[i]) continue;
        h = engine_fnv(h, &b[i]->len, sizeof b[i]->len);
        if (b[i]->s) h = engine_fnv(h, b[i]->s, b[i]->len);
    }
    return h;
}

static const train_task_ops lm_ops = {
    .name = "lm",
    .metric = NULL,
    .best_by_metric = 0,
    .steps_per_epoch = lm_steps_per_epoch,
    .epoch = lm_epoch,
    .step = lm_step,
    .after_skip = lm_after_skip,
    .touch = lm_touch,
    .has_val = lm_has_val,
    .validate = lm_validate,
    .set_progress = lm_set_progress,
    .write = lm_write,
    .state_add = lm_state_add,
    .state_read = lm_state_read,
    .load_weights = lm_load_weights,
    .sample = lm_sample,
    .model = lm_model,
    .report = NULL,
    .free = lm_free,
    .shard = lm_shard,
    .validate_part = lm_validate_part,
    .fingerprint = lm_fingerprint,
};

/* ---------------------------------------------------------------- construction */

int recur_trainer_new(recur_model *m, const recur_train_config *cfg, const char *train,
                      size_t train_len, const char *val, size_t val_len, recur_trainer **out,
                      recur_error *err)
{
    if (!m || !cfg || !out || !train) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = engine_check_config(cfg, err);
    if (rc) return rc;
    if (cfg->seq < 1 || cfg->seq > 100000)
        return set_error(err, RECUR_EINVAL, "--seq must be 1..100000, got %d", cfg->seq);
    if ((rc = model_check_lm(m, err))) return rc;
    // One window's activations are indexed with int products (rows T*B,
    // elements T*B*H): keep them well inside int.
    if ((double)cfg->seq * cfg->batch * (m->D * m->H > m->O ? m->D * m->H : m->O) > 2e9 ||
        (double)cfg->seq * cfg->batch * m->G * m->H > 2e9)
        return set_error(err, RECUR_EINVAL, "--seq %d x --batch %d is too large a window for this model (%d units, %d outputs)",
                         cfg->seq, cfg->batch, m->H, m->O);
    lm_task *t = calloc(1, sizeof *t);
    if (!t) return set_error(err, RECUR_ENOMEM, "out of memory");
    t->base.ops = &lm_ops;
    t->base.buf[0] = (engine_buf){.w = m->w, .n = m->nw, .name = ""};
    t->base.nbuf = 1;
    if (!(t->decay = calloc(2 * (size_t)m->nviews, sizeof *t->decay))) {
        free(t);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    t->base.buf[0].decay = t->decay;
    t->base.buf[0].ndecay = model_matrix_ranges(m, t->decay);
    t->base.unit = "characters";
    t->m = m;
    t->cfg = *cfg;

    const uint8_t *tr = (const uint8_t *)train, *va = (const uint8_t *)val;
    size_t tr_len = train_len;
    if (!va && cfg->val_frac > 0) {
        size_t at = split_point(tr, train_len, cfg->val_frac, m->vocab->bytes);
        va = tr + at;
        val_len = train_len - at;
        tr_len = at;
    }
    const int T = cfg->seq, B = cfg->batch;
    rc = batcher_init(&t->tb, m->vocab, tr, tr_len, B, T, err);
    if (rc) goto fail;
    if (va && val_len) {
        // Validation uses as many streams as it has room for, up to B.
        size_t vchars = 0;
        if ((rc = text_count_chars(va, val_len, m->vocab->bytes, &vchars, err))) goto fail;
        size_t vb = vchars / (size_t)(T + 1);
        if (vb < 1) {
            rc = set_error(err, RECUR_EINVAL, "validation text too short: %zu characters, but --seq %d needs at least %d (raise --val-frac or lower --seq)",
                           vchars, T, T + 1);
            goto fail;
        }
        if (vb > (size_t)B) vb = (size_t)B;
        if ((rc = batcher_init(&t->vb, m->vocab, va, val_len, (int)vb, T, err))) goto fail;
        if ((rc = ws_new(m, T, (int)vb, cfg->threads, &t->vws, err))) goto fail;
        // Validation runs forward only, chunk by chunk as training does: it
        // keeps no more gates than training.
        if ((rc = ws_set_recompute(m, t->vws, cfg->recompute, err))) goto fail;
        t->have_val = 1;
    }
    if ((rc = ws_new(m, T, B, cfg->threads, &t->ws, err))) goto fail;
    if ((rc = ws_set_bf16(m, t->ws, cfg->bf16, err))) goto fail;
    if ((rc = ws_set_recompute(m, t->ws, cfg->recompute, err))) goto fail;
    t->cfg.recompute = t->base.recompute = t->ws->recompute; // as it runs (not on a vanilla RNN)
    t->ws->training = 1;
    ws_zero_state(m, t->ws);
    t->in = calloc((size_t)T * B, sizeof(int32_t));
    t->tgt = calloc((size_t)T * B, sizeof(int32_t));
    t->pos = calloc((size_t)B, sizeof(int64_t));
    if (!t->in || !t->tgt || !t->pos) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    t->base.ntrain = (long long)t->tb.chars_per_stream * B;
    t->base.nval = t->have_val ? (long long)t->vb.chars_per_stream * t->vb.B : 0;
    char *meta = train_meta_json(&t->cfg);
    if (!meta) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    free(m->train_meta);
    m->train_meta = meta;
    return trainer_make(&t->base, cfg, out, err);
fail:
    lm_free(&t->base);
    return rc;
}
