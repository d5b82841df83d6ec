#include "model/dist_forward.h"

#include <stdlib.h>
#include <string.h>

enum { TAG_LOGITS = 1, TAG_ACTIVATIONS = 16 /* + micro-batch index */ };

struct loom_dist {
    loom_comm *world, *tp; /* tp: this stage's ranks, NULL without tensor parallelism */
    int rank;
    loom_shard *last_stage; /* [tp_size] shards of the last stage (their vocab slices), on rank 0 */
    float *local_logits;    /* [n_logits][shard vocab] */
    size_t local_cap;       /* floats */
    int32_t *mb_logit_tokens;
    size_t mb_cap;
};

loom_status dist_create(const loom_model *m, loom_dist **out, loom_error *err) {
    const loom_shard *s = &m->shard;
    *out = NULL;
    loom_dist *d = calloc(1, sizeof *d);
    if (!d) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    d->world = comm_world();
    d->rank = comm_rank(d->world);
    loom_status st = LOOM_OK;
    if (comm_size(d->world) != s->tp_size * s->pp_size)
        st = loom_fail(err, LOOM_ERR_INVALID_ARG, "the job has %d ranks but the model is split %d x %d",
                       comm_size(d->world), s->tp_size, s->pp_size);
    if (st == LOOM_OK && s->tp_size > 1) st = comm_split(d->world, s->pp_rank, s->tp_rank, &d->tp, err);
    if (st == LOOM_OK && d->rank == 0) {
        if (!(d->last_stage = calloc((size_t)s->tp_size, sizeof *d->last_stage)))
            st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        for (int32_t r = 0; st == LOOM_OK && r < s->tp_size; r++)
            st = shard_init(&d->last_stage[r], &m->cfg, r, s->tp_size, s->pp_size - 1, s->pp_size, err);
    }
    if (st != LOOM_OK) {
        dist_free(d);
        return st;
    }
    *out = d;
    return LOOM_OK;
}

void dist_free(loom_dist *d) {
    if (!d) return;
    if (d->tp) comm_free(d->tp);
    free(d->last_stage);
    free(d->local_logits);
    free(d->mb_logit_tokens);
    free(d);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return p;
    void *q = realloc(p, need * elem);
    if (!q) comm_abort("out of memory for %zu bytes of parallel buffers", need * elem);
    *cap = need;
    return q;
}

/* Rank 0 puts each last-stage rank's vocab columns of the logits into their place. */
static void gather_logits(loom_dist *d, const loom_model *m, int32_t n_logits, float *logits) {
    const loom_shard *s = &m->shard;
    int last = shard_last_stage(s);
    if (n_logits == 0 || (d->rank != 0 && !last)) return;
    if (d->rank != 0) {
        comm_send(d->world, d->local_logits, (size_t)n_logits * s->vocab_size * sizeof(float), 0, TAG_LOGITS);
        return;
    }
    size_t vocab = (size_t)m->cfg.vocab_size;
    for (int32_t r = 0; r < s->tp_size; r++) {
        const loom_shard *from = &d->last_stage[r];
        size_t width = (size_t)from->vocab_size;
        int world_rank = (s->pp_size - 1) * s->tp_size + r;
        if (world_rank != 0) {
            d->local_logits = grow(d->local_logits, &d->local_cap, (size_t)n_logits * width, sizeof(float));
            comm_recv(d->world, d->local_logits, (size_t)n_logits * width * sizeof(float), world_rank, TAG_LOGITS);
        }
        for (int32_t i = 0; i < n_logits; i++)
            memcpy(logits + i * vocab + (size_t)from->vocab_begin, d->local_logits + i * width, width * sizeof(float));
    }
}

void dist_forward(loom_dist *d, const loom_model *m, loom_backend *be, const loom_kv_store *kv, loom_workspace *ws,
                  const loom_forward_batch *b, float *logits) {
    const loom_shard *s = &m->shard;
    size_t hidden = (size_t)m->cfg.hidden_size;
    int first = shard_first_stage(s), last = shard_last_stage(s);
    int32_t n = b->n_tokens, n_mb = s->pp_size > 1 ? 2 * s->pp_size : 1;
    if (n_mb > n) n_mb = n;
    if (last)
        d->local_logits = grow(d->local_logits, &d->local_cap, (size_t)b->n_logits * s->vocab_size, sizeof(float));
    d->mb_logit_tokens = grow(d->mb_logit_tokens, &d->mb_cap, (size_t)b->n_logits + 1, sizeof(int32_t));
    int32_t logit = 0; /* logit rows are in token order: micro-batch i owns the next ones */
    for (int32_t mb = 0; mb < n_mb; mb++) {
        int32_t t0 = (int32_t)((int64_t)n * mb / n_mb), t1 = (int32_t)((int64_t)n * (mb + 1) / n_mb);
        loom_forward_batch sub = *b;
        sub.n_tokens = t1 - t0;
        sub.tokens = b->tokens + t0;
        sub.pos = b->pos + t0;
        sub.seq_of_token = b->seq_of_token + t0;
        sub.slots = b->slots + t0;
        sub.n_logits = 0;
        sub.logit_tokens = d->mb_logit_tokens;
        while (logit + sub.n_logits < b->n_logits && b->logit_tokens[logit + sub.n_logits] < t1) {
            d->mb_logit_tokens[sub.n_logits] = b->logit_tokens[logit + sub.n_logits] - t0;
            sub.n_logits++;
        }
        loom_workspace view = *ws; /* the micro-batch's rows of the residual stream; scratch is shared */
        view.x = ws->x + (size_t)t0 * hidden;
        size_t x_bytes = (size_t)sub.n_tokens * hidden * sizeof(float);
        if (first) forward_embed(m, be, &view, &sub, d->tp);
        else comm_recv(d->world, view.x, x_bytes, d->rank - s->tp_size, TAG_ACTIVATIONS + mb);
        forward_layers(m, be, kv, &view, &sub, d->tp);
        if (!last) comm_send(d->world, view.x, x_bytes, d->rank + s->tp_size, TAG_ACTIVATIONS + mb);
        else if (sub.n_logits) forward_head(m, be, &view, &sub, d->local_logits + (size_t)logit * s->vocab_size);
        logit += sub.n_logits;
    }
    gather_logits(d, m, b->n_logits, logits);
}
