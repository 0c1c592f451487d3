/*
 * safetensors.h - reader and writer of the safetensors checkpoint format
 * (8-byte little-endian header length N, N bytes of JSON header, raw
 * little-endian tensor bytes). Format and validation rules: docs/format.md.
 *
 * The reader treats every file as untrusted and validates it completely
 * before returning: any violation is RECUR_EFORMAT with a precise message,
 * never a crash or an out-of-bounds read. The writer is atomic.
 */
#ifndef RECUR_SAFETENSORS_H
#define RECUR_SAFETENSORS_H

#include "base/internal.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000u /* same cap as the reference implementation */

typedef enum st_dtype {
    ST_BOOL, ST_U8, ST_I8, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_F64, ST_I64, ST_U64,
    ST_NDTYPES
} st_dtype;

typedef struct st_tensor {
    char *name;           /* NUL-terminated, non-empty */
    st_dtype dtype;
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    uint64_t nelem;       /* product of shape (1 for a scalar) */
    uint64_t begin, end;  /* byte span, relative to the data buffer */
    const uint8_t *data;  /* points into the file's buffer; may be unaligned */
} st_tensor;

typedef struct st_file {
    uint8_t *buf;         /* the whole file, owned */
    size_t len;
    st_tensor *tensors;   /* in header order */
    size_t ntensors;
    char **meta_keys, **meta_vals; /* __metadata__, in header order */
    size_t nmeta;
} st_file;

/* Validates buf[0..len) (copied; the caller keeps buf) and parses it. */
int st_parse(const uint8_t *buf, size_t len, st_file **out, recur_error *err);
/* Reads and parses a file; errors name the path. */
int st_read(const char *path, st_file **out, recur_error *err);
void st_free(st_file *f);

const st_tensor *st_find(const st_file *f, const char *name);
/* The value of a metadata key, or NULL. */
const char *st_meta(const st_file *f, const char *key);
/* Size in bytes of one element of a dtype, and its name ("F32"). */
size_t st_dtype_size(st_dtype t);
const char *st_dtype_name(st_dtype t);

/* Copies a tensor's F32 data into dst (n floats) after checking that the
 * dtype is F32 and the element count is n (errors name the tensor). */
int st_copy_f32(const st_tensor *t, float *dst, size_t n, recur_error *err);

/* ---- writer ---- */

typedef struct st_entry {
    const char *name;
    st_dtype dtype;
    int ndim;
    uint64_t shape[ST_MAX_DIMS];
    const void *data;     /* nelem * dtype size bytes, host (little-endian) order */
} st_entry;

typedef struct st_kv {
    const char *key, *value;
} st_kv;

/* Serialises in the reference writer's layout (tensors sorted by dtype
 * alignment then name, metadata keys sorted, header padded with spaces to a
 * multiple of 8) into a malloc'd buffer. */
int st_serialize(const st_entry *tensors, size_t n, const st_kv *meta, size_t nmeta,
                 uint8_t **out, size_t *out_len, recur_error *err);
/* Writes buf[0..len) to path atomically (as st_write does). */
int st_write_bytes(const char *path, const uint8_t *buf, size_t len, recur_error *err);
/* st_serialize, then an atomic write: PATH.tmp.PID, fsync, rename, fsync dir. */
int st_write(const char *path, const st_entry *tensors, size_t n, const st_kv *meta,
             size_t nmeta, recur_error *err);

/* Writes len bytes to path atomically (shared by other writers). */
int write_file_atomic(const char *path, const void *data, size_t len, recur_error *err);

#endif
