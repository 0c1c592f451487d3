/*
 * test_fuzz_seeds.c - makes the fuzz seeds of every kind of model (issue
 * #17) and runs them through the fuzz targets' entry-point checks:
 *
 *   kind_classify_bi.safetensors     a bidirectional classifier (3 labels)
 *   kind_tag_bi.safetensors          a bidirectional tagger (2 tags)
 *   kind_tag_ov.safetensors          a tagger with as many tags as characters:
 *                                    its head is shaped as a language model's
 *   kind_condlm.safetensors          generation by class (2 classes)
 *   kind_cfg_outputs.safetensors     public config: outputs 3, no task
 *   kind_cfg_cond.safetensors        public config: cond 2, no task
 *   kind_cfg_bidir.safetensors       public config: bidirectional, no task
 *   kind_seq2seq_att.safetensors     an encoder-decoder with attention
 *   kind_lm_state.last.safetensors   a language model's training state
 *   kind_tag_ov_state.last.safetensors  the same state, its metadata saying
 *                                    "a tagger with V tags" (tensors still fit:
 *                                    the heap corruption of #17 at resume)
 *   kind_classify_state.last.safetensors  the state relabelled a classifier
 *                                    with V labels (a many-to-one head read
 *                                    per character by a language-model trainer)
 *
 * They are written to a temporary directory and replayed through
 * fuzz_entry_one and fuzz_checkpoint_one (which must not crash and must see
 * every entry point refuse what it cannot run). With RECUR_WRITE_SEEDS=DIR
 * in the environment they are written to DIR instead: that is how
 * fuzz/corpus/checkpoint/kind_* were made (RECUR_WRITE_SEEDS=fuzz/corpus/checkpoint).
 */
#include "check.h"

#define RECUR_FUZZ_NO_MAIN
#define FUZZ_ASSERT(c) CHECK(c, "fuzz property (%s)", fuzz_current)
static const char *fuzz_current = "";
#include "../fuzz/fuzz_checkpoint.c"
#include "../fuzz/fuzz_entry.c"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static const char TEXT[] = "ab ba abc cab\nbca ab\n";

static void save(recur_model *m, const char *name)
{
    char path[512];
    recur_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(m && recur_model_save(m, path, &err) == 0, "%s: %s", name, err.msg);
}

static recur_model *make(const recur_vocab *v, recur_task task, int outputs, int cond, int bidir, int nlabels)
{
    recur_model_config c;
    recur_model_config_default(&c);
    c.cell = RECUR_CELL_GRU;
    c.hidden = 3;
    c.layers = 1;
    c.outputs = outputs;
    c.cond = cond;
    c.bidirectional = bidir;
    recur_model *m = NULL;
    recur_error err = {0};
    CHECK(recur_model_new(&c, v, 5, &m, &err) == 0, "%s", err.msg);
    static const char *const labels[] = {"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"};
    if (m && task != RECUR_TASK_LM)
        CHECK(model_set_labels(m, task, labels, nlabels, &err) == 0, "%s", err.msg);
    return m;
}

// Rewrites a state file's metadata: recur.task and recur.labels set to a
// kind whose tensors have the same shapes (V labels for a V-row head).
static void relabel(const char *from, const char *to, const char *task, int nlabels)
{
    char in[512], out[512];
    snprintf(in, sizeof in, "%s/%s", dir, from);
    snprintf(out, sizeof out, "%s/%s", dir, to);
    st_file *f = NULL;
    recur_error err = {0};
    CHECK(st_read(in, &f, &err) == 0, "%s", err.msg);
    if (!f) return;
    st_entry *e = calloc(f->ntensors, sizeof *e);
    st_kv *kv = calloc(f->nmeta + 2, sizeof *kv);
    char labels[256] = "[";
    for (int i = 0; i < nlabels; i++)
        snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s\"L%d\"", i ? "," : "", i);
    strcat(labels, "]");
    size_t nm = 0;
    for (size_t i = 0; e && i < f->ntensors; i++) {
        const st_tensor *t = &f->tensors[i];
        e[i] = (st_entry){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(e[i].shape, t->shape, sizeof t->shape);
    }
    for (size_t i = 0; kv && i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], "recur.task") && strcmp(f->meta_keys[i], "recur.labels"))
            kv[nm++] = (st_kv){f->meta_keys[i], f->meta_vals[i]};
    if (kv) {
        kv[nm++] = (st_kv){"recur.task", task};
        kv[nm++] = (st_kv){"recur.labels", labels};
    }
    CHECK(e && kv && st_write(out, e, f->ntensors, kv, nm, &err) == 0, "%s", err.msg);
    free(e);
    free(kv);
    st_free(f);
}

static void make_seeds(void)
{
    recur_vocab *v = NULL;
    recur_error err = {0};
    CHECK(recur_vocab_from_text(TEXT, strlen(TEXT), 0, &v, &err) == 0, "%s", err.msg);
    if (!v) return;
    int V = recur_vocab_size(v);
    recur_model *m;
    save(m = make(v, RECUR_TASK_CLASSIFY, 3, 0, 1, 3), "kind_classify_bi.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_TAG, 2, 0, 1, 2), "kind_tag_bi.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_TAG, V, 0, 0, V), "kind_tag_ov.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_CONDLM, 0, 2, 0, 2), "kind_condlm.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_LM, 3, 0, 0, 0), "kind_cfg_outputs.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_LM, 0, 2, 0, 0), "kind_cfg_cond.safetensors");
    recur_model_free(m);
    save(m = make(v, RECUR_TASK_LM, 0, 0, 1, 0), "kind_cfg_bidir.safetensors");
    recur_model_free(m);

    // A language model's training state, then the same bytes called a tagger
    // with V tags and a classifier.
    m = make(v, RECUR_TASK_LM, 0, 0, 0, 0);
    recur_train_config tc;
    recur_train_config_default(&tc);
    tc.seq = 4;
    tc.batch = 2;
    tc.steps = 2;
    tc.val_frac = 0;
    tc.sample_every = 0;
    recur_trainer *t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/kind_lm_state.last.safetensors", dir);
    CHECK(m && recur_trainer_new(m, &tc, TEXT, strlen(TEXT), NULL, 0, &t, &err) == 0, "%s", err.msg);
    CHECK(t && recur_trainer_run(t, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(t && recur_trainer_save_state(t, path, &err) == 0, "%s", err.msg);
    recur_trainer_free(t);
    recur_model_free(m);
    relabel("kind_lm_state.last.safetensors", "kind_tag_ov_state.last.safetensors", "tag", V);
    relabel("kind_lm_state.last.safetensors", "kind_classify_state.last.safetensors", "classify", V);
    recur_vocab_free(v);

    // An encoder-decoder with attention.
    recur_pairs p = {0};
    CHECK(recur_pairs_generate("reverse", "ab", 1, 3, 6, 1, &p, &err) == 0, "%s", err.msg);
    recur_seq2seq_config sc;
    recur_seq2seq_config_default(&sc);
    sc.hidden = 3;
    sc.attention = 1;
    recur_seq2seq *s = NULL;
    snprintf(path, sizeof path, "%s/kind_seq2seq_att.safetensors", dir);
    CHECK(recur_seq2seq_new(&sc, p.pairs, p.n, 1, &s, &err) == 0 && recur_seq2seq_save(s, path, &err) == 0, "%s",
          err.msg);
    recur_seq2seq_free(s);
    recur_pairs_free(&p);
}

// Each seed loads as what its name says, and the targets' properties hold on it.
static void replay(void)
{
    static const char *const names[] = {
        "kind_classify_bi.safetensors", "kind_tag_bi.safetensors", "kind_tag_ov.safetensors",
        "kind_condlm.safetensors", "kind_cfg_outputs.safetensors", "kind_cfg_cond.safetensors",
        "kind_cfg_bidir.safetensors", "kind_lm_state.last.safetensors",
        "kind_tag_ov_state.last.safetensors", "kind_classify_state.last.safetensors",
        "kind_seq2seq_att.safetensors"};
    static const char *const kinds[] = {
        "a bidirectional classify model (3 labels)", "a bidirectional tag model (2 tags)", "a tag model (",
        "a condlm model", "no usable kind (task lm, 3 outputs", "2 conditioning classes", "2 directions",
        "a language model", "a tag model (", "a classify model (", NULL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "seed %s missing", names[i]);
        if (!f) continue;
        static uint8_t buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        CHECK(n > 0 && n < sizeof buf, "%s: %zu bytes", names[i], n);
        fuzz_current = names[i];
        if (kinds[i]) {
            recur_model *m = NULL;
            recur_error err = {0};
            CHECK(recur_model_load(path, &m, &err) == 0, "%s: %s", names[i], err.msg);
            char what[256] = "";
            if (m) model_kind_describe(m, what, sizeof what);
            CHECK(strstr(what, kinds[i]) != NULL, "%s is %s", names[i], what);
            printf("  %-38s %5zu bytes: %s\n", names[i], n, what);
            recur_model_free(m);
        } else {
            printf("  %-38s %5zu bytes: seq2seq\n", names[i], n);
        }
        fuzz_entry_one(buf, n);
        fuzz_checkpoint_one(buf, n);
    }
}

int main(void)
{
    const char *to = getenv("RECUR_WRITE_SEEDS");
    if (to && *to) {
        snprintf(dir, sizeof dir, "%s", to);
    } else {
        snprintf(dir, sizeof dir, "/tmp/recur_test_seeds.XXXXXX");
        if (!mkdtemp(dir)) return 1;
    }
    printf("fuzz seeds of every kind (%s):\n", dir);
    make_seeds();
    replay();
    if (!(to && *to)) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return check_exit();
}
