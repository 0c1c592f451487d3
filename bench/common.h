/*
 * common.h - what bench/stream_peak.c and bench/sgemm_peak.c share: clocks,
 * the options both take (--threads N, --seconds S, --json), the comma
 * between JSON array items, and the read kernel both use to measure read
 * bandwidth. Header only (static inline), so each program still builds with
 * one cc command (bench/run.sh):
 *
 *   cc -O2 -mavx512f -pthread bench/stream_peak.c -o build/stream_peak
 *   cc -O2 -mavx512f -pthread bench/sgemm_peak.c -o build/sgemm_peak -lopenblas
 *
 * bench only; no dependency.
 */
#ifndef RECUR_BENCH_COMMON_H
#define RECUR_BENCH_COMMON_H

#include <immintrin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- clocks */

/* Seconds on clock `id` (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, ...). */
static inline double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wall-clock seconds. */
static inline double now_s(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* CPU seconds of the calling thread. */
static inline double thread_cpu_s(void)
{
    return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* ---------------------------------------------------------------- options */

enum { BENCH_MAX_THREADS = 64 };

typedef struct bench_opts {
    int threads;    /* --threads N: 1 to BENCH_MAX_THREADS (anything else: 1) */
    double seconds; /* --seconds S */
    int json;       /* --json: one JSON object on stdout instead of a table */
} bench_opts;

static inline bench_opts bench_opts_default(void)
{
    return (bench_opts){.threads = 1, .seconds = 1.0, .json = 0};
}

/* Takes argv[*i] (and its value, advancing *i) if it is one of the shared
 * options; 0 if it is not, for the program to try its own or print usage. */
static inline int bench_opt(bench_opts *o, int argc, char **argv, int *i)
{
    if (!strcmp(argv[*i], "--threads") && *i + 1 < argc)
        o->threads = atoi(argv[++*i]);
    else if (!strcmp(argv[*i], "--seconds") && *i + 1 < argc)
        o->seconds = atof(argv[++*i]);
    else if (!strcmp(argv[*i], "--json"))
        o->json = 1;
    else
        return 0;
    return 1;
}

/* After parsing: an out-of-range thread count runs on one thread. */
static inline void bench_opts_check(bench_opts *o)
{
    if (o->threads < 1 || o->threads > BENCH_MAX_THREADS) o->threads = 1;
}

/* ---------------------------------------------------------------- JSON */

/* The separator before the next item of a JSON array: "" for the first
 * (*first set), "," after; clears *first. */
static inline const char *json_sep(int *first)
{
    const char *s = *first ? "" : ",";
    *first = 0;
    return s;
}

/* ---------------------------------------------------------------- read kernel */

/* Eight independent 16-float sums: enough loads in flight to reach the read
 * bandwidth, with no other work. */
typedef struct read_acc {
    __m512 a0, a1, a2, a3, a4, a5, a6, a7;
} read_acc;

static inline read_acc read_acc_zero(void)
{
    __m512 z = _mm512_setzero_ps();
    return (read_acc){z, z, z, z, z, z, z, z};
}

/* Adds x[0..n) into the sums, 128 floats (512 bytes) per iteration: n is a
 * multiple of 128 and x 64-byte aligned. */
static inline read_acc read_pass(read_acc s, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i += 128) {
        s.a0 = _mm512_add_ps(s.a0, _mm512_load_ps(x + i));
        s.a1 = _mm512_add_ps(s.a1, _mm512_load_ps(x + i + 16));
        s.a2 = _mm512_add_ps(s.a2, _mm512_load_ps(x + i + 32));
        s.a3 = _mm512_add_ps(s.a3, _mm512_load_ps(x + i + 48));
        s.a4 = _mm512_add_ps(s.a4, _mm512_load_ps(x + i + 64));
        s.a5 = _mm512_add_ps(s.a5, _mm512_load_ps(x + i + 80));
        s.a6 = _mm512_add_ps(s.a6, _mm512_load_ps(x + i + 96));
        s.a7 = _mm512_add_ps(s.a7, _mm512_load_ps(x + i + 112));
    }
    return s;
}

/* The sum of all eight, so that the compiler cannot drop the reads. */
static inline float read_acc_sum(read_acc s)
{
    __m512 a = _mm512_add_ps(_mm512_add_ps(s.a0, s.a1), _mm512_add_ps(s.a2, s.a3));
    __m512 b = _mm512_add_ps(_mm512_add_ps(s.a4, s.a5), _mm512_add_ps(s.a6, s.a7));
    return _mm512_reduce_add_ps(_mm512_add_ps(a, b));
}

#endif
