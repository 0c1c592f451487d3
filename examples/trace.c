/*
 * trace.c - look inside a model from C: run it over a text with
 * recur_trace_text, print what it expected at each character and one unit's
 * value there, then the unit whose output best follows the position in the
 * line. Build: cc trace.c $(pkg-config --cflags --libs recur);
 * run: ./trace model.safetensors "First Citizen:" [LAYER UNIT]
 */
#include <recur.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT TEXT [LAYER UNIT]\n", argv[0]);
        return 2;
    }
    const char *text = argv[2];
    int layer = argc > 4 ? atoi(argv[3]) : 0, unit = argc > 4 ? atoi(argv[4]) : 0;
    recur_error err = {0};
    recur_model *model = NULL;
    recur_trace *t = NULL;
    recur_trace_config cfg;
    recur_trace_config_default(&cfg); // every value kept; unknown characters are an error
    if (recur_model_load(argv[1], &model, &err) ||
        recur_trace_text(model, text, strlen(text), &cfg, &t, &err)) {
        fprintf(stderr, "trace: %s\n", err.msg);
        recur_model_free(model);
        return 1;
    }
    int n = recur_trace_steps(t), H = recur_trace_hidden(t);
    if (layer < 0 || layer >= recur_trace_layers(t) || unit < 0 || unit >= H) {
        fprintf(stderr, "trace: no unit %d:%d in this model\n", layer, unit);
        recur_trace_free(t);
        recur_model_free(model);
        return 2;
    }
    // Step s read character s; its outputs are the distribution over the next one.
    printf("char  p(char)  h[%d:%d]\n", layer, unit);
    for (int s = 0; s < n; s++) {
        size_t off;
        int nb, id = recur_trace_char(t, s, &off, &nb);
        const float *prev = s ? recur_trace_probs(t, s - 1) : NULL;
        const float *h = recur_trace_get(t, RECUR_TRACE_H, s, layer, 0);
        printf("%-4.*s  ", text[off] == '\n' ? 2 : nb, text[off] == '\n' ? "\\n" : text + off);
        if (prev) printf("%.3f    ", prev[id]);
        else printf("  -      ");
        printf("%+.3f\n", h[unit]);
    }
    // The unit (of any layer) whose h correlates best with the position in the line.
    int units = recur_trace_layers(t) * recur_trace_directions(t) * H, best = 0;
    float *x = malloc(sizeof(float) * (size_t)n), *r = malloc(sizeof(float) * (size_t)units);
    if (x && r && !recur_trace_feature(t, RECUR_FEAT_LINEPOS, x, &err) &&
        !recur_trace_correlate(t, RECUR_TRACE_H, x, r, &err)) {
        for (int j = 1; j < units; j++)
            if (fabsf(r[j]) > fabsf(r[best])) best = j;
        printf("position in line: best unit %d:%d, r = %+.3f\n", best / H, best % H, r[best]);
    }
    free(x);
    free(r);
    recur_trace_free(t);
    recur_model_free(model);
    return 0;
}
