/*
 * fuzz_text.c - libFuzzer target for the text side: the UTF-8 decoder, the
 * vocabulary scan (recur_vocab_from_text), character counting, the batcher
 * over the same bytes, the vocabulary's JSON form (vocab_from_json on the raw
 * input, and vocab_to_json -> vocab_from_json round trips), and a tiny model
 * evaluating and priming on the text.
 *
 * The first input byte chooses the mode: bit 0 byte vocabulary, bits 1-2 the
 * batch (1..4), bits 3-5 the window (1..8), bit 6 the tiny model too (it
 * costs more than the rest, so it does not run for every input). The rest is
 * the text.
 *
 * Besides crashes, leaks and undefined behaviour it checks properties: the
 * scan and the counter agree on what is valid, every id the batcher emits is
 * in the vocabulary, a vocabulary built from a text evaluates that text
 * without an unknown character, the JSON form round-trips, and refusals have
 * a one-line message.
 *
 * Build and run: .ci/fuzz.sh. tests/test_reliability.c includes this file
 * (with RECUR_FUZZ_NO_MAIN) to replay fuzz/corpus/text.
 */
#include "nn/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_ASSERT
#define FUZZ_ASSERT(c)                                                                       \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)
#endif

static void text_check_message(const recur_error *err)
{
    FUZZ_ASSERT(err->msg[0] != 0);
    FUZZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

static void text_batches(const recur_vocab *v, const uint8_t *s, size_t len, int B, int T)
{
    text_batcher b;
    recur_error err = {0};
    if (batcher_init(&b, v, s, len, B, T, &err) != 0) {
        text_check_message(&err);
        FUZZ_ASSERT(err.code == RECUR_EINVAL); // only "too short": the vocabulary fits
        return;
    }
    int32_t *in = malloc((size_t)B * T * sizeof *in), *tgt = malloc((size_t)B * T * sizeof *tgt);
    size_t windows = b.windows_per_epoch + 2; // past the end of an epoch: it wraps
    if (windows > 64) windows = 64;
    for (size_t w = 0; in && tgt && w < windows; w++) {
        int new_epoch = 0;
        FUZZ_ASSERT(batcher_next(&b, in, tgt, &new_epoch, &err) == 0);
        for (int i = 0; i < B * T; i++) {
            FUZZ_ASSERT(in[i] >= 0 && in[i] < v->n);
            FUZZ_ASSERT(tgt[i] >= 0 && tgt[i] < v->n);
        }
        for (int k = 0; k < B; k++) FUZZ_ASSERT(b.pos[k] <= len);
    }
    free(in);
    free(tgt);
    batcher_free(&b);
}

static void text_json_round_trip(const recur_vocab *v)
{
    strbuf sb;
    sb_init(&sb);
    FUZZ_ASSERT(vocab_to_json(v, &sb) == 0);
    recur_vocab *back = NULL;
    recur_error err = {0};
    FUZZ_ASSERT(vocab_from_json(sb.s, v->bytes, &back, &err) == 0);
    FUZZ_ASSERT(back->n == v->n && back->bytes == v->bytes);
    FUZZ_ASSERT(memcmp(back->chars, v->chars, (size_t)v->n * sizeof *v->chars) == 0);
    recur_vocab_free(back);
    sb_free(&sb);
}

static void text_model(const recur_vocab *v, const uint8_t *s, size_t len)
{
    if (v->n > 300) return;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 3;
    mc.layers = 1;
    recur_model *m = NULL;
    recur_error err = {0};
    FUZZ_ASSERT(recur_model_new(&mc, v, 1, &m, &err) == 0);
    recur_eval_result r;
    size_t n = len > 2048 ? 2048 : len;
    // A cut may split a character: then the last one is invalid UTF-8.
    int rc = recur_eval_text(m, (const char *)s, n, 0, 1, &r, &err);
    FUZZ_ASSERT(rc != RECUR_EVOCAB);
    if (rc) text_check_message(&err);
    recur_sampler *sp = NULL;
    FUZZ_ASSERT(recur_sampler_new(m, NULL, &sp, &err) == 0);
    rc = recur_sampler_prime(sp, (const char *)s, len > 64 ? 64 : len, &err);
    if (rc) {
        FUZZ_ASSERT(rc == RECUR_EFORMAT && len > 64); // only a cut character
        text_check_message(&err);
    } else {
        char c[4];
        int k;
        FUZZ_ASSERT(recur_sampler_next(sp, c, &k, &err) == 0);
    }
    recur_sampler_free(sp);
    recur_model_free(m);
}

static int fuzz_text_one(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const int bytes = data[0] & 1, B = 1 + ((data[0] >> 1) & 3), T = 1 + ((data[0] >> 3) & 7);
    const uint8_t *s = data + 1;
    const size_t len = size - 1;
    recur_error err = {0}, err2 = {0};

    recur_vocab *v = NULL;
    int rc = recur_vocab_from_text((const char *)s, len, bytes, &v, &err);
    size_t count = 0;
    int rc2 = text_count_chars(s, len, bytes, &count, &err2);
    if (rc) text_check_message(&err);
    if (rc2) text_check_message(&err2);
    if (len) {
        FUZZ_ASSERT((rc == 0) == (rc2 == 0));
        if (rc) FUZZ_ASSERT(strcmp(err.msg, err2.msg) == 0); // same offset named
    }
    if (v) {
        FUZZ_ASSERT(v->n >= 1 && v->n <= (bytes ? 256 : 0x110000));
        FUZZ_ASSERT(count >= (size_t)v->n || bytes);
        for (int i = 1; i < v->n; i++) FUZZ_ASSERT(v->chars[i - 1] < v->chars[i]);
        text_batches(v, s, len, B, T);
        text_json_round_trip(v);
        if (data[0] & 0x40) text_model(v, s, len);
        recur_vocab_free(v);
    }

    // The same bytes as a checkpoint's recur.vocab value.
    char *js = malloc(len + 1);
    if (js) {
        memcpy(js, s, len);
        js[len] = 0;
        recur_vocab *jv = NULL;
        if (vocab_from_json(js, bytes, &jv, &err) == 0)
            text_json_round_trip(jv);
        else
            text_check_message(&err);
        recur_vocab_free(jv);
        free(js);
    }
    return 0;
}

#ifndef RECUR_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_text_one(data, size);
}
#endif
