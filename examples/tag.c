/*
 * tag.c - many-to-many from C: load a tagger (recur tag train) and print
 * each argument token with its tag.
 *   ./tag pos.safetensors The cat sat on the mat .
 */
#include <recur.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT TOKEN...\n", argv[0]);
        return 2;
    }
    recur_error err = {0};
    recur_model *m = NULL;
    int n = argc - 2, status = 0;
    size_t *lens = calloc((size_t)n, sizeof *lens);
    int *tags = calloc((size_t)n, sizeof *tags);
    for (int i = 0; lens && i < n; i++) lens[i] = strlen(argv[i + 2]);
    if (!lens || !tags || recur_model_load(argv[1], &m, &err) ||
        recur_tag(m, (const char *const *)argv + 2, lens, n, tags, &err)) {
        fprintf(stderr, "tag: %s\n", err.msg[0] ? err.msg : "out of memory");
        status = 1;
    }
    for (int i = 0; !status && i < n; i++) printf("%s/%s%s", argv[i + 2], recur_model_label(m, tags[i]), i + 1 < n ? " " : "\n");
    free(lens);
    free(tags);
    recur_model_free(m);
    return status;
}
