/*
 * test_comm.c - recur_trainer_set_comm as a program without MPI uses it:
 * two threads, each with its own trainer, joined by a recur_comm of shared
 * memory and barriers. Two ranks with batch B follow one trainer with batch
 * B (an LSTM of 2 layers with dropout: the loss of every step and every
 * validation within 1e-5 relative); a batch that does not divide, and ranks
 * with different seeds, fail on both ranks with one message on rank 0.
 */
#include "check.h"
#include "recur.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 40

typedef struct shared {
    pthread_barrier_t bar;
    const void *slot[2];
} shared;

typedef struct rank_ctx {
    shared *sh;
    int rank;
} rank_ctx;

// buf = slot 0 + slot 1, in that order on both ranks (the same bits).
static int sum_f32(void *ctx, float *buf, size_t n)
{
    rank_ctx *c = ctx;
    c->sh->slot[c->rank] = buf;
    pthread_barrier_wait(&c->sh->bar);
    const float *a = c->sh->slot[0], *b = c->sh->slot[1];
    float *tmp = malloc((n ? n : 1) * sizeof *tmp);
    for (size_t i = 0; tmp && i < n; i++) tmp[i] = a[i] + b[i];
    pthread_barrier_wait(&c->sh->bar);
    if (tmp) memcpy(buf, tmp, n * sizeof *tmp);
    free(tmp);
    return tmp ? 0 : -1;
}

static int sum_f64(void *ctx, double *buf, size_t n)
{
    rank_ctx *c = ctx;
    c->sh->slot[c->rank] = buf;
    pthread_barrier_wait(&c->sh->bar);
    const double *a = c->sh->slot[0], *b = c->sh->slot[1];
    double tmp[8];
    for (size_t i = 0; i < n && i < 8; i++) tmp[i] = a[i] + b[i];
    pthread_barrier_wait(&c->sh->bar);
    memcpy(buf, tmp, (n < 8 ? n : 8) * sizeof *tmp);
    return n <= 8 ? 0 : -1;
}

static int bcast(void *ctx, void *buf, size_t bytes, int root)
{
    rank_ctx *c = ctx;
    if (c->rank == root) c->sh->slot[0] = buf;
    pthread_barrier_wait(&c->sh->bar);
    if (c->rank != root) memcpy(buf, c->sh->slot[0], bytes);
    pthread_barrier_wait(&c->sh->bar);
    return 0;
}

static char corpus[6000];

typedef struct run {
    int batch;          /* the whole batch */
    uint64_t seed;
    shared *sh;         /* NULL: one process */
    int rank;
    double loss[STEPS + 1], val[STEPS + 1];
    int steps;
    int set_rc, run_rc;
    recur_error err;
} run;

static int on_event(const recur_train_event *e, void *user)
{
    run *r = user;
    if (e->kind == RECUR_EV_STEP && e->step <= STEPS) r->loss[e->step] = e->train_loss, r->steps = (int)e->step;
    if (e->kind == RECUR_EV_EVAL && e->step <= STEPS) r->val[e->step] = e->val_loss;
    return 0;
}

static void *train(void *arg)
{
    run *r = arg;
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = RECUR_CELL_LSTM;
    mc.hidden = 12;
    mc.layers = 2;
    mc.dropout = 0.3f;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.batch = r->batch;
    tc.seq = 10;
    tc.steps = STEPS;
    tc.eval_every = 10;
    tc.val_frac = 0.2;
    tc.sample_every = 0;
    tc.seed = r->seed;
    rank_ctx ctx = {r->sh, r->rank};
    recur_comm comm = {r->rank, 2, &ctx, sum_f32, sum_f64, bcast, NULL};
    if (recur_vocab_from_text(corpus, strlen(corpus), 0, &v, &r->err) ||
        recur_model_new(&mc, v, 7, &m, &r->err) ||
        recur_trainer_new(m, &tc, corpus, strlen(corpus), NULL, 0, &t, &r->err)) {
        r->set_rc = r->run_rc = -100;
    } else {
        if (r->sh) r->set_rc = recur_trainer_set_comm(t, &comm, &r->err);
        if (!r->set_rc) r->run_rc = recur_trainer_run(t, on_event, r, &r->err);
    }
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
    return NULL;
}

// Two ranks (threads) with these batches and seeds.
static void two(run *a, run *b)
{
    shared sh;
    pthread_barrier_init(&sh.bar, NULL, 2);
    a->sh = b->sh = &sh;
    a->rank = 0;
    b->rank = 1;
    pthread_t th;
    pthread_create(&th, NULL, train, b);
    train(a);
    pthread_join(th, NULL);
    pthread_barrier_destroy(&sh.bar);
}

int main(void)
{
    const char *words[] = {"the ", "cat ", "sat ", "on ", "a ", "mat, ", "and ", "dog ", "ran.\n", "far "};
    size_t at = 0;
    for (unsigned i = 0; at + 8 < sizeof corpus; i++) {
        const char *w = words[(i * 7 + i / 3) % 10];
        memcpy(corpus + at, w, strlen(w));
        at += strlen(w);
    }
    corpus[at] = 0;

    static run one, r0, r1;
    one.batch = 8, one.seed = 3;
    train(&one);
    CHECK(one.run_rc == 0 && one.steps == STEPS, "one process: %s", one.err.msg);
    r0.batch = r1.batch = 8, r0.seed = r1.seed = 3;
    two(&r0, &r1);
    CHECK(r0.set_rc == 0 && r1.set_rc == 0 && r0.run_rc == 0 && r1.run_rc == 0, "two ranks: %s / %s",
          r0.err.msg, r1.err.msg);
    CHECK(r0.steps == STEPS && r1.steps == 0, "rank 0 alone reports progress (%d, %d steps)", r0.steps, r1.steps);
    double worst = 0;
    int nval = 0;
    for (int s = 1; s <= STEPS; s++) {
        double d = fabs(r0.loss[s] - one.loss[s]) / fabs(one.loss[s]);
        if (d > worst) worst = d;
        if (one.val[s] != 0) {
            nval++;
            d = fabs(r0.val[s] - one.val[s]) / fabs(one.val[s]);
            if (d > worst) worst = d;
        }
    }
    printf("2 ranks against one process: %d steps, %d validations, worst relative difference %.3g\n", STEPS,
           nval, worst);
    CHECK(worst <= 1e-5 && nval == STEPS / 10, "worst %.3g over %d validations", worst, nval);
    CHECK(one.loss[STEPS] < one.loss[1], "the model learns (%.4f -> %.4f)", one.loss[1], one.loss[STEPS]);

    // A batch that does not divide: both fail, rank 0 says why, rank 1 nothing.
    memset(&r0, 0, sizeof r0);
    memset(&r1, 0, sizeof r1);
    r0.batch = r1.batch = 7, r0.seed = r1.seed = 3;
    two(&r0, &r1);
    CHECK(r0.set_rc == RECUR_EINVAL && r1.set_rc == RECUR_EINVAL, "batch 7: %d %d", r0.set_rc, r1.set_rc);
    CHECK(strstr(r0.err.msg, "does not divide among 2") != NULL && r1.err.msg[0] == 0, "messages: '%s' '%s'",
          r0.err.msg, r1.err.msg);
    // Ranks with different seeds: the fingerprint differs.
    memset(&r0, 0, sizeof r0);
    memset(&r1, 0, sizeof r1);
    r0.batch = r1.batch = 8, r0.seed = 3, r1.seed = 4;
    two(&r0, &r1);
    CHECK(r0.set_rc == RECUR_EINVAL && r1.set_rc == RECUR_EINVAL, "seeds: %d %d", r0.set_rc, r1.set_rc);
    CHECK(strstr(r0.err.msg, "other data or options") != NULL && r1.err.msg[0] == 0, "messages: '%s' '%s'",
          r0.err.msg, r1.err.msg);
    // One process: size 1 changes nothing; a bad comm is refused.
    recur_comm bad = {2, 2, NULL, sum_f32, sum_f64, bcast, NULL};
    recur_error err = {0};
    CHECK(recur_trainer_set_comm(NULL, &bad, &err) == RECUR_EINVAL, "NULL trainer");
    return check_exit();
}
