/*
 * fuzz_entry.c - libFuzzer target for what happens AFTER a file loads
 * (issue #17): a well-formed checkpoint or training state of the wrong kind
 * must be refused by every entry point, and one of the right kind must run.
 * The input is a file; it is loaded as a model (checkpoint_read_model) and
 * as a seq2seq model (s2s_read), and whatever loads is handed to every
 * entry point for a few steps of input of its own characters:
 *
 *   recur_eval_text, recur_sampler_new + prime + next, recur_classify,
 *   recur_tag, recur_tag_eval is the same path as recur_tag (not run: it
 *   reads a file), recur_seq2seq_predict (greedy and beam), recur_seq2seq_eval,
 *   and recur_trainer_new + recur_trainer_resume (the same bytes as a
 *   state) + recur_trainer_run for 2 steps; and for a model of another
 *   kind, a language model of its shape resumed from its bytes (refused).
 *
 * Properties (besides no crash, leak or undefined behaviour): an entry point
 * succeeds exactly when the model is of a kind it takes (model_check_kind),
 * and every refusal is RECUR_EINVAL (or the error the input explains, e.g. a
 * character outside the vocabulary) with a one-line message.
 *
 * Build and run: .ci/fuzz.sh (seeds: fuzz/corpus/checkpoint, a model and a
 * state of every kind, and fuzz/corpus/entry, this target's findings).
 * tests/test_reliability.c includes this file (RECUR_FUZZ_NO_MAIN) and
 * replays both directories.
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

static void entry_message(const recur_error *err)
{
    FUZZ_ASSERT(err->msg[0] != 0);
    FUZZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

// rc from an entry point that takes the kinds in accept: a model of another
// kind is refused with RECUR_EINVAL and a message naming what it is (its
// task, or "language model"). (The kinds an entry point takes are the
// model_check_kind masks below; success on a model of the right kind is
// asserted where the call cannot fail for any other reason.)
static void entry_expect(const recur_model *m, unsigned accept, int rc, const recur_error *err)
{
    int kind_ok = model_check_kind(m, accept, "x", NULL) == 0;
    if (!kind_ok) {
        FUZZ_ASSERT(rc == RECUR_EINVAL);
        FUZZ_ASSERT(strstr(err->msg, recur_task_name(m->task)) != NULL ||
                    strstr(err->msg, "language model") != NULL);
    }
    if (rc) entry_message(err);
}

// count characters of v, cycling through its ids from first.
static char *entry_text(const recur_vocab *v, int first, size_t count, size_t *len)
{
    int n = recur_vocab_size(v);
    char *s = malloc(count * 4 + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < count; i++) {
        char c[4];
        int l = recur_vocab_char_utf8(v, (int)(((size_t)first + i) % (size_t)n), c);
        memcpy(s + k, c, (size_t)l);
        k += (size_t)l;
    }
    s[k] = 0;
    *len = k;
    return s;
}

static int entry_stop_after_two(const recur_train_event *e, void *user)
{
    int *steps = user;
    return (e->kind == RECUR_EV_STEP || e->kind == RECUR_EV_SKIP) && ++*steps >= 2;
}

static void entry_train(recur_model *m, const uint8_t *data, size_t size)
{
    recur_error err = {0};
    size_t len = 0;
    char *text = entry_text(m->vocab, 0, 64, &len);
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_fuzz_entry.%ld", (long)getpid());
    FILE *fp = text ? fopen(path, "wb") : NULL;
    int ok = fp && fwrite(data, 1, size, fp) == size;
    if (fp) ok &= fclose(fp) == 0;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4;
    tc.batch = 2;
    tc.val_frac = 0;
    tc.sample_every = 0;
    tc.steps = 1000;
    recur_trainer *t = NULL;
    if (ok) {
        int rc = recur_trainer_new(m, &tc, text, len, NULL, 0, &t, &err);
        entry_expect(m, MODEL_KIND_LM, rc, &err);
        if (rc == 0) {
            // The same bytes as a state: its window, optimizer or kind may
            // differ from this trainer's; any refusal must say why.
            rc = recur_trainer_resume(t, path, &err);
            if (rc) entry_message(&err);
            int steps = 0;
            rc = recur_trainer_run(t, entry_stop_after_two, &steps, &err);
            FUZZ_ASSERT(rc == RECUR_EINTERRUPT || rc == RECUR_ENUMERIC || rc == RECUR_OK);
            if (rc == RECUR_ENUMERIC) entry_message(&err);
        }
    }
    recur_trainer_free(t);
    t = NULL;
    // The attack of #17: a language model of this one's shape (cell, H, L,
    // E, vocabulary) resumed from this file. A state of any other kind must
    // be refused, never resumed (its head would be indexed by character).
    recur_model *lm = NULL;
    recur_model_config c = m->cfg;
    c.outputs = c.cond = c.bidirectional = 0;
    if (ok && model_check_kind(m, MODEL_KIND_LM, "x", NULL) != 0 && model_alloc(&c, m->vocab, &lm, NULL) == 0 &&
        recur_trainer_new(lm, &tc, text, len, NULL, 0, &t, &err) == 0) {
        int rc = recur_trainer_resume(t, path, &err);
        FUZZ_ASSERT(rc != RECUR_OK);
        entry_message(&err);
    }
    recur_trainer_free(t);
    recur_model_free(lm);
    if (fp) unlink(path);
    free(text);
}

static void entry_model(recur_model *m, const uint8_t *data, size_t size)
{
    recur_model_info info;
    recur_model_get_info(m, &info);
    // Small models only: the point is what a file can say, not how long a big one takes.
    if (info.params > 20000 || info.vocab_size > 300 || info.hidden > 64) return;
    recur_error err = {0};
    size_t len = 0;
    char *text = entry_text(m->vocab, 0, 24, &len);
    if (!text) return;

    recur_eval_result r;
    int rc = recur_eval_text(m, text, len, 0, 1, &r, &err);
    entry_expect(m, MODEL_KIND_LM, rc, &err);
    if (rc == 0) FUZZ_ASSERT(r.chars == 23);

    recur_sampler *s = NULL;
    rc = recur_sampler_new(m, NULL, &s, &err);
    entry_expect(m, MODEL_KIND_LM | MODEL_KIND_CONDLM, rc, &err);
    if (rc == 0) {
        if (m->Cc) FUZZ_ASSERT(recur_sampler_set_class(s, m->Cc - 1, &err) == 0);
        char c[4];
        int n = recur_vocab_char_utf8(m->vocab, 0, c);
        FUZZ_ASSERT(recur_sampler_prime(s, c, (size_t)n, &err) == 0);
        for (int i = 0; i < 6; i++) {
            FUZZ_ASSERT(recur_sampler_next(s, c, &n, &err) == 0);
            FUZZ_ASSERT(n >= 1 && n <= 4);
        }
    }
    recur_sampler_free(s);

    float *probs = malloc(sizeof(float) * (size_t)(m->O > 0 ? m->O : 1));
    if (probs) {
        rc = recur_classify(m, text, len, probs, &err);
        entry_expect(m, MODEL_KIND_CLASSIFY, rc, &err);
        if (rc == 0) {
            double sum = 0;
            for (int j = 0; j < m->O; j++) sum += probs[j];
            // A file may hold Inf or NaN weights: then the probabilities are NaN, never out of bounds.
            FUZZ_ASSERT(sum != sum || (sum > 0.999 && sum < 1.001));
        }
        free(probs);
    }

    // Three tokens of the model's own characters.
    const char *tok[3] = {text, text + 1, text + 2};
    size_t lens[3] = {1, 1, 1};
    int tags[3] = {-1, -1, -1};
    int single = 1; // one byte per character only: the tokens above split text by bytes
    for (size_t i = 0; i < len && i < 3; i++) single &= (unsigned char)text[i] < 0x80;
    if (single && len >= 3) {
        rc = recur_tag(m, tok, lens, 3, tags, &err);
        if (rc != RECUR_EVOCAB) entry_expect(m, MODEL_KIND_TAG, rc, &err); // a tagger without a space
        if (rc == 0)
            for (int i = 0; i < 3; i++) FUZZ_ASSERT(tags[i] >= 0 && tags[i] < m->O);
    }
    free(text);
    entry_train(m, data, size);
}

static void entry_seq2seq(const recur_seq2seq *s)
{
    recur_seq2seq_info info;
    recur_seq2seq_get_info(s, &info);
    if (info.params > 40000 || info.src_vocab > 300 || info.tgt_vocab > 300) return;
    recur_error err = {0};
    size_t len = 0, tlen = 0;
    char *src = entry_text(s->enc->vocab, 0, 5, &len), *tgt = entry_text(s->dec->vocab, 2, 3, &tlen);
    if (src && tgt) {
        char out[4 * 12 + 1];
        size_t out_len = 0;
        for (int beam = 1; beam <= 3; beam += 2) {
            recur_seq2seq_decode opt;
            recur_seq2seq_decode_default(&opt);
            opt.beam = beam;
            opt.max_len = 12;
            int rc = recur_seq2seq_predict(s, src, len, &opt, out, sizeof out, &out_len, &err);
            if (rc) entry_message(&err);
            else FUZZ_ASSERT(out_len <= 4 * 12 && strlen(out) == out_len);
        }
        recur_pair p[2] = {{src, tgt, len, tlen}, {src + 1, tgt, len - 1, tlen}};
        recur_seq2seq_decode opt;
        recur_seq2seq_decode_default(&opt);
        opt.max_len = 8;
        recur_seq2seq_eval_result r;
        int rc = recur_seq2seq_eval(s, p, 2, &opt, 1, &r, &err);
        if (rc) entry_message(&err);
        else FUZZ_ASSERT(r.pairs == 2 && r.exact <= 2);
    }
    free(src);
    free(tgt);
}

static int fuzz_entry_one(const uint8_t *data, size_t size)
{
    st_file *f = NULL;
    recur_error err = {0};
    if (st_parse(data, size, &f, &err) != 0) return 0;
    recur_model *m = NULL;
    if (checkpoint_read_model(f, &m, &err) == 0) entry_model(m, data, size);
    recur_model_free(m);
    recur_seq2seq *s = NULL;
    if (s2s_read(f, &s, &err) == 0) entry_seq2seq(s);
    recur_seq2seq_free(s);
    st_free(f);
    return 0;
}

#ifndef RECUR_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_entry_one(data, size);
}
#endif
