/*
 * sample.c - generation one character at a time: prime the state with some
 * text, then repeatedly turn the logits into a distribution (temperature,
 * top-k, top-p), draw, and feed the draw back in. All buffers are made in
 * recur_sampler_new; nothing is allocated per character.
 *
 * The steps run on step.c's engine (weights packed for a batch-1 step,
 * optionally on several threads or in bf16), which gives the same bits as
 * model_forward in fp32; models it does not cover (bidirectional ones, which
 * are never sampled from today) go through model_forward with a T=1, B=1
 * workspace.
 */
#include "nn/model.h"
#include "nn/step.h"
#include "kernels/kern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float p;
    int id;
} cand;

struct recur_sampler {
    const recur_model *m;
    step_net *net;   /* the fast path, or NULL: */
    workspace *ws;   /* model_forward at T=1, B=1 */
    recur_sample_config cfg;
    rng r;
    int primed;
    float last_prob;
    cand *c;  /* [V] candidates, for top-k / top-p */
};

void recur_sample_config_default(recur_sample_config *cfg)
{
    cfg->temperature = 1.0f;
    cfg->top_k = 0;
    cfg->top_p = 1.0f;
    cfg->seed = 1;
    cfg->threads = 1;
    cfg->bf16 = 0;
    cfg->int8 = 0;
}

int recur_sampler_new(const recur_model *m, const recur_sample_config *cfg, recur_sampler **out,
                      recur_error *err)
{
    if (!m || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    // Draws index the head's logits by character id and feed them back:
    // a left-to-right model with a row per character (model.h, kinds).
    int krc = model_check_kind(m, MODEL_KIND_LM | MODEL_KIND_CONDLM, "recur_sampler_new (recur sample)", err);
    if (krc) return krc;
    recur_sample_config def;
    recur_sample_config_default(&def);
    if (!cfg) cfg = &def;
    if (!(cfg->temperature >= 0.0f) || !isfinite(cfg->temperature))
        return set_error(err, RECUR_EINVAL, "temperature must be >= 0, got %g", cfg->temperature);
    if (cfg->top_k < 0) return set_error(err, RECUR_EINVAL, "top-k must be >= 0, got %d", cfg->top_k);
    if (!(cfg->top_p > 0.0f && cfg->top_p <= 1.0f))
        return set_error(err, RECUR_EINVAL, "top-p must be in (0, 1], got %g", cfg->top_p);
    if (cfg->threads < 0 || cfg->threads > 256)
        return set_error(err, RECUR_EINVAL, "threads must be in 1..256, got %d", cfg->threads);
    if (cfg->bf16 && cfg->int8) return set_error(err, RECUR_EINVAL, "bf16 and int8 weights: choose one");
    if ((cfg->bf16 || cfg->int8) && !step_supported(m))
        return set_error(err, RECUR_EINVAL, "%s sampling needs a unidirectional model", cfg->bf16 ? "bf16" : "int8");
    recur_sampler *s = calloc(1, sizeof *s);
    if (!s) return set_error(err, RECUR_ENOMEM, "out of memory");
    s->m = m;
    s->cfg = *cfg;
    rng_seed(&s->r, cfg->seed);
    s->c = calloc((size_t)m->V, sizeof *s->c);
    int rc = !s->c                ? set_error(err, RECUR_ENOMEM, "out of memory")
             : step_supported(m) ? step_new(m, cfg->threads, cfg->int8 ? STEP_INT8 : cfg->bf16 ? STEP_BF16 : STEP_FP32, 0, &s->net, err)
                                 : ws_new(m, 1, 1, 1, &s->ws, err);
    if (rc) {
        recur_sampler_free(s);
        return rc;
    }
    if (s->ws) ws_zero_state(m, s->ws);
    *out = s;
    return RECUR_OK;
}

void recur_sampler_free(recur_sampler *s)
{
    if (!s) return;
    step_free(s->net);
    if (s->ws) ws_free(s->m, s->ws);
    free(s->c);
    free(s);
}

int recur_sampler_set_class(recur_sampler *s, int label, recur_error *err)
{
    if (s->m->Cc == 0) return set_error(err, RECUR_EINVAL, "this model is not conditioned on a class");
    if (label < 0 || label >= s->m->Cc)
        return set_error(err, RECUR_EINVAL, "class %d is out of range 0..%d", label, s->m->Cc - 1);
    if (s->net)
        step_set_class(s->net, label);
    else
        s->ws->cond[0] = label;
    return RECUR_OK;
}

void recur_sampler_reset(recur_sampler *s)
{
    if (s->net)
        step_reset(s->net);
    else
        ws_zero_state(s->m, s->ws);
    s->primed = 0;
}

static void feed(recur_sampler *s, int32_t id)
{
    if (s->net) {
        step_feed(s->net, &id, 1);
        s->primed = 1;
        return;
    }
    model_forward(s->m, s->ws, &id, NULL);
    ws_carry_state(s->m, s->ws);
    s->primed = 1;
}

int recur_sampler_prime(recur_sampler *s, const char *text, size_t len, recur_error *err)
{
    const recur_vocab *v = s->m->vocab;
    const uint8_t *p = (const uint8_t *)text;
    // Check every character first, so that a bad prime changes nothing.
    for (size_t pos = 0; pos < len;) {
        uint32_t cp = 0;
        size_t at = pos;
        int id = vocab_next_id(v, p, len, &pos, &cp);
        if (id == -2)
            return set_error(err, RECUR_EFORMAT, "prime text: invalid UTF-8 at byte offset %zu", at);
        if (id < 0) {
            char u[5] = {0};
            if (v->bytes)
                return set_error(err, RECUR_EVOCAB, "prime text: byte 0x%02X is not in the model's vocabulary", cp);
            utf8_encode(cp, u);
            return set_error(err, RECUR_EVOCAB, "prime text: character '%s' (U+%04X) is not in the model's vocabulary",
                             cp < 0x20 ? "?" : u, cp);
        }
    }
    for (size_t pos = 0; pos < len;) feed(s, vocab_next_id(v, p, len, &pos, NULL));
    return RECUR_OK;
}

static int by_prob_desc(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id - y->id; // ties: lower id first, so the order is total and deterministic
}

// Chooses the next id from the logits z [V].
static int draw(recur_sampler *s, const float *z)
{
    const int V = s->m->V;
    float mx = z[0];
    int best = 0;
    for (int j = 1; j < V; j++)
        if (z[j] > mx) mx = z[j], best = j;
    if (s->cfg.temperature == 0.0f) {
        // The probability the model itself gives (temperature 1), for reporting.
        double sum1 = 0;
        for (int j = 0; j < V; j++) sum1 += exp((double)z[j] - mx);
        s->last_prob = (float)(1.0 / sum1);
        return best;
    }
    double inv_t = 1.0 / s->cfg.temperature, sum = 0, sum1 = 0;
    const int t1 = inv_t == 1.0;
    for (int j = 0; j < V; j++) {
        // A tiny temperature (1e-9) makes these underflow to 0 except the max: greedy, no NaN.
        // At temperature 1 the same exp is the model's own probability (x * 1.0 == x).
        double e = exp(((double)z[j] - mx) * inv_t);
        sum1 += t1 ? e : exp((double)z[j] - mx);
        s->c[j].p = (float)e;
        s->c[j].id = j;
        sum += e;
    }
    int n = V;
    if (s->cfg.top_k > 0 || s->cfg.top_p < 1.0f) {
        qsort(s->c, (size_t)V, sizeof *s->c, by_prob_desc);
        if (s->cfg.top_k > 0 && s->cfg.top_k < n) n = s->cfg.top_k;
        if (s->cfg.top_p < 1.0f) {
            // The smallest prefix whose mass reaches top_p (always at least one).
            double total = 0, acc = 0;
            for (int j = 0; j < n; j++) total += s->c[j].p;
            int k = 0;
            while (k < n) {
                acc += s->c[k++].p;
                if (acc >= s->cfg.top_p * total) break;
            }
            n = k;
        }
        sum = 0;
        for (int j = 0; j < n; j++) sum += s->c[j].p;
    }
    double u = rng_uniform_d(&s->r) * sum, acc = 0;
    int pick = s->c[n - 1].id;
    for (int j = 0; j < n; j++) {
        acc += s->c[j].p;
        if (u < acc) {
            pick = s->c[j].id;
            break;
        }
    }
    s->last_prob = (float)(exp((double)z[pick] - mx) / sum1);
    return pick;
}

static int draw_cb(void *user, const float *logits)
{
    return draw(user, logits);
}

int recur_sampler_next(recur_sampler *s, char out[4], int *out_len, recur_error *err)
{
    if (!s->primed)
        return set_error(err, RECUR_EINVAL, "nothing to predict from: prime the sampler first");
    // The fast path draws and feeds the draw back in one pass over the weights.
    int id = s->net ? step_next(s->net, draw_cb, s) : draw(s, s->ws->logits);
    uint32_t cp = recur_vocab_char(s->m->vocab, id);
    if (s->m->vocab->bytes) {
        out[0] = (char)cp;
        *out_len = 1;
    } else {
        *out_len = utf8_encode(cp, out);
    }
    if (!s->net) feed(s, id);
    return RECUR_OK;
}

float recur_sampler_last_prob(const recur_sampler *s)
{
    return s->last_prob;
}

int recur_sampler_threads(const recur_sampler *s)
{
    return s->net ? step_threads(s->net) : 1;
}

const char *recur_sampler_kernel(const recur_sampler *s)
{
    return s->net ? step_kernel(s->net) : kern_get()->name;
}
