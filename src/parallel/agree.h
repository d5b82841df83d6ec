/* A collective verdict: every rank goes on only if every rank succeeded. */
#ifndef LOOM_PARALLEL_AGREE_H
#define LOOM_PARALLEL_AGREE_H

#include "core/error.h"

/* Collective over the world: LOOM_OK on every rank only if every rank passed LOOM_OK; a rank that
 * passed LOOM_OK while another failed gets an error saying which rank failed at `what`. */
loom_status parallel_agree(loom_status mine, const char *what, loom_error *err);

#endif
