/*
 * test_apps.c - the applications learn, measured on held-out data that the
 * training never saw: a classifier of made-up surnames by their endings, a
 * tagger whose tags need the context on both sides, and a generator by
 * class whose samples carry their class's pattern. Small synthetic data so
 * the whole file runs in seconds; the real-data numbers are in
 * docs/applications.md.
 */
#include "check.h"
#include "nn/model.h"
#include "tasks/seqtask.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void random_word(rng *r, char *w, int lo, int hi)
{
    int n = lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
    for (int i = 0; i < n; i++) w[i] = (char)('a' + rng_next(r) % 26);
    w[n] = 0;
}

// Three "languages" told apart only by how their names end.
static void write_names(const char *sub, int per_class, uint64_t seed)
{
    static const char *const ends[3] = {"ski", "ov", "son"};
    static const char *const labels[3] = {"Polish", "Russian", "English"};
    char p[256], w[32];
    rng r;
    rng_seed(&r, seed);
    path_of(p, sizeof p, sub);
    mkdir(p, 0755);
    for (int c = 0; c < 3; c++) {
        char f[300];
        snprintf(f, sizeof f, "%s/%s.txt", p, labels[c]);
        FILE *o = fopen(f, "w");
        for (int i = 0; i < per_class; i++) {
            random_word(&r, w, 2, 6);
            w[0] = (char)(w[0] - 'a' + 'A');
            fprintf(o, "%s%s\n", w, ends[c]);
        }
        fclose(o);
    }
}

static void test_classify(void)
{
    char data[256], out[256];
    write_names("names", 150, 1);
    path_of(data, sizeof data, "names");
    path_of(out, sizeof out, "cls.safetensors");
    recur_app_config c;
    recur_app_config_default(&c, RECUR_TASK_CLASSIFY);
    c.model.hidden = 24;
    c.model.embed = 8;
    c.epochs = 6;
    c.batch = 16;
    c.lr = 1e-2f;
    c.val_frac = 0.2;
    recur_model *m = NULL;
    recur_report r;
    recur_error err = {0};
    CHECK(recur_classify_train(data, &c, out, NULL, NULL, &m, &r, &err) == 0, "%s", err.msg);
    if (!m) return;
    printf("  classify: %zu train / %zu held out, accuracy %.3f\n", r.ntrain, r.nval, r.accuracy);
    CHECK(r.accuracy >= 0.95, "held-out accuracy %.3f below 0.95", r.accuracy);
    CHECK(r.json && strstr(r.json, "\"confusion\":") && strstr(r.json, "\"precision\":"), "report JSON");
    CHECK(r.table && strstr(r.table, "Russian"), "report table names the classes");
    recur_report_free(&r);
    // The saved model answers new names the same way.
    recur_model *l = NULL;
    CHECK(recur_model_load(out, &l, &err) == 0, "%s", err.msg);
    if (l) {
        float p[3];
        const char *tries[3] = {"Kowalski", "Ivanov", "Johnson"};
        const char *want[3] = {"Polish", "Russian", "English"};
        for (int i = 0; i < 3; i++) {
            CHECK(recur_classify(l, tries[i], strlen(tries[i]), p, &err) == 0, "%s", err.msg);
            int best = p[0] > p[1] ? (p[0] > p[2] ? 0 : 2) : (p[1] > p[2] ? 1 : 2);
            CHECK(strcmp(recur_model_label(l, best), want[i]) == 0, "%s classified as %s", tries[i],
                  recur_model_label(l, best));
            CHECK(fabs(p[0] + p[1] + p[2] - 1) < 1e-5, "probabilities sum to 1");
        }
        // Characters never seen in training are read, not refused.
        CHECK(recur_classify(l, "Żółćski", strlen("Żółćski"), p, &err) == 0, "unseen characters: %s", err.msg);
        CHECK(recur_model_task(l) == RECUR_TASK_CLASSIFY && recur_model_label_count(l) == 3, "task, labels");
    }
    recur_model_free(l);
    recur_model_free(m);
}

// Tags that need both sides: a word is B before "x", A after "x", else O;
// "x" itself is X. Only a model that reads both ways can tag the word before.
static void write_tagged(const char *name, int sentences, uint64_t seed)
{
    char p[256], w[8][16];
    rng r;
    rng_seed(&r, seed);
    path_of(p, sizeof p, name);
    FILE *o = fopen(p, "w");
    for (int s = 0; s < sentences; s++) {
        int n = 4 + (int)(rng_next(&r) % 5), x = (int)(rng_next(&r) % (uint64_t)n);
        for (int i = 0; i < n; i++) {
            if (i == x)
                strcpy(w[i], "x");
            else
                random_word(&r, w[i], 2, 4);
            const char *tag = i == x ? "X" : (i == x - 1 ? "B" : (i == x + 1 ? "A" : "O"));
            fprintf(o, "%s\t%s\textra\n", w[i], tag);
        }
        fprintf(o, "\n");
    }
    fclose(o);
}

static void test_tag(void)
{
    char tr[256], dv[256];
    write_tagged("tag_train.tsv", 400, 2);
    write_tagged("tag_dev.tsv", 80, 3);
    path_of(tr, sizeof tr, "tag_train.tsv");
    path_of(dv, sizeof dv, "tag_dev.tsv");
    recur_app_config c;
    recur_app_config_default(&c, RECUR_TASK_TAG);
    c.model.hidden = 24;
    c.model.layers = 1;
    c.model.embed = 8;
    c.epochs = 8;
    c.lr = 1e-2f;
    recur_model *m = NULL;
    recur_report r;
    recur_error err = {0};
    CHECK(recur_tag_train(tr, dv, &c, NULL, NULL, NULL, &m, &r, &err) == 0, "%s", err.msg);
    if (!m) return;
    printf("  tag: %zu sentences, held-out per-token accuracy %.3f (%lld tokens)\n", r.ntrain, r.accuracy, r.total);
    CHECK(r.accuracy >= 0.97, "held-out tag accuracy %.3f below 0.97", r.accuracy);
    recur_report_free(&r);
    const char *toks[4] = {"ab", "cd", "x", "ef"};
    size_t lens[4] = {2, 2, 1, 2};
    int tags[4];
    CHECK(recur_tag(m, toks, lens, 4, tags, &err) == 0, "%s", err.msg);
    const char *want[4] = {"O", "B", "X", "A"};
    for (int i = 0; i < 4; i++)
        CHECK(strcmp(recur_model_label(m, tags[i]), want[i]) == 0, "token %s tagged %s, want %s", toks[i],
              recur_model_label(m, tags[i]), want[i]);
    recur_model_free(m);

    // Read left to right only, the word before "x" cannot be told apart.
    c.model.bidirectional = 0;
    CHECK(recur_tag_train(tr, dv, &c, NULL, NULL, NULL, &m, &r, &err) == 0, "%s", err.msg);
    printf("  tag, one direction only: held-out accuracy %.3f\n", r.accuracy);
    CHECK(r.accuracy < 0.95, "a left-to-right tagger reached %.3f on tags that need the right context",
          r.accuracy);
    recur_report_free(&r);
    recur_model_free(m);
}

// Generation by class: each class's names end its own way; samples must too.
static void test_condlm(void)
{
    char data[256];
    write_names("gen", 200, 4);
    path_of(data, sizeof data, "gen");
    recur_app_config c;
    recur_app_config_default(&c, RECUR_TASK_CONDLM);
    c.model.hidden = 32;
    c.model.embed = 8;
    c.epochs = 8;
    c.lr = 1e-2f;
    recur_model *m = NULL;
    recur_report r;
    recur_error err = {0};
    CHECK(recur_condlm_train(data, &c, NULL, NULL, NULL, &m, &r, &err) == 0, "%s", err.msg);
    if (!m) return;
    // Random letters cost ln 26 = 3.26 nats each; the endings are almost free.
    printf("  by class: validation loss %.3f nats/char\n", r.val_loss);
    CHECK(r.val_loss < 2.9, "validation loss %.3f is not below 2.9", r.val_loss);
    recur_report_free(&r);
    static const char *const ends[3] = {"ski", "ov", "son"};
    static const char *const labels[3] = {"Polish", "Russian", "English"};
    recur_sample_config sc;
    recur_sample_config_default(&sc);
    sc.temperature = 0.5f;
    recur_sampler *s = NULL;
    CHECK(recur_sampler_new(m, &sc, &s, &err) == 0, "%s", err.msg);
    int good = 0, total = 0;
    for (int k = 0; s && k < 3; k++) {
        CHECK(recur_sampler_set_class(s, recur_model_label_id(m, labels[k]), &err) == 0, "%s", err.msg);
        for (int i = 0; i < 10; i++) {
            char name[64];
            int len = 0;
            recur_sampler_reset(s);
            recur_sampler_prime(s, "\n", 1, &err);
            while (len < 40) {
                int n;
                recur_sampler_next(s, name + len, &n, &err);
                if (name[len] == '\n') break;
                len += n;
            }
            name[len] = 0;
            size_t el = strlen(ends[k]);
            good += len >= (int)el && strcmp(name + len - el, ends[k]) == 0;
            total++;
        }
    }
    printf("  by class: %d of %d samples end as their class does\n", good, total);
    CHECK(good >= total * 8 / 10, "only %d of %d samples end as their class does", good, total);
    CHECK(recur_sampler_set_class(s, 7, &err) == RECUR_EINVAL, "class out of range");
    recur_sampler_free(s);
    recur_model_free(m);
}

// A classifier made elsewhere (no U+FFFD in its vocabulary) refuses an
// unseen character instead of reading out of bounds.
static void test_no_fallback_char(void)
{
    recur_vocab *v = NULL;
    recur_model *m = NULL;
    recur_error err = {0};
    recur_model_config c;
    recur_model_config_default(&c);
    c.hidden = 4;
    c.layers = 1;
    c.outputs = 2;
    c.bidirectional = 1;
    const char *labels[2] = {"A", "B"};
    CHECK(recur_vocab_from_text("abc", 3, 0, &v, &err) == 0, "%s", err.msg);
    CHECK(recur_model_new(&c, v, 1, &m, &err) == 0, "%s", err.msg);
    CHECK(model_set_labels(m, RECUR_TASK_CLASSIFY, labels, 2, &err) == 0, "%s", err.msg);
    float p[2];
    CHECK(recur_classify(m, "abca", 4, p, &err) == 0, "%s", err.msg);
    CHECK(recur_classify(m, "abz", 3, p, &err) == RECUR_EVOCAB && strstr(err.msg, "U+007A"),
          "unseen character without U+FFFD: %s", err.msg);
    recur_model_free(m);
    recur_vocab_free(v);
}

// Validation through a --bf16 training workspace (classify, tag and
// by-class validate through it) is fp32: the same loss as a fresh fp32
// workspace gives, and the workspace is bf16 again afterwards.
static void test_eval_fp32_under_bf16(void)
{
    recur_vocab *v = NULL;
    CHECK(recur_vocab_from_text("abcdefg", 7, 0, &v, NULL) == 0, "vocab");
    recur_model_config cfg;
    recur_model_config_default(&cfg);
    cfg.cell = RECUR_CELL_LSTM;
    cfg.hidden = 96;
    cfg.layers = 1;
    recur_model *m = NULL;
    CHECK(recur_model_new(&cfg, v, 5, &m, NULL) == 0, "model");
    enum { N = 16, L = 12 };
    int32_t ids[N][L], tgt[N][L];
    seq_item it[N];
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < L; t++) ids[i][t] = (i * 3 + t * 5) % 7, tgt[i][t] = (i + t * 2) % 7;
        it[i] = (seq_item){ids[i], tgt[i], L - (i % 5), 0, 0};
    }
    exbatch bt;
    seq_eval a, b;
    CHECK(exb_new(m, it, N, NULL, 0, 8, 1, &bt, NULL) == 0, "exb_new");
    CHECK(seq_evaluate_with(m, &bt, it, N, 0, &a, NULL, NULL) == 0, "fp32 evaluation");
    CHECK(ws_set_bf16(m, bt.ws, 1, NULL) == 0, "ws_set_bf16");
    const int on = bt.ws->bf16;
    CHECK(seq_evaluate_with(m, &bt, it, N, 0, &b, NULL, NULL) == 0, "evaluation through a bf16 workspace");
    CHECK(a.loss == b.loss && a.correct == b.correct, "evaluation through a bf16 workspace: loss %.9g, fp32 %.9g",
          b.loss, a.loss);
    CHECK(bt.ws->bf16 == on, "evaluation left the workspace's precision changed");
    printf("  evaluation through a --bf16 training workspace is fp32 (bf16 products here: %d)\n", on);
    exb_free(m, &bt);
    recur_model_free(m);
    recur_vocab_free(v);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/recur_test_apps.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    printf("applications:\n");
    test_classify();
    test_tag();
    test_condlm();
    test_no_fallback_char();
    test_eval_fp32_under_bf16();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
