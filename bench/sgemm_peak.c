/*
 * sgemm_peak.c - the ceilings for fp32 matrix work on this machine
 * (docs/benchmarks.md):
 *   1. the AVX-512 FMA peak: N threads each running independent
 *      vfmadd231ps chains on registers (no memory traffic), so
 *      2 FLOPs x 16 lanes x FMAs per second; and, where the CPU has
 *      AVX512-BF16, the same with vdpbf16ps (2 products of bf16 pairs added
 *      into each of 16 fp32 lanes: 64 FLOPs per instruction), the ceiling
 *      of bf16 training (recur train --bf16);
 *   2. OpenBLAS sgemm GFLOP/s at the shapes the models use (the recurrent
 *      product [B,H]x[H,G*H], the window's input product [B*T,H]x[H,G*H],
 *      the weight gradient [G*H,B*T]x[B*T,H]) and a large square.
 * bench only: recur itself never links a BLAS.
 *
 *   cc -O2 -mavx512f -pthread bench/sgemm_peak.c -o build/sgemm_peak -lopenblas
 *   OPENBLAS_CORETYPE=SkylakeX build/sgemm_peak --threads 2 [--json]
 */
#define _GNU_SOURCE
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

void openblas_set_num_threads(int);

/* The machine is shared: besides wall-clock rates, each measurement gives a
 * CPU-time rate, FLOPs per CPU-second of its threads times the thread count,
 * which is what the cores do while they are ours. */

/* ---------------------------------------------------------------- FMA peak */

typedef struct fma_arg {
    long iters;
    float out;
    double cpu; /* this thread's CPU seconds in the loop */
} fma_arg;

static void *fma_loop(void *p)
{
    fma_arg *a = p;
    double cpu0 = thread_cpu_s();
    // 12 independent chains, enough to cover the FMA latency on 2 pipes. They
    // start from different values and pass through an empty asm each
    // iteration, so the compiler can neither merge nor drop them.
    __m512 c0 = _mm512_set1_ps(0.0f), c1 = _mm512_set1_ps(1.0f), c2 = _mm512_set1_ps(2.0f),
           c3 = _mm512_set1_ps(3.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f),
           c6 = _mm512_set1_ps(6.0f), c7 = _mm512_set1_ps(7.0f), c8 = _mm512_set1_ps(8.0f),
           c9 = _mm512_set1_ps(9.0f), c10 = _mm512_set1_ps(10.0f), c11 = _mm512_set1_ps(11.0f);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < a->iters; i++) {
        c0 = _mm512_fmadd_ps(c0, x, y);
        c1 = _mm512_fmadd_ps(c1, x, y);
        c2 = _mm512_fmadd_ps(c2, x, y);
        c3 = _mm512_fmadd_ps(c3, x, y);
        c4 = _mm512_fmadd_ps(c4, x, y);
        c5 = _mm512_fmadd_ps(c5, x, y);
        c6 = _mm512_fmadd_ps(c6, x, y);
        c7 = _mm512_fmadd_ps(c7, x, y);
        c8 = _mm512_fmadd_ps(c8, x, y);
        c9 = _mm512_fmadd_ps(c9, x, y);
        c10 = _mm512_fmadd_ps(c10, x, y);
        c11 = _mm512_fmadd_ps(c11, x, y);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6),
                         "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    a->out = _mm512_reduce_add_ps(s);
    a->cpu = thread_cpu_s() - cpu0;
    return NULL;
}

// fma_loop with vdpbf16ps: the same 12 chains, each instruction 2 bf16
// products per lane added into the fp32 lane.
__attribute__((target("avx512f,avx512bf16"))) static void *dp_loop(void *p)
{
    fma_arg *a = p;
    double cpu0 = thread_cpu_s();
    __m512 c0 = _mm512_set1_ps(0.0f), c1 = _mm512_set1_ps(1.0f), c2 = _mm512_set1_ps(2.0f),
           c3 = _mm512_set1_ps(3.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f),
           c6 = _mm512_set1_ps(6.0f), c7 = _mm512_set1_ps(7.0f), c8 = _mm512_set1_ps(8.0f),
           c9 = _mm512_set1_ps(9.0f), c10 = _mm512_set1_ps(10.0f), c11 = _mm512_set1_ps(11.0f);
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3F7F3F7F), y = (__m512bh)_mm512_set1_epi32(0x33D633D6);
    for (long i = 0; i < a->iters; i++) {
        c0 = _mm512_dpbf16_ps(c0, x, y);
        c1 = _mm512_dpbf16_ps(c1, x, y);
        c2 = _mm512_dpbf16_ps(c2, x, y);
        c3 = _mm512_dpbf16_ps(c3, x, y);
        c4 = _mm512_dpbf16_ps(c4, x, y);
        c5 = _mm512_dpbf16_ps(c5, x, y);
        c6 = _mm512_dpbf16_ps(c6, x, y);
        c7 = _mm512_dpbf16_ps(c7, x, y);
        c8 = _mm512_dpbf16_ps(c8, x, y);
        c9 = _mm512_dpbf16_ps(c9, x, y);
        c10 = _mm512_dpbf16_ps(c10, x, y);
        c11 = _mm512_dpbf16_ps(c11, x, y);
        __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5), "+v"(c6),
                         "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3)),
                             _mm512_add_ps(_mm512_add_ps(c4, c5), _mm512_add_ps(c6, c7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(c8, c9), _mm512_add_ps(c10, c11)));
    a->out = _mm512_reduce_add_ps(s);
    a->cpu = thread_cpu_s() - cpu0;
    return NULL;
}

// GFLOP/s of `threads` threads running loop, flops per iteration each; the
// best of 5 (wall) and of CPU-time rates.
static double peak_of(void *(*loop)(void *), double flops, int threads, double *cpu_rate)
{
    double best = 0;
    *cpu_rate = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[BENCH_MAX_THREADS];
        fma_arg args[BENCH_MAX_THREADS];
        long iters = 20000000;
        double t0 = now_s();
        for (int i = 0; i < threads; i++) {
            args[i].iters = iters;
            pthread_create(&th[i], NULL, loop, &args[i]);
        }
        for (int i = 0; i < threads; i++) pthread_join(th[i], NULL);
        double dt = now_s() - t0;
        double gf = (double)threads * iters * flops / dt * 1e-9, cr = 0;
        for (int i = 0; i < threads; i++) cr += (double)iters * flops / args[i].cpu * 1e-9;
        if (gf > best) best = gf;
        if (cr > *cpu_rate) *cpu_rate = cr;
    }
    return best;
}

static double fma_peak(int threads, double *cpu_rate)
{
    return peak_of(fma_loop, 12 * 16 * 2, threads, cpu_rate);
}

/* ---------------------------------------------------------------- read bandwidth */

/* GB/s of one thread summing a buffer of `bytes` over and over (the weights
 * a batch-1 sampling step streams): L2-, L3- and memory-sized buffers give
 * the ceiling for sampling at each model size. Per CPU time. */
static double read_gbs(size_t bytes)
{
    size_t n = bytes / sizeof(float);
    float *x = aligned_alloc(64, n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(i & 7);
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double c0 = thread_cpu_s(), c;
        size_t done = 0;
        do {
            sink += read_acc_sum(read_pass(read_acc_zero(), x, n));
            done += n * sizeof(float);
            c = thread_cpu_s() - c0;
        } while (c < 0.05);
        double gbs = (double)done / c * 1e-9;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    free(x);
    return best;
}

/* ---------------------------------------------------------------- sgemm */

static double sgemm_gflops(int transa, int M, int N, int K, double seconds, int threads,
                           double *cpu_rate)
{
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    memset(C, 0, sizeof(float) * (size_t)M * N);
    double flop = 2.0 * M * N * K, best = 0;
    *cpu_rate = 0;
    // Median-free: the best of several timed batches (the ceiling is the point).
    for (int rep = 0; rep < 5; rep++) {
        long n = 0;
        double t0 = now_s(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t;
        do {
            if (transa)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, M, B, N, 1.0f,
                            C, N);
            else
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N,
                            1.0f, C, N);
            n++;
            t = now_s() - t0;
        } while (t < seconds / 5);
        double gf = flop * n / t * 1e-9;
        double cr = flop * n / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) * threads * 1e-9;
        if (gf > best) best = gf;
        if (cr > *cpu_rate) *cpu_rate = cr;
    }
    free(A), free(B), free(C);
    return best;
}

int main(int argc, char **argv)
{
    bench_opts o = bench_opts_default();
    for (int i = 1; i < argc; i++)
        if (!bench_opt(&o, argc, argv, &i)) {
            fprintf(stderr, "usage: sgemm_peak [--threads N] [--seconds S] [--json]\n");
            return 2;
        }
    bench_opts_check(&o);
    const int threads = o.threads, json = o.json;
    const double seconds = o.seconds;
    openblas_set_num_threads(threads);
    double peak_cpu, peak = fma_peak(threads, &peak_cpu);
    __builtin_cpu_init();
    const int has_bf16 = __builtin_cpu_supports("avx512bf16");
    double bf_cpu = 0, bf = has_bf16 ? peak_of(dp_loop, 12 * 16 * 4, threads, &bf_cpu) : 0;

    // The table's shapes (docs/benchmarks.md): (H, B, T) x cells.
    static const int shapes[][3] = {{128, 1, 25}, {128, 50, 50}, {512, 64, 100}, {1024, 128, 100}};
    static const int gates[] = {1, 4, 3};
    static const char *names[] = {"rnn", "lstm", "gru"};
    if (json)
        printf("{\"threads\":%d,\"fma_peak_gflops\":%.1f,\"fma_peak_cpu_gflops\":%.1f,"
               "\"bf16_peak_gflops\":%.1f,\"bf16_peak_cpu_gflops\":%.1f,\"sgemm\":[",
               threads, peak, peak_cpu, bf, bf_cpu);
    else
        printf("threads %d  AVX-512 FMA peak %.1f GFLOP/s wall, %.1f per CPU time; "
               "AVX512-BF16 vdpbf16ps peak %.1f wall, %.1f per CPU time%s\n"
               "%-6s %-16s %-26s %10s %10s\n",
               threads, peak, peak_cpu, bf, bf_cpu, has_bf16 ? "" : " (no AVX512-BF16)", "cell", "shape (H,B,T)", "product (M x N x K)", "GFLOP/s",
               "(CPU)");
    int first = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int c = 0; c < 3; c++) {
            int H = shapes[s][0], B = shapes[s][1], T = shapes[s][2], GH = gates[c] * H;
            struct {
                const char *what;
                int ta, M, N, K;
            } p[] = {{"recurrent", 0, B, GH, H}, {"input", 0, B * T, GH, H}, {"dW", 1, GH, H, B * T}};
            for (int k = 0; k < 3; k++) {
                double cr, gf = sgemm_gflops(p[k].ta, p[k].M, p[k].N, p[k].K, seconds / 4, threads, &cr);
                if (json)
                    printf("%s{\"cell\":\"%s\",\"H\":%d,\"B\":%d,\"T\":%d,\"product\":\"%s\",\"M\":%d,"
                           "\"N\":%d,\"K\":%d,\"gflops\":%.1f,\"cpu_gflops\":%.1f}",
                           json_sep(&first), names[c], H, B, T, p[k].what, p[k].M, p[k].N, p[k].K, gf, cr);
                else
                    printf("%-6s H%-4d B%-3d T%-4d  %-9s %5d x %5d x %5d %10.1f %10.1f\n", names[c], H, B,
                           T, p[k].what, p[k].M, p[k].N, p[k].K, gf, cr);
            }
        }
    double sqc, sq = sgemm_gflops(0, 2048, 2048, 2048, seconds * 2, threads, &sqc);
    static const size_t sizes[] = {256 << 10, 4 << 20, 16 << 20, 256 << 20};
    double bw[4];
    for (int i = 0; i < 4; i++) bw[i] = read_gbs(sizes[i]);
    if (json)
        printf("],\"square2048_gflops\":%.1f,\"square2048_cpu_gflops\":%.1f,\"read_gbs\":{\"256KiB\":%.1f,"
               "\"4MiB\":%.1f,\"16MiB\":%.1f,\"256MiB\":%.1f}}\n",
               sq, sqc, bw[0], bw[1], bw[2], bw[3]);
    else
        printf("square 2048 x 2048 x 2048 %28.1f %10.1f\n"
               "one thread reading 256 KiB / 4 MiB / 16 MiB / 256 MiB: %.1f / %.1f / %.1f / %.1f GB/s\n",
               sq, sqc, bw[0], bw[1], bw[2], bw[3]);
    return 0;
}
