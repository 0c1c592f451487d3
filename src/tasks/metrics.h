/*
 * metrics.h - how well a classifier or tagger did: a confusion matrix of
 * counts, accuracy, per-class precision/recall/F1 with support, a top-k hit
 * test, and two renderings of it all (a fixed-width text table for people
 * and JSON for programs). The counts are exact integers, so the same
 * predictions always give the same report.
 */
#ifndef RECUR_METRICS_H
#define RECUR_METRICS_H

#include "base/internal.h"

typedef struct confusion {
    int n;              /* classes */
    long long *m;       /* [n * n]: m[truth * n + pred] */
    long long unknown;  /* examples whose truth is no class (-1: a tag outside the
                           training tag set); always wrong, counted in total */
    long long total;    /* examples added, unknown included */
} confusion;

int confusion_init(confusion *c, int nclasses, recur_error *err);
void confusion_free(confusion *c);
void confusion_clear(confusion *c);
/* Counts one example. truth is in [0, n) or -1 (see unknown); pred is in
 * [0, n). Anything else is RECUR_EINVAL and counts nothing. */
int confusion_add(confusion *c, int truth, int pred, recur_error *err);

/* Correct / total (0 when empty). */
double confusion_accuracy(const confusion *c);

typedef struct class_metrics {
    double precision; /* correct / predicted as this class (0 if never predicted) */
    double recall;    /* correct / support (0 if no support) */
    double f1;        /* harmonic mean (0 if both are 0) */
    long long support;   /* examples whose truth is this class */
    long long predicted; /* examples predicted as this class */
} class_metrics;

/* The metrics of class k (all zero for k out of range). */
class_metrics confusion_class(const confusion *c, int k);
/* The unweighted mean of the classes' F1 (classes with no support and no
 * prediction left out; 0 if none is left). */
double confusion_macro_f1(const confusion *c);

/* Appends a fixed-width text report: the matrix (rows are the true labels,
 * columns the predicted ones, labels cut to label_width characters, at
 * least 3; column headers cut to the column width), then one line per class
 * (precision, recall, F1, support) and the accuracy. labels may be NULL
 * (classes are then numbered). Fails only when out of memory. */
int confusion_table(const confusion *c, const char *const *labels, int label_width,
                    strbuf *out);
/* Appends {"accuracy":..,"examples":..,"unknown":..,"macro_f1":..,
 * "classes":[{"label":..,"precision":..,"recall":..,"f1":..,"support":..},..],
 * "confusion":[[..],..]} (labels NULL: the class numbers as strings). */
int confusion_json(const confusion *c, const char *const *labels, strbuf *out);

/* 1 when truth is among the k best of scores[0..n): fewer than k scores are
 * ahead of it, where a score is ahead if it is greater, or equal with a
 * smaller index (so that argmax, which takes the first best, is top-1).
 * 0 otherwise, or for truth out of range. */
int topk_hit(const float *scores, int n, int truth, int k);

#endif
