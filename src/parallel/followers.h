/* Whether the other ranks are waiting in loom_parallel_follow for rank 0's commands: set on rank 0
 * when a sharded model loaded on every rank, cleared when rank 0 lets them go. */
#ifndef LOOM_PARALLEL_FOLLOWERS_H
#define LOOM_PARALLEL_FOLLOWERS_H

#include "core/error.h"

/* Collective over the world: LOOM_OK on every rank only if every rank passed LOOM_OK; a rank that
 * passed LOOM_OK while another failed gets an error saying which rank failed at `what`. */
loom_status loom_parallel_agree(loom_status mine, const char *what, loom_error *err);

void loom_parallel_set_followers_waiting(int waiting);
int loom_parallel_followers_waiting(void);

#endif
