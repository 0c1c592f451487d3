/*
 * cli.h - what the recur command's files share: the command handlers and
 * the one way errors leave the program (one line on stderr, exit 1).
 */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include "args.h"
#include "recur.h"

int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_hello(int argc, char **argv);
int cmd_gradcheck(int argc, char **argv);
int cmd_seq2seq(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_tag(int argc, char **argv);
int cmd_train_by_class(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_viz(int argc, char **argv);

/* Prints "recur CMD: <message>" and returns 1 (the exit status). */
int fail(const char *cmd, const recur_error *err);

#endif
