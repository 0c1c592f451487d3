/*
 * test_signals.c - a host program's signal handler runs on the host's
 * threads, never on the library's workers (issue #17). The library's worker
 * threads (src/kernels/pool.c: the training pool, the sampler's) are created
 * with every asynchronous signal blocked, and the caller's own mask is
 * restored afterwards.
 *
 * How: the main thread blocks SIGINT for a moment and sends the process a
 * SIGINT while a pool is alive. A process-directed signal goes to any thread
 * that does not block it: with workers that inherited an open mask, one of
 * them runs the handler at once; with the fix, none can, the signal stays
 * pending, and the handler runs on the main thread when it unblocks. Done
 * with a pool made directly, and with a live sampler and a live trainer
 * through the public API.
 */
#define _GNU_SOURCE
#include "check.h"
#include "kernels/pool.h"
#include "recur.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static volatile long handler_tid;

static void on_sigint(int sig)
{
    (void)sig;
    handler_tid = (long)syscall(SYS_gettid); // async-signal-safe
    handled++;
}

static void nap_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

// Sends SIGINT with the main thread blocking it; returns the thread that ran
// the handler (main or a worker) once main unblocks.
static void send_and_check(const char *label)
{
    long main_tid = (long)syscall(SYS_gettid);
    sigset_t intr, old;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    handled = 0;
    handler_tid = 0;
    pthread_sigmask(SIG_BLOCK, &intr, &old);
    kill(getpid(), SIGINT);
    nap_ms(50); // time for a worker to take it, if one can
    int before_unblock = handled;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    for (int i = 0; i < 2000 && !handled; i++) nap_ms(1); // (generous: valgrind, a busy machine)
    CHECK(before_unblock == 0, "%s: the handler ran on another thread (tid %ld, main %ld) while main blocked SIGINT",
          label, (long)handler_tid, main_tid);
    CHECK(handled == 1 && handler_tid == main_tid, "%s: handler ran %d times, on tid %ld (main %ld)", label,
          (int)handled, (long)handler_tid, main_tid);
    printf("  %-32s SIGINT handled on the main thread: %s\n", label,
           handled == 1 && handler_tid == main_tid ? "yes" : "NO");
}

static void nop(void *arg, int tid, int n)
{
    (void)arg, (void)tid, (void)n;
}

// Each worker's mask: SIGINT and SIGTERM blocked, SIGSEGV (a fault's, for
// crash handlers) open.
static volatile int mask_bad;
static void read_mask(void *arg, int tid, int n)
{
    (void)arg, (void)n;
    sigset_t m;
    pthread_sigmask(SIG_SETMASK, NULL, &m);
    if (tid > 0 && (sigismember(&m, SIGINT) != 1 || sigismember(&m, SIGTERM) != 1 || sigismember(&m, SIGSEGV) != 0))
        mask_bad = 1;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    printf("signals and the library's threads:\n");

    // The caller's mask survives pool_new: SIGUSR1 blocked before stays
    // blocked, SIGINT open before stays open.
    sigset_t usr, now;
    sigemptyset(&usr);
    sigaddset(&usr, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr, NULL);
    pool *p = pool_new(4);
    CHECK(p && pool_size(p) == 4, "pool of 4");
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    CHECK(sigismember(&now, SIGUSR1) == 1 && sigismember(&now, SIGINT) == 0,
          "pool_new changed the caller's signal mask");
    pthread_sigmask(SIG_UNBLOCK, &usr, NULL);
    if (p) pool_run(p, nop, NULL);
    if (p) pool_run(p, read_mask, NULL);
    CHECK(!mask_bad, "a worker's mask: SIGINT/SIGTERM not blocked or SIGSEGV blocked");
    send_and_check("pool of 4 threads");
    pool_free(p);

    // Through the public API: a trainer with 2 threads, alive between steps.
    recur_error err = {0};
    static char text[4096];
    for (size_t i = 0; i < sizeof text - 1; i++) text[i] = "abcdefgh \n"[(i * 7 + i / 13) % 10];
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 64;
    mc.layers = 1;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 16;
    tc.batch = 8;
    tc.steps = 2;
    tc.threads = 2;
    tc.eval_every = 0;
    tc.sample_every = 0;
    CHECK(recur_vocab_from_text(text, strlen(text), 0, &v, &err) == 0, "%s", err.msg);
    CHECK(recur_model_new(&mc, v, 1, &m, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_new(m, &tc, text, strlen(text), NULL, 0, &t, &err) == 0, "%s", err.msg);
    CHECK(t && recur_trainer_run(t, NULL, NULL, &err) == 0, "%s", err.msg);
    send_and_check("trainer, threads 2");
    recur_trainer_free(t);

    // A sampler sharing its steps between 2 threads (a model large enough
    // for the second thread to be used).
    recur_model *big = NULL;
    mc.cell = RECUR_CELL_LSTM;
    mc.hidden = 512;
    CHECK(recur_model_new(&mc, v, 1, &big, &err) == 0, "%s", err.msg);
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.threads = 2;
    recur_sampler *s = NULL;
    CHECK(big && recur_sampler_new(big, &sc, &s, &err) == 0, "%s", err.msg);
    CHECK(s && recur_sampler_threads(s) == 2, "the sampler runs on %d threads", s ? recur_sampler_threads(s) : 0);
    char c[4];
    int n;
    CHECK(s && recur_sampler_prime(s, "ab", 2, &err) == 0 && recur_sampler_next(s, c, &n, &err) == 0, "%s",
          err.msg);
    send_and_check("sampler, threads 2");
    recur_sampler_free(s);
    recur_model_free(big);
    recur_model_free(m);
    recur_vocab_free(v);
    return check_exit();
}
