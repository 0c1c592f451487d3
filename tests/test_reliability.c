/*
 * test_reliability.c - what docs/reliability.md promises, in process and
 * deterministic:
 *  - a stop requested at any point of a step (START, STEP, EVAL, SAVE,
 *    SAMPLE, SKIP: where Ctrl-C is noticed) leaves files from which a
 *    resumed run gives the uninterrupted run's losses, validation losses,
 *    best model and final state bit for bit; the best model on disk is
 *    always the one the state's best validation loss belongs to;
 *  - NaN/Inf: a non-finite loss skips the step (weights untouched), halves
 *    the learning rate and training goes on; ten in a row stop with
 *    RECUR_ENUMERIC, also across an interruption; an update that overflows a
 *    weight stops before anything is saved; a non-finite validation loss is
 *    never saved as the best model;
 *  - an atomic write succeeds over a stale PATH.tmp.PID left by a killed
 *    process with our PID, and never writes through a link planted there;
 *  - the JSON parser refuses a document with more than 2,000,000 values
 *    (a 100 MB header cannot ask for gigabytes) but still takes the largest
 *    legitimate one, a vocabulary of every Unicode scalar value;
 *  - a large text (192 MB, generated) is scanned, evaluated, trained on and
 *    walked by the batcher past an epoch with peak RSS growing by far less
 *    than its size: passes release the pages they have read;
 *  - the fuzz targets' regression corpora (fuzz/corpus/ files, and
 *    tests/corpus/safetensors) replay clean: any fuzz finding saved there is
 *    a test from then on.
 */
#include "check.h"
#include "formats/checkpoint.h"
#include "base/json.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECUR_FUZZ_NO_MAIN
#define FUZZ_ASSERT(c) CHECK(c, "fuzz property (%s)", fuzz_current)
static const char *fuzz_current = "";
#include "../fuzz/fuzz_checkpoint.c"
#include "../fuzz/fuzz_text.c"
#include "../fuzz/fuzz_state.c"
#include "../fuzz/fuzz_entry.c"

static int under_valgrind(void)
{
    const char *v = getenv("RECUR_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

static char tmp_dir[64];

static const char *tmppath(const char *name)
{
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

static int has(const recur_error *err, const char *needle)
{
    return strstr(err->msg, needle) != NULL;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    uint8_t *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---------------------------------------------------------------- a recorded run */

typedef struct trace {
    double loss[256];
    long long loss_step[256];
    int nloss;
    double val[256];
    int nval;
    int nskip;
    float lr_at_skip[64];
    // Stop request: at the first event of this kind at this step (or, for
    // SKIP, at the stop_skip-th skip).
    int stop_kind;
    long long stop_step;
    int stop_skip;
    int stopped;
    // Weights at the last STEP, to check that a SKIP changed nothing.
    const recur_model *m;
    float *snap;
    int skip_touched;
} trace;

static void trace_init(trace *t, const recur_model *m)
{
    memset(t, 0, sizeof *t);
    t->stop_kind = -1;
    t->m = m;
    t->snap = malloc(m->nw * sizeof(float));
    memcpy(t->snap, m->w, m->nw * sizeof(float));
}

static void trace_free(trace *t)
{
    free(t->snap);
    t->snap = NULL;
}

static int on_event(const recur_train_event *e, void *user)
{
    trace *t = user;
    switch (e->kind) {
    case RECUR_EV_STEP:
        if (t->nloss < 256) t->loss_step[t->nloss] = e->step, t->loss[t->nloss++] = e->train_loss;
        memcpy(t->snap, t->m->w, t->m->nw * sizeof(float));
        break;
    case RECUR_EV_EVAL:
        if (t->nval < 256) t->val[t->nval++] = e->val_loss;
        break;
    case RECUR_EV_SKIP:
        if (t->nskip < 64) t->lr_at_skip[t->nskip] = (float)e->lr;
        t->nskip++;
        if (memcmp(t->snap, t->m->w, t->m->nw * sizeof(float)) != 0) t->skip_touched = 1;
        break;
    default:
        break;
    }
    if (t->stopped) return 0;
    if ((int)e->kind == t->stop_kind &&
        (e->kind == RECUR_EV_SKIP ? t->nskip == t->stop_skip : e->step == t->stop_step)) {
        t->stopped = 1;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- stop anywhere, resume exactly */

static char *shakespeare(size_t n, size_t *len)
{
    size_t all = 0;
    uint8_t *b = slurp(RECUR_SOURCE_DIR "/data/tinyshakespeare.txt", &all);
    if (!b) return NULL;
    *len = all < n ? all : n;
    // Cut at a character boundary (the file is ASCII, but be safe).
    while (*len > 0 && (b[*len] & 0xC0) == 0x80) (*len)--;
    return (char *)b;
}

typedef struct setup {
    const char *text;
    size_t len;
    recur_model_config mc;
    recur_train_config tc;
} setup;

static void exact_setup(setup *s, const char *text, size_t len)
{
    s->text = text;
    s->len = len;
    recur_model_config_default(&s->mc);
    s->mc.cell = RECUR_CELL_LSTM;
    s->mc.hidden = 16;
    s->mc.layers = 2;
    s->mc.dropout = 0.2f; // so that the dropout generator must be restored too
    recur_train_config_default(&s->tc);
    s->tc.seq = 8;
    s->tc.batch = 4;
    s->tc.steps = 24;
    s->tc.eval_every = 4;
    s->tc.val_frac = 0.1;
    s->tc.val_max_chars = 400;
    s->tc.sample_every = 5;
    s->tc.sample_len = 20;
    s->tc.save_every = 6;
    s->tc.lr = 1e-2f;
    s->tc.threads = 1;
}

// A fresh model, as `recur train` makes it (or NULL on failure).
static recur_model *fresh_model(const setup *s)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err = {0};
    if (recur_vocab_from_text(s->text, s->len, 0, &v, &err) == 0)
        CHECK(recur_model_new(&s->mc, v, s->tc.seed, &m, &err) == 0, "%s", err.msg);
    recur_vocab_free(v);
    return m;
}

// Runs the setup with outputs best/last; resume: load the model and the
// state from last first, as `recur train --resume` does. Returns the status.
static int run_setup(const setup *s, const char *best, const char *last, int resume, trace *tr,
                     int stop_kind, long long stop_step, int stop_skip, recur_error *err)
{
    recur_model *m = NULL;
    if (resume) {
        CHECK(recur_model_load(last, &m, err) == 0, "load %s: %s", last, err->msg);
    } else {
        m = fresh_model(s);
    }
    if (!m) return -100;
    trace_init(tr, m);
    tr->stop_kind = stop_kind;
    tr->stop_step = stop_step;
    tr->stop_skip = stop_skip;
    recur_trainer *t = NULL;
    int rc = recur_trainer_new(m, &s->tc, s->text, s->len, NULL, 0, &t, err);
    if (!rc) rc = recur_trainer_set_outputs(t, best, last, err);
    if (!rc && resume) rc = recur_trainer_resume(t, last, err);
    if (!rc) rc = recur_trainer_run(t, on_event, tr, err);
    recur_trainer_free(t);
    recur_model_free(m);
    return rc;
}

static double model_best_val(const char *path, long long *steps)
{
    recur_model *m = NULL;
    recur_error err = {0};
    if (recur_model_load(path, &m, &err)) return -1;
    recur_model_info info;
    recur_model_get_info(m, &info);
    if (steps) *steps = info.steps;
    recur_model_free(m);
    return info.best_val;
}

static const char *kind_name(int k)
{
    static const char *const n[] = {"START", "STEP", "EVAL", "SAMPLE", "SAVE", "SKIP"};
    return k >= 0 && k <= 5 ? n[k] : "?";
}

static void test_stop_anywhere(void)
{
    size_t len = 0;
    char *text = shakespeare(12000, &len);
    CHECK(text != NULL, "cannot read tinyshakespeare");
    if (!text) return;
    setup s;
    exact_setup(&s, text, len);
    recur_error err = {0};
    trace ref;
    const char *rbest = tmppath("ref.safetensors"), *rlast = tmppath("ref.last.safetensors");
    CHECK(run_setup(&s, rbest, rlast, 0, &ref, -1, 0, 0, &err) == 0, "reference run: %s", err.msg);
    trace_free(&ref);
    CHECK(ref.nloss == 24 && ref.nval == 6, "reference: %d steps, %d validations", ref.nloss, ref.nval);

    // Where a Ctrl-C can be noticed: each event kind, at ordinary steps, at
    // validation steps (4, 8, ...), at a periodic save (6, 12), at the last
    // step (24). SAVE happens only when the validation loss improved.
    struct { int kind; long long step; } at[] = {
        {RECUR_EV_START, 0},  {RECUR_EV_STEP, 3},  {RECUR_EV_STEP, 8},   {RECUR_EV_EVAL, 8},
        {RECUR_EV_SAVE, 4},   {RECUR_EV_SAMPLE, 10}, {RECUR_EV_STEP, 12}, {RECUR_EV_EVAL, 20},
        {RECUR_EV_STEP, 24},  {RECUR_EV_EVAL, 24},
    };
    int n = (int)(sizeof at / sizeof at[0]), exact = 0;
    for (int i = 0; i < n; i++) {
        const char *best = tmppath("run.safetensors"), *last = tmppath("run.last.safetensors");
        unlink(best);
        unlink(last);
        trace a, b;
        int rc = run_setup(&s, best, last, 0, &a, at[i].kind, at[i].step, 0, &err);
        trace_free(&a);
        const char *what = kind_name(at[i].kind);
        CHECK(a.stopped, "stop at %s %lld: the event never came", what, at[i].step);
        int finished = at[i].step == s.tc.steps;
        CHECK(rc == (finished ? 0 : RECUR_EINTERRUPT), "stop at %s %lld: rc %d %s", what,
              at[i].step, rc, err.msg);
        // What is on disk after the stop: a state at the step where the
        // stop happened, and a best model matching the state's best loss.
        long long st_steps = -1, b_steps = -1;
        double st_best = model_best_val(last, &st_steps);
        CHECK(st_steps == at[i].step, "stop at %s %lld: state is at step %lld", what, at[i].step,
              st_steps);
        if (isnan(st_best)) {
            CHECK(!exists(best), "stop at %s %lld: a best model without a best loss", what, at[i].step);
        } else {
            double b_best = model_best_val(best, &b_steps);
            CHECK(b_best == st_best, "stop at %s %lld: the state's best validation loss %.9g is not the best model's (%.9g, step %lld)",
                  what, at[i].step, st_best, b_best, b_steps);
        }
        // Resume to the end: the same losses, validations and files.
        rc = run_setup(&s, best, last, 1, &b, -1, 0, 0, &err);
        trace_free(&b);
        CHECK(rc == 0, "stop at %s %lld: resume: %s", what, at[i].step, err.msg);
        int same = a.nloss + b.nloss == ref.nloss && a.nval + b.nval == ref.nval;
        for (int k = 0; same && k < a.nloss; k++) same = a.loss[k] == ref.loss[k];
        for (int k = 0; same && k < b.nloss; k++) same = b.loss[k] == ref.loss[a.nloss + k];
        for (int k = 0; same && k < a.nval; k++) same = a.val[k] == ref.val[k];
        for (int k = 0; same && k < b.nval; k++) same = b.val[k] == ref.val[a.nval + k];
        CHECK(same, "stop at %s %lld: losses differ (%d+%d steps, %d+%d validations)", what,
              at[i].step, a.nloss, b.nloss, a.nval, b.nval);
        int files = same_file(best, rbest) && same_file(last, rlast);
        CHECK(files, "stop at %s %lld: the resumed run's files differ from the reference", what,
              at[i].step);
        exact += same && files;
    }
    printf("  stop at %d points (START, STEP, EVAL, SAVE, SAMPLE; ordinary, validation, save and last steps), resume: %d of %d bit-exact (losses, validations, best model, state)\n",
           n, exact, n);
    free(text);
}

/* ---------------------------------------------------------------- NaN and Inf */

// A relu RNN over "abab...", in which the weights turn the character 'z'
// into a hidden state of 3e38 and so an infinite logit: every window with
// 'z' as an input has a NaN loss, every other one is ordinary.
static recur_model *poisoned_model(const char *vocab_text, recur_vocab **vout)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err = {0};
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.relu = 1;
    mc.hidden = 4;
    mc.layers = 1;
    CHECK(recur_vocab_from_text(vocab_text, strlen(vocab_text), 0, &v, &err) == 0, "%s", err.msg);
    CHECK(recur_model_new(&mc, v, 7, &m, &err) == 0, "%s", err.msg);
    const param_view *ih = model_find_view(m, "rnn.weight_ih_l0");
    const param_view *hh = model_find_view(m, "rnn.weight_hh_l0");
    const param_view *hw = model_find_view(m, "head.weight");
    int z = recur_vocab_id(v, 'z');
    CHECK(ih && hh && hw && z >= 0, "model layout");
    for (int r = 0; r < ih->rows; r++) m->w[ih->off + (size_t)r * (size_t)ih->cols + (size_t)z] = 3e38f;
    for (size_t i = 0; i < hh->n; i++) m->w[hh->off + i] = 0; // no recurrence: no slow blow-up
    for (size_t i = 0; i < hw->n; i++) m->w[hw->off + i] = 1.0f;
    *vout = v;
    return m;
}

static int weights_all_finite(const recur_model *m, int skip_col_z)
{
    const param_view *ih = model_find_view(m, "rnn.weight_ih_l0");
    int z = recur_vocab_id(m->vocab, 'z');
    for (size_t i = 0; i < m->nw; i++) {
        if (skip_col_z && i >= ih->off && i < ih->off + ih->n && (i - ih->off) % (size_t)ih->cols == (size_t)z)
            continue;
        if (!isfinite(m->w[i])) return 0;
    }
    return 1;
}

static void ab_text(char *s, size_t n, const size_t *zs, int nz)
{
    for (size_t i = 0; i < n; i++) s[i] = "ab"[i % 2];
    for (int k = 0; k < nz; k++) s[zs[k]] = 'z';
    s[n] = 0;
}

// Two 'z's far apart: two skipped steps, each halving the learning rate,
// leaving the weights untouched, and training goes on to the end.
static void test_nan_skip(void)
{
    char text[401];
    size_t zs[] = {61, 203};
    ab_text(text, 400, zs, 2);
    recur_vocab *v = NULL;
    recur_model *m = poisoned_model(text, &v);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4, tc.batch = 1, tc.steps = 80, tc.val_frac = 0, tc.sample_every = 0, tc.threads = 1;
    recur_trainer *t = NULL;
    recur_error err = {0};
    trace tr;
    trace_init(&tr, m);
    const char *best = tmppath("nan.safetensors"), *last = tmppath("nan.last.safetensors");
    CHECK(recur_trainer_new(m, &tc, text, 400, NULL, 0, &t, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_set_outputs(t, best, last, &err) == 0, "%s", err.msg);
    int rc = recur_trainer_run(t, on_event, &tr, &err);
    CHECK(rc == 0, "training with two NaN windows: rc %d %s", rc, err.msg);
    CHECK(tr.nskip == 2, "%d steps skipped, expected 2", tr.nskip);
    CHECK(tr.nskip >= 2 && tr.lr_at_skip[0] == tc.lr * 0.5f && tr.lr_at_skip[1] == tc.lr * 0.25f,
          "learning rate not halved at each skip");
    CHECK(!tr.skip_touched, "a skipped step changed the weights");
    CHECK(tr.nloss == 80, "%d steps taken, expected 80", tr.nloss);
    int finite = 1;
    for (int i = 0; i < tr.nloss; i++) finite &= isfinite(tr.loss[i]) != 0;
    CHECK(finite, "a reported step loss is not finite");
    CHECK(weights_all_finite(m, 1), "weights not finite after training");
    recur_model *back = NULL;
    CHECK(recur_model_load(best, &back, &err) == 0 && weights_all_finite(back, 1), "saved model: %s", err.msg);
    printf("  NaN loss: 2 windows skipped (lr %g -> %g), weights untouched, training finished, saved model finite\n",
           (double)tc.lr, (double)tr.lr_at_skip[1]);
    recur_model_free(back);
    trace_free(&tr);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

// A run of 'z's: ten NaN windows in a row stop training with ENUMERIC; and
// a run interrupted at the fourth skip and resumed stops at the same place
// (the count of skips in a row is part of the state).
static int run_streak(const char *text, size_t n, const char *last, int resume, int stop_skip,
                      trace *tr, recur_error *err)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    if (resume) {
        CHECK(recur_model_load(last, &m, err) == 0, "%s", err->msg);
    } else {
        m = poisoned_model(text, &v);
    }
    if (!m) return -100;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 2, tc.batch = 1, tc.steps = 150, tc.val_frac = 0, tc.sample_every = 0, tc.threads = 1;
    recur_trainer *t = NULL;
    trace_init(tr, m);
    tr->stop_kind = stop_skip ? RECUR_EV_SKIP : -1;
    tr->stop_skip = stop_skip;
    int rc = recur_trainer_new(m, &tc, text, n, NULL, 0, &t, err);
    if (!rc) rc = recur_trainer_set_outputs(t, NULL, last, err);
    if (!rc && resume) rc = recur_trainer_resume(t, last, err);
    if (!rc) rc = recur_trainer_run(t, on_event, tr, err);
    trace_free(tr);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
    return rc;
}

static void test_nan_streak(void)
{
    char text[301];
    ab_text(text, 300, NULL, 0);
    memset(text + 100, 'z', 40); // 20 windows of 2 in a row
    recur_error e1 = {0}, e2 = {0}, e3 = {0};
    trace a, b, c;
    const char *last = tmppath("streak.last.safetensors");
    int rc = run_streak(text, 300, tmppath("streak0.last.safetensors"), 0, 0, &a, &e1);
    CHECK(rc == RECUR_ENUMERIC && has(&e1, "10 steps in a row"), "rc %d: %s", rc, e1.msg);
    CHECK(a.nskip == 10, "%d skips before giving up, expected 10", a.nskip);
    rc = run_streak(text, 300, last, 0, 4, &b, &e2);
    CHECK(rc == RECUR_EINTERRUPT, "stop at the 4th skip: rc %d %s", rc, e2.msg);
    rc = run_streak(text, 300, last, 1, 0, &c, &e3);
    CHECK(rc == RECUR_ENUMERIC && strcmp(e1.msg, e3.msg) == 0,
          "resumed in a run of skips: rc %d '%s', expected '%s'", rc, e3.msg, e1.msg);
    CHECK(b.nskip + c.nskip == 10, "4 + %d skips, expected 4 + 6", c.nskip);
    printf("  NaN streak: stops after 10 skipped steps in a row (\"%s\"), also when resumed after 4\n", e1.msg);
}

// A finite gradient times a huge learning rate overflows the weights: the
// run stops with ENUMERIC and writes nothing.
static void test_overflowing_update(void)
{
    char text[201];
    ab_text(text, 200, NULL, 0);
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err = {0};
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.relu = 1, mc.hidden = 4, mc.layers = 1;
    CHECK(recur_vocab_from_text(text, 200, 0, &v, &err) == 0, "%s", err.msg);
    CHECK(recur_model_new(&mc, v, 3, &m, &err) == 0, "%s", err.msg);
    const param_view *ih = model_find_view(m, "rnn.weight_ih_l0"), *hh = model_find_view(m, "rnn.weight_hh_l0");
    for (size_t i = 0; i < ih->n; i++) m->w[ih->off + i] = 1e30f; // h = 1e30: finite loss, gradients ~1e30
    for (size_t i = 0; i < hh->n; i++) m->w[hh->off + i] = 0;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4, tc.batch = 1, tc.steps = 1, tc.val_frac = 0, tc.sample_every = 0, tc.threads = 1;
    tc.optim = RECUR_SGD, tc.momentum = 0, tc.lr = 1e10f, tc.clip = 0, tc.save_every = 1;
    recur_trainer *t = NULL;
    const char *best = tmppath("ovf.safetensors"), *last = tmppath("ovf.last.safetensors");
    CHECK(recur_trainer_new(m, &tc, text, 200, NULL, 0, &t, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_set_outputs(t, best, last, &err) == 0, "%s", err.msg);
    int rc = recur_trainer_run(t, NULL, NULL, &err);
    CHECK(rc == RECUR_ENUMERIC && has(&err, "weights infinite or NaN"), "rc %d: %s", rc, err.msg);
    CHECK(!exists(best) && !exists(last), "a model with infinite weights was written");
    printf("  overflowing update: stopped (\"%s\"), nothing written\n", err.msg);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

// Validation text with 'z' (NaN validation loss) and training text without:
// training runs, but no model is ever saved as the best.
static void test_nan_validation(void)
{
    char train[201], val[41];
    ab_text(train, 200, NULL, 0);
    size_t zs[] = {10, 30};
    ab_text(val, 40, zs, 2);
    char both[241];
    memcpy(both, train, 200);
    memcpy(both + 200, val, 41);
    recur_vocab *v = NULL;
    recur_model *m = poisoned_model(both, &v);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4, tc.batch = 1, tc.steps = 6, tc.eval_every = 2, tc.sample_every = 0, tc.threads = 1;
    recur_trainer *t = NULL;
    recur_error err = {0};
    trace tr;
    trace_init(&tr, m);
    const char *best = tmppath("nanval.safetensors"), *last = tmppath("nanval.last.safetensors");
    CHECK(recur_trainer_new(m, &tc, train, 200, val, 40, &t, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_set_outputs(t, best, last, &err) == 0, "%s", err.msg);
    int rc = recur_trainer_run(t, on_event, &tr, &err);
    CHECK(rc == 0, "rc %d %s", rc, err.msg);
    CHECK(tr.nval == 3 && isnan(tr.val[0]), "%d validations, first %g", tr.nval, tr.nval ? tr.val[0] : 0.0);
    CHECK(!exists(best), "a model with a NaN validation loss was saved as the best");
    recur_model_info info;
    recur_model_get_info(m, &info);
    CHECK(isnan(info.best_val), "best validation loss %g, expected none", info.best_val);
    printf("  NaN validation loss: never the best model (nothing written to the best path)\n");
    trace_free(&tr);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

/* ---------------------------------------------------------------- files */

static void test_stale_temp(void)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err = {0};
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 4, mc.layers = 1;
    CHECK(recur_vocab_from_text("hello", 5, 0, &v, &err) == 0, "%s", err.msg);
    CHECK(recur_model_new(&mc, v, 1, &m, &err) == 0, "%s", err.msg);
    const char *path = tmppath("stale.safetensors");
    char tmp[600], target[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    // A killed process with our PID left its temporary file.
    FILE *f = fopen(tmp, "wb");
    fputs("half a checkpoint", f);
    fclose(f);
    CHECK(recur_model_save(m, path, &err) == 0, "save over a stale temp file: %s", err.msg);
    CHECK(!exists(tmp), "the stale temp file is still there");
    recur_model *back = NULL;
    CHECK(recur_model_load(path, &back, &err) == 0, "%s", err.msg);
    recur_model_free(back);
    // A link planted under that name is replaced, never written through.
    snprintf(target, sizeof target, "%s/planted_target", tmp_dir);
    f = fopen(target, "wb");
    fputs("keep", f);
    fclose(f);
    CHECK(symlink(target, tmp) == 0, "symlink: %s", strerror(errno));
    CHECK(recur_model_save(m, path, &err) == 0, "save over a planted link: %s", err.msg);
    size_t n = 0;
    uint8_t *b = slurp(target, &n);
    CHECK(b && n == 4 && memcmp(b, "keep", 4) == 0, "the link's target was written");
    free(b);
    unlink(target);
    printf("  atomic write: a stale PATH.tmp.<our pid> is replaced (file or link), never written through\n");
    recur_model_free(m);
    recur_vocab_free(v);
}

/* ---------------------------------------------------------------- JSON size */

static void test_json_cap(void)
{
    // 2,000,001 zeros: refused without building them all.
    size_t n = 2000001, len = 2 * n + 1;
    char *s = malloc(len + 1);
    s[0] = '[';
    for (size_t i = 0; i < n; i++) s[1 + 2 * i] = '0', s[2 + 2 * i] = ',';
    s[len - 1] = ']';
    s[len] = 0;
    json_value *v = NULL;
    recur_error err = {0};
    int rc = json_parse(s, len, 3, &v, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "more than 2000000 values"), "rc %d: %s", rc, err.msg);
    json_free(v);
    free(s);
    // The largest legitimate document: a vocabulary of every scalar value.
    uint32_t *cps = malloc(0x110000 * sizeof *cps);
    int k = 0;
    for (uint32_t c = 0; c < 0x110000; c++)
        if (c < 0xD800 || c > 0xDFFF) cps[k++] = c;
    recur_vocab *all = NULL, *back = NULL;
    CHECK(vocab_from_chars(cps, k, 0, &all, &err) == 0, "%s", err.msg);
    strbuf sb;
    sb_init(&sb);
    CHECK(all && vocab_to_json(all, &sb) == 0, "to json");
    CHECK(vocab_from_json(sb.s, 0, &back, &err) == 0 && back->n == k, "every scalar value: %s", err.msg);
    printf("  JSON: 2000001 values refused (\"%s\"); a vocabulary of all %d scalar values (%zu bytes) accepted\n",
           err.msg, k, sb.len);
    sb_free(&sb);
    recur_vocab_free(all);
    recur_vocab_free(back);
    free(cps);
}

/* ---------------------------------------------------------------- a large text */

// A field of /proc/self/status in kB (VmRSS, VmHWM), or -1.
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (kb < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') kb = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

// The resident size in kB of the mapping that holds p (its "Rss:" line in
// /proc/self/smaps), or -1.
static long mapping_rss_kb(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[512];
    int in = 0;
    long kb = -1;
    while (kb < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-')
            in = lo <= (uintptr_t)p && (uintptr_t)p < hi;
        else if (in && strncmp(line, "Rss:", 4) == 0)
            kb = strtol(line + 4, NULL, 10);
    }
    fclose(f);
    return kb;
}

// `recur train big.txt --steps 20 --val-max-chars 100000 --sample-every 0`,
// in process, on a 192 MB generated text, an evaluation of 6 MB of it and a
// walk of the batcher through more than an epoch: peak RSS (VmHWM, reset
// first) grows by far less than the text, and the mapping's own resident
// size (smaps) is next to nothing after each. Before passes released what
// they had read, every scan left the whole text resident: peak RSS grew by
// the text's size; and before the batcher read a mapped text with pread,
// each of its streams kept what a page fault maps (up to a 2 MB page-cache
// folio on recent kernels) resident, and a walk through an epoch all of it.
#define BIG_MB 192
#define BIG_BOUND_KB (96 * 1024) // a plain build takes 14 MB; ASan adds some 30 MB of its own

static void test_large_text(void)
{
    if (status_kb("VmHWM") < 0 || mapping_rss_kb(&tmp_dir) < 0) {
        printf("  SKIP large text: no /proc/self/status or smaps here\n");
        return;
    }
    // A 1 MB block of words (ASCII and some two-, three- and four-byte
    // characters), written BIG_MB times.
    static const char *const words[] = {"the ", "of ", "and ", "ROMEO:\n", "caf\xC3\xA9 ",
                                        "\xCE\xB1\xCE\xB2 ", "\xEC\x95\x88 ", "\xF0\x9F\x98\x80 ",
                                        "thou ", "art, ", "more! ", "\n"};
    size_t block = 1 << 20, n = 0;
    char *b = malloc(block + 16);
    uint64_t x = 0x2545F4914F6CDD1Dull;
    while (n < block) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const char *w = words[x % (sizeof words / sizeof words[0])];
        size_t k = strlen(w);
        if (n + k > block) break;
        memcpy(b + n, w, k);
        n += k;
    }
    while (n < block) b[n++] = ' ';
    const char *path = tmppath("big.txt");
    FILE *f = fopen(path, "wb");
    int wrote = f != NULL;
    if (f) setvbuf(f, NULL, _IONBF, 0); // so that each fwrite is one write(2)
    for (size_t i = 0; wrote && i < (size_t)BIG_MB * block; i += 65536)
        wrote = fwrite(b + i % block, 1, 65536, f) == 65536;
    if (f && fclose(f)) wrote = 0;
    free(b);
    if (!wrote) {
        printf("  SKIP large text: cannot write %d MB to %s\n", BIG_MB, path);
        unlink(path);
        return;
    }

    // The peak from here on: writing 5 to clear_refs resets VmHWM to VmRSS.
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    int reset = cr && fputs("5", cr) >= 0;
    if (cr && fclose(cr)) reset = 0;
    long base = reset ? status_kb("VmRSS") : status_kb("VmHWM");

    recur_error err = {0};
    recur_text text = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL, *tiny = NULL;
    recur_trainer *t = NULL;
    int rc = recur_text_open(path, &text, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    if (!rc) {
        rc = recur_vocab_from_text(text.data, text.len, 0, &v, &err);
        CHECK(rc == 0 && recur_vocab_size(v) == 26, "vocabulary: %s", err.msg);
    }
    long after_vocab = rc ? -1 : mapping_rss_kb(text.data);
    CHECK(!rc && after_vocab < 1024, "after the vocabulary scan %ld kB of the text resident", after_vocab);

    // Evaluation walks its text once, releasing every chunk and at the end:
    // 6 MB of it (the end release has 2 MB to give back), with a model small
    // enough to be quick.
    recur_model_config mc;
    recur_model_config_default(&mc);
    recur_eval_result er;
    if (!rc) {
        mc.hidden = 4;
        mc.layers = 1;
        rc = recur_model_new(&mc, v, 1, &tiny, &err);
        if (!rc) rc = recur_eval_text(tiny, text.data, (size_t)6 << 20, 0, 1, &er, &err);
        CHECK(rc == 0, "eval: %s", err.msg);
    }
    long after_eval = rc ? -1 : mapping_rss_kb(text.data);
    CHECK(!rc && after_eval < 1024, "after evaluating 6 MB %ld kB of the text resident", after_eval);

    // The CLI's default model and the run of docs/reliability.md section 5.
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.steps = 20;
    tc.val_max_chars = 100000;
    tc.sample_every = 0;
    tc.eval_every = 10;
    if (!rc) {
        recur_model_config_default(&mc);
        rc = recur_model_new(&mc, v, tc.seed, &m, &err);
        if (!rc) rc = recur_trainer_new(m, &tc, text.data, text.len, NULL, 0, &t, &err);
        if (!rc) rc = recur_trainer_run(t, NULL, NULL, &err);
        CHECK(rc == 0 && recur_trainer_step(t) == 20, "train: %s", err.msg);
    }
    long after_train = rc ? -1 : mapping_rss_kb(text.data);
    CHECK(!rc && after_train < 1024, "after training %ld kB of the text resident", after_train);

    // The streams of a long run: more than an epoch of windows (each stream
    // reads its whole share of the text, then starts again).
    long walk_max = -1;
    size_t windows = 0;
    if (!rc) {
        text_batcher tb;
        const int B = 32, T = 16384; // the default batch
        int32_t *in = malloc((size_t)B * T * sizeof *in), *tgt = malloc((size_t)B * T * sizeof *tgt);
        rc = batcher_init(&tb, v, (const uint8_t *)text.data, text.len, B, T, &err);
        CHECK(rc == 0 && in && tgt, "batcher: %s", err.msg);
        if (!rc) {
            windows = tb.windows_per_epoch + 3;
            for (size_t w = 0; !rc && w < windows; w++) {
                int fresh;
                rc = batcher_next(&tb, in, tgt, &fresh, &err);
                long kb = mapping_rss_kb(text.data);
                if (kb > walk_max) walk_max = kb;
            }
            CHECK(rc == 0 && tb.epoch == 1, "walk: %s", err.msg);
        }
        batcher_free(&tb);
        free(in);
        free(tgt);
        CHECK(!rc && walk_max < 1024, "a walk of %zu windows kept up to %ld kB of the text resident",
              windows, walk_max);
    }

    long peak = status_kb("VmHWM");
    CHECK(peak - base < BIG_BOUND_KB,
          "peak RSS grew by %ld kB for a %d MB text (bound %d kB%s)", peak - base, BIG_MB,
          BIG_BOUND_KB, reset ? "" : "; VmHWM could not be reset");
    printf("  large text: %d MB; peak RSS +%ld kB%s; resident text after vocabulary %ld kB, eval %ld kB, "
           "training %ld kB, walk of %zu windows at most %ld kB\n",
           BIG_MB, peak - base, reset ? "" : " (VmHWM not reset)", after_vocab, after_eval, after_train,
           windows, walk_max);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_model_free(tiny);
    recur_vocab_free(v);
    recur_text_close(&text);
    unlink(path);
}

/* ---------------------------------------------------------------- fuzz corpora */

static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t len = 0;
        uint8_t *b = slurp(path, &len);
        if (!b) continue;
        // An exact-size copy, so that ASan sees any read past the end.
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, b, len);
        fuzz_current = de->d_name;
        one(exact, len);
        free(exact);
        free(b);
        n++;
    }
    closedir(d);
    return n;
}

static void test_fuzz_corpora(void)
{
    int a = replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/checkpoint", fuzz_checkpoint_one);
    int b = replay_dir(RECUR_SOURCE_DIR "/tests/corpus/safetensors", fuzz_checkpoint_one);
    int c = replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/text", fuzz_text_one);
    // States of every task: resumed by their task (fuzz_state) and read as checkpoints.
    int d = replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/state", fuzz_state_one);
    // Every application and seq2seq seed resumes (fuzz_state makes their data):
    // the target reaches the state reader of each task, not an early refusal.
    int apps = 0;
    DIR *sd = opendir(RECUR_SOURCE_DIR "/fuzz/corpus/state");
    for (struct dirent *de; sd && (de = readdir(sd));)
        if (strstr(de->d_name, "_state.safetensors") && strncmp(de->d_name, "lm", 2)) apps++;
    if (sd) closedir(sd);
    CHECK(fuzz_state_resumed >= apps && apps >= 6, "%d of %d task states resumed", fuzz_state_resumed, apps);
    d += replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/state", fuzz_checkpoint_one);
    // The entry points on every model and state of the corpora (every kind: the
    // kind_* seeds of tests/test_fuzz_seeds.c) and on fuzz_entry's own findings.
    int e = replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/checkpoint", fuzz_entry_one);
    e += replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/state", fuzz_entry_one);
    e += replay_dir(RECUR_SOURCE_DIR "/fuzz/corpus/entry", fuzz_entry_one);
    printf("  fuzz corpora replayed: %d checkpoint + %d safetensors + %d text inputs, state corpus twice (%d), "
           "entry points %d\n", a, b, c, d, e);
    CHECK(a >= 5 && b >= 10 && c >= 5 && d >= 14 && e >= 25, "corpora present");
}

int main(void)
{
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/recur_test_reliability.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    // First, while the process is small (the peak it measures is reset, but
    // freed memory of earlier tests could still be resident).
    if (under_valgrind())
        printf("  SKIP large text under valgrind (passes over %d MB; checked in the other builds)\n", BIG_MB);
    else
        test_large_text();
    test_fuzz_corpora();
    test_stop_anywhere();
    test_nan_skip();
    test_nan_streak();
    test_overflowing_update();
    test_nan_validation();
    test_stale_temp();
    if (under_valgrind())
        printf("  SKIP JSON size cap under valgrind (millions of allocations; checked in the other builds)\n");
    else
        test_json_cap();
    // Clean up the temporary directory.
    DIR *d = opendir(tmp_dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') unlink(tmppath(de->d_name));
    if (d) closedir(d);
    rmdir(tmp_dir);
    return check_exit();
}
