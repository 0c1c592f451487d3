/*
 * cmd_viz.c - recur viz: look inside a trained model. Traces the model over
 * a text (recur_trace_text), ranks its units by how well they track simple
 * features of the text, measures gate saturation, draws samples, reads the
 * training log, and hands it all to viz_html.c for one self-contained HTML
 * page. With --unit L:U it prints the text to the terminal instead, each
 * character's background coloured by that unit. docs/viz.md.
 */
#include "cli.h"
#include "viz.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char viz_usage[] =
    "usage: recur viz CKPT TEXT [options]\n"
    "       recur viz --log TRAIN.jsonl [--out FILE]\n"
    "       recur viz CKPT TEXT --unit L:U\n\n"
    "Writes one self-contained HTML page (no network, no other file) showing what the model\n"
    "does on the first --chars characters of TEXT: the model, learning curves (--log), how\n"
    "surprised it is by each character and what it expected, the activation of any unit with\n"
    "the units that best track quotes, brackets, position in the line, indentation, words and\n"
    "newlines, gate saturation, and samples at temperatures 0.5, 0.8 and 1.0. For a classifier\n"
    "TEXT is label<TAB>text lines (a confusion matrix and per-character class probabilities);\n"
    "for a seq2seq model, one source per line (attention heat maps). With --log alone: only\n"
    "the learning curves. With --unit: TEXT in the terminal, coloured by one unit (docs/viz.md).";

/* ---------------------------------------------------------------- the log */

static void log_free(viz_log *g)
{
    if (!g) return;
    free(g->step), free(g->train), free(g->val), free(g->lr), free(g->gn);
    free(g);
}

// Skips a JSON value starting at *p (string, number, literal, object or
// array); returns 0 on success.
static int skip_value(const char **p)
{
    const char *s = *p;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++)
            if (*s == '\\' && s[1]) s++;
        if (*s != '"') return -1;
        *p = s + 1;
        return 0;
    }
    if (*s == '{' || *s == '[') {
        int depth = 0;
        for (; *s; s++) {
            if (*s == '"') {
                if (skip_value(&s)) return -1;
                s--;
            } else if (*s == '{' || *s == '[') depth++;
            else if ((*s == '}' || *s == ']') && --depth == 0) {
                *p = s + 1;
                return 0;
            }
        }
        return -1;
    }
    const char *b = s;
    while (*s && (isalnum((unsigned char)*s) || *s == '-' || *s == '+' || *s == '.')) s++;
    if (s == b) return -1;
    *p = s;
    return 0;
}

// One line of the log: a flat JSON object; the keys we know give numbers
// (null: NaN), any other key is skipped whatever its value.
static int log_line(const char *s, double out[5], const char **why)
{
    static const char *const keys[5] = {"step", "train_loss", "val_loss", "lr", "grad_norm"};
    for (int k = 0; k < 5; k++) out[k] = NAN;
    while (isspace((unsigned char)*s)) s++;
    if (*s++ != '{') return *why = "not a JSON object", -1;
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (*s == '}') break;
        if (*s != '"') return *why = "expected a key in quotes", -1;
        const char *key = s + 1, *kend = strchr(key, '"');
        if (!kend) return *why = "unterminated key", -1;
        s = kend + 1;
        while (isspace((unsigned char)*s)) s++;
        if (*s++ != ':') return *why = "expected ':' after a key", -1;
        while (isspace((unsigned char)*s)) s++;
        int known = -1;
        for (int k = 0; k < 5; k++)
            if ((size_t)(kend - key) == strlen(keys[k]) && !strncmp(key, keys[k], (size_t)(kend - key))) known = k;
        if (known >= 0 && strncmp(s, "null", 4) == 0) {
            s += 4;
        } else if (known >= 0) {
            char *e;
            errno = 0;
            double v = strtod(s, &e);
            if (e == s || errno || !isfinite(v)) return *why = "a value that is not a finite number", -1;
            out[known] = v;
            s = e;
        } else if (skip_value(&s)) {
            return *why = "a malformed value", -1;
        }
        while (isspace((unsigned char)*s)) s++;
        if (*s == ',') s++;
        else if (*s != '}') return *why = "expected ',' or '}'", -1;
    }
    s++;
    while (isspace((unsigned char)*s)) s++;
    if (*s) return *why = "text after the object", -1;
    if (isnan(out[0])) return *why = "no \"step\" (not a log written by 'recur train --log')", -1;
    if (isnan(out[1]) && isnan(out[2])) return *why = "neither \"train_loss\" nor \"val_loss\"", -1;
    return 0;
}

static int push(double **a, int n, int *cap, double v)
{
    if (n == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        double *b = realloc(*a, sizeof(double) * (size_t)nc);
        if (!b) return -1;
        *a = b;
        *cap = nc;
    }
    (*a)[n] = v;
    return 0;
}

static int log_read(const char *path, viz_log **out, recur_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err->msg, sizeof err->msg, "cannot open %s: %s", path, strerror(errno)), RECUR_EIO;
    viz_log *g = calloc(1, sizeof *g);
    char *line = NULL;
    size_t lcap = 0;
    long long lineno = 0;
    int caps[5] = {0}, rc = RECUR_OK;
    ssize_t got;
    while (g && (got = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (strlen(line) != (size_t)got) {
            snprintf(err->msg, sizeof err->msg, "%s line %lld: a NUL byte (not JSON lines)", path, lineno);
            rc = RECUR_EFORMAT;
            break;
        }
        const char *s = line;
        while (isspace((unsigned char)*s)) s++;
        if (!*s) continue;
        double v[5];
        const char *why = "";
        if (log_line(line, v, &why)) {
            snprintf(err->msg, sizeof err->msg, "%s line %lld: %s", path, lineno, why);
            rc = RECUR_EFORMAT;
            break;
        }
        double **cols[5] = {&g->step, &g->train, &g->val, &g->lr, &g->gn};
        for (int k = 0; k < 5; k++)
            if (push(cols[k], g->n, &caps[k], v[k])) rc = RECUR_ENOMEM;
        if (rc) break;
        g->n++;
    }
    free(line);
    fclose(f);
    if (!g) rc = RECUR_ENOMEM;
    if (rc == RECUR_ENOMEM) snprintf(err->msg, sizeof err->msg, "out of memory reading %s", path);
    if (!rc && g->n == 0) {
        snprintf(err->msg, sizeof err->msg, "%s: no log lines (empty file)", path);
        rc = RECUR_EFORMAT;
    }
    if (rc) {
        log_free(g);
        return rc;
    }
    *out = g;
    return RECUR_OK;
}

/* ---------------------------------------------------------------- the units */

// The units that best track each feature: the top VIZ_TOP by |r| over h (and
// c, LSTM) of every unit of every layer.
static int rank_units(viz_report *r, recur_error *err)
{
    const recur_trace *t = r->tr;
    const int n = recur_trace_steps(t), UH = recur_trace_layers(t) * recur_trace_directions(t) * recur_trace_hidden(t);
    const int H = recur_trace_hidden(t), D = recur_trace_directions(t);
    float *x = malloc(sizeof(float) * (size_t)n), *corr = malloc(sizeof(float) * (size_t)UH);
    int rc = !x || !corr ? RECUR_ENOMEM : RECUR_OK;
    if (rc) snprintf(err->msg, sizeof err->msg, "out of memory");
    for (int f = 0; f < RECUR_FEAT_COUNT && !rc; f++) {
        viz_rank *top = r->rank[f];
        for (int k = 0; k < VIZ_TOP; k++) top[k] = (viz_rank){-1, 0, 0, RECUR_TRACE_H, 0};
        if ((rc = recur_trace_feature(t, (recur_feature)f, x, err))) break;
        int varies = 0;
        for (int s = 1; s < n && !varies; s++) varies = x[s] != x[0];
        if (!varies) continue; // nothing in this text to track (no quotes, say)
        for (int w = RECUR_TRACE_H; w <= RECUR_TRACE_C && !rc; w++) {
            if (!recur_trace_get(t, (recur_trace_value)w, 0, 0, 0)) continue;
            if ((rc = recur_trace_correlate(t, (recur_trace_value)w, x, corr, err))) break;
            for (int j = 0; j < UH; j++) {
                float a = fabsf(corr[j]);
                int k = VIZ_TOP;
                while (k > 0 && (top[k - 1].layer < 0 || a > fabsf(top[k - 1].r))) k--;
                if (k == VIZ_TOP) continue;
                memmove(top + k + 1, top + k, sizeof *top * (VIZ_TOP - 1 - k));
                top[k] = (viz_rank){j / H / D, j / H % D, j % H, (recur_trace_value)w, corr[j]};
            }
        }
    }
    r->nrank = VIZ_TOP;
    free(x), free(corr);
    return rc;
}

static int has_track(const viz_report *r, int l, int d, int u)
{
    for (int i = 0; i < r->ntracks; i++)
        if (r->tracks[i].layer == l && r->tracks[i].dir == d && r->tracks[i].unit == u) return 1;
    return 0;
}

static void add_track(viz_report *r, const recur_model_info *mi, int l, int d, int u)
{
    viz_track *k = &r->tracks[r->ntracks++];
    *k = (viz_track){l, d, u, 0, {RECUR_TRACE_H}, 1.0f};
    k->vals[k->nvals++] = RECUR_TRACE_H;
    if (mi->cell == RECUR_CELL_LSTM) {
        static const recur_trace_value lv[4] = {RECUR_TRACE_C, RECUR_TRACE_I, RECUR_TRACE_F, RECUR_TRACE_O};
        for (int i = 0; i < 4; i++) k->vals[k->nvals++] = lv[i];
        float mx = 1e-6f;
        for (int s = 0; s < recur_trace_steps(r->tr); s++) {
            float v = fabsf(recur_trace_get(r->tr, RECUR_TRACE_C, s, l, d)[u]);
            mx = v > mx ? v : mx;
        }
        k->cscale = mx;
    } else if (mi->cell == RECUR_CELL_GRU) {
        k->vals[k->nvals++] = RECUR_TRACE_R;
        k->vals[k->nvals++] = RECUR_TRACE_Z;
    }
}

// Every unit of the chosen layer(s), then the top 3 units of each feature.
static int pick_tracks(viz_report *r, const recur_model_info *mi)
{
    const int D = recur_trace_directions(r->tr), H = mi->hidden;
    int cap = (r->layer < 0 ? mi->layers : 1) * D * H + RECUR_FEAT_COUNT * 3;
    r->tracks = calloc((size_t)cap, sizeof *r->tracks);
    if (!r->tracks) return RECUR_ENOMEM;
    for (int l = 0; l < mi->layers; l++)
        if (r->layer < 0 || l == r->layer)
            for (int d = 0; d < D; d++)
                for (int u = 0; u < H; u++) add_track(r, mi, l, d, u);
    for (int f = 0; f < RECUR_FEAT_COUNT; f++)
        for (int k = 0; k < 3; k++) {
            const viz_rank *q = &r->rank[f][k];
            if (q->layer >= 0 && !has_track(r, q->layer, q->dir, q->unit)) add_track(r, mi, q->layer, q->dir, q->unit);
        }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- samples */

static int draw_samples(viz_report *r, const recur_model *m, const char *text, recur_error *err)
{
    static const float temps[3] = {0.5f, 0.8f, 1.0f};
    const recur_vocab *v = recur_model_vocab(m);
    for (int k = 0; k < 3; k++) {
        recur_sample_config sc;
        recur_sample_config_default(&sc);
        sc.temperature = temps[k];
        recur_sampler *s = NULL;
        int rc = recur_sampler_new(m, &sc, &s, err);
        if (rc) return rc;
        // Start after a newline when the model knows one, else after the text's first character.
        size_t off = 0;
        int nb = 1;
        recur_trace_char(r->tr, 0, &off, &nb);
        const int nl = recur_vocab_id(v, '\n') >= 0;
        const char *prime = nl ? "\n" : text + off;
        size_t plen = nl ? 1 : (size_t)nb;
        char *out = malloc(4 * 300 + 1);
        size_t len = 0;
        if (!out) rc = RECUR_ENOMEM;
        if (!rc) rc = recur_sampler_prime(s, prime, plen, err);
        for (int i = 0; i < 300 && !rc; i++) {
            int n;
            rc = recur_sampler_next(s, out + len, &n, err);
            if (!rc) len += (size_t)n;
        }
        recur_sampler_free(s);
        if (rc) {
            free(out);
            return rc;
        }
        out[len] = 0;
        r->samples[k] = out;
    }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- classifier */

// TEXT as label<TAB>text lines: the confusion matrix, and for the first
// four examples the class probabilities after every character (the model
// run on each prefix: right for a bidirectional model too).
static int classify_view(viz_report *r, const recur_model *m, const char *text, size_t len,
                         recur_error *err)
{
    const int K = recur_model_label_count(m);
    r->confusion = calloc((size_t)K * K, sizeof *r->confusion);
    float *p = malloc(sizeof(float) * (size_t)K);
    r->ex_text = calloc(4, sizeof *r->ex_text);
    r->ex_len = calloc(4, sizeof *r->ex_len);
    r->ex_label = calloc(4, sizeof *r->ex_label);
    r->ex_probs = calloc(4, sizeof *r->ex_probs);
    r->ex_off = calloc(4, sizeof *r->ex_off);
    if (!r->confusion || !p || !r->ex_text || !r->ex_len || !r->ex_label || !r->ex_probs || !r->ex_off) {
        free(p);
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return RECUR_ENOMEM;
    }
    long long lineno = 0, used = 0;
    int rc = RECUR_OK;
    for (size_t pos = 0; pos < len && !rc;) {
        const char *ln = text + pos, *nl = memchr(ln, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - ln) : len - pos;
        pos += ll + 1;
        lineno++;
        if (ll && ln[ll - 1] == '\r') ll--;
        if (!ll) continue;
        const char *tab = memchr(ln, '\t', ll);
        if (!tab) {
            snprintf(err->msg, sizeof err->msg, "%s line %lld: expected label<TAB>text for a classifier", r->text_path, lineno);
            rc = RECUR_EFORMAT;
            break;
        }
        char label[256];
        size_t lab = (size_t)(tab - ln) < sizeof label - 1 ? (size_t)(tab - ln) : sizeof label - 1;
        memcpy(label, ln, lab);
        label[lab] = 0;
        int truth = recur_model_label_id(m, label);
        if (truth < 0) {
            snprintf(err->msg, sizeof err->msg, "%s line %lld: label '%s' is not one of the model's %d classes", r->text_path, lineno, label, K);
            rc = RECUR_EINVAL;
            break;
        }
        const char *body = tab + 1;
        size_t blen = ll - (size_t)(body - ln);
        if ((rc = recur_classify(m, body, blen, p, err))) {
            char pre[300];
            snprintf(pre, sizeof pre, "%s line %lld", r->text_path, lineno);
            recur_error_prefix(err, pre);
            break;
        }
        int best = 0;
        for (int k = 1; k < K; k++) best = p[k] > p[best] ? k : best;
        r->confusion[(size_t)truth * K + best]++;
        used++;
        if (r->nexamples < 4) {
            // Characters of the example (at most 60), and each prefix's probabilities.
            int e = r->nexamples, nch = 0;
            int *off = malloc(sizeof(int) * 62);
            float *pr = malloc(sizeof(float) * 61 * (size_t)K);
            char *copy = malloc(blen + 1);
            if (!off || !pr || !copy) {
                free(off), free(pr), free(copy);
                rc = RECUR_ENOMEM;
                break;
            }
            memcpy(copy, body, blen);
            copy[blen] = 0;
            size_t b = 0;
            while (b < blen && nch < 60) {
                off[nch] = (int)b;
                b++;
                while (b < blen && ((unsigned char)body[b] & 0xC0) == 0x80) b++;
                if ((rc = recur_classify(m, body, b, pr + (size_t)nch * K, err))) break;
                nch++;
            }
            off[nch] = (int)b;
            r->ex_text[e] = copy, r->ex_off[e] = off, r->ex_probs[e] = pr;
            r->ex_len[e] = nch, r->ex_label[e] = truth;
            r->nexamples++;
        }
    }
    free(p);
    if (!rc && used == 0) {
        snprintf(err->msg, sizeof err->msg, "%s: no label<TAB>text lines", r->text_path);
        rc = RECUR_EINVAL;
    }
    return rc;
}

/* ---------------------------------------------------------------- seq2seq */

static int seq2seq_view(viz_report *r, const recur_seq2seq *m, const char *text, size_t len,
                        recur_error *err)
{
    r->at_src = calloc(4, sizeof(char *));
    r->at_out = calloc(4, sizeof(char *));
    r->at_w = calloc(4, sizeof(float *));
    r->at_rows = calloc(4, sizeof(int));
    r->at_cols = calloc(4, sizeof(int));
    if (!r->at_src || !r->at_out || !r->at_w || !r->at_rows || !r->at_cols) return RECUR_ENOMEM;
    recur_seq2seq_info info;
    recur_seq2seq_get_info(m, &info);
    if (!info.cfg.attention) return RECUR_OK; // the page says there is nothing to show
    long long lineno = 0;
    for (size_t pos = 0; pos < len && r->nattn < 4;) {
        const char *ln = text + pos, *nl = memchr(ln, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - ln) : len - pos;
        pos += ll + 1;
        lineno++;
        if (ll && ln[ll - 1] == '\r') ll--;
        const char *tab = memchr(ln, '\t', ll); // source<TAB>target: the source
        if (tab) ll = (size_t)(tab - ln);
        if (!ll || ll > 200) continue;
        size_t cap = 8 * ll + 100, olen = 0;
        char *out = malloc(cap), *src = malloc(ll + 1);
        if (!out || !src) {
            free(out), free(src);
            return RECUR_ENOMEM;
        }
        memcpy(src, ln, ll);
        src[ll] = 0;
        int rc = recur_seq2seq_predict(m, src, ll, NULL, out, cap, &olen, err);
        int rows = 0, cols = 0;
        float *w = NULL;
        if (!rc) {
            recur_seq2seq_attention(m, src, ll, out, olen, NULL, 0, &rows, &cols, NULL);
            w = malloc(sizeof(float) * (size_t)(rows > 0 ? rows : 1) * (size_t)(cols > 0 ? cols : 1));
            rc = w ? recur_seq2seq_attention(m, src, ll, out, olen, w, (size_t)rows * cols, &rows, &cols, err) : RECUR_ENOMEM;
        }
        if (rc) {
            char pre[300];
            snprintf(pre, sizeof pre, "%s line %lld", r->text_path, lineno);
            recur_error_prefix(err, pre);
            free(out), free(src), free(w);
            return rc;
        }
        int k = r->nattn++;
        r->at_src[k] = src, r->at_out[k] = out, r->at_w[k] = w;
        r->at_rows[k] = rows, r->at_cols[k] = cols;
    }
    return RECUR_OK;
}

/* ---------------------------------------------------------------- terminal */

// A diverging map: -1 blue, 0 white, +1 red (values in [-1, 1]).
static void diverging(float v, int rgb[3])
{
    if (!(v > -1.0f)) v = -1.0f;
    if (v > 1.0f) v = 1.0f;
    float a = fabsf(v);
    int fade = (int)(255.0f * (1.0f - 0.75f * a) + 0.5f);
    rgb[0] = v > 0 ? 255 : fade;
    rgb[1] = fade;
    rgb[2] = v < 0 ? 255 : fade;
}

static int terminal_view(const recur_trace *t, const char *text, recur_trace_value what, int l,
                         int d, int u, int color)
{
    const int n = recur_trace_steps(t);
    float scale = 1.0f; // c is divided by its largest |c| so the colours use the range
    if (what == RECUR_TRACE_C) {
        scale = 1e-6f;
        for (int s = 0; s < n; s++) {
            float a = fabsf(recur_trace_get(t, what, s, l, d)[u]);
            scale = a > scale ? a : scale;
        }
    }
    const int unit_range = what != RECUR_TRACE_H && what != RECUR_TRACE_C;
    for (int s = 0; s < n; s++) {
        size_t off;
        int nb;
        recur_trace_char(t, s, &off, &nb);
        float v = recur_trace_get(t, what, s, l, d)[u];
        v = unit_range ? 2.0f * v - 1.0f : v / scale;
        int rgb[3];
        diverging(v, rgb);
        int nl = nb == 1 && text[off] == '\n';
        if (color) {
            printf("\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", rgb[0], rgb[1], rgb[2]);
            if (nl) fputs(" \x1b[0m", stdout); // the newline's own colour, then a clean line end
        }
        fwrite(text + off, 1, (size_t)nb, stdout);
    }
    if (color) fputs("\x1b[0m", stdout);
    size_t last;
    int lastn;
    recur_trace_char(t, n - 1, &last, &lastn);
    if (!(lastn == 1 && text[last] == '\n')) putchar('\n');
    const char *lo = unit_range ? "0" : "-1", *hi = unit_range ? "1" : "+1";
    char sc[64] = "";
    if (what == RECUR_TRACE_C) snprintf(sc, sizeof sc, " (c / %.3g)", scale);
    if (color)
        printf("unit %d:%d %s%s: \x1b[48;2;64;64;255m\x1b[38;2;255;255;255m %s \x1b[0m blue  "
               "\x1b[48;2;255;255;255m\x1b[38;2;0;0;0m %s \x1b[0m white  "
               "\x1b[48;2;255;64;64m\x1b[38;2;255;255;255m %s \x1b[0m red\n",
               l, u, recur_trace_value_name(what), sc, lo, unit_range ? "0.5" : "0", hi);
    else
        printf("unit %d:%d %s%s: colours off (stdout is not a terminal; --color always); blue = %s, white = %s, red = %s\n",
               l, u, recur_trace_value_name(what), sc, lo, unit_range ? "0.5" : "0", hi);
    return ferror(stdout) ? 1 : 0;
}

/* ---------------------------------------------------------------- command */

static void report_free(viz_report *r)
{
    for (int k = 0; k < 3; k++) free(r->samples[k]);
    free(r->tracks);
    free(r->confusion);
    for (int e = 0; e < r->nexamples; e++) free(r->ex_text[e]), free(r->ex_probs[e]), free(r->ex_off[e]);
    free(r->ex_text), free(r->ex_len), free(r->ex_label), free(r->ex_probs), free(r->ex_off);
    for (int k = 0; k < r->nattn; k++) free(r->at_src[k]), free(r->at_out[k]), free(r->at_w[k]);
    free(r->at_src), free(r->at_out), free(r->at_w), free(r->at_rows), free(r->at_cols);
    log_free(r->log);
}

static int write_page(const char *out, const viz_report *r, recur_error *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return snprintf(err->msg, sizeof err->msg, "cannot write %.300s: %s", tmp, strerror(errno)), RECUR_EIO;
    int bad = viz_write_html(f, r);
    if (fclose(f)) bad = -1;
    if (bad || rename(tmp, out)) {
        snprintf(err->msg, sizeof err->msg, "cannot write %.300s: %s", out, strerror(errno));
        remove(tmp);
        return RECUR_EIO;
    }
    return RECUR_OK;
}

static int parse_value(const char *s, recur_cell cell)
{
    for (int w = 0; w < RECUR_TRACE_NVALUES; w++)
        if (!strcmp(s, recur_trace_value_name((recur_trace_value)w))) {
            if (w == RECUR_TRACE_H) return w;
            if (cell == RECUR_CELL_LSTM && w >= RECUR_TRACE_C && w <= RECUR_TRACE_O) return w;
            if (cell == RECUR_CELL_GRU && w >= RECUR_TRACE_R) return w;
            return -2;
        }
    return -1;
}

int cmd_viz(int argc, char **argv)
{
    const char *out = "report.html", *log_path = NULL, *layer_s = "top", *unit_s = NULL;
    const char *value_s = "h", *color_s = "auto";
    long long chars = 2000;
    int skip_unknown = 0;
    opt o[] = {
        {"out", OPT_STR, &out, 0, 0, "FILE", "the HTML page to write (default: report.html)", 0},
        {"log", OPT_STR, &log_path, 0, 0, "FILE", "JSON lines from 'recur train --log': learning curves (default: none)", 0},
        {"chars", OPT_LL, &chars, 1, 1e7, "N", "characters of TEXT to trace and show", 0},
        {"layer", OPT_STR, &layer_s, 0, 0, "L", "the layer whose every unit is embedded: a number, 'top' or 'all' "
                                                 "(the best units for each feature are embedded whatever their layer) (default: top)", 0},
        {"skip-unknown", OPT_FLAG, &skip_unknown, 0, 0, 0, "leave out characters outside the model's vocabulary instead of failing (default: off)", 0},
        {"unit", OPT_STR, &unit_s, 0, 0, "L:U", "print TEXT to the terminal coloured by unit U of layer L, no page (default: none, write the page)", 0},
        {"value", OPT_STR, &value_s, 0, 0, "V", "h, c, i, f, g, o, r, z or n (what --unit shows: h for every cell; c, i, f, g, o for LSTM; r, z, n for GRU) (default: h)", 0},
        {"color", OPT_STR, &color_s, 0, 0, "WHEN", "auto, always or never (--unit's colours; auto: when stdout is a terminal) (default: auto)", 0},
    };
    const char *pos[2];
    int npos, rc = args_parse("viz", viz_usage, argc, argv, 2, o, (int)(sizeof o / sizeof o[0]), pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : 2;
    if (npos == 1) return usage_error("viz", "expected CKPT and TEXT (or only --log FILE)");
    if (npos == 0 && !log_path) return usage_error("viz", "expected CKPT and TEXT, or --log FILE");
    if (npos == 0 && unit_s) return usage_error("viz", "--unit needs CKPT and TEXT");
    int color = -1;
    if (!strcmp(color_s, "always")) color = 1;
    else if (!strcmp(color_s, "never")) color = 0;
    else if (strcmp(color_s, "auto")) return usage_error("viz", "--color must be auto, always or never, not '%s'", color_s);
    if (color < 0) color = isatty(1);

    recur_error err = {0};
    viz_report r;
    memset(&r, 0, sizeof r);
    r.ckpt = npos ? pos[0] : NULL;
    r.text_path = npos ? pos[1] : NULL;
    r.log_path = log_path;
    recur_model *m = NULL;
    recur_seq2seq *s2s = NULL;
    recur_trace *tr = NULL;
    recur_text text = {0};
    int status = 1, have_text = 0;

    if (npos) {
        if ((rc = recur_model_load(pos[0], &m, &err))) {
            recur_error e2 = {0};
            if (recur_seq2seq_load(pos[0], &s2s, &e2)) goto done; // the first error names the problem
            err = e2;
        }
        if ((rc = recur_text_open(pos[1], &text, &err))) goto done;
        have_text = 1;
        if (text.len == 0) {
            snprintf(err.msg, sizeof err.msg, "%s is empty: nothing to show", pos[1]);
            goto done;
        }
    }
    if (log_path && (rc = log_read(log_path, &r.log, &err))) goto done;

    recur_model_info mi = {0};
    if (m) recur_model_get_info(m, &mi);
    if (m && r.log) {
        // A log that ends before the model's recorded steps belongs to another run.
        double last = r.log->step[r.log->n - 1];
        if (mi.steps > 0 && last < (double)mi.steps) {
            snprintf(err.msg, sizeof err.msg, "%s line %d: the log ends at step %.0f but %s was trained for %lld steps: "
                     "is it this model's log?", log_path, r.log->n, last, pos[0], mi.steps);
            goto done;
        }
    }

    if (m) {
        recur_task task = recur_model_task(m);
        if (task != RECUR_TASK_CLASSIFY || unit_s) {
            recur_trace_config tc;
            recur_trace_config_default(&tc);
            tc.skip_unknown = skip_unknown;
            tc.max_chars = chars;
            if ((rc = recur_trace_text(m, text.data, text.len, &tc, &tr, &err))) {
                if (rc == RECUR_EVOCAB) {
                    size_t k = strlen(err.msg);
                    snprintf(err.msg + k, sizeof err.msg - k, " (--skip-unknown leaves such characters out)");
                }
                recur_error_prefix(&err, pos[1]);
                goto done;
            }
            r.tr = tr;
        }
        if (unit_s) {
            int l, u, used = 0;
            if (sscanf(unit_s, "%d:%d%n", &l, &u, &used) != 2 || unit_s[used]) {
                status = usage_error("viz", "--unit takes LAYER:UNIT, e.g. 1:42, not '%s'", unit_s);
                goto done;
            }
            if (l < 0 || l >= mi.layers || u < 0 || u >= mi.hidden) {
                status = usage_error("viz", "unit %d:%d does not exist: the model has %d layer%s of %d units (0:0 to %d:%d)",
                                     l, u, mi.layers, mi.layers == 1 ? "" : "s", mi.hidden, mi.layers - 1, mi.hidden - 1);
                goto done;
            }
            int w = parse_value(value_s, mi.cell);
            if (w < 0) {
                status = usage_error("viz", "--value %s: %s", value_s, w == -2 ? "this cell has no such value" : "expected h, c, i, f, g, o, r, z or n");
                goto done;
            }
            status = terminal_view(tr, text.data, (recur_trace_value)w, l, 0, u, color);
            goto done;
        }
        r.m = m;
        if (!strcmp(layer_s, "all")) r.layer = -1;
        else if (!strcmp(layer_s, "top")) r.layer = mi.layers - 1;
        else {
            char *e;
            long l = strtol(layer_s, &e, 10);
            if (*e || e == layer_s || l < 0 || l >= mi.layers) {
                status = usage_error("viz", "--layer must be 'top', 'all' or 0..%d, not '%s'", mi.layers - 1, layer_s);
                goto done;
            }
            r.layer = (int)l;
        }
        r.text = text.data;
        if (task == RECUR_TASK_CLASSIFY) {
            if ((rc = classify_view(&r, m, text.data, text.len, &err))) goto done;
        } else {
            if ((rc = rank_units(&r, &err))) goto done;
            if (pick_tracks(&r, &mi)) {
                snprintf(err.msg, sizeof err.msg, "out of memory");
                goto done;
            }
            if ((task == RECUR_TASK_LM || task == RECUR_TASK_CONDLM) && (rc = draw_samples(&r, m, text.data, &err)))
                goto done;
        }
    } else if (s2s) {
        if (unit_s) {
            status = usage_error("viz", "--unit is for language models, classifiers and taggers; %s is a seq2seq model", pos[0]);
            goto done;
        }
        r.s2s = s2s;
        if ((rc = seq2seq_view(&r, s2s, text.data, text.len, &err))) goto done;
    }
    if ((rc = write_page(out, &r, &err))) goto done;
    printf("wrote %s\n", out);
    status = 0;
done:
    if (status == 1 && err.msg[0]) fail("viz", &err);
    else if (status == 1 && rc) fail("viz", &err);
    report_free(&r);
    recur_trace_free(tr);
    if (have_text) recur_text_close(&text);
    recur_model_free(m);
    recur_seq2seq_free(s2s);
    return status;
}
