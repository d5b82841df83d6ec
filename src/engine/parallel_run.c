/* The parallel run of loom.h: MPI start and end, loading every rank's shard with one verdict for all,
 * and the other ranks following rank 0 (context_parallel.c has the protocol). Rank 0 knows the others
 * wait for it exactly when a sharded model loaded on every rank. */
#include "engine/context_impl.h"
#include "model/model.h"
#include "parallel/agree.h"
#include "parallel/comm.h"

static int followers_waiting; /* rank 0: the other ranks are in loom_parallel_follow */

loom_status loom_parallel_init(int *argc, char ***argv, loom_error *err) { return comm_init(argc, argv, err); }
void loom_parallel_finalize(void) { comm_finalize(); }
int loom_parallel_rank(void) { return comm_rank(comm_world()); }

static int32_t parallel_size(int32_t n) { return n > 0 ? n : 1; }

loom_status loom_model_load(const loom_model_params *params, loom_model **out, loom_error *err) {
    *out = NULL;
    if (!params) return loom_fail(err, LOOM_ERR_INVALID_ARG, "no model params given");
    int32_t tp = parallel_size(params->tensor_parallel_size), pp = parallel_size(params->pipeline_parallel_size);
    if ((int64_t)tp * pp == 1) return model_load_shard(params, 0, 0, out, err);
    if ((int64_t)tp * pp > 1 << 20)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "tensor parallel size %d x pipeline parallel size %d is too large",
                         tp, pp);
    const loom_comm *world = comm_world();
    int rank = comm_rank(world), ranks = comm_size(world);
    if (ranks != tp * pp)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "tensor parallel size %d x pipeline parallel size %d needs %d ranks but the job has %d: start "
                         "with mpirun -np %d",
                         tp, pp, tp * pp, ranks, tp * pp);
    /* every rank loads its shard; all go on only if all succeeded (rank 0 then leads the others) */
    loom_status st =
        parallel_agree(model_load_shard(params, rank % tp, rank / tp, out, err), "to load its shard of the model", err);
    if (st != LOOM_OK) {
        loom_model_free(*out);
        *out = NULL;
        return st;
    }
    followers_waiting = rank == 0;
    return LOOM_OK;
}

loom_status loom_parallel_follow(loom_model *model, loom_error *err) {
    if (shard_is_whole(&model->shard) || loom_parallel_rank() == 0)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "loom_parallel_follow is for ranks other than 0 of a sharded model");
    ctx_par_follow(model);
    return LOOM_OK;
}

void loom_parallel_release_followers(void) {
    if (!followers_waiting) return;
    followers_waiting = 0;
    ctx_par_release_followers();
}
