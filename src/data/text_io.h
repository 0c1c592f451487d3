/*
 * text_io.h - what text.c and text_io.c share and nothing else needs. The
 * table of mappings text_open has made lives in text_io.c, where the page
 * release consults it; text.c's text_open and text_close add to it and take
 * from it. And the batcher's streams read a mapped text through text_io.c's
 * pread reader. The release interface itself (text_is_mapped, text_release,
 * text_sweep) and the batcher are declared in text.h: evaluation and the
 * tests use them too.
 */
#ifndef RECUR_TEXT_IO_H
#define RECUR_TEXT_IO_H

#include "data/text.h"

struct stat;

/* Adds (add) the mapping p[0..len) of the file fd, whose fstat is st, to the
 * table of text_open's mappings; or (!add) removes the mapping that starts
 * at p (fd and st unused). */
void text_note_mapping(const void *p, size_t len, int fd, const struct stat *st, int add);

/* For a batcher that reads its file (b->fd >= 0): makes stream k's buffer,
 * b->buf + k * b->buf_cap, hold the text from byte offset f on, as much of
 * it as T+1 characters can take, reading it from the file if it does not
 * already. The buffer then holds s[b->buf_at[k]..+b->buf_n[k]). */
int batcher_fill_stream(text_batcher *b, size_t k, size_t f, recur_error *err);

#endif
