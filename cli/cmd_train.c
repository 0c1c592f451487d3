/*
 * cmd_train.c - `recur train FILE --out CKPT`: build a vocabulary and a
 * model (or take both from --resume), train through the shared run
 * (train_cli.c: signals, progress, --log), and say where the model is.
 */
#include "train_budget.h"
#include "train_cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char train_usage[] =
    "usage: recur train FILE [options]\n\n"
    "Trains a character-level language model on FILE (UTF-8 text; --bytes for any file) by\n"
    "truncated backpropagation through time: B parallel streams over the text, windows of T\n"
    "characters, the hidden state carried from one window to the next. The best model on the\n"
    "validation text is saved to --out; the latest resumable state (weights, optimizer, data\n"
    "position, RNG) to --last, from which --resume continues the run exactly.\n"
    "With --by-class, DATA is a directory of <Label>.txt files and the model generates text\n"
    "for a given class ('recur train --by-class --help').";

// The vocabulary of the training text and, with --val, of the validation
// text too: their union, built from their characters written out once each
// (copying both texts into one buffer would hold the whole corpus in memory).
static int text_vocab(const recur_text *text, const char *path, const recur_text *val,
                      const char *val_path, int bytes, recur_vocab **out, recur_error *err)
{
    recur_vocab *vocab = NULL, *vv = NULL;
    int rc = recur_vocab_from_text(text->data, text->len, bytes, &vocab, err);
    if (rc) {
        recur_error_prefix(err, path);
        return rc;
    }
    if (val->data) {
        if ((rc = recur_vocab_from_text(val->data, val->len, bytes, &vv, err))) {
            recur_error_prefix(err, val_path);
            recur_vocab_free(vocab);
            return rc;
        }
        int na = recur_vocab_size(vocab), nb = recur_vocab_size(vv);
        char *chars = malloc(4 * ((size_t)na + (size_t)nb));
        if (!chars) {
            recur_vocab_free(vocab);
            recur_vocab_free(vv);
            err->code = RECUR_ENOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
            return RECUR_ENOMEM;
        }
        size_t n = 0;
        for (int i = 0; i < na; i++) n += (size_t)recur_vocab_char_utf8(vocab, i, chars + n);
        for (int i = 0; i < nb; i++) n += (size_t)recur_vocab_char_utf8(vv, i, chars + n);
        recur_vocab_free(vv);
        recur_vocab_free(vocab);
        vocab = NULL;
        rc = recur_vocab_from_text(chars, n, bytes, &vocab, err);
        free(chars);
        if (rc) return rc;
    }
    *out = vocab;
    return RECUR_OK;
}

// The model of --resume, after checking that the flags that fix the
// architecture, when given, agree with it.
static int resume_model(train_cli *c, int bytes_seen, recur_model **out, recur_error *err)
{
    recur_model *m = NULL;
    int rc = recur_model_load(c->resume, &m, err);
    if (rc == RECUR_OK && recur_model_task(m) != RECUR_TASK_LM) {
        snprintf(err->msg, sizeof err->msg, "%.300s is a %s model, not a language model (resume it with its own command)",
                 c->resume, recur_task_name(recur_model_task(m)));
        recur_model_free(m);
        return RECUR_EINVAL;
    }
    if (rc) return rc;
    recur_model_info info;
    recur_model_get_info(m, &info);
    const char *clash = NULL;
    if (train_cli_seen(c, "cell") && info.cell != c->mc.cell) clash = "--cell";
    else if (train_cli_seen(c, "hidden") && info.hidden != c->mc.hidden) clash = "--hidden";
    else if (train_cli_seen(c, "layers") && info.layers != c->mc.layers) clash = "--layers";
    else if (train_cli_seen(c, "embed") && info.embed != c->mc.embed) clash = "--embed";
    else if (train_cli_seen(c, "dropout") && info.dropout != c->mc.dropout) clash = "--dropout";
    else if (train_cli_seen(c, "dropout-in") && info.dropout_in != c->mc.dropout_in) clash = "--dropout-in";
    else if (train_cli_seen(c, "dropout-out") && info.dropout_out != c->mc.dropout_out) clash = "--dropout-out";
    else if (train_cli_seen(c, "variational") && info.variational != c->mc.variational) clash = "--variational";
    else if (train_cli_seen(c, "tie") && info.tie != c->mc.tie) clash = "--tie";
    else if (bytes_seen && !recur_vocab_is_bytes(recur_model_vocab(m))) clash = "--bytes";
    if (clash) {
        snprintf(err->msg, sizeof err->msg, "%s does not match %.300s, a %s with hidden %d and %d layers",
                 clash, c->resume, recur_cell_name(info.cell), info.hidden, info.layers);
        recur_model_free(m);
        return RECUR_EINVAL;
    }
    *out = m;
    return RECUR_OK;
}

int cmd_train(int argc, char **argv)
{
    // A directory of classes (or labelled lines) trains a generator by class.
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--by-class") == 0) return cmd_train_by_class(argc, argv);

    const double t0 = budget_now(); // a --budget counts from here
    train_cli c;
    train_cli_init(&c, "train", "model.safetensors");
    train_cli_model_options(&c);
    const char *nonlin = "tanh", *val_path = NULL, *budget_text = NULL;
    int bytes = 0;
    train_cli_tie_option(&c);
    train_cli_add(&c, (opt){"nonlinearity", OPT_STR, &nonlin, 0, 0, "F", "tanh or relu (rnn only)", 0});
    train_cli_add(&c, (opt){"seq", OPT_INT, &c.tc.seq, 1, 100000, "T", "characters per BPTT window", 0});
    train_cli_add(&c, (opt){"batch", OPT_INT, &c.tc.batch, 1, 100000, "B", "parallel streams over the text", 0});
    train_cli_add(&c, (opt){"val", OPT_STR, &val_path, 0, 0, "FILE", "validation text (default: the end of FILE)", 0});
    train_cli_add(&c, (opt){"val-frac", OPT_DOUBLE, &c.tc.val_frac, 0, 0.9, "X", "fraction of FILE held out for validation, from its end", 0});
    train_cli_add(&c, (opt){"val-max-chars", OPT_LL, &c.tc.val_max_chars, 0, 1e15, "N", "cap on characters per validation pass (0: all)", 0});
    train_cli_add(&c, (opt){"sample-every", OPT_INT, &c.tc.sample_every, 0, 1e9, "N", "steps between progress samples (0: none)", 0});
    train_cli_add(&c, (opt){"sample-len", OPT_INT, &c.tc.sample_len, 1, 100000, "N", "characters per progress sample", 0});
    train_cli_add(&c, (opt){"bytes", OPT_FLAG, &bytes, 0, 0, 0, "a byte vocabulary instead of UTF-8 code points", 0});
    train_cli_add(&c, (opt){"budget", OPT_STR, &budget_text, 0, 0, "TIME", "train the best model this much time allows (90s, 30m, 1.5h): recur measures its speed here, chooses the model, dropout, batch, window and steps, prints why and what reruns it, saves that to OUT's .budget.json and ends in time", 0});
    train_cli_shared_options(&c);
    const char *pos[1];
    int npos, rc = args_parse("train", train_usage, argc, argv, 2, c.o, c.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error("train", "expected one training text FILE");
    if ((rc = train_cli_finish(&c))) return rc;
    if (strcmp(nonlin, "tanh") && strcmp(nonlin, "relu"))
        return usage_error("train", "invalid value for --nonlinearity: '%s' (expected tanh or relu)", nonlin);
    c.mc.relu = strcmp(nonlin, "relu") == 0;
    if (c.mc.relu && c.mc.cell != RECUR_CELL_RNN)
        return usage_error("train", "--nonlinearity relu is only for --cell rnn");
    if (val_path && train_cli_seen(&c, "val-frac"))
        return usage_error("train", "give --val or --val-frac, not both");
    if (val_path) c.tc.val_frac = 0;
    double budget_s = 0;
    if (budget_text && budget_parse(budget_text, &budget_s))
        return usage_error("train", "invalid value for --budget: '%s' (expected a time such as 90s, 30m or 1.5h, at least 10s)", budget_text);
    if (budget_text && (rc = budget_check_flags(&c))) return rc;
    if (train_cli_outputs(&c)) {
        train_cli_free(&c);
        return 1;
    }

    recur_error err = {0};
    recur_text text = {0}, val = {0};
    recur_model *m = NULL;
    recur_vocab *vocab = NULL;
    recur_trainer *t = NULL;
    int status = 1;
    budget_out *bo = NULL;
    budget_args ba;
    if ((rc = recur_text_open(pos[0], &text, &err))) goto done;
    if (val_path && (rc = recur_text_open(val_path, &val, &err))) goto done;
    if (c.resume) {
        if ((rc = resume_model(&c, train_cli_seen(&c, "bytes"), &m, &err))) goto done;
    } else {
        if ((rc = text_vocab(&text, pos[0], &val, val_path, bytes, &vocab, &err))) goto done;
        if (budget_text) {
            ba = (budget_args){budget_s, t0, budget_text, &text, &val, bytes, recur_vocab_size(vocab), argc, argv, pos[0]};
            if (!(bo = calloc(1, sizeof *bo))) {
                rc = RECUR_ENOMEM;
                snprintf(err.msg, sizeof err.msg, "out of memory");
                goto done;
            }
            if (budget_plan(&c, &ba, bo)) goto done;
            c.resume_hint = bo->hint;
        }
        if ((rc = recur_model_new(&c.mc, vocab, c.tc.seed, &m, &err))) goto done;
    }
    if ((rc = recur_trainer_new(m, &c.tc, text.data, text.len, val.data, val.len, &t, &err))) {
        if (rc == RECUR_EVOCAB && c.resume) {
            // The text has a character the resumed model was not trained on.
            char msg[sizeof err.msg];
            snprintf(msg, sizeof msg, "%s%s%.300s of %.150s", val_path ? "" : pos[0], val_path ? "" : ": ",
                     err.msg, c.resume);
            memcpy(err.msg, msg, sizeof msg);
        }
        goto done;
    }
    if ((status = train_cli_start(&c, t))) goto done;
    if (bo && (status = budget_save(&c, &ba, bo))) goto done;
    status = 1;
    recur_model_info info;
    recur_model_get_info(m, &info);
    if (!c.quiet) {
        fprintf(stderr, "recur train: %s, %s, hidden %d, layers %d, %s, vocabulary %d, %zu parameters\n",
                pos[0], recur_cell_name(info.cell), info.hidden, info.layers,
                info.embed ? "embedding" : "one-hot input", info.vocab_size, info.params);
        char drops[96] = "";
        if (info.dropout_in > 0 || info.dropout_out > 0 || info.variational)
            snprintf(drops, sizeof drops, " (in %g, out %g%s)", (double)info.dropout_in,
                     (double)info.dropout_out, info.variational ? ", variational" : "");
        fprintf(stderr, "  seq %d, batch %d, %s lr %g (%s), clip %g (%s), dropout %g%s, seed %llu, threads %d%s\n",
                c.tc.seq, c.tc.batch, c.optim, (double)c.tc.lr, c.schedule, (double)c.tc.clip, c.clip_mode,
                (double)info.dropout, drops, (unsigned long long)c.tc.seed, c.tc.threads, c.resume ? ", resumed" : "");
    }
    if (bo) {
        c.deadline_s = budget_s - (budget_now() - t0) - bo->reserve;
        if (c.deadline_s < 0.1) c.deadline_s = 0.1;
    }
    status = train_cli_run(&c, t, pos[0]);
    if (status) goto done;
    if (c.deadline_hit && access(c.out, F_OK) != 0) {
        // Stopped before any validation wrote a model (or with none): the
        // model as it is now is the run's result.
        if ((rc = recur_model_save(m, c.out, &err))) {
            status = 1;
            goto done;
        }
    }
    recur_model_get_info(m, &info);
    if (!isnan(info.best_val) && access(c.out, F_OK) != 0) {
        // Resumed with another --out, away from the best model's file, and
        // nothing better came: say where the best model is not.
        fprintf(stderr, "recur train: warning: no model was saved to %s: the best one (validation loss %.4f) is in the --out of the run that was resumed\n",
                c.out, info.best_val);
    } else if (!c.quiet) {
        if (!isnan(info.best_val))
            fprintf(stderr, "done: %lld steps; best validation loss %.4f nats/char (%.4f bits/char); model saved to %s; state to %s\n",
                    info.steps, info.best_val, info.best_val / log(2.0), c.out, c.last);
        else if (val_path || c.tc.val_frac > 0)
            fprintf(stderr, "done: %lld steps; no validation loss was finite, so no model was saved to %s; state saved to %s\n",
                    info.steps, c.out, c.last);
        else
            fprintf(stderr, "done: %lld steps; model saved to %s; state to %s\n", info.steps, c.out, c.last);
    }
    if (bo && !c.quiet)
        fprintf(stderr, "--budget %s: %.1f s of %.1f s used (%.1f %%)%s\n", budget_text, budget_now() - t0, budget_s,
                100 * (budget_now() - t0) / budget_s, c.deadline_hit ? ", stopped at the deadline" : "");
done:
    if (status == 1 && (err.msg[0] || rc)) fail("train", &err);
    free(bo);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(vocab);
    recur_text_close(&text);
    recur_text_close(&val);
    train_cli_free(&c);
    return status;
}
