/* comm.h without MPI (built when mpicc is absent): the world is this process alone, every collective is
 * the identity and point-to-point traffic (which would be to itself) ends the process. */
#include "parallel/comm_internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct loom_comm {
    int unused;
};

static loom_comm g_world;

loom_status comm_init(int *argc, char ***argv, loom_error *err) {
    const char *launched = getenv("OMPI_COMM_WORLD_SIZE");
    if (launched && atoi(launched) > 1)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED,
                         "started by mpirun with %s ranks, but this loom was built without MPI "
                         "(no mpicc at build time); install libopenmpi-dev and rebuild",
                         launched);
    return comm_read_timeout_env(err);
}

void comm_finalize(void) {}

int parallel_built_with_mpi(void) { return 0; }

loom_comm *comm_world(void) { return &g_world; }
int comm_rank(const loom_comm *c) { return 0; }
int comm_size(const loom_comm *c) { return 1; }

loom_status comm_split(loom_comm *parent, int color, int key, loom_comm **out, loom_error *err) {
    loom_status st = comm_check_color(color, err);
    if (st != LOOM_OK) return st;
    loom_comm *c = calloc(1, sizeof *c);
    if (!c) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a process group");
    *out = c;
    return LOOM_OK;
}

void comm_free(loom_comm *c) {
    if (c != &g_world) free(c);
}

void comm_allreduce_sum_f32(loom_comm *c, float *buf, size_t n) {}
void comm_allreduce_min_i64(loom_comm *c, int64_t *buf, size_t n) {}
void comm_allreduce_max_i64(loom_comm *c, int64_t *buf, size_t n) {}
void comm_barrier(loom_comm *c) {}

void comm_bcast(loom_comm *c, void *buf, size_t bytes, int root) {
    if (root != 0) comm_abort("broadcast from rank %d in a group of one", root);
}

void comm_bcast_idle(loom_comm *c, void *buf, size_t bytes, int root) { comm_bcast(c, buf, bytes, root); }

void comm_gather(loom_comm *c, const void *send, size_t bytes, void *recv, int root) {
    if (root != 0) comm_abort("gather to rank %d in a group of one", root);
    if (recv != send) memmove(recv, send, bytes);
}

void comm_send(loom_comm *c, const void *buf, size_t bytes, int dst, int tag) {
    comm_abort("send to rank %d (tag %d) in a group of one: no other rank exists", dst, tag);
}

void comm_recv(loom_comm *c, void *buf, size_t bytes, int src, int tag) {
    comm_abort("receive from rank %d (tag %d) in a group of one: no other rank exists", src, tag);
}

loom_comm_req *comm_isend(loom_comm *c, const void *buf, size_t bytes, int dst, int tag) {
    comm_send(c, buf, bytes, dst, tag);
    return NULL;
}

void comm_wait(loom_comm_req *req) {}

void comm_abort(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    comm_report(0, fmt, ap);
    va_end(ap);
    exit(1);
}
