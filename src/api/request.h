/* The request schema loom's two front-ends share: the JSON of an OpenAI / vLLM request (the body of
 * POST /v1/completions and /v1/chat/completions, a line of `loom batch`) -> loom_request_params plus the
 * prompt (text, token ids, or chat messages). Depends on loom.h and jansson only, like the front-ends.
 *
 * What is checked where: the parser checks types (a number where a number belongs, a token id that fits
 * an int32, at most LOOM_MAX_STOP_STRINGS stop strings ...), reads structured outputs into
 * params.constraint (one per request) and tools into `tools`, and refuses known fields whose value loom
 * does not support (echo, beam search ...); every range (temperature >= 0, n in [1, 128],
 * token ids inside the vocabulary ...) is loom_engine_add_request's, whose message names the field:
 * api_fail_from_engine turns it into a 400 with that param. A field the schema does not know is ignored
 * and listed in api_request.ignored (vLLM's rule), except the prompt field of another shape ("messages"
 * in a completions request), which is an error. JSON null means "not given" for every optional field. */
#ifndef LOOM_API_REQUEST_H
#define LOOM_API_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "api/api_error.h"
#include "loom.h"

typedef enum api_shape {
    API_COMPLETIONS = 0, /* POST /v1/completions */
    API_CHAT,            /* POST /v1/chat/completions */
    API_BATCH,           /* a `loom batch` line: completions fields plus "prompt_ids" and one prompt */
} api_shape;

/* Chat tools: what tool_choice asks for. */
typedef enum api_tool_choice {
    API_TOOL_CHOICE_NONE = 0, /* no tools, or "none": the output is not read for tool calls */
    API_TOOL_CHOICE_AUTO,     /* the default with tools: the model may call them */
    API_TOOL_CHOICE_REQUIRED, /* at least one call */
    API_TOOL_CHOICE_NAMED,    /* {"type": "function", "function": {"name"}}: a call of that function */
} api_tool_choice;

typedef struct api_tools {
    char *tools_json; /* the request's tools (JSON array of {"type": "function", "function": {...}}), or NULL */
    size_t n_tools;
    api_tool_choice choice;
    char *named;  /* API_TOOL_CHOICE_NAMED: the function's name */
    int parallel; /* parallel_tool_calls: more than one call in an answer (default 1) */
} api_tools;

/* One prompt: text, or token ids given by the client (then text is NULL). */
typedef struct api_prompt {
    char *text;
    size_t text_len;
    int32_t *ids;
    size_t n_ids;
} api_prompt;

typedef struct api_request {
    api_shape shape;
    char *model;         /* NULL when not given */
    api_prompt *prompts; /* completions, batch: n_prompts >= 1 (batch: exactly 1) */
    size_t n_prompts;
    char *messages_json;            /* chat: the messages (contents flattened to strings), JSON text */
    loom_chat_template_params chat; /* chat: kwargs_json points to chat_kwargs_json */
    char *chat_kwargs_json;         /* chat_template_kwargs as JSON text, or NULL */
    int add_special_tokens;         /* completions / batch default 1 (BOS), chat 0 (the template has it) */
    int max_tokens_given;           /* 0: params.max_tokens is the default (chat: the caller picks one) */
    const char *max_tokens_field;   /* the name it came by: "max_tokens" or "max_completion_tokens" */
    int stream, include_usage;
    loom_request_params params;   /* all but the prompt; stop and logit_bias point into the storage below */
    char *constraint_spec;        /* params.constraint.spec */
    const char *constraint_field; /* the field the constraint came from (an error's param), NULL: none */
    api_tools tools;              /* chat */
    char *stop_storage[LOOM_MAX_STOP_STRINGS];
    loom_logit_bias *logit_bias_storage;
    char **ignored; /* the fields ignored, in body order (nested ones as "a.b") */
    size_t n_ignored;
} api_request;

/* Parses body (len bytes, not NUL-terminated). defaults: the sampling values of fields the request
 * leaves out (NULL: loom_sampling_default_params); max_prompts bounds a completions request's prompt
 * list. On failure returns -1 with e filled (400, or 503 when out of memory) and *r already freed. */
int api_request_parse(api_shape shape, const char *body, size_t len, const loom_sampling_params *defaults,
                      size_t max_prompts, api_request *r, api_error *e);
void api_request_free(api_request *r);

/* A known field of the shape within two edits of name ("temprature" -> "temperature"), or NULL. */
const char *api_suggest_field(api_shape shape, const char *name);

/* An error of loom_engine_add_request / loom_engine_validate_request about r as the client sees it: 400
 * for an invalid or unsupported value (503 out of memory, 500 otherwise), param = the request field the
 * message starts with, under the name the client used (max_completion_tokens, top_logprobs, messages).
 * Returns -1. */
int api_fail_from_engine(api_error *e, const api_request *r, loom_status status, const char *message);

#endif
