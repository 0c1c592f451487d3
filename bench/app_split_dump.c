/*
 * app_split_dump.c - prints the training/validation split that
 * `recur classify train DATA --seed S --val-frac X` makes, so that
 * bench/torch_apps.py's own split (--dump-split) can be checked against it
 * byte for byte. It calls recur's own reader and splitter (class_read,
 * class_split_stratified), nothing reimplemented.
 *
 * Output: one line per example, "train" or "val", TAB, the label, TAB, the
 * text; the training examples first, each part in recur's order (ascending
 * example index: by label, then as first read).
 *
 * Built by bench/app_parity.sh against the build tree's internal library:
 *   cc -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -Iinclude \
 *      bench/app_split_dump.c build/librecur_internal.a -lm -lpthread
 * usage: app_split_dump DATA SEED VAL_FRAC
 */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>

static void dump(const class_data *d, const size_t *idx, size_t n, const char *part)
{
    for (size_t i = 0; i < n; i++) {
        const class_example *e = &d->ex[idx[i]];
        printf("%s\t%s\t%s\n", part, d->labels.names[e->label], e->text);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DATA SEED VAL_FRAC\n", argv[0]);
        return 2;
    }
    recur_error err = {0};
    class_data d;
    class_split sp;
    if (class_read(argv[1], &d, &err)) {
        fprintf(stderr, "app_split_dump: %s\n", err.msg);
        return 1;
    }
    if (class_split_stratified(&d, strtod(argv[3], NULL), strtoull(argv[2], NULL, 10), &sp, &err)) {
        fprintf(stderr, "app_split_dump: %s\n", err.msg);
        class_data_free(&d);
        return 1;
    }
    dump(&d, sp.train, sp.ntrain, "train");
    dump(&d, sp.val, sp.nval, "val");
    class_split_free(&sp);
    class_data_free(&d);
    return 0;
}
