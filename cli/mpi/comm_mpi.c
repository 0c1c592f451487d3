/*
 * comm_mpi.c - recur-mpi: the recur command on Open MPI. MPI stays out of
 * librecur: this file gives the trainer a recur_comm whose operations are
 * MPI collectives on MPI_COMM_WORLD, and main() (main.c, built with
 * RECUR_MPI) starts and ends MPI around the command. Ranks other than 0
 * write nothing to stdout; an error that only some ranks meet aborts the
 * job, so that no rank waits forever for one that has left.
 */
#include "cli.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static recur_comm world;
static int agreed;
static double t_first, t_sum; /* RECUR_MPI_STATS: time in the gradient's allreduce */
static long long n_sum;
static size_t n_grad; /* floats in the gradient */

static int sum_any(void *buf, size_t n, MPI_Datatype type, size_t size)
{
    char *p = buf;
    const size_t chunk = (size_t)1 << 30; // counts are int
    for (size_t at = 0; at < n; at += chunk) {
        int c = (int)(n - at < chunk ? n - at : chunk);
        if (MPI_Allreduce(MPI_IN_PLACE, p + at * size, c, type, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

static int sum_f32(void *ctx, float *buf, size_t n)
{
    (void)ctx;
    double t0 = MPI_Wtime();
    if (!n_sum) t_first = t0;
    int rc = sum_any(buf, n, MPI_FLOAT, sizeof(float));
    if (n > 64) { // the gradient's, not a state gather's (those are rare)
        t_sum += MPI_Wtime() - t0;
        n_sum++;
        n_grad = n;
    }
    return rc;
}

static int sum_f64(void *ctx, double *buf, size_t n)
{
    (void)ctx;
    return sum_any(buf, n, MPI_DOUBLE, sizeof(double));
}

static int bcast(void *ctx, void *buf, size_t bytes, int root)
{
    (void)ctx;
    return bytes > (size_t)1 << 30 ? -1 : MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS;
}

static int stop_req(void *ctx)
{
    (void)ctx;
    return train_cli_stop_requested();
}

const recur_comm *cli_comm(void)
{
    return world.size > 1 ? &world : NULL;
}

int cli_rank(void)
{
    return world.rank;
}

void cli_error_agreed(void)
{
    agreed = 1;
}

// RECUR_MPI_STATS: the allreduce of the gradient alone, without the steps
// around it (whose uneven ends the in-run times include), every rank at once.
static void probe(void)
{
    if (!getenv("RECUR_MPI_STATS") || !n_grad) return;
    float *g = calloc(n_grad, sizeof *g);
    double t = 0;
    const int reps = 20;
    if (g) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < reps; i++) sum_any(g, n_grad, MPI_FLOAT, sizeof(float));
        t = (MPI_Wtime() - t0) / reps;
    }
    free(g);
    if (world.rank == 0)
        fprintf(stderr, "recur-mpi: alone, one allreduce of %zu floats takes %.3f ms\n", n_grad, 1e3 * t);
}

void cli_rank_done(void)
{
    if (world.rank == 0) return;
    probe();
    MPI_Finalize();
    exit(0);
}

int cli_mpi_init(int *argc, char ***argv)
{
    int provided;
    // Only the main thread calls MPI; the kernels' threads never do.
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "recur: MPI could not start\n");
        return 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    world.allreduce_f32 = sum_f32;
    world.allreduce_f64 = sum_f64;
    world.broadcast = bcast;
    world.stop_requested = stop_req;
    // Progress, reports and results are rank 0's to print.
    if (world.rank > 0 && !freopen("/dev/null", "w", stdout)) return 1;
    return 0;
}

int cli_mpi_end(int status)
{
    if (world.rank == 0 && getenv("RECUR_MPI_STATS") && n_sum > 0) {
        double span = MPI_Wtime() - t_first;
        fprintf(stderr, "recur-mpi: %d ranks: %lld gradient allreduces took %.3f s of %.3f s (%.1f%%), %.3f ms each\n",
                world.size, n_sum, t_sum, span, span > 0 ? 100 * t_sum / span : 0, 1e3 * t_sum / (double)n_sum);
    }
    if (status == 0 && world.size > 1) probe();
    if (status != 0 && status != 130 && !agreed && world.size > 1) {
        // Only this rank may have failed: end every rank rather than leave
        // them waiting in a collective.
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, status);
    }
    MPI_Finalize();
    return status;
}
