/*
 * pool.h - a small persistent thread pool for the kernels: n-1 worker
 * threads plus the caller. pool_run hands every thread the same job
 * (fn(arg, tid, n)) and returns when all have finished it; inside a job,
 * pool_barrier is a cheap spinning barrier (one cache line bounced between
 * the cores), which is what lets the recurrence synchronise once per time
 * step instead of forking and joining threads per matrix product.
 *
 * Waiting threads spin briefly, then yield, then (between jobs) sleep on a
 * condition variable, so an idle pool costs nothing and an oversubscribed
 * machine is not made worse by spinning. A pool belongs to one workspace and
 * must not be used from two threads at once. No global state.
 */
#ifndef RECUR_POOL_H
#define RECUR_POOL_H

typedef struct pool pool;
typedef void (*pool_fn)(void *arg, int tid, int nth);

/* A pool of n threads in all (the caller counts as one: n-1 are started).
 * n <= 1, or a failure to start threads, gives a pool that runs everything
 * on the caller (NULL only when out of memory). */
pool *pool_new(int n);
void pool_free(pool *p);
/* Number of threads a job runs on (1 for NULL). */
int pool_size(const pool *p);
/* Runs fn(arg, tid, n) on every thread, tid 0 being the caller; returns when
 * all are done. With p == NULL, runs fn(arg, 0, 1). Not reentrant. */
void pool_run(pool *p, pool_fn fn, void *arg);
/* Inside a job: waits until every thread of the job has reached it. */
void pool_barrier(pool *p);
/* Thread tid's scratch buffer: GEMM_SCRATCH floats (gemm.h), 64-byte
 * aligned, made by pool_new (which returns NULL if it cannot). */
float *pool_scratch(pool *p, int tid);

#endif
