/*
 * step.h - one time step of a model at batch 1, fast: the sampler's engine.
 *
 * model_forward serves any window; a sampled character is one step of one
 * stream, where the work is matrix-vector products that read every weight
 * once (12.7 MB for lstm H512 L2). This path packs the weights once, in the
 * order the step reads them (kern_step.h's chunks: each layer's W_ih and W_hh
 * for a block of units, all gates, back to back, then the head), so that a
 * step is one sequential read of the weights, with each block's cell applied
 * while its gates are in L1. Optionally:
 *   - threads: the units (and head columns) are split between threads, each
 *     reading its share of the weights into its own core's caches, with one
 *     barrier per layer; while the steps run faster on one thread (the other
 *     cores are busy), they run on one (step.c: adapt);
 *   - bf16: the matrices are stored as bfloat16 (half the bytes to read),
 *     widened exactly to fp32 in registers; activations and sums stay fp32;
 *   - int8: the matrices are stored as int8 with a scale per output (a
 *     quarter of the bytes), each product's input quantized to bytes, the
 *     sums exact in int32 (VNNI where the CPU has it; kern_step.h).
 *
 * Results: in fp32, every logit, state and gate is computed with the same
 * operations in the same order as model_forward (the same FMA chains from
 * the bias over k in increasing order, the same cell kernels), so they are
 * the same bits - whatever the thread count or instruction set
 * (tests/test_step.c checks all three). With bf16 the weights are rounded
 * to 8 significant bits, with int8 to 255 levels per output and the inputs
 * to 255 per product; docs/api.md gives the measured error. Both are the
 * same bits on every thread count and instruction set.
 *
 * Supports unidirectional models of the built-in cells (every language model
 * and generator by class); step_supported says whether a model qualifies.
 */
#ifndef RECUR_STEP_H
#define RECUR_STEP_H

#include "nn/model.h"

typedef struct step_net step_net;

enum { STEP_FP32 = 0, STEP_BF16 = 1, STEP_INT8 = 2 }; /* how the matrices are stored */

/* 1 if m can run on this path (one direction, a vector cell kernel, a head). */
int step_supported(const recur_model *m);

/* A step engine for m (which must outlive it) with up to `threads` threads
 * (one when the weights are too small to be worth sharing, and at times one
 * while sharing is slower, unless exact: the results are the same either
 * way) and weights stored as prec (STEP_FP32, STEP_BF16 or STEP_INT8). The
 * state starts at zero. */
int step_new(const recur_model *m, int threads, int prec, int exact, step_net **out,
             recur_error *err);
void step_free(step_net *n);

/* Threads the steps are shared between (when sharing pays), and weight
 * bytes read per step (matrices, gathered rows and biases). */
int step_threads(const step_net *n);
double step_bytes(const step_net *n);
/* The kernels' name: kern_step.h's build, or for int8 its int8 product's. */
const char *step_kernel(const step_net *n);

/* Runs the next steps on all of step_threads(n) threads (k > 1) or on one,
 * as the timing does by itself (for tests: the switch changes no result). */
void step_use_threads(step_net *n, int k);

/* Zero state; the conditioning class (models with classes) for later steps. */
void step_reset(step_net *n);
void step_set_class(step_net *n, int cls);

/* Feeds ids[0..count) one step each. */
void step_feed(step_net *n, const int32_t *ids, int count);

/* The logits [O] of the current state (computed by this call). */
const float *step_logits(step_net *n);

/* Computes the logits, calls pick = draw(user, logits) (on the calling
 * thread), feeds pick and returns it: one sampled character in one pass over
 * the weights. */
typedef int (*step_draw_fn)(void *user, const float *logits);
int step_next(step_net *n, step_draw_fn draw, void *user);

#endif
