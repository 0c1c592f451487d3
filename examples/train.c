/*
 * train.c - training any task from C: the one way. Only the constructor
 * differs between tasks; the outputs, resuming, the run with its progress
 * events, and the best model are the same calls for every one.
 *
 *   ./train lm       data/tinyshakespeare.txt  lm.safetensors   [--resume]
 *   ./train classify data/names                names.safetensors
 *   ./train tag      data/ud_english_ewt/train.tsv pos.safetensors
 *   ./train seq2seq  pairs.tsv                 s2s.safetensors
 *
 * With --resume it continues from OUT's state file (OUT.last.safetensors),
 * bit for bit as if it had never stopped.
 */
#include <recur.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

// Progress: one line per validation (the task's metric beside the loss).
static int on_event(const recur_train_event *e, void *user)
{
    (void)user;
    if (e->kind == RECUR_EV_START)
        printf("%s: %lld steps over %lld training %s\n", e->task, e->total_steps, e->train_chars, e->unit);
    if (e->kind == RECUR_EV_EVAL) {
        printf("step %lld/%lld  val loss %.4f", e->step, e->total_steps, e->val_loss);
        if (e->metric) printf("  %s %.4f", e->metric, e->val_metric);
        printf("\n");
    }
    return 0; // non-zero stops the run cleanly (and saves the state)
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s lm|classify|tag|seq2seq DATA OUT [--resume]\n", argv[0]);
        return 2;
    }
    const char *task = argv[1], *data = argv[2], *out = argv[3];
    int resume = argc > 4 && strcmp(argv[4], "--resume") == 0;
    recur_error err = {0};
    recur_model_config mc;
    recur_model_config_default(&mc);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.steps = 200;
    tc.eval_every = 50;
    recur_text text = {0};
    recur_vocab *vocab = NULL;
    recur_model *lm = NULL;
    recur_pairs pairs = {0};
    recur_seq2seq *s2s = NULL;
    recur_trainer *t = NULL;
    int rc;

    // 1. The task's constructor: the only call that differs.
    if (!strcmp(task, "lm")) {
        // The language model trains a model you make (or load).
        rc = recur_text_open(data, &text, &err);
        if (!rc) rc = recur_vocab_from_text(text.data, text.len, 0, &vocab, &err);
        if (!rc) rc = recur_model_new(&mc, vocab, tc.seed, &lm, &err);
        if (!rc) rc = recur_trainer_new(lm, &tc, text.data, text.len, NULL, 0, &t, &err);
    } else if (!strcmp(task, "classify") || !strcmp(task, "tag")) {
        // The applications read their data and make their model.
        mc.cell = RECUR_CELL_GRU;
        mc.layers = 1;
        mc.embed = 16;
        mc.bidirectional = 1;
        tc.batch = 16;
        tc.val_frac = 0.1;
        rc = !strcmp(task, "classify") ? recur_trainer_new_classify(data, &mc, &tc, &t, &err)
                                       : recur_trainer_new_tag(data, NULL, 0, &mc, &tc, &t, &err);
    } else if (!strcmp(task, "seq2seq")) {
        recur_seq2seq_config sc;
        recur_seq2seq_config_default(&sc);
        sc.attention = 1;
        tc.lr = 5e-3f;
        tc.val_frac = 0.1;
        rc = recur_pairs_read(data, &pairs, &err);
        if (!rc) rc = recur_seq2seq_new(&sc, pairs.pairs, pairs.n, tc.seed, &s2s, &err);
        if (!rc) rc = recur_trainer_new_seq2seq(s2s, &tc, pairs.pairs, pairs.n, NULL, 0, &t, &err);
    } else {
        fprintf(stderr, "unknown task %s\n", task);
        return 2;
    }

    // 2. The same for every task: where the best model and the state go,
    //    resuming, running, and the best model back in memory.
    char last[4096];
    if (!rc) rc = recur_state_path(out, last, sizeof last) ? RECUR_EINVAL : 0;
    if (!rc) rc = recur_trainer_set_outputs(t, out, last, &err);
    if (!rc && resume) rc = recur_trainer_resume(t, last, &err);
    if (!rc) rc = recur_trainer_run(t, on_event, NULL, &err);
    if (!rc) rc = recur_trainer_restore_best(t, &err);
    if (!rc) printf("best model in %s, state in %s (step %lld)\n", out, last, recur_trainer_step(t));
    if (rc) fprintf(stderr, "train: %s\n", err.msg[0] ? err.msg : recur_strerror(rc));

    recur_trainer_free(t);
    recur_model_free(lm);
    recur_vocab_free(vocab);
    recur_text_close(&text);
    recur_seq2seq_free(s2s);
    recur_pairs_free(&pairs);
    return rc ? 1 : 0;
}
