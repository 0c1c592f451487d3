/*
 * train.c - the training loop: window -> forward -> loss -> backward ->
 * clip -> optimizer step, with the hidden state carried from one window to
 * the next (truncated BPTT), periodic validation, the best-validation
 * checkpoint, periodic samples, and a resumable state that restores the run
 * bit for bit (docs/format.md lists what it holds). Nothing here prints:
 * progress goes to the caller's callback.
 */
#include "formats/checkpoint.h"
#include "nn/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SKIPS 10 /* consecutive non-finite steps before giving up */

struct recur_trainer {
    recur_model *m;
    recur_train_config cfg;
    text_batcher tb, vb;
    int have_val;
    workspace *ws, *vws;
    float *g;
    optim_state opt;
    rng drop;
    int32_t *in, *tgt;
    long long step, total;
    float lr;
    double last_val;
    int skips;
    char *best_path, *last_path;
};

void recur_train_config_default(recur_train_config *c)
{
    memset(c, 0, sizeof *c);
    c->seq = 50;
    c->batch = 32;
    c->optim = RECUR_ADAM;
    c->lr = 2e-3f;
    c->lr_decay = 1.0f;
    c->lr_decay_every = 0;
    c->momentum = 0.9f;
    c->clip = 5.0f;
    c->clip_mode = RECUR_CLIP_NORM;
    c->steps = 0;
    c->epochs = 1.0;
    c->val_frac = 0.05;
    c->eval_every = 200;
    c->sample_every = 1000;
    c->sample_len = 200;
    c->save_every = 0;
    c->seed = 1;
    c->threads = 1;
    c->val_max_chars = 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int check_config(const recur_train_config *c, recur_error *err)
{
    if (c->seq < 1 || c->seq > 100000)
        return set_error(err, RECUR_EINVAL, "--seq must be 1..100000, got %d", c->seq);
    if (c->batch < 1 || c->batch > 100000)
        return set_error(err, RECUR_EINVAL, "--batch must be 1..100000, got %d", c->batch);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return set_error(err, RECUR_EINVAL, "--lr must be > 0, got %g", c->lr);
    if (!(c->lr_decay > 0 && c->lr_decay <= 1))
        return set_error(err, RECUR_EINVAL, "--lr-decay must be in (0, 1], got %g", c->lr_decay);
    if (!(c->clip >= 0)) return set_error(err, RECUR_EINVAL, "--clip must be >= 0, got %g", c->clip);
    if (c->steps < 0) return set_error(err, RECUR_EINVAL, "--steps must be >= 0");
    if (c->steps == 0 && !(c->epochs > 0))
        return set_error(err, RECUR_EINVAL, "--epochs must be > 0, got %g", c->epochs);
    if (!(c->val_frac >= 0 && c->val_frac < 1))
        return set_error(err, RECUR_EINVAL, "--val-frac must be in [0, 1), got %g", c->val_frac);
    if ((unsigned)c->optim > RECUR_SGD) return set_error(err, RECUR_EINVAL, "unknown optimizer");
    if (c->eval_every < 0 || c->sample_every < 0 || c->save_every < 0)
        return set_error(err, RECUR_EINVAL, "--eval-every, --sample-every and --save-every must be >= 0");
    return RECUR_OK;
}

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
              "\"val_frac\":%.9g}",
              c->seq, c->batch, optim_name(c->optim), (double)c->lr, (double)c->lr_decay,
              c->lr_decay_every, (double)c->clip, c->clip_mode == RECUR_CLIP_VALUE ? "value" : "norm",
              (unsigned long long)c->seed, c->val_frac);
    if (b.oom) {
        sb_free(&b);
        return NULL;
    }
    return b.s;
}

int recur_trainer_new(recur_model *m, const recur_train_config *cfg, const char *train,
                      size_t train_len, const char *val, size_t val_len, recur_trainer **out,
                      recur_error *err)
{
    if (!m || !cfg || !out || !train) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = check_config(cfg, err);
    if (rc) return rc;
    recur_trainer *t = calloc(1, sizeof *t);
    if (!t) return set_error(err, RECUR_ENOMEM, "out of memory");
    t->m = m;
    t->cfg = *cfg;
    t->lr = cfg->lr;
    t->last_val = NAN;
    rng_seed(&t->drop, cfg->seed ^ 0x5eed0d20u);

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
        t->have_val = 1;
    }
    if ((rc = ws_new(m, T, B, cfg->threads, &t->ws, err))) goto fail;
    t->ws->training = 1;
    ws_zero_state(m, t->ws);
    t->g = xcalloc(m->nw, sizeof(float));
    t->in = calloc((size_t)T * B, sizeof(int32_t));
    t->tgt = calloc((size_t)T * B, sizeof(int32_t));
    if (!t->g || !t->in || !t->tgt) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = optim_init(&t->opt, cfg->optim, m->nw, err))) goto fail;
    if (cfg->steps > 0) {
        t->total = cfg->steps;
    } else {
        double s = ceil(cfg->epochs * (double)t->tb.windows_per_epoch);
        t->total = s < 1 ? 1 : (long long)s;
    }
    free(m->train_meta);
    m->train_meta = train_meta_json(cfg);
    *out = t;
    return RECUR_OK;
fail:
    recur_trainer_free(t);
    return rc;
}

void recur_trainer_free(recur_trainer *t)
{
    if (!t) return;
    batcher_free(&t->tb);
    batcher_free(&t->vb);
    ws_free(t->m, t->ws);
    ws_free(t->m, t->vws);
    free(t->g);
    free(t->in);
    free(t->tgt);
    optim_free(&t->opt);
    free(t->best_path);
    free(t->last_path);
    free(t);
}

int recur_trainer_set_outputs(recur_trainer *t, const char *best_path, const char *last_path,
                              recur_error *err)
{
    free(t->best_path);
    free(t->last_path);
    t->best_path = best_path ? strdup(best_path) : NULL;
    t->last_path = last_path ? strdup(last_path) : NULL;
    if ((best_path && !t->best_path) || (last_path && !t->last_path))
        return set_error(err, RECUR_ENOMEM, "out of memory");
    return RECUR_OK;
}

long long recur_trainer_step(const recur_trainer *t)
{
    return t->step;
}

long long recur_trainer_total_steps(const recur_trainer *t)
{
    return t->total;
}

/* ---------------------------------------------------------------- validation */

// Mean loss over one pass of the validation streams, state from zero.
static int validate(recur_trainer *t, double *loss, recur_error *err)
{
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
    *loss = count ? total / (double)count : NAN;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- state */

int recur_trainer_save_state(recur_trainer *t, const char *path, recur_error *err)
{
    recur_model *m = t->m;
    const int B = t->cfg.batch, L = m->L;
    const size_t BH = (size_t)B * m->H;
    enum { MAXE = 2 + 2 * 64 + 1 };
    st_entry e[MAXE];
    char names[2 * 64][24];
    size_t ne = 0;
    e[ne++] = (st_entry){"optim.m", ST_F32, 1, {m->nw}, t->opt.m};
    e[ne++] = (st_entry){"optim.v", ST_F32, 1, {m->nw}, t->opt.v};
    for (int l = 0; l < L; l++) {
        snprintf(names[2 * l], sizeof names[0], "train.h.l%d", l);
        e[ne++] = (st_entry){names[2 * l], ST_F32, 2, {(uint64_t)B, (uint64_t)m->H}, t->ws->hs[l]};
        if (m->cell->has_c) {
            snprintf(names[2 * l + 1], sizeof names[0], "train.c.l%d", l);
            e[ne++] = (st_entry){names[2 * l + 1], ST_F32, 2, {(uint64_t)B, (uint64_t)m->H},
                                 t->ws->cs[l]};
        }
    }
    int64_t *pos = calloc((size_t)B, sizeof(int64_t));
    if (!pos) return set_error(err, RECUR_ENOMEM, "out of memory");
    for (int i = 0; i < B; i++) pos[i] = (int64_t)t->tb.pos[i];
    e[ne++] = (st_entry){"train.pos", ST_I64, 1, {(uint64_t)B}, pos};
    (void)BH;

    char step[32], window[32], epoch[32], lr[32], ot[32], rngs[80], lastv[32], seq[16], batch[16];
    snprintf(step, sizeof step, "%lld", t->step);
    snprintf(window, sizeof window, "%zu", t->tb.window);
    snprintf(epoch, sizeof epoch, "%lld", t->tb.epoch);
    snprintf(lr, sizeof lr, "%.9g", (double)t->lr);
    snprintf(ot, sizeof ot, "%lld", t->opt.t);
    snprintf(rngs, sizeof rngs, "%016llx%016llx%016llx%016llx", (unsigned long long)t->drop.s[0],
             (unsigned long long)t->drop.s[1], (unsigned long long)t->drop.s[2],
             (unsigned long long)t->drop.s[3]);
    if (isnan(t->last_val))
        snprintf(lastv, sizeof lastv, "none");
    else
        snprintf(lastv, sizeof lastv, "%.17g", t->last_val);
    snprintf(seq, sizeof seq, "%d", t->cfg.seq);
    snprintf(batch, sizeof batch, "%d", B);
    char skips[16];
    snprintf(skips, sizeof skips, "%d", t->skips);
    st_kv meta[] = {
        {"recur.state.step", step},   {"recur.state.window", window},
        {"recur.state.epoch", epoch}, {"recur.state.lr", lr},
        {"recur.state.optim", optim_name(t->cfg.optim)},
        {"recur.state.optim_t", ot},  {"recur.state.rng", rngs},
        {"recur.state.last_val", lastv}, {"recur.state.seq", seq},
        {"recur.state.batch", batch},
        {"recur.state.skips", skips}, // only while a run of skipped steps is under way
    };
    size_t nmeta = sizeof meta / sizeof meta[0] - (t->skips ? 0 : 1);
    int rc = checkpoint_write(m, e, ne, meta, nmeta, path, err);
    free(pos);
    return rc;
}

static int state_tensor(const st_file *f, const char *name, float *dst, size_t n,
                        recur_error *err)
{
    const st_tensor *tt = st_find(f, name);
    if (!tt) return set_error(err, RECUR_EFORMAT, "not a resumable state: tensor \"%s\" is missing", name);
    return st_copy_f32(tt, dst, n, err);
}

int recur_trainer_resume(recur_trainer *t, const char *path, recur_error *err)
{
    st_file *f = NULL;
    recur_model *saved = NULL;
    int rc = st_read(path, &f, err);
    if (rc) return rc;
    if ((rc = checkpoint_read_model(f, &saved, err))) goto done;
    recur_model *m = t->m;
    if (saved->cfg.cell != m->cfg.cell || saved->H != m->H || saved->L != m->L ||
        saved->E != m->E || saved->V != m->V || saved->cfg.relu != m->cfg.relu) {
        rc = set_error(err, RECUR_EINVAL, "%s is a %s (hidden %d, %d layers, vocabulary %d), not the %s (hidden %d, %d layers, vocabulary %d) being trained",
                       path, saved->cell->name, saved->H, saved->L, saved->V, m->cell->name, m->H, m->L, m->V);
        goto done;
    }
    for (int i = 0; i < m->V; i++)
        if (saved->vocab->chars[i] != m->vocab->chars[i]) {
            rc = set_error(err, RECUR_EINVAL, "%s has a different vocabulary from this text", path);
            goto done;
        }
    long seq, batch, step, window, epoch, ot, skips;
    if ((rc = meta_int(f, "recur.state.skips", 0, MAX_SKIPS - 1, 0, 0, &skips, err))) goto done;
    if ((rc = meta_int(f, "recur.state.seq", 1, 100000, 1, 0, &seq, err)) ||
        (rc = meta_int(f, "recur.state.batch", 1, 100000, 1, 0, &batch, err)) ||
        (rc = meta_int(f, "recur.state.step", 0, 0x7fffffffL, 1, 0, &step, err)) ||
        (rc = meta_int(f, "recur.state.window", 0, 0x7fffffffL, 1, 0, &window, err)) ||
        (rc = meta_int(f, "recur.state.epoch", 0, 0x7fffffffL, 1, 0, &epoch, err)) ||
        (rc = meta_int(f, "recur.state.optim_t", 0, 0x7fffffffL, 1, 0, &ot, err))) {
        if (!st_meta(f, "recur.state.step"))
            rc = set_error(err, RECUR_EFORMAT, "%s holds a model but no training state (resume from the .last checkpoint that training writes)", path);
        goto done;
    }
    if (seq != t->cfg.seq || batch != t->cfg.batch) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained with --seq %ld --batch %ld; resume with the same values (got --seq %d --batch %d)",
                       path, seq, batch, t->cfg.seq, t->cfg.batch);
        goto done;
    }
    const char *on = st_meta(f, "recur.state.optim");
    if (!on || optim_parse(on) != (int)t->cfg.optim) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained with --optim %s; resume with the same optimizer",
                       path, on ? on : "?");
        goto done;
    }
    if ((size_t)window > t->tb.windows_per_epoch) {
        rc = set_error(err, RECUR_EFORMAT, "%s: data position is past the end of this text (was it trained on another file?)", path);
        goto done;
    }
    const char *lr = st_meta(f, "recur.state.lr"), *rs = st_meta(f, "recur.state.rng");
    const char *lv = st_meta(f, "recur.state.last_val");
    uint64_t s[4];
    if (!lr || !rs || strlen(rs) != 64 ||
        sscanf(rs, "%16llx%16llx%16llx%16llx", (unsigned long long *)&s[0],
               (unsigned long long *)&s[1], (unsigned long long *)&s[2],
               (unsigned long long *)&s[3]) != 4) {
        rc = set_error(err, RECUR_EFORMAT, "%s: training state metadata is incomplete", path);
        goto done;
    }
    // Everything checked; now take it.
    const int L = m->L;
    const size_t BH = (size_t)t->cfg.batch * m->H;
    char name[32];
    if ((rc = state_tensor(f, "optim.m", t->opt.m, m->nw, err)) ||
        (rc = state_tensor(f, "optim.v", t->opt.v, m->nw, err)))
        goto done;
    for (int l = 0; l < L && !rc; l++) {
        snprintf(name, sizeof name, "train.h.l%d", l);
        rc = state_tensor(f, name, t->ws->hs[l], BH, err);
        if (!rc && m->cell->has_c) {
            snprintf(name, sizeof name, "train.c.l%d", l);
            rc = state_tensor(f, name, t->ws->cs[l], BH, err);
        }
    }
    if (rc) goto done;
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
        t->tb.pos[i] = (size_t)p;
    }
    memcpy(m->w, saved->w, m->nw * sizeof(float));
    m->version++;
    m->steps = step;
    m->best_val = saved->best_val;
    t->step = step;
    t->tb.window = (size_t)window;
    t->tb.epoch = epoch;
    t->opt.t = ot;
    t->skips = (int)skips;
    t->lr = strtof(lr, NULL);
    t->last_val = lv && strcmp(lv, "none") ? strtod(lv, NULL) : NAN;
    memcpy(t->drop.s, s, sizeof s);
done:
    recur_model_free(saved);
    st_free(f);
    return rc;
}

/* ---------------------------------------------------------------- the loop */

static int emit(recur_train_callback cb, void *user, recur_train_event *ev)
{
    return cb ? cb(ev, user) : 0;
}

// A progress sample: its own generator seeded from the step, so sampling
// never disturbs the training's random numbers.
static int progress_sample(recur_trainer *t, strbuf *out, recur_error *err)
{
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.seed = t->cfg.seed * 1000003u + (uint64_t)t->step;
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

int recur_trainer_run(recur_trainer *t, recur_train_callback cb, void *user, recur_error *err)
{
    recur_model *m = t->m;
    const recur_train_config *c = &t->cfg;
    const int N = c->seq * c->batch;
    recur_train_event ev;
    memset(&ev, 0, sizeof ev);
    ev.total_steps = t->total;
    ev.val_loss = t->last_val;
    ev.best_val = m->best_val;
    ev.lr = t->lr;
    ev.train_loss = NAN;
    ev.step = t->step;
    ev.kind = RECUR_EV_START;
    ev.train_chars = (long long)t->tb.chars_per_stream * c->batch;
    ev.val_chars = t->have_val ? (long long)t->vb.chars_per_stream * t->vb.B : 0;
    int saved = 0; // the state as it is now is on disk in last_path
    if (emit(cb, user, &ev)) goto interrupted;

    double t0 = now_s(), rate = 0;
    int rc = RECUR_OK;
    while (t->step < t->total) {
        // A stop asked for by the callback (Ctrl-C) takes effect at the end
        // of the step: the step's validation, best model and periodic state
        // are written first, exactly as an uninterrupted run writes them, so
        // that a resumed run continues the same sequence.
        int stop = 0;
        saved = 0; // this iteration moves the data position, at least
        double ts = now_s();
        int new_epoch;
        if ((rc = batcher_next(&t->tb, t->in, t->tgt, &new_epoch, err))) return rc;
        if (new_epoch) ws_zero_state(m, t->ws);
        memset(t->g, 0, m->nw * sizeof(float));
        model_forward(m, t->ws, t->in, m->cfg.dropout > 0 ? &t->drop : NULL);
        double loss = softmax_xent(t->ws->logits, t->tgt, N, m->O, 1, NULL) / N;
        model_backward(m, t->ws, t->g);
        ws_carry_state(m, t->ws);
        double norm = grad_norm(t->g, m->nw);

        if (!isfinite(loss) || !isfinite(norm)) {
            // Never step on garbage: drop this step, halve the learning rate,
            // restart the carried state, and give up after MAX_SKIPS in a row.
            t->skips++;
            t->lr *= 0.5f;
            ws_zero_state(m, t->ws);
            ev.kind = RECUR_EV_SKIP;
            ev.train_loss = loss;
            ev.grad_norm = norm;
            ev.lr = t->lr;
            stop = emit(cb, user, &ev);
            if (t->skips >= MAX_SKIPS)
                return set_error(err, RECUR_ENUMERIC, "training diverged: loss or gradient not finite for %d steps in a row at step %lld (lower --lr or --clip)",
                                 MAX_SKIPS, t->step + 1);
            if (stop) goto interrupted;
            continue;
        }
        t->skips = 0;
        if (c->clip > 0) {
            if (c->clip_mode == RECUR_CLIP_VALUE)
                clip_by_value(t->g, m->nw, c->clip);
            else
                clip_by_norm(t->g, m->nw, norm, c->clip);
        }
        int finite = optim_step(&t->opt, m->w, t->g, t->lr, c->momentum);
        m->version++;
        // A finite gradient times a huge learning rate can still overflow a
        // weight. Such a model must never reach a file: stop here, before
        // anything of this step is saved (optim_step checks in its pass).
        if (!finite)
            return set_error(err, RECUR_ENUMERIC, "training diverged: the update of step %lld made weights infinite or NaN (lower --lr or use --clip); nothing of this step was saved",
                             t->step + 1);
        m->steps = ++t->step;
        if (c->lr_decay_every > 0 && t->step % c->lr_decay_every == 0) t->lr *= c->lr_decay;

        double dt = now_s() - ts;
        double r = dt > 0 ? N / dt : 0;
        rate = rate == 0 ? r : 0.9 * rate + 0.1 * r;
        ev.kind = RECUR_EV_STEP;
        ev.step = t->step;
        ev.epoch = (double)t->tb.epoch + (double)t->tb.window / (double)t->tb.windows_per_epoch;
        ev.train_loss = loss;
        ev.grad_norm = norm;
        ev.lr = t->lr;
        ev.chars_per_s = rate;
        ev.elapsed_s = now_s() - t0;
        stop |= emit(cb, user, &ev);

        int last = t->step == t->total;
        if (t->have_val && ((c->eval_every > 0 && t->step % c->eval_every == 0) || last)) {
            double vl;
            if ((rc = validate(t, &vl, err))) return rc;
            t->last_val = vl;
            // A non-finite validation loss is never the best: such a model
            // is not written to best_path.
            int better = isfinite(vl) && (isnan(m->best_val) || vl < m->best_val);
            if (better) m->best_val = vl;
            ev.kind = RECUR_EV_EVAL;
            ev.val_loss = vl;
            ev.best_val = m->best_val;
            stop |= emit(cb, user, &ev);
            if (better && t->best_path) {
                if ((rc = recur_model_save(m, t->best_path, err))) return rc;
                ev.kind = RECUR_EV_SAVE;
                ev.text = t->best_path;
                stop |= emit(cb, user, &ev);
            }
        }
        if (!t->have_val && last && t->best_path) {
            // No validation text: the best model is simply the last one.
            if ((rc = recur_model_save(m, t->best_path, err))) return rc;
        }
        // Progress samples use their own generator: skipping one when a stop
        // is pending changes nothing else.
        if (!stop && c->sample_every > 0 && t->step % c->sample_every == 0) {
            strbuf sb;
            sb_init(&sb);
            rc = progress_sample(t, &sb, err);
            ev.kind = RECUR_EV_SAMPLE;
            ev.text = sb.s ? sb.s : "";
            if (!rc) stop |= emit(cb, user, &ev);
            sb_free(&sb);
            ev.text = NULL;
            if (rc) return rc;
        }
        if (t->last_path && ((c->save_every > 0 && t->step % c->save_every == 0) || last)) {
            if ((rc = recur_trainer_save_state(t, t->last_path, err))) return rc;
            saved = 1;
        }
        if (stop && !last) goto interrupted;
    }
    return RECUR_OK;

interrupted:
    if (t->last_path && !saved) {
        int rc2 = recur_trainer_save_state(t, t->last_path, err);
        if (rc2) return rc2;
    }
    return set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", t->step, t->total);
}
