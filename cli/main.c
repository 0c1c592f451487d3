/*
 * main.c - the recur command: a table of subcommands, each with a one-line
 * summary. Exit status: 0 success, 2 bad usage, 130 interrupted (train,
 * seq2seq train: the state is saved), 1 any other error (always with one
 * line on stderr). Output that could not be written is an error: standard
 * output is flushed and closed before the program says it succeeded.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"train", cmd_train, "train a character-level language model on a text file"},
    {"sample", cmd_sample, "generate text from a trained model"},
    {"eval", cmd_eval, "loss of a model on a text, in nats and bits per character"},
    {"info", cmd_info, "describe a checkpoint"},
    {"hello", cmd_hello, "the founding example: an RNN with 3 units learns 'hello'"},
    {"gradcheck", cmd_gradcheck, "compare analytic and numerical gradients of a small model"},
    {"seq2seq", cmd_seq2seq, "sequence-to-sequence: train, predict, eval, generate pairs"},
    {"classify", cmd_classify, "many-to-one: learn and predict the class of a text"},
    {"tag", cmd_tag, "many-to-many: learn and predict a tag for every token"},
    {"viz", cmd_viz, "look inside a model: an HTML report of its units, gates and predictions"},
    {"bench", cmd_bench, "measure training and sampling speed and memory (docs/benchmarks.md)"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

int fail(const char *cmd, const recur_error *err)
{
    // Ranks other than 0 keep quiet about errors the ranks agreed on (rank 0
    // says it), and wait a moment before saying their own: an error every
    // rank meets is then told once, by rank 0, whose abort ends them first.
    if (cli_rank() > 0) {
        if (!err->msg[0]) return 1;
        sleep(2);
        fprintf(stderr, "recur %s: rank %d: %s\n", cmd, cli_rank(), err->msg);
        return 1;
    }
    fprintf(stderr, "recur %s: %s\n", cmd, err->msg[0] ? err->msg : recur_strerror(err->code));
    return 1;
}

// A command that printed into a full disk or a closed pipe did not succeed:
// stdio reports write errors only through ferror and a failing fflush or
// fclose, so every path out of main that would exit 0 comes through here.
static int finish(const char *cmd, int status)
{
    errno = 0;
    int bad = ferror(stdout);
    if (fflush(stdout)) bad = 1;
    int saved = errno;
    if (fclose(stdout) && !saved) bad = 1, saved = errno;
    if (bad && status == 0) { // a failed command has said why already
        fprintf(stderr, "recur%s%s: cannot write the output: %s\n", cmd ? " " : "", cmd ? cmd : "",
                saved ? strerror(saved) : "write error");
        return 1;
    }
    return status;
}

static void help(FILE *f)
{
    fprintf(f,
            "recur %s - recurrent neural networks (RNN, LSTM, GRU) for text, in C\n\n"
            "usage: recur COMMAND [options]\n\ncommands:\n",
            RECUR_VERSION);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'recur COMMAND --help' lists a command's options with their defaults.\n"
               "Example:\n"
               "  recur train data/tinyshakespeare.txt --out shakespeare.safetensors\n"
               "  recur sample shakespeare.safetensors --prime 'ROMEO:' --length 300\n");
}

static int run(int argc, char **argv);

#ifdef RECUR_MPI
int cli_mpi_init(int *argc, char ***argv);
int cli_mpi_end(int status);

int main(int argc, char **argv)
{
    if (cli_mpi_init(&argc, &argv)) return 1;
    return cli_mpi_end(run(argc, argv));
}
#else
int main(int argc, char **argv)
{
    return run(argc, argv);
}
#endif

static int run(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "recur: no command given (see 'recur --help')\n");
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (strcmp(name, "help") == 0 && argc > 2) {
            // "recur help train" is "recur train --help".
            for (int i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    char *av[] = {argv[0], argv[2], "--help", NULL};
                    return finish(argv[2], commands[i].run(3, av));
                }
        }
        help(stdout);
        return finish(NULL, 0);
    }
    if (strcmp(name, "--version") == 0) {
        printf("recur %s\n", RECUR_VERSION);
        return finish(NULL, 0);
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return finish(name, commands[i].run(argc, argv));
    fprintf(stderr, "recur: unknown command '%s' (see 'recur --help')\n", name);
    return 2;
}
