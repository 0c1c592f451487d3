/*
 * test_trace.c - recur_trace_text and what is built on it:
 *  - a trace's h, c, gates and probabilities equal a plain forward pass
 *    written here in double precision from the weights (tolerance 2e-5
 *    absolute: the library's fused multiply-adds and vectorised activations
 *    against libm in double), for LSTM and GRU over more than one window;
 *  - its mean -log p of the next character equals recur_eval_text's loss
 *    (the same forward pass; 1e-6 relative: only the order of the sum differs);
 *  - the features, the correlation, and a planted unit: a hand-built GRU
 *    whose unit k flips its sign at every '"' is ranked first for "quote" by
 *    recur_trace_correlate, and by the report `recur viz` writes;
 *  - errors: unknown characters (named), --skip-unknown, empty text, bad
 *    UTF-8, accessors out of range;
 *  - seq2seq attention: rows are distributions, the size contract.
 */
#include "check.h"
#include "nn/model.h"
#include "recur.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char TEXT[] =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\n"
    "Resolved. resolved.\n\nFirst Citizen:\nFirst, you know Caius Marcius is chief enemy "
    "to the people.\n\nAll:\nWe know't, we know't.\n\nFirst Citizen:\nLet us kill him, "
    "and we'll have corn at our own price.\nIs't a verdict?\n";

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

// The plain forward pass in double: ref_h, ref_c, ref_g [n][U][H] (gates
// [n][U][G*H]) and ref_p [n][O], one-directional models with one-hot input.
static void reference(const recur_model *m, const int32_t *ids, int n, double *ref_h,
                      double *ref_c, double *ref_g, double *ref_p)
{
    const int H = m->H, G = m->G, U = m->U, O = m->O;
    double *h = calloc((size_t)U * H, sizeof *h), *c = calloc((size_t)U * H, sizeof *c);
    double *px = malloc(sizeof(double) * G * H), *ph = malloc(sizeof(double) * G * H);
    for (int s = 0; s < n; s++) {
        for (int u = 0; u < U; u++) {
            const layer_off *lo = &m->lay[u];
            const float *wih = m->w + lo->w_ih, *whh = m->w + lo->w_hh;
            const double *below = u ? h + (size_t)(u - 1) * H : NULL;
            double *hu = h + (size_t)u * H, *cu = c + (size_t)u * H;
            for (int r = 0; r < G * H; r++) {
                double a = m->w[lo->b_ih + r], b = m->w[lo->b_hh + r];
                if (u == 0) a += wih[(size_t)r * lo->in + ids[s]];
                else
                    for (int k = 0; k < H; k++) a += (double)wih[(size_t)r * H + k] * below[k];
                for (int k = 0; k < H; k++) b += (double)whh[(size_t)r * H + k] * hu[k];
                px[r] = a, ph[r] = b;
            }
            double *gate = ref_g + ((size_t)s * U + u) * G * H;
            for (int j = 0; j < H; j++) {
                if (m->cell->id == RECUR_CELL_LSTM) {
                    double i = sigm(px[j] + ph[j]), f = sigm(px[H + j] + ph[H + j]);
                    double g = tanh(px[2 * H + j] + ph[2 * H + j]), o = sigm(px[3 * H + j] + ph[3 * H + j]);
                    cu[j] = f * cu[j] + i * g;
                    hu[j] = o * tanh(cu[j]);
                    gate[j] = i, gate[H + j] = f, gate[2 * H + j] = g, gate[3 * H + j] = o;
                } else {
                    double r = sigm(px[j] + ph[j]), z = sigm(px[H + j] + ph[H + j]);
                    double nn = tanh(px[2 * H + j] + r * ph[2 * H + j]);
                    hu[j] = (1 - z) * nn + z * hu[j];
                    gate[j] = r, gate[H + j] = z, gate[2 * H + j] = nn;
                }
            }
            memcpy(ref_h + ((size_t)s * U + u) * H, hu, sizeof(double) * H);
            memcpy(ref_c + ((size_t)s * U + u) * H, cu, sizeof(double) * H);
        }
        const double *top = h + (size_t)(U - 1) * H;
        double mx = -1e300, sum = 0, *p = ref_p + (size_t)s * O;
        for (int o = 0; o < O; o++) {
            double z = m->w[m->head_b + o];
            for (int k = 0; k < H; k++) z += (double)m->w[m->head_w + (size_t)o * H + k] * top[k];
            p[o] = z;
            if (z > mx) mx = z;
        }
        for (int o = 0; o < O; o++) sum += (p[o] = exp(p[o] - mx));
        for (int o = 0; o < O; o++) p[o] /= sum;
    }
    free(h), free(c), free(px), free(ph);
}

static void test_against_reference(recur_cell cell)
{
    printf("%s, 2 layers x 24 units, %zu characters (windows of 128):\n", recur_cell_name(cell),
           strlen(TEXT));
    recur_error err = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trace *t = NULL;
    CHECK(recur_vocab_from_text(TEXT, strlen(TEXT), 0, &v, &err) == 0, "%s", err.msg);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = cell, mc.hidden = 24, mc.layers = 2;
    CHECK(recur_model_new(&mc, v, 7, &m, &err) == 0, "%s", err.msg);
    // Larger weights than the initialisation's, so that gates saturate and
    // states differ clearly from step to step.
    for (size_t i = 0; i < m->nw; i++) m->w[i] *= 3.0f;
    m->version++;
    CHECK(recur_trace_text(m, TEXT, strlen(TEXT), NULL, &t, &err) == 0, "%s", err.msg);
    const int n = recur_trace_steps(t), H = m->H, U = m->U, G = m->G, O = m->O;
    CHECK(n == (int)strlen(TEXT), "steps %d", n);
    CHECK(recur_trace_outputs(t) == O && recur_trace_hidden(t) == H && recur_trace_layers(t) == 2 &&
              recur_trace_directions(t) == 1, "shape");
    int32_t *ids = malloc(sizeof(int32_t) * n);
    for (int s = 0; s < n; s++) ids[s] = recur_trace_char(t, s, NULL, NULL);
    double *rh = malloc(sizeof(double) * n * U * H), *rc = malloc(sizeof(double) * n * U * H);
    double *rg = malloc(sizeof(double) * n * U * G * H), *rp = malloc(sizeof(double) * n * O);
    reference(m, ids, n, rh, rc, rg, rp);

    float *a = calloc((size_t)n * U * G * H, sizeof(float)), *b = calloc((size_t)n * U * G * H, sizeof(float));
    size_t k = 0;
    for (int s = 0; s < n; s++)
        for (int u = 0; u < U; u++) {
            const float *x = recur_trace_get(t, RECUR_TRACE_H, s, u, 0);
            for (int j = 0; j < H; j++, k++) a[k] = x[j], b[k] = (float)rh[((size_t)s * U + u) * H + j];
        }
    check_close("h vs reference", a, b, k, 2e-5, 0);
    if (cell == RECUR_CELL_LSTM) {
        k = 0;
        for (int s = 0; s < n; s++)
            for (int u = 0; u < U; u++) {
                const float *x = recur_trace_get(t, RECUR_TRACE_C, s, u, 0);
                for (int j = 0; j < H; j++, k++) a[k] = x[j], b[k] = (float)rc[((size_t)s * U + u) * H + j];
            }
        check_close("c vs reference", a, b, k, 2e-5, 1e-5);
    } else {
        CHECK(recur_trace_get(t, RECUR_TRACE_C, 0, 0, 0) == NULL, "a GRU has no c");
        CHECK(recur_trace_get(t, RECUR_TRACE_I, 0, 0, 0) == NULL, "a GRU has no i");
    }
    const int first = cell == RECUR_CELL_LSTM ? RECUR_TRACE_I : RECUR_TRACE_R;
    k = 0;
    for (int s = 0; s < n; s++)
        for (int u = 0; u < U; u++)
            for (int g = 0; g < G; g++) {
                const float *x = recur_trace_get(t, (recur_trace_value)(first + g), s, u, 0);
                for (int j = 0; j < H; j++, k++)
                    a[k] = x[j], b[k] = (float)rg[((size_t)s * U + u) * G * H + (size_t)g * H + j];
            }
    check_close("gates vs reference", a, b, k, 2e-5, 0);
    k = 0;
    double nll = 0;
    for (int s = 0; s < n; s++) {
        const float *p = recur_trace_probs(t, s);
        for (int o = 0; o < O; o++, k++) a[k] = p[o], b[k] = (float)rp[(size_t)s * O + o];
        if (s + 1 < n) nll -= log((double)p[ids[s + 1]]);
    }
    check_close("probabilities vs reference", a, b, k, 2e-5, 0);
    // The same forward pass as evaluation.
    recur_eval_result er;
    CHECK(recur_eval_text(m, TEXT, strlen(TEXT), 0, 1, &er, &err) == 0, "%s", err.msg);
    float mine = (float)(nll / (n - 1)), theirs = (float)er.nats_per_char;
    check_close("mean -log p vs recur_eval_text", &mine, &theirs, 1, 0, 1e-6);

    // Two threads: the same numbers.
    recur_trace_config tc;
    recur_trace_config_default(&tc);
    tc.threads = 2;
    recur_trace *t2 = NULL;
    CHECK(recur_trace_text(m, TEXT, strlen(TEXT), &tc, &t2, &err) == 0, "%s", err.msg);
    int same = 1;
    for (int s = 0; s < n && same; s++)
        same = !memcmp(recur_trace_get(t, RECUR_TRACE_H, s, 1, 0), recur_trace_get(t2, RECUR_TRACE_H, s, 1, 0),
                       sizeof(float) * H) &&
               !memcmp(recur_trace_probs(t, s), recur_trace_probs(t2, s), sizeof(float) * O);
    CHECK(same, "2 threads give different numbers");
    recur_trace_free(t2);
    // Without gates: h and probabilities only.
    tc.threads = 1, tc.gates = 0, tc.max_chars = 10;
    CHECK(recur_trace_text(m, TEXT, strlen(TEXT), &tc, &t2, &err) == 0, "%s", err.msg);
    CHECK(recur_trace_steps(t2) == 10, "max_chars");
    CHECK(recur_trace_get(t2, (recur_trace_value)first, 0, 0, 0) == NULL, "gates kept with gates = 0");
    CHECK(!memcmp(recur_trace_get(t2, RECUR_TRACE_H, 9, 1, 0), recur_trace_get(t, RECUR_TRACE_H, 9, 1, 0),
                  sizeof(float) * H), "a prefix's trace differs");
    recur_trace_free(t2);

    free(ids), free(rh), free(rc), free(rg), free(rp), free(a), free(b);
    recur_trace_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_errors(void)
{
    printf("errors:\n");
    recur_error err = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trace *t = NULL;
    const char *abc = "abc \n";
    CHECK(recur_vocab_from_text(abc, strlen(abc), 0, &v, &err) == 0, "%s", err.msg);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 4, mc.layers = 1;
    CHECK(recur_model_new(&mc, v, 1, &m, &err) == 0, "%s", err.msg);
    int rc = recur_trace_text(m, "ab<c", 4, NULL, &t, &err);
    CHECK(rc == RECUR_EVOCAB && strstr(err.msg, "'<'") && strstr(err.msg, "offset 2") && !t, "%d %s", rc, err.msg);
    recur_trace_config tc;
    recur_trace_config_default(&tc);
    tc.skip_unknown = 1;
    CHECK(recur_trace_text(m, "ab<c", 4, &tc, &t, &err) == 0, "%s", err.msg);
    size_t off = 0;
    int nb = 0;
    CHECK(recur_trace_steps(t) == 3 && recur_trace_skipped(t) == 1 && recur_trace_char(t, 2, &off, &nb) >= 0 &&
              off == 3 && nb == 1, "skip-unknown");
    CHECK(recur_trace_get(t, RECUR_TRACE_H, 3, 0, 0) == NULL && recur_trace_get(t, RECUR_TRACE_H, 0, 1, 0) == NULL &&
              recur_trace_get(t, RECUR_TRACE_H, -1, 0, 0) == NULL && recur_trace_probs(t, 3) == NULL &&
              recur_trace_char(t, 3, NULL, NULL) == -1, "out of range");
    recur_trace_free(t);
    t = NULL;
    rc = recur_trace_text(m, "", 0, NULL, &t, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "empty"), "%d %s", rc, err.msg);
    rc = recur_trace_text(m, "<<", 2, &tc, &t, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "outside"), "%d %s", rc, err.msg);
    rc = recur_trace_text(m, "a\xff", 2, NULL, &t, &err);
    CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "offset 1"), "%d %s", rc, err.msg);
    float x[4], corr[4];
    CHECK(recur_trace_correlate(NULL, RECUR_TRACE_H, x, corr, &err) == RECUR_EINVAL, "NULL trace");
    recur_trace_free(NULL);
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_features(void)
{
    printf("features:\n");
    const char *s = "a \"b(c[d]\" e\n  f)g\n";
    recur_error err = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trace *t = NULL;
    CHECK(recur_vocab_from_text(s, strlen(s), 0, &v, &err) == 0, "%s", err.msg);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.hidden = 4, mc.layers = 1;
    CHECK(recur_model_new(&mc, v, 1, &m, &err) == 0, "%s", err.msg);
    CHECK(recur_trace_text(m, s, strlen(s), NULL, &t, &err) == 0, "%s", err.msg);
    static const float want[RECUR_FEAT_COUNT][19] = {
        {0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},   // quote
        {0, 0, 0, 0, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0},   // bracket
        {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 1, 2, 3, 4, 5, 0}, // linepos
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 0},   // indent (a line's leading spaces)
        {1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0},   // word
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1},   // newline
    };
    float got[19];
    for (int f = 0; f < RECUR_FEAT_COUNT; f++) {
        CHECK(recur_trace_feature(t, (recur_feature)f, got, &err) == 0, "%s", err.msg);
        char label[64];
        snprintf(label, sizeof label, "feature %s", recur_feature_name((recur_feature)f));
        check_close(label, got, want[f], 19, 0, 0);
    }
    recur_trace_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

/* ---------------------------------------------------------------- planted unit */

// A GRU whose unit K flips the sign of its state at every '"' and holds it
// otherwise: on '"' its update gate z is ~0 and its candidate is
// n = tanh(2 - 10 h_prev) (0 -> +0.96, + -> -1, - -> +1); elsewhere z ~ 1
// (h stays). Every other weight is the random initialisation. So unit K is
// +1 inside quotes and 0 or -1 outside.
#define PLANT_H 16
#define PLANT_K 11
static const char QUOTED[] =
    "He said \"go home now\" and then left. She wrote \"no\" twice; \"why not, then?\" "
    "they asked.\nA line without any. \"One more quoted phrase here\" said the clerk. "
    "\"Short\" and \"longer quoted words\" end the text, outside.\n";

static recur_model *planted_model(recur_error *err)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    if (recur_vocab_from_text(QUOTED, strlen(QUOTED), 0, &v, err)) return NULL;
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = RECUR_CELL_GRU, mc.hidden = PLANT_H, mc.layers = 1;
    int rc = recur_model_new(&mc, v, 3, &m, err);
    int q = recur_vocab_id(v, '"');
    recur_vocab_free(v);
    if (rc) return NULL;
    const int H = PLANT_H, V = m->V, K = PLANT_K;
    const layer_off *lo = &m->lay[0];
    float *wih = m->w + lo->w_ih, *whh = m->w + lo->w_hh, *bih = m->w + lo->b_ih, *bhh = m->w + lo->b_hh;
    for (int g = 0; g < 3; g++) {
        const int r = g * H + K;
        for (int k = 0; k < H; k++) whh[(size_t)r * H + k] = 0;
        for (int c = 0; c < V; c++) wih[(size_t)r * V + c] = 0;
        bih[r] = bhh[r] = 0;
    }
    bih[K] = 20;                                   // r = 1
    for (int c = 0; c < V; c++) wih[(size_t)(H + K) * V + c] = c == q ? -20.0f : 20.0f; // z
    bih[2 * H + K] = 2;                            // n = tanh(2 + r (-10 h_prev))
    whh[(size_t)(2 * H + K) * H + K] = -10;
    m->version++;
    return m;
}

static void test_planted(void)
{
    printf("planted unit %d of %d (GRU) tracks quotes:\n", PLANT_K, PLANT_H);
    recur_error err = {0};
    recur_model *m = planted_model(&err);
    CHECK(m != NULL, "%s", err.msg);
    if (!m) return;
    recur_trace *t = NULL;
    CHECK(recur_trace_text(m, QUOTED, strlen(QUOTED), NULL, &t, &err) == 0, "%s", err.msg);
    const int n = recur_trace_steps(t);
    float *x = malloc(sizeof(float) * n), corr[PLANT_H];
    CHECK(recur_trace_feature(t, RECUR_FEAT_QUOTE, x, &err) == 0, "%s", err.msg);
    CHECK(recur_trace_correlate(t, RECUR_TRACE_H, x, corr, &err) == 0, "%s", err.msg);
    int best = 0;
    for (int j = 1; j < PLANT_H; j++)
        if (fabsf(corr[j]) > fabsf(corr[best])) best = j;
    float second = 0;
    for (int j = 0; j < PLANT_H; j++)
        if (j != best && fabsf(corr[j]) > second) second = fabsf(corr[j]);
    printf("  best unit %d, r = %.3f (next best |r| = %.3f)\n", best, corr[best], second);
    CHECK(best == PLANT_K && corr[best] > 0.9f, "best %d r %.3f", best, corr[best]);
    CHECK(recur_trace_correlate(t, RECUR_TRACE_C, x, corr, &err) == RECUR_EINVAL, "GRU c");

    // The report ranks it first too: `recur viz` on the saved model lists
    // L0 unit K as the best unit for "quote".
    const char *ckpt = "trace_planted.safetensors", *txt = "trace_planted.txt", *html = "trace_planted.html";
    CHECK(recur_model_save(m, ckpt, &err) == 0, "%s", err.msg);
    FILE *f = fopen(txt, "wb");
    fwrite(QUOTED, 1, strlen(QUOTED), f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' viz %s %s --out %s", RECUR_BINARY, ckpt, txt, html);
    int st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited %d", cmd, st);
    f = fopen(html, "rb");
    CHECK(f != NULL, "no report");
    if (f) {
        static char buf[1 << 22];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        buf[len] = 0;
        fclose(f);
        char want[128];
        snprintf(want, sizeof want, "data-feature=\"quote\" data-layer=\"0\" data-unit=\"%d\"", PLANT_K);
        const char *first = strstr(buf, "data-feature=\"quote\"");
        CHECK(first && !strncmp(first, want, strlen(want)), "the report does not rank L0 unit %d first for quote", PLANT_K);
    }
    free(x);
    recur_trace_free(t);
    recur_model_free(m);
}

/* ---------------------------------------------------------------- attention */

static void test_attention(void)
{
    printf("seq2seq attention:\n");
    recur_error err = {0};
    recur_pairs data;
    recur_seq2seq *m = NULL;
    CHECK(recur_pairs_generate("reverse", NULL, 3, 6, 50, 1, &data, &err) == 0, "%s", err.msg);
    recur_seq2seq_config cfg;
    recur_seq2seq_config_default(&cfg);
    cfg.hidden = 16, cfg.attention = 1;
    CHECK(recur_seq2seq_new(&cfg, data.pairs, data.n, 1, &m, &err) == 0, "%s", err.msg);
    float w[64];
    int rows = 0, cols = 0;
    CHECK(recur_seq2seq_attention(m, "abcd", 4, "dcb", 3, w, 64, &rows, &cols, &err) == 0, "%s", err.msg);
    CHECK(rows == 4 && cols == 5, "%d x %d", rows, cols);
    float sums[4], ones[4] = {1, 1, 1, 1};
    for (int r = 0; r < 4; r++) {
        sums[r] = 0;
        for (int c = 0; c < 5; c++) sums[r] += w[r * 5 + c];
    }
    check_close("attention rows sum to 1", sums, ones, 4, 1e-5, 0);
    rows = cols = 0;
    int rc = recur_seq2seq_attention(m, "abcd", 4, "dcb", 3, w, 19, &rows, &cols, &err);
    CHECK(rc == RECUR_EINVAL && rows == 4 && cols == 5, "small buffer: %d", rc);
    rc = recur_seq2seq_attention(m, "abcd", 4, "dcz", 3, w, 64, &rows, &cols, &err);
    CHECK(rc == RECUR_EVOCAB, "unknown target character: %d %s", rc, err.msg);
    recur_seq2seq_free(m);
    cfg.attention = 0;
    CHECK(recur_seq2seq_new(&cfg, data.pairs, data.n, 1, &m, &err) == 0, "%s", err.msg);
    rc = recur_seq2seq_attention(m, "abcd", 4, "dcb", 3, w, 64, &rows, &cols, &err);
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "attention"), "no attention: %d", rc);
    recur_seq2seq_free(m);
    recur_pairs_free(&data);
}


/* ---------------------------------------------------------------- the report's numbers */

static int b64v(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

// Decodes the base64 text at s (up to a '"') into a new buffer.
static uint8_t *unbase64(const char *s, size_t *n)
{
    const char *e = strchr(s, '"');
    size_t len = e ? (size_t)(e - s) : 0, k = 0;
    uint8_t *out = malloc(len / 4 * 3 + 3);
    for (size_t i = 0; i + 3 < len; i += 4) {
        int a = b64v(s[i]), b = b64v(s[i + 1]), c = b64v(s[i + 2]), d = b64v(s[i + 3]);
        out[k++] = (uint8_t)(a << 2 | b >> 4);
        if (c >= 0) out[k++] = (uint8_t)((b & 15) << 4 | c >> 2);
        if (d >= 0) out[k++] = (uint8_t)((c & 3) << 6 | d);
    }
    *n = k;
    return out;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = 0;
    fclose(f);
    return b;
}

// A small LSTM trained for a few steps; `recur viz` on it; every number the
// page embeds, decoded as the page's script decodes it, equals the trace's
// within the quantisation step: h within 1/255 (half of 2/255), c within
// cscale/255, gates and probabilities within 1/510, surprise within 12/510
// bits (all plus 1e-6 for float rounding).
static void test_report_numbers(void)
{
    printf("the report's numbers are the trace's:\n");
    recur_error err = {0};
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_trainer *tr = NULL;
    CHECK(recur_vocab_from_text(TEXT, strlen(TEXT), 0, &v, &err) == 0, "%s", err.msg);
    recur_model_config mc;
    recur_model_config_default(&mc);
    mc.cell = RECUR_CELL_LSTM, mc.hidden = 16, mc.layers = 2;
    CHECK(recur_model_new(&mc, v, 5, &m, &err) == 0, "%s", err.msg);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.steps = 60, tc.seq = 16, tc.batch = 4, tc.threads = 1, tc.lr = 0.01f, tc.eval_every = 0, tc.sample_every = 0;
    CHECK(recur_trainer_new(m, &tc, TEXT, strlen(TEXT), NULL, 0, &tr, &err) == 0, "%s", err.msg);
    CHECK(recur_trainer_run(tr, NULL, NULL, &err) == 0, "%s", err.msg);
    recur_trainer_free(tr);
    const char *ckpt = "trace_numbers.safetensors", *txt = "trace_numbers.txt", *html = "trace_numbers.html";
    CHECK(recur_model_save(m, ckpt, &err) == 0, "%s", err.msg);
    FILE *f = fopen(txt, "wb");
    fwrite(TEXT, 1, strlen(TEXT), f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' viz %s %s --layer all --out %s >/dev/null", RECUR_BINARY, ckpt, txt, html);
    int st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited %d", cmd, st);
    size_t len = 0, nb = 0;
    char *page = slurp(html, &len);
    CHECK(page != NULL, "no report");
    if (!page) return;
    const char *bl = strstr(page, "\"blob\":\""), *tk = strstr(page, "\"tracks\":["), *ex = strstr(page, "\"expects\":{");
    CHECK(bl && tk && ex, "the report's data is missing");
    if (!bl || !tk || !ex) return;
    uint8_t *B = unbase64(bl + 8, &nb);
    recur_trace *t = NULL;
    CHECK(recur_trace_text(m, TEXT, strlen(TEXT), NULL, &t, &err) == 0, "%s", err.msg);
    const int n = recur_trace_steps(t);
    int pn = 0;
    const char *np = strstr(page, "\"n\":");
    CHECK(np && sscanf(np, "\"n\":%d", &pn) == 1 && pn == n, "n %d vs %d", pn, n);

    // Every track: [layer, dir, unit, "values", cscale, offset].
    double worst[3] = {0, 0, 0}; // h, c / cscale, gates
    int tracks = 0, bad = 0;
    const char *p = tk + 10;
    while (*p == '[' || *p == ',') {
        if (*p == ',') p++;
        int l, d, u, used = 0;
        char names[8];
        double cs;
        size_t off;
        if (sscanf(p, "[%d,%d,%d,\"%7[a-z]\",%lf,%zu]%n", &l, &d, &u, names, &cs, &off, &used) != 6) break;
        p += used;
        tracks++;
        for (int j = 0; names[j]; j++) {
            recur_trace_value w = RECUR_TRACE_H;
            for (int k = 0; k < RECUR_TRACE_NVALUES; k++)
                if (recur_trace_value_name((recur_trace_value)k)[0] == names[j]) w = (recur_trace_value)k;
            for (int s = 0; s < n; s++) {
                if (off + (size_t)j * n + s >= nb) { bad++; break; }
                int q = B[off + (size_t)j * n + s];
                float x = recur_trace_get(t, w, s, l, d)[u];
                double e = w == RECUR_TRACE_H ? fabs(q / 127.5 - 1 - x)
                         : w == RECUR_TRACE_C ? fabs(q / 127.5 - 1 - x / cs)
                                              : fabs(q / 255.0 - x);
                int k = w == RECUR_TRACE_H ? 0 : w == RECUR_TRACE_C ? 1 : 2;
                if (e > worst[k]) worst[k] = e;
            }
        }
    }
    printf("  %d tracks: max error h %.4f (bound %.4f), c/cscale %.4f, gates %.4f (bound %.4f)\n", tracks, worst[0],
           1 / 255.0, worst[1], worst[2], 1 / 510.0);
    CHECK(tracks == 2 * 16 && !bad, "tracks %d (every unit of both layers) bad %d", tracks, bad);
    CHECK(worst[0] <= 1 / 255.0 + 1e-6 && worst[1] <= 1 / 255.0 + 1e-6 && worst[2] <= 1 / 510.0 + 1e-6, "quantisation");

    // Surprise, p of the actual character, the top 5 after every character.
    size_t so, po, to;
    CHECK(sscanf(ex, "\"expects\":{\"surprise\":%zu,\"pactual\":%zu,\"top\":%zu}", &so, &po, &to) == 3, "expects");
    double ws = 0, wp = 0;
    int order_bad = 0;
    for (int s = 1; s < n; s++) {
        const float *pr = recur_trace_probs(t, s - 1);
        int id = recur_trace_char(t, s, NULL, NULL);
        double bits = -log2(pr[id]);
        ws = fmax(ws, fabs(B[so + s] / 255.0 * 12 - fmin(bits, 12)));
        wp = fmax(wp, fabs(B[po + s] / 255.0 - pr[id]));
        float prev = 2;
        for (int k = 0; k < 5; k++) {
            const uint8_t *o = B + to + ((size_t)s * 5 + k) * 3;
            int tid = o[0] | o[1] << 8;
            wp = fmax(wp, fabs(o[2] / 255.0 - pr[tid]));
            if (pr[tid] > prev) order_bad++;
            prev = pr[tid];
            // No character outside the five is likelier than the fifth.
            if (k == 4)
                for (int c = 0; c < recur_trace_outputs(t); c++)
                    if (pr[c] > pr[tid] + 1e-7f) {
                        int listed = 0;
                        for (int j = 0; j < 5; j++) listed |= (B[to + ((size_t)s * 5 + j) * 3] | B[to + ((size_t)s * 5 + j) * 3 + 1] << 8) == c;
                        if (!listed) order_bad++;
                    }
        }
    }
    printf("  surprise max error %.4f bits (bound %.4f), probabilities %.4f (bound %.4f)\n", ws, 12 / 510.0, wp, 1 / 510.0);
    CHECK(ws <= 12 / 510.0 + 1e-5 && wp <= 1 / 510.0 + 1e-6 && !order_bad, "expects: %d out of order", order_bad);
    free(B);
    free(page);
    recur_trace_free(t);
    recur_model_free(m);
    recur_vocab_free(v);
}

int main(void)
{
    test_against_reference(RECUR_CELL_LSTM);
    test_against_reference(RECUR_CELL_GRU);
    test_errors();
    test_features();
    test_planted();
    test_attention();
    test_report_numbers();
    return check_exit();
}
