/*
 * check.h - the tests' tiny harness: CHECK records a failure with file:line
 * and goes on; check_close compares floats with a printed worst error;
 * check_exit prints "N passed, N failed" and returns the exit status.
 */
#ifndef RECUR_CHECK_H
#define RECUR_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_pass_, check_fail_;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            check_pass_++;                                                  \
        } else {                                                            \
            check_fail_++;                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
        }                                                                   \
    } while (0)

/* |a-b| <= atol + rtol*|b| elementwise; prints the worst error under label. */
static inline int check_close(const char *label, const float *a, const float *b, size_t n,
                              double atol, double rtol)
{
    double worst = 0, worst_rel = 0;
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double rel = d / (fabs((double)b[i]) + 1e-30);
        if (d > worst) worst = d;
        if (d > atol && rel > worst_rel) worst_rel = rel;
        if (!(d <= atol + rtol * fabs((double)b[i]))) {
            if (!bad) first_bad = i;
            bad++;
        }
    }
    printf("  %-40s n=%-7zu max|diff|=%.3g%s\n", label, n, worst, bad ? "  <-- MISMATCH" : "");
    if (bad) {
        check_fail_++;
        fprintf(stderr, "FAIL %s: %zu of %zu differ; first at %zu: %.9g vs %.9g\n", label, bad, n,
                first_bad, (double)a[first_bad], (double)b[first_bad]);
        return 0;
    }
    check_pass_++;
    return 1;
}

static inline int check_exit(void)
{
    printf("%d passed, %d failed\n", check_pass_, check_fail_);
    return check_fail_ ? 1 : 0;
}

#endif
