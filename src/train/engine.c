/*
 * engine.c - the training loop every task runs in (engine.h):
 *
 *   for each step:  task->step (batch -> forward -> loss -> backward into g)
 *                   -> ||g|| over every buffer -> skip the step if not finite
 *                   -> clip -> optimizer -> schedule
 *                   -> validation every eval_every steps (or every epoch)
 *                   -> best model, periodic state, progress events
 *
 * Nothing here prints: progress goes to the caller's callback. Nothing here
 * knows what the task's model is: the task writes and reads it.
 */
#include "train/trainer.h"

#include "formats/checkpoint.h" /* meta_int */
#include "kernels/gemm.h"       /* gemm_has_bf16 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


int recur_has_bf16(void)
{
    return gemm_has_bf16();
}

int engine_bf16(const recur_train_config *c)
{
    return c->bf16 && gemm_has_bf16();
}

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
    c->schedule = RECUR_SCHED_STEP;
    c->warmup = 0;
    c->lr_min = 0;
    c->patience = 2;
    c->weight_decay = 0;
}

const char *recur_schedule_name(recur_schedule s)
{
    switch (s) {
    case RECUR_SCHED_STEP: return "step";
    case RECUR_SCHED_CONSTANT: return "constant";
    case RECUR_SCHED_COSINE: return "cosine";
    case RECUR_SCHED_PLATEAU: return "plateau";
    }
    return "?";
}

int recur_schedule_parse(const char *name)
{
    if (!name) return -1;
    if (!strcmp(name, "step")) return RECUR_SCHED_STEP;
    if (!strcmp(name, "constant")) return RECUR_SCHED_CONSTANT;
    if (!strcmp(name, "cosine")) return RECUR_SCHED_COSINE;
    if (!strcmp(name, "plateau")) return RECUR_SCHED_PLATEAU;
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int engine_check_config(const recur_train_config *c, recur_error *err)
{
    if (c->batch < 1 || c->batch > 100000)
        return set_error(err, RECUR_EINVAL, "--batch must be 1..100000, got %d", c->batch);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return set_error(err, RECUR_EINVAL, "--lr must be > 0, got %g", (double)c->lr);
    if (!(c->lr_decay > 0 && c->lr_decay <= 1))
        return set_error(err, RECUR_EINVAL, "--lr-decay must be in (0, 1], got %g", (double)c->lr_decay);
    if (c->lr_decay_every < 0) return set_error(err, RECUR_EINVAL, "--lr-decay-every must be >= 0");
    if (!(c->momentum >= 0 && c->momentum < 1))
        return set_error(err, RECUR_EINVAL, "--momentum must be in [0, 1), got %g", (double)c->momentum);
    if (!(c->clip >= 0) || !isfinite(c->clip))
        return set_error(err, RECUR_EINVAL, "--clip must be >= 0, got %g", (double)c->clip);
    if ((unsigned)c->clip_mode > RECUR_CLIP_VALUE) return set_error(err, RECUR_EINVAL, "unknown clip mode");
    if (c->steps < 0) return set_error(err, RECUR_EINVAL, "--steps must be >= 0");
    if (c->steps == 0 && !(c->epochs > 0 && c->epochs < 1e9))
        return set_error(err, RECUR_EINVAL, "--epochs must be > 0, got %g", c->epochs);
    if (!(c->val_frac >= 0 && c->val_frac < 1))
        return set_error(err, RECUR_EINVAL, "--val-frac must be in [0, 1), got %g", c->val_frac);
    if ((unsigned)c->optim > RECUR_SGD) return set_error(err, RECUR_EINVAL, "unknown optimizer");
    if (c->eval_every < 0 || c->sample_every < 0 || c->save_every < 0)
        return set_error(err, RECUR_EINVAL, "--eval-every, --sample-every and --save-every must be >= 0");
    if (c->threads < 1 || c->threads > 256)
        return set_error(err, RECUR_EINVAL, "--threads must be 1..256, got %d", c->threads);
    if ((unsigned)c->schedule > RECUR_SCHED_PLATEAU) return set_error(err, RECUR_EINVAL, "unknown schedule");
    if (c->patience < 1 || c->patience > 1000000)
        return set_error(err, RECUR_EINVAL, "--patience must be 1..1000000, got %d", c->patience);
    if (!(c->weight_decay >= 0 && c->weight_decay < 1e3))
        return set_error(err, RECUR_EINVAL, "--weight-decay must be in [0, 1000), got %g", (double)c->weight_decay);
    if (c->warmup < 0) return set_error(err, RECUR_EINVAL, "--warmup must be >= 0");
    if (!(c->lr_min >= 0 && c->lr_min <= c->lr))
        return set_error(err, RECUR_EINVAL, "--lr-min must be in [0, --lr], got %g", (double)c->lr_min);
    return RECUR_OK;
}

/* ---------------------------------------------------------------- schedule */

// The factor on the running rate at step s (0-based) of total:
//   warm-up (s < W):   (s + 1) / W
//   cosine (s >= W):   (lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2) / lr,
//                      p = (s - W) / (total - W), from 0 at the first step after
//                      the warm-up to (total-1-W)/(total-W) at the last
// and exactly 1 otherwise, so that the step schedule keeps its bits.
double schedule_factor(const recur_train_config *c, long long s, long long total)
{
    double f = 1.0;
    if (c->warmup > 0 && s < c->warmup) f = (double)(s + 1) / (double)c->warmup;
    if (c->schedule == RECUR_SCHED_COSINE && s >= c->warmup) {
        long long span = total - c->warmup;
        double p = span > 0 ? (double)(s - c->warmup) / (double)span : 1.0;
        double lo = (double)c->lr_min / (double)c->lr;
        f *= lo + (1.0 - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * p));
    }
    return f;
}

/* ---------------------------------------------------------------- the trainer */

int trainer_make(train_task *task, const recur_train_config *cfg, recur_trainer **out,
                 recur_error *err)
{
    *out = NULL;
    recur_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        task->ops->free(task);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    t->task = task;
    t->cfg = *cfg;
    // Recompute as it runs (a vanilla RNN has nothing to recompute: the
    // same run as without, state and fingerprint included).
    t->cfg.recompute = task->recompute;
    t->lr = cfg->lr;
    t->last_val = t->last_metric = t->best_val = t->best_metric = t->plateau_best = NAN;
    rng_seed(&t->drop, cfg->seed ^ 0x5eed0d20u);
    int rc = RECUR_OK;
    // Every buffer's gradient in one block, so that data-parallel runs sum
    // them with one allreduce; each view keeps the sizes it always had.
    for (int k = 0; k < task->nbuf; k++) t->gtotal += task->buf[k].n;
    if (!(t->gbase = xcalloc(t->gtotal ? t->gtotal : 1, sizeof(float))))
        rc = set_error(err, RECUR_ENOMEM, "out of memory for the gradients");
    for (size_t k = 0, off = 0; k < (size_t)task->nbuf && !rc; off += task->buf[k].n, k++) {
        t->g[k] = t->gbase + off;
        rc = optim_init(&t->opt[k], cfg->optim, task->buf[k].n, err);
    }
    if (rc) {
        recur_trainer_free(t);
        return rc;
    }
    t->per_epoch = task->ops->steps_per_epoch(task);
    if (t->per_epoch < 1) t->per_epoch = 1;
    if (cfg->steps > 0) {
        t->total = cfg->steps;
    } else {
        double s = ceil(cfg->epochs * (double)t->per_epoch);
        t->total = s < 1 ? 1 : s > 1e15 ? (long long)1e15 : (long long)s;
    }
    *out = t;
    return RECUR_OK;
}

train_task *trainer_task(recur_trainer *t)
{
    return t->task;
}

void recur_trainer_free(recur_trainer *t)
{
    if (!t) return;
    free(t->gbase);
    for (int k = 0; k < ENGINE_MAX_BUFS; k++) {
        free(t->best_w[k]);
        optim_free(&t->opt[k]);
    }
    if (t->task) t->task->ops->free(t->task);
    free(t->best_path);
    free(t->last_path);
    free(t);
}

int recur_trainer_set_outputs(recur_trainer *t, const char *best_path, const char *last_path,
                              recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
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
    return t ? t->step : 0;
}

long long recur_trainer_total_steps(const recur_trainer *t)
{
    return t ? t->total : 0;
}

const char *recur_trainer_task_name(const recur_trainer *t)
{
    return t ? t->task->ops->name : NULL;
}

const char *recur_trainer_metric_name(const recur_trainer *t)
{
    return t ? t->task->ops->metric : NULL;
}

recur_model *recur_trainer_model(recur_trainer *t)
{
    return t && t->task->ops->model ? t->task->ops->model(t->task) : NULL;
}

int recur_trainer_report(recur_trainer *t, recur_report *r, recur_error *err)
{
    if (!t || !r) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(r, 0, sizeof *r);
    if (!t->task->ops->report)
        return set_error(err, RECUR_EINVAL, "a %s trainer has no validation report", t->task->ops->name);
    return t->task->ops->report(t->task, r, err);
}

/* ---------------------------------------------------------------- data-parallel ranks */

void engine_share(long long n, int r, int N, long long *lo, long long *hi)
{
    *lo = n * r / N;
    *hi = n * (r + 1) / N;
}

int engine_sum_f32(train_task *t, float *buf, size_t n, recur_error *err)
{
    if (!t->comm || t->nranks < 2) return RECUR_OK;
    if (t->comm->allreduce_f32(t->comm->ctx, buf, n))
        return set_error(err, RECUR_EIO, "rank %d: summing %zu floats over %d processes failed", t->rank, n, t->nranks);
    return RECUR_OK;
}

int engine_sum_f64(train_task *t, double *buf, size_t n, recur_error *err)
{
    if (!t->comm || t->nranks < 2) return RECUR_OK;
    if (t->comm->allreduce_f64(t->comm->ctx, buf, n))
        return set_error(err, RECUR_EIO, "rank %d: summing %zu numbers over %d processes failed", t->rank, n, t->nranks);
    return RECUR_OK;
}

uint64_t engine_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

// What must be the same on every rank: the settings that shape the run,
// the parameter buffers' sizes and initial weights (the model's flags and
// seed, the vocabulary's size), the data's size and the task's own hash.
static uint64_t run_fingerprint(const recur_trainer *t)
{
    const recur_train_config *c = &t->cfg;
    const train_task *task = t->task;
    double v[] = {c->seq, c->batch, c->optim, c->lr, c->lr_decay, c->lr_decay_every, c->momentum,
                  c->clip, c->clip_mode, (double)c->steps, c->epochs, c->val_frac, c->eval_every,
                  (double)c->save_every, (double)c->seed, (double)c->val_max_chars, c->schedule,
                  (double)c->warmup, c->lr_min, c->patience, c->weight_decay, (double)t->total, (double)task->ntrain,
                  (double)task->nval, task->nbuf, engine_bf16(c), c->recompute != 0};
    uint64_t h = engine_fnv(ENGINE_FNV0, v, sizeof v);
    h = engine_fnv(h, task->ops->name, strlen(task->ops->name));
    for (int k = 0; k < task->nbuf; k++) {
        h = engine_fnv(h, &task->buf[k].n, sizeof task->buf[k].n);
        h = engine_fnv(h, task->buf[k].w, task->buf[k].n * sizeof(float));
    }
    if (task->ops->fingerprint) {
        uint64_t th = task->ops->fingerprint((train_task *)task);
        h = engine_fnv(h, &th, sizeof th);
    }
    return h;
}

int recur_trainer_set_comm(recur_trainer *t, const recur_comm *c, recur_error *err)
{
    if (!t || !c) return set_error(err, RECUR_EINVAL, "NULL argument");
    if (c->size < 1 || c->rank < 0 || c->rank >= c->size || !c->allreduce_f32 || !c->allreduce_f64 ||
        !c->broadcast)
        return set_error(err, RECUR_EINVAL, "recur_trainer_set_comm: rank %d of %d, or an operation missing",
                         c->rank, c->size);
    if (c->size == 1) return RECUR_OK;
    train_task *task = t->task;
    if (task->comm || t->step > 0)
        return set_error(err, RECUR_EINVAL, "recur_trainer_set_comm: call it once, before resume and run");
    // Each rank checks what it can alone, then the ranks agree: all go on or
    // all stop, so that no rank waits for one that has left.
    recur_error mine = {0};
    int bad = 0;
    uint64_t h = run_fingerprint(t), h0 = h;
    if (c->broadcast(c->ctx, &h0, sizeof h0, 0))
        return set_error(err, RECUR_EIO, "rank %d: broadcast over %d processes failed", c->rank, c->size);
    if (!task->ops->shard)
        bad = set_error(&mine, RECUR_EINVAL, "the %s task cannot be trained on several processes", task->ops->name);
    else if (t->cfg.batch % c->size)
        bad = set_error(&mine, RECUR_EINVAL, "--batch %d does not divide among %d processes: use a multiple of %d, or another number of processes",
                        t->cfg.batch, c->size, c->size);
    double flags[2] = {bad != 0, h != h0};
    if (!bad) {
        t->comm = *c;
        task->comm = &t->comm;
        task->rank = c->rank;
        task->nranks = c->size;
        if ((bad = task->ops->shard(task, &mine))) flags[0] = 1;
    }
    if (c->allreduce_f64(c->ctx, flags, 2))
        return set_error(err, RECUR_EIO, "rank %d: summing over %d processes failed", c->rank, c->size);
    if (flags[0] == 0 && flags[1] == 0) return RECUR_OK;
    task->comm = NULL;
    task->rank = 0;
    task->nranks = 1;
    if (c->rank != 0) { // rank 0 says it once
        if (err) {
            err->code = bad ? bad : RECUR_EINVAL;
            err->msg[0] = 0;
        }
        return bad ? bad : RECUR_EINVAL;
    }
    if (bad) {
        if (err) *err = mine;
        return bad;
    }
    return set_error(err, RECUR_EINVAL, "%.0f of the %d processes see other data or options than rank 0 (another file, vocabulary, seed or flag): every rank must run the same command on the same data",
                     flags[1], c->size);
}

// Whether any rank was asked to stop (its callback on rank 0, or a signal
// on any rank): every rank stops after the same step.
static int agree_stop(recur_trainer *t, int *stop, recur_error *err)
{
    if (t->task->nranks < 2) return RECUR_OK;
    const recur_comm *c = &t->comm;
    double s = *stop || (c->stop_requested && c->stop_requested(c->ctx));
    int rc = engine_sum_f64(t->task, &s, 1, err);
    *stop = s > 0;
    return rc;
}

/* ---------------------------------------------------------------- best model */

// Copies the weights aside: the best model when no file holds it.
static int keep_best_copy(recur_trainer *t, recur_error *err)
{
    train_task *task = t->task;
    for (int k = 0; k < task->nbuf; k++) {
        if (!t->best_w[k] && !(t->best_w[k] = xmalloc(task->buf[k].n ? task->buf[k].n : 1, sizeof(float))))
            return set_error(err, RECUR_ENOMEM, "out of memory for a copy of the best model");
        memcpy(t->best_w[k], task->buf[k].w, task->buf[k].n * sizeof(float));
    }
    t->have_best_w = 1;
    return RECUR_OK;
}

int recur_trainer_restore_best(recur_trainer *t, recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    train_task *task = t->task;
    if (t->have_best_w) {
        for (int k = 0; k < task->nbuf; k++)
            memcpy(task->buf[k].w, t->best_w[k], task->buf[k].n * sizeof(float));
    } else if (t->best_path && !isnan(t->best_val)) {
        if (t->best_lost)
            return set_error(err, RECUR_EINVAL, "the best model of the run that was resumed (validation loss %.4f) is neither in %s nor beside its state, and no later one was better",
                             t->best_val, t->best_path);
        int rc = task->ops->load_weights(task, t->best_path, err);
        if (rc) return rc;
    } else if (!isnan(t->best_val)) {
        return set_error(err, RECUR_EINVAL, "the best model (validation loss %.4f) was found before the resume and this trainer has no file of it (give recur_trainer_set_outputs the best path)",
                         t->best_val);
    } else {
        return RECUR_OK; // no validation: the last model is the best one
    }
    task->ops->touch(task);
    task->ops->set_progress(task, t->step, t->best_val, t->best_metric);
    return RECUR_OK;
}

// Whether a validation result beats the saved best: the higher metric
// (ties: the lower loss) for tasks that select by their metric, else the
// lower loss. A non-finite loss is never the best.
static int better(const recur_trainer *t, const engine_val *v)
{
    if (t->task->ops->best_by_metric && !isnan(v->metric)) {
        if (isnan(t->best_metric) || v->metric > t->best_metric) return 1;
        return v->metric == t->best_metric && isfinite(v->loss) &&
               (isnan(t->best_val) || v->loss < t->best_val);
    }
    return isfinite(v->loss) && (isnan(t->best_val) || v->loss < t->best_val);
}

/* ---------------------------------------------------------------- the loop */

static int emit(recur_train_callback cb, void *user, recur_train_event *ev)
{
    return cb ? cb(ev, user) : 0;
}

/* One run's moving parts: the callback, the event it is shown, the speed. */
typedef struct run_ctx {
    recur_train_callback cb;
    void *user;
    recur_train_event ev;
    double t0, rate;
    int have_val;
} run_ctx;

enum { STEP_TAKEN, STEP_SKIPPED };

// One optimizer step: the task's forward and backward, ||g|| over every
// buffer, then either the update (clipped) or, for a non-finite loss or
// gradient, a skipped step. *stop: the callback asked to stop.
static int take_step(recur_trainer *t, run_ctx *r, int *outcome, int *stop, recur_error *err)
{
    train_task *task = t->task;
    const train_task_ops *ops = task->ops;
    const recur_train_config *c = &t->cfg;
    const int nb = task->nbuf;
    double ts = now_s();
    for (int k = 0; k < nb; k++) memset(t->g[k], 0, task->buf[k].n * sizeof(float));
    double loss = 0;
    long long chars = 0;
    int rc = ops->step(task, t->g, &t->drop, &loss, &chars, err);
    if (rc) return rc;
    if (task->nranks > 1) {
        // Each rank's part of the batch's mean: the sums are the whole batch's.
        double s[2] = {loss, (double)chars};
        if ((rc = engine_sum_f32(task, t->gbase, t->gtotal, err)) || (rc = engine_sum_f64(task, s, 2, err)))
            return rc;
        loss = s[0];
        chars = (long long)s[1];
    }
    // ||g|| = sqrt(sum_k |g_k|^2); one buffer's own norm as it is (its bits).
    double norm;
    if (nb == 1) {
        norm = grad_norm(t->g[0], task->buf[0].n);
    } else {
        double sq = 0;
        for (int k = 0; k < nb; k++) {
            double nk = task->buf[k].n ? grad_norm(t->g[k], task->buf[k].n) : 0;
            sq += nk * nk;
        }
        norm = sqrt(sq);
    }
    const float lr = (float)(t->lr * schedule_factor(c, t->step, t->total));
    recur_train_event *ev = &r->ev;

    if (!isfinite(loss) || !isfinite(norm)) {
        // Never step on garbage: drop this step, halve the learning rate,
        // forget what the step carried, and give up after MAX_SKIPS in a row.
        t->skips++;
        t->lr *= 0.5f;
        if (ops->after_skip) ops->after_skip(task);
        ev->kind = RECUR_EV_SKIP;
        ev->train_loss = loss;
        ev->grad_norm = norm;
        ev->lr = t->lr * schedule_factor(c, t->step, t->total);
        *stop = emit(r->cb, r->user, ev);
        if (t->skips >= MAX_SKIPS)
            return set_error(err, RECUR_ENUMERIC, "training diverged: loss or gradient not finite for %d steps in a row at step %lld (lower --lr or --clip)",
                             MAX_SKIPS, t->step + 1);
        *outcome = STEP_SKIPPED;
        return RECUR_OK;
    }
    t->skips = 0;
    int finite = 1;
    for (int k = 0; k < nb; k++) {
        if (!task->buf[k].n) continue;
        if (c->clip > 0) {
            // Norm mode scales every buffer by the same clip / ||g||.
            if (c->clip_mode == RECUR_CLIP_VALUE)
                clip_by_value(t->g[k], task->buf[k].n, c->clip);
            else
                clip_by_norm(t->g[k], task->buf[k].n, norm, c->clip);
        }
        // Decoupled weight decay (AdamW): w <- w (1 - lr wd), matrices only.
        if (c->weight_decay > 0)
            for (int q = 0; q < task->buf[k].ndecay; q++)
                decay_weights(task->buf[k].w + task->buf[k].decay[2 * q], task->buf[k].decay[2 * q + 1], lr,
                              c->weight_decay);
        finite &= optim_step(&t->opt[k], task->buf[k].w, t->g[k], lr, c->momentum);
    }
    ops->touch(task);
    // A finite gradient times a huge learning rate can still overflow a
    // weight. Such a model must never reach a file: stop here, before
    // anything of this step is saved (optim_step checks in its pass).
    if (!finite)
        return set_error(err, RECUR_ENUMERIC, "training diverged: the update of step %lld made weights infinite or NaN (lower --lr or use --clip); nothing of this step was saved",
                         t->step + 1);
    ++t->step;
    ops->set_progress(task, t->step, t->best_val, t->best_metric);
    if (c->schedule == RECUR_SCHED_STEP) {
        long long every = c->lr_decay_every > 0 ? c->lr_decay_every : t->per_epoch;
        if (t->step % every == 0) t->lr *= c->lr_decay;
    }

    double dt = now_s() - ts;
    double rate = dt > 0 ? (double)chars / dt : 0;
    r->rate = r->rate == 0 ? rate : 0.9 * r->rate + 0.1 * rate;
    ev->kind = RECUR_EV_STEP;
    ev->step = t->step;
    ev->epoch = ops->epoch(task);
    ev->train_loss = loss;
    ev->grad_norm = norm;
    ev->lr = lr;
    ev->chars_per_s = r->rate;
    ev->elapsed_s = now_s() - r->t0;
    *stop |= emit(r->cb, r->user, ev);
    *outcome = STEP_TAKEN;
    return RECUR_OK;
}

// What follows a step: validation (every eval_every steps, or every epoch,
// and at the last step), the best model, a progress sample, the periodic
// state. *saved: the state on disk is the state now.
static int after_step(recur_trainer *t, run_ctx *r, int *stop, int *saved, recur_error *err)
{
    train_task *task = t->task;
    const train_task_ops *ops = task->ops;
    const recur_train_config *c = &t->cfg;
    recur_train_event *ev = &r->ev;
    int rc;
    const int last = t->step == t->total;
    const int eval_now = c->eval_every > 0 ? t->step % c->eval_every == 0 : t->step % t->per_epoch == 0;
    if (r->have_val && (eval_now || last)) {
        engine_val v = {NAN, NAN};
        if (task->nranks > 1 && ops->validate_part) {
            engine_valsum s = {0, 0, 0, 0};
            if ((rc = ops->validate_part(task, &s, err)) || (rc = engine_sum_f64(task, &s.loss_sum, 4, err)))
                return rc;
            v.loss = s.count > 0 ? s.loss_sum / s.count : NAN;
            v.metric = s.total > 0 ? s.correct / s.total : NAN;
        } else if ((rc = ops->validate(task, &v, err))) {
            return rc;
        }
        t->last_val = v.loss;
        t->last_metric = v.metric;
        if (c->schedule == RECUR_SCHED_PLATEAU && isfinite(v.loss)) {
            // Decay on a plateau of the validation loss: after `patience` validations in a
            // row with no lower loss (PyTorch's ReduceLROnPlateau waits for more than
            // patience, and wants a relative gain of 1e-4; this takes any lower loss).
            if (isnan(t->plateau_best) || v.loss < t->plateau_best) {
                t->plateau_best = v.loss;
                t->plateau = 0;
            } else if (++t->plateau >= c->patience) {
                t->lr *= c->lr_decay;
                t->plateau = 0;
            }
        }
        int best = better(t, &v);
        if (best) {
            t->best_val = v.loss;
            t->best_metric = v.metric;
            ops->set_progress(task, t->step, t->best_val, t->best_metric);
        }
        ev->kind = RECUR_EV_EVAL;
        ev->val_loss = v.loss;
        ev->best_val = t->best_val;
        ev->val_metric = v.metric;
        ev->best_metric = t->best_metric;
        *stop |= emit(r->cb, r->user, ev);
        if (best && t->best_path) {
            if (task->rank == 0 && (rc = ops->write(task, t->best_path, NULL, err))) return rc;
            t->have_best_w = 0;
            t->best_lost = 0;
            ev->kind = RECUR_EV_SAVE;
            ev->text = t->best_path;
            *stop |= emit(r->cb, r->user, ev);
            ev->text = NULL;
        } else if (best && (rc = keep_best_copy(t, err))) {
            return rc;
        }
    }
    // No validation data: the best model is simply the last one.
    if (!r->have_val && last && t->best_path && task->rank == 0 && (rc = ops->write(task, t->best_path, NULL, err)))
        return rc;
    // Progress samples use their own generator: skipping one when a stop
    // is pending changes nothing else.
    if (!*stop && task->rank == 0 && ops->sample && c->sample_every > 0 && t->step % c->sample_every == 0) {
        strbuf sb;
        sb_init(&sb);
        rc = ops->sample(task, t->step, &sb, err);
        ev->kind = RECUR_EV_SAMPLE;
        ev->text = sb.s ? sb.s : "";
        if (!rc) *stop |= emit(r->cb, r->user, ev);
        sb_free(&sb);
        ev->text = NULL;
        if (rc) return rc;
    }
    if (t->last_path && ((c->save_every > 0 && t->step % c->save_every == 0) || last)) {
        if ((rc = recur_trainer_save_state(t, t->last_path, err))) return rc;
        *saved = 1;
    }
    return RECUR_OK;
}

int recur_trainer_run(recur_trainer *t, recur_train_callback cb, void *user, recur_error *err)
{
    if (!t) return set_error(err, RECUR_EINVAL, "NULL argument");
    train_task *task = t->task;
    const train_task_ops *ops = task->ops;
    run_ctx r;
    memset(&r, 0, sizeof r);
    r.cb = task->rank == 0 ? cb : NULL; // the other ranks' progress is rank 0's
    r.user = user;
    r.have_val = ops->has_val(task);
    recur_train_event *ev = &r.ev;
    ev->total_steps = t->total;
    ev->val_loss = t->last_val;
    ev->best_val = t->best_val;
    ev->val_metric = t->last_metric;
    ev->best_metric = t->best_metric;
    ev->metric = ops->metric;
    ev->unit = task->unit;
    ev->task = ops->name;
    ev->lr = t->lr * schedule_factor(&t->cfg, t->step, t->total);
    ev->train_loss = NAN;
    ev->step = t->step;
    ev->epoch = ops->epoch(task);
    ev->kind = RECUR_EV_START;
    ev->train_chars = task->ntrain;
    ev->val_chars = task->nval;
    int saved = 0; // the state as it is now is on disk in last_path
    int stop0 = emit(r.cb, user, ev), rc0;
    if ((rc0 = agree_stop(t, &stop0, err))) return rc0;
    if (stop0) goto interrupted;

    r.t0 = now_s();
    while (t->step < t->total) {
        // A stop asked for by the callback (Ctrl-C) takes effect at the end
        // of the step: the step's validation, best model and periodic state
        // are written first, exactly as an uninterrupted run writes them, so
        // that a resumed run continues the same sequence.
        int stop = 0, outcome = STEP_TAKEN, rc;
        saved = 0; // this iteration moves the data position, at least
        if ((rc = take_step(t, &r, &outcome, &stop, err))) return rc;
        if (outcome == STEP_SKIPPED) {
            if ((rc = agree_stop(t, &stop, err))) return rc;
            if (stop) goto interrupted;
            continue;
        }
        if ((rc = after_step(t, &r, &stop, &saved, err))) return rc;
        if ((rc = agree_stop(t, &stop, err))) return rc;
        if (stop && t->step < t->total) goto interrupted;
    }
    return RECUR_OK;

interrupted:
    if (t->last_path && !saved) {
        int rc2 = recur_trainer_save_state(t, t->last_path, err);
        if (rc2) return rc2;
    }
    return set_error(err, RECUR_EINTERRUPT, "training stopped at step %lld of %lld", t->step, t->total);
}
