/*
 * cmd_apps.c - the applications as commands: `recur classify train|predict`
 * (many-to-one), `recur tag train|predict|eval` (many-to-many) and
 * `recur train DIR --by-class` (one-to-many; sampled with `recur sample
 * --class`). They share the training options of `recur train` where the
 * idea is the same; the defaults train in minutes on two cores.
 */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- shared */

typedef struct app_opts {
    recur_app_config c;
    const char *cell, *optim, *out;
    int bidir, unidir, json, quiet;
    opt o[32];
    int n;
} app_opts;

static void add(app_opts *a, opt o)
{
    a->o[a->n++] = o;
}

// The options every application's training takes, as in `recur train`.
static void app_options(app_opts *a, recur_task task)
{
    memset(a, 0, sizeof *a);
    recur_app_config_default(&a->c, task);
    a->cell = recur_cell_name(a->c.model.cell);
    a->optim = "adam";
    a->out = "model.safetensors";
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->c.threads = cpus < 1 ? 1 : (cpus > 8 ? 8 : (int)cpus);
    add(a, (opt){"out", OPT_STR, &a->out, 0, 0, "CKPT", "where to save the best model on validation", 0});
    add(a, (opt){"cell", OPT_STR, &a->cell, 0, 0, "NAME", "rnn, lstm or gru", 0});
    add(a, (opt){"hidden", OPT_INT, &a->c.model.hidden, 1, 65536, "H", "units per layer (and direction)", 0});
    add(a, (opt){"layers", OPT_INT, &a->c.model.layers, 1, 64, "L", "stacked recurrent layers", 0});
    add(a, (opt){"embed", OPT_INT, &a->c.model.embed, 0, 65536, "E", "character embedding size; 0 = one-hot", 0});
    add(a, (opt){"dropout", OPT_FLOAT, &a->c.model.dropout, 0, 0.99, "P", "dropout between layers while training", 0});
    if (task != RECUR_TASK_CONDLM) {
        add(a, (opt){"bidirectional", OPT_FLAG, &a->bidir, 0, 0, 0, a->c.model.bidirectional ? "read each sequence both ways (the default here)" : "read each sequence both ways", 0});
        add(a, (opt){"unidirectional", OPT_FLAG, &a->unidir, 0, 0, 0, "read left to right only", 0});
    }
    add(a, (opt){"batch", OPT_INT, &a->c.batch, 1, 4096, "B", "sequences per step", 0});
    add(a, (opt){"epochs", OPT_DOUBLE, &a->c.epochs, 1e-9, 1e9, "X", "passes over the training data when --steps is 0", 0});
    add(a, (opt){"steps", OPT_LL, &a->c.steps, 0, 1e15, "N", "total optimizer steps (0: use --epochs)", 0});
    add(a, (opt){"optim", OPT_STR, &a->optim, 0, 0, "NAME", "adam, adagrad, rmsprop or sgd", 0});
    add(a, (opt){"lr", OPT_FLOAT, &a->c.lr, 1e-12, 1e6, "X", "learning rate", 0});
    add(a, (opt){"lr-decay", OPT_FLOAT, &a->c.lr_decay, 1e-6, 1, "X", "multiply the learning rate by X after every epoch", 0});
    add(a, (opt){"clip", OPT_FLOAT, &a->c.clip, 0, 1e9, "X", "clip the global gradient norm (0: off)", 0});
    add(a, (opt){"val-frac", OPT_DOUBLE, &a->c.val_frac, 0, 0.9, "X", task == RECUR_TASK_TAG ? "without --dev: the last X of the sentences validate" : "fraction held out for validation (stratified by class)", 0});
    add(a, (opt){"eval-every", OPT_INT, &a->c.eval_every, 0, 1e9, "N", "steps between validation passes (0: every epoch)", 0});
    add(a, (opt){"seed", OPT_U64, &a->c.seed, 0, 0, "S", "random seed", 0});
    add(a, (opt){"threads", OPT_INT, &a->c.threads, 1, 256, "N", "worker threads (default here: the CPUs, at most 8)", 0});
    if (task != RECUR_TASK_CONDLM)
        add(a, (opt){"json", OPT_FLAG, &a->json, 0, 0, 0, "print the validation report as one JSON object", 0});
    add(a, (opt){"quiet", OPT_FLAG, &a->quiet, 0, 0, 0, "no progress output", 0});
}

// Checks the names given as strings; returns 0 or 2 (usage error printed).
static int app_finish(app_opts *a, const char *cmd)
{
    int ci = recur_cell_parse(a->cell);
    if (ci < 0) return usage_error(cmd, "invalid value for --cell: '%s' (expected rnn, lstm or gru)", a->cell);
    a->c.model.cell = (recur_cell)ci;
    int oi = !strcmp(a->optim, "adam") ? RECUR_ADAM : !strcmp(a->optim, "adagrad") ? RECUR_ADAGRAD
           : !strcmp(a->optim, "rmsprop") ? RECUR_RMSPROP : !strcmp(a->optim, "sgd") ? RECUR_SGD : -1;
    if (oi < 0) return usage_error(cmd, "invalid value for --optim: '%s' (expected adam, adagrad, rmsprop or sgd)", a->optim);
    a->c.optim = (recur_optim)oi;
    if (a->bidir && a->unidir) return usage_error(cmd, "give --bidirectional or --unidirectional, not both");
    if (a->bidir) a->c.model.bidirectional = 1;
    if (a->unidir) a->c.model.bidirectional = 0;
    if (args_find(a->o, a->n, "steps")->seen && args_find(a->o, a->n, "epochs")->seen)
        return usage_error(cmd, "give --steps or --epochs, not both");
    return 0;
}

typedef struct app_progress {
    int quiet, tty, pool;
    const char *unit;
    const struct app_opts *a; /* printed once the data has loaded */
    const char *what, *data;
} app_progress;

static void print_config(const app_opts *a, const char *what, const char *data);

static int app_event(const recur_train_event *e, void *user)
{
    app_progress *p = user;
    if (p->quiet) return 0;
    if (p->a) {
        print_config(p->a, p->what, p->data);
        p->a = NULL;
    }
    if (e->kind == RECUR_EV_STEP && p->tty) {
        fprintf(stderr, "\r\033[Kstep %lld/%lld | epoch %.2f | loss %.4f", e->step, e->total_steps, e->epoch,
                e->train_loss);
        fflush(stderr);
    } else if (e->kind == RECUR_EV_EVAL) {
        fprintf(stderr, "%sstep %lld/%lld | epoch %.2f | loss %.4f | val loss %.4f | val accuracy %.4f (%s)\n",
                p->tty ? "\r\033[K" : "", e->step, e->total_steps, e->epoch, e->train_loss, e->val_loss,
                e->best_val, p->unit);
    }
    return 0;
}

static void print_config(const app_opts *a, const char *what, const char *data)
{
    if (a->quiet) return;
    fprintf(stderr, "recur %s: %s, %s%s, hidden %d, layers %d, %s, batch %d, %s lr %g, seed %llu, threads %d\n",
            what, data, a->c.model.bidirectional ? "bidirectional " : "", recur_cell_name(a->c.model.cell),
            a->c.model.hidden, a->c.model.layers,
            a->c.model.embed ? "embedding" : "one-hot input", a->c.batch, a->optim, (double)a->c.lr,
            (unsigned long long)a->c.seed, a->c.threads);
}

/* ---------------------------------------------------------------- classify */

static const char classify_train_usage[] =
    "usage: recur classify train DATA [options]\n\n"
    "Many-to-one: learns to name the class of a text (e.g. a surname's language) from its\n"
    "characters. DATA is a directory of <Label>.txt files, one example per line (the layout of\n"
    "data/names), or a file of label<TAB>text lines. Repeated (label, text) lines are removed\n"
    "before a stratified validation split; the model reads each text (both ways with\n"
    "--bidirectional) and answers from its final states. Prints the validation accuracy, a\n"
    "confusion matrix and per-class precision/recall.";

static int classify_train(int argc, char **argv)
{
    app_opts a;
    app_options(&a, RECUR_TASK_CLASSIFY);
    const char *pos[1];
    int npos, rc = args_parse("classify train", classify_train_usage, argc, argv, 3, a.o, a.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("classify train", "expected the training DATA (a directory or a TSV file)");
    if ((rc = app_finish(&a, "classify train"))) return rc;
    app_progress p = {a.quiet, isatty(2), 1, "examples", &a, "classify train", pos[0]};
    recur_error err = {0};
    recur_model *m = NULL;
    recur_report r;
    if (recur_classify_train(pos[0], &a.c, a.out, app_event, &p, &m, &r, &err))
        return fail("classify train", &err);
    if (a.json) {
        printf("%s\n", r.json ? r.json : "{}");
    } else {
        printf("%zu training and %zu validation examples (%zu repeated lines removed)\n", r.ntrain, r.nval,
               r.duplicates);
        if (r.table) fputs(r.table, stdout);
        printf("validation accuracy %.4f (%lld of %lld); model saved to %s\n", r.accuracy, r.correct, r.total, a.out);
    }
    recur_report_free(&r);
    recur_model_free(m);
    return 0;
}

static int classify_predict(int argc, char **argv)
{
    int top_k = 1;
    opt o[] = {{"top-k", OPT_INT, &top_k, 1, 1000, "K", "print the K most likely labels", 0}};
    const char *pos[256];
    int npos, rc = args_parse("classify predict",
                              "usage: recur classify predict CKPT [TEXT...] [--top-k K]\n\n"
                              "One line per text (the arguments, or each line of standard input):\n"
                              "the most likely label and its probability, then the next K-1.",
                              argc, argv, 3, o, 1, pos, 256, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos < 1) return usage_error("classify predict", "expected a checkpoint CKPT");
    recur_error err = {0};
    recur_model *m = NULL;
    if (recur_model_load(pos[0], &m, &err)) return fail("classify predict", &err);
    int n = recur_model_label_count(m), status = 0;
    if (recur_model_task(m) != RECUR_TASK_CLASSIFY) {
        snprintf(err.msg, sizeof err.msg, "%s is a %s model, not a classifier", pos[0], recur_task_name(recur_model_task(m)));
        recur_model_free(m);
        return fail("classify predict", &err);
    }
    float *probs = calloc((size_t)n, sizeof *probs);
    int *order = calloc((size_t)n, sizeof *order);
    char *line = NULL;
    size_t cap = 0;
    for (int i = 1;; i++) {
        const char *text;
        size_t len;
        if (npos > 1) {
            if (i >= npos) break;
            text = pos[i];
            len = strlen(text);
        } else {
            ssize_t got = getline(&line, &cap, stdin);
            if (got < 0) break;
            while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
            text = line;
            len = (size_t)got;
        }
        if (!probs || !order) {
            snprintf(err.msg, sizeof err.msg, "out of memory");
            status = fail("classify predict", &err);
            break;
        }
        if (recur_classify(m, text, len, probs, &err)) {
            status = fail("classify predict", &err);
            break;
        }
        // The K best, by a selection over the (few) labels.
        for (int j = 0; j < n; j++) order[j] = j;
        int k = top_k < n ? top_k : n;
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < n; b++)
                if (probs[order[b]] > probs[order[a]]) {
                    int t = order[a];
                    order[a] = order[b];
                    order[b] = t;
                }
        for (int a = 0; a < k; a++)
            printf("%s%s %.4f", a ? " " : "", recur_model_label(m, order[a]), (double)probs[order[a]]);
        printf("\n");
    }
    free(line);
    free(probs);
    free(order);
    recur_model_free(m);
    return status;
}

int cmd_classify(int argc, char **argv)
{
    const char *sub = argc > 2 ? argv[2] : "";
    if (!strcmp(sub, "train")) return classify_train(argc, argv);
    if (!strcmp(sub, "predict")) return classify_predict(argc, argv);
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        printf("usage: recur classify train DATA [options]   learn to name a text's class\n"
               "       recur classify predict CKPT [TEXT...]  name the class of each text\n"
               "'recur classify train --help' lists the options.\n");
        return 0;
    }
    return usage_error("classify", "expected 'train' or 'predict'");
}

/* ---------------------------------------------------------------- tag */

static const char tag_train_usage[] =
    "usage: recur tag train TRAIN [options]\n\n"
    "Many-to-many: learns a tag for every token (e.g. its part of speech). TRAIN is a\n"
    "CoNLL-style file: one token per line, token TAB tag [TAB more columns], a blank line\n"
    "between sentences (data/ud_english_ewt). The model reads each sentence's characters\n"
    "(tokens joined by spaces), both ways, and tags each token at its last character, so no\n"
    "word is ever out of vocabulary. Prints per-token accuracy on --dev (and --test).";

static void print_report(const recur_report *r, int json, const char *what)
{
    if (json) {
        printf("%s\n", r->json ? r->json : "{}");
        return;
    }
    if (r->table) fputs(r->table, stdout);
    printf("%s: per-token accuracy %.4f (%lld of %lld tokens)\n", what, r->accuracy, r->correct, r->total);
}

static int tag_train(int argc, char **argv)
{
    app_opts a;
    app_options(&a, RECUR_TASK_TAG);
    const char *dev = NULL, *test = NULL;
    add(&a, (opt){"dev", OPT_STR, &dev, 0, 0, "FILE", "validation sentences (CoNLL)", 0});
    add(&a, (opt){"test", OPT_STR, &test, 0, 0, "FILE", "also report accuracy on these sentences at the end", 0});
    add(&a, (opt){"column", OPT_INT, &a.c.column, 0, 100, "N", "the tag column, 1-based (0: the second; UPOS in data/ud_english_ewt)", 0});
    const char *pos[1];
    int npos, rc = args_parse("tag train", tag_train_usage, argc, argv, 3, a.o, a.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("tag train", "expected the TRAIN file");
    if (a.c.column == 1) return usage_error("tag train", "--column 1 is the token itself");
    if ((rc = app_finish(&a, "tag train"))) return rc;
    app_progress p = {a.quiet, isatty(2), 0, "tokens", &a, "tag train", pos[0]};
    recur_error err = {0};
    recur_model *m = NULL;
    recur_report r, t;
    memset(&t, 0, sizeof t);
    if (recur_tag_train(pos[0], dev, &a.c, a.out, app_event, &p, &m, &r, &err)) return fail("tag train", &err);
    int status = 0;
    if (!a.json) printf("%zu training sentences, %zu validation; model saved to %s\n", r.ntrain, r.nval, a.out);
    if (dev) print_report(&r, a.json, "validation");
    else if (!a.json) printf("validation: per-token accuracy %.4f (%lld of %lld)\n", r.accuracy, r.correct, r.total);
    if (test) {
        if (recur_tag_eval(m, test, a.c.column, a.c.threads, &t, &err))
            status = fail("tag train", &err);
        else
            print_report(&t, a.json, "test");
    }
    recur_report_free(&r);
    recur_report_free(&t);
    recur_model_free(m);
    return status;
}

static int tag_eval(int argc, char **argv)
{
    int json = 0, column = 0, threads = 1;
    opt o[] = {
        {"json", OPT_FLAG, &json, 0, 0, 0, "print one JSON object", 0},
        {"column", OPT_INT, &column, 0, 100, "N", "the tag column (0: the second)", 0},
        {"threads", OPT_INT, &threads, 1, 256, "N", "worker threads", 0},
    };
    const char *pos[2];
    int npos, rc = args_parse("tag eval", "usage: recur tag eval CKPT FILE [--json]\n\nPer-token accuracy of a tagger on a CoNLL file.",
                              argc, argv, 3, o, 3, pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 2) return usage_error("tag eval", "expected a checkpoint CKPT and a FILE");
    recur_error err = {0};
    recur_model *m = NULL;
    recur_report r;
    if (recur_model_load(pos[0], &m, &err)) return fail("tag eval", &err);
    if (recur_tag_eval(m, pos[1], column, threads, &r, &err)) {
        recur_model_free(m);
        return fail("tag eval", &err);
    }
    print_report(&r, json, pos[1]);
    recur_report_free(&r);
    recur_model_free(m);
    return 0;
}

static int tag_predict(int argc, char **argv)
{
    const char *pos[1];
    int npos, rc = args_parse("tag predict",
                              "usage: recur tag predict CKPT < sentences\n\n"
                              "Reads one sentence per line, tokens separated by spaces, and prints\n"
                              "one tag per token, separated by spaces.",
                              argc, argv, 3, NULL, 0, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("tag predict", "expected a checkpoint CKPT");
    recur_error err = {0};
    recur_model *m = NULL;
    if (recur_model_load(pos[0], &m, &err)) return fail("tag predict", &err);
    if (recur_model_task(m) != RECUR_TASK_TAG) {
        snprintf(err.msg, sizeof err.msg, "%s is a %s model, not a tagger", pos[0], recur_task_name(recur_model_task(m)));
        recur_model_free(m);
        return fail("tag predict", &err);
    }
    char *line = NULL;
    size_t cap = 0;
    int status = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, stdin)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        // Split on spaces in place.
        int n = 0, room = (int)got / 2 + 1;
        const char **tok = calloc((size_t)room, sizeof *tok);
        size_t *len = calloc((size_t)room, sizeof *len);
        int *tags = calloc((size_t)room, sizeof *tags);
        if (!tok || !len || !tags) {
            snprintf(err.msg, sizeof err.msg, "out of memory");
            status = fail("tag predict", &err);
        }
        for (char *s = line; !status && *s;) {
            while (*s == ' ' || *s == '\t') s++;
            if (!*s) break;
            char *e = s;
            while (*e && *e != ' ' && *e != '\t') e++;
            tok[n] = s;
            len[n++] = (size_t)(e - s);
            s = e;
        }
        if (!status && recur_tag(m, tok, len, n, tags, &err)) status = fail("tag predict", &err);
        for (int i = 0; !status && i < n; i++) printf("%s%s", i ? " " : "", recur_model_label(m, tags[i]));
        if (!status) printf("\n");
        free(tok);
        free(len);
        free(tags);
        if (status) break;
    }
    free(line);
    recur_model_free(m);
    return status;
}

int cmd_tag(int argc, char **argv)
{
    const char *sub = argc > 2 ? argv[2] : "";
    if (!strcmp(sub, "train")) return tag_train(argc, argv);
    if (!strcmp(sub, "predict")) return tag_predict(argc, argv);
    if (!strcmp(sub, "eval")) return tag_eval(argc, argv);
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        printf("usage: recur tag train TRAIN [options]  learn a tag per token (CoNLL data)\n"
               "       recur tag predict CKPT < text    tag each line's space-separated tokens\n"
               "       recur tag eval CKPT FILE         per-token accuracy on a CoNLL file\n"
               "'recur tag train --help' lists the options.\n");
        return 0;
    }
    return usage_error("tag", "expected 'train', 'predict' or 'eval'");
}

/* ---------------------------------------------------------------- generation by class */

static const char condlm_usage[] =
    "usage: recur train DATA --by-class [options]\n\n"
    "One-to-many: a character model of the texts of each class that takes the class as an\n"
    "input at every step. DATA is as for 'recur classify train' (a directory of <Label>.txt\n"
    "files or label<TAB>text lines). Each text is learned as a line on its own. Then\n"
    "'recur sample CKPT --class LABEL --prime K' writes texts of that class.";

int cmd_train_by_class(int argc, char **argv)
{
    app_opts a;
    app_options(&a, RECUR_TASK_CONDLM);
    int by_class = 0;
    add(&a, (opt){"by-class", OPT_FLAG, &by_class, 0, 0, 0, "train a generator conditioned on the class", 0});
    const char *pos[1];
    int npos, rc = args_parse("train", condlm_usage, argc, argv, 2, a.o, a.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("train", "expected the training DATA (a directory or a TSV file)");
    if ((rc = app_finish(&a, "train"))) return rc;
    app_progress p = {a.quiet, isatty(2), 0, "next characters", &a, "train --by-class", pos[0]};
    recur_error err = {0};
    recur_model *m = NULL;
    recur_report r;
    if (recur_condlm_train(pos[0], &a.c, a.out, app_event, &p, &m, &r, &err)) return fail("train", &err);
    if (!a.quiet)
        fprintf(stderr, "done: %zu training and %zu validation texts; validation loss %.4f nats/char (%.4f bits/char); model saved to %s\n",
                r.ntrain, r.nval, r.val_loss, r.val_loss / log(2.0), a.out);
    recur_report_free(&r);
    recur_model_free(m);
    return 0;
}
