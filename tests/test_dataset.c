/*
 * test_dataset.c - tests of the dataset readers (src/dataset*.c) on small
 * files written to a fresh directory under /tmp: class directories and TSV
 * files (labels, cleaning, deduplication, errors with file and line), the
 * stratified split's properties, the CoNLL reader, the word and character
 * vocabularies, the pairs reader and the reversal/addition generators
 * (checked against independent oracles). Then the bundled data: the counts
 * of data/names after deduplication and of data/ud_english_ewt.
 */
#include "check.h"
#include "data/dataset.h"
#include "data/text.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[64];

static int has(const recur_error *err, const char *needle)
{
    return strstr(err->msg, needle) != NULL;
}

// root/name as a new string (the caller frees).
static char *join(const char *root, const char *name)
{
    size_t a = strlen(root), b = strlen(name);
    char *p = malloc(a + b + 2);
    memcpy(p, root, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static void write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char *path = join(dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot create %s", path);
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
    free(path);
}

static void write_str(const char *dir, const char *name, const char *data)
{
    write_file(dir, name, data, strlen(data));
}

// A fresh subdirectory of the test's temporary root.
static char *make_dir(const char *name)
{
    char *path = join(tmp_root, name);
    CHECK(mkdir(path, 0700) == 0, "mkdir %s", path);
    return path;
}

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *sub = join(path, de->d_name);
            remove_tree(sub);
            free(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* ---------------------------------------------------------------- classification */

static void test_class_dir(void)
{
    char *dir = make_dir("classes");
    write_str(dir, "B.txt", "x\ny\r\n\n  \nx\n z \t\n");
    write_str(dir, "A.txt", "x\nw");
    write_str(dir, "notes.md", "not a class\n");
    write_str(dir, ".hidden.txt", "not a class either\n");
    char *sub = join(dir, "C.txt");
    CHECK(mkdir(sub, 0700) == 0, "mkdir");
    free(sub);

    class_data d;
    recur_error err = {0};
    int rc = class_read(dir, &d, &err);
    CHECK(rc == 0, "class_read_dir: %s", err.msg);
    if (rc == 0) {
        CHECK(d.labels.n == 2 && !strcmp(d.labels.names[0], "A") &&
                  !strcmp(d.labels.names[1], "B"),
              "labels are A, B (files sorted; others ignored), got %d", d.labels.n);
        CHECK(d.n == 5, "5 examples after dedup, got %zu", d.n);
        CHECK(d.lines[0] == 2 && d.lines[1] == 4, "lines %zu %zu", d.lines[0], d.lines[1]);
        CHECK(d.count[0] == 2 && d.count[1] == 3, "counts %zu %zu", d.count[0], d.count[1]);
        CHECK(d.duplicates == 1, "one duplicate removed, got %zu", d.duplicates);
        CHECK(d.empty_lines == 2, "two blank lines, got %zu", d.empty_lines);
        CHECK(d.ambiguous_texts == 1 && d.ambiguous_examples == 2,
              "\"x\" is under two labels: %zu texts, %zu examples", d.ambiguous_texts,
              d.ambiguous_examples);
        const char *want[] = {"x", "w", "x", "y", "z"};
        const int want_label[] = {0, 0, 1, 1, 1};
        for (size_t i = 0; i < d.n && i < 5; i++) {
            CHECK(!strcmp(d.ex[i].text, want[i]) && d.ex[i].len == strlen(want[i]) &&
                      d.ex[i].label == want_label[i],
                  "example %zu: \"%s\" label %d", i, d.ex[i].text, d.ex[i].label);
        }
        recur_vocab *v = NULL;
        rc = class_char_vocab(&d, NULL, 0, &v, &err);
        CHECK(rc == 0 && recur_vocab_size(v) == 4, "vocab w x y z: %s", err.msg);
        recur_vocab_free(v);
        size_t idx[] = {1, 4};
        rc = class_char_vocab(&d, idx, 2, &v, &err);
        CHECK(rc == 0 && recur_vocab_size(v) == 2 && recur_vocab_id(v, 'x') < 0,
              "vocab of examples 1 and 4 is {w, z}");
        recur_vocab_free(v);
        size_t bad_idx[] = {5};
        CHECK(class_char_vocab(&d, bad_idx, 1, &v, &err) == RECUR_EINVAL && has(&err, "5"),
              "index out of range: %s", err.msg);
        class_data_free(&d);
    }

    // Errors name the file and the line.
    char *bad = make_dir("bad_utf8");
    write_str(bad, "A.txt", "ok\n");
    write_str(bad, "Z.txt", "fine\nbad\xff here\n");
    rc = class_read_dir(bad, &d, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "Z.txt:2:") && has(&err, "invalid UTF-8") &&
              has(&err, "byte 4"),
          "invalid UTF-8: %s", err.msg);
    CHECK(d.ex == NULL && d.labels.n == 0, "a failed read leaves nothing to free");
    write_file(bad, "Z.txt", "fine\n\nnul\0byte\n", 15);
    rc = class_read_dir(bad, &d, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "Z.txt:3:") && has(&err, "NUL"), "NUL: %s", err.msg);
    write_str(bad, "Z.txt", "\n  \r\n");
    rc = class_read_dir(bad, &d, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "Z.txt") && has(&err, "no examples"), "blank: %s",
          err.msg);
    char *empty = make_dir("empty");
    rc = class_read_dir(empty, &d, &err);
    CHECK(rc == RECUR_EINVAL && has(&err, "no <label>.txt"), "no classes: %s", err.msg);
    char *missing = join(tmp_root, "missing");
    rc = class_read_dir(missing, &d, &err);
    CHECK(rc == RECUR_EIO && has(&err, "missing"), "missing: %s", err.msg);

    // Labels may be any UTF-8 and sort bytewise; a byte-order mark is dropped.
    char *utf = make_dir("utf8");
    write_str(utf, "Fran\xc3\xa7" "ais.txt", "\xef\xbb\xbf" "Fran\xc3\xa7ois\n");
    write_str(utf, "Zulu.txt", "a\n");
    write_str(utf, "Francis.txt", "b\n");
    rc = class_read_dir(utf, &d, &err);
    CHECK(rc == 0 && d.labels.n == 3 && !strcmp(d.labels.names[0], "Francis") &&
              !strcmp(d.labels.names[1], "Fran\xc3\xa7" "ais") &&
              !strcmp(d.labels.names[2], "Zulu"),
          "UTF-8 labels sorted bytewise: %s", err.msg);
    if (rc == 0) {
        CHECK(!strcmp(d.ex[1].text, "Fran\xc3\xa7ois"), "BOM dropped: %s", d.ex[1].text);
        CHECK(label_set_find(&d.labels, "Zulu", 4) == 2 &&
                  label_set_find(&d.labels, "Zul", 3) == -1,
              "label_set_find");
        class_data_free(&d);
    }
    free(dir);
    free(bad);
    free(empty);
    free(missing);
    free(utf);
}

static void test_class_tsv(void)
{
    write_str(tmp_root, "c.tsv", "b\tone\nA\ttwo\r\n\nb\tone\nA\tone two\tthree\n b \t four \n");
    char *path = join(tmp_root, "c.tsv");
    class_data d;
    recur_error err = {0};
    int rc = class_read(path, &d, &err);
    CHECK(rc == 0, "class_read_tsv: %s", err.msg);
    if (rc == 0) {
        CHECK(d.labels.n == 2 && !strcmp(d.labels.names[0], "A") &&
                  !strcmp(d.labels.names[1], "b"),
              "labels A, b");
        CHECK(d.n == 4 && d.duplicates == 1 && d.empty_lines == 1 && d.ambiguous_texts == 0,
              "n %zu dup %zu empty %zu", d.n, d.duplicates, d.empty_lines);
        CHECK(d.n == 4 && !strcmp(d.ex[0].text, "two") && !strcmp(d.ex[1].text, "one two\tthree") &&
                  !strcmp(d.ex[2].text, "one") && !strcmp(d.ex[3].text, "four") &&
                  d.ex[3].label == 1,
              "texts in label then file order, the rest of the line after the first TAB");
        class_data_free(&d);
    }
    struct {
        const char *text, *want;
    } bad[] = {
        {"a\tb\nno tab here\n", "c.tsv:2: no TAB"},
        {"a\tb\n\n\t text\n", "c.tsv:3: empty label"},
        {"a\tb\nlabel\t  \r\n", "c.tsv:2: empty text"},
        {"a\tb\nl\t\xc3(\n", "c.tsv:2: invalid UTF-8 at byte 3"},
        {"\n\n", "c.tsv: no examples"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_str(tmp_root, "c.tsv", bad[i].text);
        rc = class_read_tsv(path, &d, &err);
        CHECK(rc == RECUR_EFORMAT && has(&err, bad[i].want), "want \"%s\", got: %s", bad[i].want,
              err.msg);
    }
    free(path);
}

static int contains(const size_t *v, size_t n, size_t x)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == x) return 1;
    return 0;
}

static void test_split(void)
{
    // Classes of 1, 2, 3, 10 and 50 examples.
    strbuf b;
    sb_init(&b);
    const int sizes[] = {1, 2, 3, 10, 50};
    for (int c = 0; c < 5; c++)
        for (int i = 0; i < sizes[c]; i++) sb_printf(&b, "c%d\tex%d_%d\n", c, c, i);
    write_file(tmp_root, "split.tsv", b.s, b.len);
    sb_free(&b);
    char *path = join(tmp_root, "split.tsv");
    class_data d;
    recur_error err = {0};
    int rc = class_read_tsv(path, &d, &err);
    free(path);
    CHECK(rc == 0 && d.n == 66, "read: %s", err.msg);
    if (rc) return;

    class_split s, s2, s3;
    rc = class_split_stratified(&d, 0.2, 7, &s, &err);
    CHECK(rc == 0, "split: %s", err.msg);
    // round(0.2 n) raised to 1 and capped at n-1: 0, 1, 1, 2, 10.
    const size_t want_val[] = {0, 1, 1, 2, 10};
    size_t got_val[5] = {0}, got_train[5] = {0};
    for (size_t i = 0; i < s.nval; i++) got_val[d.ex[s.val[i]].label]++;
    for (size_t i = 0; i < s.ntrain; i++) got_train[d.ex[s.train[i]].label]++;
    for (int c = 0; c < 5; c++)
        CHECK(got_val[c] == want_val[c] && got_train[c] == (size_t)sizes[c] - want_val[c],
              "class %d: %zu val, %zu train", c, got_val[c], got_train[c]);
    CHECK(s.nval + s.ntrain == d.n, "sizes add up");
    int sorted = 1, overlap = 0;
    for (size_t i = 1; i < s.nval; i++) sorted &= s.val[i - 1] < s.val[i];
    for (size_t i = 1; i < s.ntrain; i++) sorted &= s.train[i - 1] < s.train[i];
    for (size_t i = 0; i < s.nval; i++) overlap += contains(s.train, s.ntrain, s.val[i]);
    CHECK(sorted && overlap == 0, "ascending, disjoint (overlap %d)", overlap);

    rc = class_split_stratified(&d, 0.2, 7, &s2, &err);
    CHECK(rc == 0 && s2.nval == s.nval && !memcmp(s2.val, s.val, s.nval * sizeof *s.val),
          "the same seed gives the same split");
    rc = class_split_stratified(&d, 0.2, 8, &s3, &err);
    CHECK(rc == 0 && s3.nval == s.nval && memcmp(s3.val, s.val, s.nval * sizeof *s.val) != 0,
          "another seed gives another split");
    class_split_free(&s);
    class_split_free(&s2);
    class_split_free(&s3);

    rc = class_split_stratified(&d, 0, 7, &s, &err);
    CHECK(rc == 0 && s.nval == 0 && s.ntrain == d.n, "val_frac 0: all train");
    class_split_free(&s);
    rc = class_split_stratified(&d, 0.99, 7, &s, &err);
    CHECK(rc == 0 && s.nval == 0 + 1 + 2 + 9 + 49, "val_frac 0.99 leaves one per class, %zu",
          s.nval);
    class_split_free(&s);
    const double bad[] = {-0.1, 1.0, NAN};
    for (int i = 0; i < 3; i++) {
        rc = class_split_stratified(&d, bad[i], 7, &s, &err);
        CHECK(rc == RECUR_EINVAL && has(&err, "outside [0, 1)") && s.train == NULL,
              "val_frac %g: %s", bad[i], err.msg);
    }
    class_data_free(&d);
}

/* ---------------------------------------------------------------- tagging */

static void test_tag(void)
{
    const char *conll = "# sent_id = 1\n"
                        "# text = The dog\n"
                        "The\tDET\tDT\n"
                        "dog\tNOUN\tNN\n"
                        "\n"
                        "\n"
                        "#\tSYM\tNFP\n"
                        "runs\tVERB\tVBZ\textra\r\n"
                        "the\tDET\tDT\n"
                        " \t\n"
                        "dog\tNOUN\tNN"; // no final newline or blank line
    write_str(tmp_root, "t.tsv", conll);
    char *path = join(tmp_root, "t.tsv");
    tag_data d;
    recur_error err = {0};
    int rc = tag_read(path, 0, NULL, &d, &err);
    CHECK(rc == 0, "tag_read: %s", err.msg);
    if (rc == 0) {
        CHECK(d.nsent == 3 && d.ntok == 6 && d.max_sent_len == 3, "3 sentences, 6 tokens: %zu %zu",
              d.nsent, d.ntok);
        CHECK(d.sent[0] == 0 && d.sent[1] == 2 && d.sent[2] == 5 && d.sent[3] == 6,
              "sentence bounds");
        CHECK(d.tags.n == 4 && !strcmp(d.tags.names[0], "DET") &&
                  !strcmp(d.tags.names[1], "NOUN") && !strcmp(d.tags.names[2], "SYM") &&
                  !strcmp(d.tags.names[3], "VERB"),
              "UPOS tags sorted");
        const int want[] = {0, 1, 2, 3, 0, 1};
        int ok = 1;
        for (int i = 0; i < 6; i++) ok &= d.tag[i] == want[i];
        CHECK(ok, "tag ids");
        CHECK(!strcmp(d.tok[2], "#") && d.tok_len[3] == 4 && !strcmp(d.tok[3], "runs"),
              "a '#' token is a token");

        word_vocab wv;
        rc = word_vocab_build(&d, 2, &wv, &err);
        CHECK(rc == 0 && word_vocab_size(&wv) == 2 && wv.distinct == 5 && wv.covered == 2 &&
                  wv.tokens == 6,
              "min_count 2 keeps only \"dog\": size %d distinct %zu covered %zu",
              word_vocab_size(&wv), wv.distinct, wv.covered);
        CHECK(word_vocab_id(&wv, "dog", 3) == 1 && word_vocab_id(&wv, "The", 3) == WORD_UNK &&
                  wv.counts[0] == 2,
              "dog is id 1, the rest unknown");
        word_vocab_free(&wv);
        rc = word_vocab_build(&d, 1, &wv, &err);
        int32_t ids[6];
        if (rc == 0) word_vocab_encode(&wv, &d, ids);
        // Sorted bytewise: "#" "The" "dog" "runs" "the" get ids 1..5.
        CHECK(rc == 0 && word_vocab_size(&wv) == 6 && ids[0] == 2 && ids[1] == 3 &&
                  ids[2] == 1 && ids[4] == 5 && ids[5] == 3,
              "min_count 1 keeps every word");
        word_vocab_free(&wv);
        CHECK(word_vocab_build(&d, 0, &wv, &err) == RECUR_EINVAL, "min_count 0");

        recur_vocab *cv = NULL;
        rc = tag_char_vocab(&d, &cv, &err);
        // # T d e g h n o r s t u
        CHECK(rc == 0 && recur_vocab_size(cv) == 12, "char vocab of the tokens: %d",
              recur_vocab_size(cv));
        recur_vocab_free(cv);

        // The same file read with a fixed tag set lacking VERB and SYM.
        const char *names[] = {"NOUN", "DET"};
        label_set fixed;
        rc = label_set_from_names(names, 2, &fixed, &err);
        tag_data e;
        rc = rc ? rc : tag_read(path, 2, &fixed, &e, &err);
        CHECK(rc == 0 && e.tags.n == 2 && e.unknown_tags == 2 && e.first_unknown_line == 7 &&
                  e.tag[2] == -1 && e.tag[3] == -1 && e.tag[0] == 0 && e.tag[1] == 1,
              "unknown tags are -1 and counted: %zu (line %zu)", e.unknown_tags,
              e.first_unknown_line);
        if (rc == 0) tag_data_free(&e);
        label_set_free(&fixed);
        tag_data_free(&d);
    }

    rc = tag_read(path, 3, NULL, &d, &err);
    CHECK(rc == 0 && d.tags.n == 4 && !strcmp(d.tags.names[0], "DT"), "column 3: XPOS");
    if (rc == 0) tag_data_free(&d);
    rc = tag_read(path, 4, NULL, &d, &err);
    CHECK(rc == RECUR_EFORMAT && has(&err, "t.tsv:3:") && has(&err, "3 TAB-separated columns"),
          "column 4: %s", err.msg);
    rc = tag_read(path, 1, NULL, &d, &err);
    CHECK(rc == RECUR_EINVAL && has(&err, "column 1"), "column 1: %s", err.msg);

    struct {
        const char *text, *want;
    } bad[] = {
        {"a\tX\nbad\n", "t.tsv:2: 1 TAB-separated column, but"},
        {"a\tX\n\nb\t\tY\n", "t.tsv:3: empty tag in column 2"},
        {"\tX\n", "t.tsv:1: empty token"},
        {"a\tX\n\xe2\x82\tY\n", "t.tsv:2: invalid UTF-8 at byte 1"},
        {"# only\n\n# comments\n", "t.tsv: no tokens"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_str(tmp_root, "t.tsv", bad[i].text);
        rc = tag_read(path, 2, NULL, &d, &err);
        CHECK(rc == RECUR_EFORMAT && has(&err, bad[i].want), "want \"%s\", got: %s", bad[i].want,
              err.msg);
        CHECK(d.tok == NULL && d.tags.n == 0, "nothing left after a failure");
    }
    free(path);
}

static void test_label_set(void)
{
    const char *names[] = {"b", "a", "\xc3\xa9", "B"};
    label_set s, t;
    recur_error err = {0};
    int rc = label_set_from_names(names, 4, &s, &err);
    CHECK(rc == 0 && s.n == 4 && !strcmp(s.names[0], "B") && !strcmp(s.names[3], "\xc3\xa9"),
          "sorted bytewise");
    rc = label_set_clone(&s, &t, &err);
    CHECK(rc == 0 && t.n == 4 && t.names[1] != s.names[1] && !strcmp(t.names[1], "a"), "clone");
    label_set_free(&s);
    label_set_free(&t);
    const char *dup[] = {"x", "y", "x"};
    CHECK(label_set_from_names(dup, 3, &s, &err) == RECUR_EINVAL &&
              has(&err, "\"x\" appears twice"),
          "duplicate: %s", err.msg);
    const char *empty[] = {"x", ""};
    CHECK(label_set_from_names(empty, 2, &s, &err) == RECUR_EINVAL && has(&err, "label 1 is empty"),
          "empty: %s", err.msg);
    const char *invalid[] = {"\xc0\xaf"};
    CHECK(label_set_from_names(invalid, 1, &s, &err) == RECUR_EINVAL && has(&err, "UTF-8"),
          "invalid: %s", err.msg);
}

/* ---------------------------------------------------------------- pairs */

static void test_pairs_read(void)
{
    write_str(tmp_root, "p.tsv", "abc\tcba\n\nx\t\r\n\tq\n");
    char *path = join(tmp_root, "p.tsv");
    pair_data d;
    recur_error err = {0};
    int rc = pairs_read(path, &d, &err);
    CHECK(rc == 0 && d.n == 3 && d.empty_lines == 1, "3 pairs: %s", err.msg);
    if (rc == 0) {
        CHECK(!strcmp(d.p[0].src, "abc") && !strcmp(d.p[0].tgt, "cba") && d.p[0].tgt_len == 3,
              "pair 0");
        CHECK(!strcmp(d.p[1].src, "x") && d.p[1].tgt_len == 0 && !strcmp(d.p[1].tgt, ""),
              "empty target, \\r dropped");
        CHECK(d.p[2].src_len == 0 && !strcmp(d.p[2].tgt, "q"), "empty source");
        pair_data_free(&d);
    }
    struct {
        const char *text, *want;
    } bad[] = {
        {"a\tb\nno tab\n", "p.tsv:2: no TAB"},
        {"a\tb\tc\n", "p.tsv:1: more than one TAB"},
        {"a\tb\n\nc\t\xed\xa0\x80\n", "p.tsv:3: invalid UTF-8 at byte 3"},
        {"\n\n", "p.tsv: no pairs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_str(tmp_root, "p.tsv", bad[i].text);
        rc = pairs_read(path, &d, &err);
        CHECK(rc == RECUR_EFORMAT && has(&err, bad[i].want) && d.p == NULL,
              "want \"%s\", got: %s", bad[i].want, err.msg);
    }
    free(path);
}

// The code points of s[0..n) into cp (at most max); returns the count, -1 if invalid.
static int decode_all(const char *s, size_t n, int32_t *cp, int max)
{
    size_t pos = 0;
    int k = 0;
    while (pos < n) {
        int32_t c = utf8_decode((const uint8_t *)s, n, &pos);
        if (c < 0 || k == max) return -1;
        cp[k++] = c;
    }
    return k;
}

static int same_pairs(const pair_data *a, const pair_data *b)
{
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->p[i].src, b->p[i].src) || strcmp(a->p[i].tgt, b->p[i].tgt)) return 0;
    return 1;
}

static void test_gen_reverse(void)
{
    const char *alphabet = "ab\xc3\xa9z"; // a b é z
    pair_data d, same, other;
    recur_error err = {0};
    int rc = pairs_gen_reverse(alphabet, 2, 6, 300, 11, &d, &err);
    CHECK(rc == 0 && d.n == 300, "generate: %s", err.msg);
    if (rc) return;
    int bad_rev = 0, bad_len = 0, bad_char = 0, seen_len[7] = {0};
    for (size_t i = 0; i < d.n; i++) {
        int32_t s[16], t[16];
        int ns = decode_all(d.p[i].src, d.p[i].src_len, s, 16);
        int nt = decode_all(d.p[i].tgt, d.p[i].tgt_len, t, 16);
        if (ns < 2 || ns > 6) {
            bad_len++;
            continue;
        }
        seen_len[ns]++;
        if (nt != ns) bad_rev++;
        for (int j = 0; j < ns && nt == ns; j++) {
            if (t[j] != s[ns - 1 - j]) bad_rev++;
            if (s[j] != 'a' && s[j] != 'b' && s[j] != 0xE9 && s[j] != 'z') bad_char++;
        }
    }
    CHECK(bad_rev == 0 && bad_len == 0 && bad_char == 0,
          "targets are the sources reversed by character (%d %d %d)", bad_rev, bad_len, bad_char);
    CHECK(seen_len[2] && seen_len[6], "both ends of the length range occur");
    rc = pairs_gen_reverse(alphabet, 2, 6, 300, 11, &same, &err);
    CHECK(rc == 0 && same_pairs(&d, &same), "the same seed gives the same pairs");
    rc = pairs_gen_reverse(alphabet, 2, 6, 300, 12, &other, &err);
    CHECK(rc == 0 && !same_pairs(&d, &other), "another seed gives other pairs");
    recur_vocab *v = NULL;
    rc = pairs_char_vocab(&d, PAIRS_SRC, &v, &err);
    CHECK(rc == 0 && recur_vocab_size(v) == 4 && recur_vocab_id(v, 0xE9) >= 0, "vocab a b é z");
    recur_vocab_free(v);
    pair_data_free(&d);
    pair_data_free(&same);
    pair_data_free(&other);

    CHECK(pairs_gen_reverse("", 1, 2, 5, 1, &d, &err) == RECUR_EINVAL, "empty alphabet");
    CHECK(pairs_gen_reverse("ab", 0, 2, 5, 1, &d, &err) == RECUR_EINVAL, "lo 0");
    CHECK(pairs_gen_reverse("ab", 3, 2, 5, 1, &d, &err) == RECUR_EINVAL && has(&err, "[3, 2]"),
          "lo > hi: %s", err.msg);
    CHECK(pairs_gen_reverse("a\xff", 1, 2, 5, 1, &d, &err) == RECUR_EINVAL && has(&err, "UTF-8"),
          "invalid alphabet: %s", err.msg);

    // A held-out set shares no source with the training set.
    pair_data train, test;
    rc = pairs_gen_reverse("ab", 1, 3, 40, 1, &train, &err);
    rc = rc ? rc : pairs_gen_reverse("ab", 1, 3, 40, 2, &test, &err);
    CHECK(rc == 0, "generate: %s", err.msg);
    if (rc) return;
    size_t removed = 0, before = test.n;
    rc = pairs_exclude(&test, &train, &removed, &err);
    int shared = 0;
    for (size_t i = 0; i < test.n; i++)
        for (size_t j = 0; j < train.n; j++) shared += !strcmp(test.p[i].src, train.p[j].src);
    CHECK(rc == 0 && removed > 0 && test.n == before - removed && shared == 0,
          "exclude removed %zu of %zu; %d shared left", removed, before, shared);
    pair_data_free(&train);
    pair_data_free(&test);
}

// a mod m for a decimal string.
static unsigned long long mod_dec(const char *s, size_t n, unsigned long long m)
{
    unsigned long long r = 0;
    for (size_t i = 0; i < n; i++) r = (r * 10 + (unsigned long long)(s[i] - '0')) % m;
    return r;
}

static int valid_number(const char *s, size_t n)
{
    if (n == 0 || (n > 1 && s[0] == '0')) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

// Checks every pair of d: "a+b" -> a+b, exactly (short) or modulo two primes.
static int check_sums(const pair_data *d, int lo, int hi, int *carry_out)
{
    int bad = 0;
    for (size_t i = 0; i < d->n; i++) {
        const seq_pair *p = &d->p[i];
        const char *plus = strchr(p->src, '+');
        if (!plus) {
            bad++;
            continue;
        }
        size_t na = (size_t)(plus - p->src), nb = p->src_len - na - 1;
        if (!valid_number(p->src, na) || !valid_number(plus + 1, nb) ||
            !valid_number(p->tgt, p->tgt_len) || na < (size_t)lo || na > (size_t)hi ||
            nb < (size_t)lo || nb > (size_t)hi) {
            bad++;
            continue;
        }
        if (p->tgt_len > (na > nb ? na : nb)) (*carry_out)++;
        if (hi <= 18) {
            unsigned long long a = strtoull(p->src, NULL, 10), b = strtoull(plus + 1, NULL, 10);
            if (a + b != strtoull(p->tgt, NULL, 10)) bad++;
        } else {
            const unsigned long long primes[] = {1000000007ull, 998244353ull};
            for (int k = 0; k < 2; k++) {
                unsigned long long m = primes[k];
                if ((mod_dec(p->src, na, m) + mod_dec(plus + 1, nb, m)) % m !=
                    mod_dec(p->tgt, p->tgt_len, m))
                    bad++;
            }
        }
    }
    return bad;
}

static void test_gen_add(void)
{
    pair_data d, same;
    recur_error err = {0};
    int rc = pairs_gen_add(1, 1, 400, 3, &d, &err);
    CHECK(rc == 0 && d.n == 400, "generate: %s", err.msg);
    if (rc) return;
    int carries = 0, nine_nine = 0, zero = 0;
    CHECK(check_sums(&d, 1, 1, &carries) == 0, "one-digit sums are right");
    for (size_t i = 0; i < d.n; i++) {
        if (!strcmp(d.p[i].src, "9+9")) nine_nine += !strcmp(d.p[i].tgt, "18");
        if (!strcmp(d.p[i].src, "0+0")) zero += !strcmp(d.p[i].tgt, "0");
    }
    CHECK(carries > 0 && nine_nine > 0 && zero > 0, "9+9=18 and 0+0=0 occur (%d %d %d)", carries,
          nine_nine, zero);
    rc = pairs_gen_add(1, 1, 400, 3, &same, &err);
    CHECK(rc == 0 && same_pairs(&d, &same), "the same seed gives the same pairs");
    recur_vocab *v = NULL;
    rc = pairs_char_vocab(&d, PAIRS_BOTH, &v, &err);
    CHECK(rc == 0 && recur_vocab_size(v) == 11, "vocab 0-9 and +: %d", recur_vocab_size(v));
    recur_vocab_free(v);
    rc = pairs_char_vocab(&d, PAIRS_TGT, &v, &err);
    CHECK(rc == 0 && recur_vocab_size(v) == 10, "targets have no +");
    recur_vocab_free(v);
    CHECK(pairs_char_vocab(&d, 0, &v, &err) == RECUR_EINVAL, "sides 0");
    pair_data_free(&d);
    pair_data_free(&same);

    carries = 0;
    rc = pairs_gen_add(1, 18, 2000, 4, &d, &err);
    CHECK(rc == 0 && check_sums(&d, 1, 18, &carries) == 0 && carries > 0,
          "sums of up to 18 digits are exact (%d carried out)", carries);
    pair_data_free(&d);
    carries = 0;
    rc = pairs_gen_add(30, 60, 500, 5, &d, &err);
    CHECK(rc == 0 && check_sums(&d, 30, 60, &carries) == 0 && carries > 0,
          "sums of 30 to 60 digits agree modulo two primes (%d carried out)", carries);
    pair_data_free(&d);
    CHECK(pairs_gen_add(0, 3, 5, 1, &d, &err) == RECUR_EINVAL, "lo 0");
    CHECK(pairs_gen_add(1, 1001, 5, 1, &d, &err) == RECUR_EINVAL, "hi too big");
}

/* ---------------------------------------------------------------- the bundled data */

static void test_names_data(void)
{
    // Distinct surnames per language, counted once with `sort -u` (LC_ALL=C)
    // on each file with trailing spaces removed.
    static const struct {
        const char *label;
        size_t lines, distinct;
    } want[18] = {
        {"Arabic", 2000, 108},  {"Chinese", 268, 246},   {"Czech", 519, 503},
        {"Dutch", 297, 286},    {"English", 3668, 3668}, {"French", 277, 273},
        {"German", 724, 706},   {"Greek", 203, 193},     {"Irish", 232, 226},
        {"Italian", 709, 701},  {"Japanese", 991, 990},  {"Korean", 94, 94},
        {"Polish", 139, 138},   {"Portuguese", 74, 74},  {"Russian", 9408, 9342},
        {"Scottish", 100, 100}, {"Spanish", 298, 296},   {"Vietnamese", 73, 71},
    };
    class_data d;
    recur_error err = {0};
    int rc = class_read(RECUR_SOURCE_DIR "/data/names", &d, &err);
    CHECK(rc == 0 && d.labels.n == 18, "data/names: %s", err.msg);
    if (rc) return;
    size_t lines = 0;
    for (int c = 0; c < d.labels.n && c < 18; c++) {
        CHECK(!strcmp(d.labels.names[c], want[c].label) && d.lines[c] == want[c].lines &&
                  d.count[c] == want[c].distinct,
              "%s: %zu lines, %zu distinct (want %s %zu %zu)", d.labels.names[c], d.lines[c],
              d.count[c], want[c].label, want[c].lines, want[c].distinct);
        lines += d.lines[c];
    }
    CHECK(lines == 20074 && d.n == 18015 && d.duplicates == 2059 && d.empty_lines == 0,
          "20074 lines, 18015 distinct, 2059 duplicates: %zu %zu %zu", lines, d.n, d.duplicates);
    CHECK(d.ambiguous_texts == 469, "469 surnames under several languages: %zu",
          d.ambiguous_texts);
    printf("  data/names: %d classes, %zu lines, %zu duplicates removed, %zu examples; %zu "
           "surnames under several labels (%zu examples)\n",
           d.labels.n, lines, d.duplicates, d.n, d.ambiguous_texts, d.ambiguous_examples);

    class_split s;
    rc = class_split_stratified(&d, 0.1, 1, &s, &err);
    size_t in_val[18] = {0};
    for (size_t i = 0; rc == 0 && i < s.nval; i++) in_val[d.ex[s.val[i]].label]++;
    int all = 1;
    for (int c = 0; c < 18; c++) all &= in_val[c] >= 1;
    CHECK(rc == 0 && all && s.nval + s.ntrain == d.n, "every language is in validation");
    printf("  data/names split 0.1 seed 1: %zu train, %zu val (Arabic %zu, Vietnamese %zu)\n",
           s.ntrain, s.nval, in_val[0], in_val[17]);
    recur_vocab *v = NULL;
    rc = class_char_vocab(&d, s.train, s.ntrain, &v, &err);
    CHECK(rc == 0, "char vocab: %s", err.msg);
    printf("  data/names training characters: %d\n", recur_vocab_size(v));
    recur_vocab_free(v);
    class_split_free(&s);
    class_data_free(&d);
}

static void test_ud_data(void)
{
    tag_data tr, dv, te;
    recur_error err = {0};
    int rc = tag_read(RECUR_SOURCE_DIR "/data/ud_english_ewt/train.tsv", 2, NULL, &tr, &err);
    CHECK(rc == 0, "train.tsv: %s", err.msg);
    if (rc) return;
    CHECK(tr.nsent == 12544 && tr.ntok == 204577 && tr.tags.n == 17 && tr.max_sent_len == 159,
          "train: 12544 sentences, 204577 tokens, 17 UPOS tags: %zu %zu %d", tr.nsent, tr.ntok,
          tr.tags.n);
    CHECK(label_set_find(&tr.tags, "NOUN", 4) >= 0 && label_set_find(&tr.tags, "X", 1) >= 0,
          "NOUN and X are tags");
    rc = tag_read(RECUR_SOURCE_DIR "/data/ud_english_ewt/dev.tsv", 2, &tr.tags, &dv, &err);
    CHECK(rc == 0 && dv.nsent == 2001 && dv.ntok == 25147 && dv.unknown_tags == 0,
          "dev: 2001 sentences, 25147 tokens, every tag known: %s", err.msg);
    if (rc == 0) tag_data_free(&dv);
    rc = tag_read(RECUR_SOURCE_DIR "/data/ud_english_ewt/test.tsv", 2, &tr.tags, &te, &err);
    CHECK(rc == 0 && te.nsent == 2077 && te.ntok == 25094 && te.unknown_tags == 0,
          "test: 2077 sentences, 25094 tokens, every tag known: %s", err.msg);
    if (rc == 0) tag_data_free(&te);

    // Word counts cross-checked with cut -f1 | sort | uniq -c.
    word_vocab wv;
    rc = word_vocab_build(&tr, 2, &wv, &err);
    CHECK(rc == 0 && wv.distinct == 19674 && word_vocab_size(&wv) == 9874 &&
              wv.covered == 194776,
          "words: %zu distinct, %d kept with count >= 2, %zu tokens covered", wv.distinct,
          word_vocab_size(&wv) - 1, wv.covered);
    recur_vocab *cv = NULL;
    rc = tag_char_vocab(&tr, &cv, &err);
    CHECK(rc == 0, "char vocab: %s", err.msg);
    printf("  data/ud_english_ewt/train.tsv: %zu sentences, %zu tokens, %d tags, %zu distinct "
           "words (%d with count >= 2, covering %.1f%%), %d characters\n",
           tr.nsent, tr.ntok, tr.tags.n, wv.distinct, word_vocab_size(&wv) - 1,
           100.0 * (double)wv.covered / (double)wv.tokens, recur_vocab_size(cv));
    recur_vocab_free(cv);
    word_vocab_free(&wv);
    tag_data_free(&tr);

    rc = tag_read(RECUR_SOURCE_DIR "/data/ud_english_ewt/train.tsv", 3, NULL, &tr, &err);
    CHECK(rc == 0 && tr.tags.n == 49, "49 XPOS tags in train: %d", tr.tags.n);
    if (rc == 0) tag_data_free(&tr);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/recur_test_dataset_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        CHECK(0, "mkdtemp failed");
        return check_exit();
    }
    test_label_set();
    test_class_dir();
    test_class_tsv();
    test_split();
    test_tag();
    test_pairs_read();
    test_gen_reverse();
    test_gen_add();
    test_names_data();
    test_ud_data();
    remove_tree(tmp_root);
    return check_exit();
}
