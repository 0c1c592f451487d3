/*
 * fuzz_state.c - libFuzzer target for resuming every task's training from a
 * state file it did not write. The bytes are parsed as a checkpoint; for a
 * state of an application (classify, tag, condlm) the target writes data
 * that makes the same model (its labels, and texts of its characters), for
 * a seq2seq state it takes the file's own model, and then it builds the
 * task's trainer, resumes from the bytes (optimizer moments, epoch order,
 * position, generators, best scores: whatever the file holds) and takes a
 * step. (fuzz_checkpoint does the same for language models.)
 *
 * Besides crashes, leaks and undefined behaviour, it checks that every
 * refusal comes with a one-line message and that a run ends in one of the
 * statuses a run may end in.
 *
 * Build and run: .ci/fuzz.sh. tests/test_reliability.c includes this file
 * (with RECUR_FUZZ_NO_MAIN) to replay fuzz/corpus/state. Seeds:
 * fuzz/make_state_seeds.sh.
 */
#include "formats/checkpoint.h"
#include "tasks/seq2seq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FUZZ_ASSERT
#define FUZZ_ASSERT(c)                                                                       \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)
#endif

/* Inputs that got as far as a resumed step (the corpus replay checks that
 * every seed does: the seeds reach the deepest code, not a refusal). */
static int fuzz_state_resumed;

static void state_check_message(const recur_error *err)
{
    FUZZ_ASSERT(err->msg[0] != 0);
    FUZZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

static int state_stop_after_first(const recur_train_event *e, void *user)
{
    (void)user;
    return e->kind == RECUR_EV_STEP || e->kind == RECUR_EV_SKIP;
}

// Resume t from the bytes (written to a file: resume reads a path) and step once.
static void state_resume_and_step(recur_trainer *t, const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_fuzz_task_state.%ld", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    int ok = fwrite(data, 1, size, fp) == size;
    ok &= fclose(fp) == 0;
    recur_error err = {0};
    if (ok) {
        if (recur_trainer_resume(t, path, &err) == 0) {
            fuzz_state_resumed++;
            int rc = recur_trainer_run(t, state_stop_after_first, NULL, &err);
            FUZZ_ASSERT(rc == RECUR_EINTERRUPT || rc == RECUR_ENUMERIC || rc == RECUR_OK);
            if (rc == RECUR_ENUMERIC) state_check_message(&err);
        } else {
            state_check_message(&err);
        }
    }
    unlink(path);
}

static void state_config(const st_file *f, recur_train_config *tc)
{
    recur_train_config_default(tc);
    long batch = 2;
    if (meta_int(f, "recur.state.batch", 1, 8, 1, 2, &batch, NULL)) batch = 2;
    tc->batch = (int)batch;
    tc->val_frac = 0;
    tc->sample_every = 0;
    tc->steps = 1000000;
    tc->threads = 1;
    const char *on = st_meta(f, "recur.state.optim");
    if (on && !strcmp(on, "sgd")) tc->optim = RECUR_SGD;
    else if (on && !strcmp(on, "adagrad")) tc->optim = RECUR_ADAGRAD;
    else if (on && !strcmp(on, "rmsprop")) tc->optim = RECUR_RMSPROP;
}

// The training examples a state's epoch order covers (3 when it has none).
static size_t state_examples(const st_file *f)
{
    const st_tensor *o = st_find(f, "train.order");
    if (!o || o->nelem < 1 || o->nelem > 200) return 3;
    return (size_t)o->nelem;
}

// Characters of v that can stand in a line of a TSV or CoNLL file, as UTF-8.
static size_t state_chars(const recur_vocab *v, const char *skip, char *out)
{
    size_t k = 0;
    for (int i = 0; i < recur_vocab_size(v); i++) {
        uint32_t c = recur_vocab_char(v, i);
        if (c == 0xFFFD || c < 0x20 || c == 0x7F || (c < 128 && strchr(skip, (int)c))) continue;
        k += (size_t)recur_vocab_char_utf8(v, i, out + k);
    }
    out[k] = 0;
    return k;
}

static int state_usable_label(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) return 0;
    return 1;
}

// Data that gives the model of an application state: its labels, and
// texts holding its characters; then that task's trainer, resumed.
static void state_try_app(const recur_model *m, const st_file *f, const uint8_t *data, size_t size)
{
    recur_model_info info;
    recur_model_get_info(m, &info);
    if (info.params > 20000 || info.vocab_size > 200 || info.hidden > 32 || m->nlabels > 20 || m->nlabels < 1)
        return;
    for (int i = 0; i < m->nlabels; i++)
        if (!state_usable_label(m->labels[i]) || strchr(m->labels[i], ' ') || !m->labels[i][0]) return;
    char *chars = malloc(4 * (size_t)info.vocab_size + 1);
    if (!chars) return;
    size_t nc = state_chars(m->vocab, m->task == RECUR_TASK_TAG ? " #" : "", chars);
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_fuzz_task_data.%ld", (long)getpid());
    FILE *fp = fopen(path, "w");
    if (!fp || nc == 0) {
        if (fp) fclose(fp);
        free(chars);
        return;
    }
    // As many examples as the state's epoch order has (else it is refused
    // before anything deeper is read).
    const size_t n = state_examples(f);
    if (m->task == RECUR_TASK_TAG) {
        // Sentence 1: a token per tag (in the model's order; token i is the
        // first character i+1 times, so no other character comes in) and
        // one token of every character; then n-1 sentences of that token.
        int first = 1;
        while (first < (int)nc && ((unsigned char)chars[first] & 0xC0) == 0x80) first++;
        for (int i = 0; i < m->nlabels; i++) {
            for (int k = 0; k <= i; k++) fwrite(chars, 1, (size_t)first, fp);
            fprintf(fp, "\t%s\n", m->labels[i]);
        }
        fprintf(fp, "%s\t%s\n\n", chars, m->labels[0]);
        for (size_t i = 1; i < n; i++) fprintf(fp, "%s\t%s\n\n", chars, m->labels[i % (size_t)m->nlabels]);
    } else {
        // n different texts (the characters once, twice, ...), the classes
        // taking turns in the model's order, each at least once.
        size_t total = n > (size_t)m->nlabels ? n : (size_t)m->nlabels;
        for (size_t e = 0; e < total; e++) {
            fprintf(fp, "%s\t", m->labels[e % (size_t)m->nlabels]);
            for (size_t r = 0; r <= e / (size_t)m->nlabels; r++) fputs(chars, fp);
            fputc('\n', fp);
        }
    }
    int ok = fclose(fp) == 0;
    free(chars);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = info.cell;
    mc.relu = info.relu;
    mc.hidden = info.hidden;
    mc.layers = info.layers;
    mc.embed = info.embed;
    mc.dropout = info.dropout;
    mc.bidirectional = m->D == 2;
    recur_train_config tc;
    state_config(f, &tc);
    recur_trainer *t = NULL;
    recur_error err = {0};
    int rc = RECUR_EINVAL;
    if (ok) {
        if (m->task == RECUR_TASK_CLASSIFY) rc = recur_trainer_new_classify(path, &mc, &tc, &t, &err);
        else if (m->task == RECUR_TASK_CONDLM) rc = recur_trainer_new_condlm(path, &mc, &tc, &t, &err);
        else rc = recur_trainer_new_tag(path, NULL, 0, &mc, &tc, &t, &err);
    }
    if (rc == 0) state_resume_and_step(t, data, size);
    recur_trainer_free(t);
    unlink(path);
}

// A seq2seq state resumes into a trainer of the file's own model, over pairs
// of its characters.
static void state_try_seq2seq(const st_file *f, const uint8_t *data, size_t size)
{
    recur_seq2seq *m = NULL;
    recur_error err = {0};
    if (s2s_read(f, &m, &err) != 0) {
        state_check_message(&err);
        return;
    }
    recur_seq2seq_info info;
    recur_seq2seq_get_info(m, &info);
    char *src = malloc(4 * (size_t)info.src_vocab + 1), *tgt = malloc(4 * (size_t)info.tgt_vocab + 1);
    if (info.params <= 20000 && info.src_vocab <= 200 && info.tgt_vocab <= 200 && info.cfg.hidden <= 32 && src && tgt) {
        // Every character but the reserved ones.
        size_t ns = 0, nt = 0;
        for (int i = 0; i < m->enc->vocab->n; i++) {
            uint32_t c = m->enc->vocab->chars[i];
            if (c != S2S_BOS && c != S2S_EOS && c != S2S_UNK) ns += (size_t)recur_vocab_char_utf8(m->enc->vocab, i, src + ns);
        }
        for (int i = 0; i < m->dec->vocab->n; i++) {
            uint32_t c = m->dec->vocab->chars[i];
            if (c != S2S_BOS && c != S2S_EOS) nt += (size_t)recur_vocab_char_utf8(m->dec->vocab, i, tgt + nt);
        }
        const size_t n = state_examples(f);
        recur_pair pairs[200];
        for (size_t i = 0; i < n; i++) pairs[i] = (recur_pair){src, tgt, ns, i % 2 ? nt : (nt ? 1 : 0)};
        recur_train_config tc;
        state_config(f, &tc);
        recur_trainer *t = NULL;
        if (recur_trainer_new_seq2seq(m, &tc, pairs, n, NULL, 0, &t, &err) == 0)
            state_resume_and_step(t, data, size);
        else
            state_check_message(&err);
        recur_trainer_free(t);
    }
    free(src);
    free(tgt);
    recur_seq2seq_free(m);
}

static int fuzz_state_one(const uint8_t *data, size_t size)
{
    st_file *f = NULL;
    recur_error err = {0};
    if (st_parse(data, size, &f, &err) != 0) {
        state_check_message(&err);
        return 0;
    }
    const char *task = st_meta(f, "recur.task");
    if (task && !strcmp(task, "seq2seq")) {
        state_try_seq2seq(f, data, size);
    } else {
        recur_model *m = NULL;
        if (checkpoint_read_model(f, &m, &err) == 0) {
            if (recur_model_task(m) != RECUR_TASK_LM) state_try_app(m, f, data, size);
        } else {
            state_check_message(&err);
        }
        recur_model_free(m);
    }
    st_free(f);
    return 0;
}

#ifndef RECUR_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_state_one(data, size);
}
#endif
