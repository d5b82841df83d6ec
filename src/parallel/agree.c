#include "parallel/agree.h"

#include "parallel/comm.h"

loom_status parallel_agree(loom_status mine, const char *what, loom_error *err) {
    loom_comm *world = comm_world();
    /* the lowest failing rank, or the world size when none failed */
    int64_t failed_rank = mine == LOOM_OK ? comm_size(world) : comm_rank(world);
    comm_allreduce_min_i64(world, &failed_rank, 1);
    if (mine != LOOM_OK || failed_rank == comm_size(world)) return mine;
    return loom_fail(err, LOOM_ERR_INVALID_ARG, "rank %d failed %s (see its message)", (int)failed_rank, what);
}
