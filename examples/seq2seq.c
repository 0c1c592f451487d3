/*
 * seq2seq.c - translate with a trained encoder-decoder: load a checkpoint
 * written by `recur seq2seq train` and print the target of every line of
 * stdin. Build: cc seq2seq.c $(pkg-config --cflags --libs recur); run:
 * ./seq2seq rev.safetensors [BEAM] < sources.txt
 */
#include <recur.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CKPT [BEAM] < SOURCES\n", argv[0]);
        return 2;
    }
    recur_error err = {0};
    recur_seq2seq *model = NULL;
    if (recur_seq2seq_load(argv[1], &model, &err)) {
        fprintf(stderr, "seq2seq: %s\n", err.msg);
        return 1;
    }
    recur_seq2seq_decode opt;
    recur_seq2seq_decode_default(&opt); // greedy, at most 2 x source + 10 characters
    if (argc > 2) opt.beam = atoi(argv[2]);
    char line[4096], out[4 * (2 * sizeof line + 10) + 1]; // 4 bytes per character always fit
    int status = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n"), n;
        if (recur_seq2seq_predict(model, line, len, &opt, out, sizeof out, &n, &err)) {
            fprintf(stderr, "seq2seq: %s\n", err.msg);
            status = 1;
            break;
        }
        printf("%s\n", out);
    }
    recur_seq2seq_free(model);
    return status;
}
