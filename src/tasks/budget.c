/*
 * budget.c - the language model a time budget allows (recur train --budget).
 *
 * The rule, after the char-rnn README's advice on sizing made into numbers
 * (docs/results.md says what it chose on tinyshakespeare and how that did):
 *
 *   window   T = 100 characters (50 under 100k characters of text, 25 under
 *            10k); B = n / (100 T) streams, 1..64, so that a pass over the
 *            text is at least 100 steps.
 *   model    an LSTM (the best char-level cell in Karpathy et al. 2015), of
 *            2 layers (3 from H = 512 up in the list), the largest of the
 *            list below that satisfies both
 *              data:  P <= 4 n   (parameters against training characters:
 *                                 more overfits even with dropout)
 *              time:  C >= 5 P   (C = characters the budget trains at its
 *                                 measured speed: a model that cannot see
 *                                 five characters per weight is undertrained)
 *            or the smallest, when none does. (Five, not ten or twenty: an
 *            LSTM 2x512 that saw 5.4 characters per weight in 28 minutes
 *            reached 1.4484 nats/char on tinyshakespeare, docs/results.md.)
 *   dropout  between the layers, 0.25 x log2(passes over the text / 4), 0 to
 *            0.5, and 0.6 times that on the last layer's output before the
 *            head, each to 0.05: none for a run that sees the text 4 times or
 *            less, 0.15 and 0.1 at 6 passes (where 0.2 between the layers
 *            cost an LSTM 256x2 0.011 nats and 0.2 before the head gained
 *            0.010), 0.5 and 0.3 from 15 passes (what reached 1.4484; the
 *            same model with 0.40 and no output dropout overfit from 14
 *            passes and stopped at 1.4773).
 *   run      Adam 2e-3, cosine to 1e-4 with a linear warm-up of min(200,
 *            steps/20) steps, about 20 validations (fewer when validation
 *            would take over a tenth of the budget); the steps are those
 *            92 % of the time left after validation trains at the measured
 *            speed.
 *
 * Speeds come from a function (recur_budget_measure in the command), so a
 * test can check the rule with speeds it makes up.
 */
#include "recur.h"
#include "base/internal.h"

#include <math.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const struct {
    int hidden, layers;
} candidates[] = {
    {64, 2},  {128, 2}, {192, 2},  {256, 2},  {384, 2},  {512, 2},
    {512, 3}, {768, 2}, {1024, 2}, {1024, 3}, {1536, 2}, {2048, 2},
};

#define DATA_RATIO 4.0    /* at most this many parameters per training character */
#define TOKENS_PER_PARAM 5.0
#define EVALS 20
#define LR 2e-3f
#define LR_MIN 1e-4f

// An LSTM's trainable floats: layer 0 reads one-hot characters (W_ih is
// 4H x V), the others the layer below; biases b_ih and b_hh; the head.
static double lstm_params(int H, int L, int V)
{
    const double h = H, v = V;
    return 4 * h * (v + h) + 8 * h + (L - 1) * (4 * h * 2 * h + 8 * h) + v * h + v;
}

static void say(recur_budget_choice *c, const char *fmt, ...)
{
    size_t at = strlen(c->why);
    if (at + 1 >= sizeof c->why) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why + at, sizeof c->why - at, fmt, ap);
    va_end(ap);
}

// The dropouts for the passes the plan makes, and their line in c->why (the
// last line, replaced when the steps are planned again).
static void plan_dropout(recur_budget_choice *c)
{
    double p = 0.25 * log2(c->passes > 4 ? c->passes / 4 : 1);
    if (p > 0.5) p = 0.5;
    c->dropout = (float)(round(p * 20) / 20); // to 0.05
    c->dropout_out = (float)(round(0.6 * p * 20) / 20);
    char *line = strstr(c->why, "\ndropout ");
    if (line) *line = 0;
    say(c, "\ndropout %.2f between the layers and %.2f before the head: %.1f passes over the text "
           "(0.25 x log2(passes / 4), 0 to 0.5, and 0.6 times that)",
        (double)c->dropout, (double)c->dropout_out, c->passes);
}

void recur_budget_plan_steps(recur_budget_choice *c, size_t n, size_t nval, double seconds)
{
    if (!c || !(c->chars_per_s > 0) || !isfinite(c->chars_per_s) || c->seq < 1 || c->batch < 1 || n < 1) return;
    if (!(seconds > 0) || !isfinite(seconds)) seconds = 0;
    const double per_step = (double)c->batch * c->seq;
    int evals = nval ? EVALS : 0;
    // A validation pass is a forward only, about a third of a training step's work per character.
    double eval_s = evals * (double)nval / (3 * c->chars_per_s);
    while (evals > 2 && eval_s > 0.1 * seconds) {
        evals /= 2;
        eval_s = evals * (double)nval / (3 * c->chars_per_s);
    }
    // 92 %: a 60-minute run on tinyshakespeare trained 7 % slower than its
    // few measured steps (docs/results.md), and a run that meets its deadline
    // stops before its schedule ends.
    double train_s = 0.92 * (seconds - eval_s);
    if (!(train_s > 0)) train_s = 0;
    // At most 2e9 steps: a checkpoint records the step in 31 bits.
    const double steps = train_s * c->chars_per_s / per_step;
    c->steps = steps < 1 ? 1 : steps > 2e9 ? 2000000000LL : (long long)steps;
    c->eval_every = evals ? (int)(c->steps / evals > 0 ? c->steps / evals : 1) : 0;
    c->warmup = c->steps / 20 < 200 ? c->steps / 20 : 200;
    c->passes = (double)c->steps * per_step / (double)n;
    c->train_s = (double)c->steps * per_step / c->chars_per_s;
    plan_dropout(c);
}

int recur_budget_choose(size_t n, size_t nval, int V, double seconds, recur_speed_fn speed, void *ctx,
                        recur_budget_choice *c, recur_error *err)
{
    if (!c || !speed) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(c, 0, sizeof *c);
    if (!(seconds >= 1) || seconds > 1e8)
        return set_error(err, RECUR_EINVAL, "a budget must be 1 second to about 3 years, got %g s", seconds);
    if (n < 1000)
        return set_error(err, RECUR_EINVAL, "too little text to plan a run for: %zu training characters (at least 1000)", n);
    if (V < 1) return set_error(err, RECUR_EINVAL, "empty vocabulary");
    c->cell = RECUR_CELL_LSTM;
    c->seq = n >= 100000 ? 100 : n >= 10000 ? 50 : 25;
    size_t b = n / ((size_t)c->seq * 100);
    c->batch = b < 1 ? 1 : b > 64 ? 64 : (int)b;
    c->lr = LR;
    c->lr_min = LR_MIN;
    say(c, "text: %zu training characters of %d symbols: windows of %d characters, %d streams "
           "(a pass over the text is at least 100 steps)\n", n, V, c->seq, c->batch);

    // The largest candidate that both rules allow; speeds measured smallest
    // first, stopping at the first that fails (a larger one is slower).
    int chosen = -1;
    double best_s = 0;
    say(c, "measured:");
    for (int i = 0; i < (int)(sizeof candidates / sizeof candidates[0]); i++) {
        const int H = candidates[i].hidden, L = candidates[i].layers;
        const double P = lstm_params(H, L, V);
        if (chosen >= 0 && P > DATA_RATIO * (double)n) {
            say(c, "\nnot larger: lstm %dx%d has %.2fM parameters, over %g per training character (%.2fM)",
                H, L, P / 1e6, DATA_RATIO, DATA_RATIO * (double)n / 1e6);
            break;
        }
        const double s = speed(ctx, RECUR_CELL_LSTM, H, L, c->seq, c->batch);
        c->candidates++;
        if (!(s > 0) || !isfinite(s)) {
            if (chosen < 0) return set_error(err, RECUR_EINVAL, "could not measure the training speed of lstm %dx%d", H, L);
            break;
        }
        say(c, " lstm %dx%d %.1fk char/s;", H, L, s / 1000);
        const double tokens = s * seconds;
        if (chosen >= 0 && tokens < TOKENS_PER_PARAM * P) {
            say(c, "\nnot larger: lstm %dx%d (%.2fM parameters) would train on %.1fM characters in the time, "
                   "under %g per parameter", H, L, P / 1e6, tokens / 1e6, TOKENS_PER_PARAM);
            break;
        }
        chosen = i;
        best_s = s;
    }
    c->hidden = candidates[chosen].hidden;
    c->layers = candidates[chosen].layers;
    c->params = (size_t)lstm_params(c->hidden, c->layers, V);
    c->chars_per_s = best_s;
    const double P = (double)c->params;
    if (P <= DATA_RATIO * (double)n && best_s * seconds >= TOKENS_PER_PARAM * P)
        say(c, "\nchose: lstm %dx%d, %.2fM parameters: the largest with at most %g parameters per training "
               "character that trains on at least %g characters per parameter in the time",
            c->hidden, c->layers, P / 1e6, DATA_RATIO, TOKENS_PER_PARAM);
    else
        say(c, "\nchose: lstm %dx%d, %.2fM parameters: the smallest candidate, although it has %.1f parameters "
               "per training character (the rule wants at most %g) and trains on %.1f characters per parameter "
               "in the time (the rule wants %g): the text or the time is too small for the rule",
            c->hidden, c->layers, P / 1e6, P / (double)n, DATA_RATIO, best_s * seconds / P, TOKENS_PER_PARAM);
    recur_budget_plan_steps(c, n, nval, seconds);
    return RECUR_OK;
}

/* ---------------------------------------------------------------- measuring */

typedef struct probe {
    double t0, t1, last;
    long long from, steps, chars_per_step;
    double max_s;
    double dt[20]; /* the timed steps' durations */
} probe;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Times the steps after the first two (which pack weights and touch memory
// for the first time): at least 3 of them, or more while under max_s, up to
// 20. The speed is the median step's: a step slowed by another process for a
// moment moves a mean of three by a third, the median not at all.
static int probe_event(const recur_train_event *e, void *user)
{
    probe *p = user;
    if (e->kind != RECUR_EV_STEP) return 0;
    const double t = now_s();
    if (e->step <= 2) {
        p->t0 = p->last = t;
        p->from = e->step;
        return 0;
    }
    p->t1 = t;
    p->dt[p->steps++] = t - p->last;
    p->last = t;
    const double spent = t - p->t0, per = spent / (double)p->steps;
    return p->steps >= 3 && (spent + per > p->max_s || p->steps >= 20);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double recur_budget_measure(const char *text, size_t len, int bytes, recur_cell cell, int hidden, int layers,
                            int seq, int batch, float dropout, float dropout_out, int threads, int bf16,
                            int recompute, double max_s, recur_error *err)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    double speed = -1;
    int rc = recur_vocab_from_text(text, len, bytes, &v, err);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = cell;
    mc.hidden = hidden;
    mc.layers = layers;
    // Drawing masks costs time (a quarter of a step for an LSTM 2x256).
    mc.dropout = dropout;
    mc.dropout_out = dropout_out;
    if (!rc) rc = recur_model_new(&mc, v, 1, &m, err);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = seq;
    tc.batch = batch;
    tc.steps = 1000000;
    tc.val_frac = 0;
    tc.eval_every = 0;
    tc.sample_every = 0;
    tc.threads = threads;
    tc.bf16 = bf16;
    tc.recompute = recompute;
    if (!rc) rc = recur_trainer_new(m, &tc, text, len, NULL, 0, &t, err);
    probe p = {.max_s = max_s > 0 ? max_s : 1};
    if (!rc) rc = recur_trainer_run(t, probe_event, &p, err);
    if (rc == RECUR_EINTERRUPT && p.steps > 0 && p.t1 > p.t0) {
        qsort(p.dt, (size_t)p.steps, sizeof p.dt[0], cmp_double);
        const double mid = p.steps % 2 ? p.dt[p.steps / 2] : (p.dt[p.steps / 2 - 1] + p.dt[p.steps / 2]) / 2;
        speed = mid > 0 ? (double)seq * batch / mid : -1;
        if (err) err->code = RECUR_OK, err->msg[0] = 0;
    } else if (rc == RECUR_OK) {
        rc = set_error(err, RECUR_EINVAL, "the speed probe ended before it was timed");
    }
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
    return speed;
}
