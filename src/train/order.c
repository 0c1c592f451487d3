/*
 * order.c - the epoch order of an example task and its part of the state
 * (order.h).
 */
#include "train/order.h"

#include "formats/checkpoint.h" /* meta_int */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int order_init(epoch_order *o, size_t n, int batch, uint64_t seed, recur_error *err)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    o->batch = batch;
    rng_seed(&o->shuffle, seed);
    o->idx = xcalloc(n ? n : 1, sizeof *o->idx);
    o->saved = xcalloc(n ? n : 1, sizeof *o->saved);
    if (!o->idx || !o->saved) {
        order_free(o);
        return set_error(err, RECUR_ENOMEM, "out of memory for the order of %zu examples", n);
    }
    for (size_t i = 0; i < n; i++) o->idx[i] = i;
    return RECUR_OK;
}

void order_free(epoch_order *o)
{
    free(o->idx);
    free(o->saved);
    o->idx = NULL;
    o->saved = NULL;
}

void order_state_add(epoch_order *o, engine_extra *x)
{
    for (size_t i = 0; i < o->n; i++) o->saved[i] = (int64_t)o->idx[i];
    x->e[x->ne++] = (st_entry){"train.order", ST_I64, 1, {(uint64_t)o->n}, o->saved};
    snprintf(o->spos, sizeof o->spos, "%zu", o->pos);
    snprintf(o->sepoch, sizeof o->sepoch, "%lld", o->epoch);
    snprintf(o->srng, sizeof o->srng, "%016llx%016llx%016llx%016llx", (unsigned long long)o->shuffle.s[0],
             (unsigned long long)o->shuffle.s[1], (unsigned long long)o->shuffle.s[2],
             (unsigned long long)o->shuffle.s[3]);
    snprintf(o->sbatch, sizeof o->sbatch, "%d", o->batch);
    x->kv[x->nkv++] = (st_kv){"recur.state.pos", o->spos};
    x->kv[x->nkv++] = (st_kv){"recur.state.epoch", o->sepoch};
    x->kv[x->nkv++] = (st_kv){"recur.state.shuffle", o->srng};
    x->kv[x->nkv++] = (st_kv){"recur.state.batch", o->sbatch};
}

int order_state_read(epoch_order *o, const st_file *f, const char *path, long pos_max,
                     const char *what, recur_error *err)
{
    long pos, epoch, batch;
    int rc;
    if ((rc = meta_int(f, "recur.state.batch", 1, 100000, 1, 0, &batch, err))) return rc;
    if (batch != o->batch)
        return set_error(err, RECUR_EINVAL, "%s was trained with --batch %ld; resume with the same value (got --batch %d)",
                         path, batch, o->batch);
    if ((rc = meta_int(f, "recur.state.pos", 0, pos_max, 1, 0, &pos, err)) ||
        (rc = meta_int(f, "recur.state.epoch", 0, 0x7fffffffL, 1, 0, &epoch, err)))
        return rc;
    const char *rs = st_meta(f, "recur.state.shuffle");
    uint64_t s[4];
    if (!rs || strlen(rs) != 64 ||
        sscanf(rs, "%16llx%16llx%16llx%16llx", (unsigned long long *)&s[0], (unsigned long long *)&s[1],
               (unsigned long long *)&s[2], (unsigned long long *)&s[3]) != 4 ||
        !(s[0] | s[1] | s[2] | s[3]))
        return set_error(err, RECUR_EFORMAT, "%s: recur.state.shuffle is missing or malformed", path);
    const st_tensor *ot = st_find(f, "train.order");
    if (!ot || ot->dtype != ST_I64 || ot->nelem != (uint64_t)o->n)
        return set_error(err, RECUR_EFORMAT, "%s: tensor \"train.order\" is missing or not I64 [%zu] (was it trained on other %s?)",
                         path, o->n, what);
    // A permutation of the examples: each once.
    uint8_t *seen = calloc(o->n ? o->n : 1, 1);
    if (!seen) return set_error(err, RECUR_ENOMEM, "out of memory");
    for (size_t i = 0; i < o->n && !rc; i++) {
        int64_t v;
        memcpy(&v, ot->data + 8 * i, 8);
        if (v < 0 || (uint64_t)v >= o->n || seen[v])
            rc = set_error(err, RECUR_EFORMAT, "%s: tensor \"train.order\" is not an order of the %zu training %s", path, o->n, what);
        else
            seen[v] = 1;
    }
    free(seen);
    if (rc) return rc;
    for (size_t i = 0; i < o->n; i++) {
        int64_t v;
        memcpy(&v, ot->data + 8 * i, 8);
        o->idx[i] = (size_t)v;
    }
    o->pos = (size_t)pos;
    o->epoch = epoch;
    memcpy(o->shuffle.s, s, sizeof s);
    return RECUR_OK;
}
