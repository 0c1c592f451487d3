/*
 * stream_peak.c - the ceiling for batch-1 sampling (docs/benchmarks.md):
 * how fast N threads can read a buffer of a given size over and over.
 *
 * A sampled character reads every weight of the model once (the recurrent
 * and input matrices and the head: a matrix-vector product each), so no
 * sampler can produce more than
 *
 *     limit (chars/s) = read bandwidth at that working set (bytes/s) / weight bytes per char
 *
 * and the bandwidth depends on where the working set lives (L2 below 1 MiB per
 * core here, L3, memory). This program measures it the way the sampler reads:
 * each pass is one "character", the buffer is split into N contiguous shares
 * (one per thread, each staying in that core's caches), and the threads meet
 * at a barrier after every pass, as the sampler's threads do. The read itself
 * (read_pass, bench/common.h) is 16-float vector loads into 8 independent
 * sums (no other work), so it is the best any kernel can do at this size and
 * thread count.
 *
 *   cc -O2 -mavx512f -pthread bench/stream_peak.c -o build/stream_peak
 *   build/stream_peak --threads 2 --bytes 12722432,4194304 [--seconds S] [--json]
 *
 * Prints per size: passes/s and GB/s, wall clock and per CPU time of the
 * threads, each the best of 100 short batches (the machine is shared: the best
 * batches are the ones that had the cores to themselves). bench only; no
 * dependency.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

typedef struct shared {
    const float *buf;
    size_t n;           /* floats */
    int threads;
    long passes;        /* passes to run (set by thread 0 before each batch) */
    atomic_int arrived; /* barrier: a counter and a generation */
    atomic_int gen;
} shared;

typedef struct targ {
    shared *s;
    int tid;
    double cpu;  /* CPU seconds in the timed loop */
    float sink;
} targ;

static void barrier(shared *s)
{
    int g = atomic_load_explicit(&s->gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&s->arrived, 1, memory_order_acq_rel) == s->threads - 1) {
        atomic_store_explicit(&s->arrived, 0, memory_order_relaxed);
        atomic_store_explicit(&s->gen, g + 1, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&s->gen, memory_order_acquire) == g) _mm_pause();
}

static void *reader(void *p)
{
    targ *a = p;
    shared *s = a->s;
    // This thread's share: whole 128-float (512-byte) blocks.
    size_t blocks = s->n / 128;
    size_t b0 = blocks * (size_t)a->tid / (size_t)s->threads;
    size_t b1 = blocks * (size_t)(a->tid + 1) / (size_t)s->threads;
    const float *x = s->buf + b0 * 128;
    size_t n = (b1 - b0) * 128;
    read_acc acc = read_acc_zero();
    barrier(s);
    double c0 = thread_cpu_s();
    for (long pass = 0; pass < s->passes; pass++) {
        acc = read_pass(acc, x, n);
        if (s->threads > 1) barrier(s);
    }
    a->cpu = thread_cpu_s() - c0;
    a->sink = read_acc_sum(acc);
    return NULL;
}

/* One timed batch of `passes` passes on `threads` threads: wall seconds, and
 * the summed CPU seconds of the threads in *cpu. */
static double batch(shared *s, long passes, double *cpu)
{
    pthread_t th[BENCH_MAX_THREADS];
    targ args[BENCH_MAX_THREADS];
    s->passes = passes;
    atomic_store(&s->arrived, 0);
    atomic_store(&s->gen, 0);
    for (int i = 1; i < s->threads; i++) {
        args[i] = (targ){s, i, 0, 0};
        pthread_create(&th[i], NULL, reader, &args[i]);
    }
    args[0] = (targ){s, 0, 0, 0};
    double t0 = now_s();
    reader(&args[0]);
    double t = now_s() - t0;
    for (int i = 1; i < s->threads; i++) pthread_join(th[i], NULL);
    // Thread start-up falls inside thread 0's wall time; with passes lasting
    // at least tens of milliseconds in all it is noise.
    *cpu = 0;
    for (int i = 0; i < s->threads; i++) *cpu += args[i].cpu;
    volatile float sink = 0;
    for (int i = 0; i < s->threads; i++) sink += args[i].sink;
    (void)sink;
    return t;
}

int main(int argc, char **argv)
{
    bench_opts o = bench_opts_default();
    const char *bytes_list = "262144,1048576,4194304,16777216,67108864";
    for (int i = 1; i < argc; i++) {
        if (bench_opt(&o, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--bytes") && i + 1 < argc)
            bytes_list = argv[++i];
        else {
            fprintf(stderr, "usage: stream_peak [--threads N] [--bytes B1,B2,...] [--seconds S] [--json]\n");
            return 2;
        }
    }
    bench_opts_check(&o);
    const int threads = o.threads, json = o.json;
    const double seconds = o.seconds;
    if (json)
        printf("{\"threads\":%d,\"read\":[", threads);
    else
        printf("threads %d: bytes read per pass, each thread its share, a barrier after each pass\n"
               "%14s %12s %10s %10s\n", threads, "bytes", "passes/s", "GB/s", "(CPU)");
    const char *p = bytes_list;
    int first = 1;
    while (*p) {
        char *end;
        size_t bytes = strtoull(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') break;
        size_t n = (bytes / sizeof(float) + 127) / 128 * 128;
        if (n < 128 * (size_t)threads) n = 128 * (size_t)threads;
        float *buf = aligned_alloc(64, n * sizeof(float));
        if (!buf) return 1;
        for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 7);
        shared s = {.buf = buf, .n = n, .threads = threads};
        // Calibrate: passes for about seconds/REPS, then the best of REPS
        // batches: on a shared machine some batches run undisturbed, and the
        // ceiling is what those reach.
        enum { REPS = 100 };
        double cpu, t = batch(&s, 1, &cpu);
        long passes = 1;
        while (t < seconds / (4 * REPS) && passes < (1L << 40)) {
            passes *= 4;
            t = batch(&s, passes, &cpu);
        }
        passes = (long)(passes * (seconds / REPS) / (t > 1e-9 ? t : 1e-9)) + 1;
        double best = 0, best_cpu = 0;
        for (int rep = 0; rep < REPS; rep++) {
            t = batch(&s, passes, &cpu);
            double r = passes / t, rc = cpu > 0 ? passes / cpu * threads : 0;
            if (r > best) best = r;
            if (rc > best_cpu) best_cpu = rc;
        }
        double gb = (double)n * sizeof(float) * 1e-9;
        if (json)
            printf("%s{\"bytes\":%zu,\"passes_per_s\":%.1f,\"gbs\":%.2f,\"cpu_passes_per_s\":%.1f,\"cpu_gbs\":%.2f}",
                   json_sep(&first), bytes, best, best * gb, best_cpu, best_cpu * gb);
        else
            printf("%14zu %12.0f %10.1f %10.1f\n", bytes, best, best * gb, best_cpu * gb);
        free(buf);
    }
    if (json) printf("]}\n");
    return 0;
}
