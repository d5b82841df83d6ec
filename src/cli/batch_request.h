/* `loom batch` input: one JSON object per line, read with the request schema the server uses
 * (src/api/request.h, shape API_BATCH), turned into engine requests. */
#ifndef LOOM_CLI_BATCH_REQUEST_H
#define LOOM_CLI_BATCH_REQUEST_H

#include <stddef.h>

#include "api/request.h"
#include "loom.h"

typedef struct batch_request {
    api_request req;            /* the parsed line: stop strings and logit_bias live here */
    loom_request_params params; /* req.params with the prompt */
    int32_t *prompt_ids;
    size_t line; /* 1-based line number in the input */
} batch_request;

typedef struct batch_request_list {
    batch_request *items;
    size_t n;
} batch_request_list;

/* Parses every non-empty line; a malformed line fails with "FILE:LINE: what is wrong". Fields a line
 * leaves out take the model's sampling defaults (loom_model_sampling_defaults), as in `loom serve`.
 * Unknown fields are ignored with one warning on stderr per name. Text prompts are tokenized with the
 * model's tokenizer (BOS as the tokenizer config says, unless "add_special_tokens": false). */
loom_status batch_requests_read(const char *path, loom_model *model, batch_request_list *out, loom_error *err);
void batch_requests_free(batch_request_list *l);
/* An error of loom_engine_add_request about r: its message prefixed with the request field it is about
 * ("response_format: json schema: ..."), unless it starts with that field already. */
void batch_error_name_field(const api_request *r, loom_error *err);
/* Prefixes err's message with "input line N: ". */
void batch_error_at_line(loom_error *err, size_t line);

#endif
