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

/* ---------------------------------------------------------------- processes (comm.c, mpi/comm_mpi.c) */

/* The ranks this program runs as: NULL in the plain build and in a
 * recur-mpi run of one process (docs/distributed.md). */
const recur_comm *cli_comm(void);
/* This process's rank (0 without MPI). */
int cli_rank(void);
/* The processes of the MPI launch this runs in, from its environment (1:
 * none); a plain build uses it to refuse running as many copies. */
int cli_launch_size(void);
int cli_launch_rank(void);
/* The ranks agreed on the error this process leaves with (each knows it):
 * recur-mpi then ends normally instead of aborting the others. */
void cli_error_agreed(void);
/* A rank other than 0 is done once training ends (recur-mpi: leaves here
 * with status 0; the plain build never gets here). */
void cli_rank_done(void);
/* Whether a signal asked training to stop (train_cli.c). */
int train_cli_stop_requested(void);

#endif
