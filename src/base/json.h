/*
 * json.h - a strict, small JSON parser (RFC 8259) for untrusted input: the
 * safetensors header and the metadata values inside it. It rejects duplicate
 * object keys, trailing garbage, invalid UTF-8, bad escapes, control
 * characters inside strings, lone surrogates, and nesting deeper than asked.
 */
#ifndef RECUR_JSON_H
#define RECUR_JSON_H

#include "base/internal.h"

typedef enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } json_type;

typedef struct json_value {
    json_type type;
    int boolean;               /* J_BOOL */
    double num;                /* J_NUM: the value as a double */
    char *str;                 /* J_STR: decoded UTF-8, NUL-terminated (may hold NULs; see len)
                                  J_NUM: the number's raw text, NUL-terminated */
    size_t len;                /* J_STR/J_NUM: bytes in str */
    struct json_value *items;  /* J_ARR: elements; J_OBJ: values */
    char **keys;               /* J_OBJ: decoded keys, NUL-terminated */
    size_t *key_lens;          /* J_OBJ: key lengths */
    size_t n;                  /* J_ARR/J_OBJ: count */
} json_value;

/* Parses exactly one JSON value from s[0..len), surrounded only by
 * whitespace. max_depth bounds nesting (1 = scalars and one level of
 * array/object). On error: RECUR_EFORMAT with the byte offset. */
int json_parse(const char *s, size_t len, int max_depth, json_value **out, recur_error *err);
void json_free(json_value *v);
/* The value of key in an object, or NULL (also if obj is not an object). */
const json_value *json_get(const json_value *obj, const char *key);
/* Parses a JSON number's raw text as a non-negative integer made of digits
 * only (no sign, fraction, exponent or leading zero); -1 if not, or if it
 * does not fit in uint64_t. */
int json_u64(const json_value *v, uint64_t *out);

#endif
