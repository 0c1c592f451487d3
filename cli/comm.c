/*
 * comm.c - what the plain recur build knows of MPI: nothing but how to tell
 * that mpirun started it, so that it can refuse instead of training the
 * same model N times over (recur-mpi, built from cli/mpi/comm_mpi.c when
 * CMake finds MPI, defines the rest).
 */
#include "cli.h"

#include <stdlib.h>

int cli_launch_size(void)
{
    // Open MPI, then the PMI/PMIx and Hydra (MPICH) names.
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > 1) return (int)n;
    }
    return 1;
}

int cli_launch_rank(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v) return (int)strtol(v, NULL, 10);
    }
    return 0;
}

#ifndef RECUR_MPI
const recur_comm *cli_comm(void)
{
    return NULL;
}

int cli_rank(void)
{
    return 0;
}

void cli_error_agreed(void)
{
}

void cli_rank_done(void)
{
}
#endif
