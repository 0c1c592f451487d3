/*
 * args.h - the CLI's option parser: long options (--name VALUE or
 * --name=VALUE), each with a type, a range and a help line that shows its
 * default. Bad values are errors naming the option, never silently fixed.
 */
#ifndef RECUR_ARGS_H
#define RECUR_ARGS_H

#include <stdio.h>

typedef enum opt_type { OPT_INT, OPT_LL, OPT_FLOAT, OPT_DOUBLE, OPT_U64, OPT_STR, OPT_FLAG } opt_type;

typedef struct opt {
    const char *name;   /* without the leading "--" */
    opt_type type;
    void *dst;          /* int*, long long*, float*, double*, uint64_t*, const char**, int* */
    double lo, hi;      /* accepted range for numbers */
    const char *meta;   /* value placeholder in help, e.g. "N" */
    const char *help;   /* one line; the default is appended from *dst */
    int seen;           /* set when given on the command line */
} opt;

/* Parses argv[first..argc). Positional arguments go to pos (at most maxpos).
 * Returns 0 on success, 2 on a usage error (message printed to stderr), and
 * 1 if --help was asked (usage printed to stdout). */
int args_parse(const char *cmd, const char *usage, int argc, char **argv, int first, opt *opts,
               int nopts, const char **pos, int maxpos, int *npos);
void args_help(FILE *f, const char *usage, const opt *opts, int nopts);
/* Exit-2 helper: prints "recur CMD: msg" and a pointer to --help. */
int usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const opt *args_find(const opt *opts, int nopts, const char *name);
/* Appends " a" to buf[*at..cap), single-quoted for a POSIX shell when it
 * holds anything but [A-Za-z0-9-_./=:,+@%]; *at stays below cap. */
void shell_arg(char *buf, size_t cap, size_t *at, const char *a);

#endif
