/*
 * state.c - the trainer's resumable state (recur_trainer_save_state,
 * recur_trainer_resume): the weights and optimizer moments of every buffer,
 * the step, the learning rate, the dropout stream, the schedule's and the
 * best model's progress, and what the task adds (engine_extra), in one
 * safetensors file; a resumed run continues bit for bit.
 */
#include "train/trainer.h"

#include "formats/checkpoint.h" /* meta_int */

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    // bf16 mixed precision as it ran (absent: fp32): a resume must run the same.
    if (engine_bf16(&t->cfg)) extra_meta(x, "recur.state.precision", "bf16");
    // Recompute sums the weight gradients chunk by chunk (other rounding):
    // likewise recorded when on, and a resume must run the same.
    if (t->cfg.recompute) extra_meta(x, "recur.state.recompute", "1");
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
    const char *prec = st_meta(f, "recur.state.precision");
    if (prec && strcmp(prec, "bf16")) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained in precision \"%.20s\", which this recur does not know", p, prec);
        goto done;
    }
    if ((prec != NULL) != (engine_bf16(&t->cfg) != 0)) {
        if (prec && t->cfg.bf16)
            rc = set_error(err, RECUR_EINVAL, "%s was trained with bf16 products, which this CPU cannot run (no AVX512-BF16, or RECUR_KERNELS=portable); resume it where it began", p);
        else
            rc = set_error(err, RECUR_EINVAL, "%s was trained %s; resume %s (a different precision would not continue the same run)",
                           p, prec ? "with --bf16" : "in fp32 (no --bf16)", prec ? "with --bf16" : "without --bf16");
        goto done;
    }
    const char *rcp = st_meta(f, "recur.state.recompute");
    if (rcp && strcmp(rcp, "1")) {
        rc = set_error(err, RECUR_EINVAL, "%s has recur.state.recompute \"%.20s\", which this recur does not know", p, rcp);
        goto done;
    }
    if ((rcp != NULL) != (t->cfg.recompute != 0)) {
        rc = set_error(err, RECUR_EINVAL, "%s was trained %s; resume %s (the other would not continue the same run)", p,
                       rcp ? "with --recompute" : "without --recompute", rcp ? "with --recompute" : "without it");
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
