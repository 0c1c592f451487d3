/*
 * metrics.c - the confusion matrix and what is read off it: accuracy,
 * per-class precision/recall/F1 and support, macro F1; its text table and
 * JSON renderings; the top-k hit test. Ratios with a zero denominator are 0
 * (as scikit-learn's zero_division=0), so no report ever holds a NaN.
 */
#include "tasks/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int confusion_init(confusion *c, int nclasses, recur_error *err)
{
    if (!c) return set_error(err, RECUR_EINVAL, "confusion_init: NULL argument");
    memset(c, 0, sizeof *c);
    if (nclasses < 1 || nclasses > 1 << 15)
        return set_error(err, RECUR_EINVAL, "confusion matrix of %d classes: need 1 to %d",
                         nclasses, 1 << 15);
    c->m = xcalloc((size_t)nclasses * (size_t)nclasses, sizeof *c->m);
    if (!c->m)
        return set_error(err, RECUR_ENOMEM, "out of memory for a %d x %d confusion matrix",
                         nclasses, nclasses);
    c->n = nclasses;
    return RECUR_OK;
}

void confusion_free(confusion *c)
{
    if (!c) return;
    free(c->m);
    memset(c, 0, sizeof *c);
}

void confusion_clear(confusion *c)
{
    if (!c || !c->m) return;
    memset(c->m, 0, (size_t)c->n * (size_t)c->n * sizeof *c->m);
    c->unknown = c->total = 0;
}

int confusion_add(confusion *c, int truth, int pred, recur_error *err)
{
    if (!c || !c->m) return set_error(err, RECUR_EINVAL, "confusion_add: no matrix");
    if (pred < 0 || pred >= c->n)
        return set_error(err, RECUR_EINVAL, "predicted class %d is outside 0..%d", pred,
                         c->n - 1);
    if (truth < -1 || truth >= c->n)
        return set_error(err, RECUR_EINVAL, "true class %d is outside -1..%d", truth, c->n - 1);
    if (truth < 0)
        c->unknown++;
    else
        c->m[(size_t)truth * (size_t)c->n + (size_t)pred]++;
    c->total++;
    return RECUR_OK;
}

// Examples predicted right: the diagonal.
static long long confusion_right(const confusion *c)
{
    long long right = 0;
    for (int k = 0; k < c->n; k++) right += c->m[(size_t)k * (size_t)c->n + (size_t)k];
    return right;
}

double confusion_accuracy(const confusion *c)
{
    if (!c || !c->m || c->total == 0) return 0;
    return (double)confusion_right(c) / (double)c->total;
}

static double ratio(long long a, long long b)
{
    return b ? (double)a / (double)b : 0.0;
}

class_metrics confusion_class(const confusion *c, int k)
{
    class_metrics r = {0, 0, 0, 0, 0};
    if (!c || k < 0 || k >= c->n) return r;
    size_t n = (size_t)c->n;
    for (size_t j = 0; j < n; j++) {
        r.support += c->m[(size_t)k * n + j];
        r.predicted += c->m[j * n + (size_t)k];
    }
    long long right = c->m[(size_t)k * n + (size_t)k];
    r.precision = ratio(right, r.predicted);
    r.recall = ratio(right, r.support);
    r.f1 = r.precision + r.recall > 0
               ? 2 * r.precision * r.recall / (r.precision + r.recall)
               : 0.0;
    return r;
}

double confusion_macro_f1(const confusion *c)
{
    if (!c) return 0;
    double sum = 0;
    int used = 0;
    for (int k = 0; k < c->n; k++) {
        class_metrics m = confusion_class(c, k);
        if (m.support == 0 && m.predicted == 0) continue; // a class absent on both sides
        sum += m.f1;
        used++;
    }
    return used ? sum / used : 0.0;
}

/* ---------------------------------------------------------------- text table */

// Characters in UTF-8 s (continuation bytes are not counted).
static int utf8_chars(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n;
}

// Appends s cut to width characters and padded with spaces to width, on
// the left (numbers' columns) or on the right (the label column).
static void put_cell(strbuf *b, const char *s, int width, int right)
{
    size_t end = 0;
    int chars = 0;
    while (s[end]) {
        if (((unsigned char)s[end] & 0xC0) != 0x80) {
            if (chars == width) break;
            chars++;
        }
        end++;
    }
    if (right)
        for (int i = chars; i < width; i++) sb_putc(b, ' ');
    sb_putn(b, s, end);
    if (!right)
        for (int i = chars; i < width; i++) sb_putc(b, ' ');
}

// Class k's label, or its number written into buf.
static const char *label_of(const char *const *labels, int k, char *buf, size_t size)
{
    if (labels && labels[k]) return labels[k];
    snprintf(buf, size, "%d", k);
    return buf;
}

int confusion_table(const confusion *c, const char *const *labels, int label_width, strbuf *out)
{
    if (!c || !c->m || !out) return RECUR_EINVAL;
    size_t n = (size_t)c->n;
    char num[32];
    if (label_width < 3) label_width = 3;
    int lw = 5; // "label"
    long long biggest = 0;
    for (int k = 0; k < c->n; k++) {
        int w = utf8_chars(label_of(labels, k, num, sizeof num));
        if (w > lw) lw = w;
    }
    if (lw > label_width) lw = label_width;
    for (size_t i = 0; i < n * n; i++)
        if (c->m[i] > biggest) biggest = c->m[i];
    int cw = snprintf(num, sizeof num, "%lld", biggest);
    if (cw < 4) cw = 4;

    sb_puts(out, "confusion matrix (rows: true label, columns: predicted)\n");
    put_cell(out, "", lw, 0);
    for (int k = 0; k < c->n; k++) {
        char buf[32];
        sb_putc(out, ' ');
        put_cell(out, label_of(labels, k, buf, sizeof buf), cw, 1);
    }
    sb_putc(out, '\n');
    for (int t = 0; t < c->n; t++) {
        char buf[32];
        put_cell(out, label_of(labels, t, buf, sizeof buf), lw, 0);
        for (size_t p = 0; p < n; p++) sb_printf(out, " %*lld", cw, c->m[(size_t)t * n + p]);
        sb_putc(out, '\n');
    }
    sb_putc(out, '\n');
    put_cell(out, "label", lw, 0);
    sb_puts(out, " precision recall     f1  support\n");
    for (int k = 0; k < c->n; k++) {
        char buf[32];
        class_metrics m = confusion_class(c, k);
        put_cell(out, label_of(labels, k, buf, sizeof buf), lw, 0);
        sb_printf(out, " %9.3f %6.3f %6.3f %8lld\n", m.precision, m.recall, m.f1, m.support);
    }
    sb_printf(out, "accuracy %.4f (%lld of %lld)  macro F1 %.4f\n", confusion_accuracy(c),
              confusion_right(c), c->total, confusion_macro_f1(c));
    if (c->unknown)
        sb_printf(out, "true label outside the label set: %lld (counted as wrong)\n",
                  c->unknown);
    return out->oom ? RECUR_ENOMEM : RECUR_OK;
}

/* ---------------------------------------------------------------- JSON */

int confusion_json(const confusion *c, const char *const *labels, strbuf *out)
{
    if (!c || !c->m || !out) return RECUR_EINVAL;
    size_t n = (size_t)c->n;
    sb_printf(out, "{\"accuracy\":%.6f,\"examples\":%lld,\"unknown\":%lld,\"macro_f1\":%.6f,",
              confusion_accuracy(c), c->total, c->unknown, confusion_macro_f1(c));
    sb_puts(out, "\"classes\":[");
    for (int k = 0; k < c->n; k++) {
        char buf[32];
        const char *name = label_of(labels, k, buf, sizeof buf);
        class_metrics m = confusion_class(c, k);
        sb_puts(out, k ? ",{\"label\":" : "{\"label\":");
        sb_json_string(out, name, strlen(name));
        sb_printf(out, ",\"precision\":%.6f,\"recall\":%.6f,\"f1\":%.6f,\"support\":%lld}",
                  m.precision, m.recall, m.f1, m.support);
    }
    sb_puts(out, "],\"confusion\":[");
    for (size_t t = 0; t < n; t++) {
        sb_puts(out, t ? ",[" : "[");
        for (size_t p = 0; p < n; p++) sb_printf(out, p ? ",%lld" : "%lld", c->m[t * n + p]);
        sb_putc(out, ']');
    }
    sb_puts(out, "]}");
    return out->oom ? RECUR_ENOMEM : RECUR_OK;
}

/* ---------------------------------------------------------------- top-k */

int topk_hit(const float *scores, int n, int truth, int k)
{
    if (!scores || truth < 0 || truth >= n || k < 1) return 0;
    float s = scores[truth];
    if (isnan(s)) return 0;
    int ahead = 0;
    for (int i = 0; i < n; i++)
        if (scores[i] > s || (scores[i] == s && i < truth)) ahead++;
    return ahead < k;
}
