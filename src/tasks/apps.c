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

static int check_cfg(const recur_app_config *c, recur_error *err)
{
    if (c->batch < 1 || c->batch > 4096) return set_error(err, RECUR_EINVAL, "--batch must be 1..4096");
    if (!(c->val_frac >= 0 && c->val_frac < 1))
        return set_error(err, RECUR_EINVAL, "--val-frac must be in [0, 1)");
    if (c->steps <= 0 && !(c->epochs > 0)) return set_error(err, RECUR_EINVAL, "--epochs must be > 0");
    return RECUR_OK;
}

static seq_config seq_cfg(const recur_app_config *c, int pool, int by_loss)
{
    seq_config s = {pool,      c->batch,      c->epochs, c->steps,       c->optim, c->lr,
                    c->lr_decay > 0 ? c->lr_decay : 1.0f, c->clip, c->seed, c->threads,
                    c->eval_every, by_loss};
    return s;
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

// Shared by classification and generation by class: read, split, build the
// model, train.
static int train_by_class(recur_task task, const char *data, const recur_app_config *cfg,
                          const char *out_path, recur_train_callback cb, void *user,
                          recur_model **model, recur_report *report, recur_error *err)
{
    *model = NULL;
    memset(report, 0, sizeof *report);
    int rc = check_cfg(cfg, err);
    if (rc) return rc;
    class_data d;
    class_split sp = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    seq_item *tr = NULL, *va = NULL;
    int32_t *trb = NULL, *vab = NULL, *pred = NULL;
    str_span *spans = NULL;
    confusion cm = {0};
    if ((rc = class_read(data, &d, err))) return rc;
    const int per_step = task == RECUR_TASK_CONDLM;
    if ((rc = class_split_stratified(&d, cfg->val_frac, cfg->seed, &sp, err))) goto done;
    // The vocabulary of the training texts (and U+FFFD, and "\n" for generation).
    spans = calloc(sp.ntrain ? sp.ntrain : 1, sizeof *spans);
    if (!spans) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < sp.ntrain; i++) spans[i] = (str_span){d.ex[sp.train[i]].text, d.ex[sp.train[i]].len};
    if ((rc = vocab_of(spans, sp.ntrain, per_step ? "\xef\xbf\xbd\n" : "\xef\xbf\xbd", &v, err))) goto done;
    recur_model_config mc = cfg->model;
    if (per_step) {
        mc.cond = d.labels.n;
        mc.outputs = 0;
        mc.bidirectional = 0; // generation reads left to right
    } else {
        mc.outputs = d.labels.n;
    }
    if ((rc = recur_model_new(&mc, v, cfg->seed, &m, err))) goto done;
    if ((rc = model_set_labels(m, task, (const char *const *)d.labels.names, d.labels.n, err))) goto done;
    if ((rc = class_items(m, &d, sp.train, sp.ntrain, per_step, &tr, &trb, err)) ||
        (rc = class_items(m, &d, sp.val, sp.nval, per_step, &va, &vab, err)))
        goto done;
    seq_config sc = seq_cfg(cfg, !per_step, per_step);
    if ((rc = seq_train(m, tr, sp.ntrain, va, sp.nval, &sc, out_path, cb, user, err))) goto done;

    report->ntrain = sp.ntrain;
    report->nval = sp.nval;
    report->duplicates = d.duplicates;
    report->ambiguous = d.ambiguous_texts;
    if (sp.nval) {
        seq_eval e;
        pred = calloc(sp.nval, sizeof *pred);
        if (!pred) {
            rc = set_error(err, RECUR_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = seq_evaluate(m, va, sp.nval, !per_step, cfg->batch, cfg->threads, &e,
                               per_step ? NULL : pred, err)))
            goto done;
        report->val_loss = e.loss;
        char extra[256];
        snprintf(extra, sizeof extra, "\"train_examples\":%zu,\"val_examples\":%zu,\"duplicates_removed\":%zu,\"val_loss\":%.6f",
                 sp.ntrain, sp.nval, d.duplicates, e.loss);
        if (per_step) {
            report->accuracy = e.total ? (double)e.correct / (double)e.total : 0;
            report->correct = e.correct;
            report->total = e.total;
            strbuf j;
            sb_init(&j);
            sb_printf(&j, "{\"next_char_accuracy\":%.6f,%s}", report->accuracy, extra);
            report->json = j.s;
        } else {
            if ((rc = confusion_init(&cm, d.labels.n, err))) goto done;
            for (size_t i = 0; i < sp.nval; i++) confusion_add(&cm, va[i].label, pred[i], NULL);
            if ((rc = fill_report(report, &cm, (const char *const *)d.labels.names, extra, err))) goto done;
        }
    }
    *model = m;
    m = NULL;
done:
    recur_model_free(m);
    recur_vocab_free(v);
    class_split_free(&sp);
    class_data_free(&d);
    confusion_free(&cm);
    free(spans);
    free(tr);
    free(va);
    free(trb);
    free(vab);
    free(pred);
    return rc;
}

int recur_classify_train(const char *data, const recur_app_config *cfg, const char *out_path,
                         recur_train_callback cb, void *user, recur_model **model,
                         recur_report *report, recur_error *err)
{
    if (!data || !cfg || !model || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
    return train_by_class(RECUR_TASK_CLASSIFY, data, cfg, out_path, cb, user, model, report, err);
}

int recur_condlm_train(const char *data, const recur_app_config *cfg, const char *out_path,
                       recur_train_callback cb, void *user, recur_model **model,
                       recur_report *report, recur_error *err)
{
    if (!data || !cfg || !model || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
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

int recur_tag_train(const char *train, const char *dev, const recur_app_config *cfg,
                    const char *out_path, recur_train_callback cb, void *user, recur_model **model,
                    recur_report *report, recur_error *err)
{
    if (!train || !cfg || !model || !report) return set_error(err, RECUR_EINVAL, "NULL argument");
    *model = NULL;
    memset(report, 0, sizeof *report);
    int rc = check_cfg(cfg, err);
    if (rc) return rc;
    tag_data tr = {0}, va = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    seq_item *ti = NULL, *vi = NULL;
    int32_t *tb = NULL, *vb = NULL;
    str_span *spans = NULL;
    if ((rc = tag_read(train, cfg->column, NULL, &tr, err))) return rc;
    if (dev && (rc = tag_read(dev, cfg->column, &tr.tags, &va, err))) goto done;
    spans = calloc(tr.ntok ? tr.ntok : 1, sizeof *spans);
    if (!spans) {
        rc = set_error(err, RECUR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < tr.ntok; i++) spans[i] = (str_span){tr.tok[i], tr.tok_len[i]};
    if ((rc = vocab_of(spans, tr.ntok, " \xef\xbf\xbd", &v, err))) goto done;
    recur_model_config mc = cfg->model;
    mc.outputs = tr.tags.n;
    mc.cond = 0;
    if ((rc = recur_model_new(&mc, v, cfg->seed, &m, err))) goto done;
    if ((rc = model_set_labels(m, RECUR_TASK_TAG, (const char *const *)tr.tags.names, tr.tags.n, err))) goto done;
    if ((rc = tag_items(m, &tr, &ti, &tb, err))) goto done;
    size_t ntrain = tr.nsent, nval = 0;
    if (dev) {
        if ((rc = tag_items(m, &va, &vi, &vb, err))) goto done;
        nval = va.nsent;
    } else if (cfg->val_frac > 0) {
        // No dev file: the last val_frac of the training sentences.
        nval = (size_t)((double)tr.nsent * cfg->val_frac);
        ntrain = tr.nsent - nval;
        vi = NULL;
    }
    const seq_item *val_items = dev ? vi : ti + ntrain;
    seq_config sc = seq_cfg(cfg, 0, 0);
    if ((rc = seq_train(m, ti, ntrain, val_items, nval, &sc, out_path, cb, user, err))) goto done;
    report->ntrain = ntrain;
    report->nval = nval;
    if (dev) {
        char extra[128];
        snprintf(extra, sizeof extra, "\"train_sentences\":%zu,\"val_sentences\":%zu", ntrain, nval);
        if ((rc = tag_score(m, &va, cfg->batch, cfg->threads, report, extra, err))) goto done;
        report->nval = nval;
        report->ntrain = ntrain;
    } else if (nval) {
        seq_eval e;
        if ((rc = seq_evaluate(m, val_items, nval, 0, cfg->batch, cfg->threads, &e, NULL, err))) goto done;
        report->val_loss = e.loss;
        report->correct = e.correct;
        report->total = e.total;
        report->accuracy = e.total ? (double)e.correct / (double)e.total : 0;
    }
    *model = m;
    m = NULL;
done:
    recur_model_free(m);
    recur_vocab_free(v);
    tag_data_free(&tr);
    tag_data_free(&va);
    free(spans);
    free(ti);
    free(vi);
    free(tb);
    free(vb);
    return rc;
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
