/*
 * classify.c - many-to-one from C: load a classifier (recur classify train)
 * and print the most likely label of each argument.
 *   ./classify names.safetensors Dostoevsky Nakamura
 */
#include <recur.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT TEXT...\n", argv[0]);
        return 2;
    }
    recur_error err = {0};
    recur_model *m = NULL;
    if (recur_model_load(argv[1], &m, &err)) {
        fprintf(stderr, "classify: %s\n", err.msg);
        return 1;
    }
    int n = recur_model_label_count(m), status = 0;
    float *p = calloc((size_t)(n ? n : 1), sizeof *p);
    for (int i = 2; p && i < argc; i++) {
        if (recur_classify(m, argv[i], strlen(argv[i]), p, &err)) {
            fprintf(stderr, "classify: %s\n", err.msg);
            status = 1;
            break;
        }
        int best = 0;
        for (int k = 1; k < n; k++)
            if (p[k] > p[best]) best = k;
        printf("%s\t%s\t%.3f\n", argv[i], recur_model_label(m, best), (double)p[best]);
    }
    free(p);
    recur_model_free(m);
    return status;
}
