/*
 * by_class.c - one-to-many from C: load a generator trained with
 * `recur train DATA --by-class` and write a few texts of one class.
 *   ./by_class names-gen.safetensors Russian 5
 */
#include <recur.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT CLASS [COUNT]\n", argv[0]);
        return 2;
    }
    int count = argc > 3 ? atoi(argv[3]) : 5;
    recur_error err = {0};
    recur_model *m = NULL;
    recur_sampler *s = NULL;
    recur_sample_config cfg;
    recur_sample_config_default(&cfg);
    cfg.temperature = 0.7f;
    if (recur_model_load(argv[1], &m, &err) || recur_sampler_new(m, &cfg, &s, &err) ||
        recur_sampler_set_class(s, recur_model_label_id(m, argv[2]), &err)) {
        fprintf(stderr, "by_class: %s\n", err.msg);
        recur_sampler_free(s);
        recur_model_free(m);
        return 1;
    }
    for (int i = 0; i < count; i++) {
        // Each text was learned as a line of its own: start after "\n", stop at the next.
        recur_sampler_reset(s);
        recur_sampler_prime(s, "\n", 1, &err);
        for (int k = 0; k < 40; k++) {
            char c[4];
            int n;
            if (recur_sampler_next(s, c, &n, &err) || c[0] == '\n') break;
            fwrite(c, 1, (size_t)n, stdout);
        }
        putchar('\n');
    }
    recur_sampler_free(s);
    recur_model_free(m);
    return 0;
}
