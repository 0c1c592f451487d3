/*
 * train_budget.h - `recur train --budget DURATION` (train_budget.c): the
 * model and run a time budget allows, chosen by recur_budget_choose from
 * speeds measured here, printed, saved beside the model, and held to the
 * deadline.
 */
#ifndef RECUR_TRAIN_BUDGET_H
#define RECUR_TRAIN_BUDGET_H

#include "train_cli.h"

typedef struct budget_args {
    double seconds, t0;          /* the budget, and when the command started (budget_now) */
    const char *budget_text;     /* as given ("30m") */
    const recur_text *text, *val;
    int bytes, vocab_size;
    int argc;
    char **argv;                 /* the command line, for the command that reproduces the run */
    const char *data;            /* the FILE argument (an element of argv) */
} budget_args;

typedef struct budget_out {
    recur_budget_choice choice;
    double reserve;              /* seconds kept back at the end: the step under way, the save */
    char command[4096];          /* `recur train ...` that runs the same again */
    char hint[4096];             /* its options after FILE (the resume hint) */
} budget_out;

double budget_now(void);
/* "90", "90s", "30m", "1.5h" -> seconds (1 s .. 1e8 s); -1 if not one. */
int budget_parse(const char *s, double *seconds);
/* Refuses (usage error printed, 2) the flags --budget chooses, --resume and mpirun. */
int budget_check_flags(const train_cli *c);
/* Measures, chooses, sets c's model and run settings and prints the choice.
 * 0, or 1 (error printed). */
int budget_plan(train_cli *c, const budget_args *a, budget_out *o);
/* Saves the choice to OUT's .budget.json (once the run is sure to start). */
int budget_save(const train_cli *c, const budget_args *a, const budget_out *o);

#endif
