/*
 * test_engine.c - the training engine (src/train/engine.c) with a task
 * defined here, in the test: fitting y = a*x + b to noisy points by least
 * squares. Nothing in the library knows this task, so it shows that a new
 * task plugs into the loop without touching it, and it tests the loop's own
 * duties on it: the optimizer and clipping over two parameter buffers,
 * validation and keep-best by the task's metric, the schedule (each formula
 * at chosen steps), the NaN/Inf guard, the resumable state (a run stopped
 * and resumed ends with the same bytes as one that never stopped), and the
 * events.
 */
#include "check.h"
#include "formats/checkpoint.h"
#include "train/engine.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPTS 64

typedef struct line_task {
    train_task base;
    train_task_ops ops;
    float w[2];          /* buffer 0: the slope a, the intercept b ... */
    float extra[3];      /* buffer 1: an unused parameter block (a second buffer) */
    float x[NPTS], y[NPTS];
    int pos;             /* next point of the epoch */
    int bad_from, bad_to;/* steps [from, to) report a NaN loss (the guard's test) */
    long long steps;     /* as set_progress says */
    double best_loss, best_metric;
    long long calls;
    char spos[16];
    int skipped_resets;
} line_task;

static long long lt_per_epoch(train_task *t)
{
    (void)t;
    return NPTS / 8;
}

static double lt_epoch(train_task *bt)
{
    line_task *t = (line_task *)bt;
    return (double)t->pos / NPTS;
}

// A batch of 8 points: loss = mean (a x + b - y)^2, gradients into g.
static int lt_step(train_task *bt, float *const *g, rng *drop, double *loss, long long *chars,
                   recur_error *err)
{
    line_task *t = (line_task *)bt;
    (void)drop;
    (void)err;
    t->calls++;
    double l = 0;
    for (int k = 0; k < 8; k++) {
        int i = (t->pos + k) % NPTS;
        double r = t->w[0] * t->x[i] + t->w[1] - t->y[i];
        l += r * r / 8;
        g[0][0] += (float)(2 * r * t->x[i] / 8);
        g[0][1] += (float)(2 * r / 8);
    }
    g[1][0] += 0.5f; // the second buffer moves too, so its optimizer state matters
    t->pos = (t->pos + 8) % NPTS;
    *loss = t->calls >= t->bad_from && t->calls < t->bad_to ? NAN : l;
    *chars = 8;
    return RECUR_OK;
}

static void lt_after_skip(train_task *bt)
{
    ((line_task *)bt)->skipped_resets++;
}

static void lt_touch(train_task *t)
{
    (void)t;
}

static int lt_has_val(train_task *t)
{
    (void)t;
    return 1;
}

// Loss on the points, and a metric: the share of points within 0.1.
static int lt_validate(train_task *bt, engine_val *v, recur_error *err)
{
    line_task *t = (line_task *)bt;
    (void)err;
    double l = 0;
    int close = 0;
    for (int i = 0; i < NPTS; i++) {
        double r = t->w[0] * t->x[i] + t->w[1] - t->y[i];
        l += r * r / NPTS;
        close += fabs(r) < 0.1;
    }
    v->loss = l;
    v->metric = (double)close / NPTS;
    return RECUR_OK;
}

static void lt_set_progress(train_task *bt, long long steps, double best_loss, double best_metric)
{
    line_task *t = (line_task *)bt;
    t->steps = steps;
    t->best_loss = best_loss;
    t->best_metric = best_metric;
}

static int lt_write(train_task *bt, const char *path, const engine_extra *x, recur_error *err)
{
    line_task *t = (line_task *)bt;
    st_entry e[2 + ENGINE_MAX_EXTRA];
    st_kv kv[2 + ENGINE_MAX_EXTRA];
    size_t ne = 0, nkv = 0;
    char best[32];
    if (isnan(t->best_loss))
        snprintf(best, sizeof best, "none");
    else
        snprintf(best, sizeof best, "%.17g", t->best_loss);
    e[ne++] = (st_entry){"line.w", ST_F32, 1, {2}, t->w};
    e[ne++] = (st_entry){"line.extra", ST_F32, 1, {3}, t->extra};
    kv[nkv++] = (st_kv){"recur.task", "line"};
    kv[nkv++] = (st_kv){"recur.best_val", best};
    for (size_t i = 0; x && i < x->ne; i++) e[ne++] = x->e[i];
    for (size_t i = 0; x && i < x->nkv; i++) kv[nkv++] = x->kv[i];
    return st_write(path, e, ne, kv, nkv, err);
}

static int lt_state_add(train_task *bt, engine_extra *x, recur_error *err)
{
    line_task *t = (line_task *)bt;
    (void)err;
    snprintf(t->spos, sizeof t->spos, "%d", t->pos);
    x->kv[x->nkv++] = (st_kv){"recur.state.pos", t->spos};
    return RECUR_OK;
}

static int read_w(line_task *t, const st_file *f, recur_error *err)
{
    const st_tensor *a = st_find(f, "line.w"), *b = st_find(f, "line.extra");
    if (!a || !b) return set_error(err, RECUR_EFORMAT, "not a line model");
    int rc = st_copy_f32(a, t->w, 2, err);
    return rc ? rc : st_copy_f32(b, t->extra, 3, err);
}

static int lt_state_read(train_task *bt, const st_file *f, const char *path, recur_error *err)
{
    line_task *t = (line_task *)bt;
    long pos;
    (void)path;
    int rc = meta_int(f, "recur.state.pos", 0, NPTS - 1, 1, 0, &pos, err);
    if (!rc) rc = read_w(t, f, err);
    if (!rc) t->pos = (int)pos;
    return rc;
}

static int lt_load_weights(train_task *bt, const char *path, recur_error *err)
{
    st_file *f = NULL;
    int rc = st_read(path, &f, err);
    if (!rc) rc = read_w((line_task *)bt, f, err);
    st_free(f);
    return rc;
}

static void lt_free(train_task *t)
{
    free(t);
}

static const train_task_ops line_ops = {
    .name = "line",
    .metric = "within_0.1",
    .best_by_metric = 1,
    .steps_per_epoch = lt_per_epoch,
    .epoch = lt_epoch,
    .step = lt_step,
    .after_skip = lt_after_skip,
    .touch = lt_touch,
    .has_val = lt_has_val,
    .validate = lt_validate,
    .set_progress = lt_set_progress,
    .write = lt_write,
    .state_add = lt_state_add,
    .state_read = lt_state_read,
    .load_weights = lt_load_weights,
    .free = lt_free,
};

static line_task *line_new(void)
{
    line_task *t = calloc(1, sizeof *t);
    t->base.ops = &line_ops;
    t->base.buf[0] = (engine_buf){.w = t->w, .n = 2, .name = ""};
    t->base.buf[1] = (engine_buf){.w = t->extra, .n = 3, .name = "extra"};
    t->base.nbuf = 2;
    t->base.unit = "points";
    t->base.ntrain = NPTS;
    t->bad_from = t->bad_to = -1;
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < NPTS; i++) {
        t->x[i] = (float)i / NPTS * 4 - 2;
        t->y[i] = 1.5f * t->x[i] - 0.5f + 0.02f * (float)((int)(rng_next(&r) % 100) - 50) / 50;
    }
    return t;
}

typedef struct events {
    int start, steps, evals, saves, skips;
    long long stop_at;
    double last_lr;
    const char *metric;
} events;

static int on_event(const recur_train_event *e, void *user)
{
    events *v = user;
    switch (e->kind) {
    case RECUR_EV_START: v->start++; v->metric = e->metric; break;
    case RECUR_EV_STEP: v->steps++; v->last_lr = e->lr; break;
    case RECUR_EV_EVAL: v->evals++; break;
    case RECUR_EV_SAVE: v->saves++; break;
    case RECUR_EV_SKIP: v->skips++; break;
    default: break;
    }
    return v->stop_at > 0 && e->kind == RECUR_EV_STEP && e->step == v->stop_at;
}

static long file_bytes(const char *path, unsigned char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    if (fread(*out, 1, (size_t)n, f) != (size_t)n) n = -1;
    fclose(f);
    return n;
}

static int same_file(const char *a, const char *b)
{
    unsigned char *x = NULL, *y = NULL;
    long n = file_bytes(a, &x), m = file_bytes(b, &y);
    int same = n >= 0 && n == m && memcmp(x, y, (size_t)n) == 0;
    free(x);
    free(y);
    return same;
}

static void test_fits_and_keeps_best(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = 0.05f;
    c.steps = 400;
    c.eval_every = 20;
    c.clip = 0;
    recur_trainer *t = NULL;
    recur_error err = {0};
    line_task *task = line_new();
    CHECK(trainer_make(&task->base, &c, &t, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_total_steps(t) == 400, "total %lld", recur_trainer_total_steps(t));
    CHECK(!strcmp(recur_trainer_task_name(t), "line"), "task name");
    CHECK(recur_trainer_model(t) == NULL, "a task without a recur_model has none");
    recur_report r;
    CHECK(recur_trainer_report(t, &r, &err) == RECUR_EINVAL, "no report for this task");
    CHECK(recur_trainer_set_outputs(t, "engine_best.safetensors", "engine_last.safetensors", &err) == 0, "%s", err.msg);
    events ev = {0};
    CHECK(recur_trainer_run(t, on_event, &ev, &err) == 0, "%s", err.msg);
    printf("  line: a=%.4f b=%.4f after 400 steps (truth 1.5, -0.5); best share within 0.1: %.3f\n",
           (double)task->w[0], (double)task->w[1], task->best_metric);
    CHECK(fabs(task->w[0] - 1.5) < 0.05 && fabs(task->w[1] + 0.5) < 0.05, "a %g b %g", (double)task->w[0], (double)task->w[1]);
    CHECK(ev.start == 1 && ev.steps == 400 && ev.evals == 20, "events %d %d %d", ev.start, ev.steps, ev.evals);
    CHECK(ev.metric && !strcmp(ev.metric, "within_0.1"), "the task's metric reaches the events");
    CHECK(ev.saves >= 1 && ev.saves <= 20, "best saves %d", ev.saves);
    CHECK(task->steps == 400, "set_progress told the task: %lld", task->steps);
    // The best file holds the model with the best metric; restore_best brings it back.
    float last[2] = {task->w[0], task->w[1]};
    CHECK(recur_trainer_restore_best(t, &err) == 0, "%s", err.msg);
    st_file *f = NULL;
    CHECK(st_read("engine_best.safetensors", &f, &err) == 0, "%s", err.msg);
    float best[2] = {0, 0};
    if (f) st_copy_f32(st_find(f, "line.w"), best, 2, &err);
    st_free(f);
    CHECK(best[0] == task->w[0] && best[1] == task->w[1], "restored weights are the best file's");
    (void)last;
    recur_trainer_free(t);
}

// Stop at step k (as Ctrl-C does, through the callback), resume in a new
// trainer, and compare every byte of both files with an uninterrupted run.
static void test_resume_bit_for_bit(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = 0.05f;
    c.steps = 90;
    c.eval_every = 10;
    c.schedule = RECUR_SCHED_COSINE;
    c.warmup = 7;
    c.lr_min = 0.001f;
    recur_error err = {0};
    recur_trainer *t = NULL;
    line_task *task = line_new();
    trainer_make(&task->base, &c, &t, &err);
    recur_trainer_set_outputs(t, "ref_best.safetensors", "ref_last.safetensors", &err);
    CHECK(recur_trainer_run(t, NULL, NULL, &err) == 0, "%s", err.msg);
    recur_trainer_free(t);
    const long long stops[] = {1, 13, 40, 89};
    for (int s = 0; s < 4; s++) {
        events ev = {0};
        ev.stop_at = stops[s];
        line_task *a = line_new();
        trainer_make(&a->base, &c, &t, &err);
        recur_trainer_set_outputs(t, "cut_best.safetensors", "cut_last.safetensors", &err);
        int rc = recur_trainer_run(t, on_event, &ev, &err);
        CHECK(rc == RECUR_EINTERRUPT, "stop at %lld: %d %s", stops[s], rc, err.msg);
        CHECK(recur_trainer_step(t) == stops[s], "stopped at %lld", recur_trainer_step(t));
        recur_trainer_free(t);
        line_task *b = line_new();
        trainer_make(&b->base, &c, &t, &err);
        recur_trainer_set_outputs(t, "cut_best.safetensors", "cut_last.safetensors", &err);
        CHECK(recur_trainer_resume(t, "cut_last.safetensors", &err) == 0, "%s", err.msg);
        CHECK(b->pos == (int)((stops[s] * 8) % NPTS), "the task read its position back");
        CHECK(recur_trainer_run(t, NULL, NULL, &err) == 0, "%s", err.msg);
        recur_trainer_free(t);
        CHECK(same_file("ref_best.safetensors", "cut_best.safetensors"), "best model, stopped at %lld", stops[s]);
        CHECK(same_file("ref_last.safetensors", "cut_last.safetensors"), "state, stopped at %lld", stops[s]);
    }
    // The model file given instead of the state finds the state beside it
    // (recur_state_path: ref_best.safetensors -> ref_best.last.safetensors).
    char p[64];
    CHECK(recur_state_path("ref_best.safetensors", p, sizeof p) == 0 && !strcmp(p, "ref_best.last.safetensors"), "%s", p);
    CHECK(recur_state_path("model.bin", p, sizeof p) == 0 && !strcmp(p, "model.bin.last"), "%s", p);
    CHECK(recur_state_path("ref_best.safetensors", p, 8) == RECUR_EINVAL, "too small a buffer");
    line_task *d = line_new();
    trainer_make(&d->base, &c, &t, &err);
    int rc = recur_trainer_resume(t, "ref_best.safetensors", &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "ref_best.last.safetensors does not exist"), "%d %s", rc, err.msg);
    recur_trainer_free(t);
    unlink("cut_best.safetensors");
    unlink("cut_last.safetensors");
}

// Each schedule's rate at chosen steps against its formula.
static void test_schedules(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = 0.01f;
    double worst = 0;
    // step (and constant): exactly 1, so the running rate keeps its bits
    for (long long s = 0; s < 100; s += 7) CHECK(schedule_factor(&c, s, 100) == 1.0, "step at %lld", s);
    c.warmup = 10;
    for (long long s = 0; s < 10; s++) {
        double want = (double)(s + 1) / 10;
        worst = fmax(worst, fabs(schedule_factor(&c, s, 100) - want));
    }
    CHECK(schedule_factor(&c, 10, 100) == 1.0, "after the warm-up");
    c.schedule = RECUR_SCHED_COSINE;
    c.lr_min = 0.001f;
    const long long at[] = {10, 11, 55, 99};
    for (int i = 0; i < 4; i++) {
        double p = (double)(at[i] - 10) / 90;
        double want = (0.001 + (0.01 - 0.001) * 0.5 * (1 + cos(3.14159265358979323846 * p))) / 0.01;
        worst = fmax(worst, fabs(schedule_factor(&c, at[i], 100) - want) / want);
    }
    CHECK(fabs(schedule_factor(&c, 10, 100) - 1) < 1e-12, "cosine starts at lr");
    CHECK(fabs(schedule_factor(&c, 5, 100) - 0.6) < 1e-12, "warm-up under cosine");
    CHECK(worst < 1e-6, "schedule worst error %g", worst);
    printf("  schedules: step, warm-up and cosine against their formulas, worst relative error %.2g\n", worst);

    // Through the loop: the rate the events report at each step.
    recur_train_config d;
    recur_train_config_default(&d);
    d.lr = 0.01f;
    d.steps = 40;
    d.eval_every = 0;
    d.lr_decay = 0.5f;
    d.lr_decay_every = 0; // after every epoch: 8 steps
    recur_trainer *t = NULL;
    recur_error err = {0};
    line_task *task = line_new();
    trainer_make(&task->base, &d, &t, &err);
    events ev = {0};
    ev.stop_at = 17;
    recur_trainer_run(t, on_event, &ev, &err);
    CHECK(fabs(ev.last_lr - 0.01 * 0.25) < 1e-9, "step 17 of epochs of 8 with decay 0.5: lr %g", ev.last_lr);
    recur_trainer_free(t);
}

// A non-finite loss: the step is skipped, the rate halves, the task is told;
// ten in a row end the run with RECUR_ENUMERIC.
static void test_guard(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = 0.05f;
    c.steps = 30;
    recur_error err = {0};
    recur_trainer *t = NULL;
    line_task *task = line_new();
    task->bad_from = 5;
    task->bad_to = 8; // three bad steps
    trainer_make(&task->base, &c, &t, &err);
    events ev = {0};
    CHECK(recur_trainer_run(t, on_event, &ev, &err) == 0, "%s", err.msg);
    CHECK(ev.skips == 3 && task->skipped_resets == 3, "skips %d resets %d", ev.skips, task->skipped_resets);
    CHECK(fabs(ev.last_lr - 0.05 / 8) < 1e-9, "three halvings: lr %g", ev.last_lr);
    CHECK(recur_trainer_step(t) == 30, "the run still ends at its last step");
    recur_trainer_free(t);

    task = line_new();
    task->bad_from = 3;
    task->bad_to = 1000;
    trainer_make(&task->base, &c, &t, &err);
    int rc = recur_trainer_run(t, NULL, NULL, &err);
    CHECK(rc == RECUR_ENUMERIC && strstr(err.msg, "10 steps in a row"), "%d %s", rc, err.msg);
    recur_trainer_free(t);
}

/* ---------------------------------------------------------------- AdamW */

// A task whose step adds the fixture's gradient of that step.
typedef struct fixed_task {
    train_task base;
    float w[24];
    const float *grads; /* [steps, 24] */
    int k;
} fixed_task;

static int ft_step(train_task *bt, float *const *g, rng *drop, double *loss, long long *chars,
                   recur_error *err)
{
    fixed_task *t = (fixed_task *)bt;
    (void)drop;
    (void)err;
    for (int i = 0; i < 24; i++) g[0][i] += t->grads[t->k * 24 + i];
    t->k++;
    *loss = 1;
    *chars = 1;
    return RECUR_OK;
}

static long long ft_per_epoch(train_task *t) { (void)t; return 100; }
static double ft_epoch(train_task *t) { (void)t; return 0; }
static int ft_no_val(train_task *t) { (void)t; return 0; }
static void ft_progress(train_task *t, long long s, double a, double b) { (void)t; (void)s; (void)a; (void)b; }

static const train_task_ops fixed_ops = {
    .name = "fixed", .steps_per_epoch = ft_per_epoch, .epoch = ft_epoch, .step = ft_step,
    .touch = lt_touch, .has_val = ft_no_val, .set_progress = ft_progress, .free = lt_free,
};

typedef struct adamw_watch {
    fixed_task *task;
    const float *after; /* [steps, 24] */
    double worst;
} adamw_watch;

static int adamw_event(const recur_train_event *e, void *user)
{
    adamw_watch *a = user;
    if (e->kind != RECUR_EV_STEP) return 0;
    for (int i = 0; i < 24; i++) {
        double want = a->after[(e->step - 1) * 24 + i], got = a->task->w[i];
        a->worst = fmax(a->worst, fabs(got - want) / (fabs(want) + 1e-3));
    }
    return 0;
}

// recur's adam with weight_decay against torch.optim.AdamW (the matrix
// decayed, the bias not), three steps of the same gradients:
// tests/fixtures/adamw.safetensors, from tools/make_optim_fixture.py.
static void test_adamw_against_pytorch(void)
{
    st_file *f = NULL;
    recur_error err = {0};
    if (st_read(RECUR_SOURCE_DIR "/tests/fixtures/adamw.safetensors", &f, &err)) {
        CHECK(0, "fixture: %s", err.msg);
        return;
    }
    float w0[24], grads[72], after[72];
    CHECK(st_copy_f32(st_find(f, "w0"), w0, 24, &err) == 0 && st_copy_f32(st_find(f, "grads"), grads, 72, &err) == 0 &&
              st_copy_f32(st_find(f, "after"), after, 72, &err) == 0,
          "fixture tensors: %s", err.msg);
    double lr = atof(st_meta(f, "lr")), wd = atof(st_meta(f, "weight_decay"));
    st_free(f);
    fixed_task *task = calloc(1, sizeof *task);
    static const size_t matrix[2] = {0, 16};
    task->base.ops = &fixed_ops;
    task->base.buf[0] = (engine_buf){.w = task->w, .n = 24, .decay = matrix, .ndecay = 1, .name = ""};
    task->base.nbuf = 1;
    task->base.unit = "steps";
    memcpy(task->w, w0, sizeof w0);
    task->grads = grads;
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = (float)lr;
    c.weight_decay = (float)wd;
    c.clip = 0;
    c.steps = 3;
    recur_trainer *t = NULL;
    CHECK(trainer_make(&task->base, &c, &t, &err) == 0, "%s", err.msg);
    adamw_watch a = {task, after, 0};
    CHECK(recur_trainer_run(t, adamw_event, &a, &err) == 0, "%s", err.msg);
    printf("  adamw (lr %g, weight decay %g, bias not decayed) vs torch.optim.AdamW, 3 steps: worst relative error %.2g\n",
           lr, wd, a.worst);
    CHECK(a.worst < 1e-5, "AdamW differs from PyTorch's by %g", a.worst);
    // Without the decay the matrix ends elsewhere: the test can fail.
    CHECK(fabs(task->w[0] - after[2 * 24]) < 1e-5 * (fabs(after[2 * 24]) + 1e-3), "the decayed weight itself");
    recur_trainer_free(t);
}

// The plateau schedule: the rate drops by lr_decay after `patience`
// validations without a lower loss, and the count lives in the state.
static void test_plateau(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    c.lr = 0.05f;
    c.steps = 60;
    c.eval_every = 5;
    c.schedule = RECUR_SCHED_PLATEAU;
    c.patience = 2;
    c.lr_decay = 0.5f;
    recur_error err = {0};
    recur_trainer *t = NULL;
    line_task *task = line_new();
    trainer_make(&task->base, &c, &t, &err);
    events ev = {0};
    CHECK(recur_trainer_run(t, on_event, &ev, &err) == 0, "%s", err.msg);
    // The fit converges within a few validations, then stalls on the noise: the rate must drop.
    CHECK(ev.last_lr < 0.05 && ev.last_lr >= 0.05 / 1024, "plateau lr at the end %g", ev.last_lr);
    printf("  plateau: lr 0.05 -> %g after 60 steps (validation every 5, patience 2)\n", ev.last_lr);
    recur_trainer_free(t);
}

static void test_bad_config(void)
{
    recur_train_config c;
    recur_train_config_default(&c);
    recur_error err = {0};
    c.lr_min = 1;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "lr_min above lr");
    recur_train_config_default(&c);
    c.warmup = -1;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "negative warm-up");
    recur_train_config_default(&c);
    c.schedule = (recur_schedule)7;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "unknown schedule");
    recur_train_config_default(&c);
    c.lr = NAN;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "NaN lr");
    CHECK(recur_schedule_parse("cosine") == RECUR_SCHED_COSINE && recur_schedule_parse("x") == -1, "parse");
    recur_train_config_default(&c);
    c.patience = 0;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "patience 0");
    recur_train_config_default(&c);
    c.weight_decay = -1;
    CHECK(engine_check_config(&c, &err) == RECUR_EINVAL, "negative weight decay");
}

int main(void)
{
    test_fits_and_keeps_best();
    test_resume_bit_for_bit();
    test_schedules();
    test_guard();
    test_adamw_against_pytorch();
    test_plateau();
    test_bad_config();
    unlink("engine_best.safetensors");
    unlink("engine_last.safetensors");
    unlink("ref_best.safetensors");
    unlink("ref_last.safetensors");
    return check_exit();
}
