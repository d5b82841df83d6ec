/* Latency of comm_allreduce_sum_f32 (non-blocking + polling with a deadline) against OpenMPI's
 * blocking MPI_Allreduce as the baseline, alternating rounds in one run, for a few buffer sizes.
 *   make build/bench/comm_bench
 *   mpirun -np 2 --bind-to none --mca pml ob1 --mca btl self,vader,tcp build/bench/comm_bench
 * (as root also OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; tests/mpi_util.py builds the
 * same command). Rank 0 prints the median microseconds per call of each and their ratio. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "parallel/comm.h"

enum { ROUNDS = 21 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Microseconds per call over `calls` calls, all ranks starting together. */
static double time_calls(loom_comm *world, float *buf, size_t n, int calls, int use_loom) {
    comm_barrier(world);
    double start = now_s();
    for (int i = 0; i < calls; i++) {
        if (use_loom) comm_allreduce_sum_f32(world, buf, n);
        else MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    return (now_s() - start) * 1e6 / calls;
}

int main(int argc, char **argv) {
    loom_error err = {0};
    if (comm_init(&argc, &argv, &err) != LOOM_OK) {
        fprintf(stderr, "comm_bench: %s\n", err.message);
        return 1;
    }
    loom_comm *world = comm_world();
    if (comm_size(world) < 2) {
        fprintf(stderr, "comm_bench: start it with mpirun -np 2 (or more)\n");
        return 1;
    }
    const size_t lengths[] = {4 /* 16 B */, 2048 /* 8 KiB */, 16384 /* 64 KiB */, 262144 /* 1 MiB */};
    const int calls[] = {2000, 1000, 300, 40};
    if (comm_rank(world) == 0)
        printf("ranks %d; median of %d alternating rounds, microseconds per allreduce\n", comm_size(world), ROUNDS);
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        float *buf = calloc(lengths[k], sizeof *buf);
        double loom_us[ROUNDS], mpi_us[ROUNDS];
        time_calls(world, buf, lengths[k], calls[k] / 10, 1); /* warm up both paths */
        time_calls(world, buf, lengths[k], calls[k] / 10, 0);
        for (int r = 0; r < ROUNDS; r++) {
            loom_us[r] = time_calls(world, buf, lengths[k], calls[k], 1);
            mpi_us[r] = time_calls(world, buf, lengths[k], calls[k], 0);
        }
        qsort(loom_us, ROUNDS, sizeof(double), cmp_double);
        qsort(mpi_us, ROUNDS, sizeof(double), cmp_double);
        if (comm_rank(world) == 0)
            printf("%8zu bytes: loom %8.2f us   MPI_Allreduce %8.2f us   ratio %.2f\n", lengths[k] * sizeof(float),
                   loom_us[ROUNDS / 2], mpi_us[ROUNDS / 2], loom_us[ROUNDS / 2] / mpi_us[ROUNDS / 2]);
        free(buf);
    }
    comm_finalize();
    return 0;
}
