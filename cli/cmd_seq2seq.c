/*
 * cmd_seq2seq.c - `recur seq2seq train|predict|eval|generate`: an
 * encoder-decoder over source<TAB>target lines, trained with progress lines
 * like recur train's (loss, validation loss, validation exact match, ETA);
 * translation of stdin line by line; exact match on a held-out file; and
 * the generated tasks (reversal, addition) to try it on. Uses only recur.h.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (stop_requested) _exit(130); // second signal: leave now; files are atomic
    stop_requested = sig;
}

static void fmt_time(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, n, "?");
    else if (s < 60)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static int parse_optim(const char *s)
{
    static const char *const names[] = {"adam", "adagrad", "rmsprop", "sgd"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

/* ---------------------------------------------------------------- train */

typedef struct progress {
    int tty, quiet;
    long long print_every;
    double val, exact;
} progress;

static void status_line(const progress *p, const recur_seq2seq_event *e, int newline)
{
    char eta[16], val[64] = "";
    double left = e->step ? (double)(e->total_steps - e->step) * (e->elapsed_s / (double)e->step) : -1;
    fmt_time(eta, sizeof eta, left);
    if (!isnan(p->val)) snprintf(val, sizeof val, " | val %.4f, exact %.1f%%", p->val, 100 * p->exact);
    fprintf(stderr, "%sstep %lld/%lld | epoch %.2f | loss %.4f%s | %.0f pairs/s | ETA %s%s",
            p->tty ? "\r\033[K" : "", e->step, e->total_steps, e->epoch, e->train_loss, val,
            e->pairs_per_s, eta, newline ? "\n" : "");
    fflush(stderr);
}

static int on_event(const recur_seq2seq_event *e, void *user)
{
    progress *p = user;
    switch (e->kind) {
    case RECUR_EV_START:
        if (!p->quiet)
            fprintf(stderr, "training %lld steps (%lld training pairs, %lld validation)\n",
                    e->total_steps, e->train_pairs, e->val_pairs);
        break;
    case RECUR_EV_STEP:
        if (p->quiet) break;
        if (p->tty)
            status_line(p, e, 0);
        else if (e->step % p->print_every == 0 || e->step == e->total_steps)
            status_line(p, e, 1);
        break;
    case RECUR_EV_EVAL:
        p->val = e->val_loss;
        p->exact = e->val_exact;
        if (!p->quiet)
            fprintf(stderr, "%sstep %lld/%lld | val loss %.4f nats/char | val exact match %.2f%%%s\n",
                    p->tty ? "\r\033[K" : "", e->step, e->total_steps, e->val_loss,
                    100 * e->val_exact, e->val_exact >= e->best_exact ? " best" : "");
        break;
    case RECUR_EV_SKIP:
        fprintf(stderr, "%sstep %lld: loss or gradient is not finite; step skipped, learning rate halved to %g\n",
                p->tty ? "\r\033[K" : "", e->step + 1, e->lr);
        break;
    default:
        break;
    }
    return stop_requested != 0;
}

static const char train_usage[] =
    "usage: recur seq2seq train FILE --out CKPT [options]\n\n"
    "Trains an encoder-decoder on FILE, one source<TAB>target pair per line (UTF-8). The\n"
    "encoder RNN reads the source; its final state starts the decoder RNN, trained with\n"
    "teacher forcing to write the target. --attention lets every decoder step read a\n"
    "weighted sum of the encoder's outputs (Luong general attention). A seeded shuffle holds\n"
    "out --val-frac of the pairs (minus any whose source also occurs in training); the model\n"
    "with the best validation exact match (greedy decoding) is saved to --out.";

static int seq2seq_train(int argc, char **argv)
{
    const char *out = NULL, *cell = "lstm", *optim = "adam", *clip_mode = "norm", *val_path = NULL;
    int quiet = 0;
    long long print_every = 0;
    recur_seq2seq_config mc;
    recur_seq2seq_config_default(&mc);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.batch = 32;
    tc.lr = 5e-3f;
    tc.lr_decay = 0.5f;
    tc.epochs = 10;
    tc.val_frac = 0.1;
    tc.eval_every = 0;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    tc.threads = cpus < 1 ? 1 : (cpus > 8 ? 8 : (int)cpus);
    opt o[] = {
        {"out", OPT_STR, &out, 0, 0, "CKPT", "where to save the best model (required)", 0},
        {"attention", OPT_FLAG, &mc.attention, 0, 0, 0, "Luong general attention over the encoder's outputs", 0},
        {"cell", OPT_STR, &cell, 0, 0, "NAME", "rnn, lstm or gru (encoder and decoder)", 0},
        {"hidden", OPT_INT, &mc.hidden, 1, 65536, "H", "units per layer (encoder and decoder)", 0},
        {"layers", OPT_INT, &mc.layers, 1, 64, "L", "stacked recurrent layers (encoder and decoder)", 0},
        {"embed", OPT_INT, &mc.embed, 0, 65536, "E", "learned embedding size; 0 = one-hot input", 0},
        {"dropout", OPT_FLOAT, &mc.dropout, 0, 0.99, "P", "dropout between layers while training", 0},
        {"batch", OPT_INT, &tc.batch, 1, 100000, "B", "pairs per step", 0},
        {"optim", OPT_STR, &optim, 0, 0, "NAME", "adam, adagrad, rmsprop or sgd", 0},
        {"lr", OPT_FLOAT, &tc.lr, 1e-12, 1e6, "X", "learning rate", 0},
        {"lr-decay", OPT_FLOAT, &tc.lr_decay, 1e-6, 1, "X", "multiply the learning rate by X ... (1: constant rate)", 0},
        {"lr-decay-every", OPT_INT, &tc.lr_decay_every, 0, 1e9, "N", "... every N steps (0: every quarter of the run)", 0},
        {"momentum", OPT_FLOAT, &tc.momentum, 0, 0.9999, "X", "momentum for sgd", 0},
        {"clip", OPT_FLOAT, &tc.clip, 0, 1e9, "X", "gradient clipping threshold (0: off)", 0},
        {"clip-mode", OPT_STR, &clip_mode, 0, 0, "M", "norm (global L2 norm over all parameters) or value", 0},
        {"steps", OPT_LL, &tc.steps, 0, 1e15, "N", "total optimizer steps (0: use --epochs)", 0},
        {"epochs", OPT_DOUBLE, &tc.epochs, 1e-9, 1e9, "X", "passes over the training pairs when --steps is 0", 0},
        {"val", OPT_STR, &val_path, 0, 0, "FILE", "validation pairs (default: --val-frac of FILE)", 0},
        {"val-frac", OPT_DOUBLE, &tc.val_frac, 0, 0.9, "X", "fraction of FILE's pairs held out for validation", 0},
        {"eval-every", OPT_INT, &tc.eval_every, 0, 1e9, "N", "steps between validation passes (0: about once per epoch)", 0},
        {"seed", OPT_U64, &tc.seed, 0, 0, "S", "random seed (initialisation, split, order, dropout)", 0},
        {"threads", OPT_INT, &tc.threads, 1, 256, "N", "worker threads (default here: the CPUs, at most 8)", 0},
        {"print-every", OPT_LL, &print_every, 0, 1e15, "N", "steps between progress lines when not a terminal (0: auto)", 0},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 0, "no progress output", 0},
    };
    const int no = (int)(sizeof o / sizeof o[0]);
    const char *pos[1];
    int npos, rc = args_parse("seq2seq train", train_usage, argc, argv, 3, o, no, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("seq2seq train", "expected one FILE of source<TAB>target lines");
    if (!out) return usage_error("seq2seq train", "--out CKPT is required");
    int ci = recur_cell_parse(cell);
    if (ci < 0) return usage_error("seq2seq train", "invalid value for --cell: '%s' (expected rnn, lstm or gru)", cell);
    mc.cell = (recur_cell)ci;
    int oi = parse_optim(optim);
    if (oi < 0) return usage_error("seq2seq train", "invalid value for --optim: '%s' (expected adam, adagrad, rmsprop or sgd)", optim);
    tc.optim = (recur_optim)oi;
    if (strcmp(clip_mode, "norm") && strcmp(clip_mode, "value"))
        return usage_error("seq2seq train", "invalid value for --clip-mode: '%s' (expected norm or value)", clip_mode);
    tc.clip_mode = strcmp(clip_mode, "value") == 0 ? RECUR_CLIP_VALUE : RECUR_CLIP_NORM;
    if (args_find(o, no, "steps")->seen && args_find(o, no, "epochs")->seen)
        return usage_error("seq2seq train", "give --steps or --epochs, not both");
    if (val_path && args_find(o, no, "val-frac")->seen)
        return usage_error("seq2seq train", "give --val or --val-frac, not both");
    if (val_path) tc.val_frac = 0;

    recur_error err = {0};
    recur_pairs pairs = {0}, val = {0};
    recur_seq2seq *m = NULL;
    recur_seq2seq_trainer *t = NULL;
    recur_pair *all = NULL;
    progress p = {0};
    int status = 1;
    if ((rc = recur_pairs_read(pos[0], &pairs, &err))) goto done;
    if (val_path && (rc = recur_pairs_read(val_path, &val, &err))) goto done;
    // The vocabularies cover the training and the validation pairs.
    if (!(all = malloc((pairs.n + val.n) * sizeof *all))) {
        snprintf(err.msg, sizeof err.msg, "out of memory");
        goto done;
    }
    memcpy(all, pairs.pairs, pairs.n * sizeof *all);
    if (val.n) memcpy(all + pairs.n, val.pairs, val.n * sizeof *all);
    if ((rc = recur_seq2seq_new(&mc, all, pairs.n + val.n, tc.seed, &m, &err))) {
        recur_error_prefix(&err, pos[0]);
        goto done;
    }
    {
        // Steps per epoch: the pairs left for training (as the trainer splits
        // them) over the batch; validation about once per epoch, and by
        // default the learning rate halves every quarter of the run.
        double k = val.n ? 0 : floor(tc.val_frac * (double)pairs.n + 0.5);
        if (tc.val_frac > 0 && k < 1) k = 1;
        if (k > (double)pairs.n - 1) k = (double)pairs.n - 1;
        double per_epoch = ceil(((double)pairs.n - (k > 0 ? k : 0)) / tc.batch);
        double total = tc.steps > 0 ? (double)tc.steps : ceil(tc.epochs * per_epoch);
        if (tc.eval_every == 0) tc.eval_every = per_epoch < 1 ? 1 : (per_epoch > 1e9 ? 1000000000 : (int)per_epoch);
        if (tc.lr_decay_every == 0 && tc.lr_decay < 1) {
            double q = ceil(total / 4);
            tc.lr_decay_every = q < 1 ? 1 : (q > 1e9 ? 1000000000 : (int)q);
        }
    }
    if ((rc = recur_seq2seq_trainer_new(m, &tc, pairs.pairs, pairs.n, val.pairs, val.n, &t, &err))) {
        recur_error_prefix(&err, pos[0]);
        goto done;
    }
    if ((rc = recur_seq2seq_trainer_set_output(t, out, &err))) goto done;
    recur_seq2seq_info info;
    recur_seq2seq_get_info(m, &info);
    long long total = recur_seq2seq_trainer_total_steps(t);
    p.tty = isatty(2);
    p.quiet = quiet;
    p.val = p.exact = NAN;
    p.print_every = print_every > 0 ? print_every : (total >= 50 ? total / 50 : 1);
    if (!quiet) {
        fprintf(stderr, "recur seq2seq train: %s, %s, hidden %d, layers %d, %s, attention %s, vocabularies %d -> %d, %zu parameters\n",
                pos[0], recur_cell_name(mc.cell), mc.hidden, mc.layers,
                mc.embed ? "embedding" : "one-hot input", mc.attention ? "on" : "off", info.src_vocab,
                info.tgt_vocab, info.params);
        fprintf(stderr, "  batch %d, %s lr %g (x%g every %d steps), clip %g (%s), dropout %g, seed %llu, threads %d\n",
                tc.batch, optim, (double)tc.lr, (double)tc.lr_decay, tc.lr_decay_every, (double)tc.clip,
                clip_mode, (double)mc.dropout, (unsigned long long)tc.seed, tc.threads);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = recur_seq2seq_trainer_run(t, on_event, &p, &err);
    if (p.tty && !quiet) fprintf(stderr, "\n");
    if (rc == RECUR_EINTERRUPT) {
        fprintf(stderr, "recur seq2seq train: interrupted; the best model so far is in %s\n", out);
        status = 130;
        goto done;
    }
    if (rc) goto done;
    recur_seq2seq_get_info(m, &info);
    if (!quiet) {
        if (!isnan(info.best_exact))
            fprintf(stderr, "done: %lld steps; best validation exact match %.2f%% (loss %.4f nats/char); model saved to %s\n",
                    info.steps, 100 * info.best_exact, info.best_val, out);
        else
            fprintf(stderr, "done: %lld steps; no validation pairs; model saved to %s\n", info.steps, out);
    }
    status = 0;
done:
    if (status == 1) fail("seq2seq train", &err);
    recur_seq2seq_trainer_free(t);
    recur_seq2seq_free(m);
    recur_pairs_free(&pairs);
    recur_pairs_free(&val);
    free(all);
    return status;
}

/* ---------------------------------------------------------------- predict */

static const char predict_usage[] =
    "usage: recur seq2seq predict CKPT [options] < SOURCES\n\n"
    "Reads one source per line on stdin (UTF-8; a trailing \\r is dropped) and prints the\n"
    "model's target for each, one per line. Greedy by default; --beam K keeps the K best\n"
    "partial targets, ranked at the end by log P / len^alpha (--length-alpha; len counts the\n"
    "end marker; 0 = raw log-probability, which favours short outputs).";

static int seq2seq_predict(int argc, char **argv)
{
    recur_seq2seq_decode dc;
    recur_seq2seq_decode_default(&dc);
    opt o[] = {
        {"beam", OPT_INT, &dc.beam, 1, 1000, "K", "beam width (1: greedy)", 0},
        {"length-alpha", OPT_FLOAT, &dc.length_alpha, 0, 10, "A", "beam: rank finished targets by log P / len^A", 0},
        {"max-len", OPT_INT, &dc.max_len, 0, 1000000, "N", "longest output in characters (0: 2 x source + 10)", 0},
    };
    const char *pos[1];
    int npos, rc = args_parse("seq2seq predict", predict_usage, argc, argv, 3, o,
                              (int)(sizeof o / sizeof o[0]), pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("seq2seq predict", "expected one checkpoint CKPT");
    recur_error err = {0};
    recur_seq2seq *m = NULL;
    if ((rc = recur_seq2seq_load(pos[0], &m, &err))) return fail("seq2seq predict", &err);
    char *line = NULL, *outbuf = NULL;
    size_t lcap = 0, ocap = 0;
    ssize_t n;
    long long lineno = 0;
    int status = 0;
    while ((n = getline(&line, &lcap, stdin)) >= 0) {
        lineno++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--;
        size_t need;
        for (;;) {
            rc = recur_seq2seq_predict(m, line, len, &dc, outbuf, ocap, &need, &err);
            if (rc != RECUR_EINVAL || need + 1 <= ocap) break;
            char *nb = realloc(outbuf, need + 1); // the buffer grows to the longest output once
            if (!nb) {
                snprintf(err.msg, sizeof err.msg, "out of memory");
                break;
            }
            outbuf = nb;
            ocap = need + 1;
        }
        if (rc) {
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "line %lld: %.480s", lineno, err.msg);
            memcpy(err.msg, msg, sizeof msg);
            status = fail("seq2seq predict", &err);
            break;
        }
        fwrite(outbuf, 1, need, stdout);
        fputc('\n', stdout);
    }
    if (!status && ferror(stdin)) {
        snprintf(err.msg, sizeof err.msg, "reading stdin: %s", strerror(errno));
        status = fail("seq2seq predict", &err);
    }
    if (fflush(stdout) != 0 && !status) {
        snprintf(err.msg, sizeof err.msg, "writing stdout: %s", strerror(errno));
        status = fail("seq2seq predict", &err);
    }
    free(line);
    free(outbuf);
    recur_seq2seq_free(m);
    return status;
}

/* ---------------------------------------------------------------- eval */

static const char eval_usage[] =
    "usage: recur seq2seq eval CKPT FILE [options]\n\n"
    "Decodes the source of every source<TAB>target line of FILE and reports the exact-match\n"
    "accuracy (the whole target right), the per-character accuracy and the teacher-forced\n"
    "loss in nats per target character.";

static int seq2seq_eval(int argc, char **argv)
{
    recur_seq2seq_decode dc;
    recur_seq2seq_decode_default(&dc);
    int json = 0, threads = 1;
    opt o[] = {
        {"beam", OPT_INT, &dc.beam, 1, 1000, "K", "beam width (1: greedy)", 0},
        {"length-alpha", OPT_FLOAT, &dc.length_alpha, 0, 10, "A", "beam: rank finished targets by log P / len^A", 0},
        {"max-len", OPT_INT, &dc.max_len, 0, 1000000, "N", "longest output in characters (0: 2 x source + 10)", 0},
        {"threads", OPT_INT, &threads, 1, 256, "N", "worker threads", 0},
        {"json", OPT_FLAG, &json, 0, 0, 0, "print one JSON object", 0},
    };
    const char *pos[2];
    int npos, rc = args_parse("seq2seq eval", eval_usage, argc, argv, 3, o,
                              (int)(sizeof o / sizeof o[0]), pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 2) return usage_error("seq2seq eval", "expected a checkpoint CKPT and a FILE of pairs");
    recur_error err = {0};
    recur_seq2seq *m = NULL;
    recur_pairs pairs = {0};
    recur_seq2seq_eval_result r;
    int status = 1;
    if ((rc = recur_seq2seq_load(pos[0], &m, &err)) || (rc = recur_pairs_read(pos[1], &pairs, &err)))
        goto done;
    if ((rc = recur_seq2seq_eval(m, pairs.pairs, pairs.n, &dc, threads, &r, &err))) {
        recur_error_prefix(&err, pos[1]);
        goto done;
    }
    if (json)
        printf("{\"pairs\":%zu,\"exact\":%zu,\"exact_match\":%.6f,\"char_accuracy\":%.6f,\"loss\":%.6f,\"beam\":%d}\n",
               r.pairs, r.exact, r.exact_frac, r.char_acc, r.loss, dc.beam);
    else
        printf("%s: %zu pairs, exact match %.2f%% (%zu), character accuracy %.2f%%, loss %.4f nats/char (%s)\n",
               pos[1], r.pairs, 100 * r.exact_frac, r.exact, 100 * r.char_acc, r.loss,
               dc.beam > 1 ? "beam" : "greedy");
    status = 0;
done:
    if (status) fail("seq2seq eval", &err);
    recur_pairs_free(&pairs);
    recur_seq2seq_free(m);
    return status;
}

/* ---------------------------------------------------------------- generate */

static const char gen_usage[] =
    "usage: recur seq2seq generate TASK [options] > PAIRS\n\n"
    "Prints generated source<TAB>target pairs of a task with one right answer:\n"
    "  reverse  a string of --min..--max characters of --alphabet -> the string reversed\n"
    "  add      two numbers of --min..--max digits, \"a+b\" -> their sum in decimal\n"
    "The same --seed gives the same pairs.";

static int seq2seq_generate(int argc, char **argv)
{
    long long n = 1000;
    uint64_t seed = 1;
    int lo = 3, hi = 8;
    const char *alphabet = "abcdefgh";
    opt o[] = {
        {"n", OPT_LL, &n, 0, 1e9, "N", "pairs to generate", 0},
        {"seed", OPT_U64, &seed, 0, 0, "S", "random seed", 0},
        {"min", OPT_INT, &lo, 1, 1000, "A", "shortest string / fewest digits", 0},
        {"max", OPT_INT, &hi, 1, 1000, "B", "longest string / most digits", 0},
        {"alphabet", OPT_STR, &alphabet, 0, 0, "CHARS", "reverse: the characters to draw from", 0},
    };
    const char *pos[1];
    int npos, rc = args_parse("seq2seq generate", gen_usage, argc, argv, 3, o,
                              (int)(sizeof o / sizeof o[0]), pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("seq2seq generate", "expected a TASK: reverse or add");
    if (strcmp(pos[0], "reverse") && strcmp(pos[0], "add"))
        return usage_error("seq2seq generate", "unknown task '%s' (expected reverse or add)", pos[0]);
    if (lo > hi) return usage_error("seq2seq generate", "--min %d is above --max %d", lo, hi);
    recur_error err = {0};
    recur_pairs p;
    if ((rc = recur_pairs_generate(pos[0], alphabet, lo, hi, (size_t)n, seed, &p, &err)))
        return fail("seq2seq generate", &err);
    for (size_t i = 0; i < p.n; i++) {
        fwrite(p.pairs[i].src, 1, p.pairs[i].src_len, stdout);
        fputc('\t', stdout);
        fwrite(p.pairs[i].tgt, 1, p.pairs[i].tgt_len, stdout);
        fputc('\n', stdout);
    }
    recur_pairs_free(&p);
    if (fflush(stdout) != 0) {
        snprintf(err.msg, sizeof err.msg, "writing stdout: %s", strerror(errno));
        return fail("seq2seq generate", &err);
    }
    return 0;
}

/* ---------------------------------------------------------------- dispatch */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} subs[] = {
    {"train", seq2seq_train, "train an encoder-decoder on source<TAB>target lines"},
    {"predict", seq2seq_predict, "translate stdin, one source per line, to stdout"},
    {"eval", seq2seq_eval, "exact-match accuracy of a model on a file of pairs"},
    {"generate", seq2seq_generate, "print generated pairs (string reversal, addition)"},
};

int cmd_seq2seq(int argc, char **argv)
{
    const int nsubs = (int)(sizeof subs / sizeof subs[0]);
    const char *sub = argc > 2 ? argv[2] : NULL;
    if (!sub) return usage_error("seq2seq", "expected a command: train, predict, eval or generate");
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        FILE *f = stdout;
        fprintf(f, "usage: recur seq2seq COMMAND [options]\n\n"
                   "Sequence-to-sequence: an encoder RNN reads a source string, a decoder RNN writes\n"
                   "the target (docs/applications.md).\n\ncommands:\n");
        for (int i = 0; i < nsubs; i++) fprintf(f, "  %-9s %s\n", subs[i].name, subs[i].summary);
        fprintf(f, "\n'recur seq2seq COMMAND --help' lists its options with their defaults.\n"
                   "Example:\n"
                   "  recur seq2seq generate reverse --n 20000 > rev.tsv\n"
                   "  recur seq2seq train rev.tsv --attention --out rev.safetensors\n"
                   "  echo abcdef | recur seq2seq predict rev.safetensors\n");
        return 0;
    }
    for (int i = 0; i < nsubs; i++)
        if (strcmp(subs[i].name, sub) == 0) return subs[i].run(argc, argv);
    return usage_error("seq2seq", "unknown command '%s' (expected train, predict, eval or generate)", sub);
}
