/* What request.c's field table shares with the parsers of its larger fields: structured outputs
 * (request_constraint.c) and tools (request_tools.c). */
#ifndef LOOM_API_REQUEST_INTERNAL_H
#define LOOM_API_REQUEST_INTERNAL_H

#include <jansson.h>

#include "api/request.h"

typedef enum field_kind { F_FLOAT, F_INT32, F_BOOL, F_CUSTOM } field_kind;

/* What the parsers need beyond api_request: values whose meaning depends on other fields. */
typedef struct parse_state {
    api_request *r;
    size_t max_prompts;   /* in one completions request */
    int64_t best_of;      /* -1 = not given */
    int chat_logprobs;    /* chat: "logprobs": true */
    int32_t top_logprobs; /* chat: -1 = not given */
    int add_generation_prompt_given;
    int max_completion_tokens_given;
    int stream_options_given;
    int tool_choice_given;
} parse_state;

typedef struct field field;
typedef int (*field_parser)(parse_state *ps, const field *f, json_t *v, api_error *e);

struct field {
    const char *name;
    int shapes;
    field_kind kind;
    size_t offset;       /* into api_request, for F_FLOAT (float), F_INT32 (int32_t), F_BOOL (int) */
    field_parser parse;  /* F_CUSTOM; for the others an optional follow-up */
    const char *neutral; /* for unsupported(): the JSON of the one accepted non-empty value, or NULL */
};

int api_oom(api_error *e); /* a 503 "out of memory"; returns -1 */
int api_add_ignored(api_request *r, const char *name);

/* Structured outputs (request_constraint.c): response_format, structured_outputs, guided_json /
 * guided_regex / guided_choice / guided_grammar, llama-server's grammar / json_schema. Each sets
 * r->params.constraint through api_set_constraint, which refuses a second one naming both fields. */
int api_parse_response_format(parse_state *ps, const field *f, json_t *v, api_error *e);
int api_parse_structured_outputs(parse_state *ps, const field *f, json_t *v, api_error *e);
int api_parse_guided(parse_state *ps, const field *f, json_t *v, api_error *e);
int api_set_constraint(api_request *r, const char *field, loom_constraint_kind kind, char *spec, api_error *e);

/* Tools (request_tools.c): tools, tool_choice, and the tool calls of assistant messages. */
int api_parse_tools(parse_state *ps, const field *f, json_t *v, api_error *e);
int api_parse_tool_choice(parse_state *ps, const field *f, json_t *v, api_error *e);
/* The rules spanning tools and tool_choice, after every field. */
int api_check_tools(parse_state *ps, api_error *e);
/* messages[i] (a copy the parser owns): each tool call's arguments as a JSON object, the way chat
 * templates read them (transformers' convention; vLLM converts the same way), with the calls checked. */
int api_message_tool_calls(json_t *message, size_t i, api_error *e);

#endif
