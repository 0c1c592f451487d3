/*
 * cmd_bench.c - recur bench: the measuring stick of docs/benchmarks.md.
 * Trains a fresh model on a text (the bundled Shakespeare by default) for
 * about --seconds after a warm-up, then samples from it at batch 1, and
 * reports training and sampling characters per second, the process's peak
 * resident memory, and the GFLOP/s of the recurrent and input products
 * (the formula is in docs/benchmarks.md and in model_flops below). Only the
 * public API is used: the trainer's step callback is the clock.
 */
#include "cli.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static const char bench_usage[] =
    "usage: recur bench [options]\n\n"
    "Trains a new model on --text (B streams, windows of T characters, Adam, clip 5) for about\n"
    "--seconds after a warm-up, then samples from it one character at a time, and prints\n"
    "training chars/s (B*T per step), sampling chars/s, peak resident memory and the GFLOP/s\n"
    "of the recurrent and input matrix products (formula: docs/benchmarks.md). Sampling runs on\n"
    "--threads threads too; --sample-bf16 and --sample-int8 also time it with bfloat16 and int8 weights.\n"
    "--bf16 trains with bf16 mixed precision (as train --bf16; the JSON's \"bf16\" says whether it ran so);\n"
    "--recompute makes the LSTM/GRU gates again in the backward instead of keeping them (as train --recompute:\n"
    "less peak memory for more time; the JSON's \"recompute\" says whether it did).";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// CPU seconds used by the whole process so far (all threads): with the wall
// time it tells how much of the run the machine's other work took away.
static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return NAN;
    return (double)ru.ru_maxrss / 1024.0; // Linux: KiB
}

/* FLOPs per character of the recurrent and input products, forward only:
 * per layer 2*G*H*(H + in), where in is the layer's input width (H above
 * layer 0; E with an embedding; 0 for one-hot input, which is a column
 * gather, not a product). Training does it three times (forward, gradient
 * of the input, gradient of the weights). The head is not counted. */
static double model_flops(const recur_model_info *in)
{
    int G = in->cell == RECUR_CELL_LSTM ? 4 : in->cell == RECUR_CELL_GRU ? 3 : 1;
    double H = in->hidden, f = 0;
    for (int l = 0; l < in->layers; l++) {
        double width = l > 0 ? H : (double)in->embed;
        f += 2.0 * G * H * (H + width);
    }
    return f;
}

/* Bytes of weights a batch-1 sampling step must read at least: every
 * matrix once (W_hh, W_ih above layer 0 or with an embedding, the head) at
 * mat_bytes per element, plus the gathered one-hot column and the biases in
 * fp32. The sampling ceiling is read bandwidth / this (bench/stream_peak.c). */
static double sample_bytes(const recur_model_info *in, double mat_bytes)
{
    int G = in->cell == RECUR_CELL_LSTM ? 4 : in->cell == RECUR_CELL_GRU ? 3 : 1;
    double H = in->hidden, GH = G * H, V = in->vocab_size, mat = 0, f32 = 0;
    for (int l = 0; l < in->layers; l++) {
        mat += GH * ((l > 0 ? H : (double)in->embed) + H);
        f32 += 2 * GH;
    }
    if (!in->embed) f32 += GH;
    mat += V * H;
    f32 += V;
    // int8: each product's rows also carry a scale and a sum (4 bytes each).
    if (mat_bytes == 1) f32 += 2 * (GH * (2 * in->layers - (in->embed ? 0 : 1)) + V);
    return mat * mat_bytes + 4 * f32;
}

typedef struct sample_run {
    int threads; /* what the sampler actually used */
    long long chars;
    double seconds, cpu_seconds;
} sample_run;

// Samples from m for about `seconds` after a short warm-up, at batch 1.
static int time_sampling(const recur_model *m, const recur_vocab *v, uint64_t seed, int threads,
                         int prec, double seconds, sample_run *out, recur_error *err)
{
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.seed = seed;
    sc.threads = threads;
    sc.bf16 = prec == 1;
    sc.int8 = prec == 2;
    recur_sampler *s = NULL;
    int rc = recur_sampler_new(m, &sc, &s, err);
    if (rc) return rc;
    char first[4], c[4];
    int n, flen = recur_vocab_char_utf8(v, 0, first);
    if ((rc = recur_sampler_prime(s, first, (size_t)flen, err))) goto done;
    for (int i = 0; i < 64; i++) // warm-up
        if ((rc = recur_sampler_next(s, c, &n, err))) goto done;
    long long sampled = 0;
    double s0 = now_s(), s1 = s0, sc0 = cpu_s();
    do {
        for (int i = 0; i < 64; i++)
            if ((rc = recur_sampler_next(s, c, &n, err))) goto done;
        sampled += 64;
        s1 = now_s();
    } while (s1 - s0 < seconds);
    out->threads = recur_sampler_threads(s);
    out->chars = sampled;
    out->seconds = s1 - s0;
    out->cpu_seconds = cpu_s() - sc0;
done:
    recur_sampler_free(s);
    return rc;
}

typedef struct bench_clock {
    double warmup_s, seconds;
    double t_start;    /* when timing began (end of the warm-up) */
    double t_end;
    double c_start, c_end; /* process CPU seconds at those times */
    long long warm_steps, steps;
    int timing;
} bench_clock;

static int on_event(const recur_train_event *ev, void *user)
{
    bench_clock *c = user;
    if (ev->kind != RECUR_EV_STEP) return 0;
    double t = now_s();
    if (!c->timing) {
        // Warm-up: at least one step and warmup_s seconds (caches, page faults, threads).
        c->warm_steps++;
        if (ev->elapsed_s >= c->warmup_s) {
            c->timing = 1;
            c->t_start = t;
            c->c_start = cpu_s();
        }
        return 0;
    }
    c->steps++;
    c->t_end = t;
    c->c_end = cpu_s();
    return t - c->t_start >= c->seconds;
}

/* The default text: data/tinyshakespeare.txt here, or next to the binary
 * (build/recur -> data/). */
static const char *default_text(char *buf, size_t n)
{
    const char *rel = "data/tinyshakespeare.txt";
    if (access(rel, R_OK) == 0) return rel;
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(buf, n, "%s/../%s", exe, rel);
            if (access(buf, R_OK) == 0) return buf;
        }
    }
    return rel;
}

int cmd_bench(int argc, char **argv)
{
    const char *cell = "lstm", *text_path = NULL;
    int hidden = 128, layers = 2, embed = 0, batch = 50, seq = 50, threads = 1, json = 0;
    int sample_bf16 = 0, sample_int8 = 0, bf16 = 0, recompute = 0;
    double seconds = 5, sample_seconds = -1, warmup = 1;
    uint64_t seed = 1;
    opt o[] = {
        {"cell", OPT_STR, &cell, 0, 0, "NAME", "rnn, lstm or gru", 0},
        {"hidden", OPT_INT, &hidden, 1, 65536, "H", "units per layer", 0},
        {"layers", OPT_INT, &layers, 1, 64, "L", "stacked recurrent layers", 0},
        {"embed", OPT_INT, &embed, 0, 65536, "E", "learned embedding size; 0 = one-hot input", 0},
        {"batch", OPT_INT, &batch, 1, 1 << 20, "B", "parallel streams", 0},
        {"seq", OPT_INT, &seq, 1, 1 << 20, "T", "characters per BPTT window", 0},
        {"threads", OPT_INT, &threads, 1, 256, "N", "worker threads for training and sampling", 0},
        {"seconds", OPT_DOUBLE, &seconds, 0, 1e6, "S", "seconds of timed training after the warm-up", 0},
        {"warmup", OPT_DOUBLE, &warmup, 0, 1e6, "S", "seconds of untimed training first (at least one step)", 0},
        {"sample-seconds", OPT_DOUBLE, &sample_seconds, -1, 1e6, "S", "seconds of timed sampling (-1: half of --seconds, at least 1)", 0},
        {"bf16", OPT_FLAG, &bf16, 0, 0, 0, "train with bf16 mixed precision (AVX512-BF16; fp32 where the CPU lacks it)", 0},
        {"recompute", OPT_FLAG, &recompute, 0, 0, 0, "train keeping no LSTM/GRU gates: made again in the backward (less memory, more time)", 0},
        {"sample-bf16", OPT_FLAG, &sample_bf16, 0, 0, 0, "also time sampling with bfloat16 weights (sample_bf16_chars_per_s)", 0},
        {"sample-int8", OPT_FLAG, &sample_int8, 0, 0, 0, "also time sampling with int8 weights (sample_int8_chars_per_s)", 0},
        {"text", OPT_STR, &text_path, 0, 0, "FILE", "text to train on (default: the bundled data/tinyshakespeare.txt)", 0},
        {"seed", OPT_U64, &seed, 0, 0, "S", "random seed", 0},
        {"json", OPT_FLAG, &json, 0, 0, 0, "print one JSON object: train_chars_per_s, sample_chars_per_s, peak_rss_mib, gflops, ...", 0},
    };
    const char *pos[1];
    int npos, rc = args_parse("bench", bench_usage, argc, argv, 2, o, (int)(sizeof o / sizeof o[0]), pos, 0, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    int cell_id = recur_cell_parse(cell);
    if (cell_id < 0) return usage_error("bench", "--cell must be rnn, lstm or gru, got '%s'", cell);
    if (sample_seconds < 0) sample_seconds = seconds / 2 > 1 ? seconds / 2 : 1;
    if (bf16 && !recur_has_bf16())
        fprintf(stderr, "recur bench: no bf16 products here (this CPU has no AVX512-BF16, or RECUR_KERNELS=portable): --bf16 trains in fp32\n");
    const int bf16_ran = bf16 && recur_has_bf16();

    char pathbuf[PATH_MAX + 64];
    if (!text_path) text_path = default_text(pathbuf, sizeof pathbuf);
    recur_error err = {0};
    recur_text text = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    int status = 1;
    if ((rc = recur_text_open(text_path, &text, &err))) goto done;
    if ((rc = recur_vocab_from_text(text.data, text.len, 0, &v, &err))) goto done;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = (recur_cell)cell_id;
    mc.hidden = hidden;
    mc.layers = layers;
    mc.embed = embed;
    if ((rc = recur_model_new(&mc, v, seed, &m, &err))) goto done;

    // Training: no validation, samples or saves; the callback stops it.
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = seq;
    tc.batch = batch;
    tc.steps = LLONG_MAX / 2;
    tc.val_frac = 0;
    tc.eval_every = 0;
    tc.sample_every = 0;
    tc.seed = seed;
    tc.threads = threads;
    tc.bf16 = bf16;
    tc.recompute = recompute;
    if ((rc = recur_trainer_new(m, &tc, text.data, text.len, NULL, 0, &t, &err))) goto done;
    bench_clock clk = {.warmup_s = warmup, .seconds = seconds};
    rc = recur_trainer_run(t, on_event, &clk, &err);
    if (rc && rc != RECUR_EINTERRUPT) goto done;
    double train_s = clk.t_end - clk.t_start;
    double chars = (double)clk.steps * batch * seq;
    double train_rate = clk.steps > 0 && train_s > 0 ? chars / train_s : NAN;
    recur_trainer_free(t);
    t = NULL;

    // Sampling at batch 1 from the trained model, temperature 1: fp32, then
    // (--sample-bf16) with bfloat16 weights, (--sample-int8) with int8.
    sample_run sr = {0}, sb = {0}, si = {0};
    if ((rc = time_sampling(m, v, seed, threads, 0, sample_seconds, &sr, &err))) goto done;
    if (sample_bf16 && (rc = time_sampling(m, v, seed, threads, 1, sample_seconds, &sb, &err))) goto done;
    double sample_rate = (double)sr.chars / sr.seconds;
    if (sample_int8 && (rc = time_sampling(m, v, seed, threads, 2, sample_seconds, &si, &err))) goto done;
    double bf16_rate = sample_bf16 ? (double)sb.chars / sb.seconds : NAN;
    double int8_rate = sample_int8 ? (double)si.chars / si.seconds : NAN;

    recur_model_info info;
    recur_model_get_info(m, &info);
    double flops = 3.0 * model_flops(&info);
    double gflops = train_rate * flops * 1e-9;
    double rss = peak_rss_mib();
    if (json) {
        printf("{\"cell\":\"%s\",\"hidden\":%d,\"layers\":%d,\"embed\":%d,\"batch\":%d,\"seq\":%d,"
               "\"threads\":%d,\"vocab\":%d,\"params\":%zu,\"train_steps\":%lld,\"train_seconds\":%.3f,"
               "\"train_chars_per_s\":%.1f,\"sample_chars\":%lld,\"sample_chars_per_s\":%.1f,"
               "\"peak_rss_mib\":%.2f,\"gflops\":%.3f,\"train_cpu_seconds\":%.3f,"
               "\"sample_seconds\":%.3f,\"sample_cpu_seconds\":%.3f,\"sample_threads\":%d,"
               "\"sample_bytes_per_char\":%.0f,\"bf16\":%d,\"recompute\":%d",
               recur_cell_name(info.cell), hidden, layers, embed, batch, seq, threads, info.vocab_size,
               info.params, clk.steps, train_s, train_rate, sr.chars, sample_rate, rss, gflops,
               clk.c_end - clk.c_start, sr.seconds, sr.cpu_seconds, sr.threads, sample_bytes(&info, 4),
               bf16_ran, recompute && info.cell != RECUR_CELL_RNN);
        if (sample_bf16)
            printf(",\"sample_bf16_chars\":%lld,\"sample_bf16_chars_per_s\":%.1f,\"sample_bf16_seconds\":%.3f,"
                   "\"sample_bf16_cpu_seconds\":%.3f,\"sample_bf16_bytes_per_char\":%.0f",
                   sb.chars, bf16_rate, sb.seconds, sb.cpu_seconds, sample_bytes(&info, 2));
        if (sample_int8)
            printf(",\"sample_int8_chars\":%lld,\"sample_int8_chars_per_s\":%.1f,\"sample_int8_seconds\":%.3f,"
                   "\"sample_int8_cpu_seconds\":%.3f,\"sample_int8_bytes_per_char\":%.0f",
                   si.chars, int8_rate, si.seconds, si.cpu_seconds, sample_bytes(&info, 1));
        printf("}\n");
    } else {
        printf("recur bench: %s H%d L%d B%d T%d, %d thread%s, %s input, V=%d, %zu parameters%s%s\n",
               recur_cell_name(info.cell), hidden, layers, batch, seq, threads, threads == 1 ? "" : "s",
               embed ? "embedded" : "one-hot", info.vocab_size, info.params, bf16_ran ? ", bf16 training" : "",
               recompute && info.cell != RECUR_CELL_RNN ? ", gates recomputed" : "");
        printf("  train   %12.0f chars/s  (%lld steps in %.2f s after %lld warm-up; %.2f CPU s)\n",
               train_rate, clk.steps, train_s, clk.warm_steps, clk.c_end - clk.c_start);
        printf("  sample  %12.0f chars/s  (batch 1, %lld chars, %d thread%s, %.2f MB of weights per char)\n",
               sample_rate, sr.chars, sr.threads, sr.threads == 1 ? "" : "s", sample_bytes(&info, 4) * 1e-6);
        if (sample_bf16)
            printf("  bf16    %12.0f chars/s  (batch 1, %lld chars, %.2f MB per char)\n", bf16_rate, sb.chars,
                   sample_bytes(&info, 2) * 1e-6);
        if (sample_int8)
            printf("  int8    %12.0f chars/s  (batch 1, %lld chars, %.2f MB per char)\n", int8_rate, si.chars,
                   sample_bytes(&info, 1) * 1e-6);
        printf("  peak RSS %11.1f MiB\n", rss);
        printf("  GEMM    %12.2f GFLOP/s  (recurrent + input products, %.3g MFLOP per char)\n", gflops,
               flops * 1e-6);
    }
    status = 0;
done:
    if (status) fail("bench", &err);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
    recur_text_close(&text);
    return status;
}
