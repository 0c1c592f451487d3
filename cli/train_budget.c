/*
 * train_budget.c - `recur train FILE --budget 30m`: measure this machine's
 * speed for a few model sizes, let recur_budget_choose pick the model and
 * the run (src/tasks/budget.c has the rule), print what it chose and why,
 * save the same to OUT's .budget.json with the command that reproduces the
 * run, and give the run a deadline so that it ends inside the budget.
 */
#include "train_budget.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double budget_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int budget_parse(const char *s, double *seconds)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0)) return -1;
    double unit = 1;
    if (*end == 's') unit = 1, end++;
    else if (*end == 'm') unit = 60, end++;
    else if (*end == 'h') unit = 3600, end++;
    if (*end) return -1;
    *seconds = v * unit;
    return *seconds >= 10 && *seconds <= 1e8 ? 0 : -1;
}

// The flags --budget sets: given too, they would contradict it.
static const char *const chosen[] = {"cell", "hidden", "layers", "embed", "tie", "dropout", "dropout-out",
                                     "seq", "batch",
                                     "steps", "epochs", "lr", "lr-decay", "lr-decay-every", "schedule",
                                     "warmup", "lr-min", "eval-every", "optim", "resume", "nonlinearity"};

int budget_check_flags(const train_cli *c)
{
    for (size_t i = 0; i < sizeof chosen / sizeof chosen[0]; i++)
        if (train_cli_seen(c, chosen[i])) {
            if (!strcmp(chosen[i], "resume"))
                return usage_error("train", "--budget plans a new run; to continue one, use the command it "
                                   "printed (and saved in OUT's .budget.json) with --resume");
            return usage_error("train", "--budget chooses --%s itself; give one or the other", chosen[i]);
        }
    if (train_cli_seen(c, "dropout-in"))
        return usage_error("train", "--budget trains models with one-hot input, which have no embedding for --dropout-in");
    if (cli_comm()) return usage_error("train", "--budget plans a run of one process; it does not run under mpirun");
    return 0;
}

typedef struct speed_ctx {
    const recur_text *text;
    int bytes, threads, bf16, recompute;
    double max_s;
    const char *budget_text;
    int quiet, asked;
    float dropout, dropout_out; /* what the measured runs drop */
} speed_ctx;

static double measure(void *user, recur_cell cell, int hidden, int layers, int seq, int batch)
{
    speed_ctx *x = user;
    recur_error err = {0};
    if (!x->quiet && x->asked++ == 0)
        fprintf(stderr, "recur train --budget %s: measuring this machine's training speed (%d threads%s%s)\n",
                x->budget_text, x->threads, x->bf16 ? ", bf16" : "", x->recompute ? ", gates recomputed" : "");
    if (!x->quiet) {
        fprintf(stderr, "  measuring %s %dx%d%s ...", recur_cell_name(cell), hidden, layers,
                x->dropout == 0 && x->dropout_out == 0 ? " without dropout" : "");
        fflush(stderr);
    }
    double s = recur_budget_measure(x->text->data, x->text->len, x->bytes, cell, hidden, layers, seq, batch,
                                    x->dropout, x->dropout_out, x->threads, x->bf16, x->recompute, x->max_s, &err);
    if (!x->quiet) {
        if (s > 0) fprintf(stderr, " %.1fk char/s\n", s / 1000);
        else fprintf(stderr, " failed: %s\n", err.msg);
    }
    return s;
}

// Characters of a text (code points, or bytes with --bytes).
static size_t count_chars(const char *s, size_t len, int bytes)
{
    if (bytes) return len;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

int budget_plan(train_cli *c, const budget_args *a, budget_out *o)
{
    recur_error err = {0};
    memset(o, 0, sizeof *o);
    // What the plan is for: the training and validation characters.
    size_t n = count_chars(a->text->data, a->text->len, a->bytes), nval;
    if (a->val->data) {
        nval = count_chars(a->val->data, a->val->len, a->bytes);
    } else {
        nval = (size_t)((double)n * c->tc.val_frac);
        n -= nval;
    }
    if (c->tc.val_max_chars > 0 && nval > (size_t)c->tc.val_max_chars) nval = (size_t)c->tc.val_max_chars;
    // Measuring takes at most about 2% of the budget: a few steps per
    // candidate, each candidate at most max_s.
    // The candidates are measured with the dropout a long run gets (the
    // dropout is decided by the passes, which need the speed); a plan that
    // ends with none is measured again without it below.
    speed_ctx x = {a->text, a->bytes, c->tc.threads, c->tc.bf16, c->tc.recompute, 0, a->budget_text, c->quiet, 0, 0.5f, 0.3f};
    x.max_s = a->seconds * 0.003;
    x.max_s = x.max_s < 0.2 ? 0.2 : x.max_s > 2 ? 2 : x.max_s;
    const double probe_guess = 6 * 1.5 * x.max_s;
    double left = a->seconds - (budget_now() - a->t0) - probe_guess - 1;
    recur_budget_choice *ch = &o->choice;
    if (recur_budget_choose(n, nval, a->vocab_size, left > 1 ? left : 1, measure, &x, ch, &err))
        return fail("train", &err);
    // The time left now that the measuring is done, less a reserve for the
    // final save and the step under way at the deadline.
    const double step_s = (double)ch->batch * ch->seq / ch->chars_per_s;
    left = a->seconds - (budget_now() - a->t0) - 1 - 2 * step_s;
    if (left < 1) {
        snprintf(err.msg, sizeof err.msg, "measuring the speed took the whole budget of %s; give more time", a->budget_text);
        return fail("train", &err);
    }
    recur_budget_plan_steps(ch, n, nval, left);
    if (ch->dropout == 0 && ch->dropout_out == 0) {
        // Few passes, no dropout: the run is faster than measured (by up to
        // a quarter). Measure the choice without dropout and plan again; keep
        // the measured speed with dropout if the faster plan would call for
        // dropout after all.
        x.dropout = x.dropout_out = 0;
        const double s = measure(&x, ch->cell, ch->hidden, ch->layers, ch->seq, ch->batch);
        left = a->seconds - (budget_now() - a->t0) - 1 - 2 * step_s;
        if (left < 1) {
            snprintf(err.msg, sizeof err.msg, "measuring the speed took the whole budget of %s; give more time",
                     a->budget_text);
            return fail("train", &err);
        }
        recur_budget_choice faster = *ch;
        if (s > 0) {
            faster.chars_per_s = s;
            recur_budget_plan_steps(&faster, n, nval, left);
        }
        if (s > 0 && faster.dropout == 0 && faster.dropout_out == 0) *ch = faster;
        else recur_budget_plan_steps(ch, n, nval, left);
    }
    o->reserve = 1 + 2 * step_s;

    c->mc.cell = ch->cell;
    c->mc.hidden = ch->hidden;
    c->mc.layers = ch->layers;
    c->mc.embed = 0;
    c->mc.dropout = ch->dropout;
    c->mc.dropout_out = ch->dropout_out;
    c->tc.seq = ch->seq;
    c->tc.batch = ch->batch;
    c->tc.optim = RECUR_ADAM;
    c->optim = "adam";
    c->tc.lr = ch->lr;
    c->tc.lr_min = ch->lr_min;
    c->tc.schedule = RECUR_SCHED_COSINE;
    c->schedule = "cosine";
    c->tc.warmup = ch->warmup;
    c->tc.steps = ch->steps;
    c->tc.eval_every = ch->eval_every;

    // The command that reproduces the run: the one given, without
    // --budget, with what it chose (and the threads, which fix the bits).
    // FILE goes last, after "--" when it looks like an option; the resume
    // hint leaves out FILE and --out (train_cli prints both).
    size_t at = 0, hat = 0;
    char *cmd = o->command, *hint = o->hint;
    const size_t cap = sizeof o->command;
    at += (size_t)snprintf(cmd, cap, "recur train");
    for (int i = 2; i < a->argc; i++) {
        const char *arg = a->argv[i];
        if (!strcmp(arg, "--budget")) {
            i++;
            continue;
        }
        if (!strncmp(arg, "--budget=", 9) || arg == a->data || !strcmp(arg, "--")) continue;
        shell_arg(cmd, cap, &at, arg);
        if (!strcmp(arg, "--out") && i + 1 < a->argc) {
            shell_arg(cmd, cap, &at, a->argv[++i]);
            continue;
        }
        if (strncmp(arg, "--out=", 6)) shell_arg(hint, cap, &hat, arg);
    }
    char opts[512];
    snprintf(opts, sizeof opts,
             " --cell %s --hidden %d --layers %d --dropout %.2f --dropout-out %.2f --seq %d --batch %d --optim adam --lr %g "
             "--schedule cosine --warmup %lld --lr-min %g --eval-every %d --steps %lld",
             recur_cell_name(ch->cell), ch->hidden, ch->layers, (double)ch->dropout, (double)ch->dropout_out, ch->seq,
             ch->batch, (double)ch->lr, ch->warmup, (double)ch->lr_min, ch->eval_every, ch->steps);
    char threads[32] = "";
    if (!train_cli_seen(c, "threads")) snprintf(threads, sizeof threads, " --threads %d", c->tc.threads);
    at += (size_t)snprintf(cmd + at, cap - at, "%s%s%s", opts, threads, a->data[0] == '-' ? " --" : "");
    if (at < cap) shell_arg(cmd, cap, &at, a->data);
    snprintf(hint + hat, cap - hat, "%s%s", opts, threads);
    if (hint[0] == ' ') memmove(hint, hint + 1, strlen(hint));

    if (!c->quiet) {
        fprintf(stderr, "%s\n", ch->why);
        fprintf(stderr, "run: %lld steps of %d x %d characters at %.1fk char/s (%.0f s of %s), Adam %g with a "
                        "cosine to %g after %lld warm-up steps, validation every %d steps\n",
                ch->steps, ch->batch, ch->seq, ch->chars_per_s / 1000, ch->train_s, a->budget_text,
                (double)ch->lr, (double)ch->lr_min, ch->warmup, ch->eval_every);
        fprintf(stderr, "the same run again (bit for bit): %s\n", cmd);
    }
    return 0;
}

int budget_save(const train_cli *c, const budget_args *a, const budget_out *o)
{
    // Beside the model: m.safetensors -> m.budget.json.
    char path[4200], tmp[4300];
    size_t len = strlen(c->out);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (len > el && !strcmp(c->out + len - el, ext)) snprintf(path, sizeof path, "%.*s.budget.json", (int)(len - el), c->out);
    else snprintf(path, sizeof path, "%s.budget.json", c->out);
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    recur_error err = {0};
    if (!f) {
        snprintf(err.msg, sizeof err.msg, "cannot write %.300s: %s", tmp, strerror(errno));
        return fail("train", &err);
    }
    const recur_budget_choice *ch = &o->choice;
    fprintf(f, "{\"budget_s\":%.3f,\"cell\":\"%s\",\"hidden\":%d,\"layers\":%d,\"dropout\":%.2f,\"dropout_out\":%.2f,"
               "\"seq\":%d,"
               "\"batch\":%d,\"lr\":%g,\"lr_min\":%g,\"warmup\":%lld,\"steps\":%lld,\"eval_every\":%d,"
               "\"params\":%zu,\"chars_per_s\":%.1f,\"passes\":%.3f,\"train_s\":%.1f,\"threads\":%d,\"command\":",
            a->seconds, recur_cell_name(ch->cell), ch->hidden, ch->layers, (double)ch->dropout,
            (double)ch->dropout_out, ch->seq, ch->batch, (double)ch->lr, (double)ch->lr_min, ch->warmup, ch->steps, ch->eval_every, ch->params,
            ch->chars_per_s, ch->passes, ch->train_s, c->tc.threads);
    json_str(f, o->command);
    fputs(",\"why\":", f);
    json_str(f, ch->why);
    fputs("}\n", f);
    int bad = ferror(f) != 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err.msg, sizeof err.msg, "cannot write %.300s: %s", path, strerror(errno ? errno : EIO));
        unlink(tmp);
        return fail("train", &err);
    }
    return 0;
}
