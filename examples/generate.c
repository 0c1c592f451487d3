/*
 * generate.c - the smallest useful program on librecur: load a checkpoint
 * and print text it generates. Build: cc generate.c $(pkg-config --cflags
 * --libs recur); run: ./generate model.safetensors "ROMEO:" 200
 */
#include <recur.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT PRIME [LENGTH]\n", argv[0]);
        return 2;
    }
    int length = argc > 3 ? atoi(argv[3]) : 200;
    recur_error err = {0};
    recur_model *model = NULL;
    recur_sampler *sampler = NULL;
    recur_sample_config cfg;
    recur_sample_config_default(&cfg); // temperature 1, no top-k/top-p, seed 1
    if (recur_model_load(argv[1], &model, &err) ||
        recur_sampler_new(model, &cfg, &sampler, &err) ||
        recur_sampler_prime(sampler, argv[2], strlen(argv[2]), &err)) {
        fprintf(stderr, "generate: %s\n", err.msg);
        recur_sampler_free(sampler);
        recur_model_free(model);
        return 1;
    }
    fputs(argv[2], stdout);
    for (int i = 0; i < length; i++) {
        char c[4];
        int n;
        recur_sampler_next(sampler, c, &n, &err);
        fwrite(c, 1, (size_t)n, stdout);
    }
    putchar('\n');
    recur_sampler_free(sampler);
    recur_model_free(model);
    return 0;
}
