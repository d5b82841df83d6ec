/* The JSON body of POST /v1/completions and /v1/chat/completions → sampling parameters and the prompt
 * (text, token ids, or chat messages), validated, with OpenAI-shaped errors. The one parser of request
 * bodies the generation endpoints share (fuzzed by fuzz/fuzz_request.c). */
#ifndef LOOM_SERVER_REQUEST_H
#define LOOM_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "loom.h"
#include "server/api_error.h"

typedef enum srv_endpoint { SRV_COMPLETIONS = 0, SRV_CHAT } srv_endpoint;

/* One prompt of a completions request: text, or token ids given by the client (then text is NULL). */
typedef struct srv_prompt {
    char *text;
    size_t text_len;
    int32_t *ids;
    size_t n_ids;
} srv_prompt;

typedef struct srv_request_limits {
    int32_t vocab_size;    /* token ids (prompt, stop_token_ids, logit_bias) must be below this */
    int32_t max_model_len; /* tokens; max_tokens may not exceed it */
    int32_t max_prompts;   /* prompts in one completions request */
} srv_request_limits;

typedef struct srv_request {
    srv_endpoint endpoint;
    char *model;           /* NULL when not given */
    srv_prompt *prompts;   /* completions: n_prompts >= 1 */
    size_t n_prompts;
    char *messages_json;   /* chat: the messages array (contents flattened to strings), JSON text */
    int add_generation_prompt; /* chat; default 1 */
    int add_special_tokens;    /* completions default 1 (BOS), chat 0 (the template writes it) */
    int max_tokens_given;  /* 0: max_tokens is the default (chat: whatever the context leaves) */
    int stream, include_usage;
    loom_request_params params; /* all but the prompt; stop and logit_bias point into the storage below */
    char *stop_storage[LOOM_MAX_STOP_STRINGS];
    loom_logit_bias *logit_bias_storage;
    int64_t best_of;       /* -1 = not given; else must equal n */
    int chat_logprobs;     /* chat: "logprobs": true */
    int32_t top_logprobs;  /* chat: -1 = not given */
} srv_request;

/* Parses body (len bytes, not NUL-terminated). On failure returns -1 with e filled (400 for every
 * client mistake, 404 never: the model name is checked by the caller); *r is then already freed. */
int srv_request_parse(srv_endpoint endpoint, const char *body, size_t len, const srv_request_limits *lim,
                      srv_request *r, srv_error *e);
void srv_request_free(srv_request *r);

#endif
