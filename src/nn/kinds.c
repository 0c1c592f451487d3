/*
 * kinds.c - what a model is for: its task (language model, classifier,
 * tagger, class-conditioned generator), the class or tag names its outputs
 * stand for, and the check every entry point makes that a model it was given
 * has the shape its task implies (model.h, "kinds of model"): a file can be
 * well formed and still the wrong kind, and reading it as another would
 * index past its tensors.
 */
#include "nn/model.h"

#include "base/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- labels */

void labels_free(char **labels, int n)
{
    for (int i = 0; labels && i < n; i++) free(labels[i]);
    free(labels);
}

int model_set_labels(recur_model *m, recur_task task, const char *const *labels, int n,
                     recur_error *err)
{
    int want = task == RECUR_TASK_CONDLM ? m->Cc : (task == RECUR_TASK_LM ? 0 : m->O);
    if (n != want)
        return set_error(err, RECUR_EINVAL, "a %s model needs %d labels, got %d", recur_task_name(task), want, n);
    char **copy = n ? calloc((size_t)n, sizeof *copy) : NULL;
    if (n && !copy) return set_error(err, RECUR_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        if (!(copy[i] = strdup(labels[i]))) {
            labels_free(copy, i);
            return set_error(err, RECUR_ENOMEM, "out of memory");
        }
    labels_free(m->labels, m->nlabels);
    m->labels = copy;
    m->nlabels = n;
    m->task = task;
    return RECUR_OK;
}

int labels_from_json(const char *json, char ***out, int *n, recur_error *err)
{
    json_value *v = NULL;
    int rc = json_parse(json, strlen(json), 2, &v, err);
    if (rc) return rc;
    *out = NULL;
    *n = 0;
    if (v->type != J_ARR || v->n > 1000000) {
        json_free(v);
        return set_error(err, RECUR_EFORMAT, "recur.labels must be a JSON array of strings");
    }
    char **l = v->n ? calloc(v->n, sizeof *l) : NULL;
    if (v->n && !l) {
        json_free(v);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < v->n; i++) {
        const json_value *e = &v->items[i];
        if (e->type != J_STR || e->len == 0 || strlen(e->str) != e->len) {
            labels_free(l, (int)i);
            json_free(v);
            return set_error(err, RECUR_EFORMAT, "recur.labels entry %zu is not a non-empty string", i);
        }
        if (!(l[i] = strdup(e->str))) {
            labels_free(l, (int)i);
            json_free(v);
            return set_error(err, RECUR_ENOMEM, "out of memory");
        }
    }
    *out = l;
    *n = (int)v->n;
    json_free(v);
    return RECUR_OK;
}

/* ---------------------------------------------------------------- kinds */

// Whether m has the shape its task implies (model.h, "kinds of model").
static int kind_well_formed(const recur_model *m)
{
    switch (m->task) {
    case RECUR_TASK_LM:
        return m->O == m->V && m->D == 1 && m->Cc == 0 && m->nlabels == 0;
    case RECUR_TASK_CONDLM:
        return m->O == m->V && m->D == 1 && m->Cc >= 1 && m->Cc == m->nlabels;
    case RECUR_TASK_CLASSIFY:
    case RECUR_TASK_TAG:
        return m->O >= 1 && m->O == m->nlabels && m->Cc == 0;
    }
    return 0;
}

void model_kind_describe(const recur_model *m, char *buf, size_t cap)
{
    const char *bi = m->D == 2 ? "bidirectional " : "";
    if (!kind_well_formed(m)) {
        snprintf(buf, cap, "a model of no usable kind (task %s, %d outputs over %d characters, %d direction%s, "
                 "%d conditioning classes, %d labels)", recur_task_name(m->task), m->O, m->V, m->D,
                 m->D == 1 ? "" : "s", m->Cc, m->nlabels);
        return;
    }
    switch (m->task) {
    case RECUR_TASK_LM: snprintf(buf, cap, "a language model"); break;
    case RECUR_TASK_CONDLM: snprintf(buf, cap, "a condlm model (generation by class, %d classes)", m->Cc); break;
    case RECUR_TASK_CLASSIFY: snprintf(buf, cap, "a %sclassify model (%d labels)", bi, m->O); break;
    case RECUR_TASK_TAG: snprintf(buf, cap, "a %stag model (%d tags)", bi, m->O); break;
    }
}

int model_check_kind(const recur_model *m, unsigned accept, const char *entry, recur_error *err)
{
    if (!m) return set_error(err, RECUR_EINVAL, "NULL argument");
    if (kind_well_formed(m) && (accept & (1u << m->task))) return RECUR_OK;
    static const char *const takes[4] = {"a language model", "a classify model", "a tag model",
                                         "a condlm model"};
    char want[160] = "", what[224];
    size_t k = 0;
    int n = 0, total = 0;
    for (int t = 0; t < 4; t++) total += (accept >> t) & 1;
    for (int t = 0; t < 4; t++) {
        if (!((accept >> t) & 1)) continue;
        n++;
        k += (size_t)snprintf(want + k, sizeof want - k, "%s%s", n == 1 ? "" : (n == total ? " or " : ", "),
                              takes[t]);
        if (k >= sizeof want) break;
    }
    model_kind_describe(m, what, sizeof what);
    return set_error(err, RECUR_EINVAL, "%s takes %s; this is %s", entry, total ? want : "no model", what);
}

const char *recur_task_name(recur_task t)
{
    static const char *const names[] = {"lm", "classify", "tag", "condlm"};
    return (unsigned)t < 4 ? names[t] : "?";
}

recur_task recur_model_task(const recur_model *m)
{
    return m->task;
}

int recur_model_label_count(const recur_model *m)
{
    return m->nlabels;
}

const char *recur_model_label(const recur_model *m, int i)
{
    return i >= 0 && i < m->nlabels ? m->labels[i] : NULL;
}

int recur_model_label_id(const recur_model *m, const char *name)
{
    for (int i = 0; name && i < m->nlabels; i++)
        if (strcmp(m->labels[i], name) == 0) return i;
    return -1;
}
