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
#include "train/engine.h"

#include "formats/checkpoint.h" /* meta_int */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SKIPS 10 /* consecutive non-finite steps before giving up */

struct recur_trainer {
    train_task *task;
    recur_train_config cfg;
    float *g[ENGINE_MAX_BUFS]; /* views of gbase: one buffer, one allreduce per step */
    float *gbase;
    size_t gtotal;
    recur_comm comm;           /* data-parallel ranks (comm.size 0: one process) */
    optim_state opt[ENGINE_MAX_BUFS];
    rng drop;                  /* dropout masks: saved in the state */
    long long step, total, per_epoch;
    float lr;                  /* lr x step decays x skip halvings (schedule_factor on top) */
    double last_val, last_metric; /* the last validation */
    double best_val, best_metric; /* the saved best model's */
    int skips;
    int plateau;               /* validations in a row without a lower loss (plateau schedule) */
    double plateau_best;       /* the lowest validation loss so far (plateau schedule) */
    char *best_path, *last_path;
    float *best_w[ENGINE_MAX_BUFS]; /* the best weights, kept when no best_path holds them */
    int have_best_w;
    int best_lost;             /* resumed, and best_path does not hold the run's best model */
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

/* ---------------------------------------------------------------- state */

void extra_tensor(engine_extra *x, st_entry e)
{
    if (x->ne < ENGINE_MAX_EXTRA)
        x->e[x->ne++] = e;
    else
        x->full = 1;
}

void extra_meta(engine_extra *x, const char *key, const char *value)
{
    if (x->nkv < ENGINE_EXTRA_META)
        x->kv[x->nkv++] = (st_kv){key, value};
    else
        x->full = 1;
}

static void put_double(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "none");
    else
        snprintf(buf, n, "%.17g", v);
}

int recur_trainer_save_state(recur_trainer *t, const char *path, recur_error *err)
{
    if (!t || !path) return set_error(err, RECUR_EINVAL, "NULL argument");
    train_task *task = t->task;
    engine_extra *x = calloc(1, sizeof *x);
    if (!x) return set_error(err, RECUR_ENOMEM, "out of memory");
    char names[ENGINE_MAX_BUFS][2][64];
    for (int k = 0; k < task->nbuf; k++) {
        const char *b = task->buf[k].name;
        snprintf(names[k][0], sizeof names[k][0], "optim.%s%sm", b, *b ? "." : "");
        snprintf(names[k][1], sizeof names[k][1], "optim.%s%sv", b, *b ? "." : "");
        extra_tensor(x, (st_entry){names[k][0], ST_F32, 1, {task->buf[k].n}, t->opt[k].m});
        extra_tensor(x, (st_entry){names[k][1], ST_F32, 1, {task->buf[k].n}, t->opt[k].v});
    }
    char step[32], lr[32], ot[32], rngs[80], lastv[32], lastm[32], bestm[32], skips[16];
    snprintf(step, sizeof step, "%lld", t->step);
    snprintf(lr, sizeof lr, "%.9g", (double)t->lr);
    snprintf(ot, sizeof ot, "%lld", t->opt[0].t);
    snprintf(rngs, sizeof rngs, "%016llx%016llx%016llx%016llx", (unsigned long long)t->drop.s[0],
             (unsigned long long)t->drop.s[1], (unsigned long long)t->drop.s[2],
             (unsigned long long)t->drop.s[3]);
    put_double(lastv, sizeof lastv, t->last_val);
    put_double(lastm, sizeof lastm, t->last_metric);
    put_double(bestm, sizeof bestm, t->best_metric);
    snprintf(skips, sizeof skips, "%d", t->skips);
    extra_meta(x, "recur.state.step", step);
    extra_meta(x, "recur.state.lr", lr);
    extra_meta(x, "recur.state.optim", optim_name(t->cfg.optim));
    extra_meta(x, "recur.state.optim_t", ot);
    extra_meta(x, "recur.state.rng", rngs);
    extra_meta(x, "recur.state.last_val", lastv);
    // The language model's state files keep the keys they had before the
    // engine; the metric's keys exist only for tasks that have one.
    if (task->ops->metric) {
        extra_meta(x, "recur.state.last_metric", lastm);
        extra_meta(x, "recur.state.best_metric", bestm);
    }
    if (t->skips) extra_meta(x, "recur.state.skips", skips); // only while skipping
    // The schedule (a state written before schedules existed, or with the
    // default, has none: step).
    if (t->cfg.schedule != RECUR_SCHED_STEP) extra_meta(x, "recur.state.schedule", recur_schedule_name(t->cfg.schedule));
    char plateau[16], pbest[32];
    if (t->cfg.schedule == RECUR_SCHED_PLATEAU) {
        snprintf(plateau, sizeof plateau, "%d", t->plateau);
        put_double(pbest, sizeof pbest, t->plateau_best);
        extra_meta(x, "recur.state.plateau", plateau);
        extra_meta(x, "recur.state.plateau_best", pbest);
    }
    // Every rank adds the task's part (it may gather rows from the others);
    // rank 0 alone writes.
    int rc = task->ops->state_add(task, x, err);
    if (!rc && x->full)
        rc = set_error(err, RECUR_EINVAL, "this %s model's training state has more parts than a state file holds (%d tensors, %d metadata entries)",
                       task->ops->name, ENGINE_MAX_EXTRA, ENGINE_EXTRA_META);
    if (!rc) {
        task->ops->set_progress(task, t->step, t->best_val, t->best_metric);
        if (task->rank == 0) rc = task->ops->write(task, path, x, err);
    }
    free(x);
    return rc;
}

static int meta_double(const st_file *f, const char *key, double *out, recur_error *err)
{
    const char *s = st_meta(f, key);
    *out = NAN;
    if (!s || !strcmp(s, "none")) return RECUR_OK;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return set_error(err, RECUR_EFORMAT, "metadata %s=\"%.40s\" is not a finite number", key, s);
    *out = v;
    return RECUR_OK;
}

// The file a path given to --resume means: itself when it holds a training
// state; for a model file (the --out of a run), the state file written beside it.
static int state_file(const char *path, st_file **f, char **used, recur_error *err)
{
    int rc = st_read(path, f, err);
    if (rc) return rc;
    *used = NULL;
    if (st_meta(*f, "recur.state.step")) return RECUR_OK;
    st_free(*f);
    *f = NULL;
    char alt[4200];
    if (recur_state_path(path, alt, sizeof alt) != RECUR_OK)
        return set_error(err, RECUR_EINVAL, "%s holds a model but no training state", path);
    FILE *probe = fopen(alt, "rb");
    if (!probe)
        return set_error(err, RECUR_EINVAL, "%s holds a model but no training state, and its state file %s does not exist (resume from the .last file that training writes)",
                         path, alt);
    fclose(probe);
    if ((rc = st_read(alt, f, err))) return rc;
    if (!st_meta(*f, "recur.state.step")) {
        st_free(*f);
        *f = NULL;
        return set_error(err, RECUR_EINVAL, "neither %s nor %s holds a training state", path, alt);
    }
    if (!(*used = strdup(alt))) {
        st_free(*f);
        *f = NULL;
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    return RECUR_OK;
}

static int optim_tensor(const st_file *f, const char *name, float *dst, size_t n, recur_error *err)
{
    const st_tensor *tt = st_find(f, name);
    if (!tt) return set_error(err, RECUR_EFORMAT, "not a resumable state: tensor \"%s\" is missing", name);
    return st_copy_f32(tt, dst, n, err);
}

// Whether the model file at path is the best model a state speaks of: its
// recur.best_val is the state's, to the last digit.
static int holds_best(const char *path, const char *best)
{
    st_file *f = NULL;
    if (st_read(path, &f, NULL)) return 0;
    const char *b = st_meta(f, "recur.best_val");
    int same = b && !st_meta(f, "recur.state.step") && !strcmp(b, best);
    st_free(f);
    return same;
}

// After a resume: the best model so far must be in best_path, where this run
// writes it and recur_trainer_restore_best reads it. When best_path is not
// the --out of the run that was resumed, that run's best model (the file the
// user named, or the model file beside the state) is copied there.
static void carry_best(recur_trainer *t, const char *given, const char *state_path, const st_file *f)
{
    const char *best = st_meta(f, "recur.best_val");
    t->best_lost = 0;
    if (!t->best_path || !best || !strcmp(best, "none") || holds_best(t->best_path, best)) return;
    char from[4200];
    from[0] = 0;
    if (strcmp(given, state_path)) {
        snprintf(from, sizeof from, "%s", given); // --resume named the model file
    } else {
        // STATE is NAME.last.safetensors (or NAME.last): its model file is NAME.safetensors (NAME).
        size_t n = strlen(state_path);
        const char *a = ".last.safetensors", *b = ".last";
        if (n > strlen(a) && !strcmp(state_path + n - strlen(a), a))
            snprintf(from, sizeof from, "%.*s.safetensors", (int)(n - strlen(a)), state_path);
        else if (n > strlen(b) && !strcmp(state_path + n - strlen(b), b))
            snprintf(from, sizeof from, "%.*s", (int)(n - strlen(b)), state_path);
    }
    st_file *m = NULL;
    if (from[0] && holds_best(from, best) && !st_read(from, &m, NULL)) {
        if (st_write_bytes(t->best_path, m->buf, m->len, NULL) == 0) {
            st_free(m);
            return;
        }
    }
    st_free(m);
    t->best_lost = 1;
}

int recur_trainer_resume(recur_trainer *t, const char *path, recur_error *err)
{
    if (!t || !path) return set_error(err, RECUR_EINVAL, "NULL argument");
    train_task *task = t->task;
    st_file *f = NULL;
    char *used = NULL;
    int rc = state_file(path, &f, &used, err);
    if (rc) return rc;
    const char *p = used ? used : path;
    const char *kind = st_meta(f, "recur.task");
    // States written before tasks were named are language models'.
    const char *want = task->ops->name;
    if (!(kind ? !strcmp(kind, want) : !strcmp(want, "lm"))) {
        rc = set_error(err, RECUR_EINVAL, "%s is the state of a %s model, not of the %s model being trained",
                       p, kind ? kind : "lm", want);
        goto done;
    }
    long step, ot, skips;
    if ((rc = meta_int(f, "recur.state.skips", 0, MAX_SKIPS - 1, 0, 0, &skips, err)) ||
        (rc = meta_int(f, "recur.state.step", 0, 0x7fffffffL, 1, 0, &step, err)) ||
        (rc = meta_int(f, "recur.state.optim_t", 0, 0x7fffffffL, 1, 0, &ot, err)))
        goto done;
    if (step > t->total) {
        rc = set_error(err, RECUR_EINVAL, "%s is at step %ld, past the %lld steps of this run (raise --steps or --epochs)",
                       p, step, t->total);
        goto done;
    }
    const char *sn = st_meta(f, "recur.state.schedule");
    if (recur_schedule_parse(sn ? sn : "step") != (int)t->cfg.schedule) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained with --schedule %.20s; resume with the same schedule (got %s)",
                       p, sn ? sn : "step", recur_schedule_name(t->cfg.schedule));
        goto done;
    }
    const char *on = st_meta(f, "recur.state.optim");
    if (!on || optim_parse(on) != (int)t->cfg.optim) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained with --optim %s; resume with the same optimizer",
                       p, on ? on : "?");
        goto done;
    }
    const char *lr = st_meta(f, "recur.state.lr"), *rs = st_meta(f, "recur.state.rng");
    uint64_t s[4];
    char *end = NULL;
    float lrv = lr ? strtof(lr, &end) : NAN;
    if (!lr || end == lr || *end || !(lrv > 0) || !isfinite(lrv)) {
        rc = set_error(err, RECUR_EFORMAT, "%s: recur.state.lr is missing or not a positive number", p);
        goto done;
    }
    if (!rs || strlen(rs) != 64 ||
        sscanf(rs, "%16llx%16llx%16llx%16llx", (unsigned long long *)&s[0],
               (unsigned long long *)&s[1], (unsigned long long *)&s[2],
               (unsigned long long *)&s[3]) != 4 ||
        !(s[0] | s[1] | s[2] | s[3])) {
        rc = set_error(err, RECUR_EFORMAT, "%s: recur.state.rng is missing or malformed", p);
        goto done;
    }
    double last_val, last_metric, best_val, best_metric, plateau_best;
    long plateau;
    if ((rc = meta_int(f, "recur.state.plateau", 0, 1000000, 0, 0, &plateau, err)) ||
        (rc = meta_double(f, "recur.state.plateau_best", &plateau_best, err)) ||
        (rc = meta_double(f, "recur.state.last_val", &last_val, err)) ||
        (rc = meta_double(f, "recur.state.last_metric", &last_metric, err)) ||
        (rc = meta_double(f, "recur.state.best_metric", &best_metric, err)) ||
        (rc = meta_double(f, "recur.best_val", &best_val, err)))
        goto done;
    // Buffers of optimizer moments, checked before anything is taken.
    char name[2][64];
    for (int k = 0; k < task->nbuf; k++) {
        const char *b = task->buf[k].name;
        snprintf(name[0], sizeof name[0], "optim.%s%sm", b, *b ? "." : "");
        snprintf(name[1], sizeof name[1], "optim.%s%sv", b, *b ? "." : "");
        for (int j = 0; j < 2; j++) {
            const st_tensor *tt = st_find(f, name[j]);
            if (!tt || tt->dtype != ST_F32 || tt->nelem != task->buf[k].n) {
                rc = set_error(err, RECUR_EFORMAT, "%s: tensor \"%s\" is missing or not F32 [%zu]", p, name[j], task->buf[k].n);
                goto done;
            }
        }
    }
    // The task checks the model is this very one and takes its weights and data position.
    if ((rc = task->ops->state_read(task, f, p, err))) goto done;
    for (int k = 0; k < task->nbuf && !rc; k++) {
        const char *b = task->buf[k].name;
        snprintf(name[0], sizeof name[0], "optim.%s%sm", b, *b ? "." : "");
        snprintf(name[1], sizeof name[1], "optim.%s%sv", b, *b ? "." : "");
        rc = optim_tensor(f, name[0], t->opt[k].m, task->buf[k].n, err);
        if (!rc) rc = optim_tensor(f, name[1], t->opt[k].v, task->buf[k].n, err);
        t->opt[k].t = ot;
    }
    if (rc) goto done;
    task->ops->touch(task);
    t->step = step;
    t->skips = (int)skips;
    t->lr = lrv;
    t->last_val = last_val;
    t->last_metric = last_metric;
    t->best_val = best_val;
    t->best_metric = best_metric;
    t->plateau = (int)plateau;
    t->plateau_best = plateau_best;
    t->have_best_w = 0;
    memcpy(t->drop.s, s, sizeof s);
    task->ops->set_progress(task, t->step, t->best_val, t->best_metric);
    carry_best(t, path, p, f);
done:
    free(used);
    st_free(f);
    return rc;
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
                  (double)task->nval, task->nbuf};
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

/* ---------------------------------------------------------------- paths */

int recur_state_path(const char *model_path, char *out, size_t cap)
{
    if (!model_path || !*model_path || !out || cap == 0) return RECUR_EINVAL;
    size_t n = strlen(model_path);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    int w;
    if (n > el && strcmp(model_path + n - el, ext) == 0)
        w = snprintf(out, cap, "%.*s.last%s", (int)(n - el), model_path, ext);
    else
        w = snprintf(out, cap, "%s.last", model_path);
    return w < 0 || (size_t)w >= cap ? RECUR_EINVAL : RECUR_OK;
}
