/*
 * test_decode_alloc.c - beam search allocates nothing inside its decode
 * loop (issue #17). Attention's products used to run outside any pool, and
 * a product outside a pool allocated its 0.8 MB scratch and freed it again:
 * once per hypothesis per step. Now they run on the decoder's workspace
 * scratch, made once per call, and a product outside a pool allocates
 * nothing at all.
 *
 * How: this program's aligned_alloc (the one the library's scratch came
 * from) counts its calls. A predict that decodes 30 steps must make exactly
 * as many as one that decodes 2.
 */
#include "check.h"
#include "kernels/gemm.h"
#include "recur.h"

#include <stdlib.h>
#include <string.h>

static long n_aligned;

// Replaces libc's for this program (and the library linked into it).
void *aligned_alloc(size_t align, size_t size)
{
    n_aligned++;
    void *p = NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    return posix_memalign(&p, align, size ? size : 1) == 0 ? p : NULL;
}

static long count_predict(const recur_seq2seq *m, int beam, int max_len, size_t *out_len)
{
    recur_seq2seq_decode opt;
    recur_seq2seq_decode_default(&opt);
    opt.beam = beam;
    opt.max_len = max_len;
    char out[4 * 64 + 1];
    recur_error err = {0};
    long before = n_aligned;
    int rc = recur_seq2seq_predict(m, "abcab", 5, &opt, out, sizeof out, out_len, &err);
    CHECK(rc == 0, "predict: %s", err.msg);
    return n_aligned - before;
}

int main(void)
{
    printf("allocations in the decode loop:\n");
    recur_error err = {0};
    recur_pairs p = {0};
    CHECK(recur_pairs_generate("reverse", "abc", 2, 5, 16, 1, &p, &err) == 0, "%s", err.msg);
    recur_seq2seq_config c;
    recur_seq2seq_config_default(&c);
    c.hidden = 16;
    c.attention = 1;
    recur_seq2seq *m = NULL;
    CHECK(recur_seq2seq_new(&c, p.pairs, p.n, 7, &m, &err) == 0, "%s", err.msg);
    if (m) {
        for (int beam = 1; beam <= 4; beam += 3) {
            size_t short_len = 0, long_len = 0;
            long a = count_predict(m, beam, 2, &short_len);
            long b = count_predict(m, beam, 30, &long_len);
            printf("  beam %d: %ld aligned allocations for %zu characters, %ld for %zu\n", beam, a, short_len, b,
                   long_len);
            // An untrained model rarely writes its end marker: the long greedy
            // decode runs long (a beam's hypotheses run to max_len too, whatever
            // the best finished one is).
            CHECK(beam > 1 || long_len > 10, "beam %d: the long decode stopped after %zu characters", beam, long_len);
            CHECK(a == b, "beam %d: %ld allocations for 2 steps, %ld for 30", beam, a, b);
        }
    }
    // A product with no pool current allocates nothing.
    float A[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, B[3 * 2] = {1, 0, 0, 1, 1, 1}, C[4 * 2], R[4 * 2];
    long before = n_aligned;
    gemm_nn(4, 2, 3, A, 3, B, 2, C, 2, 0, 1);
    CHECK(n_aligned == before, "gemm outside a pool allocated %ld times", n_aligned - before);
    gemm_nn_ref(4, 2, 3, A, 3, B, 2, R, 2, 0);
    CHECK(memcmp(C, R, sizeof C) == 0, "gemm outside a pool differs from the reference");
    recur_seq2seq_free(m);
    recur_pairs_free(&p);
    return check_exit();
}
