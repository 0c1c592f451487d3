/*
 * safetensors.c - the checkpoint container: a validating reader (every
 * file is untrusted; rules in safetensors.h and docs/format.md), a writer
 * that reproduces the reference implementation's byte layout, and the
 * atomic file write that every writer of recur shares.
 */
#include "formats/safetensors.h"
#include "base/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

// Tensor bytes are copied between the file and memory as they are, which is
// only right where the host order is the format's (little-endian).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define METADATA_KEY "__metadata__"

/* ---------------------------------------------------------------- dtypes */

static const char *const dtype_names[ST_NDTYPES] = {
    "BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64",
};
static const unsigned char dtype_sizes[ST_NDTYPES] = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};

size_t st_dtype_size(st_dtype t)
{
    return (unsigned)t < ST_NDTYPES ? dtype_sizes[t] : 0;
}

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_NDTYPES ? dtype_names[t] : "unknown";
}

/* ---------------------------------------------------------------- messages */

// A name as a JSON string literal for an error message: escapes keep the
// message on one line whatever the file holds, and long names are cut at a
// character boundary so the rest of the message survives.
static void quote(char *out, size_t outsz, const char *s, size_t n)
{
    size_t cut = n > 64 ? 64 : n;
    while (cut > 0 && cut < n && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    strbuf b;
    sb_init(&b);
    sb_json_string(&b, s, cut);
    snprintf(out, outsz, "%s%s", b.s ? b.s : "\"\"", cut < n ? "..." : "");
    sb_free(&b);
}

// Every reader error about one tensor starts with its quoted name.
static int terr(recur_error *err, const char *name, size_t len, const char *fmt, ...)
    RECUR_PRINTF(4, 5);

static int terr(recur_error *err, const char *name, size_t len, const char *fmt, ...)
{
    char q[96], what[400];
    quote(q, sizeof q, name, len);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return set_error(err, RECUR_EFORMAT, "tensor %s: %s", q, what);
}

static const char *type_name(json_type t)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    return names[t];
}

static void format_shape(char *out, size_t outsz, const uint64_t *shape, int ndim)
{
    size_t n = (size_t)snprintf(out, outsz, "[");
    for (int i = 0; i < ndim && n < outsz; i++)
        n += (size_t)snprintf(out + n, outsz - n, "%s%" PRIu64, i ? "," : "", shape[i]);
    if (n < outsz) snprintf(out + n, outsz - n, "]");
}

/* ---------------------------------------------------------------- reader */

// Reads one non-negative integer of the header (a shape entry or offset);
// what describes the value for the message.
static int header_u64(const json_value *v, uint64_t *out, char *what, size_t whatsz)
{
    if (json_u64(v, out) == 0) return 0;
    if (v->type == J_NUM) {
        char q[96];
        quote(q, sizeof q, v->str, v->len);
        snprintf(what, whatsz, "%s", q);
    } else {
        snprintf(what, whatsz, "a %s", type_name(v->type));
    }
    return -1;
}

static int parse_metadata(st_file *f, json_value *md, recur_error *err)
{
    if (md->type != J_OBJ)
        return set_error(err, RECUR_EFORMAT, METADATA_KEY " is a JSON %s, not an object",
                         type_name(md->type));
    f->meta_keys = xcalloc(md->n, sizeof *f->meta_keys);
    f->meta_vals = xcalloc(md->n, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals)
        return set_error(err, RECUR_ENOMEM, "out of memory reading " METADATA_KEY);
    for (size_t i = 0; i < md->n; i++) {
        char q[96];
        json_value *v = &md->items[i];
        if (v->type != J_STR) {
            quote(q, sizeof q, md->keys[i], md->key_lens[i]);
            return set_error(err, RECUR_EFORMAT,
                             METADATA_KEY " %s: value is a JSON %s, not a string", q,
                             type_name(v->type));
        }
        // Keys and values are handed out as C strings, so an embedded NUL
        // would silently cut them.
        if (strlen(md->keys[i]) != md->key_lens[i] || strlen(v->str) != v->len) {
            quote(q, sizeof q, md->keys[i], md->key_lens[i]);
            return set_error(err, RECUR_EFORMAT, METADATA_KEY " %s: contains a NUL character",
                             q);
        }
        // Take the strings over from the JSON tree rather than copying them.
        f->meta_keys[i] = md->keys[i];
        f->meta_vals[i] = v->str;
        md->keys[i] = NULL;
        v->str = NULL;
        f->nmeta++;
    }
    return 0;
}

// Fills t (whose name is set) from its header entry e: exactly the keys
// dtype, shape and data_offsets, each of the right type.
static int parse_entry(st_tensor *t, const json_value *e, recur_error *err)
{
    const char *nm = t->name;
    size_t nl = strlen(nm);
    char what[128];
    if (e->type != J_OBJ)
        return terr(err, nm, nl, "entry is a JSON %s, not an object", type_name(e->type));
    for (size_t i = 0; i < e->n; i++) {
        const char *k = e->keys[i];
        if (strcmp(k, "dtype") && strcmp(k, "shape") && strcmp(k, "data_offsets")) {
            quote(what, sizeof what, k, e->key_lens[i]);
            return terr(err, nm, nl, "unknown key %s", what);
        }
    }

    const json_value *dt = json_get(e, "dtype");
    if (!dt) return terr(err, nm, nl, "missing \"dtype\"");
    if (dt->type != J_STR)
        return terr(err, nm, nl, "dtype is a JSON %s, not a string", type_name(dt->type));
    int found = 0;
    for (int d = 0; d < ST_NDTYPES && !found; d++) {
        if (strlen(dtype_names[d]) == dt->len && memcmp(dtype_names[d], dt->str, dt->len) == 0) {
            t->dtype = (st_dtype)d;
            found = 1;
        }
    }
    if (!found) {
        quote(what, sizeof what, dt->str, dt->len);
        return terr(err, nm, nl, "unknown dtype %s", what);
    }

    const json_value *sh = json_get(e, "shape");
    if (!sh) return terr(err, nm, nl, "missing \"shape\"");
    if (sh->type != J_ARR)
        return terr(err, nm, nl, "shape is a JSON %s, not an array", type_name(sh->type));
    if (sh->n > ST_MAX_DIMS)
        return terr(err, nm, nl, "shape has %zu dimensions, more than %d", sh->n, ST_MAX_DIMS);
    t->ndim = (int)sh->n;
    for (size_t i = 0; i < sh->n; i++)
        if (header_u64(&sh->items[i], &t->shape[i], what, sizeof what))
            return terr(err, nm, nl, "shape[%zu] is %s, not a non-negative integer", i, what);

    const json_value *off = json_get(e, "data_offsets");
    if (!off) return terr(err, nm, nl, "missing \"data_offsets\"");
    if (off->type != J_ARR || off->n != 2)
        return terr(err, nm, nl, "data_offsets must be an array of 2 integers");
    uint64_t be[2];
    for (size_t i = 0; i < 2; i++)
        if (header_u64(&off->items[i], &be[i], what, sizeof what))
            return terr(err, nm, nl, "data_offsets[%zu] is %s, not a non-negative integer", i,
                        what);
    t->begin = be[0];
    t->end = be[1];
    return 0;
}

// Checks that t's span holds exactly its elements (products checked for
// overflow) and lies inside the data buffer of dlen bytes.
static int check_span(st_tensor *t, uint64_t dlen, recur_error *err)
{
    const char *nm = t->name;
    size_t nl = strlen(nm);
    char shape[200];
    format_shape(shape, sizeof shape, t->shape, t->ndim);
    const char *dname = dtype_names[t->dtype];
    uint64_t nelem = 1, size = dtype_sizes[t->dtype];
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] != 0 && nelem > UINT64_MAX / t->shape[i])
            return terr(err, nm, nl, "shape %s has more than 2^64 elements", shape);
        nelem *= t->shape[i];
    }
    if (nelem > UINT64_MAX / size)
        return terr(err, nm, nl, "shape %s x %s needs more than 2^64 bytes", shape, dname);
    t->nelem = nelem;
    if (t->end < t->begin)
        return terr(err, nm, nl, "data_offsets [%" PRIu64 ",%" PRIu64 "] end before they begin",
                    t->begin, t->end);
    if (t->end - t->begin != nelem * size)
        return terr(err, nm, nl,
                    "data_offsets span %" PRIu64 "..%" PRIu64 " but shape %s x %s needs %" PRIu64
                    " bytes",
                    t->begin, t->end, shape, dname, nelem * size);
    if (t->end > dlen)
        return terr(err, nm, nl,
                    "data_offsets span %" PRIu64 "..%" PRIu64 " runs past the end of the data (%"
                    PRIu64 " bytes; file truncated?)",
                    t->begin, t->end, dlen);
    return 0;
}

static int cmp_span(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x < y ? -1 : x > y; // header order, so that messages are deterministic
}

// The data buffer must be covered exactly: spans sorted by (begin, end)
// must start at 0, each begin where the previous one ended, and the last end
// at the end of the file. This one rule excludes gaps, overlaps and trailing
// bytes (a file that is also something else).
static int check_coverage(const st_file *f, uint64_t dlen, recur_error *err)
{
    const st_tensor **order = xmalloc(f->ntensors, sizeof *order);
    if (!order) return set_error(err, RECUR_ENOMEM, "out of memory sorting tensors");
    for (size_t i = 0; i < f->ntensors; i++) order[i] = &f->tensors[i];
    qsort(order, f->ntensors, sizeof *order, cmp_span);
    int rc = 0;
    uint64_t at = 0;
    const st_tensor *prev = NULL;
    for (size_t i = 0; i < f->ntensors && !rc; i++) {
        const st_tensor *t = order[i];
        char qp[96] = "";
        if (prev && t->begin != at) quote(qp, sizeof qp, prev->name, strlen(prev->name));
        if (t->begin > at && !prev)
            rc = terr(err, t->name, strlen(t->name),
                      "data begins at %" PRIu64 ", leaving a gap at the start of the data",
                      t->begin);
        else if (t->begin > at)
            rc = terr(err, t->name, strlen(t->name),
                      "data begins at %" PRIu64 ", leaving a gap after tensor %s (which ends at %"
                      PRIu64 ")",
                      t->begin, qp, at);
        else if (t->begin < at)
            rc = terr(err, t->name, strlen(t->name),
                      "data_offsets span %" PRIu64 "..%" PRIu64 " overlaps tensor %s (%" PRIu64
                      "..%" PRIu64 ")",
                      t->begin, t->end, qp, prev->begin, prev->end);
        at = t->end;
        prev = t;
    }
    free(order);
    if (!rc && at != dlen)
        rc = set_error(err, RECUR_EFORMAT,
                       "%" PRIu64 " trailing bytes after the last tensor's data (the tensors"
                       " cover %" PRIu64 " of %" PRIu64 " data bytes)",
                       dlen - at, at, dlen);
    return rc;
}

// A file that does not even start as safetensors does (an 8-byte length, then
// a JSON object that fits in the file) is most often the wrong file given as
// a checkpoint (a text, a PyTorch .pt): say so in words first, the detail after.
#define NOT_ST "not a safetensors file: "

static int parse_header(st_file *f, recur_error *err)
{
    if (f->len == 0) return set_error(err, RECUR_EFORMAT, NOT_ST "file is empty");
    if (f->len < 8)
        return set_error(err, RECUR_EFORMAT,
                         NOT_ST "file is %zu bytes, too short for the 8-byte header length",
                         f->len);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)f->buf[i] << (8 * i);
    if (n > ST_MAX_HEADER)
        return set_error(err, RECUR_EFORMAT,
                         NOT_ST "header length %" PRIu64 " exceeds the limit of %u bytes", n,
                         ST_MAX_HEADER);
    if (n > f->len - 8)
        return set_error(err, RECUR_EFORMAT,
                         NOT_ST "header length %" PRIu64
                                " exceeds the %zu bytes after the length field",
                         n, f->len - 8);
    size_t hlen = (size_t)n;
    uint64_t dlen = f->len - 8 - hlen;

    json_value *root;
    recur_error jerr = {0, ""};
    int rc = json_parse((const char *)f->buf + 8, hlen, 3, &root, &jerr);
    if (rc) {
        // A header that is not JSON at all is the wrong file; broken JSON
        // after a '{' is a damaged checkpoint, reported as such.
        size_t i = 0;
        const char *h = (const char *)f->buf + 8;
        while (i < hlen && (h[i] == ' ' || h[i] == '\t' || h[i] == '\n' || h[i] == '\r')) i++;
        return set_error(err, rc, "%sheader: %s", i < hlen && h[i] == '{' ? "" : NOT_ST,
                         jerr.msg);
    }
    if (root->type != J_OBJ) {
        rc = set_error(err, RECUR_EFORMAT, NOT_ST "header is a JSON %s, not an object",
                       type_name(root->type));
        json_free(root);
        return rc;
    }

    f->tensors = xcalloc(root->n, sizeof *f->tensors);
    if (!f->tensors) rc = set_error(err, RECUR_ENOMEM, "out of memory reading the header");
    for (size_t i = 0; i < root->n && !rc; i++) {
        if (strcmp(root->keys[i], METADATA_KEY) == 0 && root->key_lens[i] == strlen(METADATA_KEY)) {
            rc = parse_metadata(f, &root->items[i], err);
            continue;
        }
        if (root->key_lens[i] == 0) {
            rc = set_error(err, RECUR_EFORMAT, "tensor with an empty name");
            break;
        }
        if (strlen(root->keys[i]) != root->key_lens[i]) {
            rc = terr(err, root->keys[i], root->key_lens[i], "name contains a NUL character");
            break;
        }
        // The name is taken over from the JSON tree rather than copied.
        st_tensor *t = &f->tensors[f->ntensors++];
        t->name = root->keys[i];
        root->keys[i] = NULL;
        rc = parse_entry(t, &root->items[i], err);
        if (!rc) rc = check_span(t, dlen, err);
        if (!rc) t->data = f->buf + 8 + hlen + t->begin;
    }
    json_free(root);
    if (!rc) rc = check_coverage(f, dlen, err);
    return rc;
}

// Takes ownership of buf (freed on failure too), so st_read need not copy.
static int parse_owned(uint8_t *buf, size_t len, st_file **out, recur_error *err)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        free(buf);
        return set_error(err, RECUR_ENOMEM, "out of memory");
    }
    f->buf = buf;
    f->len = len;
    int rc = parse_header(f, err);
    if (rc) {
        st_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int st_parse(const uint8_t *buf, size_t len, st_file **out, recur_error *err)
{
    *out = NULL;
    if (!buf && len) return set_error(err, RECUR_EINVAL, "st_parse: NULL buffer");
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return set_error(err, RECUR_ENOMEM, "out of memory copying %zu bytes", len);
    if (len) memcpy(copy, buf, len);
    return parse_owned(copy, len, out, err);
}

int st_read(const char *path, st_file **out, recur_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return set_error(err, RECUR_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return set_error(err, RECUR_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return set_error(err, RECUR_EIO, "%s: %s", path,
                         S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return set_error(err, RECUR_ENOMEM, "%s: too large to read", path);
    }
    size_t len = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        close(fd);
        return set_error(err, RECUR_ENOMEM, "%s: cannot allocate %zu bytes", path, len);
    }
    while (got < len) {
        size_t chunk = len - got > (1u << 30) ? (1u << 30) : len - got;
        ssize_t r = read(fd, buf + got, chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            free(buf);
            close(fd);
            if (r == 0)
                return set_error(err, RECUR_EIO, "%s: file shrank to %zu bytes while being read",
                                 path, got);
            return set_error(err, RECUR_EIO, "%s: read error: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    int rc = parse_owned(buf, len, out, err);
    if (rc && err) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        set_error(err, rc, "%s: %s", path, msg);
    }
    return rc;
}

void st_free(st_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->buf);
    free(f);
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta_keys[i], key) == 0) return f->meta_vals[i];
    return NULL;
}

int st_copy_f32(const st_tensor *t, float *dst, size_t n, recur_error *err)
{
    if (t->dtype != ST_F32)
        return terr(err, t->name, strlen(t->name), "dtype is %s, expected F32",
                    st_dtype_name(t->dtype));
    if (t->nelem != n)
        return terr(err, t->name, strlen(t->name), "has %" PRIu64 " elements, expected %zu",
                    t->nelem, n);
    // The data may sit at any byte offset in the file buffer: memcpy, never
    // a cast to float *.
    if (n) memcpy(dst, t->data, n * sizeof *dst);
    return 0;
}

/* ---------------------------------------------------------------- writer */

// The reference writer's order: dtype descending in the enum order (which
// puts 8-byte types first, then 4, 2 and 1, so every tensor is aligned to
// its element size within the data), then name ascending, bytewise.
static int cmp_write_order(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_entry_name(const void *a, const void *b)
{
    return strcmp((*(const st_entry *const *)a)->name, (*(const st_entry *const *)b)->name);
}

static int cmp_kv_key(const void *a, const void *b)
{
    return strcmp((*(const st_kv *const *)a)->key, (*(const st_kv *const *)b)->key);
}

// A string the header will hold must be valid UTF-8, or our own reader (and
// the reference) would refuse the file. The JSON parser is the validator we
// have, so the string is quoted and handed to it.
static int check_utf8(const char *s, const char *what, recur_error *err)
{
    strbuf b;
    sb_init(&b);
    sb_json_string(&b, s, strlen(s));
    int rc = 0;
    json_value *v = NULL;
    if (b.oom) rc = set_error(err, RECUR_ENOMEM, "out of memory");
    else if (json_parse(b.s, b.len, 0, &v, NULL) != 0)
        rc = set_error(err, RECUR_EINVAL, "%s is not valid UTF-8", what);
    json_free(v);
    sb_free(&b);
    return rc;
}

// Data size of an entry that check_entry accepted.
static size_t entry_nbytes(const st_entry *e)
{
    size_t n = dtype_sizes[e->dtype];
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

// Checks one entry and returns its data size in bytes via *nbytes.
static int check_entry(const st_entry *e, size_t i, size_t *nbytes, recur_error *err)
{
    if (!e->name || !e->name[0])
        return set_error(err, RECUR_EINVAL, "tensor %zu has an empty name", i);
    char q[96];
    quote(q, sizeof q, e->name, strlen(e->name));
    if (strcmp(e->name, METADATA_KEY) == 0)
        return set_error(err, RECUR_EINVAL, "tensor %s: the name is reserved for metadata", q);
    if ((unsigned)e->dtype >= ST_NDTYPES)
        return set_error(err, RECUR_EINVAL, "tensor %s: invalid dtype %d", q, (int)e->dtype);
    if (e->ndim < 0 || e->ndim > ST_MAX_DIMS)
        return set_error(err, RECUR_EINVAL, "tensor %s: %d dimensions, expected 0..%d", q,
                         e->ndim, ST_MAX_DIMS);
    size_t n = dtype_sizes[e->dtype];
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] > SIZE_MAX || size_mul(n, (size_t)e->shape[d], &n))
            return set_error(err, RECUR_EINVAL, "tensor %s: too many elements", q);
    if (n && !e->data) return set_error(err, RECUR_EINVAL, "tensor %s: NULL data", q);
    char what[128];
    snprintf(what, sizeof what, "tensor name %s", q);
    int rc = check_utf8(e->name, what, err);
    *nbytes = n;
    return rc;
}

static int check_meta(const st_kv *m, size_t i, recur_error *err)
{
    if (!m->key || !m->value)
        return set_error(err, RECUR_EINVAL, "metadata entry %zu has a NULL key or value", i);
    char q[96], what[128];
    quote(q, sizeof q, m->key, strlen(m->key));
    snprintf(what, sizeof what, "metadata key %s", q);
    int rc = check_utf8(m->key, what, err);
    snprintf(what, sizeof what, "the value of metadata key %s", q);
    if (!rc) rc = check_utf8(m->value, what, err);
    return rc;
}

// Sorts pointers to the inputs into write order and rejects duplicate
// names and keys; the caller frees *order_out and *meta_out.
static int sort_inputs(const st_entry *tensors, size_t n, const st_kv *meta, size_t nmeta,
                       const st_entry ***order_out, const st_kv ***meta_out, recur_error *err)
{
    const st_entry **order = xmalloc(n, sizeof *order);
    const st_kv **mo = xmalloc(nmeta, sizeof *mo);
    *order_out = order;
    *meta_out = mo;
    if (!order || !mo) return set_error(err, RECUR_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) order[i] = &tensors[i];
    for (size_t i = 0; i < nmeta; i++) mo[i] = &meta[i];
    char q[96];
    qsort(order, n, sizeof *order, cmp_entry_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(order[i]->name, order[i - 1]->name) == 0) {
            quote(q, sizeof q, order[i]->name, strlen(order[i]->name));
            return set_error(err, RECUR_EINVAL, "duplicate tensor name %s", q);
        }
    }
    qsort(mo, nmeta, sizeof *mo, cmp_kv_key);
    for (size_t i = 1; i < nmeta; i++) {
        if (strcmp(mo[i]->key, mo[i - 1]->key) == 0) {
            quote(q, sizeof q, mo[i]->key, strlen(mo[i]->key));
            return set_error(err, RECUR_EINVAL, "duplicate metadata key %s", q);
        }
    }
    qsort(order, n, sizeof *order, cmp_write_order);
    return 0;
}

// Validates the writer's inputs; *data_len receives the total tensor bytes.
static int check_inputs(const st_entry *tensors, size_t n, const st_kv *meta, size_t nmeta,
                        size_t *data_len, recur_error *err)
{
    if ((n && !tensors) || (nmeta && !meta))
        return set_error(err, RECUR_EINVAL, "st_serialize: NULL tensor or metadata array");
    // The raw names, keys and values are a lower bound on the header size:
    // refusing an oversized header here spares building 100 MB to learn it.
    // (Summing stops at the cap, so it cannot overflow.)
    size_t lower = 0;
    for (size_t i = 0; i < n + nmeta && lower <= ST_MAX_HEADER; i++) {
        const char *s1 = i < n ? tensors[i].name : meta[i - n].key;
        const char *s2 = i < n ? NULL : meta[i - n].value;
        lower += (s1 ? strlen(s1) : 0) + (s2 ? strlen(s2) : 0);
    }
    if (lower > ST_MAX_HEADER)
        return set_error(err, RECUR_EINVAL,
                         "header would exceed %u bytes (names and metadata alone take %zu)",
                         ST_MAX_HEADER, lower);
    int rc = 0;
    *data_len = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t nb = 0;
        rc = check_entry(&tensors[i], i, &nb, err);
        if (!rc && size_add(*data_len, nb, data_len))
            rc = set_error(err, RECUR_EINVAL, "tensors too large in total");
    }
    for (size_t i = 0; i < nmeta && !rc; i++) rc = check_meta(&meta[i], i, err);
    return rc;
}

// Compact JSON: metadata first (keys sorted, so the output is
// deterministic), then tensors in offset order with keys dtype, shape,
// data_offsets; then spaces up to a multiple of 8, so that the data buffer
// starts at an 8-aligned file offset.
static void build_header(strbuf *h, const st_entry *const *order, size_t n,
                         const st_kv *const *mo, size_t nmeta)
{
    sb_putc(h, '{');
    if (nmeta) {
        sb_puts(h, "\"" METADATA_KEY "\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i) sb_putc(h, ',');
            sb_json_string(h, mo[i]->key, strlen(mo[i]->key));
            sb_putc(h, ':');
            sb_json_string(h, mo[i]->value, strlen(mo[i]->value));
        }
        sb_putc(h, '}');
    }
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const st_entry *e = order[i];
        size_t nb = entry_nbytes(e);
        if (nmeta || i) sb_putc(h, ',');
        sb_json_string(h, e->name, strlen(e->name));
        sb_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dtype_names[e->dtype]);
        for (int d = 0; d < e->ndim; d++) sb_printf(h, "%s%" PRIu64, d ? "," : "", e->shape[d]);
        sb_printf(h, "],\"data_offsets\":[%zu,%zu]}", offset, offset + nb);
        offset += nb;
    }
    sb_putc(h, '}');
    while (!h->oom && h->len % 8) sb_putc(h, ' ');
}

int st_serialize(const st_entry *tensors, size_t n, const st_kv *meta, size_t nmeta,
                 uint8_t **out, size_t *out_len, recur_error *err)
{
    *out = NULL;
    *out_len = 0;
    size_t data_len, total;
    int rc = check_inputs(tensors, n, meta, nmeta, &data_len, err);
    if (rc) return rc;

    const st_entry **order;
    const st_kv **mo;
    strbuf h;
    sb_init(&h);
    rc = sort_inputs(tensors, n, meta, nmeta, &order, &mo, err);
    if (!rc) {
        build_header(&h, order, n, mo, nmeta);
        if (h.oom)
            rc = set_error(err, RECUR_ENOMEM, "out of memory building the header");
        else if (h.len > ST_MAX_HEADER)
            rc = set_error(err, RECUR_EINVAL, "header would be %zu bytes, over the limit of %u",
                           h.len, ST_MAX_HEADER);
        else if (size_add(8 + h.len, data_len, &total))
            rc = set_error(err, RECUR_EINVAL, "file too large");
    }
    uint8_t *buf = rc ? NULL : malloc(total);
    if (!rc && !buf) rc = set_error(err, RECUR_ENOMEM, "out of memory allocating %zu bytes", total);
    if (!rc) {
        for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
        memcpy(buf + 8, h.s, h.len);
        uint8_t *p = buf + 8 + h.len;
        for (size_t i = 0; i < n; i++) {
            size_t nb = entry_nbytes(order[i]);
            if (nb) memcpy(p, order[i]->data, nb);
            p += nb;
        }
        *out = buf;
        *out_len = total;
    }
    free(order);
    free(mo);
    sb_free(&h);
    return rc;
}

/* ---------------------------------------------------------------- files */

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : len;
        ssize_t w = write(fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO; // no progress and no reason given: do not spin
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

// fsync of the directory makes the rename itself durable. Some file
// systems cannot sync a directory (EINVAL); the rename is then as durable as
// they allow, which is not an error of ours.
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else {
        dir = malloc((size_t)(slash - path) + 1);
        if (dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = 0;
        }
    }
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e == EINVAL) rc = 0;
    errno = e;
    return rc;
}

int write_file_atomic(const char *path, const void *data, size_t len, recur_error *err)
{
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) return set_error(err, RECUR_ENOMEM, "cannot write %s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    // O_EXCL: never write through a file (or link) someone else put there.
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {
        // The name carries our PID, so what is there was left by a killed
        // process that had the same PID (common in containers, where PIDs
        // restart at 1): remove that stale file (or link) and try once more.
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return set_error(err, RECUR_EIO, "cannot write %s: %s", path, strerror(e));
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return set_error(err, RECUR_EIO, "cannot write %s: %s", path, strerror(e));
    }
    // close can report a deferred write error (NFS), so it is checked too.
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return set_error(err, RECUR_EIO, "cannot write %s: %s", path, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return set_error(err, RECUR_EIO, "cannot write %s: rename failed: %s", path, strerror(e));
    }
    free(tmp);
    if (sync_dir(path) != 0)
        return set_error(err, RECUR_EIO, "cannot write %s: syncing its directory: %s", path,
                         strerror(errno));
    return 0;
}

int st_write_bytes(const char *path, const uint8_t *buf, size_t len, recur_error *err)
{
    return write_file_atomic(path, buf, len, err);
}

int st_write(const char *path, const st_entry *tensors, size_t n, const st_kv *meta,
             size_t nmeta, recur_error *err)
{
    uint8_t *buf;
    size_t len;
    int rc = st_serialize(tensors, n, meta, nmeta, &buf, &len, err);
    if (rc) return rc;
    rc = write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
