/*
 * test_kinds.c - every entry point takes only the kinds of model it can run
 * (src/nn/model.h, "kinds of model"; issue #17). Models of every kind are
 * built here, not read from fixtures: a language model, a condlm, a
 * classifier, a tagger, a tagger whose tag count equals the vocabulary size
 * (its head has V rows, as a language model's: the old shape check let it
 * through), bidirectional ones, and models made through the public config
 * with outputs, cond or bidirectional set but no task. Each is offered to
 * recur_eval_text, recur_sampler_new, recur_classify, recur_tag and
 * recur_tag_eval, before and after a save/load round trip, and must be
 * accepted exactly where it belongs, refused elsewhere with RECUR_EINVAL and
 * a message that names the model's kind.
 */
#include "check.h"
#include "nn/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

typedef struct kind_case {
    const char *name;
    recur_task task;
    int outputs, cond, bidir, nlabels; /* public config; labels given with the task */
    const char *says;                  /* what the refusal must name */
} kind_case;

static const char TEXT[] = "abc ab ca\nbca";

static recur_model *build(const kind_case *k, const recur_vocab *v, recur_error *err)
{
    recur_model_config c;
    recur_model_config_default(&c);
    c.hidden = 4;
    c.layers = 1;
    c.outputs = k->outputs;
    c.cond = k->cond;
    c.bidirectional = k->bidir;
    recur_model *m = NULL;
    if (recur_model_new(&c, v, 1, &m, err)) return NULL;
    static const char *const labels[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    if (k->task != RECUR_TASK_LM && model_set_labels(m, k->task, labels, k->nlabels, err)) {
        recur_model_free(m);
        return NULL;
    }
    return m;
}

// Offers m to every entry point; accept is the mask of entry points that must take it.
enum { E_EVAL = 1, E_SAMPLE = 2, E_CLASSIFY = 4, E_TAG = 8, E_TAGEVAL = 16 };

static void offer(const char *name, const recur_model *m, unsigned accept, const char *says,
                  const char *conll)
{
    recur_error err = {0};
    int rc;
    recur_eval_result er;
    rc = recur_eval_text(m, TEXT, strlen(TEXT), 1, 1, &er, &err);
    if (accept & E_EVAL)
        CHECK(rc == 0, "%s: eval refused: %s", name, err.msg);
    else
        CHECK(rc == RECUR_EINVAL && strstr(err.msg, says) && strstr(err.msg, "recur_eval_text"),
              "%s: eval gave %d: %s", name, rc, err.msg);

    recur_sampler *s = NULL;
    rc = recur_sampler_new(m, NULL, &s, &err);
    if (accept & E_SAMPLE) {
        CHECK(rc == 0, "%s: sampler refused: %s", name, err.msg);
        char out[4];
        int n = 0;
        if (!rc) {
            CHECK(recur_sampler_prime(s, "ab", 2, &err) == 0, "%s: %s", name, err.msg);
            CHECK(recur_sampler_next(s, out, &n, &err) == 0 && n >= 1, "%s: %s", name, err.msg);
        }
    } else {
        CHECK(rc == RECUR_EINVAL && s == NULL && strstr(err.msg, says), "%s: sampler gave %d: %s", name,
              rc, err.msg);
    }
    recur_sampler_free(s);

    float probs[16];
    rc = recur_classify(m, "abc", 3, probs, &err);
    if (accept & E_CLASSIFY)
        CHECK(rc == 0, "%s: classify refused: %s", name, err.msg);
    else
        CHECK(rc == RECUR_EINVAL && strstr(err.msg, says), "%s: classify gave %d: %s", name, rc, err.msg);

    const char *tokens[2] = {"ab", "ca"};
    size_t lens[2] = {2, 2};
    int tags[2] = {-1, -1};
    rc = recur_tag(m, tokens, lens, 2, tags, &err);
    if (accept & E_TAG)
        CHECK(rc == 0 && tags[0] >= 0 && tags[0] < recur_model_label_count(m), "%s: tag refused: %s", name,
              err.msg);
    else
        CHECK(rc == RECUR_EINVAL && strstr(err.msg, says), "%s: tag gave %d: %s", name, rc, err.msg);

    recur_report rep;
    rc = recur_tag_eval(m, conll, 0, 1, &rep, &err);
    if (accept & E_TAGEVAL)
        CHECK(rc == 0, "%s: tag eval refused: %s", name, err.msg);
    else
        CHECK(rc == RECUR_EINVAL && strstr(err.msg, says), "%s: tag eval gave %d: %s", name, rc, err.msg);
    if (!rc) recur_report_free(&rep);
}

static void test_kinds(void)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK(recur_vocab_from_text(TEXT, strlen(TEXT), 0, &v, &err) == 0, "%s", err.msg);
    if (!v) return;
    int V = recur_vocab_size(v); // 5: '\n', ' ', a, b, c
    char conll[96];
    snprintf(conll, sizeof conll, "%s/t.conll", dir);
    FILE *f = fopen(conll, "w");
    if (f) {
        fputs("ab\tA\nca\tB\n\nbc\tA\n", f);
        fclose(f);
    }
    const kind_case cases[] = {
        {"lm", RECUR_TASK_LM, 0, 0, 0, 0, "a language model"},
        {"condlm", RECUR_TASK_CONDLM, 0, 2, 0, 2, "a condlm model"},
        {"classify", RECUR_TASK_CLASSIFY, 3, 0, 0, 3, "a classify model (3 labels)"},
        {"bidirectional classify", RECUR_TASK_CLASSIFY, 2, 0, 1, 2, "a bidirectional classify model"},
        {"tag", RECUR_TASK_TAG, 3, 0, 0, 3, "a tag model (3 tags)"},
        // O == V: the head has a row per character, as a language model's.
        {"tag with O == V", RECUR_TASK_TAG, V, 0, 0, V, "a tag model (5 tags)"},
        {"bidirectional tag with O == V", RECUR_TASK_TAG, V, 0, 1, V, "a bidirectional tag model"},
        // Public config, no task: none of these is any kind.
        {"config outputs=3", RECUR_TASK_LM, 3, 0, 0, 0, "no usable kind (task lm, 3 outputs"},
        {"config outputs=-1", RECUR_TASK_LM, -1, 0, 0, 0, "no usable kind (task lm, 0 outputs"},
        {"config cond=2", RECUR_TASK_LM, 0, 2, 0, 0, "2 conditioning classes"},
        {"config bidirectional", RECUR_TASK_LM, 0, 0, 1, 0, "2 directions"},
    };
    const unsigned accept[] = {E_EVAL | E_SAMPLE, E_SAMPLE, E_CLASSIFY, E_CLASSIFY, E_TAG | E_TAGEVAL,
                               E_TAG | E_TAGEVAL, E_TAG | E_TAGEVAL, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const kind_case *k = &cases[i];
        recur_model *m = build(k, v, &err);
        CHECK(m != NULL, "%s: %s", k->name, err.msg);
        if (!m) continue;
        offer(k->name, m, accept[i], k->says, conll);
        // The same after a round trip: what a model records is what it is.
        char path[128], name[96];
        snprintf(path, sizeof path, "%s/m%zu.safetensors", dir, i);
        CHECK(recur_model_save(m, path, &err) == 0, "%s: save: %s", k->name, err.msg);
        recur_model *back = NULL;
        CHECK(recur_model_load(path, &back, &err) == 0, "%s: load: %s", k->name, err.msg);
        if (back) {
            CHECK(back->O == m->O && back->D == m->D && back->Cc == m->Cc && back->task == m->task,
                  "%s: loads back as O=%d D=%d Cc=%d", k->name, back->O, back->D, back->Cc);
            snprintf(name, sizeof name, "%s (loaded)", k->name);
            offer(name, back, accept[i], k->says, conll);
        }
        printf("  %-32s accepted by:%s%s%s%s%s\n", k->name, accept[i] & E_EVAL ? " eval" : "",
               accept[i] & E_SAMPLE ? " sample" : "", accept[i] & E_CLASSIFY ? " classify" : "",
               accept[i] & E_TAG ? " tag" : "", accept[i] ? "" : " nothing");
        recur_model_free(back);
        recur_model_free(m);
    }
    recur_vocab_free(v);
}

// The check itself: the message names the entry point, what it takes and the model.
static void test_message(void)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK(recur_vocab_from_text("ab", 2, 0, &v, &err) == 0, "%s", err.msg);
    kind_case k = {"tag", RECUR_TASK_TAG, 2, 0, 1, 2, ""};
    recur_model *m = v ? build(&k, v, &err) : NULL;
    CHECK(m != NULL, "%s", err.msg);
    if (m) {
        int rc = model_check_kind(m, MODEL_KIND_LM | MODEL_KIND_CONDLM, "recur sample", &err);
        printf("  message: %s\n", err.msg);
        CHECK(rc == RECUR_EINVAL && strcmp(err.msg, "recur sample takes a language model or a condlm "
                                                    "model; this is a bidirectional tag model (2 tags)") == 0,
              "%s", err.msg);
        CHECK(model_check_kind(m, MODEL_KIND_TAG, "x", &err) == 0, "%s", err.msg);
        CHECK(model_check_kind(NULL, MODEL_KIND_TAG, "x", &err) == RECUR_EINVAL, "NULL model");
    }
    recur_model_free(m);
    recur_vocab_free(v);
}

// A seq2seq checkpoint is not a model, and a model is not a seq2seq checkpoint.
static void test_seq2seq_files(void)
{
    recur_error err = {0};
    recur_pairs p = {0};
    CHECK(recur_pairs_generate("reverse", "ab", 1, 3, 8, 1, &p, &err) == 0, "%s", err.msg);
    recur_seq2seq_config c;
    recur_seq2seq_config_default(&c);
    c.hidden = 4;
    recur_seq2seq *s = NULL;
    CHECK(recur_seq2seq_new(&c, p.pairs, p.n, 1, &s, &err) == 0, "%s", err.msg);
    char sp[96], mp[96];
    snprintf(sp, sizeof sp, "%s/s2s.safetensors", dir);
    snprintf(mp, sizeof mp, "%s/m0.safetensors", dir); // the language model of test_kinds
    CHECK(s && recur_seq2seq_save(s, sp, &err) == 0, "%s", err.msg);
    recur_model *m = NULL;
    CHECK(recur_model_load(sp, &m, &err) == RECUR_EFORMAT && !m, "seq2seq file loaded as a model: %s", err.msg);
    recur_model_free(m);
    recur_seq2seq *s2 = NULL;
    CHECK(recur_seq2seq_load(mp, &s2, &err) == RECUR_EFORMAT && !s2, "model loaded as seq2seq: %s", err.msg);
    recur_seq2seq_free(s2);
    recur_seq2seq_free(s);
    recur_pairs_free(&p);
}

// Numbers read from a checkpoint are validated: a best validation loss of
// -1 or inf is not a loss (it would be shown and compared as the best).
static void test_numbers(void)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK(recur_vocab_from_text("ab", 2, 0, &v, &err) == 0, "%s", err.msg);
    kind_case k = {"lm", RECUR_TASK_LM, 0, 0, 0, 0, ""};
    recur_model *m = v ? build(&k, v, &err) : NULL;
    const double bad[] = {-1.0, INFINITY, -INFINITY};
    for (int i = 0; m && i < 3; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/bv%d.safetensors", dir, i);
        m->best_val = bad[i];
        CHECK(recur_model_save(m, path, &err) == 0, "%s", err.msg);
        recur_model *back = NULL;
        int rc = recur_model_load(path, &back, &err);
        CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "best_val"), "best_val %g: rc %d: %s", bad[i], rc, err.msg);
        recur_model_free(back);
    }
    if (m) printf("  best_val -1, inf, -inf in a checkpoint: refused\n");
    recur_model_free(m);
    recur_vocab_free(v);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/recur_test_kinds.XXXXXX");
    if (!mkdtemp(dir)) return 1;
    printf("kinds of model, per entry point:\n");
    test_kinds();
    test_message();
    test_seq2seq_files();
    test_numbers();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_exit();
}
