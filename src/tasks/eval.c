/*
 * eval.c - the loss of a model on a text: each character predicted from all
 * the ones before it, the state starting at zero and carried through the
 * whole text (so the first character is only input). The text is walked in
 * windows for speed; windows change nothing in the result but rounding.
 */
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>

#define EVAL_WINDOW 128

int recur_eval_text(const recur_model *m, const char *text, size_t len, int skip_unknown,
                    int threads, recur_eval_result *res, recur_error *err)
{
    if (!m || !res || (!text && len)) return set_error(err, RECUR_EINVAL, "NULL argument");
    // The loss indexes the head's logits by character id: only a language
    // model's head has a row per character (model.h, kinds of model).
    int rc = model_check_kind(m, MODEL_KIND_LM, "recur_eval_text (recur eval)", err);
    if (rc) return rc;
    const recur_vocab *v = m->vocab;
    const uint8_t *s = (const uint8_t *)text;
    workspace *ws = NULL;
    int32_t in[EVAL_WINDOW], tgt[EVAL_WINDOW];
    rc = ws_new(m, EVAL_WINDOW, 1, threads, &ws, err);
    if (rc) return rc;
    ws_zero_state(m, ws);

    double total = 0;
    long long chars = 0, skipped = 0;
    int32_t prev = -1; // the character before the window: the next input
    int n = 0;
    size_t pos = 0;
    // A long text (a mapped file) is walked once: the pages behind the
    // current window are released as it goes (text.h).
    text_sweep sweep;
    text_sweep_init(&sweep, s, len);
    for (;;) {
        int32_t id = -3;
        text_sweep_at(&sweep, pos);
        if (pos < len) {
            size_t at = pos;
            uint32_t cp = 0;
            id = vocab_next_id(v, s, len, &pos, &cp);
            if (id == -2) {
                rc = set_error(err, RECUR_EFORMAT, "invalid UTF-8 at byte offset %zu", at);
                break;
            }
            if (id == -1) {
                if (skip_unknown) {
                    skipped++;
                    continue;
                }
                char u[5] = {0};
                utf8_encode(cp, u);
                rc = v->bytes ? set_error(err, RECUR_EVOCAB, "byte 0x%02X at offset %zu is not in the model's vocabulary (--skip-unknown skips such characters)", cp, at)
                              : set_error(err, RECUR_EVOCAB, "character '%s' (U+%04X) at byte offset %zu is not in the model's vocabulary (--skip-unknown skips such characters)",
                                          cp < 0x20 ? "?" : u, cp, at);
                break;
            }
            if (prev < 0) {
                prev = id;
                continue;
            }
            in[n] = prev;
            tgt[n] = id;
            prev = id;
            n++;
        }
        if (n == EVAL_WINDOW || (id == -3 && n > 0)) {
            // A short last window: pad with "ignore" targets; padding runs after
            // the real characters, so it cannot change their predictions.
            for (int k = n; k < EVAL_WINDOW; k++) in[k] = 0, tgt[k] = -1;
            model_forward(m, ws, in, NULL);
            ws_carry_state(m, ws);
            int counted = 0;
            total += softmax_xent(ws->logits, tgt, EVAL_WINDOW, m->O, 0, &counted);
            chars += counted;
            n = 0;
        }
        if (id == -3) break;
    }
    text_sweep_end(&sweep);
    ws_free(m, ws);
    if (rc) return rc;
    if (chars == 0)
        return set_error(err, RECUR_EINVAL, "nothing to evaluate: the text needs at least two characters");
    res->chars = chars;
    res->skipped = skipped;
    res->nats_per_char = total / (double)chars;
    res->bits_per_char = res->nats_per_char / log(2.0);
    return RECUR_OK;
}
