/*
 * dataset.h - the data the RNN applications train on, read strictly from
 * files or generated: labelled examples for classification (a directory of
 * <Label>.txt files or a label<TAB>text file), tagged sentences for tagging
 * (CoNLL-style columns), source<TAB>target pairs for seq2seq and the
 * deterministic pair tasks (string reversal, addition). Every object owns its
 * text (the files are closed when a reader returns) and has a _free function.
 * Errors name the file and the 1-based line. The metrics are in metrics.h.
 */
#ifndef RECUR_DATASET_H
#define RECUR_DATASET_H

#include "base/internal.h"
#include "base/rng.h"

/* ---------------------------------------------------------------- label sets */

/* A set of distinct names (class labels, tags, words), sorted bytewise so
 * that ids do not depend on the order the data lists them in. Every name is
 * non-empty, NUL-terminated, valid UTF-8 without NUL bytes. */
typedef struct label_set {
    int n;
    char **names; /* [n], ascending by strcmp */
    char *pool_;  /* private: the bytes the names point into */
} label_set;

/* A sorted copy of names[0..n) (any order). Empty names, invalid UTF-8 and
 * duplicates are RECUR_EINVAL naming the entry. n may be 0. */
int label_set_from_names(const char *const *names, int n, label_set *out, recur_error *err);
int label_set_clone(const label_set *s, label_set *out, recur_error *err);
void label_set_free(label_set *s);
/* The id of name[0..len) (not NUL-terminated), or -1 if absent. */
int label_set_find(const label_set *s, const char *name, size_t len);

/* ---------------------------------------------------------------- classification */

typedef struct class_example {
    const char *text; /* UTF-8, NUL-terminated, owned by the class_data */
    size_t len;       /* bytes */
    int label;        /* id in class_data.labels */
} class_example;

typedef struct class_data {
    label_set labels;
    class_example *ex;  /* [n]: grouped by label, then in the order first read */
    size_t n;
    size_t *count;      /* [labels.n] examples per label after deduplication */
    size_t *lines;      /* [labels.n] non-empty lines per label as read */
    size_t empty_lines; /* blank (or whitespace-only) lines skipped */
    size_t duplicates;  /* exact (label, text) repeats removed: sum(lines) - n */
    size_t ambiguous_texts;    /* distinct texts found under more than one label */
    size_t ambiguous_examples; /* examples (after dedup) whose text has another label too */
    char *pool_;        /* private */
} class_data;

/* Reads a directory: every regular file DIR/<Label>.txt is one class, one
 * example per line (names starting with '.' and files not ending in .txt are
 * ignored). Labels are sorted by name. Each line loses a trailing \r and
 * surrounding spaces/tabs; empty lines are skipped; invalid UTF-8 and NUL
 * bytes are RECUR_EFORMAT naming the file and line. Exact duplicates of
 * (label, text) are removed (the first is kept) and counted; texts under
 * several labels are kept and counted. A class with no example is an error. */
int class_read_dir(const char *dir, class_data *out, recur_error *err);
/* Reads label<TAB>text lines (the text is the rest of the line); the same
 * cleaning, deduplication and counts as class_read_dir. A non-empty line
 * without a TAB, or with an empty label or text, is RECUR_EFORMAT. */
int class_read_tsv(const char *path, class_data *out, recur_error *err);
/* class_read_dir for a directory, class_read_tsv for anything else. */
int class_read(const char *path, class_data *out, recur_error *err);
void class_data_free(class_data *d);

/* A split of a class_data into training and validation examples: indices into
 * ex[], each list ascending. */
typedef struct class_split {
    size_t *train, *val;
    size_t ntrain, nval;
} class_split;

/* Stratified: each class of n_c examples, shuffled by an rng seeded with
 * seed, gives its first k_c = round(val_frac * n_c) to validation, where k_c
 * is raised to 1 and capped at n_c - 1 for classes of 2 or more (so every
 * such class is in both lists; a class of one example trains only).
 * val_frac = 0 puts everything in train. val_frac outside [0, 1) is
 * RECUR_EINVAL. The same data and seed give the same split. */
int class_split_stratified(const class_data *d, double val_frac, uint64_t seed, class_split *out,
                           recur_error *err);
void class_split_free(class_split *s);

/* The character vocabulary of the examples idx[0..n) (all examples when idx
 * is NULL), built by recur_vocab_from_text. */
int class_char_vocab(const class_data *d, const size_t *idx, size_t n, recur_vocab **out,
                     recur_error *err);

/* ---------------------------------------------------------------- tagging */

typedef struct tag_data {
    size_t nsent, ntok;
    size_t *sent;         /* [nsent + 1]: sentence s is tokens sent[s] .. sent[s+1] - 1 */
    const char **tok;     /* [ntok] token text, UTF-8, NUL-terminated */
    size_t *tok_len;      /* [ntok] bytes */
    int32_t *tag;         /* [ntok] id in tags, or -1 when not in a given tag set */
    label_set tags;
    size_t max_sent_len;  /* tokens in the longest sentence */
    size_t unknown_tags;  /* tokens whose tag is not in the given tag set (tag -1) */
    size_t first_unknown_line; /* line of the first of those, 0 if none */
    char *pool_;          /* private */
} tag_data;

/* Reads a CoNLL-style file: one token per line as TAB-separated columns, the
 * token in column 1 and its tag in column `column` (1-based, >= 2; 0 means 2,
 * UPOS in data/ud_english_ewt); further columns are ignored. A blank line
 * ends a sentence (the last one needs none); a line starting with '#' and
 * holding no TAB is a comment (a '#' token, "#\tSYM\t...", is a token line).
 * A line with too few columns or an empty token or tag is RECUR_EFORMAT
 * naming the line.
 * With tags NULL the tag set is every tag of the file. With a tag set (the
 * training set's), tags outside it get id -1 and are counted in
 * unknown_tags, so that a rare tag in a test file still lets the rest be
 * scored (metrics count such a token as a miss). */
int tag_read(const char *path, int column, const label_set *tags, tag_data *out,
             recur_error *err);
void tag_data_free(tag_data *d);

/* The character vocabulary of every token (recur_vocab_from_text), for
 * character-level token encoding. */
int tag_char_vocab(const tag_data *d, recur_vocab **out, recur_error *err);

/* A word vocabulary with an unknown-word fallback: the words of a tag_data
 * seen at least min_count times, sorted bytewise; word i has id i + 1 and id
 * WORD_UNK (0) stands for every other word. */
#define WORD_UNK 0
typedef struct word_vocab {
    label_set words;
    size_t *counts;    /* [words.n] occurrences of each kept word */
    int min_count;
    size_t distinct;   /* distinct words in the data, kept or not */
    size_t tokens;     /* tokens in the data */
    size_t covered;    /* tokens whose word was kept */
} word_vocab;

int word_vocab_build(const tag_data *d, int min_count, word_vocab *out, recur_error *err);
void word_vocab_free(word_vocab *v);
/* words.n + 1 (the unknown id included). */
int word_vocab_size(const word_vocab *v);
/* The id of word[0..len), or WORD_UNK. */
int word_vocab_id(const word_vocab *v, const char *word, size_t len);
/* ids[i] = word_vocab_id of token i, for all d->ntok tokens. */
void word_vocab_encode(const word_vocab *v, const tag_data *d, int32_t *ids);

/* ---------------------------------------------------------------- pairs (seq2seq) */

typedef struct seq_pair {
    const char *src, *tgt; /* UTF-8, NUL-terminated, owned by the pair_data */
    size_t src_len, tgt_len;
} seq_pair;

typedef struct pair_data {
    seq_pair *p;
    size_t n;
    size_t empty_lines; /* blank lines skipped by pairs_read */
    char *pool_;        /* private */
} pair_data;

/* Reads source<TAB>target lines (a trailing \r dropped, blank lines
 * skipped; either side may be empty). A line without a TAB or with more
 * than one, invalid UTF-8 or a NUL byte is RECUR_EFORMAT naming the line. */
int pairs_read(const char *path, pair_data *out, recur_error *err);
void pair_data_free(pair_data *d);

/* n pairs (s, reverse(s)) where s has a length drawn uniformly from
 * [lo, hi] (1 <= lo <= hi) and characters drawn uniformly from alphabet
 * (UTF-8, each character one symbol; reversal is by character). */
int pairs_gen_reverse(const char *alphabet, int lo, int hi, size_t n, uint64_t seed,
                      pair_data *out, recur_error *err);
/* n pairs ("a+b", "a+b in decimal") where a and b each have a number of
 * digits drawn uniformly from [lo, hi] (1 <= lo <= hi <= 1000), no leading
 * zeros; the sum is computed digit by digit, so any length is exact. */
int pairs_gen_add(int lo, int hi, size_t n, uint64_t seed, pair_data *out, recur_error *err);

/* Removes from d every pair whose source is also a source in other (keeping
 * the order of the rest), so that a held-out set shares no input with the
 * training set; *removed (optional) gets the count. */
int pairs_exclude(pair_data *d, const pair_data *other, size_t *removed, recur_error *err);

/* Which texts pairs_char_vocab reads. */
enum { PAIRS_SRC = 1, PAIRS_TGT = 2, PAIRS_BOTH = 3 };
int pairs_char_vocab(const pair_data *d, int sides, recur_vocab **out, recur_error *err);

/* ---------------------------------------------------------------- shared by the readers */

/* A piece of text that is not NUL-terminated. */
typedef struct str_span {
    const char *s;
    size_t len;
} str_span;

/* Bytewise order (a prefix sorts first), the order of label sets. */
int span_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* span_cmp as a qsort comparator of str_span. */
int span_qcmp(const void *a, const void *b);
/* Sorts v[0..n) by span_cmp and drops repeats; returns how many remain. */
size_t spans_sort_unique(str_span *v, size_t n);
/* A label set of spans[0..n), which must be sorted by span_cmp and distinct. */
int label_set_from_spans(const str_span *spans, int n, label_set *out, recur_error *err);

/* Walks the lines of a file's bytes: skips a leading UTF-8 byte-order mark,
 * strips the \n and one \r before it, and numbers lines from 1. */
typedef struct line_iter {
    const uint8_t *s;
    size_t len, pos;
    size_t lineno; /* the line last returned */
} line_iter;

void line_iter_init(line_iter *it, const uint8_t *s, size_t len);
/* 1 with the next line in *line (length *n), 0 at the end. */
int line_next(line_iter *it, const char **line, size_t *n);

/* Checks that line[0..n) is valid UTF-8 without NUL bytes; otherwise
 * RECUR_EFORMAT "PATH:LINE: invalid UTF-8 at byte B of the line". */
int line_check(const char *path, size_t lineno, const char *line, size_t n, recur_error *err);
/* The longest line, and the longest tagged sentence (its tokens' bytes plus
 * one separator each), the readers take: the applications count an
 * example's characters in an int (positions, a window's T, per-step targets
 * at twice that), so the bound keeps every such count far from overflow.
 * Longer is RECUR_EFORMAT naming the line. */
#define DATA_MAX_EXAMPLE (1 << 24)

/* Uniform in [0, n) without modulo bias; n >= 1. */
uint64_t draw_below(rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n) with r (also for epoch order). */
void shuffle_index(size_t *idx, size_t n, rng *r);

/* recur_vocab_from_text over the concatenation of spans[0..n). */
int vocab_from_spans(const str_span *spans, size_t n, recur_vocab **out, recur_error *err);

#endif
