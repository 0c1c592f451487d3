/*
 * apps.c - the applications of the founding text on top of one model and
 * one training loop (seqtask.c): many-to-one classification, many-to-many
 * tagging, one-to-many generation by class. Each turns its data (dataset.h)
 * into sequences of character ids with targets, and its predictions back
 * into labels. Everything reads characters, so nothing is ever out of
 * vocabulary: a character the model never saw is read as U+FFFD.
 * Design and measured results: docs/applications.md.
 */
#include "data/dataset.h"
#include "tasks/metrics.h"
#include "tasks/seqtask.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNKNOWN_CHAR 0xFFFDu

void recur_app_config_default(recur_app_config *c, recur_task task)
{
    memset(c, 0, sizeof *c);
    recur_model_config_default(&c->model);
    c->model.cell = RECUR_CELL_GRU;
    c->model.hidden = 128;
    c->model.layers = 1;
    c->model.embed = 32;
    c->batch = 32;
    c->epochs = 10;
    c->optim = RECUR_ADAM;
    c->lr = 2e-3f;
    c->lr_decay = 0.9f;
    c->clip = 5.0f;
    c->seed = 1;
    c->threads = 1;
    c->val_frac = 0.1;
    if (task == RECUR_TASK_CLASSIFY) c->model.bidirectional = 1;
    if (task == RECUR_TASK_TAG) {
        c->model.cell = RECUR_CELL_LSTM;
        c->model.layers = 2;
        c->model.bidirectional = 1;
        c->epochs = 5;
        c->batch = 16;
    }
    if (task == RECUR_TASK_CONDLM) c->epochs = 20;
}

void recur_report_free(recur_report *r)
{
    if (!r) return;
    free(r->table);
    free(r->json);
    r->table = r->json = NULL;
}

/* ---------------------------------------------------------------- encoding */

// Appends the ids of text[0..len) to ids (room for len ids); unknown
// characters become U+FFFD's id, invalid UTF-8 is an error.
static int encode(const recur_vocab *v, const char *text, size_t len, int32_t *ids, int *n,
                  recur_error *err)
{
    const uint8_t *s = (const uint8_t *)text;
    int unk = recur_vocab_id(v, UNKNOWN_CHAR);
    *n = 0;
    for (size_t pos = 0; pos < len;) {
        size_t at = pos;
        uint32_t cp = 0;
        int id = vocab_next_id(v, s, len, &pos, &cp);
        if (id == -2) return set_error(err, RECUR_EFORMAT, "invalid UTF-8 at byte offset %zu", at);
        // A model made elsewhere may lack U+FFFD: then an unseen character is an error.
        if (id < 0 && unk < 0)
            return set_error(err, RECUR_EVOCAB, "character U+%04X at byte offset %zu is not in the model's vocabulary (which has no U+FFFD for unseen characters)",
                             cp, at);
        ids[(*n)++] = id >= 0 ? id : unk;
    }
    return RECUR_OK;
}

// The vocabulary of the given texts plus U+FFFD (and the extra characters).
static int vocab_of(const str_span *spans, size_t n, const char *extra, recur_vocab **out,
                    recur_error *err)
{
    str_span *all = calloc(n + 1, sizeof *all);
    if (!all) return set_error(err, RECUR_ENOMEM, "out of memory");
    memcpy(all, spans, n * sizeof *all);
    all[n] = (str_span){extra, strlen(extra)};
    int rc = vocab_from_spans(all, n + 1, out, err);
    free(all);
    return rc;
}

// The one trainer's settings for the one-shot calls' configuration: the
// learning rate decays after every epoch, validation every epoch unless
// eval_every says otherwise.
static void app_train_config(const recur_app_config *c, recur_train_config *tc)
{
    recur_train_config_default(tc);
    tc->batch = c->batch;
    tc->epochs = c->epochs;
    tc->steps = c->steps;
    tc->optim = c->optim;
    tc->lr = c->lr;
    tc->lr_decay = c->lr_decay > 0 ? c->lr_decay : 1.0f;
    tc->lr_decay_every = 0;
    tc->clip = c->clip;
    tc->seed = c->seed;
    tc->threads = c->threads;
    tc->val_frac = c->val_frac;
    tc->eval_every = c->eval_every;
    tc->sample_every = 0;
}

// A one-shot call: the trainer made by make, run to its end with the best
// model written to out_path, the best model back in memory, its report,
// and the model handed to the caller.
static int train_once(recur_trainer *t, const char *out_path, recur_train_callback cb, void *user,
                      recur_model **model, recur_report *report, recur_error *err)
{
    int rc = recur_trainer_set_outputs(t, out_path, NULL, err);
    if (!rc) rc = recur_trainer_run(t, cb, user, err);
    if (!rc) rc = recur_trainer_restore_best(t, err);
    if (!rc) rc = recur_trainer_report(t, report, err);
    if (!rc) *model = seq_trainer_take_model(t);
    recur_trainer_free(t);
    return rc;
}

// The report's table and JSON from a confusion matrix.
static int fill_report(recur_report *r, const confusion *cm, const char *const *labels,
                       const char *extra_json, recur_error *err)
{
    strbuf t, j;
    sb_init(&t);
    sb_init(&j);
    int rc = confusion_table(cm, labels, 12, &t);
    if (!rc) rc = confusion_json(cm, labels, &j);
    if (!rc && extra_json && j.len > 1 && j.s[j.len - 1] == '}') {
        j.len--; // splice the training facts into the same object
        sb_printf(&j, ",%s}", extra_json);
    }
    if (rc || t.oom || j.oom) {
        sb_free(&t);
        sb_free(&j);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    r->table = t.s;
    r->json = j.s;
    r->accuracy = confusion_accuracy(cm);
    r->correct = (long long)llround(r->accuracy * (double)cm->total);
    r->total = cm->total;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- classification */

// Items for the examples idx[0..n) of d, ids in one block.
static int class_items(const recur_model *m, const class_data *d, const size_t *idx, size_t n,
                       int per_step, seq_item **items, int32_t **block, recur_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += d->ex[idx[i]].len + 1;
    *items = calloc(n ? n : 1, sizeof **items);
    *block = calloc((total ? total : 1) * (per_step ? 2 : 1), sizeof **block);
    if (!*items || !*block) return set_error(err, RECUR_ENOMEM, "out of memory");
    int32_t *p = *block;
    int nl = recur_vocab_id(m->vocab, '\n');
    for (size_t i = 0; i < n; i++) {
        const class_example *e = &d->ex[idx[i]];
        seq_item *it = &(*items)[i];
        int len = 0;
        if (per_step) {
            // Generation by class: "\n" + text -> text + "\n".
            p[0] = nl;
            int rc = encode(m->vocab, e->text, e->len, p + 1, &len, err);
            if (rc) return rc;
            len++;
            int32_t *t = p + len;
            memcpy(t, p + 1, sizeof(int32_t) * (size_t)(len - 1));
            t[len - 1] = nl;
            it->tgt = t;
            it->cond = e->label;
        } else {
            int rc = encode(m->vocab, e->text, e->len, p, &len, err);
            if (rc) return rc;
            it->label = e->label;
        }
        it->ids = p;
        it->len = len;
        p += per_step ? 2 * len : len;
    }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- trainers by class */

// What a classification (or generation-by-class) trainer keeps: the data
// its items point into, and the split its report needs.
typedef struct class_owner {
    recur_task task;
    int batch;
    class_data d;
    class_split sp;
    seq_item *tr, *va;
    int32_t *trb, *vab;
    recur_vocab *v;
} class_owner;

static void class_owner_free(void *p)
{
    class_owner *o = p;
    if (!o) return;
    class_split_free(&o->sp);
    class_data_free(&o->d);
    recur_vocab_free(o->v);
    free(o->tr);
    free(o->va);
    free(o->trb);
    free(o->vab);
    free(o);
}

// The validation report: the confusion matrix of the classes, or the
// next-character accuracy of a generator.
static int class_report(void *p, const recur_model *m, int threads, recur_report *report,
                        recur_error *err)
{
    class_owner *o = p;
    const int per_step = o->task == RECUR_TASK_CONDLM;
    memset(report, 0, sizeof *report);
    report->ntrain = o->sp.ntrain;
    report->nval = o->sp.nval;
    report->duplicates = o->d.duplicates;
    report->ambiguous = o->d.ambiguous_texts;
    if (!o->sp.nval) return RECUR_OK;
    seq_eval e;
    int32_t *pred = calloc(o->sp.nval, sizeof *pred);
    confusion cm = {0};
    if (!pred) return set_error(err, RECUR_ENOMEM, "out of memory");
    int rc = seq_evaluate(m, o->va, o->sp.nval, !per_step, o->batch, threads, &e, per_step ? NULL : pred, err);
    if (rc) goto done;
    report->val_loss = e.loss;
    char extra[256];
    snprintf(extra, sizeof extra, "\"train_examples\":%zu,\"val_examples\":%zu,\"duplicates_removed\":%zu,\"val_loss\":%.6f",
             o->sp.ntrain, o->sp.nval, o->d.duplicates, e.loss);
    if (per_step) {
        report->accuracy = e.total ? (double)e.correct / (double)e.total : 0;
        report->correct = e.correct;
        report->total = e.total;
        strbuf j;
        sb_init(&j);
        sb_printf(&j, "{\"next_char_accuracy\":%.6f,%s}", report->accuracy, extra);
        if (j.oom) {
            sb_free(&j);
            rc = set_error(err, RECUR_ENOMEM, "out of memory");
            goto done;
        }
        report->json = j.s;
    } else {
        if ((rc = confusion_init(&cm, o->d.labels.n, err))) goto done;
        for (size_t i = 0; i < o->sp.nval; i++) confusion_add(&cm, o->va[i].label, pred[i], NULL);
        rc = fill_report(report, &cm, (const char *const *)o->d.labels.names, extra, err);
    }
done:
    confusion_free(&cm);
    free(pred);
    return rc;
}

// Reads the data, splits it, builds the model and hands both to a trainer.
static int new_by_class(recur_task task, const char *data, const recur_model_config *mc0,
                        const recur_train_config *cfg, recur_trainer **out, recur_error *err)
{
    if (!data || !mc0 || !cfg || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = engine_check_config(cfg, err);
    if (rc) return rc;
    class_owner *o = calloc(1, sizeof *o);
    if (!o) return set_error(err, RECUR_ENOMEM, "out of memory");
    o->task = task;
    o->batch = cfg->batch;
    recur_model *m = NULL;
    str_span *spans = NULL;
    if ((rc = class_read(data, &o->d, err))) goto fail;
    const int per_step = task == RECUR_TASK_CONDLM;
    if ((rc = class_split_stratified(&o->d, cfg->val_frac, cfg->seed, &o->sp, err))) goto fail;
    // The vocabulary of the training texts (and U+FFFD, and "\n" for generation).
    spans = calloc(o->sp.ntrain ? o->sp.ntrain : 1, sizeof *spans);
    if (!spans) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->sp.ntrain; i++)
        spans[i] = (str_span){o->d.ex[o->sp.train[i]].text, o->d.ex[o->sp.train[i]].len};
    if ((rc = vocab_of(spans, o->sp.ntrain, per_step ? "\xef\xbf\xbd\n" : "\xef\xbf\xbd", &o->v, err))) goto fail;
    recur_model_config mc = *mc0;
    if (per_step) {
        mc.cond = o->d.labels.n;
        mc.outputs = 0;
        mc.bidirectional = 0; // generation reads left to right
    } else {
        mc.outputs = o->d.labels.n;
        mc.cond = 0;
    }
    if ((rc = recur_model_new(&mc, o->v, cfg->seed, &m, err))) goto fail;
    if ((rc = model_set_labels(m, task, (const char *const *)o->d.labels.names, o->d.labels.n, err))) goto fail;
    if ((rc = class_items(m, &o->d, o->sp.train, o->sp.ntrain, per_step, &o->tr, &o->trb, err)) ||
        (rc = class_items(m, &o->d, o->sp.val, o->sp.nval, per_step, &o->va, &o->vab, err)))
        goto fail;
    free(spans);
    return seq_trainer_new(task, m, o->tr, o->sp.ntrain, o->va, o->sp.nval, cfg,
                           (seq_owner){o, class_owner_free, class_report}, out, err);
fail:
    free(spans);
    recur_model_free(m);
    class_owner_free(o);
    return rc;
}

int recur_trainer_new_classify(const char *data, const recur_model_config *mc,
                               const recur_train_config *cfg, recur_trainer **out, recur_error *err)
{
    return new_by_class(RECUR_TASK_CLASSIFY, data, mc, cfg, out, err);
}

int recur_trainer_new_condlm(const char *data, const recur_model_config *mc,
                             const recur_train_config *cfg, recur_trainer **out, recur_error *err)
{
    return new_by_class(RECUR_TASK_CONDLM, data, mc, cfg, out, err);
}

static int train_by_class(recur_task task, const char *data, const recur_app_config *cfg,
                          const char *out_path, recur_train_callback cb, void *user,
                          recur_model **model, recur_report *report, recur_error *err)
{
    if (!data || !cfg || !model || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
    *model = NULL;
    memset(report, 0, sizeof *report);
    recur_train_config tc;
    app_train_config(cfg, &tc);
    recur_trainer *t = NULL;
    int rc = new_by_class(task, data, &cfg->model, &tc, &t, err);
    return rc ? rc : train_once(t, out_path, cb, user, model, report, err);
}

int recur_classify_train(const char *data, const recur_app_config *cfg, const char *out_path,
                         recur_train_callback cb, void *user, recur_model **model,
                         recur_report *report, recur_error *err)
{
    return train_by_class(RECUR_TASK_CLASSIFY, data, cfg, out_path, cb, user, model, report, err);
}

int recur_condlm_train(const char *data, const recur_app_config *cfg, const char *out_path,
                       recur_train_callback cb, void *user, recur_model **model,
                       recur_report *report, recur_error *err)
{
    return train_by_class(RECUR_TASK_CONDLM, data, cfg, out_path, cb, user, model, report, err);
}

int recur_classify(const recur_model *m, const char *text, size_t len, float *probs,
                   recur_error *err)
{
    if (!m || !probs || (!text && len)) return set_error(err, RECUR_EINVAL, "NULL argument");
    int krc = model_check_kind(m, MODEL_KIND_CLASSIFY, "recur_classify (recur classify predict)", err);
    if (krc) return krc;
    // Positions are counted in an int (encode, ws_new): bound the text first.
    if (len > (size_t)INT_MAX / 4) return set_error(err, RECUR_EINVAL, "text too long: over %d bytes", INT_MAX / 4);
    int32_t *ids = calloc(len ? len : 1, sizeof *ids);
    if (!ids) return set_error(err, RECUR_ENOMEM, "out of memory");
    int n = 0, rc = encode(m->vocab, text, len, ids, &n, err);
    if (!rc && n == 0) rc = set_error(err, RECUR_EINVAL, "empty text");
    workspace *ws = NULL;
    if (!rc) rc = ws_new(m, n, 1, 1, &ws, err);
    if (!rc) {
        ws->pool = 1;
        ws->lens[0] = n;
        ws_zero_state(m, ws);
        model_forward(m, ws, ids, NULL);
        // softmax over the labels
        const float *z = ws->logits;
        float mx = z[0];
        for (int j = 1; j < m->O; j++) mx = z[j] > mx ? z[j] : mx;
        double sum = 0;
        for (int j = 0; j < m->O; j++) sum += exp((double)z[j] - mx);
        for (int j = 0; j < m->O; j++) probs[j] = (float)(exp((double)z[j] - mx) / sum);
    }
    ws_free(m, ws);
    free(ids);
    return rc;
}

/* ---------------------------------------------------------------- tagging */

// A sentence as characters: its tokens joined by single spaces; the target
// of the last character of each token is the token's tag, -1 elsewhere.
static int tag_items(const recur_model *m, const tag_data *d, seq_item **items, int32_t **block,
                     recur_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < d->ntok; i++) total += d->tok_len[i] + 1;
    *items = calloc(d->nsent ? d->nsent : 1, sizeof **items);
    *block = calloc(2 * (total ? total : 1), sizeof **block);
    if (!*items || !*block) return set_error(err, RECUR_ENOMEM, "out of memory");
    int32_t *p = *block;
    int space = recur_vocab_id(m->vocab, ' ');
    if (space < 0) return set_error(err, RECUR_EVOCAB, "the tagger's vocabulary has no space to join tokens with");
    for (size_t s = 0; s < d->nsent; s++) {
        int len = 0;
        size_t chars = 0;
        for (size_t k = d->sent[s]; k < d->sent[s + 1]; k++) chars += d->tok_len[k] + 1;
        int32_t *ids = p, *tgt = p + chars;
        for (size_t k = d->sent[s]; k < d->sent[s + 1]; k++) {
            if (len) {
                tgt[len] = -1;
                ids[len++] = space;
            }
            int n = 0, rc = encode(m->vocab, d->tok[k], d->tok_len[k], ids + len, &n, err);
            if (rc) return rc;
            for (int i = 0; i < n; i++) tgt[len + i] = -1;
            len += n;
            if (n) tgt[len - 1] = d->tag[k];
        }
        (*items)[s] = (seq_item){ids, tgt, len < 1 ? 1 : len, 0, 0};
        p += 2 * chars;
    }
    return RECUR_OK;
}

// Scores per-step predictions of tag items against the data's tags; tokens
// whose tag the model does not know count as misses.
static int tag_report(const recur_model *m, const tag_data *d, const seq_item *items,
                      const int32_t *pred, recur_report *r, const char *extra, recur_error *err)
{
    confusion cm;
    int rc = confusion_init(&cm, m->O, err);
    if (rc) return rc;
    size_t at = 0, tok = 0;
    for (size_t s = 0; s < d->nsent; s++) {
        const seq_item *it = &items[s];
        for (int t = 0; t < it->len; t++, at++) {
            if (it->tgt[t] < 0) continue;
            confusion_add(&cm, it->tgt[t], pred[at] < 0 ? 0 : pred[at], NULL);
            tok++;
        }
    }
    // Unknown tags were -1 targets: no prediction was scored; count them as misses.
    for (size_t i = 0; i < d->unknown_tags; i++) confusion_add(&cm, -1, 0, NULL);
    (void)tok;
    rc = fill_report(r, &cm, (const char *const *)m->labels, extra, err);
    confusion_free(&cm);
    return rc;
}

static int tag_score(const recur_model *m, const tag_data *d, int batch, int threads,
                     recur_report *r, const char *extra, recur_error *err)
{
    seq_item *items = NULL;
    int32_t *block = NULL, *pred = NULL;
    size_t steps = 0;
    int rc = tag_items(m, d, &items, &block, err);
    for (size_t s = 0; !rc && s < d->nsent; s++) steps += (size_t)items[s].len;
    if (!rc && !(pred = calloc(steps ? steps : 1, sizeof *pred))) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    seq_eval e;
    if (!rc) rc = seq_evaluate(m, items, d->nsent, 0, batch, threads, &e, pred, err);
    if (!rc) {
        r->val_loss = e.loss;
        rc = tag_report(m, d, items, pred, r, extra, err);
    }
    free(items);
    free(block);
    free(pred);
    return rc;
}

// What a tagging trainer keeps: the sentences its items point into.
typedef struct tag_owner {
    tag_data tr, va;
    int have_dev, batch;
    seq_item *ti, *vi;
    int32_t *tb, *vb;
    size_t ntrain, nval;
    recur_vocab *v;
} tag_owner;

static void tag_owner_free(void *p)
{
    tag_owner *o = p;
    if (!o) return;
    tag_data_free(&o->tr);
    tag_data_free(&o->va);
    recur_vocab_free(o->v);
    free(o->ti);
    free(o->vi);
    free(o->tb);
    free(o->vb);
    free(o);
}

// The validation report: per-tag scores on the dev file, or the accuracy
// on the sentences held out of the training file.
static int tag_train_report(void *p, const recur_model *m, int threads, recur_report *r,
                            recur_error *err)
{
    tag_owner *o = p;
    memset(r, 0, sizeof *r);
    int rc = RECUR_OK;
    if (o->have_dev) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"train_sentences\":%zu,\"val_sentences\":%zu", o->ntrain, o->nval);
        rc = tag_score(m, &o->va, o->batch, threads, r, extra, err);
    } else if (o->nval) {
        seq_eval e;
        if (!(rc = seq_evaluate(m, o->ti + o->ntrain, o->nval, 0, o->batch, threads, &e, NULL, err))) {
            r->val_loss = e.loss;
            r->correct = e.correct;
            r->total = e.total;
            r->accuracy = e.total ? (double)e.correct / (double)e.total : 0;
        }
    }
    r->ntrain = o->ntrain;
    r->nval = o->nval;
    return rc;
}

int recur_trainer_new_tag(const char *train, const char *dev, int column,
                          const recur_model_config *mc0, const recur_train_config *cfg,
                          recur_trainer **out, recur_error *err)
{
    if (!train || !mc0 || !cfg || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    int rc = engine_check_config(cfg, err);
    if (rc) return rc;
    tag_owner *o = calloc(1, sizeof *o);
    if (!o) return set_error(err, RECUR_ENOMEM, "out of memory");
    o->batch = cfg->batch;
    o->have_dev = dev != NULL;
    recur_model *m = NULL;
    str_span *spans = NULL;
    if ((rc = tag_read(train, column, NULL, &o->tr, err))) goto fail;
    if (dev && (rc = tag_read(dev, column, &o->tr.tags, &o->va, err))) goto fail;
    spans = calloc(o->tr.ntok ? o->tr.ntok : 1, sizeof *spans);
    if (!spans) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < o->tr.ntok; i++) spans[i] = (str_span){o->tr.tok[i], o->tr.tok_len[i]};
    if ((rc = vocab_of(spans, o->tr.ntok, " \xef\xbf\xbd", &o->v, err))) goto fail;
    recur_model_config mc = *mc0;
    mc.outputs = o->tr.tags.n;
    mc.cond = 0;
    if ((rc = recur_model_new(&mc, o->v, cfg->seed, &m, err))) goto fail;
    if ((rc = model_set_labels(m, RECUR_TASK_TAG, (const char *const *)o->tr.tags.names, o->tr.tags.n, err))) goto fail;
    if ((rc = tag_items(m, &o->tr, &o->ti, &o->tb, err))) goto fail;
    o->ntrain = o->tr.nsent;
    if (dev) {
        if ((rc = tag_items(m, &o->va, &o->vi, &o->vb, err))) goto fail;
        o->nval = o->va.nsent;
    } else if (cfg->val_frac > 0) {
        // No dev file: the last val_frac of the training sentences.
        o->nval = (size_t)((double)o->tr.nsent * cfg->val_frac);
        o->ntrain = o->tr.nsent - o->nval;
    }
    free(spans);
    const seq_item *val_items = dev ? o->vi : o->ti + o->ntrain;
    return seq_trainer_new(RECUR_TASK_TAG, m, o->ti, o->ntrain, val_items, o->nval, cfg,
                           (seq_owner){o, tag_owner_free, tag_train_report}, out, err);
fail:
    free(spans);
    recur_model_free(m);
    tag_owner_free(o);
    return rc;
}

int recur_tag_train(const char *train, const char *dev, const recur_app_config *cfg,
                    const char *out_path, recur_train_callback cb, void *user, recur_model **model,
                    recur_report *report, recur_error *err)
{
    if (!train || !cfg || !model || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
    *model = NULL;
    memset(report, 0, sizeof *report);
    recur_train_config tc;
    app_train_config(cfg, &tc);
    recur_trainer *t = NULL;
    int rc = recur_trainer_new_tag(train, dev, cfg->column, &cfg->model, &tc, &t, err);
    return rc ? rc : train_once(t, out_path, cb, user, model, report, err);
}

int recur_tag_eval(const recur_model *m, const char *path, int column, int threads,
                   recur_report *report, recur_error *err)
{
    if (!m || !path || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(report, 0, sizeof *report);
    int krc = model_check_kind(m, MODEL_KIND_TAG, "recur_tag_eval (recur tag eval)", err);
    if (krc) return krc;
    label_set tags;
    int rc = label_set_from_names((const char *const *)m->labels, m->nlabels, &tags, err);
    if (rc) return rc;
    tag_data d = {0};
    rc = tag_read(path, column, &tags, &d, err);
    label_set_free(&tags);
    if (!rc) {
        char extra[64];
        snprintf(extra, sizeof extra, "\"sentences\":%zu", d.nsent);
        rc = tag_score(m, &d, 16, threads, report, extra, err);
        report->nval = d.nsent;
    }
    tag_data_free(&d);
    return rc;
}

int recur_tag(const recur_model *m, const char *const *tokens, const size_t *lens, int n,
              int *tags, recur_error *err)
{
    if (!m || (!tokens && n) || !tags || n < 0) return set_error(err, RECUR_EINVAL, "NULL argument");
    int krc = model_check_kind(m, MODEL_KIND_TAG, "recur_tag (recur tag predict)", err);
    if (krc) return krc;
    if (n == 0) return RECUR_OK;
    // Characters (and the spaces between tokens) are counted in an int
    // below: bound the sentence before anything is added up in it.
    size_t chars = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] > (size_t)INT_MAX / 4 - chars)
            return set_error(err, RECUR_EINVAL, "sentence too long: over %d bytes", INT_MAX / 4);
        chars += lens[i] + 1;
    }
    int32_t *ids = calloc(chars, sizeof *ids), *last = calloc((size_t)n, sizeof *last);
    workspace *ws = NULL;
    int rc = ids && last ? RECUR_OK : set_error(err, RECUR_ENOMEM, "out of memory"), len = 0;
    int space = recur_vocab_id(m->vocab, ' ');
    if (!rc && space < 0) rc = set_error(err, RECUR_EVOCAB, "the tagger's vocabulary has no space to join tokens with");
    for (int i = 0; !rc && i < n; i++) {
        if (len) ids[len++] = space;
        int k = 0;
        rc = encode(m->vocab, tokens[i], lens[i], ids + len, &k, err);
        if (!rc && k == 0) rc = set_error(err, RECUR_EINVAL, "token %d is empty", i);
        len += k;
        last[i] = len - 1;
    }
    if (!rc) rc = ws_new(m, len, 1, 1, &ws, err);
    if (!rc) {
        ws->lens[0] = len;
        ws_zero_state(m, ws);
        model_forward(m, ws, ids, NULL);
        for (int i = 0; i < n; i++) {
            const float *z = ws->logits + (size_t)last[i] * m->O;
            int best = 0;
            for (int j = 1; j < m->O; j++)
                if (z[j] > z[best]) best = j;
            tags[i] = best;
        }
    }
    ws_free(m, ws);
    free(ids);
    free(last);
    return rc;
}
