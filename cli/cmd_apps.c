/*
 * cmd_apps.c - the applications as commands: `recur classify train|predict`
 * (many-to-one), `recur tag train|predict|eval` (many-to-many) and
 * `recur train DIR --by-class` (one-to-many; sampled with `recur sample
 * --class`). They share the training options of `recur train` where the
 * idea is the same; the defaults train in minutes on two cores.
 */
#include "train_cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- shared */

// The flags of every application's training: the shared ones of every
// train command (train_cli.c), the model's, and the application's defaults.
static void app_options(train_cli *c, const char *cmd, recur_task task, int *bidir, int *unidir,
                        int *json)
{
    train_cli_init(c, cmd, "model.safetensors");
    recur_app_config a;
    recur_app_config_default(&a, task);
    c->mc = a.model;
    c->tc.batch = a.batch;
    c->tc.epochs = a.epochs;
    c->tc.lr = a.lr;
    c->tc.lr_decay = a.lr_decay; // after every epoch (lr_decay_every 0)
    c->tc.clip = a.clip;
    c->tc.val_frac = a.val_frac;
    c->tc.eval_every = 0;
    c->tc.sample_every = 0;
    train_cli_model_options(c);
    if (task != RECUR_TASK_CONDLM) {
        train_cli_add(c, (opt){"bidirectional", OPT_FLAG, bidir, 0, 0, 0, a.model.bidirectional ? "read each sequence both ways (the default here)" : "read each sequence both ways", 0});
        train_cli_add(c, (opt){"unidirectional", OPT_FLAG, unidir, 0, 0, 0, "read left to right only", 0});
    }
    train_cli_add(c, (opt){"batch", OPT_INT, &c->tc.batch, 1, 4096, "B", "sequences per step", 0});
    train_cli_add(c, (opt){"val-frac", OPT_DOUBLE, &c->tc.val_frac, 0, 0.9, "X", task == RECUR_TASK_TAG ? "without --dev: the last X of the sentences validate" : "fraction held out for validation (stratified by class)", 0});
    if (task != RECUR_TASK_CONDLM)
        train_cli_add(c, (opt){"json", OPT_FLAG, json, 0, 0, 0, "print the validation report as one JSON object", 0});
    // (the command adds its own flags, then train_cli_shared_options)
}

// After parsing: the shared checks, the directions, the output files.
// Returns 0, or the exit status of a usage error (2) or a bad output (1).
static int app_finish(train_cli *c, int bidir, int unidir)
{
    int rc = train_cli_finish(c);
    if (rc) return rc;
    if (bidir && unidir) return usage_error(c->cmd, "give --bidirectional or --unidirectional, not both");
    if (bidir) c->mc.bidirectional = 1;
    if (unidir) c->mc.bidirectional = 0;
    return train_cli_outputs(c);
}

static void print_config(const train_cli *c, const char *data, const recur_trainer *t)
{
    if (c->quiet) return;
    (void)t;
    fprintf(stderr, "recur %s: %s, %s%s, hidden %d, layers %d, %s, batch %d, %s lr %g (%s), seed %llu, threads %d%s\n",
            c->cmd, data, c->mc.bidirectional ? "bidirectional " : "", recur_cell_name(c->mc.cell),
            c->mc.hidden, c->mc.layers, c->mc.embed ? "embedding" : "one-hot input", c->tc.batch, c->optim,
            (double)c->tc.lr, c->schedule, (unsigned long long)c->tc.seed, c->tc.threads,
            c->resume ? ", resumed" : "");
}

// Runs an application's trainer, then puts the best model back in memory
// and fills its validation report. Returns the exit status.
static int app_run(train_cli *c, recur_trainer *t, const char *data, recur_report *r)
{
    recur_error err = {0};
    int status = train_cli_start(c, t);
    if (status) return status;
    print_config(c, data, t);
    status = train_cli_run(c, t, data);
    if (status) return status;
    if (recur_trainer_restore_best(t, &err) || recur_trainer_report(t, r, &err)) return fail(c->cmd, &err);
    return 0;
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
    train_cli c;
    int bidir = 0, unidir = 0, json = 0;
    app_options(&c, "classify train", RECUR_TASK_CLASSIFY, &bidir, &unidir, &json);
    train_cli_shared_options(&c);
    const char *pos[1];
    int npos, rc = args_parse(c.cmd, classify_train_usage, argc, argv, 3, c.o, c.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error(c.cmd, "expected the training DATA (a directory or a TSV file)");
    if ((rc = app_finish(&c, bidir, unidir))) {
        train_cli_free(&c);
        return rc;
    }
    recur_error err = {0};
    recur_trainer *t = NULL;
    recur_report r;
    memset(&r, 0, sizeof r);
    int status = 1;
    if (recur_trainer_new_classify(pos[0], &c.mc, &c.tc, &t, &err)) {
        status = fail(c.cmd, &err);
        goto done;
    }
    if ((status = app_run(&c, t, pos[0], &r))) goto done;
    if (json) {
        printf("%s\n", r.json ? r.json : "{}");
    } else {
        printf("%zu training and %zu validation examples (%zu repeated lines removed)\n", r.ntrain, r.nval,
               r.duplicates);
        if (r.table) fputs(r.table, stdout);
        printf("validation accuracy %.4f (%lld of %lld); model saved to %s; state to %s\n", r.accuracy, r.correct,
               r.total, c.out, c.last);
    }
done:
    recur_report_free(&r);
    recur_trainer_free(t);
    train_cli_free(&c);
    return status;
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
    train_cli c;
    int bidir = 0, unidir = 0, json = 0, column = 0;
    app_options(&c, "tag train", RECUR_TASK_TAG, &bidir, &unidir, &json);
    const char *dev = NULL, *test = NULL;
    train_cli_add(&c, (opt){"dev", OPT_STR, &dev, 0, 0, "FILE", "validation sentences (CoNLL)", 0});
    train_cli_add(&c, (opt){"test", OPT_STR, &test, 0, 0, "FILE", "also report accuracy on these sentences at the end", 0});
    train_cli_add(&c, (opt){"column", OPT_INT, &column, 0, 100, "N", "the tag column, 1-based (0: the second; UPOS in data/ud_english_ewt)", 0});
    train_cli_shared_options(&c);
    const char *pos[1];
    int npos, rc = args_parse(c.cmd, tag_train_usage, argc, argv, 3, c.o, c.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error(c.cmd, "expected the TRAIN file");
    if (column == 1) return usage_error(c.cmd, "--column 1 is the token itself");
    if ((rc = app_finish(&c, bidir, unidir))) {
        train_cli_free(&c);
        return rc;
    }
    recur_error err = {0};
    recur_trainer *t = NULL;
    recur_report r, tr;
    memset(&r, 0, sizeof r);
    memset(&tr, 0, sizeof tr);
    int status = 1;
    if (recur_trainer_new_tag(pos[0], dev, column, &c.mc, &c.tc, &t, &err)) {
        status = fail(c.cmd, &err);
        goto done;
    }
    if ((status = app_run(&c, t, pos[0], &r))) goto done;
    if (!json) printf("%zu training sentences, %zu validation; model saved to %s; state to %s\n", r.ntrain, r.nval, c.out, c.last);
    if (dev) print_report(&r, json, "validation");
    else if (!json) printf("validation: per-token accuracy %.4f (%lld of %lld)\n", r.accuracy, r.correct, r.total);
    if (test) {
        if (recur_tag_eval(recur_trainer_model(t), test, column, c.tc.threads, &tr, &err))
            status = fail(c.cmd, &err);
        else
            print_report(&tr, json, "test");
    }
done:
    recur_report_free(&r);
    recur_report_free(&tr);
    recur_trainer_free(t);
    train_cli_free(&c);
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
    train_cli c;
    app_options(&c, "train", RECUR_TASK_CONDLM, NULL, NULL, NULL);
    int by_class = 0;
    train_cli_add(&c, (opt){"by-class", OPT_FLAG, &by_class, 0, 0, 0, "train a generator conditioned on the class", 0});
    train_cli_tie_option(&c);
    train_cli_shared_options(&c);
    const char *pos[1];
    int npos, rc = args_parse("train", condlm_usage, argc, argv, 2, c.o, c.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("train", "expected the training DATA (a directory or a TSV file)");
    if ((rc = app_finish(&c, 0, 0))) {
        train_cli_free(&c);
        return rc;
    }
    recur_error err = {0};
    recur_trainer *t = NULL;
    recur_report r;
    memset(&r, 0, sizeof r);
    int status = 1;
    if (recur_trainer_new_condlm(pos[0], &c.mc, &c.tc, &t, &err)) {
        status = fail("train", &err);
        goto done;
    }
    if ((status = app_run(&c, t, pos[0], &r))) goto done;
    if (!c.quiet)
        fprintf(stderr, "done: %zu training and %zu validation texts; validation loss %.4f nats/char (%.4f bits/char); model saved to %s; state to %s\n",
                r.ntrain, r.nval, r.val_loss, r.val_loss / log(2.0), c.out, c.last);
done:
    recur_report_free(&r);
    recur_trainer_free(t);
    train_cli_free(&c);
    return status;
}
