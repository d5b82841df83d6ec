/* Process groups for tensor and pipeline parallelism, over MPI (OpenMPI: shared memory inside a host,
 * TCP between hosts). Narrow on purpose, so a GPU build can implement the same calls with NCCL.
 *
 * Failure model: a dead or hung rank must never leave the others waiting forever. Every operation is
 * started non-blocking and polled against a deadline (comm_set_timeout, default 60 s); on timeout
 * or an MPI error the calling rank prints one line "loom: rank R: <op> with rank P timed out after S s
 * (a rank died or hangs); aborting the job" and brings the whole job down (MPI_Abort). So these calls
 * return only on success. Built without MPI (no mpicc), or started without a launcher, the world is
 * one rank and every collective on it is the identity. */
#ifndef LOOM_PARALLEL_COMM_H
#define LOOM_PARALLEL_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_comm loom_comm;
typedef struct loom_comm_req loom_comm_req;

/* Initialises MPI when the process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE),
 * otherwise the world is this process alone. Idempotent. On rank 0 it also installs a SIGTERM handler
 * that prints "loom: rank 0: the MPI launcher terminated the job (another rank failed or was killed)"
 * before exiting, so a rank killed by mpirun still leaves a clear line on rank 0. */
loom_status comm_init(int *argc, char ***argv, loom_error *err);
/* MPI_Finalize when comm_init started MPI; safe to call always. */
void comm_finalize(void);
/* 1 when this build can run more than one rank. */
int parallel_built_with_mpi(void);

/* The world group (all ranks). Valid after comm_init; before it, a world of one. */
loom_comm *comm_world(void);
int comm_rank(const loom_comm *c);
int comm_size(const loom_comm *c);
/* Ranks with the same color form one group, ordered by key (MPI_Comm_split); collective over parent. */
loom_status comm_split(loom_comm *parent, int color, int key, loom_comm **out, loom_error *err);
void comm_free(loom_comm *c); /* not the world */

/* Deadline of every operation below, in seconds (also LOOM_COMM_TIMEOUT_S in the environment). */
void comm_set_timeout(double seconds);

/* Collectives: every rank of c calls them in the same order. */
void comm_allreduce_sum_f32(loom_comm *c, float *buf, size_t n);
void comm_allreduce_min_i64(loom_comm *c, int64_t *buf, size_t n);
void comm_allreduce_max_i64(loom_comm *c, int64_t *buf, size_t n);
void comm_bcast(loom_comm *c, void *buf, size_t bytes, int root);
/* comm_bcast without a deadline, polling gently (sleeping between polls when nothing comes for a
 * while): a follower rank idling until rank 0's next command, which may be minutes away in a server. */
void comm_bcast_idle(loom_comm *c, void *buf, size_t bytes, int root);
/* recv (significant at root only) gets each rank's `bytes` bytes in rank order. */
void comm_gather(loom_comm *c, const void *send, size_t bytes, void *recv, int root);
void comm_barrier(loom_comm *c);

/* Point to point (tags >= 0). */
void comm_send(loom_comm *c, const void *buf, size_t bytes, int dst, int tag);
void comm_recv(loom_comm *c, void *buf, size_t bytes, int src, int tag);
/* Starts a send; buf must stay untouched until comm_wait(req) returns (which frees req). */
loom_comm_req *comm_isend(loom_comm *c, const void *buf, size_t bytes, int dst, int tag);
void comm_wait(loom_comm_req *req);

/* Ends the whole job after printing "loom: rank R: MESSAGE" (used when a rank cannot go on). */
void comm_abort(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Wall seconds this process has spent inside the calls above since start (benchmarks report it). */
double comm_seconds(void);

#endif
