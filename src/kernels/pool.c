/*
 * pool.c - the kernels' thread pool (pool.h). Workers wait for a job by
 * watching a generation counter: spinning for a while (a job usually follows
 * the last within microseconds: forward, loss, backward), then sleeping on a
 * condition variable. The barrier is a counter plus a generation word, each
 * on its own cache line.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall(SYS_futex) */
#endif
#include "kernels/pool.h"

#include "kernels/gemm.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

// Spins before a waiting thread sleeps: at a barrier (tens of microseconds:
// longer than a balanced step's skew, shorter than a scheduler time slice, so
// that a partner preempted on a busy machine costs a sleep, not a spinning
// core), and between jobs.
#define BARRIER_SPINS 2000
#define IDLE_SPINS 40000

// Sleeping until *w changes from v, and waking the sleepers: a futex on
// Linux, else yielding the core.
static void wait_change(atomic_uint *w, unsigned v)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
#else
    (void)w, (void)v;
    sched_yield();
#endif
}

static void wake_all(atomic_uint *w)
{
#ifdef __linux__
    syscall(SYS_futex, (unsigned *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)w;
#endif
}

typedef struct {
    _Alignas(64) atomic_uint v;
} line_uint;

struct pool {
    int n;
    pthread_t *th;
    int started;      /* workers actually running */
    pool_fn fn;
    void *arg;
    line_uint job;    /* job generation: bumped by pool_run */
    line_uint done;   /* workers finished with the current job */
    line_uint bcount; /* barrier arrivals */
    line_uint bgen;   /* barrier generation */
    line_uint bsleep; /* threads asleep at the barrier */
    line_uint dsleep; /* 1 while the caller sleeps waiting for done */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int sleepers;
    int quit;
    float **scratch;  /* [n] GEMM_SCRATCH floats each */
    int nscratch;
};

typedef struct worker_arg {
    pool *p;
    int tid;
} worker_arg;

static void *worker(void *varg)
{
    worker_arg *wa = varg;
    pool *p = wa->p;
    int tid = wa->tid;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->job.v, memory_order_acquire) == seen) {
            if (++spins < IDLE_SPINS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            p->sleepers++;
            while (atomic_load_explicit(&p->job.v, memory_order_acquire) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            p->sleepers--;
            pthread_mutex_unlock(&p->mu);
        }
        seen = atomic_load_explicit(&p->job.v, memory_order_acquire);
        if (p->quit) break;
        p->fn(p->arg, tid, p->n);
        atomic_fetch_add(&p->done.v, 1);
        if (atomic_load(&p->dsleep.v)) wake_all(&p->done.v);
    }
    return NULL;
}

static int alloc_scratch(pool *p, int n)
{
    p->scratch = calloc((size_t)n, sizeof *p->scratch);
    if (!p->scratch) return -1;
    p->nscratch = n;
    for (int i = 0; i < n; i++) {
        p->scratch[i] = aligned_alloc(64, sizeof(float) * GEMM_SCRATCH);
        if (!p->scratch[i]) return -1;
    }
    return 0;
}

static void free_scratch(pool *p)
{
    for (int i = 0; i < p->nscratch; i++) free(p->scratch[i]);
    free(p->scratch);
}

pool *pool_new(int n)
{
    pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = 1;
    if (alloc_scratch(p, n < 1 ? 1 : n)) {
        free_scratch(p);
        free(p);
        return NULL;
    }
    if (n <= 1) return p;
    p->th = calloc((size_t)n, sizeof *p->th);
    if (!p->th || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->th);
        p->th = NULL;
        return p;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->th);
        p->th = NULL;
        return p;
    }
    p->n = n;
    // Workers are born with every asynchronous signal blocked (a thread
    // inherits its creator's mask): a host program's SIGINT handler then
    // runs on one of its own threads, never on ours in the middle of a
    // kernel. The signals a fault raises in the faulting thread stay open,
    // so a crash handler (a sanitizer's, a host's) still sees a worker's.
    // The caller's mask is restored right after.
    sigset_t all, caller;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) sigdelset(&all, faults[i]);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &caller) == 0;
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        wa->p = p;
        wa->tid = i;
        if (pthread_create(&p->th[i], NULL, worker, wa) != 0) {
            free(wa);
            break;
        }
        p->started++;
    }
    if (masked) pthread_sigmask(SIG_SETMASK, &caller, NULL);
    // Fewer workers than asked: run with what started (results do not depend on it).
    p->n = p->started + 1;
    return p;
}

void pool_free(pool *p)
{
    if (!p) return;
    if (p->th) {
        if (p->started) {
            pthread_mutex_lock(&p->mu);
            p->quit = 1;
            atomic_fetch_add_explicit(&p->job.v, 1, memory_order_acq_rel);
            pthread_cond_broadcast(&p->cv);
            pthread_mutex_unlock(&p->mu);
            for (int i = 1; i <= p->started; i++) pthread_join(p->th[i], NULL);
        }
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p->th);
    }
    free_scratch(p);
    free(p);
}

float *pool_scratch(pool *p, int tid)
{
    return tid < p->nscratch ? p->scratch[tid] : NULL;
}

int pool_size(const pool *p)
{
    return p ? p->n : 1;
}

void pool_run(pool *p, pool_fn fn, void *arg)
{
    if (!p || p->n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done.v, 0, memory_order_relaxed);
    // The mutex orders the bump against a worker going to sleep (no lost wake-up).
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->job.v, 1, memory_order_acq_rel);
    if (p->sleepers) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    unsigned want = (unsigned)(p->n - 1);
    for (int spins = 0; atomic_load_explicit(&p->done.v, memory_order_acquire) != want; spins++) {
        if (spins < BARRIER_SPINS) {
            cpu_relax();
            continue;
        }
        // (seq_cst: either the worker sees dsleep set, or we see its count.)
        atomic_store(&p->dsleep.v, 1);
        unsigned d = atomic_load(&p->done.v);
        if (d != want) wait_change(&p->done.v, d);
        atomic_store(&p->dsleep.v, 0);
    }
}

void pool_barrier(pool *p)
{
    if (!p || p->n <= 1) return;
    unsigned gen = atomic_load_explicit(&p->bgen.v, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bcount.v, 1, memory_order_acq_rel) == (unsigned)(p->n - 1)) {
        atomic_store_explicit(&p->bcount.v, 0, memory_order_relaxed);
        atomic_fetch_add(&p->bgen.v, 1);
        if (atomic_load(&p->bsleep.v)) wake_all(&p->bgen.v);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&p->bgen.v, memory_order_acquire) == gen; spins++) {
        if (spins < BARRIER_SPINS) {
            cpu_relax();
            continue;
        }
        // (seq_cst: either the last arrival sees bsleep, or we see the new generation.)
        atomic_fetch_add(&p->bsleep.v, 1);
        if (atomic_load(&p->bgen.v) == gen) wait_change(&p->bgen.v, gen);
        atomic_fetch_sub(&p->bsleep.v, 1);
    }
}
