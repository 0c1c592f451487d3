/*
 * fuzz_checkpoint.c - libFuzzer target for everything recur does with a
 * checkpoint file it did not write: the safetensors container (st_parse:
 * header length, strict JSON, spans), the model loader
 * (checkpoint_read_model: metadata, vocabulary, every tensor's shape), and
 * for a small model that loads, what a user can then do with it: sample,
 * evaluate, and resume training from it as a state (recur_trainer_resume
 * with whatever optimizer moments, data positions and RNG the file holds),
 * taking one training step.
 *
 * Besides crashes, leaks and undefined behaviour, it checks that every
 * refusal comes with a one-line message.
 *
 * Build and run: .ci/fuzz.sh. tests/test_reliability.c includes this file
 * (with RECUR_FUZZ_NO_MAIN) to replay fuzz/corpus/checkpoint and
 * tests/corpus/safetensors, so any input saved there is a regression test.
 */
#include "formats/checkpoint.h"

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

// A refusal must say why, on one line.
static void ckpt_check_message(const recur_error *err)
{
    FUZZ_ASSERT(err->msg[0] != 0);
    FUZZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

static int ckpt_stop_after_first(const recur_train_event *e, void *user)
{
    (void)user;
    return e->kind == RECUR_EV_STEP || e->kind == RECUR_EV_SKIP;
}

// A text in which every character of v appears, at least min_chars long.
static char *ckpt_text_of(const recur_vocab *v, size_t min_chars, size_t *len)
{
    int n = recur_vocab_size(v);
    size_t chars = min_chars > (size_t)n ? min_chars : (size_t)n;
    char *s = malloc(chars * 4 + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < chars; i++) {
        char c[4];
        int l = recur_vocab_char_utf8(v, (int)(i % (size_t)n), c);
        memcpy(s + k, c, (size_t)l);
        k += (size_t)l;
    }
    *len = k;
    return s;
}

// Resumes a trainer over a text of m's own characters from the same bytes,
// written to a file (recur_trainer_resume reads a path), and runs one step.
static void ckpt_try_resume(recur_model *m, const st_file *f, const uint8_t *data, size_t size)
{
    long seq = 2, batch = 1;
    recur_error err = {0};
    // Use the state's window shape when it is a small one, so that the
    // checks after it (positions, RNG, moments) are reached.
    if (meta_int(f, "recur.state.seq", 1, 16, 1, 2, &seq, NULL)) seq = 2;
    if (meta_int(f, "recur.state.batch", 1, 8, 1, 1, &batch, NULL)) batch = 1;
    size_t len = 0;
    char *text = ckpt_text_of(m->vocab, (size_t)(batch * (seq + 1) * 3), &len);
    if (!text) return;
    char path[64];
    snprintf(path, sizeof path, "/tmp/recur_fuzz_state.%ld", (long)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(text);
        return;
    }
    int ok = fwrite(data, 1, size, fp) == size;
    ok &= fclose(fp) == 0;
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = (int)seq;
    tc.batch = (int)batch;
    tc.val_frac = 0;
    tc.sample_every = 0;
    tc.steps = 1000000;
    const char *on = st_meta(f, "recur.state.optim");
    if (on && !strcmp(on, "sgd")) tc.optim = RECUR_SGD;
    else if (on && !strcmp(on, "adagrad")) tc.optim = RECUR_ADAGRAD;
    else if (on && !strcmp(on, "rmsprop")) tc.optim = RECUR_RMSPROP;
    recur_trainer *t = NULL;
    if (ok && recur_trainer_new(m, &tc, text, len, NULL, 0, &t, &err) == 0) {
        if (recur_trainer_resume(t, path, &err) == 0) {
            int rc = recur_trainer_run(t, ckpt_stop_after_first, NULL, &err);
            FUZZ_ASSERT(rc == RECUR_EINTERRUPT || rc == RECUR_ENUMERIC || rc == RECUR_OK);
            if (rc == RECUR_ENUMERIC) ckpt_check_message(&err);
        } else {
            ckpt_check_message(&err);
        }
    }
    recur_trainer_free(t);
    unlink(path);
    free(text);
}

static void ckpt_use_model(recur_model *m, const st_file *f, const uint8_t *data, size_t size)
{
    recur_model_info info;
    recur_model_get_info(m, &info);
    FUZZ_ASSERT(info.vocab_size >= 1 && info.hidden >= 1 && info.layers >= 1);
    // Only small models: the point is the values a file can hold (NaN,
    // Inf, huge), not the time a big one takes.
    if (info.params > 20000 || info.vocab_size > 300 || info.hidden > 64) return;
    recur_error err = {0};

    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.top_k = 3;
    sc.top_p = 0.9f;
    recur_sampler *s = NULL;
    if (recur_sampler_new(m, &sc, &s, &err) == 0) {
        if (m->Cc) FUZZ_ASSERT(recur_sampler_set_class(s, 0, &err) == 0);
        char c[4];
        int n = recur_vocab_char_utf8(m->vocab, 0, c);
        FUZZ_ASSERT(recur_sampler_prime(s, c, (size_t)n, &err) == 0);
        for (int i = 0; i < 8; i++) {
            FUZZ_ASSERT(recur_sampler_next(s, c, &n, &err) == 0);
            FUZZ_ASSERT(n >= 1 && n <= 4);
        }
        recur_sampler_free(s);
    }

    size_t len = 0;
    char *text = ckpt_text_of(m->vocab, 40, &len);
    if (text) {
        recur_eval_result r;
        // Only a language model is evaluated; any other kind is refused
        // (fuzz_entry.c checks every entry point's kinds).
        int rc = recur_eval_text(m, text, len, 0, 1, &r, &err);
        FUZZ_ASSERT(rc == 0 || (rc == RECUR_EINVAL && model_check_kind(m, MODEL_KIND_LM, "x", NULL) != 0));
        free(text);
    }
    ckpt_try_resume(m, f, data, size);
}

static int fuzz_checkpoint_one(const uint8_t *data, size_t size)
{
    st_file *f = NULL;
    recur_error err = {0};
    if (st_parse(data, size, &f, &err) != 0) {
        ckpt_check_message(&err);
        return 0;
    }
    recur_model *m = NULL;
    if (checkpoint_read_model(f, &m, &err) == 0)
        ckpt_use_model(m, f, data, size);
    else
        ckpt_check_message(&err);
    recur_model_free(m);
    st_free(f);
    return 0;
}

#ifndef RECUR_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_checkpoint_one(data, size);
}
#endif
