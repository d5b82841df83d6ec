/* comm.h over MPI (OpenMPI: shared memory inside a host, TCP between hosts). Every operation is started
 * non-blocking and polled against the deadline, so a dead or hung rank ends the job with one line on
 * stderr instead of a silent hang. Calls are serialized (MPI_THREAD_SERIALIZED): any one thread at a
 * time, e.g. the engine's step thread. */
#include "parallel/comm_internal.h"

#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Waiting: busy-poll MPI_Test briefly (the answer of a nearby rank is often microseconds away), then
 * yield the core between polls, then sleep between polls: ranks may share cores (mpirun
 * --oversubscribe), and a rank spinning for long steals the CPU from the rank it waits for. */
#define COMM_SPIN_S 20e-6
/* ... plus this per byte of the operation: while a large message moves, every poll moves it on (between
 * hosts, or through shared memory in fragments), and a rank that yields its core to another process
 * stalls the transfer; 1 ns/byte spins about 1 ms for 1 MiB. */
#define COMM_SPIN_S_PER_BYTE 1e-9
#define COMM_YIELD_S 2e-3
#define COMM_SLEEP_NS 50000L
/* An idle wait (comm_bcast_idle) quiet for this long naps 1 ms: an idle follower costs next to no
 * CPU. */
#define COMM_IDLE_AFTER_S 0.1
#define COMM_IDLE_SLEEP_NS 1000000L
/* An all-reduce in which each rank sends at most this much to all others together exchanges whole
 * buffers point to point: with 2 ranks 0.3 us for 16 bytes and 1.6 us for 8 KiB, where MPI_Iallreduce
 * takes 0.7 and 2.2 us; from 16 KiB on MPI_Iallreduce is faster (bench/comm_bench.c). */
#define COMM_EXCHANGE_MAX_BYTES 8192
#define COMM_EXCHANGE_MAX_RANKS 8
#define COMM_EXCHANGE_TAG 1

struct loom_comm {
    MPI_Comm mpi;  /* MPI_COMM_NULL: a world of one started without a launcher */
    MPI_Comm coll; /* a duplicate of mpi for loom's own collective traffic, apart from callers' tags */
    int rank, size;
    uint8_t *scratch; /* the other ranks' contributions to an exchange all-reduce */
    size_t scratch_bytes;
};

struct loom_comm_req {
    loom_comm *comm;
    MPI_Request mpi;
    int dst, tag;
    size_t bytes;
};

/* What is being waited for, to name it in a failure line. */
typedef struct comm_op {
    const char *name; /* "allreduce_sum_f32", "send", ... */
    const loom_comm *comm;
    int peer; /* rank in comm for send/recv, -1 for a collective */
    int tag;
    size_t bytes; /* what this rank sends or receives, to pace the polling */
} comm_op;

static loom_comm g_world = {MPI_COMM_NULL, MPI_COMM_NULL, 0, 1, NULL, 0};
static int g_mpi_started, g_mpi_finalized;

static void on_sigterm(int signo) {
    static const char line[] =
        "loom: rank 0: the MPI launcher terminated the job (another rank failed or was killed)\n";
    ssize_t written = write(STDERR_FILENO, line, sizeof line - 1);
    (void)written;
    _exit(1);
}

void comm_abort(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    comm_report(g_world.rank, fmt, ap);
    va_end(ap);
    signal(SIGTERM, SIG_DFL); /* the launcher's SIGTERM to this rank is expected now, not news */
    alarm(10);                /* SIGALRM ends this process should MPI_Abort itself hang */
    if (g_mpi_started && !g_mpi_finalized) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* "allreduce_sum_f32 over a group of 4 ranks" / "recv from rank 1 (tag 3)" (peer as a world rank). */
static void comm_describe(const comm_op *op, char *out, size_t cap) {
    if (op->peer < 0) {
        snprintf(out, cap, "%s over a group of %d ranks", op->name, op->comm->size);
        return;
    }
    int world_peer = op->peer;
    MPI_Group group, world_group;
    if (op->comm->mpi != MPI_COMM_WORLD && MPI_Comm_group(op->comm->mpi, &group) == MPI_SUCCESS) {
        if (MPI_Comm_group(MPI_COMM_WORLD, &world_group) == MPI_SUCCESS) {
            MPI_Group_translate_ranks(group, 1, &op->peer, world_group, &world_peer);
            MPI_Group_free(&world_group);
        }
        MPI_Group_free(&group);
    }
    const char *direction = strcmp(op->name, "recv") == 0 ? "from" : "to";
    snprintf(out, cap, "%s %s rank %d (tag %d)", op->name, direction, world_peer, op->tag);
}

static void comm_fail_mpi(const comm_op *op, int rc) __attribute__((noreturn));
static void comm_fail_mpi(const comm_op *op, int rc) {
    char what[160], reason[MPI_MAX_ERROR_STRING];
    int reason_len = 0;
    comm_describe(op, what, sizeof what);
    if (MPI_Error_string(rc, reason, &reason_len) != MPI_SUCCESS) snprintf(reason, sizeof reason, "code %d", rc);
    comm_abort("%s failed: %s; aborting the job", what, reason);
}

static void comm_check(const comm_op *op, int rc) {
    if (rc != MPI_SUCCESS) comm_fail_mpi(op, rc);
}

/* MPI counts are ints. */
static int comm_count(const comm_op *op, size_t n) {
    if (n > (size_t)INT_MAX) {
        char what[160];
        comm_describe(op, what, sizeof what);
        comm_abort("%s: %zu elements exceed MPI's count limit of %d", what, n, INT_MAX);
    }
    return (int)n;
}

/* Polls reqs until all complete, or ends the job when the deadline passes (none when idle). */
static void comm_poll_until(int count, MPI_Request *reqs, MPI_Status *statuses, const comm_op *op, int idle) {
    double start_s = comm_now_s(), timeout_s = comm_timeout_s();
    double spin_s = COMM_SPIN_S + (double)op->bytes * COMM_SPIN_S_PER_BYTE;
    const struct timespec nap = {0, COMM_SLEEP_NS}, idle_nap = {0, COMM_IDLE_SLEEP_NS};
    for (;;) {
        int done = 0;
        comm_check(op, MPI_Testall(count, reqs, &done, statuses));
        if (done) return;
        double waited_s = comm_now_s() - start_s;
        if (waited_s < spin_s) continue;
        if (!idle && waited_s > timeout_s) {
            char what[160];
            comm_describe(op, what, sizeof what);
            comm_abort("%s timed out after %g s (a rank died or hangs); aborting the job", what, timeout_s);
        }
        if (waited_s < spin_s + COMM_YIELD_S) sched_yield();
        else nanosleep(idle && waited_s > COMM_IDLE_AFTER_S ? &idle_nap : &nap, NULL);
    }
}

static void comm_poll(MPI_Request *req, MPI_Status *status, const comm_op *op) {
    comm_poll_until(1, req, status ? status : MPI_STATUSES_IGNORE, op, 0);
}

static void comm_start_and_poll(int start_rc, MPI_Request *req, const comm_op *op) {
    comm_check(op, start_rc);
    comm_poll(req, NULL, op);
}

/* Fills c for the MPI communicator mpi (collective over it). */
static void comm_adopt(loom_comm *c, MPI_Comm mpi) {
    comm_op op = {"communicator setup", c, -1, 0, 0};
    c->mpi = mpi;
    comm_check(&op, MPI_Comm_rank(mpi, &c->rank));
    comm_check(&op, MPI_Comm_size(mpi, &c->size));
    comm_check(&op, MPI_Comm_dup(mpi, &c->coll));
}

static void comm_release(loom_comm *c) {
    if (c->coll != MPI_COMM_NULL && !g_mpi_finalized) MPI_Comm_free(&c->coll);
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_bytes = 0;
}

loom_status comm_init(int *argc, char ***argv, loom_error *err) {
    loom_status st = comm_read_timeout_env(err);
    if (st != LOOM_OK || g_mpi_started || !getenv("OMPI_COMM_WORLD_SIZE")) return st;
    int provided = MPI_THREAD_SINGLE;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return loom_fail(err, LOOM_ERR_INTERNAL, "MPI_Init_thread failed");
    g_mpi_started = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    comm_adopt(&g_world, MPI_COMM_WORLD);
    if (provided < MPI_THREAD_SERIALIZED)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "the MPI library provides thread level %d, loom needs MPI_THREAD_SERIALIZED "
                         "(the engine calls MPI from its step thread)",
                         provided);
    if (g_world.rank == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigterm;
        sigaction(SIGTERM, &sa, NULL);
    }
    return LOOM_OK;
}

void comm_finalize(void) {
    if (!g_mpi_started || g_mpi_finalized) return;
    comm_barrier(&g_world); /* with a deadline: MPI_Finalize itself would wait for a hung rank */
    signal(SIGTERM, SIG_DFL);
    comm_release(&g_world);
    MPI_Finalize();
    g_mpi_finalized = 1;
}

int parallel_built_with_mpi(void) { return 1; }

loom_comm *comm_world(void) { return &g_world; }
int comm_rank(const loom_comm *c) { return c->rank; }
int comm_size(const loom_comm *c) { return c->size; }

loom_status comm_split(loom_comm *parent, int color, int key, loom_comm **out, loom_error *err) {
    loom_status st = comm_check_color(color, err);
    if (st != LOOM_OK) return st;
    loom_comm *c = calloc(1, sizeof *c);
    if (!c) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a process group");
    *c = (loom_comm){MPI_COMM_NULL, MPI_COMM_NULL, 0, 1, NULL, 0};
    if (parent->mpi != MPI_COMM_NULL) {
        /* MPI_Comm_split and _dup block: meet every rank first under the deadline. */
        comm_barrier(parent);
        double start_s = comm_now_s();
        comm_op op = {"split", parent, -1, 0, 0};
        MPI_Comm mpi;
        comm_check(&op, MPI_Comm_split(parent->mpi, color, key, &mpi));
        comm_adopt(c, mpi);
        comm_account_since(start_s);
    }
    *out = c;
    return LOOM_OK;
}

void comm_free(loom_comm *c) {
    if (!c || c == &g_world) return;
    comm_release(c);
    if (c->mpi != MPI_COMM_NULL && !g_mpi_finalized) MPI_Comm_free(&c->mpi);
    free(c);
}

/* acc[i] = acc[i] (op) other[i] for one element type. */
typedef void (*comm_combine_fn)(void *acc, const void *other, size_t n);

static void combine_sum_f32(void *acc, const void *other, size_t n) {
    float *a = acc;
    const float *b = other;
    for (size_t i = 0; i < n; i++) a[i] += b[i];
}

static void combine_min_i64(void *acc, const void *other, size_t n) {
    int64_t *a = acc;
    const int64_t *b = other;
    for (size_t i = 0; i < n; i++) a[i] = b[i] < a[i] ? b[i] : a[i];
}

static void combine_max_i64(void *acc, const void *other, size_t n) {
    int64_t *a = acc;
    const int64_t *b = other;
    for (size_t i = 0; i < n; i++) a[i] = b[i] > a[i] ? b[i] : a[i];
}

static void comm_reserve_scratch(loom_comm *c, size_t bytes) {
    if (c->scratch_bytes >= bytes) return;
    free(c->scratch);
    c->scratch = malloc(bytes);
    c->scratch_bytes = bytes;
    if (!c->scratch) comm_abort("out of memory for %zu bytes of all-reduce buffer", bytes);
}

/* Small all-reduce: every rank sends its buffer to every other rank, then combines the contributions in
 * rank order ((c0 + c1) + c2) + ..., so all ranks compute the very same result (c0 + c1 == c1 + c0
 * exactly, which lets ranks 0 and 1 start from their own buffer). */
static void comm_allreduce_exchange(loom_comm *c, void *buf, size_t n, size_t elem_bytes, comm_combine_fn combine,
                                    const comm_op *op) {
    size_t bytes = n * elem_bytes;
    comm_reserve_scratch(c, (size_t)c->size * bytes);
    MPI_Request reqs[2 * COMM_EXCHANGE_MAX_RANKS];
    int n_reqs = 0;
    for (int peer = 0; peer < c->size; peer++) {
        if (peer == c->rank) continue;
        comm_check(op,
                   MPI_Irecv(c->scratch + (size_t)peer * bytes, (int)bytes, MPI_BYTE, peer, COMM_EXCHANGE_TAG, c->coll,
                             &reqs[n_reqs++]));
        comm_check(op, MPI_Isend(buf, (int)bytes, MPI_BYTE, peer, COMM_EXCHANGE_TAG, c->coll, &reqs[n_reqs++]));
    }
    comm_poll_until(n_reqs, reqs, MPI_STATUSES_IGNORE, op, 0);
    uint8_t *acc = c->rank <= 1 ? buf : c->scratch; /* holds c0 + c1 after the first step */
    combine(acc, c->scratch + (size_t)(c->rank != 1) * bytes, n);
    for (int r = 2; r < c->size; r++) combine(acc, r == c->rank ? buf : c->scratch + (size_t)r * bytes, n);
    if (acc != buf) memcpy(buf, acc, bytes);
}

static void comm_allreduce(loom_comm *c, void *buf, size_t n, MPI_Datatype type, MPI_Op reduce, comm_combine_fn combine,
                           const char *name) {
    if (c->size == 1 || n == 0) return; /* every rank passes the same n */
    double start_s = comm_now_s();
    int elem_bytes = 0;
    MPI_Type_size(type, &elem_bytes);
    comm_op op = {name, c, -1, 0, n * (size_t)elem_bytes};
    if (c->size <= COMM_EXCHANGE_MAX_RANKS &&
        (size_t)(c->size - 1) * n * (size_t)elem_bytes <= COMM_EXCHANGE_MAX_BYTES) {
        comm_allreduce_exchange(c, buf, n, (size_t)elem_bytes, combine, &op);
    } else {
        MPI_Request req;
        comm_start_and_poll(MPI_Iallreduce(MPI_IN_PLACE, buf, comm_count(&op, n), type, reduce, c->mpi, &req), &req,
                            &op);
    }
    comm_account_since(start_s);
}

void comm_allreduce_sum_f32(loom_comm *c, float *buf, size_t n) {
    comm_allreduce(c, buf, n, MPI_FLOAT, MPI_SUM, combine_sum_f32, "allreduce_sum_f32");
}

void comm_allreduce_min_i64(loom_comm *c, int64_t *buf, size_t n) {
    comm_allreduce(c, buf, n, MPI_INT64_T, MPI_MIN, combine_min_i64, "allreduce_min_i64");
}

void comm_allreduce_max_i64(loom_comm *c, int64_t *buf, size_t n) {
    comm_allreduce(c, buf, n, MPI_INT64_T, MPI_MAX, combine_max_i64, "allreduce_max_i64");
}

static void comm_check_root(const comm_op *op, int root) {
    if (root < 0 || root >= op->comm->size)
        comm_abort("%s from root %d in a group of %d ranks", op->name, root, op->comm->size);
}

static void bcast_with_deadline(loom_comm *c, void *buf, size_t bytes, int root, int idle) {
    comm_op op = {"bcast", c, -1, 0, bytes};
    comm_check_root(&op, root);
    if (c->size == 1) return;
    double start_s = comm_now_s();
    MPI_Request req;
    comm_check(&op, MPI_Ibcast(buf, comm_count(&op, bytes), MPI_BYTE, root, c->mpi, &req));
    comm_poll_until(1, &req, MPI_STATUSES_IGNORE, &op, idle);
    if (!idle) comm_account_since(start_s); /* waiting idle for a command is not communication time */
}

void comm_bcast(loom_comm *c, void *buf, size_t bytes, int root) { bcast_with_deadline(c, buf, bytes, root, 0); }

void comm_bcast_idle(loom_comm *c, void *buf, size_t bytes, int root) { bcast_with_deadline(c, buf, bytes, root, 1); }

void comm_gather(loom_comm *c, const void *send, size_t bytes, void *recv, int root) {
    comm_op op = {"gather", c, -1, 0, bytes};
    comm_check_root(&op, root);
    if (c->size == 1) {
        if (recv != send) memmove(recv, send, bytes);
        return;
    }
    double start_s = comm_now_s();
    int count = comm_count(&op, bytes);
    MPI_Request req;
    comm_start_and_poll(MPI_Igather(send, count, MPI_BYTE, recv, count, MPI_BYTE, root, c->mpi, &req), &req, &op);
    comm_account_since(start_s);
}

void comm_barrier(loom_comm *c) {
    if (c->size == 1) return;
    double start_s = comm_now_s();
    comm_op op = {"barrier", c, -1, 0, 0};
    MPI_Request req;
    comm_start_and_poll(MPI_Ibarrier(c->mpi, &req), &req, &op);
    comm_account_since(start_s);
}

/* Point to point needs a peer: a world of one started without a launcher has none. */
static void comm_check_peer(const comm_op *op) {
    if (op->comm->mpi == MPI_COMM_NULL)
        comm_abort("%s with rank %d (tag %d) in a group of one: no other rank exists", op->name, op->peer, op->tag);
    if (op->peer < 0 || op->peer >= op->comm->size || op->tag < 0)
        comm_abort("%s with rank %d (tag %d) in a group of %d ranks: no such rank or negative tag", op->name, op->peer,
                   op->tag, op->comm->size);
}

loom_comm_req *comm_isend(loom_comm *c, const void *buf, size_t bytes, int dst, int tag) {
    comm_op op = {"send", c, dst, tag, bytes};
    comm_check_peer(&op);
    double start_s = comm_now_s();
    loom_comm_req *req = malloc(sizeof *req);
    if (!req) comm_abort("out of memory for a send request");
    *req = (loom_comm_req){c, MPI_REQUEST_NULL, dst, tag, bytes};
    comm_check(&op, MPI_Isend(buf, comm_count(&op, bytes), MPI_BYTE, dst, tag, c->mpi, &req->mpi));
    comm_account_since(start_s);
    return req;
}

void comm_wait(loom_comm_req *req) {
    double start_s = comm_now_s();
    comm_op op = {"send", req->comm, req->dst, req->tag, req->bytes};
    comm_poll(&req->mpi, NULL, &op);
    free(req);
    comm_account_since(start_s);
}

void comm_send(loom_comm *c, const void *buf, size_t bytes, int dst, int tag) {
    comm_wait(comm_isend(c, buf, bytes, dst, tag));
}

void comm_recv(loom_comm *c, void *buf, size_t bytes, int src, int tag) {
    comm_op op = {"recv", c, src, tag, bytes};
    comm_check_peer(&op);
    double start_s = comm_now_s();
    MPI_Request req;
    MPI_Status status;
    comm_check(&op, MPI_Irecv(buf, comm_count(&op, bytes), MPI_BYTE, src, tag, c->mpi, &req));
    comm_poll(&req, &status, &op);
    int got = 0;
    MPI_Get_count(&status, MPI_BYTE, &got);
    if ((size_t)got != bytes) {
        char what[160];
        comm_describe(&op, what, sizeof what);
        comm_abort("%s: received %d bytes, expected %zu (the ranks disagree on the message); aborting the job", what,
                   got, bytes);
    }
    comm_account_since(start_s);
}
