/*
 * util.c - error messages, checked size arithmetic and a growable string
 * buffer: the small things every other file needs.
 */
#include "base/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int set_error(recur_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *recur_strerror(int code)
{
    switch (code) {
    case RECUR_OK: return "ok";
    case RECUR_EINVAL: return "invalid argument";
    case RECUR_ENOMEM: return "out of memory";
    case RECUR_EIO: return "input/output error";
    case RECUR_EFORMAT: return "malformed file";
    case RECUR_EVOCAB: return "character outside the vocabulary";
    case RECUR_ENUMERIC: return "non-finite number";
    case RECUR_EINTERRUPT: return "interrupted";
    default: return "unknown error";
    }
}

int size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int size_add(size_t a, size_t b, size_t *out)
{
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}

void *xcalloc(size_t n, size_t size)
{
    if (n == 0 || size == 0) return calloc(1, 1); // a valid pointer we can free
    if (size > SIZE_MAX / n) return NULL;
    return calloc(n, size);
}

void *xmalloc(size_t n, size_t size)
{
    size_t total;
    if (size_mul(n, size, &total)) return NULL;
    return malloc(total ? total : 1);
}

/* ---------------------------------------------------------------- strbuf */

void sb_init(strbuf *b)
{
    memset(b, 0, sizeof *b);
}

void sb_free(strbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof *b);
}

// Keeps one spare byte so that s is always NUL-terminated after an append.
static int sb_reserve(strbuf *b, size_t extra)
{
    if (b->oom) return -1;
    size_t need;
    if (size_add(b->len, extra, &need) || size_add(need, 1, &need)) {
        b->oom = 1;
        return -1;
    }
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void sb_putn(strbuf *b, const char *s, size_t n)
{
    if (sb_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void sb_putc(strbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

void sb_puts(strbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sb_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sb_json_string(strbuf *b, const char *s, size_t n)
{
    sb_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
        } else if (c < 0x20) {
            switch (c) {
            case '\n': sb_puts(b, "\\n"); break;
            case '\t': sb_puts(b, "\\t"); break;
            case '\r': sb_puts(b, "\\r"); break;
            default: sb_printf(b, "\\u%04x", c); break;
            }
        } else {
            sb_putc(b, (char)c);
        }
    }
    sb_putc(b, '"');
}

void error_prefix(recur_error *err, const char *prefix)
{
    if (!err) return;
    size_t p = strlen(prefix), m = strlen(err->msg), cap = sizeof err->msg - 1;
    if (p + 2 > cap) return;
    if (p + 2 + m > cap) m = cap - p - 2; // keep the start of the message
    memmove(err->msg + p + 2, err->msg, m);
    memcpy(err->msg, prefix, p);
    err->msg[p] = ':';
    err->msg[p + 1] = ' ';
    err->msg[p + 2 + m] = 0;
}

void recur_error_prefix(recur_error *err, const char *prefix)
{
    error_prefix(err, prefix);
}

size_t recur_sizeof(const char *name)
{
#define RECUR_SIZEOF(T) \
    if (name && strcmp(name, #T) == 0) return sizeof(T)
    RECUR_SIZEOF(recur_error);
    RECUR_SIZEOF(recur_text);
    RECUR_SIZEOF(recur_model_config);
    RECUR_SIZEOF(recur_model_info);
    RECUR_SIZEOF(recur_eval_result);
    RECUR_SIZEOF(recur_sample_config);
    RECUR_SIZEOF(recur_train_config);
    RECUR_SIZEOF(recur_train_event);
    RECUR_SIZEOF(recur_app_config);
    RECUR_SIZEOF(recur_report);
    RECUR_SIZEOF(recur_gradcheck_row);
    RECUR_SIZEOF(recur_pair);
    RECUR_SIZEOF(recur_pairs);
    RECUR_SIZEOF(recur_seq2seq_config);
    RECUR_SIZEOF(recur_seq2seq_info);
    RECUR_SIZEOF(recur_seq2seq_decode);
    RECUR_SIZEOF(recur_seq2seq_eval_result);
    RECUR_SIZEOF(recur_seq2seq_event);
    RECUR_SIZEOF(recur_trace_config);
    RECUR_SIZEOF(recur_budget_choice);
#undef RECUR_SIZEOF
    return 0;
}
