/* `loom batch` input: one JSON object per line, turned into engine requests. */
#ifndef LOOM_CLI_BATCH_REQUEST_H
#define LOOM_CLI_BATCH_REQUEST_H

#include <stddef.h>

#include "loom.h"

typedef struct batch_request {
    loom_request_params params; /* points into the owned fields below */
    int32_t *prompt_ids;
    char *stop[LOOM_MAX_STOP_STRINGS];
    loom_logit_bias *logit_bias;
    size_t line;                /* 1-based line number in the input */
} batch_request;

typedef struct batch_request_list {
    batch_request *items;
    size_t n;
} batch_request_list;

/* Parses every non-empty line; a malformed line fails with "FILE:LINE: what is wrong". Text prompts
 * are tokenized with the model's tokenizer (special tokens added as the tokenizer config says). */
loom_status batch_requests_read(const char *path, loom_model *model, batch_request_list *out, loom_error *err);
void batch_requests_free(batch_request_list *l);
/* Prefixes err's message with "input line N: ". */
void batch_error_at_line(loom_error *err, size_t line);

#endif
