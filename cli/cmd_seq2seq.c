/*
 * cmd_seq2seq.c - `recur seq2seq train|predict|eval|generate`: an
 * encoder-decoder over source<TAB>target lines, trained through the shared
 * run of every train command (train_cli.c: resume, Ctrl-C, progress, --log);
 * translation of stdin line by line; exact match on a held-out file; and
 * the generated tasks (reversal, addition) to try it on. Uses only recur.h.
 */
#include "train_cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    train_cli c;
    train_cli_init(&c, "seq2seq train", NULL);
    recur_seq2seq_config mc;
    recur_seq2seq_config_default(&mc);
    const char *cell = "lstm", *val_path = NULL;
    recur_train_config *tc = &c.tc;
    tc->batch = 32;
    tc->lr = 5e-3f;
    tc->lr_decay = 0.5f;
    tc->epochs = 10;
    tc->val_frac = 0.1;
    tc->eval_every = 0;
    tc->sample_every = 0;
    train_cli_add(&c, (opt){"attention", OPT_FLAG, &mc.attention, 0, 0, 0, "Luong general attention over the encoder's outputs", 0});
    train_cli_add(&c, (opt){"cell", OPT_STR, &cell, 0, 0, "NAME", "rnn, lstm or gru (encoder and decoder)", 0});
    train_cli_add(&c, (opt){"hidden", OPT_INT, &mc.hidden, 1, 65536, "H", "units per layer (encoder and decoder)", 0});
    train_cli_add(&c, (opt){"layers", OPT_INT, &mc.layers, 1, 64, "L", "stacked recurrent layers (encoder and decoder)", 0});
    train_cli_add(&c, (opt){"embed", OPT_INT, &mc.embed, 0, 65536, "E", "learned embedding size; 0 = one-hot input", 0});
    train_cli_add(&c, (opt){"dropout", OPT_FLOAT, &mc.dropout, 0, 0.99, "P", "dropout between layers while training", 0});
    train_cli_add(&c, (opt){"dropout-in", OPT_FLOAT, &mc.dropout_in, 0, 0.99, "P", "dropout on the input embeddings' values (needs --embed)", 0});
    train_cli_add(&c, (opt){"dropout-out", OPT_FLOAT, &mc.dropout_out, 0, 0.99, "P", "dropout on the decoder's output, before the head", 0});
    train_cli_add(&c, (opt){"variational", OPT_FLAG, &mc.variational, 0, 0, 0, "the same dropout mask at every step of a batch (per row), not a new one per step", 0});
    train_cli_add(&c, (opt){"batch", OPT_INT, &tc->batch, 1, 100000, "B", "pairs per step", 0});
    train_cli_add(&c, (opt){"val", OPT_STR, &val_path, 0, 0, "FILE", "validation pairs (default: --val-frac of FILE)", 0});
    train_cli_add(&c, (opt){"val-frac", OPT_DOUBLE, &tc->val_frac, 0, 0.9, "X", "fraction of FILE's pairs held out for validation", 0});
    train_cli_shared_options(&c);
    const char *pos[1];
    int npos, rc = args_parse(c.cmd, train_usage, argc, argv, 3, c.o, c.n, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos != 1) return usage_error(c.cmd, "expected one FILE of source<TAB>target lines");
    if ((rc = train_cli_finish(&c))) return rc;
    int ci = recur_cell_parse(cell);
    if (ci < 0) return usage_error(c.cmd, "invalid value for --cell: '%s' (expected rnn, lstm or gru)", cell);
    mc.cell = (recur_cell)ci;
    if (val_path && train_cli_seen(&c, "val-frac"))
        return usage_error(c.cmd, "give --val or --val-frac, not both");
    if (val_path) tc->val_frac = 0;
    if (train_cli_outputs(&c)) {
        train_cli_free(&c);
        return 1;
    }

    recur_error err = {0};
    recur_pairs pairs = {0}, val = {0};
    recur_seq2seq *m = NULL;
    recur_trainer *t = NULL;
    recur_pair *all = NULL;
    int status = 1;
    if ((rc = recur_pairs_read(pos[0], &pairs, &err))) goto done;
    if (val_path && (rc = recur_pairs_read(val_path, &val, &err))) goto done;
    // The vocabularies cover the training and the validation pairs.
    if (!(all = malloc((pairs.n + val.n) * sizeof *all))) {
        rc = err.code = RECUR_ENOMEM;
        snprintf(err.msg, sizeof err.msg, "out of memory");
        goto done;
    }
    memcpy(all, pairs.pairs, pairs.n * sizeof *all);
    if (val.n) memcpy(all + pairs.n, val.pairs, val.n * sizeof *all);
    if ((rc = recur_seq2seq_new(&mc, all, pairs.n + val.n, tc->seed, &m, &err))) {
        recur_error_prefix(&err, pos[0]);
        goto done;
    }
    if (tc->schedule == RECUR_SCHED_STEP && tc->lr_decay_every == 0 && tc->lr_decay < 1) {
        // By default the learning rate halves every quarter of the run: the
        // steps per epoch are the pairs left for training (as the trainer
        // splits them) over the batch.
        double k = val.n ? 0 : floor(tc->val_frac * (double)pairs.n + 0.5);
        if (tc->val_frac > 0 && k < 1) k = 1;
        if (k > (double)pairs.n - 1) k = (double)pairs.n - 1;
        double per_epoch = ceil(((double)pairs.n - (k > 0 ? k : 0)) / tc->batch);
        double total = tc->steps > 0 ? (double)tc->steps : ceil(tc->epochs * per_epoch);
        double q = ceil(total / 4);
        tc->lr_decay_every = q < 1 ? 1 : (q > 1e9 ? 1000000000 : (int)q);
    }
    if ((rc = recur_trainer_new_seq2seq(m, tc, pairs.pairs, pairs.n, val.pairs, val.n, &t, &err))) {
        recur_error_prefix(&err, pos[0]);
        goto done;
    }
    if ((status = train_cli_start(&c, t))) goto done;
    status = 1;
    recur_seq2seq_info info;
    recur_seq2seq_get_info(m, &info);
    if (!c.quiet) {
        fprintf(stderr, "recur seq2seq train: %s, %s, hidden %d, layers %d, %s, attention %s, vocabularies %d -> %d, %zu parameters\n",
                pos[0], recur_cell_name(mc.cell), mc.hidden, mc.layers,
                mc.embed ? "embedding" : "one-hot input", mc.attention ? "on" : "off", info.src_vocab,
                info.tgt_vocab, info.params);
        fprintf(stderr, "  batch %d, %s lr %g (%s, x%g every %d steps), clip %g (%s), dropout %g, seed %llu, threads %d%s\n",
                tc->batch, c.optim, (double)tc->lr, c.schedule, (double)tc->lr_decay, tc->lr_decay_every,
                (double)tc->clip, c.clip_mode, (double)mc.dropout, (unsigned long long)tc->seed, tc->threads,
                c.resume ? ", resumed" : "");
    }
    status = train_cli_run(&c, t, pos[0]);
    if (status) goto done;
    recur_seq2seq_get_info(m, &info);
    if (!c.quiet) {
        if (!isnan(info.best_exact))
            fprintf(stderr, "done: %lld steps; best validation exact match %.2f%% (loss %.4f nats/char); model saved to %s; state to %s\n",
                    info.steps, 100 * info.best_exact, info.best_val, c.out, c.last);
        else
            fprintf(stderr, "done: %lld steps; no validation pairs; model saved to %s; state to %s\n", info.steps, c.out, c.last);
    }
done:
    if (status == 1 && rc) fail(c.cmd, &err);
    recur_trainer_free(t);
    recur_seq2seq_free(m);
    recur_pairs_free(&pairs);
    recur_pairs_free(&val);
    free(all);
    train_cli_free(&c);
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
