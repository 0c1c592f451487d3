/*
 * checkpoint.c - a model <-> a safetensors file whose tensor names are those
 * of the PyTorch module {embed, rnn, head} and whose __metadata__ describes
 * the architecture and vocabulary (docs/format.md). Loading trusts nothing:
 * every tensor the metadata implies must be present as F32 with exactly the
 * right shape, and any other tensor outside the optim./train. namespaces is
 * rejected by name.
 */
#include "formats/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- writing */

size_t checkpoint_drop_meta(const recur_model_config *cfg, settings_meta *buf, st_kv *meta)
{
    size_t n = 0;
    snprintf(buf->in, sizeof buf->in, "%.9g", (double)cfg->dropout_in);
    snprintf(buf->out, sizeof buf->out, "%.9g", (double)cfg->dropout_out);
    if (cfg->dropout_in > 0) meta[n++] = (st_kv){"recur.dropout_in", buf->in};
    if (cfg->dropout_out > 0) meta[n++] = (st_kv){"recur.dropout_out", buf->out};
    if (cfg->variational) meta[n++] = (st_kv){"recur.variational", "1"};
    if (cfg->tie) meta[n++] = (st_kv){"recur.tie", "1"};
    return n;
}

int checkpoint_write(const recur_model *m, const st_entry *extra, size_t nextra,
                     const st_kv *extra_meta, size_t nextra_meta, const char *path,
                     recur_error *err)
{
    if (nextra_meta > ENGINE_EXTRA_META)
        return set_error(err, RECUR_EINVAL, "too many metadata entries for one checkpoint");
    size_t n = (size_t)m->nviews + nextra;
    st_entry *e = calloc(n, sizeof *e);
    strbuf vocab;
    sb_init(&vocab);
    if (!e) return set_error(err, RECUR_ENOMEM, "out of memory");
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        e[i].name = v->name;
        e[i].dtype = ST_F32;
        e[i].ndim = v->cols ? 2 : 1;
        e[i].shape[0] = (uint64_t)v->rows;
        e[i].shape[1] = (uint64_t)v->cols;
        e[i].data = m->w + v->off;
    }
    for (size_t i = 0; i < nextra; i++) e[m->nviews + i] = extra[i];

    char layers[16], hidden[16], embed[16], dropout[32], steps[32], best[32];
    snprintf(layers, sizeof layers, "%d", m->L);
    snprintf(hidden, sizeof hidden, "%d", m->H);
    snprintf(embed, sizeof embed, "%d", m->E);
    snprintf(dropout, sizeof dropout, "%.9g", (double)m->cfg.dropout);
    snprintf(steps, sizeof steps, "%lld", m->steps);
    if (isnan(m->best_val))
        snprintf(best, sizeof best, "none");
    else
        snprintf(best, sizeof best, "%.17g", m->best_val);
    vocab_to_json(m->vocab, &vocab);

    st_kv meta[24 + ENGINE_EXTRA_META];
    size_t nm = 0;
    meta[nm++] = (st_kv){"format", "pt"};
    meta[nm++] = (st_kv){"recur.version", RECUR_VERSION};
    meta[nm++] = (st_kv){"recur.cell", m->cell->name};
    if (m->cfg.cell == RECUR_CELL_RNN)
        meta[nm++] = (st_kv){"recur.nonlinearity", m->cfg.relu ? "relu" : "tanh"};
    meta[nm++] = (st_kv){"recur.layers", layers};
    meta[nm++] = (st_kv){"recur.hidden", hidden};
    meta[nm++] = (st_kv){"recur.embed", embed};
    meta[nm++] = (st_kv){"recur.dropout", dropout};
    meta[nm++] = (st_kv){"recur.vocab", vocab.s ? vocab.s : "[]"};
    meta[nm++] = (st_kv){"recur.vocab_bytes", m->vocab->bytes ? "1" : "0"};
    meta[nm++] = (st_kv){"recur.steps", steps};
    strbuf labels;
    sb_init(&labels);
    if (m->task != RECUR_TASK_LM) {
        meta[nm++] = (st_kv){"recur.task", recur_task_name(m->task)};
        sb_putc(&labels, '[');
        for (int i = 0; i < m->nlabels; i++) {
            if (i) sb_putc(&labels, ',');
            sb_json_string(&labels, m->labels[i], strlen(m->labels[i]));
        }
        sb_putc(&labels, ']');
        meta[nm++] = (st_kv){"recur.labels", labels.s ? labels.s : "[]"};
    }
    // A model made through the public config with a head or conditioning of
    // its own but no task (recur_model_new) keeps them, so that it loads
    // back as what it is; the entry points then refuse it (model.h, kinds).
    char outputs[16], cond[16];
    if (m->task == RECUR_TASK_LM && m->O != m->V) {
        snprintf(outputs, sizeof outputs, "%d", m->O ? m->O : -1);
        meta[nm++] = (st_kv){"recur.outputs", outputs};
    }
    if (m->task == RECUR_TASK_LM && m->Cc) {
        snprintf(cond, sizeof cond, "%d", m->Cc);
        meta[nm++] = (st_kv){"recur.cond", cond};
    }
    if (m->D == 2) meta[nm++] = (st_kv){"recur.bidirectional", "1"};
    settings_meta dm;
    nm += checkpoint_drop_meta(&m->cfg, &dm, meta + nm);
    meta[nm++] = (st_kv){"recur.best_val", best};
    if (m->train_meta) meta[nm++] = (st_kv){"recur.train", m->train_meta};
    for (size_t i = 0; i < nextra_meta; i++)
        meta[nm++] = extra_meta[i];

    int rc = vocab.oom || labels.oom ? set_error(err, RECUR_ENOMEM, "out of memory")
                                     : st_write(path, e, n, meta, nm, err);
    sb_free(&vocab);
    sb_free(&labels);
    free(e);
    return rc;
}

int recur_model_save(const recur_model *m, const char *path, recur_error *err)
{
    if (!m || !path) return set_error(err, RECUR_EINVAL, "NULL argument");
    return checkpoint_write(m, NULL, 0, NULL, 0, path, err);
}

/* ---------------------------------------------------------------- reading */

// A strict decimal integer in [lo, hi] from a metadata string.
int meta_int(const st_file *f, const char *key, long lo, long hi, int required, long def,
             long *out, recur_error *err)
{
    const char *s = st_meta(f, key);
    if (!s) {
        if (required) return set_error(err, RECUR_EFORMAT, "checkpoint metadata lacks %s", key);
        *out = def;
        return RECUR_OK;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata %s=\"%.40s\" is not an integer in %ld..%ld",
                         key, s, lo, hi);
    *out = v;
    return RECUR_OK;
}

static int meta_double(const st_file *f, const char *key, double def, double *out,
                       recur_error *err)
{
    const char *s = st_meta(f, key);
    *out = def;
    if (!s || strcmp(s, "none") == 0) return RECUR_OK;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata %s=\"%.40s\" is not a number", key, s);
    *out = v;
    return RECUR_OK;
}

// The model's shape from the metadata (and the embedding tensor's width):
// cell, nonlinearity, layers, hidden, embedding, dropout, directions.
static int read_shape(const st_file *f, recur_model_config *cfg, recur_error *err)
{
    const char *cell_name = st_meta(f, "recur.cell");
    if (!cell_name) return set_error(err, RECUR_EFORMAT, "checkpoint metadata lacks recur.cell");
    const cell_def *cell = cell_find(cell_name);
    if (!cell)
        return set_error(err, RECUR_EFORMAT, "checkpoint has unknown cell \"%.40s\" (expected rnn, lstm or gru)",
                         cell_name);
    recur_model_config_default(cfg);
    cfg->cell = cell->id;
    const char *nl = st_meta(f, "recur.nonlinearity"); // absent means tanh, as in nn.RNN
    if (nl && strcmp(nl, "tanh") != 0 && strcmp(nl, "relu") != 0)
        return set_error(err, RECUR_EFORMAT, "checkpoint has unknown nonlinearity \"%.40s\"", nl);
    cfg->relu = nl && strcmp(nl, "relu") == 0;
    if (cfg->relu && cell->id != RECUR_CELL_RNN)
        return set_error(err, RECUR_EFORMAT, "checkpoint: relu nonlinearity is only for the rnn cell");

    long layers, hidden, embed_meta;
    int rc;
    if ((rc = meta_int(f, "recur.layers", 1, 64, 1, 0, &layers, err)) ||
        (rc = meta_int(f, "recur.hidden", 1, 65536, 1, 0, &hidden, err)) ||
        (rc = meta_int(f, "recur.embed", 0, 65536, 0, -1, &embed_meta, err)))
        return rc;
    cfg->layers = (int)layers;
    cfg->hidden = (int)hidden;
    double dropout;
    if ((rc = meta_double(f, "recur.dropout", 0.0, &dropout, err))) return rc;
    if (!(dropout >= 0 && dropout < 1))
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.dropout out of [0, 1)");
    cfg->dropout = (float)dropout;
    double din, dout;
    if ((rc = meta_double(f, "recur.dropout_in", 0.0, &din, err)) ||
        (rc = meta_double(f, "recur.dropout_out", 0.0, &dout, err)))
        return rc;
    if (!(din >= 0 && din < 1) || !(dout >= 0 && dout < 1))
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.dropout_in or recur.dropout_out out of [0, 1)");
    cfg->dropout_in = (float)din;
    cfg->dropout_out = (float)dout;
    const char *var = st_meta(f, "recur.variational");
    if (var && strcmp(var, "0") != 0 && strcmp(var, "1") != 0)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.variational must be 0 or 1");
    cfg->variational = var && strcmp(var, "1") == 0;
    const char *tie = st_meta(f, "recur.tie");
    if (tie && strcmp(tie, "0") != 0 && strcmp(tie, "1") != 0)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.tie must be 0 or 1");
    cfg->tie = tie && strcmp(tie, "1") == 0;

    // The embedding size comes from the tensor when there is one.
    const st_tensor *emb = st_find(f, "embed.weight");
    if (emb) {
        if (emb->ndim != 2 || emb->shape[1] < 1 || emb->shape[1] > 65536)
            return set_error(err, RECUR_EFORMAT, "tensor \"embed.weight\" must be 2-D [vocab, embed]");
        cfg->embed = (int)emb->shape[1];
    }
    if (embed_meta >= 0 && embed_meta != cfg->embed)
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.embed=%ld but %s",
                         embed_meta, emb ? "embed.weight says otherwise" : "there is no tensor \"embed.weight\"");
    const char *bi = st_meta(f, "recur.bidirectional");
    cfg->bidirectional = bi && strcmp(bi, "1") == 0;
    return RECUR_OK;
}

// The application: its labels decide the head (classify, tag) or the
// conditioning input (condlm); a task-less model may record its outputs and
// conditioning classes. *labels (caller frees) and *nlabels.
static int read_task(const st_file *f, recur_model_config *cfg, int *task_out, char ***labels,
                     int *nlabels, recur_error *err)
{
    const char *task_name = st_meta(f, "recur.task");
    int task = RECUR_TASK_LM, rc;
    if (task_name) {
        for (task = 0; task < 4 && strcmp(recur_task_name((recur_task)task), task_name); task++) {}
        if (task == 4)
            return set_error(err, RECUR_EFORMAT, "checkpoint has unknown task \"%.40s\" (expected lm, classify, tag or condlm)", task_name);
    }
    *labels = NULL;
    *nlabels = 0;
    const char *lj = st_meta(f, "recur.labels");
    if (task != RECUR_TASK_LM) {
        if (!lj) return set_error(err, RECUR_EFORMAT, "checkpoint of a %s model lacks recur.labels", task_name);
        if ((rc = labels_from_json(lj, labels, nlabels, err))) return rc;
        if (*nlabels < 1) {
            labels_free(*labels, *nlabels);
            *labels = NULL;
            return set_error(err, RECUR_EFORMAT, "checkpoint of a %s model has no labels", task_name);
        }
        if (task == RECUR_TASK_CONDLM)
            cfg->cond = *nlabels;
        else
            cfg->outputs = *nlabels;
    }
    if (st_meta(f, "recur.outputs") || st_meta(f, "recur.cond")) {
        // Only a task-less model records them; an application's labels decide.
        if (task != RECUR_TASK_LM) {
            labels_free(*labels, *nlabels);
            *labels = NULL;
            return set_error(err, RECUR_EFORMAT, "checkpoint of a %s model has recur.outputs or recur.cond (its labels decide them)",
                             task_name);
        }
        long o, c;
        if ((rc = meta_int(f, "recur.outputs", -1, 1000000, 0, 0, &o, err)) ||
            (rc = meta_int(f, "recur.cond", 0, 1000000, 0, 0, &c, err)))
            return rc;
        cfg->outputs = (int)o;
        cfg->cond = (int)c;
    }
    *task_out = task;
    return RECUR_OK;
}

// Every tensor of m's table, F32 with exactly its shape, and no tensor the
// table does not have (outside the optim./train. namespaces of a state).
static int read_tensors(const st_file *f, recur_model *m, recur_error *err)
{
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        const st_tensor *t = st_find(f, v->name);
        if (!t)
            return set_error(err, RECUR_EFORMAT, "checkpoint lacks tensor \"%s\" (a %s with %d layers, hidden %d)",
                             v->name, m->cell->name, m->L, m->H);
        int want_nd = v->cols ? 2 : 1;
        if (t->dtype != ST_F32 || t->ndim != want_nd || t->shape[0] != (uint64_t)v->rows ||
            (v->cols && t->shape[1] != (uint64_t)v->cols)) {
            char want[48], got[96] = "";
            if (v->cols)
                snprintf(want, sizeof want, "F32 [%d, %d]", v->rows, v->cols);
            else
                snprintf(want, sizeof want, "F32 [%d]", v->rows);
            size_t k = (size_t)snprintf(got, sizeof got, "%s [", st_dtype_name(t->dtype));
            for (int d = 0; d < t->ndim && k < sizeof got - 24; d++)
                k += (size_t)snprintf(got + k, sizeof got - k, d ? ", %llu" : "%llu",
                                      (unsigned long long)t->shape[d]);
            snprintf(got + k, sizeof got - k, "]");
            return set_error(err, RECUR_EFORMAT, "tensor \"%s\" is %s, expected %s", v->name, got, want);
        }
        if (v->alias) {
            // A tied head: its tensor must be the embedding it is.
            float *copy = xcalloc(v->n, sizeof(float));
            if (!copy) return set_error(err, RECUR_ENOMEM, "out of memory");
            st_copy_f32(t, copy, v->n, NULL);
            int same = memcmp(copy, m->w + v->off, v->n * sizeof(float)) == 0;
            free(copy);
            if (!same)
                return set_error(err, RECUR_EFORMAT, "tensor \"%s\" differs from \"embed.weight\" in a checkpoint "
                                 "whose recur.tie says they are one", v->name);
            continue;
        }
        st_copy_f32(t, m->w + v->off, v->n, NULL);
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        const char *name = f->tensors[i].name;
        if (strncmp(name, "optim.", 6) == 0 || strncmp(name, "train.", 6) == 0) continue;
        if (!model_find_view(m, name))
            return set_error(err, RECUR_EFORMAT, "unexpected tensor \"%.60s\" in a %s checkpoint with %d layers%s",
                             name, m->cell->name, m->L, m->E ? "" : " and one-hot input");
    }
    return RECUR_OK;
}

// Steps trained, the best validation loss and the training settings.
static int read_progress(const st_file *f, recur_model *m, recur_error *err)
{
    long steps;
    int rc;
    if ((rc = meta_int(f, "recur.steps", 0, 0x7fffffffL, 0, 0, &steps, err)) ||
        (rc = meta_double(f, "recur.best_val", NAN, &m->best_val, err)))
        return rc;
    // A loss is finite and >= 0 ("none" before any validation): a file's
    // -1 or inf would otherwise be shown, compared and saved as the best.
    if (!isnan(m->best_val) && !(isfinite(m->best_val) && m->best_val >= 0))
        return set_error(err, RECUR_EFORMAT, "checkpoint metadata recur.best_val is not a loss (finite, >= 0, or none)");
    m->steps = steps;
    const char *tm = st_meta(f, "recur.train");
    if (tm && !(m->train_meta = strdup(tm))) return set_error(err, RECUR_ENOMEM, "out of memory");
    return RECUR_OK;
}

int checkpoint_read_model(const st_file *f, recur_model **out, recur_error *err)
{
    *out = NULL;
    recur_model_config cfg;
    char **labels = NULL;
    int nlabels = 0, task = RECUR_TASK_LM;
    int rc = read_shape(f, &cfg, err);
    if (!rc) rc = read_task(f, &cfg, &task, &labels, &nlabels, err);
    if (rc) return rc;

    const char *vj = st_meta(f, "recur.vocab");
    const char *vb = st_meta(f, "recur.vocab_bytes");
    recur_vocab *vocab = NULL;
    if (!vj)
        rc = set_error(err, RECUR_EFORMAT, "checkpoint metadata lacks recur.vocab");
    else
        rc = vocab_from_json(vj, vb && strcmp(vb, "1") == 0, &vocab, err);
    recur_model *m = NULL;
    if (!rc) rc = model_alloc(&cfg, vocab, &m, err);
    if (!rc) rc = model_set_labels(m, (recur_task)task, (const char *const *)labels, nlabels, err);
    recur_vocab_free(vocab);
    labels_free(labels, nlabels);
    if (rc == RECUR_EINVAL) rc = RECUR_EFORMAT; // a bad configuration here is a bad file
    if (!rc) rc = read_tensors(f, m, err);
    if (!rc) rc = read_progress(f, m, err);
    if (rc) {
        if (err) err->code = rc;
        recur_model_free(m); // after the message: it may name a view of m
        return rc;
    }
    m->version++;
    *out = m;
    return RECUR_OK;
}

int checkpoint_read_tensor(const st_file *f, const char *name, int rows, int cols, float *dst,
                           recur_error *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t) return set_error(err, RECUR_EFORMAT, "checkpoint lacks tensor \"%.100s\"", name);
    int want_nd = cols ? 2 : 1;
    if (t->dtype != ST_F32 || t->ndim != want_nd || t->shape[0] != (uint64_t)rows ||
        (cols && t->shape[1] != (uint64_t)cols)) {
        char want[48], got[96] = "";
        if (cols)
            snprintf(want, sizeof want, "F32 [%d, %d]", rows, cols);
        else
            snprintf(want, sizeof want, "F32 [%d]", rows);
        size_t k = (size_t)snprintf(got, sizeof got, "%s [", st_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim && k < sizeof got - 24; d++)
            k += (size_t)snprintf(got + k, sizeof got - k, d ? ", %llu" : "%llu",
                                  (unsigned long long)t->shape[d]);
        snprintf(got + k, sizeof got - k, "]");
        return set_error(err, RECUR_EFORMAT, "tensor \"%.100s\" is %s, expected %s", name, got, want);
    }
    return st_copy_f32(t, dst, (size_t)rows * (size_t)(cols ? cols : 1), err);
}

int checkpoint_read_views(const st_file *f, const char *prefix, recur_model *m,
                          recur_error *err)
{
    char name[128];
    for (int i = 0; i < m->nviews; i++) {
        const param_view *v = &m->views[i];
        snprintf(name, sizeof name, "%s%s", prefix, v->name);
        int rc = checkpoint_read_tensor(f, name, v->rows, v->cols, m->w + v->off, err);
        if (rc) return rc;
    }
    m->version++;
    return RECUR_OK;
}

int recur_model_load(const char *path, recur_model **out, recur_error *err)
{
    if (!path || !out) return set_error(err, RECUR_EINVAL, "NULL argument");
    *out = NULL;
    st_file *f = NULL;
    int rc = st_read(path, &f, err);
    if (rc) return rc;
    rc = checkpoint_read_model(f, out, err);
    st_free(f);
    if (rc) error_prefix(err, path); // "model.safetensors: tensor ..." 
    return rc;
}
