/*
 * viz.h - what `recur viz` gathers (cmd_viz.c) and how it is written as one
 * self-contained HTML page (viz_html.c). Every number the page shows is
 * computed here in C and embedded quantised to 8 bits (docs/viz.md).
 */
#ifndef RECUR_VIZ_H
#define RECUR_VIZ_H

#include "recur.h"

#include <stdint.h>
#include <stdio.h>

/* A training log (`recur train --log`): one row per JSON line. */
typedef struct viz_log {
    int n;
    double *step, *train, *val, *lr, *gn; /* NaN where a line had no such value */
} viz_log;

/* One unit whose values per character are embedded. */
typedef struct viz_track {
    int layer, dir, unit;
    int nvals;
    recur_trace_value vals[5];
    float cscale; /* c is stored as c / cscale (LSTM), so it fills the 8 bits */
} viz_track;

/* A unit ranked for a feature. */
typedef struct viz_rank {
    int layer, dir, unit;
    recur_trace_value what;
    float r;
} viz_rank;

#define VIZ_TOP 5 /* units listed per feature */

typedef struct viz_report {
    const char *ckpt, *text_path, *log_path;
    /* section 1 (language model, classifier or tagger) or the seq2seq info */
    const recur_model *m;
    const recur_seq2seq *s2s;
    viz_log *log;
    /* the text and its trace (language models, taggers) */
    const char *text;
    const recur_trace *tr;
    int layer; /* the layer whose every unit is embedded; -1: all */
    viz_rank rank[RECUR_FEAT_COUNT][VIZ_TOP];
    int nrank;
    viz_track *tracks;
    int ntracks;
    char *samples[3]; /* at temperatures 0.5, 0.8, 1.0 (NULL: none) */
    /* classifier: confusion counts [K*K] (row: true label, column: predicted)
       over the lines of TEXT, and a few examples' probabilities per character */
    long long *confusion;
    int nexamples;
    char **ex_text;   /* [nexamples] */
    int *ex_len;      /* characters */
    int *ex_label;    /* true label (-1: unknown) */
    float **ex_probs; /* [nexamples][chars * K] */
    int **ex_off;     /* [nexamples][chars + 1] byte offsets of the characters */
    /* seq2seq: sources, predictions and attention [rows * cols] */
    int nattn;
    char **at_src, **at_out;
    float **at_w;
    int *at_rows, *at_cols;
} viz_report;

/* Writes the whole page to f; returns 0, or -1 if writing failed. */
int viz_write_html(FILE *f, const viz_report *r);

/* Quantisation shared by the writer and its documentation: 8 bits per value. */
static inline uint8_t viz_q_sym(float v) /* [-1, 1] */
{
    if (!(v > -1.0f)) v = -1.0f;
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)((v + 1.0f) * 127.5f + 0.5f);
}
static inline uint8_t viz_q_unit(float v) /* [0, 1] */
{
    if (!(v > 0.0f)) v = 0.0f;
    if (v > 1.0f) v = 1.0f;
    return (uint8_t)(v * 255.0f + 0.5f);
}

#endif
