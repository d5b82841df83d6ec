/* The JSON of completion and chat responses and stream chunks, as the OpenAI API shapes them. */
#ifndef LOOM_SERVER_OPENAI_FORMAT_H
#define LOOM_SERVER_OPENAI_FORMAT_H

#include <jansson.h>

#include "api/request.h"
#include "api/tool_calls.h"
#include "server/job.h"

typedef struct srv_reply_meta {
    api_shape endpoint;
    int chunk;      /* a stream chunk (chat: "delta" instead of "message") */
    const char *id; /* "cmpl-..." / "chatcmpl-..." */
    long long created_s;
    const char *model;
} srv_reply_meta;

/* {"id", "object", "created", "model", "choices"}; choices is stolen. */
json_t *srv_fmt_envelope(const srv_reply_meta *meta, json_t *choices);

/* One choice. text: the whole text (response) or the delta (chunk); logprobs stolen (NULL = null);
 * stop_reason as vLLM gives it: the stop string that matched, else the stop_token_ids entry (>= 0),
 * else null (EOS, length); with_role: chat chunks send the role in a choice's first delta. */
json_t *srv_fmt_choice(const srv_reply_meta *meta, int32_t index, const char *text, json_t *logprobs,
                       loom_finish_reason finish, const char *stop_reason, int32_t stop_token_id, int with_role);

/* The logprobs of an event's tokens: completions {"tokens", "token_logprobs", "top_logprobs",
 * "text_offset"}, chat {"content": [...]}. *text_offset_bytes: the choice's text so far, advanced. */
json_t *srv_fmt_logprobs(const loom_model *m, api_shape endpoint, const srv_event *ev, size_t *text_offset_bytes);
/* Appends every array member of part to the same member of acc (one response from many events). */
void srv_fmt_logprobs_extend(json_t *acc, const json_t *part);

json_t *srv_fmt_usage(long long prompt_tokens, long long completion_tokens);

/* Tool calls in a chat choice made by srv_fmt_choice: its message (or delta) gets `content` (NULL: null
 * in a message, left out of a delta) and `tool_calls` (stolen; NULL: none), and finish_reason becomes
 * "tool_calls" when called is set. */
void srv_fmt_set_tool_calls(json_t *choice, const char *content, json_t *tool_calls, int called);
/* A stream's tool_calls deltas ([{"index", "id", "type", "function": {"name", "arguments"}}], id, type
 * and name only in a call's first), or NULL when d has none. */
json_t *srv_fmt_tool_call_deltas(const api_tool_delta *d);

#endif
