/*
 * train_cli.h - what every `train` command shares (recur train, recur train
 * --by-class, recur classify train, recur tag train, recur seq2seq train):
 * the same flags with the same meaning and help text, the same checks of
 * the output files, and one way to run a recur_trainer: resume, Ctrl-C and
 * SIGTERM, a live progress line on a terminal (plain lines otherwise), JSON
 * lines with --log, and the closing line. A command adds only its data, its
 * model's flags and what it prints at the end.
 */
#ifndef RECUR_TRAIN_CLI_H
#define RECUR_TRAIN_CLI_H

#include "cli.h"

#define TRAIN_MAX_OPTS 64

typedef struct train_cli {
    const char *cmd;           /* "train", "classify train", ... (in messages) */
    recur_train_config tc;
    recur_model_config mc;     /* the commands whose model is a recur_model */
    const char *cell, *optim, *clip_mode, *schedule;
    const char *out, *last, *resume, *log_path;
    int quiet;
    long long print_every;
    char *last_owned;
    double deadline_s;         /* stop cleanly once the run has trained this long (0: never) */
    int deadline_hit;          /* set by train_cli_run when it did */
    const char *resume_hint;   /* the options that resume this run (NULL: "[same options]") */
    opt o[TRAIN_MAX_OPTS];
    int n;
} train_cli;

/* Adds one option to c's table. */
void train_cli_add(train_cli *c, opt o);
/* The defaults every command starts from. out_default: the --out default
 * (NULL: required). */
void train_cli_init(train_cli *c, const char *cmd, const char *out_default);
/* The flags every train command takes (after its own, in --help):
 * --out --last --resume --save-every --log --steps --epochs --eval-every
 * --lr --lr-decay --lr-decay-every --schedule --warmup --lr-min --patience
 * --weight-decay --clip --clip-mode --optim --momentum --seed --threads
 * --print-every --quiet. */
void train_cli_shared_options(train_cli *c);
/* --cell --hidden --layers --embed --dropout, into c->mc. */
void train_cli_model_options(train_cli *c);
/* After args_parse: names to enums, exclusive flags, the schedule rules.
 * Returns 0 or 2 (the usage error printed). */
int train_cli_finish(train_cli *c);
/* --tie (the language models: recur train, --by-class). */
void train_cli_tie_option(train_cli *c);
/* Whether a flag was given on the command line. */
int train_cli_seen(const train_cli *c, const char *name);
/* --last's default, and that --out and --last can be written (before any
 * work); also removes temporary files a killed run left. 0 or 1 (printed). */
int train_cli_outputs(train_cli *c);
/* Gives t its output files and, with --resume, its state: before the
 * command prints what it is about to train. 0, or 1 (error printed). */
int train_cli_start(train_cli *c, recur_trainer *t);
/* Runs t (after train_cli_start) to its end: signals, progress, --log. data: the data
 * argument, for the resume hint. Returns the exit status: 0 done, 130
 * interrupted (state saved, resume command printed), 1 an error (printed). */
int train_cli_run(train_cli *c, recur_trainer *t, const char *data);
void train_cli_free(train_cli *c);

#endif
