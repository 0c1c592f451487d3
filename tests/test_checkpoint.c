/*
 * test_checkpoint.c - the model loader against files whose tensors disagree
 * with their metadata: each must be rejected with RECUR_EFORMAT and a message
 * that names the problem (the tensor, the key, the cell), never loaded
 * half-way. Also: a minimal PyTorch-style file (only the required keys)
 * loads, and the metadata a file needs is exactly what docs/format.md says.
 */
#include "check.h"
#include "formats/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXT 16

typedef struct fake {
    st_entry t[MAXT];
    int nt;
    st_kv meta[16];
    int nm;
    float buf[MAXT][4096];
} fake;

static void add_tensor(fake *f, const char *name, int rows, int cols)
{
    st_entry *e = &f->t[f->nt];
    e->name = name;
    e->dtype = ST_F32;
    e->ndim = cols ? 2 : 1;
    e->shape[0] = (uint64_t)rows;
    e->shape[1] = (uint64_t)cols;
    for (int i = 0; i < rows * (cols ? cols : 1) && i < 4096; i++) f->buf[f->nt][i] = 0.01f * (float)(i % 7);
    e->data = f->buf[f->nt];
    f->nt++;
}

static void set_meta(fake *f, const char *k, const char *v)
{
    for (int i = 0; i < f->nm; i++)
        if (strcmp(f->meta[i].key, k) == 0) {
            f->meta[i].value = v;
            return;
        }
    f->meta[f->nm++] = (st_kv){k, v};
}

// A valid 1-layer GRU (H=4) over the vocabulary {a,b,c}, one-hot input, with
// only the metadata a PyTorch user is required to provide.
static void base(fake *f)
{
    memset(f, 0, sizeof *f);
    add_tensor(f, "rnn.weight_ih_l0", 12, 3);
    add_tensor(f, "rnn.weight_hh_l0", 12, 4);
    add_tensor(f, "rnn.bias_ih_l0", 12, 0);
    add_tensor(f, "rnn.bias_hh_l0", 12, 0);
    add_tensor(f, "head.weight", 3, 4);
    add_tensor(f, "head.bias", 3, 0);
    set_meta(f, "format", "pt");
    set_meta(f, "recur.cell", "gru");
    set_meta(f, "recur.layers", "1");
    set_meta(f, "recur.hidden", "4");
    set_meta(f, "recur.vocab", "[\"a\",\"b\",\"c\"]");
}

static void drop_tensor(fake *f, const char *name)
{
    for (int i = 0; i < f->nt; i++)
        if (strcmp(f->t[i].name, name) == 0) {
            memmove(&f->t[i], &f->t[i + 1], sizeof f->t[0] * (size_t)(f->nt - i - 1));
            f->nt--;
            return;
        }
}

static void drop_meta(fake *f, const char *key)
{
    for (int i = 0; i < f->nm; i++)
        if (strcmp(f->meta[i].key, key) == 0) {
            f->meta[i] = f->meta[--f->nm];
            return;
        }
}

static st_entry *tensor(fake *f, const char *name)
{
    for (int i = 0; i < f->nt; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

static char path[256];

// Writes f and loads it: expect rc, and (if not ok) a message containing want.
static void expect(const char *label, fake *f, int want_rc, const char *want)
{
    recur_error err = {0};
    int rc = st_write(path, f->t, (size_t)f->nt, f->meta, (size_t)f->nm, &err);
    CHECK(rc == 0, "%s: could not write the test file: %s", label, err.msg);
    recur_model *m = NULL;
    memset(&err, 0, sizeof err);
    rc = recur_model_load(path, &m, &err);
    CHECK(rc == want_rc, "%s: rc %d, expected %d (%s)", label, rc, want_rc, err.msg);
    if (want && rc) CHECK(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err.msg, want);
    if (rc) CHECK(m == NULL, "%s: a failed load returned a model", label);
    printf("  %-34s %s\n", label, rc ? err.msg : "loads");
    recur_model_free(m);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/recur_test_ckpt_%d.safetensors", (int)getpid());
    static fake f;
    printf("checkpoints that disagree with their metadata:\n");

    base(&f);
    expect("minimal PyTorch-style file", &f, 0, NULL);

    base(&f);
    drop_tensor(&f, "rnn.weight_hh_l0");
    expect("missing tensor", &f, RECUR_EFORMAT, "\"rnn.weight_hh_l0\"");

    base(&f);
    tensor(&f, "rnn.bias_ih_l0")->shape[0] = 8;
    expect("wrong shape", &f, RECUR_EFORMAT, "\"rnn.bias_ih_l0\"");

    base(&f);
    tensor(&f, "head.weight")->shape[0] = 4;
    expect("head wider than the vocabulary", &f, RECUR_EFORMAT, "\"head.weight\"");

    base(&f);
    set_meta(&f, "recur.cell", "lstm");
    expect("metadata says lstm, tensors are gru", &f, RECUR_EFORMAT, "\"rnn.weight_ih_l0\"");

    base(&f);
    set_meta(&f, "recur.cell", "transformer");
    expect("unknown cell", &f, RECUR_EFORMAT, "\"transformer\"");

    base(&f);
    set_meta(&f, "recur.layers", "2");
    expect("metadata says 2 layers", &f, RECUR_EFORMAT, "\"rnn.weight_ih_l1\"");

    base(&f);
    add_tensor(&f, "rnn.weight_ih_l1", 12, 4);
    expect("a tensor the metadata does not imply", &f, RECUR_EFORMAT, "\"rnn.weight_ih_l1\"");

    base(&f);
    set_meta(&f, "recur.hidden", "4x");
    expect("non-numeric hidden", &f, RECUR_EFORMAT, "recur.hidden");

    base(&f);
    drop_meta(&f, "recur.vocab");
    expect("no vocabulary", &f, RECUR_EFORMAT, "recur.vocab");

    base(&f);
    set_meta(&f, "recur.vocab", "[\"a\",\"b\"]");
    expect("vocabulary smaller than the head", &f, RECUR_EFORMAT, "\"rnn.weight_ih_l0\"");

    base(&f);
    drop_meta(&f, "recur.cell");
    expect("no cell", &f, RECUR_EFORMAT, "recur.cell");

    base(&f);
    set_meta(&f, "recur.nonlinearity", "relu");
    expect("relu on a gru", &f, RECUR_EFORMAT, "relu");

    base(&f);
    tensor(&f, "head.bias")->dtype = ST_I32;
    expect("integer tensor", &f, RECUR_EFORMAT, "\"head.bias\"");

    base(&f);
    add_tensor(&f, "embed.weight", 3, 5);
    expect("embedding but W_ih is one-hot-sized", &f, RECUR_EFORMAT, "\"rnn.weight_ih_l0\"");

    base(&f);
    set_meta(&f, "recur.embed", "5");
    expect("recur.embed without embed.weight", &f, RECUR_EFORMAT, "embed.weight");

    base(&f);
    set_meta(&f, "recur.cell", "rnn");
    set_meta(&f, "recur.hidden", "12");
    tensor(&f, "rnn.weight_hh_l0")->shape[1] = 12;
    tensor(&f, "head.weight")->shape[1] = 12;
    expect("vanilla rnn, 12 units: consistent", &f, 0, NULL);

    unlink(path);
    // The settings of issue #14 in a file: a tied head must be the
    // embedding it names; the other dropouts in range; flags 0 or 1.
    base(&f);
    add_tensor(&f, "embed.weight", 3, 4);
    tensor(&f, "rnn.weight_ih_l0")->shape[1] = 4;
    set_meta(&f, "recur.tie", "1");
    expect("tied head (the embedding)", &f, 0, NULL);
    f.buf[f.nt - 1][5] += 1; // the embedding, now not the head
    expect("tied head unlike the embedding", &f, RECUR_EFORMAT, "differs from \"embed.weight\"");
    base(&f);
    set_meta(&f, "recur.tie", "1");
    expect("tied head without an embedding", &f, RECUR_EFORMAT, "embed");
    base(&f);
    set_meta(&f, "recur.tie", "yes");
    expect("recur.tie not 0 or 1", &f, RECUR_EFORMAT, "recur.tie");
    base(&f);
    set_meta(&f, "recur.variational", "2");
    expect("recur.variational not 0 or 1", &f, RECUR_EFORMAT, "recur.variational");
    base(&f);
    set_meta(&f, "recur.dropout_out", "1.5");
    expect("output dropout out of range", &f, RECUR_EFORMAT, "dropout_out");
    base(&f);
    set_meta(&f, "recur.dropout_in", "0.2");
    expect("input dropout, one-hot input", &f, RECUR_EFORMAT, "embedding");
    base(&f);
    set_meta(&f, "recur.dropout_out", "0.25");
    set_meta(&f, "recur.variational", "1");
    expect("output dropout, variational", &f, 0, NULL);

    return check_exit();
}
