/*
 * train_cli.c - the flags, checks and run loop every `train` command shares
 * (train_cli.h). Ctrl-C (or SIGTERM) stops after the current step and saves
 * a resumable state; a second Ctrl-C exits at once (every file is written
 * atomically, so nothing on disk is ever half-written).
 */
#include "train_cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* Set by the handler, read by the training callback: a lock-free atomic is
 * safe in a handler and visible to whichever thread runs the callback. */
static atomic_int stop_requested;

static void on_signal(int sig)
{
    if (atomic_load(&stop_requested)) _exit(130); // second signal: leave now; files are atomic
    atomic_store(&stop_requested, sig);
}

int train_cli_stop_requested(void)
{
    return atomic_load(&stop_requested) != 0;
}

/* ---------------------------------------------------------------- options */

void train_cli_add(train_cli *c, opt o)
{
    if (c->n < TRAIN_MAX_OPTS) c->o[c->n++] = o;
}

void train_cli_init(train_cli *c, const char *cmd, const char *out_default)
{
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    recur_train_config_default(&c->tc);
    recur_model_config_default(&c->mc);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    c->tc.threads = cpus < 1 ? 1 : (cpus > 8 ? 8 : (int)cpus);
    c->optim = "adam";
    c->clip_mode = "norm";
    c->schedule = "step";
    c->out = out_default;
}

void train_cli_shared_options(train_cli *c)
{
    recur_train_config *t = &c->tc;
    const char *out_default = c->out;
    train_cli_add(c, (opt){"out", OPT_STR, &c->out, 0, 0, "CKPT", out_default ? "where to save the best model on validation" : "where to save the best model on validation (required)", 0});
    train_cli_add(c, (opt){"last", OPT_STR, &c->last, 0, 0, "CKPT", "where to save the resumable state (default: OUT with .last)", 0});
    train_cli_add(c, (opt){"resume", OPT_STR, &c->resume, 0, 0, "CKPT", "continue exactly from a state written to --last (or from --out's model: its state beside it)", 0});
    train_cli_add(c, (opt){"save-every", OPT_LL, &t->save_every, 0, 1e15, "N", "steps between saves of the resumable state (0: only at the end)", 0});
    train_cli_add(c, (opt){"log", OPT_STR, &c->log_path, 0, 0, "FILE", "write JSON lines: step, epoch, train_loss, val_loss, the task's metric, lr, grad_norm, chars_per_s, elapsed_s", 0});
    train_cli_add(c, (opt){"steps", OPT_LL, &t->steps, 0, 1e15, "N", "total optimizer steps (0: use --epochs)", 0});
    train_cli_add(c, (opt){"epochs", OPT_DOUBLE, &t->epochs, 1e-9, 1e9, "X", "passes over the training data when --steps is 0", 0});
    train_cli_add(c, (opt){"eval-every", OPT_INT, &t->eval_every, 0, 1e9, "N", "steps between validation passes (0: after every epoch); always at the last step", 0});
    train_cli_add(c, (opt){"optim", OPT_STR, &c->optim, 0, 0, "NAME", "adam, adagrad, rmsprop or sgd", 0});
    train_cli_add(c, (opt){"lr", OPT_FLOAT, &t->lr, 1e-12, 1e6, "X", "learning rate", 0});
    train_cli_add(c, (opt){"schedule", OPT_STR, &c->schedule, 0, 0, "NAME", "learning-rate schedule: step (--lr-decay every --lr-decay-every steps), constant, cosine (toward --lr-min at the end), or plateau (--lr-decay, 0.5 unless given, after --patience validations without a lower loss)", 0});
    train_cli_add(c, (opt){"lr-decay", OPT_FLOAT, &t->lr_decay, 1e-6, 1, "X", "step or plateau schedule: multiply the learning rate by X ...", 0});
    train_cli_add(c, (opt){"lr-decay-every", OPT_INT, &t->lr_decay_every, 0, 1e9, "N", "... every N steps (0: after every epoch)", 0});
    train_cli_add(c, (opt){"warmup", OPT_LL, &t->warmup, 0, 1e15, "N", "steps of linear warm-up at the start (any schedule)", 0});
    train_cli_add(c, (opt){"lr-min", OPT_FLOAT, &t->lr_min, 0, 1e6, "X", "cosine schedule: the floor the rate falls toward", 0});
    train_cli_add(c, (opt){"patience", OPT_INT, &t->patience, 1, 1e6, "N", "plateau schedule: validations without a lower loss before a decay", 0});
    train_cli_add(c, (opt){"weight-decay", OPT_FLOAT, &t->weight_decay, 0, 999, "X", "decoupled weight decay on the weight matrices, not the biases (AdamW with adam)", 0});
    train_cli_add(c, (opt){"clip", OPT_FLOAT, &t->clip, 0, 1e9, "X", "gradient clipping threshold (0: off)", 0});
    train_cli_add(c, (opt){"clip-mode", OPT_STR, &c->clip_mode, 0, 0, "M", "norm (the global L2 norm of all gradients) or value (each element)", 0});
    train_cli_add(c, (opt){"momentum", OPT_FLOAT, &t->momentum, 0, 0.9999, "X", "momentum for sgd", 0});
    train_cli_add(c, (opt){"seed", OPT_U64, &t->seed, 0, 0, "S", "random seed (same seed and threads: same run)", 0});
    train_cli_add(c, (opt){"threads", OPT_INT, &t->threads, 1, 256, "N", "worker threads (default here: the CPUs, at most 8)", 0});
    train_cli_add(c, (opt){"bf16", OPT_FLAG, &t->bf16, 0, 0, 0, "bf16 mixed precision: matrix products on bfloat16 inputs (AVX512-BF16), sums, weights and optimizer in fp32; fp32 where the CPU lacks it", 0});
    train_cli_add(c, (opt){"recompute", OPT_FLAG, &t->recompute, 0, 0, 0, "less memory: LSTM/GRU gates are not kept for the backward but made again, a chunk of steps at a time (measured 0.66-0.85x the speed; no effect on rnn)", 0});
    train_cli_add(c, (opt){"print-every", OPT_LL, &c->print_every, 0, 1e15, "N", "steps between progress lines when not a terminal (0: auto)", 0});
    train_cli_add(c, (opt){"quiet", OPT_FLAG, &c->quiet, 0, 0, 0, "no progress output", 0});
}

void train_cli_model_options(train_cli *c)
{
    c->cell = recur_cell_name(c->mc.cell);
    train_cli_add(c, (opt){"cell", OPT_STR, &c->cell, 0, 0, "NAME", "rnn, lstm or gru", 0});
    train_cli_add(c, (opt){"hidden", OPT_INT, &c->mc.hidden, 1, 65536, "H", "units per layer (and direction)", 0});
    train_cli_add(c, (opt){"layers", OPT_INT, &c->mc.layers, 1, 64, "L", "stacked recurrent layers", 0});
    train_cli_add(c, (opt){"embed", OPT_INT, &c->mc.embed, 0, 65536, "E", "learned embedding size; 0 = one-hot input", 0});
    train_cli_add(c, (opt){"dropout", OPT_FLOAT, &c->mc.dropout, 0, 0.99, "P", "dropout between layers while training", 0});
    train_cli_add(c, (opt){"dropout-in", OPT_FLOAT, &c->mc.dropout_in, 0, 0.99, "P", "dropout on the input embedding's values (needs --embed)", 0});
    train_cli_add(c, (opt){"dropout-out", OPT_FLOAT, &c->mc.dropout_out, 0, 0.99, "P", "dropout on the last layer's output, before the head", 0});
    train_cli_add(c, (opt){"variational", OPT_FLAG, &c->mc.variational, 0, 0, 0, "the same dropout mask at every step of a window (per stream), not a new one per step", 0});
}

void train_cli_tie_option(train_cli *c)
{
    train_cli_add(c, (opt){"tie", OPT_FLAG, &c->mc.tie, 0, 0, 0, "the head's weight is the embedding (one matrix; needs --embed equal to --hidden)", 0});
}

int train_cli_seen(const train_cli *c, const char *name)
{
    const opt *o = args_find(c->o, c->n, name);
    return o && o->seen;
}

int train_cli_finish(train_cli *c)
{
    const char *cmd = c->cmd;
    if (c->cell) {
        int ci = recur_cell_parse(c->cell);
        if (ci < 0) return usage_error(cmd, "invalid value for --cell: '%s' (expected rnn, lstm or gru)", c->cell);
        c->mc.cell = (recur_cell)ci;
    }
    int oi = !strcmp(c->optim, "adam") ? RECUR_ADAM : !strcmp(c->optim, "adagrad") ? RECUR_ADAGRAD
           : !strcmp(c->optim, "rmsprop") ? RECUR_RMSPROP : !strcmp(c->optim, "sgd") ? RECUR_SGD : -1;
    if (oi < 0) return usage_error(cmd, "invalid value for --optim: '%s' (expected adam, adagrad, rmsprop or sgd)", c->optim);
    c->tc.optim = (recur_optim)oi;
    if (strcmp(c->clip_mode, "norm") && strcmp(c->clip_mode, "value"))
        return usage_error(cmd, "invalid value for --clip-mode: '%s' (expected norm or value)", c->clip_mode);
    c->tc.clip_mode = strcmp(c->clip_mode, "value") == 0 ? RECUR_CLIP_VALUE : RECUR_CLIP_NORM;
    int si = recur_schedule_parse(c->schedule);
    if (si < 0) return usage_error(cmd, "invalid value for --schedule: '%s' (expected step, constant or cosine)", c->schedule);
    c->tc.schedule = (recur_schedule)si;
    if (train_cli_seen(c, "lr-decay-every") && c->tc.schedule != RECUR_SCHED_STEP)
        return usage_error(cmd, "--lr-decay-every belongs to --schedule step, not %s", c->schedule);
    if (train_cli_seen(c, "lr-decay") && c->tc.schedule != RECUR_SCHED_STEP && c->tc.schedule != RECUR_SCHED_PLATEAU)
        return usage_error(cmd, "--lr-decay belongs to --schedule step or plateau, not %s", c->schedule);
    if (train_cli_seen(c, "patience") && c->tc.schedule != RECUR_SCHED_PLATEAU)
        return usage_error(cmd, "--patience belongs to --schedule plateau");
    if (c->tc.schedule == RECUR_SCHED_PLATEAU && !train_cli_seen(c, "lr-decay")) c->tc.lr_decay = 0.5f;
    if (train_cli_seen(c, "lr-min") && c->tc.schedule != RECUR_SCHED_COSINE)
        return usage_error(cmd, "--lr-min belongs to --schedule cosine");
    if (!(c->tc.lr_min <= c->tc.lr))
        return usage_error(cmd, "--lr-min %g is above --lr %g", (double)c->tc.lr_min, (double)c->tc.lr);
    if (train_cli_seen(c, "steps") && train_cli_seen(c, "epochs"))
        return usage_error(cmd, "give --steps or --epochs, not both");
    if (!c->out) return usage_error(cmd, "--out CKPT is required");
    return 0;
}

/* ---------------------------------------------------------------- output files */

// The directory part of path ("." for a bare name, "/" at the root), and
// the name after it.
static const char *dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else if (slash == path)
        snprintf(dir, cap, "/");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

// An output file must be creatable: its directory exists and is writable.
static int check_output(const char *path, recur_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err->msg, sizeof err->msg, "cannot write %.400s: it is a directory", path);
        return 1;
    }
    char dir[4096];
    dir_of(path, dir, sizeof dir);
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
    char dir[4096], full[8192];
    const char *base = dir_of(path, dir, sizeof dir);
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

int train_cli_outputs(train_cli *c)
{
    recur_error err = {0};
    if (!c->last) {
        size_t cap = strlen(c->out) + 16;
        if (!(c->last_owned = malloc(cap)) || recur_state_path(c->out, c->last_owned, cap)) {
            err.code = RECUR_ENOMEM;
            snprintf(err.msg, sizeof err.msg, "out of memory");
            return fail(c->cmd, &err);
        }
        c->last = c->last_owned;
    }
    if (!strcmp(c->out, c->last)) {
        snprintf(err.msg, sizeof err.msg, "--out and --last name the same file %.400s", c->out);
        return fail(c->cmd, &err);
    }
    if (check_output(c->out, &err) || check_output(c->last, &err)) return fail(c->cmd, &err);
    sweep_stale_tmp(c->out);
    sweep_stale_tmp(c->last);
    return 0;
}

void train_cli_free(train_cli *c)
{
    free(c->last_owned);
    c->last_owned = NULL;
}

/* ---------------------------------------------------------------- progress */

typedef struct progress {
    int tty, quiet;
    long long print_every;
    FILE *log;
    const char *log_path;
    int log_errno;             /* the log could not be written: stop */
    int pending;               /* a step record waiting for a possible validation */
    recur_train_event last;
    double val, metric;        /* last validation */
    const char *metric_name;
    double deadline;           /* train_cli's deadline_s */
    int deadline_hit;
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

static void json_number(FILE *f, const char *key, double v, const char *fmt)
{
    fprintf(f, "\"%s\":", key);
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("null", f);
}

// One JSON line per step: the keys recur train has always written, and the
// task's metric beside val_loss when it has one.
static void log_record(progress *p, const recur_train_event *e, double val, double metric)
{
    if (!p->log || p->log_errno) return;
    FILE *f = p->log;
    fprintf(f, "{\"step\":%lld,\"epoch\":%.4f,", e->step, e->epoch);
    json_number(f, "train_loss", e->train_loss, "%.6f");
    fputc(',', f);
    json_number(f, "val_loss", val, "%.6f");
    if (p->metric_name) {
        fprintf(f, ",\"val_%s\":", p->metric_name);
        if (isfinite(metric))
            fprintf(f, "%.6f", metric);
        else
            fputs("null", f);
    }
    fprintf(f, ",\"lr\":%.6g,", e->lr);
    json_number(f, "grad_norm", e->grad_norm, "%.6g");
    fprintf(f, ",\"chars_per_s\":%.1f,\"elapsed_s\":%.3f}\n", e->chars_per_s, e->elapsed_s);
    if (fflush(f) || ferror(f)) p->log_errno = errno ? errno : EIO;
}

static void flush_pending(progress *p)
{
    if (p->pending) log_record(p, &p->last, NAN, NAN);
    p->pending = 0;
}

// A metric's name for people: "exact_match" -> "exact match".
static const char *human(const char *metric, char *buf, size_t n)
{
    snprintf(buf, n, "%s", metric);
    for (char *c = buf; *c; c++)
        if (*c == '_') *c = ' ';
    return buf;
}

static void status_line(progress *p, const recur_train_event *e, int newline)
{
    char eta[16], val[64] = "";
    double left = e->step > 0 ? (double)(e->total_steps - e->step) * (e->elapsed_s / (double)e->step) : -1;
    fmt_time(eta, sizeof eta, left);
    int at = 0;
    if (!isnan(p->val)) at = snprintf(val, sizeof val, " | val %.4f", p->val);
    char name[32];
    if (p->metric_name && !isnan(p->metric))
        snprintf(val + at, sizeof val - (size_t)at, " | %s %.4f", human(p->metric_name, name, sizeof name), p->metric);
    fprintf(stderr, "%sstep %lld/%lld | loss %.4f%s | %.1fk char/s | ETA %s%s", p->tty ? "\r\033[K" : "",
            e->step, e->total_steps, e->train_loss, val, e->chars_per_s / 1000, eta,
            newline ? "\n" : "");
    fflush(stderr);
}

static int on_event(const recur_train_event *e, void *user)
{
    progress *p = user;
    const char *cr = p->tty ? "\r\033[K" : "";
    char name[32];
    switch (e->kind) {
    case RECUR_EV_START:
        p->metric_name = e->metric;
        if (!p->quiet)
            fprintf(stderr, "training %lld steps (%lld training %s, %lld validation)\n", e->total_steps,
                    e->train_chars, e->unit, e->val_chars);
        break;
    case RECUR_EV_STEP:
        flush_pending(p);
        p->pending = 1;
        p->last = *e;
        if (p->deadline > 0 && e->elapsed_s >= p->deadline && e->step < e->total_steps) p->deadline_hit = 1;
        if (p->quiet) break;
        if (p->tty)
            status_line(p, e, 0);
        else if (e->step % p->print_every == 0 || e->step == e->total_steps)
            status_line(p, e, 1);
        break;
    case RECUR_EV_EVAL:
        p->val = e->val_loss;
        p->metric = e->val_metric;
        if (p->pending) log_record(p, &p->last, e->val_loss, e->val_metric);
        p->pending = 0;
        if (p->quiet) break;
        if (e->metric && !isnan(e->val_metric))
            fprintf(stderr, "%sstep %lld/%lld | val loss %.4f | val %s %.4f%s\n", cr, e->step, e->total_steps,
                    e->val_loss, human(e->metric, name, sizeof name), e->val_metric, e->val_metric == e->best_metric ? " best" : "");
        else
            fprintf(stderr, "%sstep %lld/%lld | val loss %.4f nats/char (%.4f bits/char)%s\n", cr, e->step,
                    e->total_steps, e->val_loss, e->val_loss / log(2.0), e->val_loss <= e->best_val ? " best" : "");
        break;
    case RECUR_EV_SAMPLE:
        if (!p->quiet) fprintf(stderr, "%s---- sample at step %lld ----\n%s\n----\n", cr, e->step, e->text);
        break;
    case RECUR_EV_SAVE:
        break;
    case RECUR_EV_SKIP:
        fprintf(stderr, "%sstep %lld: loss or gradient is not finite; step skipped, learning rate halved to %g\n",
                cr, e->step + 1, e->lr);
        break;
    }
    return atomic_load(&stop_requested) != 0 || p->log_errno != 0 || p->deadline_hit;
}

/* ---------------------------------------------------------------- the run */

int train_cli_start(train_cli *c, recur_trainer *t)
{
    recur_error err = {0};
    const recur_comm *comm = cli_comm();
    int n = cli_launch_size();
    if (!comm && n > 1) {
        // Each copy would train the whole model alone and all would write the same files.
        if (cli_launch_rank() > 0) return 1; // the first copy says it
        snprintf(err.msg, sizeof err.msg, "this recur was built without MPI, but mpirun started %d copies of it: run recur-mpi instead (built beside recur when CMake finds MPI: apt-get install openmpi-bin libopenmpi-dev, then cmake again)", n);
        return fail(c->cmd, &err);
    }
    if (comm) {
        // Data-parallel (docs/distributed.md): rank 0 alone prints and logs.
        if (recur_trainer_set_comm(t, comm, &err)) {
            cli_error_agreed();
            return fail(c->cmd, &err);
        }
        if (comm->rank > 0) {
            c->quiet = 1;
            c->log_path = NULL;
        }
    }
    if (recur_trainer_set_outputs(t, c->out, c->last, &err)) return fail(c->cmd, &err);
    if (c->resume && recur_trainer_resume(t, c->resume, &err)) return fail(c->cmd, &err);
    return 0;
}

int train_cli_run(train_cli *c, recur_trainer *t, const char *data)
{
    recur_error err = {0};
    progress p = {0};
    p.val = p.metric = NAN;
    int status = 1, rc;
    if (c->resume && !c->quiet) fprintf(stderr, "  resuming at step %lld\n", recur_trainer_step(t));
    p.tty = isatty(2);
    p.quiet = c->quiet;
    p.log_path = c->log_path;
    p.deadline = c->deadline_s;
    long long total = recur_trainer_total_steps(t);
    p.print_every = c->print_every > 0 ? c->print_every : (total >= 50 ? total / 50 : 1);
    if (c->log_path && !(p.log = fopen(c->log_path, c->resume ? "a" : "w"))) {
        snprintf(err.msg, sizeof err.msg, "cannot write %.400s: %s", c->log_path, strerror(errno));
        return fail(c->cmd, &err);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; // writes interrupted by the first Ctrl-C go on
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    // Said once, here (not while parsing: an error before the run stays one line).
    if (c->tc.bf16 && !recur_has_bf16())
        fprintf(stderr, "recur %s: no bf16 products here (this CPU has no AVX512-BF16, or RECUR_KERNELS=portable): --bf16 trains in fp32\n",
                c->cmd);
    rc = recur_trainer_run(t, on_event, &p, &err);
    flush_pending(&p);
    if (p.tty && !c->quiet) fprintf(stderr, "\n");
    if (p.log && fclose(p.log) && !p.log_errno) p.log_errno = errno ? errno : EIO;
    p.log = NULL;
    if (p.log_errno) {
        // The run stopped at the step the log failed; its state is saved.
        snprintf(err.msg, sizeof err.msg, "cannot write the log %.150s: %s (training stopped at step %lld; state saved to %.150s)",
                 c->log_path, strerror(p.log_errno), recur_trainer_step(t), c->last);
        return fail(c->cmd, &err);
    }
    if (rc == RECUR_EINTERRUPT && p.deadline_hit && !atomic_load(&stop_requested)) {
        // Out of time: the run ends here as if this were its last step.
        c->deadline_hit = 1;
        fprintf(stderr, "recur %s: the time is up at step %lld of %lld (the run went slower than planned); "
                        "state saved to %s\n", c->cmd, recur_trainer_step(t), total, c->last);
        cli_rank_done();
        return 0;
    }
    if (rc == RECUR_EINTERRUPT) {
        if (cli_rank() > 0) return 130;
        const recur_comm *comm = cli_comm();
        char how[64] = "recur";
        if (comm) snprintf(how, sizeof how, "mpirun -np %d recur-mpi", comm->size);
        // Paths quoted, so that a name with a space or a quote pastes back.
        char q[3][4200];
        const char *raw[3] = {data, c->last, c->out};
        for (int i = 0; i < 3; i++) {
            size_t at = 0;
            q[i][0] = 0;
            shell_arg(q[i], sizeof q[i], &at, raw[i]);
        }
        // A FILE that looks like an option goes last, after "--".
        const int dash = data[0] == '-';
        fprintf(stderr, "recur %s: interrupted at step %lld of %lld; state saved to %s\n"
                        "  resume with: %s %s%s %s --resume%s --out%s%s%s\n",
                c->cmd, recur_trainer_step(t), total, c->last, how, c->cmd, dash ? "" : q[0],
                c->resume_hint ? c->resume_hint : "[same options]", q[1], q[2], dash ? " --" : "", dash ? q[0] : "");
        return 130;
    }
    if (rc) return fail(c->cmd, &err);
    status = 0;
    cli_rank_done(); // the best model, the report and the summary are rank 0's
    return status;
}
