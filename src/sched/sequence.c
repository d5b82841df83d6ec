/* Sequence lifetime and token storage. */
#include <stdlib.h>
#include <string.h>

#include "sched/sequence.h"

loom_status seq_create(uint64_t request_id, int32_t seq_index, const int32_t *prompt, int32_t n_prompt,
                       int32_t max_total_tokens, loom_seq **out, loom_error *err) {
    *out = NULL;
    if (n_prompt <= 0 || max_total_tokens < n_prompt)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "sequence of %d prompt tokens cannot hold %d in total", n_prompt,
                         max_total_tokens);
    loom_seq *s = calloc(1, sizeof *s);
    int32_t *tokens = malloc((size_t)max_total_tokens * sizeof *tokens);
    if (!s || !tokens) {
        free(s);
        free(tokens);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory for a sequence of %d tokens", max_total_tokens);
    }
    memcpy(tokens, prompt, (size_t)n_prompt * sizeof *tokens);
    s->request_id = request_id;
    s->seq_index = seq_index;
    s->tokens = tokens;
    s->n_tokens = s->n_prompt = n_prompt;
    s->capacity_tokens = max_total_tokens;
    *out = s;
    return LOOM_OK;
}

void seq_destroy(loom_seq *s) {
    if (!s) return;
    free(s->tokens);
    free(s->swap_slots);
    block_table_free(&s->table);
    free(s);
}

int seq_append(loom_seq *s, int32_t id) {
    if (s->n_tokens >= s->capacity_tokens) return -1;
    s->tokens[s->n_tokens++] = id;
    return 0;
}
