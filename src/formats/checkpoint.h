/*
 * checkpoint.h - models in safetensors files (docs/format.md). The trainer
 * adds its own tensors (optim.*, train.*) and metadata through the extra
 * arguments; readers of the model ignore those namespaces.
 */
#ifndef RECUR_CHECKPOINT_H
#define RECUR_CHECKPOINT_H

#include "nn/model.h"
#include "formats/safetensors.h"

/* Metadata entries a writer takes beside the model's own (the trainer's state). */
#define ENGINE_EXTRA_META 40

/* The training settings of issue #14 as metadata, each only when not 0 (a
 * model without them is the same file as before they existed):
 * recur.dropout_in, recur.dropout_out, recur.variational, recur.tie.
 * Appends up to 4 entries to meta (their text in buf) and returns how many. */
typedef struct settings_meta {
    char in[32], out[32];
} settings_meta;
size_t checkpoint_drop_meta(const recur_model_config *cfg, settings_meta *buf, st_kv *meta);

int checkpoint_write(const recur_model *m, const st_entry *extra, size_t nextra,
                     const st_kv *extra_meta, size_t nextra_meta, const char *path,
                     recur_error *err);
/* Builds a model from a parsed, validated file; checks every tensor. */
int checkpoint_read_model(const st_file *f, recur_model **out, recur_error *err);
/* Copies tensor `name` into dst after checking that it is present, F32 and
 * exactly [rows, cols] ([rows] when cols == 0); errors name the tensor. */
int checkpoint_read_tensor(const st_file *f, const char *name, int rows, int cols, float *dst,
                           recur_error *err);
/* Fills every parameter of m (already built) from the tensors named prefix +
 * its view names (e.g. "encoder." + "rnn.weight_ih_l0"), each checked as by
 * checkpoint_read_tensor. Models inside other models (seq2seq) use this. */
int checkpoint_read_views(const st_file *f, const char *prefix, recur_model *m,
                          recur_error *err);
/* A strict decimal integer from metadata key (required, or def when absent). */
int meta_int(const st_file *f, const char *key, long lo, long hi, int required, long def,
             long *out, recur_error *err);

#endif
