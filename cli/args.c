/*
 * args.c - parsing and help for the CLI's long options. Numbers go through
 * strtol/strtod with the end pointer and the range checked.
 */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "recur %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'recur %s --help')\n", cmd);
    return 2;
}

const opt *args_find(const opt *opts, int nopts, const char *name)
{
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

// Edit distance (insertions, deletions, substitutions) between a and b,
// capped at 99: enough to rank option names of under 64 characters.
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

// The option closest to an unknown name, or NULL when none is close enough to
// be what was meant: a name it starts (--temp for --temperature), else at most a third of its letters (at least 2) wrong.
static const char *closest_option(const opt *opts, int nopts, const char *name)
{
    const char *best = NULL;
    int best_d = 99;
    size_t n = strlen(name);
    for (int i = 0; i < nopts; i++) {
        const char *o = opts[i].name;
        int d = edit_distance(name, o);
        if (n >= 3 && strncmp(o, name, n) == 0) d = 1;
        if (d < best_d) {
            best_d = d;
            best = o;
        }
    }
    int limit = (int)(n / 3) > 2 ? (int)(n / 3) : 2;
    if (strcmp(name, "help") != 0 && (int)n > 0 && best_d <= limit && best_d < (int)n) return best;
    return NULL;
}

static const char *type_word(opt_type t)
{
    switch (t) {
    case OPT_INT:
    case OPT_LL:
    case OPT_U64: return "an integer";
    case OPT_FLOAT:
    case OPT_DOUBLE: return "a number";
    default: return "a value";
    }
}

static int set_value(const char *cmd, opt *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_STR:
        *(const char **)o->dst = v;
        return 0;
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case OPT_INT:
    case OPT_LL: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end || x < o->lo || x > o->hi) break;
        if (o->type == OPT_INT)
            *(int *)o->dst = (int)x;
        else
            *(long long *)o->dst = x;
        return 0;
    }
    case OPT_U64: {
        if (*v == '-') break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) break;
        *(uint64_t *)o->dst = (uint64_t)x;
        return 0;
    }
    case OPT_FLOAT:
    case OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x) || x < o->lo || x > o->hi) break;
        if (o->type == OPT_FLOAT)
            *(float *)o->dst = (float)x;
        else
            *(double *)o->dst = x;
        return 0;
    }
    }
    if (o->type == OPT_U64)
        return usage_error(cmd, "invalid value for --%s: '%s' (expected a non-negative integer)",
                           o->name, v);
    return usage_error(cmd, "invalid value for --%s: '%s' (expected %s in %g..%g)", o->name, v,
                       type_word(o->type), o->lo, o->hi);
}

int args_parse(const char *cmd, const char *usage, int argc, char **argv, int first, opt *opts,
               int nopts, const char **pos, int maxpos, int *npos)
{
    *npos = 0;
    int only_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == 0) {
            if (*npos >= maxpos) return usage_error(cmd, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            args_help(stdout, usage, opts, nopts);
            return 1;
        }
        if (a[1] != '-') return usage_error(cmd, "unknown option '%s'", a);
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nlen >= sizeof name) return usage_error(cmd, "unknown option '%s'", a);
        memcpy(name, a + 2, nlen);
        name[nlen] = 0;
        opt *o = (opt *)args_find(opts, nopts, name);
        if (!o) {
            const char *near = closest_option(opts, nopts, name);
            if (near) return usage_error(cmd, "unknown option '--%s'; did you mean --%s?", name, near);
            return usage_error(cmd, "unknown option '--%s'", name);
        }
        const char *val = NULL;
        if (o->type == OPT_FLAG) {
            if (eq) return usage_error(cmd, "--%s takes no value", name);
        } else if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) return usage_error(cmd, "--%s needs a value", name);
            val = argv[++i];
        }
        int rc = set_value(cmd, o, val);
        if (rc) return rc;
        o->seen = 1;
    }
    return 0;
}

void args_help(FILE *f, const char *usage, const opt *opts, int nopts)
{
    fprintf(f, "%s\n", usage);
    if (nopts) fprintf(f, "\noptions:\n");
    for (int i = 0; i < nopts; i++) {
        const opt *o = &opts[i];
        char left[48];
        if (o->type == OPT_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else
            snprintf(left, sizeof left, "--%s %s", o->name, o->meta ? o->meta : "X");
        char def[64] = "";
        switch (o->type) {
        case OPT_INT: snprintf(def, sizeof def, "%d", *(int *)o->dst); break;
        case OPT_LL: snprintf(def, sizeof def, "%lld", *(long long *)o->dst); break;
        case OPT_U64: snprintf(def, sizeof def, "%" PRIu64, *(uint64_t *)o->dst); break;
        case OPT_FLOAT: snprintf(def, sizeof def, "%g", (double)*(float *)o->dst); break;
        case OPT_DOUBLE: snprintf(def, sizeof def, "%g", *(double *)o->dst); break;
        case OPT_STR:
            snprintf(def, sizeof def, "%s", *(const char **)o->dst ? *(const char **)o->dst : "");
            break;
        case OPT_FLAG: break;
        }
        if (def[0] && !strstr(o->help, "(default"))
            fprintf(f, "  %-24s %s (default: %s)\n", left, o->help, def);
        else
            fprintf(f, "  %-24s %s\n", left, o->help);
    }
}

// Appends " a" to buf, shell-quoted when it needs it (the commands recur
// prints for a person to paste: --budget's rerun, the resume hint).
void shell_arg(char *buf, size_t cap, size_t *at, const char *a)
{
    int plain = *a != 0;
    for (const char *p = a; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *p)) plain = 0;
    int n;
    if (plain) {
        n = snprintf(buf + *at, cap - *at, " %s", a);
    } else {
        n = snprintf(buf + *at, cap - *at, " '");
        if (n > 0 && (size_t)n < cap - *at) *at += (size_t)n;
        for (const char *p = a; *p && *at + 5 < cap; p++) {
            if (*p == '\'') *at += (size_t)snprintf(buf + *at, cap - *at, "'\\''");
            else buf[(*at)++] = *p, buf[*at] = 0;
        }
        n = snprintf(buf + *at, cap - *at, "'");
    }
    if (n > 0) *at = *at + (size_t)n < cap ? *at + (size_t)n : cap - 1;
}
