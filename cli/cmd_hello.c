/*
 * cmd_hello.c - the founding text, runnable. `recur hello` trains the
 * lecture's example (vocabulary {h,e,l,o}, one-hot input, a vanilla RNN with
 * 3 hidden units) on "hello" by backpropagation through time and shows what
 * it learned; `recur gradcheck` checks every gradient of a small random
 * model against central differences.
 */
#include "cli.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- hello */

typedef struct hello_state {
    int every;
    double loss;
} hello_state;

static int hello_event(const recur_train_event *e, void *user)
{
    hello_state *h = user;
    if (e->kind != RECUR_EV_STEP) return 0;
    h->loss = e->train_loss;
    if (e->step == 1 || e->step % h->every == 0)
        printf("step %4lld  loss %.4f\n", e->step, e->train_loss);
    return 0;
}

int cmd_hello(int argc, char **argv)
{
    long long steps = 300;
    uint64_t seed = 1;
    opt o[] = {
        {"steps", OPT_LL, &steps, 1, 1e7, "N", "training steps", 0},
        {"seed", OPT_U64, &seed, 0, 0, "S", "random seed for the initial weights", 0},
    };
    const char *pos[1];
    int npos, rc = args_parse("hello",
                              "usage: recur hello [options]\n\n"
                              "The founding example: the vocabulary {h,e,l,o}, one-hot input, and a\n"
                              "vanilla RNN with 3 hidden units, h_t = tanh(W_hh h_{t-1} + W_xh x_t + b),\n"
                              "y_t = W_hy h_t + b_y, trained on 'hello' by backpropagation through time\n"
                              "(inputs h,e,l,l; targets e,l,l,o). Then it shows, step by step, the\n"
                              "input, the predicted next character and its probability, and the four\n"
                              "characters it generates greedily after 'h'.",
                              argc, argv, 2, o, 2, pos, 0, &npos);
    if (rc) return rc == 1 ? 0 : 2;

    const char *word = "hello";
    recur_error err = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *t = NULL;
    recur_sampler *s = NULL;
    int status = 1;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 3;
    mc.layers = 1;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4;
    tc.batch = 1;
    tc.lr = 0.1f;
    tc.steps = steps;
    tc.val_frac = 0;
    tc.seed = seed;
    if ((rc = recur_vocab_from_text(word, 5, 0, &v, &err))) goto done;
    if ((rc = recur_model_new(&mc, v, seed, &m, &err))) goto done;
    if ((rc = recur_trainer_new(m, &tc, word, 5, NULL, 0, &t, &err))) goto done;

    printf("vocabulary {h,e,l,o}, one-hot input; a vanilla RNN with 3 hidden units\n"
           "training on 'hello': inputs h,e,l,l -> targets e,l,l,o (Adam, lr %g)\n",
           (double)tc.lr);
    hello_state hs = {steps >= 10 ? (int)(steps / 10) : 1, NAN};
    if ((rc = recur_trainer_run(t, hello_event, &hs, &err))) goto done;
    printf("trained: loss %.4f nats/char after %lld steps\n\n", hs.loss, steps);

    // Teacher-forced: after each prefix of "hell", what comes next?
    printf("input  predicted  probability\n");
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.temperature = 0;
    for (int i = 1; i <= 4; i++) {
        recur_sampler_free(s);
        s = NULL;
        char c[4];
        int n;
        if ((rc = recur_sampler_new(m, &sc, &s, &err)) ||
            (rc = recur_sampler_prime(s, word, (size_t)i, &err)) ||
            (rc = recur_sampler_next(s, c, &n, &err)))
            goto done;
        printf("  %c      %.*s          %.3f\n", word[i - 1], n, c, (double)recur_sampler_last_prob(s));
    }

    // Free-running: prime with 'h' and let the model speak four characters.
    char said[17];
    int len = 0;
    recur_sampler_free(s);
    s = NULL;
    if ((rc = recur_sampler_new(m, &sc, &s, &err)) || (rc = recur_sampler_prime(s, "h", 1, &err)))
        goto done;
    for (int i = 0; i < 4; i++) {
        int n;
        if ((rc = recur_sampler_next(s, said + len, &n, &err))) goto done;
        len += n;
    }
    printf("\nafter 'h' the model says: %.*s\n", len, said);
    status = 0;
done:
    if (status) fail("hello", &err);
    recur_sampler_free(s);
    recur_trainer_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
    return status;
}

/* ---------------------------------------------------------------- gradcheck */

int cmd_gradcheck(int argc, char **argv)
{
    const char *cell = "rnn", *nonlin = "tanh";
    int vocab = 7, T = 5, B = 3;
    double tol = 1e-2;
    uint64_t seed = 1;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 6;
    opt o[] = {
        {"cell", OPT_STR, &cell, 0, 0, "NAME", "rnn, lstm or gru", 0},
        {"nonlinearity", OPT_STR, &nonlin, 0, 0, "F", "tanh or relu (rnn only)", 0},
        {"hidden", OPT_INT, &mc.hidden, 1, 256, "H", "units per layer", 0},
        {"layers", OPT_INT, &mc.layers, 1, 8, "L", "stacked layers", 0},
        {"embed", OPT_INT, &mc.embed, 0, 256, "E", "embedding size (0: one-hot)", 0},
        {"dropout", OPT_FLOAT, &mc.dropout, 0, 0.9, "P", "dropout between layers (a fixed mask)", 0},
        {"bidirectional", OPT_FLAG, &mc.bidirectional, 0, 0, 0, "two directions per layer (rows of random lengths)", 0},
        {"outputs", OPT_INT, &mc.outputs, 0, 1000, "O", "head outputs (0: the vocabulary, a language model)", 0},
        {"cond", OPT_INT, &mc.cond, 0, 1000, "C", "conditioning classes fed at every step", 0},
        {"vocab", OPT_INT, &vocab, 2, 1000, "V", "vocabulary size", 0},
        {"seq", OPT_INT, &T, 1, 1000, "T", "window length", 0},
        {"batch", OPT_INT, &B, 1, 1000, "B", "streams", 0},
        {"tolerance", OPT_DOUBLE, &tol, 0, 1, "X", "fail if any tensor's worst relative error exceeds X", 0},
        {"seed", OPT_U64, &seed, 0, 0, "S", "random seed", 0},
    };
    const char *pos[1];
    int npos, rc = args_parse("gradcheck",
                              "usage: recur gradcheck [options]\n\n"
                              "Builds a small random model and window (non-zero initial state) and\n"
                              "compares the analytic gradient of every parameter tensor with central\n"
                              "differences, (L(w+eps) - L(w-eps)) / 2eps. Prints the worst relative\n"
                              "error |a-n|/max(|a|,|n|) per tensor; exits 1 if one exceeds --tolerance.",
                              argc, argv, 2, o, (int)(sizeof o / sizeof o[0]), pos, 0, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    int ci = recur_cell_parse(cell);
    if (ci < 0) return usage_error("gradcheck", "invalid value for --cell: '%s' (expected rnn, lstm or gru)", cell);
    mc.cell = (recur_cell)ci;
    if (strcmp(nonlin, "tanh") && strcmp(nonlin, "relu"))
        return usage_error("gradcheck", "invalid value for --nonlinearity: '%s'", nonlin);
    mc.relu = strcmp(nonlin, "relu") == 0;
    if (mc.relu && mc.cell != RECUR_CELL_RNN)
        return usage_error("gradcheck", "--nonlinearity relu is only for --cell rnn");

    recur_gradcheck_row rows[4 * 2 * 8 + 3]; // --layers is at most 8
    int n = 0;
    recur_error err = {0};
    if ((rc = recur_gradcheck(&mc, vocab, T, B, seed, rows, (int)(sizeof rows / sizeof rows[0]), &n, &err)))
        return fail("gradcheck", &err);
    printf("%s, hidden %d, layers %d, vocab %d, T %d, B %d%s\n", cell, mc.hidden, mc.layers, vocab, T, B,
           mc.embed ? ", embedding" : ", one-hot");
    printf("%-22s %8s  %s\n", "tensor", "checked", "worst relative error");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int ok = rows[i].max_rel <= tol;
        bad += !ok;
        printf("%-22s %8d  %.3e%s\n", rows[i].name, rows[i].checked, rows[i].max_rel, ok ? "" : "  FAIL");
    }
    printf("%s\n", bad ? "FAILED" : "ok");
    if (bad) fprintf(stderr, "recur gradcheck: %d tensor%s exceed the tolerance %g\n", bad, bad == 1 ? "" : "s", tol);
    return bad ? 1 : 0;
}
