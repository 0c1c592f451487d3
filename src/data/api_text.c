/*
 * api_text.c - the public face of text.c's file mapping (recur_text_open),
 * so that programs using librecur can feed it files without copying them.
 */
#include "data/text.h"

#include <stdlib.h>
#include <string.h>

int recur_text_open(const char *path, recur_text *t, recur_error *err)
{
    if (!path || !t) return set_error(err, RECUR_EINVAL, "NULL argument");
    memset(t, 0, sizeof *t);
    text_file *tf = calloc(1, sizeof *tf);
    if (!tf) return set_error(err, RECUR_ENOMEM, "out of memory");
    int rc = text_open(path, tf, err);
    if (rc) {
        free(tf);
        return rc;
    }
    t->data = (const char *)tf->data;
    t->len = tf->len;
    t->impl_ = tf;
    return RECUR_OK;
}

void recur_text_close(recur_text *t)
{
    if (!t || !t->impl_) return;
    text_close(t->impl_);
    free(t->impl_);
    memset(t, 0, sizeof *t);
}

int recur_vocab_char_utf8(const recur_vocab *v, int id, char out[4])
{
    uint32_t cp = recur_vocab_char(v, id);
    if (v->bytes) {
        out[0] = (char)cp;
        return 1;
    }
    return utf8_encode(cp, out);
}
