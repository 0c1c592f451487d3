/*
 * test_budget.c - the rule of `recur train --budget` (src/tasks/budget.c)
 * with speeds made up here: a machine whose training speed is a fixed
 * number of FLOP/s over the model's 6 FLOPs per parameter per character.
 * A shorter budget picks a smaller model, more data a larger one; the
 * planned steps fit the time; the same inputs give the same plan; the
 * speeds are asked for smallest first and no further than needed; bad
 * input is refused.
 */
#include "check.h"
#include "recur.h"

#include <math.h>
#include <string.h>

typedef struct machine {
    double flops; /* per second */
    int asked, fail_at;
    int hidden[32], layers[32];
} machine;

static double lstm_params(int H, int L, int V)
{
    return 4.0 * H * (V + H) + 8.0 * H + (L - 1) * (8.0 * H * H + 8.0 * H) + (double)V * H + V;
}

static double speed(void *ctx, recur_cell cell, int hidden, int layers, int seq, int batch)
{
    machine *m = ctx;
    (void)seq;
    (void)batch;
    if (cell != RECUR_CELL_LSTM) return -1;
    if (m->asked < 32) {
        m->hidden[m->asked] = hidden;
        m->layers[m->asked] = layers;
    }
    m->asked++;
    if (m->fail_at && m->asked >= m->fail_at) return -1;
    return m->flops / (6 * lstm_params(hidden, layers, 65));
}

static recur_budget_choice plan(size_t n, size_t nval, double seconds, machine *m)
{
    recur_budget_choice c;
    recur_error err = {0};
    int rc = recur_budget_choose(n, nval, 65, seconds, speed, m, &c, &err);
    CHECK(rc == 0, "plan for %zu characters, %g s: %s", n, seconds, err.msg);
    return c;
}

int main(void)
{
    // About what 2 cores of this machine do: 100 GFLOP/s.
    machine a = {.flops = 1e11}, b = a, c = a, d = a;
    recur_budget_choice m10 = plan(1000000, 100000, 600, &a);
    recur_budget_choice m60 = plan(1000000, 100000, 3600, &b);
    printf("  1M characters, 10 min: lstm %dx%d (%.2fM), %lld steps, dropout %.2f/%.2f, %.1f passes\n",
           m10.hidden, m10.layers, m10.params / 1e6, m10.steps, m10.dropout, m10.dropout_out, m10.passes);
    printf("  1M characters, 60 min: lstm %dx%d (%.2fM), %lld steps, dropout %.2f, %.1f passes\n", m60.hidden,
           m60.layers, m60.params / 1e6, m60.steps, m60.dropout, m60.passes);
    CHECK(m10.params < m60.params, "a shorter budget picks a smaller model: %zu vs %zu", m10.params, m60.params);
    // More data, same budget: the small text is held to 4 parameters per character.
    recur_budget_choice small = plan(20000, 2000, 3600, &c);
    printf("  20k characters, 60 min: lstm %dx%d (%.2fM), seq %d, batch %d, dropout %.2f, %.0f passes\n",
           small.hidden, small.layers, small.params / 1e6, small.seq, small.batch, small.dropout, small.passes);
    CHECK(small.params < m60.params && small.params <= 4 * 20000 + lstm_params(64, 2, 65),
          "more data picks a larger model: %zu (20k) vs %zu (1M)", small.params, m60.params);
    CHECK(small.seq == 50 && small.batch == 4, "window for 20k characters: %d x %d", small.seq, small.batch);
    CHECK(m60.seq == 100 && m60.batch == 64, "window for 1M characters: %d x %d", m60.seq, m60.batch);
    // The rule's two conditions hold for the choice and fail for the next
    // candidate measured (when one was).
    const recur_budget_choice *all[] = {&m10, &m60, &small};
    const machine *mach[] = {&a, &b, &c};
    const size_t ns[] = {1000000, 1000000, 20000};
    const double secs[] = {600, 3600, 3600};
    for (int i = 0; i < 3; i++) {
        const recur_budget_choice *p = all[i];
        const double s = p->chars_per_s;
        CHECK(fabs(s - 1e11 / (6 * (double)p->params)) < 1e-6 * s, "the choice's speed is its measurement");
        CHECK(s * secs[i] >= 5 * (double)p->params || p->hidden == 64, "time rule: %.3g chars for %zu params",
              s * secs[i], p->params);
        CHECK((double)p->params <= 4 * (double)ns[i] || p->hidden == 64, "data rule");
        // Smallest first, and at most one candidate past the choice.
        int at = -1;
        for (int k = 0; k < mach[i]->asked; k++) {
            if (k) CHECK(lstm_params(mach[i]->hidden[k], mach[i]->layers[k], 65) >
                             lstm_params(mach[i]->hidden[k - 1], mach[i]->layers[k - 1], 65), "candidates in order");
            if (mach[i]->hidden[k] == p->hidden && mach[i]->layers[k] == p->layers) at = k;
        }
        CHECK(at >= 0 && mach[i]->asked <= at + 2, "asked %d speeds, chose number %d", mach[i]->asked, at + 1);
        CHECK(mach[i]->asked == p->candidates, "candidates counted");
        // The plan fits the time: steps x window / speed within 92 % of it.
        const double t = (double)p->steps * p->batch * p->seq / s;
        CHECK(t <= 0.92 * secs[i] + 1e-9 && t > 0.5 * secs[i] && fabs(t - p->train_s) < 1e-6 * t,
              "planned %.1f s of %.0f s", t, secs[i]);
        // The dropouts are the rule's for the passes planned (to 0.05).
        double want = p->passes > 4 ? 0.25 * log2(p->passes / 4) : 0;
        want = want > 0.5 ? 0.5 : want;
        CHECK(fabs(p->dropout - want) <= 0.025 + 1e-6 && fabs(p->dropout_out - 0.6 * want) <= 0.025 + 1e-6,
              "dropouts %.2f and %.2f for %.1f passes", p->dropout, p->dropout_out, p->passes);
        CHECK(p->dropout >= 0 && p->dropout <= 0.5f && p->warmup <= 200 && p->warmup <= p->steps / 20 + 1,
              "dropout %.2f, warm-up %lld", p->dropout, p->warmup);
        CHECK(p->eval_every >= 1 && p->steps / p->eval_every >= 10 && p->steps / p->eval_every <= 21,
              "validations: every %d of %lld steps", p->eval_every, p->steps);
        CHECK(strstr(p->why, "chose: lstm") && strstr(p->why, "measured:"), "why: %s", p->why);
        CHECK(fabs(p->passes - (double)p->steps * p->batch * p->seq / (double)ns[i]) < 1e-9, "passes");
    }
    // More passes over the text, more dropout.
    CHECK(small.dropout >= m10.dropout && small.dropout_out >= m10.dropout_out, "dropout %.2f (many passes) vs %.2f",
          small.dropout, m10.dropout);
    // The rule's fixed points: none up to 4 passes, 0.5 and 0.3 from 16.
    recur_budget_choice r = m60;
    for (double secs_r = 10; secs_r < 1e6; secs_r *= 1.5) {
        recur_budget_plan_steps(&r, 1000000, 100000, secs_r);
        if (r.passes <= 4) CHECK(r.dropout == 0 && r.dropout_out == 0, "%.1f passes: dropout %.2f", r.passes, r.dropout);
        if (r.passes >= 16)
            CHECK(r.dropout == 0.5f && r.dropout_out == 0.3f, "%.1f passes: dropout %.2f/%.2f", r.passes, r.dropout,
                  r.dropout_out);
        CHECK(r.dropout_out <= r.dropout, "output dropout %.2f over %.2f", r.dropout_out, r.dropout);
    }
    // Deterministic.
    recur_budget_choice again = plan(1000000, 100000, 3600, &d);
    CHECK(memcmp(&again, &m60, sizeof again) == 0, "the same inputs, the same plan");
    // Re-planning for less time keeps the model and shortens the run.
    recur_budget_choice less = m60;
    recur_budget_plan_steps(&less, 1000000, 100000, 1800);
    CHECK(less.hidden == m60.hidden && less.steps < m60.steps && less.steps > m60.steps / 3,
          "re-planned %lld steps from %lld", less.steps, m60.steps);

    // Refused: too little text, no time, a speed that cannot be measured.
    recur_budget_choice x;
    recur_error err = {0};
    machine e = {.flops = 1e11};
    CHECK(recur_budget_choose(500, 0, 65, 60, speed, &e, &x, &err) == RECUR_EINVAL && strstr(err.msg, "too little"),
          "500 characters: %s", err.msg);
    CHECK(recur_budget_choose(100000, 0, 65, 0.5, speed, &e, &x, &err) == RECUR_EINVAL, "half a second");
    CHECK(recur_budget_choose(100000, 0, 65, NAN, speed, &e, &x, &err) == RECUR_EINVAL, "NaN seconds");
    machine f = {.flops = 1e11, .fail_at = 1};
    CHECK(recur_budget_choose(100000, 0, 65, 60, speed, &f, &x, &err) == RECUR_EINVAL && strstr(err.msg, "measure"),
          "no speed: %s", err.msg);
    // A failure after the first candidate keeps what was measured.
    machine g = {.flops = 1e12, .fail_at = 3};
    CHECK(recur_budget_choose(1000000, 0, 65, 3600, speed, &g, &x, &err) == 0 && x.hidden == 128,
          "a later failed measurement: %dx%d", x.hidden, x.layers);
    return check_exit();
}
