/*
 * test_bounds.c - sizes that would overflow an int are refused before
 * anything is computed from them (issue #17):
 *  - a workspace (every window of every entry point) whose widest buffer
 *    would exceed INT_MAX elements: RECUR_EINVAL, not a wrapped product;
 *  - recur_tag and recur_classify on inputs whose character count does not
 *    fit the int positions they are counted in: RECUR_EINVAL before any
 *    byte is read (the buffers here are tiny: only the lengths are huge);
 *  - the application readers: a line (an example, a pair's side) or a tagged
 *    sentence longer than DATA_MAX_EXAMPLE bytes is RECUR_EFORMAT naming it.
 */
#include "check.h"
#include "data/dataset.h"
#include "nn/model.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static recur_model *tagger(int H, recur_vocab **v)
{
    recur_error err = {0};
    CHECK(recur_vocab_from_text("ab c", 4, 0, v, &err) == 0, "%s", err.msg);
    recur_model_config c;
    recur_model_config_default(&c);
    c.hidden = H;
    c.layers = 1;
    c.outputs = 2;
    recur_model *m = NULL;
    CHECK(recur_model_new(&c, *v, 1, &m, &err) == 0, "%s", err.msg);
    const char *labels[2] = {"X", "Y"};
    CHECK(m && model_set_labels(m, RECUR_TASK_TAG, labels, 2, &err) == 0, "%s", err.msg);
    return m;
}

static void test_window(void)
{
    recur_vocab *v = NULL;
    recur_model *m = tagger(64, &v);
    recur_error err = {0};
    workspace *ws = NULL;
    // 2^21 x 2^5 rows x G*H = 64: 2^32 elements in one buffer.
    int rc = m ? ws_new(m, 1 << 21, 32, 1, &ws, &err) : -99;
    CHECK(rc == RECUR_EINVAL && ws == NULL && strstr(err.msg, "too large"), "huge window: rc %d: %s", rc, err.msg);
    printf("  window 2^21 x 32 at H=64: %s\n", err.msg);
    rc = m ? ws_new(m, 64, 4, 1, &ws, &err) : -99;
    CHECK(rc == 0 && ws, "a small window: %s", err.msg);
    if (ws) ws_free(m, ws);
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_entry_lengths(void)
{
    recur_vocab *v = NULL;
    recur_model *m = tagger(4, &v);
    recur_error err = {0};
    // Two tokens of 2^30 bytes each claimed: their sum overflows an int.
    const char *tokens[2] = {"ab", "c"};
    size_t lens[2] = {(size_t)1 << 30, (size_t)1 << 30};
    int tags[2];
    int rc = m ? recur_tag(m, tokens, lens, 2, tags, &err) : -99;
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "too long"), "recur_tag of 2^31 bytes: rc %d: %s", rc, err.msg);
    // A length past SIZE_MAX/2 must not wrap the running total either.
    size_t wrap[2] = {SIZE_MAX - 1, 4};
    rc = m ? recur_tag(m, tokens, wrap, 2, tags, &err) : -99;
    CHECK(rc == RECUR_EINVAL, "recur_tag with a wrapping length: rc %d: %s", rc, err.msg);
    recur_model_free(m);
    // The classifier: one text of 2^31 bytes claimed.
    recur_model_config c;
    recur_model_config_default(&c);
    c.hidden = 4;
    c.layers = 1;
    c.outputs = 2;
    const char *labels[2] = {"X", "Y"};
    m = NULL;
    CHECK(recur_model_new(&c, v, 1, &m, &err) == 0 && model_set_labels(m, RECUR_TASK_CLASSIFY, labels, 2, &err) == 0,
          "%s", err.msg);
    float p[2];
    rc = m ? recur_classify(m, "ab", (size_t)1 << 31, p, &err) : -99;
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "too long"), "recur_classify of 2^31 bytes: rc %d: %s", rc, err.msg);
    printf("  recur_tag, recur_classify on 2^31 bytes: refused\n");
    // seq2seq: a source of 2^31 bytes claimed, predicted and evaluated.
    recur_pairs pr = {0};
    CHECK(recur_pairs_generate("reverse", "ab", 1, 2, 4, 1, &pr, &err) == 0, "%s", err.msg);
    recur_seq2seq_config sc;
    recur_seq2seq_config_default(&sc);
    sc.hidden = 4;
    recur_seq2seq *s = NULL;
    CHECK(recur_seq2seq_new(&sc, pr.pairs, pr.n, 1, &s, &err) == 0, "%s", err.msg);
    char out[64];
    size_t out_len = 0;
    rc = s ? recur_seq2seq_predict(s, "ab", (size_t)1 << 31, NULL, out, sizeof out, &out_len, &err) : -99;
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "longer than"), "seq2seq predict of 2^31 bytes: rc %d: %s", rc, err.msg);
    recur_pair big = {"ab", "ba", (size_t)1 << 31, 2};
    recur_seq2seq_eval_result er;
    rc = s ? recur_seq2seq_eval(s, &big, 1, NULL, 1, &er, &err) : -99;
    CHECK(rc == RECUR_EINVAL && strstr(err.msg, "longer than"), "seq2seq eval of 2^31 bytes: rc %d: %s", rc, err.msg);
    printf("  seq2seq predict, eval on 2^31 bytes: refused\n");
    recur_seq2seq_free(s);
    recur_pairs_free(&pr);
    recur_model_free(m);
    recur_vocab_free(v);
}

static void test_readers(void)
{
    char dir[] = "/tmp/recur_test_bounds.XXXXXX";
    if (!mkdtemp(dir)) return;
    char path[96], tpath[96];
    recur_error err = {0};
    // A label<TAB>text line one byte past the bound.
    snprintf(path, sizeof path, "%s/long.tsv", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "cannot write %s", path);
    if (!f) return;
    fputs("A\tshort\nB\t", f);
    for (int i = 0; i < DATA_MAX_EXAMPLE - 1; i++) fputc('x', f);
    fputs("\nA\tok\n", f);
    fclose(f);
    class_data d;
    memset(&d, 0, sizeof d);
    int rc = class_read(path, &d, &err);
    CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "long.tsv:2: line longer than"), "long line: rc %d: %s", rc, err.msg);
    printf("  reader: %s\n", err.msg);
    if (rc == 0) class_data_free(&d);
    // A tagged sentence whose tokens add up past the bound.
    snprintf(tpath, sizeof tpath, "%s/long.conll", dir);
    f = fopen(tpath, "w");
    CHECK(f != NULL, "cannot write %s", tpath);
    if (!f) return;
    char tok[1025];
    memset(tok, 'a', 1024);
    tok[1024] = 0;
    for (int i = 0; i <= DATA_MAX_EXAMPLE / 1025 + 1; i++) fprintf(f, "%s\tW\n", tok);
    fclose(f);
    label_set tags;
    const char *names[1] = {"W"};
    CHECK(label_set_from_names(names, 1, &tags, &err) == 0, "%s", err.msg);
    tag_data td;
    memset(&td, 0, sizeof td);
    rc = tag_read(tpath, 0, &tags, &td, &err);
    CHECK(rc == RECUR_EFORMAT && strstr(err.msg, "sentence longer than"), "long sentence: rc %d: %s", rc, err.msg);
    printf("  reader: %s\n", err.msg);
    if (rc == 0) tag_data_free(&td);
    label_set_free(&tags);
    unlink(path);
    unlink(tpath);
    rmdir(dir);
}

int main(void)
{
    printf("int bounds:\n");
    test_window();
    test_entry_lengths();
    test_readers();
    return check_exit();
}
