/* Response and chunk JSON for the completions and chat endpoints. */
#include <stdlib.h>
#include <string.h>

#include "server/openai_format.h"
#include "server/server_internal.h"

static const char *object_name(const srv_reply_meta *meta) {
    if (meta->endpoint == API_COMPLETIONS) return "text_completion";
    return meta->chunk ? "chat.completion.chunk" : "chat.completion";
}

json_t *srv_fmt_envelope(const srv_reply_meta *meta, json_t *choices) {
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", meta->id, "object", object_name(meta), "created",
                     (json_int_t)meta->created_s, "model", meta->model, "choices", choices);
}

static json_t *finish_name(loom_finish_reason f) {
    switch (f) {
        case LOOM_FINISH_NONE: return json_null();
        case LOOM_FINISH_STOP: return json_string("stop");
        case LOOM_FINISH_LENGTH: return json_string("length");
        case LOOM_FINISH_ABORT: return json_string("abort");
        case LOOM_FINISH_ERROR: break;
    }
    return json_string("error");
}

static json_t *stop_reason_json(const char *stop_string, int32_t stop_token_id) {
    if (stop_string) return json_string(stop_string);
    return stop_token_id >= 0 ? json_integer(stop_token_id) : json_null();
}

json_t *srv_fmt_choice(const srv_reply_meta *meta, int32_t index, const char *text, json_t *logprobs,
                       loom_finish_reason finish, const char *stop_reason, int32_t stop_token_id, int with_role) {
    json_t *lp = logprobs ? logprobs : json_null(), *why = stop_reason_json(stop_reason, stop_token_id);
    if (meta->endpoint == API_COMPLETIONS)
        return json_pack("{s:i, s:s, s:o, s:o, s:o}", "index", index, "text", text, "logprobs", lp, "finish_reason",
                         finish_name(finish), "stop_reason", why);
    json_t *message = json_pack("{s:s}", "content", text);
    if (message && (with_role || !meta->chunk)) json_object_set_new(message, "role", json_string("assistant"));
    return json_pack("{s:i, s:o, s:o, s:o, s:o}", "index", index, meta->chunk ? "delta" : "message", message,
                     "logprobs", lp, "finish_reason", finish_name(finish), "stop_reason", why);
}

static json_t *utf8_bytes(const char *s) {
    json_t *a = json_array();
    for (const unsigned char *p = (const unsigned char *)s; a && *p; p++) json_array_append_new(a, json_integer(*p));
    return a;
}

/* {"token", "logprob", "bytes"} for chat. */
static json_t *chat_token(const char *piece, float logprob) {
    return json_pack("{s:s, s:f, s:o}", "token", piece, "logprob", (double)logprob, "bytes", utf8_bytes(piece));
}

static json_t *chat_logprobs(const loom_model *m, const srv_event *ev) {
    json_t *content = json_array();
    for (int32_t i = 0; content && i < ev->n_new; i++) {
        const loom_token_logprob *t = &ev->logprobs[i];
        char *piece = srv_token_piece(m, t->id);
        json_t *entry = chat_token(piece ? piece : "", t->logprob), *top = json_array();
        free(piece);
        for (int32_t k = 0; top && k < t->n_top; k++) {
            char *alt = srv_token_piece(m, t->top_ids[k]);
            json_array_append_new(top, chat_token(alt ? alt : "", t->top_logprobs[k]));
            free(alt);
        }
        json_object_set_new(entry, "top_logprobs", top);
        json_array_append_new(content, entry);
    }
    return json_pack("{s:o}", "content", content);
}

static json_t *completion_logprobs(const loom_model *m, const srv_event *ev, size_t *text_offset_bytes) {
    json_t *tokens = json_array(), *lps = json_array(), *tops = json_array(), *offsets = json_array();
    for (int32_t i = 0; i < ev->n_new; i++) {
        const loom_token_logprob *t = &ev->logprobs[i];
        char *piece = srv_token_piece(m, t->id);
        json_array_append_new(tokens, json_string(piece ? piece : ""));
        json_array_append_new(lps, json_real(t->logprob));
        json_array_append_new(offsets, json_integer((json_int_t)*text_offset_bytes));
        *text_offset_bytes += piece ? strlen(piece) : 0;
        free(piece);
        json_t *top = json_object();
        for (int32_t k = 0; top && k < t->n_top; k++) {
            char *alt = srv_token_piece(m, t->top_ids[k]);
            if (alt && !json_object_get(top, alt)) json_object_set_new(top, alt, json_real(t->top_logprobs[k]));
            free(alt);
        }
        json_array_append_new(tops, top);
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops,
                     "text_offset", offsets);
}

json_t *srv_fmt_logprobs(const loom_model *m, api_shape endpoint, const srv_event *ev, size_t *text_offset_bytes) {
    if (!ev->logprobs && ev->n_new > 0) return NULL;
    return endpoint == API_CHAT ? chat_logprobs(m, ev) : completion_logprobs(m, ev, text_offset_bytes);
}

void srv_fmt_logprobs_extend(json_t *acc, const json_t *part) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)part, key, v) {
        json_t *into = json_object_get(acc, key);
        if (json_is_array(into)) json_array_extend(into, v);
    }
}

json_t *srv_fmt_usage(long long prompt_tokens, long long completion_tokens) {
    return json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)prompt_tokens, "completion_tokens",
                     (json_int_t)completion_tokens, "total_tokens", (json_int_t)(prompt_tokens + completion_tokens));
}

void srv_fmt_set_tool_calls(json_t *choice, const char *content, json_t *tool_calls, int called) {
    json_t *message = json_object_get(choice, "delta");
    int chunk = message != NULL;
    if (!chunk) message = json_object_get(choice, "message");
    if (content) json_object_set_new(message, "content", json_string(content));
    else if (chunk) json_object_del(message, "content");
    else json_object_set_new(message, "content", json_null());
    if (tool_calls) json_object_set_new(message, "tool_calls", tool_calls);
    if (called) json_object_set_new(choice, "finish_reason", json_string("tool_calls"));
}

json_t *srv_fmt_tool_call_deltas(const api_tool_delta *d) {
    if (!d->n_calls) return NULL;
    json_t *calls = json_array();
    for (size_t i = 0; calls && i < d->n_calls; i++) {
        const api_tool_call_delta *c = &d->calls[i];
        json_t *fn = json_pack("{s:s}", "arguments", c->arguments ? c->arguments : "");
        json_t *call = json_pack("{s:i}", "index", c->index);
        if (c->name) {
            json_object_set_new(call, "id", json_string(c->id));
            json_object_set_new(call, "type", json_string("function"));
            json_object_set_new(fn, "name", json_string(c->name));
        }
        json_object_set_new(call, "function", fn);
        json_array_append_new(calls, call);
    }
    return calls;
}
