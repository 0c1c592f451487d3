/*
 * optim.c - Adam, Adagrad, RMSprop and SGD with momentum, each exactly as
 * torch.optim writes it (defaults: Adam betas 0.9/0.999, eps 1e-8; RMSprop
 * alpha 0.99, eps 1e-8; Adagrad eps 1e-8 as min-char-rnn), and clipping.
 */
#include "nn/optim.h"

#include "kernels/kern.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {"adam", "adagrad", "rmsprop", "sgd"};

const char *optim_name(recur_optim kind)
{
    return (unsigned)kind < 4 ? names[kind] : "?";
}

int optim_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) return i;
    return -1;
}

int optim_init(optim_state *o, recur_optim kind, size_t n, recur_error *err)
{
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->n = n;
    o->m = xcalloc(n, sizeof(float));
    o->v = xcalloc(n, sizeof(float));
    if (!o->m || !o->v) {
        optim_free(o);
        return set_error(err, RECUR_ENOMEM, "out of memory for optimizer state");
    }
    return RECUR_OK;
}

void optim_free(optim_state *o)
{
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

/* The update, one element at a time: the definition the kernels' Adam is
 * tested against (bit for bit), and the path of the other optimizers. */
void optim_step_ref(optim_state *o, float *w, const float *g, float lr, float momentum)
{
    size_t n = o->n;
    float *m = o->m, *v = o->v;
    o->t++;
    switch (o->kind) {
    case RECUR_ADAM: {
        // m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
        // w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
        const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        float c1 = 1.0f - powf(b1, (float)o->t);
        float c2s = sqrtf(1.0f - powf(b2, (float)o->t));
        float step = lr / c1;
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            w[i] -= step * m[i] / (sqrtf(v[i]) / c2s + eps);
        }
        break;
    }
    case RECUR_ADAGRAD:
        // v += g^2;  w -= lr g / (sqrt(v) + eps)
        for (size_t i = 0; i < n; i++) {
            v[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(v[i]) + 1e-8f);
        }
        break;
    case RECUR_RMSPROP:
        // v = a v + (1-a) g^2;  w -= lr g / (sqrt(v) + eps)
        for (size_t i = 0; i < n; i++) {
            v[i] = 0.99f * v[i] + 0.01f * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(v[i]) + 1e-8f);
        }
        break;
    case RECUR_SGD:
        // buf = mu buf + g;  w -= lr buf   (plain SGD when mu = 0)
        for (size_t i = 0; i < n; i++) {
            m[i] = momentum * m[i] + g[i];
            w[i] -= lr * m[i];
        }
        break;
    }
}

// 1 when no element is Inf or NaN (an all-ones exponent): branch-free.
static int all_finite(const float *w, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], sizeof u);
        bad |= (~u & 0x7f800000u) == 0;
    }
    return !bad;
}

int optim_step(optim_state *o, float *w, const float *g, float lr, float momentum)
{
    if (o->kind != RECUR_ADAM) {
        optim_step_ref(o, w, g, lr, momentum);
        return all_finite(w, o->n);
    }
    // The same arithmetic as optim_step_ref's Adam, 16 lanes at a time where
    // the CPU has them (kern_body.h): the per-step cost at small batches is
    // this pass over every weight, not the matrix products.
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    o->t++;
    float c1 = 1.0f - powf(b1, (float)o->t);
    float c2s = sqrtf(1.0f - powf(b2, (float)o->t));
    return kern_get()->adam(w, o->m, o->v, g, (long)o->n, b1, b2, eps, lr / c1, c2s);
}

double grad_norm(const float *g, size_t n)
{
    // Summed in double over 16 lanes in a fixed order (kern.h), so the norm
    // and hence clipping do not depend on the instruction set.
    return sqrt(kern_get()->sumsq(g, (long)n));
}

void clip_by_norm(float *g, size_t n, double norm, float max_norm)
{
    if (!(norm > max_norm) || max_norm <= 0) return;
    float s = (float)(max_norm / (norm + 1e-6));
    for (size_t i = 0; i < n; i++) g[i] *= s;
}

void clip_by_value(float *g, size_t n, float clip)
{
    for (size_t i = 0; i < n; i++) g[i] = g[i] > clip ? clip : (g[i] < -clip ? -clip : g[i]);
}

void decay_weights(float *w, size_t n, float lr, float wd)
{
    const float keep = (float)(1.0 - (double)lr * (double)wd);
    for (size_t i = 0; i < n; i++) w[i] *= keep;
}
