/*
 * cmd_train.c - `recur train FILE --out CKPT`: build a vocabulary and a
 * model (or take both from --resume), train, and show progress: a live line
 * on a terminal, plain periodic lines otherwise, JSON lines with --log.
 * Ctrl-C (or SIGTERM) stops after the current step and saves a resumable
 * state; a second Ctrl-C exits at once (every file is written atomically,
 * so nothing on disk is ever half-written).
 */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    if (stop_requested) _exit(130); // second signal: leave now; files are atomic
    stop_requested = sig;
}

typedef struct progress {
    int tty, quiet;
    long long print_every;
    FILE *log;
    int pending;               /* a step record waiting for a possible val loss */
    recur_train_event last;
    double val;                /* last validation loss */
    const char *best_path;
} progress;

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

static void log_record(progress *p, const recur_train_event *e, double val)
{
    if (!p->log) return;
    fprintf(p->log, "{\"step\":%lld,\"epoch\":%.4f,\"train_loss\":%.6f,", e->step, e->epoch, e->train_loss);
    if (isnan(val))
        fprintf(p->log, "\"val_loss\":null,");
    else
        fprintf(p->log, "\"val_loss\":%.6f,", val);
    fprintf(p->log, "\"lr\":%.6g,\"grad_norm\":%.6g,\"chars_per_s\":%.1f,\"elapsed_s\":%.3f}\n", e->lr,
            e->grad_norm, e->chars_per_s, e->elapsed_s);
    fflush(p->log);
}

static void flush_pending(progress *p)
{
    if (p->pending) log_record(p, &p->last, NAN);
    p->pending = 0;
}

static void status_line(progress *p, const recur_train_event *e, int newline)
{
    char eta[16], val[32] = "";
    double left = e->chars_per_s > 0 ? (double)(e->total_steps - e->step) * (e->elapsed_s / (double)(e->step ? e->step : 1)) : -1;
    fmt_time(eta, sizeof eta, left);
    if (!isnan(p->val)) snprintf(val, sizeof val, " | val %.4f", p->val);
    fprintf(stderr, "%sstep %lld/%lld | loss %.4f%s | %.1fk char/s | ETA %s%s", p->tty ? "\r\033[K" : "",
            e->step, e->total_steps, e->train_loss, val, e->chars_per_s / 1000, eta,
            newline ? "\n" : "");
    fflush(stderr);
}

static int on_event(const recur_train_event *e, void *user)
{
    progress *p = user;
    switch (e->kind) {
    case RECUR_EV_START:
        if (!p->quiet)
            fprintf(stderr, "training %lld steps (%lld training characters, %lld validation)\n",
                    e->total_steps, e->train_chars, e->val_chars);
        break;
    case RECUR_EV_STEP:
        flush_pending(p);
        p->pending = 1;
        p->last = *e;
        if (p->quiet) break;
        if (p->tty)
            status_line(p, e, 0);
        else if (e->step % p->print_every == 0 || e->step == e->total_steps)
            status_line(p, e, 1);
        break;
    case RECUR_EV_EVAL:
        p->val = e->val_loss;
        if (p->pending) log_record(p, &p->last, e->val_loss);
        p->pending = 0;
        if (!p->quiet)
            fprintf(stderr, "%sstep %lld/%lld | val loss %.4f nats/char (%.4f bits/char)%s\n",
                    p->tty ? "\r\033[K" : "", e->step, e->total_steps, e->val_loss,
                    e->val_loss / log(2.0), e->val_loss <= e->best_val ? " best" : "");
        break;
    case RECUR_EV_SAMPLE:
        if (!p->quiet)
            fprintf(stderr, "%s---- sample at step %lld ----\n%s\n----\n", p->tty ? "\r\033[K" : "",
                    e->step, e->text);
        break;
    case RECUR_EV_SAVE:
        break;
    case RECUR_EV_SKIP:
        fprintf(stderr, "%sstep %lld: loss or gradient is not finite; step skipped, learning rate halved to %g\n",
                p->tty ? "\r\033[K" : "", e->step + 1, e->lr);
        break;
    }
    return stop_requested != 0;
}

// "model.safetensors" -> "model.last.safetensors"; other names get ".last".
static char *last_name(const char *out)
{
    size_t n = strlen(out);
    char *s = malloc(n + 8);
    if (!s) return NULL;
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (n > el && strcmp(out + n - el, ext) == 0)
        snprintf(s, n + 8, "%.*s.last%s", (int)(n - el), out, ext);
    else
        snprintf(s, n + 8, "%s.last", out);
    return s;
}

// An output file must be creatable: its directory exists and is writable.
static int check_output(const char *path, recur_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err->msg, sizeof err->msg, "cannot write %s: it is a directory", path);
        return 1;
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (stat(dir, &st) != 0) {
        snprintf(err->msg, sizeof err->msg, "cannot write %.200s: directory %.200s does not exist", path, dir);
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err->msg, sizeof err->msg, "cannot write %.200s: %.200s is not a directory", path, dir);
        return 1;
    }
    // The proof is creating the very temporary file the first save will
    // create (root passes access() where it cannot write, e.g. in /proc):
    // an unwritable output must fail now, not after hours of training.
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) // stale, from a killed process with our PID
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err->msg, sizeof err->msg, "cannot write %.200s: %s", path, strerror(errno));
        return 1;
    }
    close(fd);
    unlink(tmp);
    return 0;
}

// Removes PATH.tmp.PID files that a recur killed while writing PATH (kill -9,
// a crash, a power cut) left behind: those whose PID is no running process,
// or is ours (a killed process had it before us; we have written nothing
// yet). A PID that is alive is left alone: it may be writing right now.
static void sweep_stale_tmp(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096], full[8192];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name, *digits = n + bl + 5;
        if (strncmp(n, base, bl) != 0 || strncmp(n + bl, ".tmp.", 5) != 0) continue;
        if (*digits < '0' || *digits > '9') continue;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (*end || errno || pid <= 0 || (pid_t)pid != pid) continue;
        if (pid != (long)getpid() && !(kill((pid_t)pid, 0) != 0 && errno == ESRCH)) continue;
        snprintf(full, sizeof full, "%s/%s", dir, n);
        unlink(full);
    }
    closedir(d);
}

static const char train_usage[] =
    "usage: recur train FILE [options]\n\n"
    "Trains a character-level language model on FILE (UTF-8 text; --bytes for any file) by\n"
    "truncated backpropagation through time: B parallel streams over the text, windows of T\n"
    "characters, the hidden state carried from one window to the next. The best model on the\n"
    "validation text is saved to --out; the latest resumable state (weights, optimizer, data\n"
    "position, RNG) to --last, from which --resume continues the run exactly.\n"
    "With --by-class, DATA is a directory of <Label>.txt files and the model generates text\n"
    "for a given class ('recur train --by-class --help').";

int cmd_train(int argc, char **argv)
{
    // A directory of classes (or labelled lines) trains a generator by class.
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--by-class") == 0) return cmd_train_by_class(argc, argv);

    const char *out = "model.safetensors", *last = NULL, *cell = "rnn", *nonlin = "tanh";
    const char *optim = "adam", *clip_mode = "norm", *val_path = NULL, *resume = NULL, *log_path = NULL;
    int bytes = 0, quiet = 0;
    long long print_every = 0;
    recur_model_config mc;
    recur_model_config_default(&mc);
    recur_train_config tc;
    recur_train_config_default(&tc);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    tc.threads = cpus < 1 ? 1 : (cpus > 8 ? 8 : (int)cpus);
    opt o[] = {
        {"out", OPT_STR, &out, 0, 0, "CKPT", "where to save the best-validation model", 0},
        {"last", OPT_STR, &last, 0, 0, "CKPT", "where to save the resumable state (default: OUT with .last)", 0},
        {"resume", OPT_STR, &resume, 0, 0, "CKPT", "continue exactly from a state written to --last", 0},
        {"cell", OPT_STR, &cell, 0, 0, "NAME", "rnn, lstm or gru", 0},
        {"nonlinearity", OPT_STR, &nonlin, 0, 0, "F", "tanh or relu (rnn only)", 0},
        {"hidden", OPT_INT, &mc.hidden, 1, 65536, "H", "units per layer", 0},
        {"layers", OPT_INT, &mc.layers, 1, 64, "L", "stacked recurrent layers", 0},
        {"embed", OPT_INT, &mc.embed, 0, 65536, "E", "learned embedding size; 0 = one-hot input", 0},
        {"dropout", OPT_FLOAT, &mc.dropout, 0, 0.99, "P", "dropout between layers while training", 0},
        {"seq", OPT_INT, &tc.seq, 1, 100000, "T", "characters per BPTT window", 0},
        {"batch", OPT_INT, &tc.batch, 1, 100000, "B", "parallel streams over the text", 0},
        {"optim", OPT_STR, &optim, 0, 0, "NAME", "adam, adagrad, rmsprop or sgd", 0},
        {"lr", OPT_FLOAT, &tc.lr, 1e-12, 1e6, "X", "learning rate", 0},
        {"lr-decay", OPT_FLOAT, &tc.lr_decay, 1e-6, 1, "X", "multiply the learning rate by X ...", 0},
        {"lr-decay-every", OPT_INT, &tc.lr_decay_every, 0, 1e9, "N", "... every N steps (0: never)", 0},
        {"momentum", OPT_FLOAT, &tc.momentum, 0, 0.9999, "X", "momentum for sgd", 0},
        {"clip", OPT_FLOAT, &tc.clip, 0, 1e9, "X", "gradient clipping threshold (0: off)", 0},
        {"clip-mode", OPT_STR, &clip_mode, 0, 0, "M", "norm (global L2 norm) or value (each element)", 0},
        {"steps", OPT_LL, &tc.steps, 0, 1e15, "N", "total optimizer steps (0: use --epochs)", 0},
        {"epochs", OPT_DOUBLE, &tc.epochs, 1e-9, 1e9, "X", "passes over the training text when --steps is 0", 0},
        {"val", OPT_STR, &val_path, 0, 0, "FILE", "validation text (default: the end of FILE)", 0},
        {"val-frac", OPT_DOUBLE, &tc.val_frac, 0, 0.9, "X", "fraction of FILE held out for validation, from its end", 0},
        {"eval-every", OPT_INT, &tc.eval_every, 0, 1e9, "N", "steps between validation passes (0: at the end)", 0},
        {"val-max-chars", OPT_LL, &tc.val_max_chars, 0, 1e15, "N", "cap on characters per validation pass (0: all)", 0},
        {"sample-every", OPT_INT, &tc.sample_every, 0, 1e9, "N", "steps between progress samples (0: none)", 0},
        {"sample-len", OPT_INT, &tc.sample_len, 1, 100000, "N", "characters per progress sample", 0},
        {"save-every", OPT_LL, &tc.save_every, 0, 1e15, "N", "steps between saves of the resumable state", 0},
        {"seed", OPT_U64, &tc.seed, 0, 0, "S", "random seed (same seed and threads: same run)", 0},
        {"threads", OPT_INT, &tc.threads, 1, 256, "N", "worker threads (default here: the CPUs, at most 8)", 0},
        {"bytes", OPT_FLAG, &bytes, 0, 0, 0, "a byte vocabulary instead of UTF-8 code points", 0},
        {"log", OPT_STR, &log_path, 0, 0, "FILE", "write JSON lines (step, losses, lr, grad norm, chars/s)", 0},
        {"print-every", OPT_LL, &print_every, 0, 1e15, "N", "steps between progress lines when not a terminal (0: auto)", 0},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 0, "no progress output", 0},
    };
    const int no = (int)(sizeof o / sizeof o[0]);
    const char *pos[1];
    int npos, rc = args_parse("train", train_usage, argc, argv, 2, o, no, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("train", "expected one training text FILE");
    int ci = recur_cell_parse(cell);
    if (ci < 0) return usage_error("train", "invalid value for --cell: '%s' (expected rnn, lstm or gru)", cell);
    mc.cell = (recur_cell)ci;
    if (strcmp(nonlin, "tanh") && strcmp(nonlin, "relu"))
        return usage_error("train", "invalid value for --nonlinearity: '%s' (expected tanh or relu)", nonlin);
    mc.relu = strcmp(nonlin, "relu") == 0;
    if (mc.relu && mc.cell != RECUR_CELL_RNN)
        return usage_error("train", "--nonlinearity relu is only for --cell rnn");
    int oi = -1;
    if (!strcmp(optim, "adam")) oi = RECUR_ADAM;
    else if (!strcmp(optim, "adagrad")) oi = RECUR_ADAGRAD;
    else if (!strcmp(optim, "rmsprop")) oi = RECUR_RMSPROP;
    else if (!strcmp(optim, "sgd")) oi = RECUR_SGD;
    if (oi < 0) return usage_error("train", "invalid value for --optim: '%s' (expected adam, adagrad, rmsprop or sgd)", optim);
    tc.optim = (recur_optim)oi;
    if (strcmp(clip_mode, "norm") && strcmp(clip_mode, "value"))
        return usage_error("train", "invalid value for --clip-mode: '%s' (expected norm or value)", clip_mode);
    tc.clip_mode = strcmp(clip_mode, "value") == 0 ? RECUR_CLIP_VALUE : RECUR_CLIP_NORM;
    if (args_find(o, no, "steps")->seen && args_find(o, no, "epochs")->seen)
        return usage_error("train", "give --steps or --epochs, not both");
    if (val_path && args_find(o, no, "val-frac")->seen)
        return usage_error("train", "give --val or --val-frac, not both");
    if (val_path) tc.val_frac = 0;

    recur_error err = {0};
    char *last_owned = NULL;
    if (!last) last = last_owned = last_name(out);
    if (!last) return fail("train", &(recur_error){RECUR_ENOMEM, "out of memory"});
    if (check_output(out, &err) || check_output(last, &err)) {
        free(last_owned);
        return fail("train", &err);
    }
    sweep_stale_tmp(out);
    sweep_stale_tmp(last);

    recur_text text = {0}, val = {0};
    recur_model *m = NULL;
    recur_vocab *vocab = NULL;
    recur_trainer *t = NULL;
    progress p = {0};
    int status = 1;
    if ((rc = recur_text_open(pos[0], &text, &err))) goto done;
    if (val_path && (rc = recur_text_open(val_path, &val, &err))) goto done;

    if (resume) {
        if ((rc = recur_model_load(resume, &m, &err))) goto done;
        recur_model_info info;
        recur_model_get_info(m, &info);
        // Flags that fix the architecture must agree with the checkpoint.
        const char *clash = NULL;
        if (args_find(o, no, "cell")->seen && info.cell != mc.cell) clash = "--cell";
        else if (args_find(o, no, "hidden")->seen && info.hidden != mc.hidden) clash = "--hidden";
        else if (args_find(o, no, "layers")->seen && info.layers != mc.layers) clash = "--layers";
        else if (args_find(o, no, "embed")->seen && info.embed != mc.embed) clash = "--embed";
        else if (args_find(o, no, "bytes")->seen && !recur_vocab_is_bytes(recur_model_vocab(m))) clash = "--bytes";
        if (clash) {
            snprintf(err.msg, sizeof err.msg, "%s does not match %s, a %s with hidden %d and %d layers",
                     clash, resume, recur_cell_name(info.cell), info.hidden, info.layers);
            goto done;
        }
    } else {
        // The vocabulary covers the training and the validation text.
        if ((rc = recur_vocab_from_text(text.data, text.len, bytes, &vocab, &err))) {
            recur_error_prefix(&err, pos[0]);
            goto done;
        }
        if (val.data) {
            // The union of the two vocabularies, built from their characters
            // written out once each: copying both texts into one buffer would
            // hold the whole corpus in memory.
            recur_vocab *vv = NULL;
            if ((rc = recur_vocab_from_text(val.data, val.len, bytes, &vv, &err))) {
                recur_error_prefix(&err, val_path);
                goto done;
            }
            int na = recur_vocab_size(vocab), nb = recur_vocab_size(vv);
            char *chars = malloc(4 * ((size_t)na + (size_t)nb));
            if (!chars) {
                recur_vocab_free(vv);
                snprintf(err.msg, sizeof err.msg, "out of memory");
                goto done;
            }
            size_t n = 0;
            for (int i = 0; i < na; i++) n += (size_t)recur_vocab_char_utf8(vocab, i, chars + n);
            for (int i = 0; i < nb; i++) n += (size_t)recur_vocab_char_utf8(vv, i, chars + n);
            recur_vocab_free(vv);
            vv = NULL;
            rc = recur_vocab_from_text(chars, n, bytes, &vv, &err);
            free(chars);
            if (rc) goto done;
            recur_vocab_free(vocab);
            vocab = vv;
        }
        if ((rc = recur_model_new(&mc, vocab, tc.seed, &m, &err))) goto done;
    }
    if ((rc = recur_trainer_new(m, &tc, text.data, text.len, val.data, val.len, &t, &err))) {
        if (rc == RECUR_EVOCAB && resume) {
            // The text has a character the resumed model was not trained on.
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s%s%.300s of %.150s", val_path ? "" : pos[0], val_path ? "" : ": ",
                     err.msg, resume);
            memcpy(err.msg, msg, sizeof msg);
        }
        goto done;
    }
    if ((rc = recur_trainer_set_outputs(t, out, last, &err))) goto done;
    if (resume && (rc = recur_trainer_resume(t, resume, &err))) goto done;

    recur_model_info info;
    recur_model_get_info(m, &info);
    p.tty = isatty(2);
    p.quiet = quiet;
    p.val = NAN;
    long long total = recur_trainer_total_steps(t);
    p.print_every = print_every > 0 ? print_every : (total >= 50 ? total / 50 : 1);
    if (log_path && !(p.log = fopen(log_path, resume ? "a" : "w"))) {
        snprintf(err.msg, sizeof err.msg, "cannot write %s: %s", log_path, strerror(errno));
        goto done;
    }
    if (!quiet) {
        fprintf(stderr, "recur train: %s, %s, hidden %d, layers %d, %s, vocabulary %d, %zu parameters\n",
                pos[0], recur_cell_name(info.cell), info.hidden, info.layers,
                info.embed ? "embedding" : "one-hot input", info.vocab_size, info.params);
        fprintf(stderr, "  seq %d, batch %d, %s lr %g, clip %g (%s), dropout %g, seed %llu, threads %d%s\n",
                tc.seq, tc.batch, optim, (double)tc.lr, (double)tc.clip, clip_mode, (double)mc.dropout,
                (unsigned long long)tc.seed, tc.threads, resume ? ", resumed" : "");
        if (resume) fprintf(stderr, "  resuming at step %lld\n", recur_trainer_step(t));
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    rc = recur_trainer_run(t, on_event, &p, &err);
    flush_pending(&p);
    if (p.tty && !quiet) fprintf(stderr, "\n");
    if (rc == RECUR_EINTERRUPT) {
        fprintf(stderr, "recur train: interrupted at step %lld of %lld; state saved to %s\n"
                        "  resume with: recur train %s [same options] --resume %s --out %s\n",
                        recur_trainer_step(t), total, last, pos[0], last, out);
        status = 130;
        goto done;
    }
    if (rc) goto done;
    recur_model_get_info(m, &info);
    if (!quiet) {
        if (!isnan(info.best_val))
            fprintf(stderr, "done: %lld steps; best validation loss %.4f nats/char (%.4f bits/char); model saved to %s; state to %s\n",
                    info.steps, info.best_val, info.best_val / log(2.0), out, last);
        else if (val_path || tc.val_frac > 0)
            fprintf(stderr, "done: %lld steps; no validation loss was finite, so no model was saved to %s; state saved to %s\n",
                    info.steps, out, last);
        else
            fprintf(stderr, "done: %lld steps; model saved to %s; state to %s\n", info.steps, out, last);
    }
    status = 0;
done:
    if (status == 1 && (err.msg[0] || rc)) fail("train", &err);
    if (p.log) fclose(p.log);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(vocab);
    recur_text_close(&text);
    recur_text_close(&val);
    free(last_owned);
    return status;
}
