/*
 * text_io.c - how a mapped text is kept out of the resident set: the table
 * of the mappings text_open has made, the page release (MADV_DONTNEED) that
 * passes over a mapped text do every TEXT_RELEASE_CHUNK bytes, and the
 * batcher's per-stream reader, which reads a mapped text with pread rather
 * than through the mapping. text.h documents the interface (text_is_mapped,
 * text_release, text_sweep, text_batcher); text_io.h what text.c alone uses.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L // fstat/pread/sysconf; the build defines it too
#endif
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE // madvise and MADV_DONTNEED, which POSIX alone does not declare
#endif

#include "data/text_io.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- releasing pages */

// The mappings text_open has made and text_close has not yet unmapped: the
// library's one piece of process-wide state. The passes that release pages
// are handed bare pointers (recur_vocab_from_text, recur_trainer_new and
// recur_eval_text take a char *), and MADV_DONTNEED is harmless only on a
// file mapping: on a malloc'd buffer it would zero the text. A full table
// only means that a further mapping keeps its pages until it is closed.
#define MAX_MAPPINGS 64

static struct {
    uintptr_t lo, hi; // the mapping (lo == 0: a free slot); file offset 0 is at lo
    int fd;
    dev_t dev;        // the file fd was when mapped
    ino_t ino;
} mappings[MAX_MAPPINGS];
static pthread_mutex_t mappings_mu = PTHREAD_MUTEX_INITIALIZER;

// st: the mapped file's (when adding).
void text_note_mapping(const void *p, size_t len, int fd, const struct stat *st, int add)
{
    uintptr_t lo = (uintptr_t)p;
    pthread_mutex_lock(&mappings_mu);
    for (int i = 0; i < MAX_MAPPINGS; i++) {
        if (add ? mappings[i].lo == 0 : mappings[i].lo == lo) {
            mappings[i].lo = add ? lo : 0;
            mappings[i].hi = add ? lo + len : 0;
            mappings[i].fd = add ? fd : -1;
            mappings[i].dev = add ? st->st_dev : 0;
            mappings[i].ino = add ? st->st_ino : 0;
            break;
        }
    }
    pthread_mutex_unlock(&mappings_mu);
}

int text_is_mapped(const void *s, size_t len, int *fd, size_t *offset)
{
    uintptr_t lo = (uintptr_t)s;
    if (!s || len == 0 || lo + len < lo) return 0;
    int found = 0;
    pthread_mutex_lock(&mappings_mu);
    for (int i = 0; i < MAX_MAPPINGS && !found; i++) {
        found = mappings[i].lo != 0 && mappings[i].lo <= lo && lo + len <= mappings[i].hi;
        if (found && fd) {
            // A program that closed descriptors it did not open (and maybe
            // opened another file under the same number) must not have its
            // text read from the wrong file: then there is no descriptor.
            struct stat st;
            *fd = fstat(mappings[i].fd, &st) == 0 && st.st_dev == mappings[i].dev &&
                          st.st_ino == mappings[i].ino
                      ? mappings[i].fd
                      : -1;
        }
        if (found && offset) *offset = lo - mappings[i].lo;
    }
    pthread_mutex_unlock(&mappings_mu);
    return found;
}

void text_release(const void *s, size_t len)
{
#ifdef MADV_DONTNEED
    long page = sysconf(_SC_PAGESIZE);
    if (len == 0 || page <= 0) return;
    uintptr_t mask = (uintptr_t)page - 1;
    // Rounded outwards: the mapping starts on a page boundary and takes its
    // last page whole, so these pages are all the mapping's. Bytes of them
    // outside s[0..len) that are read again are simply read from the file.
    uintptr_t lo = (uintptr_t)s & ~mask, hi = ((uintptr_t)s + len + mask) & ~mask;
    // A private read-only file mapping is never written, so dropping its
    // pages loses nothing. A failure only means they stay resident.
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
#else
    (void)s;
    (void)len;
#endif
}

void text_sweep_init(text_sweep *w, const uint8_t *s, size_t len)
{
    w->s = s;
    w->len = len;
    w->done = 0;
    w->next = text_is_mapped(s, len, NULL, NULL) ? TEXT_RELEASE_CHUNK : SIZE_MAX;
}

void text_sweep_release(text_sweep *w, size_t upto)
{
    if (w->next == SIZE_MAX) return;
    if (upto > w->len) upto = w->len;
    if (upto > w->done) {
        size_t from = w->done > TEXT_RELEASE_MARGIN ? w->done - TEXT_RELEASE_MARGIN : 0;
        text_release(w->s + from, upto - from);
        w->done = upto;
    }
    w->next = upto < SIZE_MAX - TEXT_RELEASE_CHUNK ? upto + TEXT_RELEASE_CHUNK : SIZE_MAX - 1;
}

/* ---------------------------------------------------------------- the batcher's streams */

// Reads n bytes of the text file at offset off into buf (pread: no mapping,
// nothing left resident). Fewer bytes than the mapping holds mean the file
// shrank on disk, which reading the mapping would answer with SIGBUS.
static int read_at(int fd, uint8_t *buf, size_t n, size_t off, recur_error *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return set_error(err, RECUR_EIO, "cannot read the text at byte offset %zu: %s",
                             off + got, strerror(errno));
        if (r == 0)
            return set_error(err, RECUR_EIO,
                             "the text file changed on disk: byte offset %zu is past its end",
                             off + got);
        got += (size_t)r;
    }
    return RECUR_OK;
}

int batcher_fill_stream(text_batcher *b, size_t k, size_t f, recur_error *err)
{
    // Refilled from the file when the buffer does not hold the next 4(T+1)
    // bytes (as many as T+1 characters can take, so a buffer ends before
    // them only where the text does). A refill reads TEXT_STREAM_READ bytes
    // more than that, so that one pread serves many windows.
    size_t need = b->buf_cap - TEXT_STREAM_READ;
    if (need > b->len - f) need = b->len - f;
    if (f < b->buf_at[k] || f + need > b->buf_at[k] + b->buf_n[k]) {
        size_t get = b->len - f < b->buf_cap ? b->len - f : b->buf_cap;
        b->buf_n[k] = 0; // empty until the read succeeds
        int rc = read_at(b->fd, b->buf + k * b->buf_cap, get, b->file_off + f, err);
        if (rc) return rc;
        b->buf_at[k] = f;
        b->buf_n[k] = get;
    }
    return RECUR_OK;
}
