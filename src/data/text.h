/*
 * text.h - training text: files mapped into memory (never copied), UTF-8
 * decoding, the vocabulary (sorted code points or bytes) and the batcher that
 * lays B parallel streams over the text as char-rnn does.
 */
#ifndef RECUR_TEXT_H
#define RECUR_TEXT_H

#include "base/internal.h"

struct recur_vocab {
    int n;             /* size */
    int bytes;         /* 1: byte vocabulary */
    uint32_t *chars;   /* n code points (or bytes), ascending */
    int32_t *lut;      /* ids of code points < 0x10000 (-1 if absent), NULL in byte mode */
    int32_t byte_lut[256];
};

/* Decodes one UTF-8 code point from s[*pos..len). Returns the code point and
 * advances *pos, or returns -1 (leaving *pos) on invalid UTF-8: overlong
 * forms, surrogates, > U+10FFFF, truncated or stray continuation bytes. */
int32_t utf8_decode(const uint8_t *s, size_t len, size_t *pos);
/* Encodes cp into out (1..4 bytes); returns the length. */
int utf8_encode(uint32_t cp, char out[4]);

/* A vocabulary from an explicit list of characters (need not be sorted; no
 * duplicates allowed). Used by the checkpoint loader. */
int vocab_from_chars(const uint32_t *chars, int n, int bytes, recur_vocab **out,
                     recur_error *err);
/* A copy of v. */
int vocab_clone(const recur_vocab *v, recur_vocab **out, recur_error *err);

/* Vocabulary <-> the JSON array of strings stored as recur.vocab in
 * checkpoints (each entry one character; byte vocabularies store each byte
 * as the code point of the same value, U+0000..U+00FF). */
int vocab_to_json(const recur_vocab *v, strbuf *out);
int vocab_from_json(const char *json, int bytes, recur_vocab **out, recur_error *err);

/* Reads the next character of s[*pos..len) and returns its id, advancing
 * *pos. Returns -1 for a valid character not in the vocabulary (still
 * advancing; *cp gets it), -2 for invalid UTF-8 (not advancing). */
int vocab_next_id(const recur_vocab *v, const uint8_t *s, size_t len, size_t *pos, uint32_t *cp);

/* Counts the characters of s, failing (with the byte offset) on invalid UTF-8
 * unless bytes. */
int text_count_chars(const uint8_t *s, size_t len, int bytes, size_t *count, recur_error *err);

/* A read-only view of a whole file: memory-mapped when it is a regular file,
 * read into memory otherwise (pipes). Errors: missing file, a directory, an
 * empty file (each named). */
typedef struct text_file {
    const uint8_t *data;
    size_t len;
    int mapped;
    int fd;            /* the file, kept open while it is mapped (the batcher reads it) */
    void *owned;       /* malloc'd buffer when not mapped */
} text_file;

int text_open(const char *path, text_file *tf, recur_error *err);
void text_close(text_file *tf);

/* Keeping a mapped text out of the resident set. A mapped file's pages are
 * the page cache's: this process can let go of them (MADV_DONTNEED) at no
 * cost but a later re-read, so passes over a mapped text release what they
 * have read every TEXT_RELEASE_CHUNK bytes, and memory stays bounded by that
 * chunk rather than by the corpus. (The batcher's streams do not read
 * through the mapping at all: see text_batcher.) Only ranges inside a
 * mapping made by text_open are ever released: any other memory (a pipe read
 * into a buffer, a caller's string) would read back as zeros, so it is left
 * alone. */
#define TEXT_RELEASE_CHUNK ((size_t)4 << 20)
/* Each release also covers this much before the last one. A read fault maps
 * more than the page read: the aligned 64 KB around it (the kernel's
 * fault-around), or on recent kernels the whole page-cache folio, up to
 * 2 MB; so pages just behind a reader, already released, come back, and
 * without the margin would stay behind every release. */
#define TEXT_RELEASE_MARGIN ((size_t)2 << 20)

/* 1 when s[0..len) lies inside a mapping made by text_open (and not yet
 * closed); then *fd (if fd) is the mapped file, open for reading (or -1 if
 * that descriptor no longer is that file), and *offset (if offset) the
 * offset of s in it. */
int text_is_mapped(const void *s, size_t len, int *fd, size_t *offset);
/* Releases the pages that hold s[0..len) (whole pages, rounded outwards).
 * Only for ranges inside a text_open mapping (text_is_mapped). */
void text_release(const void *s, size_t len);

/* One forward pass over s[0..len): text_sweep_at(w, i) at every step of the
 * pass (cheap: a comparison) releases s[..i) once i has moved
 * TEXT_RELEASE_CHUNK past the last release; text_sweep_end releases the
 * rest. Does nothing unless s is a text_open mapping. */
typedef struct text_sweep {
    const uint8_t *s;
    size_t len;
    size_t done;   /* s[0..done) has been released */
    size_t next;   /* release again when the pass reaches this offset; SIZE_MAX: never */
} text_sweep;

void text_sweep_init(text_sweep *w, const uint8_t *s, size_t len);
void text_sweep_release(text_sweep *w, size_t upto);
static inline void text_sweep_at(text_sweep *w, size_t i)
{
    if (i >= w->next) text_sweep_release(w, i);
}
static inline void text_sweep_end(text_sweep *w)
{
    if (w->next != SIZE_MAX) text_sweep_release(w, w->len);
}

/* The char-rnn layout: the text (len bytes) split into B contiguous streams
 * of equal length in characters. Each window takes the next T+1 characters of
 * every stream (inputs are the first T, targets the last T); the last target
 * of a window is the first input of the next. When a stream has fewer than
 * T+1 characters left, all streams go back to their starts (a new epoch).
 * Streams are tracked by byte offsets, so the text is never decoded whole.
 * When the text is a text_open mapping, the streams read it from the file
 * with pread, into a small buffer each, rather than through the mapping: B
 * streams spread over the whole text would otherwise each keep what a page
 * fault maps resident, up to a 2 MB page-cache folio per stream on recent
 * kernels, and the walk through an epoch all of the text. */
typedef struct text_batcher {
    const recur_vocab *vocab;
    const uint8_t *s;
    size_t len;
    int B, T;
    size_t chars_per_stream;    /* characters in each stream */
    size_t windows_per_epoch;   /* floor((chars_per_stream - 1) / T) */
    size_t *start;              /* [B] byte offset where each stream starts */
    size_t *pos;                /* [B] byte offset of the next input character */
    size_t window;              /* windows taken in this epoch */
    long long epoch;            /* completed epochs */
    int fd;                     /* the mapped file s lies in, or -1: s is read directly */
    size_t file_off;            /* s's offset in that file */
    uint8_t *buf;               /* [B][buf_cap]: stream k's bytes s[buf_at[k]..+buf_n[k]) */
    size_t buf_cap;             /* 4(T+1) (what T+1 characters can take) + TEXT_STREAM_READ */
    size_t *buf_at, *buf_n;     /* [B] */
} text_batcher;

/* How far past a window a stream's buffer reads, so that one pread serves
 * many windows. */
#define TEXT_STREAM_READ ((size_t)16 << 10)

/* Fails (RECUR_EINVAL, clear message) if a stream would be shorter than T+1
 * characters. Characters outside the vocabulary are RECUR_EVOCAB. */
int batcher_init(text_batcher *b, const recur_vocab *v, const uint8_t *s, size_t len, int B,
                 int T, recur_error *err);
void batcher_free(text_batcher *b);
/* Fills in[T*B] and tgt[T*B] (time-major: index t*B + b). Sets *new_epoch to
 * 1 when this window starts a new pass (the caller then resets hidden state). */
int batcher_next(text_batcher *b, int32_t *in, int32_t *tgt, int *new_epoch, recur_error *err);
/* Back to the start of the first epoch (validation does this before every
 * pass). */
void batcher_rewind(text_batcher *b);

#endif
