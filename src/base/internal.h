/*
 * internal.h - what every source file of librecur shares and the public
 * header does not show: error helpers and small utilities.
 * Nothing here is exported (symbols outside recur_ are hidden by the build).
 */
#ifndef RECUR_INTERNAL_H
#define RECUR_INTERNAL_H

#include "recur.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define RECUR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RECUR_PRINTF(a, b)
#endif

/* Fills err (if not NULL) with code and a formatted one-line message, and
 * returns code, so that failure paths read `return set_error(err, ...)`. */
int set_error(recur_error *err, int code, const char *fmt, ...) RECUR_PRINTF(3, 4);

/* Prepends "prefix: " to err's message (naming the file an error is about). */
void error_prefix(recur_error *err, const char *prefix);

/* Overflow-checked size arithmetic: return 0 and set *out, or -1 on overflow. */
int size_mul(size_t a, size_t b, size_t *out);
int size_add(size_t a, size_t b, size_t *out);

/* malloc/calloc that take an element count and size, checking the product. */
void *xcalloc(size_t n, size_t size);
void *xmalloc(size_t n, size_t size);

/* A tiny growable byte buffer, used for building JSON text. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom; /* set once an append failed; later appends are no-ops */
} strbuf;

void sb_init(strbuf *b);
void sb_free(strbuf *b);
void sb_putc(strbuf *b, char c);
void sb_puts(strbuf *b, const char *s);
void sb_putn(strbuf *b, const char *s, size_t n);
void sb_printf(strbuf *b, const char *fmt, ...) RECUR_PRINTF(2, 3);
/* Appends s as a JSON string literal, quotes included (escapes ", \ and controls). */
void sb_json_string(strbuf *b, const char *s, size_t n);

#endif
