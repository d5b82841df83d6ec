/* Request JSON -> api_request. Every field loom knows is one row of `fields` (name, the shapes that take
 * it, its kind, where it goes); rows with `unsupported` refuse any value but the neutral one (null, false,
 * "", [], {} or the row's own). Everything else is ignored and listed (request.h). */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/request_internal.h"

enum { C = 1 << API_COMPLETIONS, H = 1 << API_CHAT, B = 1 << API_BATCH, ALL = C | H | B };

#define PARAMS(member) (offsetof(api_request, params) + offsetof(loom_request_params, member))
#define SAMPLING(member) (PARAMS(sampling) + offsetof(loom_sampling_params, member))
#define REQ(member) offsetof(api_request, member)

int api_oom(api_error *e) { return api_fail(e, 503, NULL, "out of memory"); }

static char *dup_string(json_t *v) { return strndup(json_string_value(v), json_string_length(v)); }

static int parse_model(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_string(v)) return api_fail(e, 400, "model", "model must be a string");
    return (ps->r->model = dup_string(v)) ? 0 : api_oom(e);
}

int api_add_ignored(api_request *r, const char *name) {
    char **grown = realloc(r->ignored, (r->n_ignored + 1) * sizeof *grown);
    if (!grown) return -1;
    r->ignored = grown;
    if (!(r->ignored[r->n_ignored] = strdup(name))) return -1;
    r->n_ignored++;
    return 0;
}

static int parse_stream_options(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_object(v)) return api_fail(e, 400, "stream_options", "stream_options must be an object");
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        if (strcmp(key, "include_usage") != 0 && strcmp(key, "continuous_usage_stats") != 0) {
            char name[160];
            snprintf(name, sizeof name, "stream_options.%.128s", key);
            if (api_add_ignored(ps->r, name)) return api_oom(e);
        } else if (!json_is_boolean(x) && !json_is_null(x)) {
            return api_fail(e, 400, "stream_options", "stream_options.%s must be a boolean", key);
        }
    }
    ps->r->include_usage = json_is_true(json_object_get(v, "include_usage"));
    ps->stream_options_given = 1;
    return 0;
}

static int int32_value(const field *f, json_t *v, int32_t *out, api_error *e) {
    if (!json_is_integer(v)) return api_fail(e, 400, f->name, "%s must be an integer", f->name);
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX) return api_fail(e, 400, f->name, "%s must be a 32-bit integer", f->name);
    *out = (int32_t)x;
    return 0;
}

/* max_completion_tokens (chat) wins over max_tokens, whichever comes first in the body. */
static int parse_max_tokens(parse_state *ps, const field *f, json_t *v, api_error *e) {
    int32_t n;
    if (int32_value(f, v, &n, e)) return -1;
    int newer = strcmp(f->name, "max_completion_tokens") == 0;
    if (newer) ps->max_completion_tokens_given = 1;
    else if (ps->max_completion_tokens_given) return 0;
    ps->r->params.max_tokens = n;
    ps->r->max_tokens_given = 1;
    ps->r->max_tokens_field = f->name;
    return 0;
}

static int parse_seed(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_integer(v)) return api_fail(e, 400, "seed", "seed must be an integer");
    ps->r->params.sampling.seed = (uint64_t)json_integer_value(v);
    ps->r->params.sampling.has_seed = 1;
    return 0;
}

static int parse_stop(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_request *r = ps->r;
    json_t *one = json_is_string(v) ? v : NULL;
    size_t n = one ? 1 : json_array_size(v);
    if (!one && !json_is_array(v)) return api_fail(e, 400, "stop", "stop must be a string or a list of strings");
    if (n > LOOM_MAX_STOP_STRINGS) return api_fail(e, 400, "stop", "at most %d stop strings", LOOM_MAX_STOP_STRINGS);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return api_fail(e, 400, "stop", "stop must be a string or a list of strings");
        if (!(r->stop_storage[i] = dup_string(s))) return api_oom(e);
        r->params.stop[i] = r->stop_storage[i];
        r->params.n_stop = (int32_t)(i + 1);
    }
    return 0;
}

/* A token id: an integer that fits an int32 (the engine checks it against the vocabulary). */
static int token_id(json_t *v, const char *param, int32_t *out, api_error *e) {
    if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN || json_integer_value(v) > INT32_MAX)
        return api_fail(e, 400, param, "%s must hold integer token ids", param);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static int parse_stop_token_ids(parse_state *ps, const field *f, json_t *v, api_error *e) {
    loom_request_params *p = &ps->r->params;
    if (!json_is_array(v)) return api_fail(e, 400, "stop_token_ids", "stop_token_ids must be a list of integers");
    if (json_array_size(v) > LOOM_MAX_STOP_TOKEN_IDS)
        return api_fail(e, 400, "stop_token_ids", "at most %d stop_token_ids", LOOM_MAX_STOP_TOKEN_IDS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (token_id(json_array_get(v, i), "stop_token_ids", &p->stop_token_ids[i], e)) return -1;
        p->n_stop_token_ids = (int32_t)(i + 1);
    }
    return 0;
}

/* A JSON number as a float; beyond float's range it is +-inf (the engine refuses it by name). */
static float to_float(double d) { return d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d; }

/* {"token id": bias, ...}: keys are decimal integers, values numbers. */
static int parse_logit_bias(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_request *r = ps->r;
    if (!json_is_object(v)) return api_fail(e, 400, "logit_bias", "logit_bias must be an object {\"token id\": bias}");
    size_t n = json_object_size(v);
    if (!(r->logit_bias_storage = calloc(n ? n : 1, sizeof *r->logit_bias_storage))) return api_oom(e);
    const char *key;
    json_t *x;
    int32_t k = 0;
    json_object_foreach(v, key, x) {
        char *end = NULL;
        long long id = strtoll(key, &end, 10);
        if (!key[0] || *end || id < INT32_MIN || id > INT32_MAX || !json_is_number(x))
            return api_fail(e, 400, "logit_bias", "logit_bias must map token ids (\"123\") to numbers");
        r->logit_bias_storage[k++] = (loom_logit_bias){.id = (int32_t)id, .bias = to_float(json_number_value(x))};
    }
    r->params.sampling.logit_bias = r->logit_bias_storage;
    r->params.sampling.n_logit_bias = k;
    return 0;
}

static int parse_best_of(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_integer(v)) return api_fail(e, 400, "best_of", "best_of must be an integer");
    ps->best_of = json_integer_value(v);
    return 0;
}

static int parse_chat_logprobs(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_boolean(v))
        return api_fail(e, 400, "logprobs", "logprobs must be a boolean (top_logprobs says how many)");
    ps->chat_logprobs = json_is_true(v);
    return 0;
}

static int parse_top_logprobs(parse_state *ps, const field *f, json_t *v, api_error *e) {
    return int32_value(f, v, &ps->top_logprobs, e);
}

static int generation_prompt_given(parse_state *ps, const field *f, json_t *v, api_error *e) {
    ps->add_generation_prompt_given = 1;
    return 0;
}

static int parse_chat_template_kwargs(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_object(v)) return api_fail(e, 400, f->name, "chat_template_kwargs must be an object");
    return (ps->r->chat_kwargs_json = json_dumps(v, JSON_COMPACT)) ? 0 : api_oom(e);
}

/* A known field loom does not implement: only its neutral value is accepted. */
static int unsupported(parse_state *ps, const field *f, json_t *v, api_error *e) {
    int neutral = json_is_false(v) || (json_is_string(v) && json_string_length(v) == 0) ||
        (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
    if (!neutral && f->neutral) {
        json_t *want = json_loads(f->neutral, JSON_DECODE_ANY, NULL);
        neutral = json_equal(v, want);
        json_decref(want);
    }
    if (neutral) return 0;
    if (f->neutral) return api_fail(e, 400, f->name, "%s: only %s is supported", f->name, f->neutral);
    return api_fail(e, 400, f->name, "%s is not supported", f->name);
}

static int add_prompt(api_request *r, api_prompt p) {
    r->prompts[r->n_prompts++] = p;
    return 0;
}

/* A list of token ids -> one prompt. */
static int ids_prompt(api_request *r, json_t *arr, const char *param, api_error *e) {
    size_t n = json_array_size(arr);
    api_prompt p = {.n_ids = n};
    if (!(p.ids = malloc((n ? n : 1) * sizeof *p.ids))) return api_oom(e);
    add_prompt(r, p);
    for (size_t i = 0; i < n; i++)
        if (token_id(json_array_get(arr, i), param, &p.ids[i], e)) return -1;
    return 0;
}

static int text_prompt(api_request *r, json_t *s, api_error *e) {
    api_prompt p = {.text_len = json_string_length(s)};
    if (!(p.text = malloc(p.text_len + 1))) return api_oom(e);
    memcpy(p.text, json_string_value(s), p.text_len + 1);
    return add_prompt(r, p);
}

static int alloc_prompts(api_request *r, size_t n, api_error *e) {
    if (r->prompts) return api_fail(e, 400, "prompt", "give either 'prompt' or 'prompt_ids', not both");
    return (r->prompts = calloc(n ? n : 1, sizeof *r->prompts)) ? 0 : api_oom(e);
}

/* prompt: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] */
static int parse_prompt(parse_state *ps, const field *f, json_t *v, api_error *e) {
    api_request *r = ps->r;
    if (!json_is_string(v) && !json_is_array(v))
        return api_fail(e, 400, "prompt", "prompt must be a string, a list of strings, or token ids");
    json_t *first = json_array_get(v, 0);
    int one = json_is_string(v) || json_array_size(v) == 0 || json_is_integer(first);
    size_t n = one ? 1 : json_array_size(v), max = r->shape == API_BATCH ? 1 : ps->max_prompts;
    if (n > max)
        return r->shape == API_BATCH ? api_fail(e, 400, "prompt", "one prompt per line")
                                     : api_fail(e, 400, "prompt", "at most %zu prompts in one request", max);
    if (alloc_prompts(r, n, e)) return -1;
    if (json_is_string(v)) return text_prompt(r, v, e);
    if (one) return ids_prompt(r, v, "prompt", e);
    int strings = json_is_string(first);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (strings ? !json_is_string(x) : !json_is_array(x))
            return api_fail(e, 400, "prompt", "prompt must be a string, a list of strings, or token ids");
        if (strings ? text_prompt(r, x, e) : ids_prompt(r, x, "prompt", e)) return -1;
    }
    return 0;
}

static int parse_prompt_ids(parse_state *ps, const field *f, json_t *v, api_error *e) {
    if (!json_is_array(v)) return api_fail(e, 400, "prompt_ids", "prompt_ids must be a list of token ids");
    return alloc_prompts(ps->r, 1, e) ? -1 : ids_prompt(ps->r, v, "prompt_ids", e);
}

/* content: "text" | null | [{"type": "text", "text": "..."}, ...] -> one string (parts joined by "\n",
 * as vLLM does for templates that expect string contents). */
static json_t *flatten_content(json_t *content, api_error *e) {
    if (json_is_string(content) || json_is_null(content)) return json_incref(content);
    if (!json_is_array(content))
        return api_fail(e, 400, "messages", "message content must be a string or a list of text parts"), NULL;
    size_t total = 0, n = json_array_size(content);
    for (size_t i = 0; i < n; i++) {
        json_t *part = json_array_get(content, i), *type = json_object_get(part, "type"),
               *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(text))
            return api_fail(e, 400, "messages", "only content parts of type \"text\" are supported"), NULL;
        total += json_string_length(text) + 1;
    }
    char *joined = malloc(total + 1), *w = joined;
    if (!joined) return api_oom(e), NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *text = json_object_get(json_array_get(content, i), "text");
        if (i) *w++ = '\n';
        memcpy(w, json_string_value(text), json_string_length(text));
        w += json_string_length(text);
    }
    json_t *s = json_stringn(joined, (size_t)(w - joined));
    free(joined);
    return s ? s : (api_fail(e, 400, "messages", "message content holds a NUL character"), NULL);
}

static int parse_messages(parse_state *ps, const field *f, json_t *v, api_error *e) {
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0) return api_fail(e, 400, "messages", "messages must be a non-empty list");
    json_t *out = json_array();
    int rc = out ? 0 : api_oom(e);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *m = json_array_get(v, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role) || json_string_length(role) == 0) {
            rc = api_fail(e, 400, "messages", "messages[%zu] must be an object with a string 'role'", i);
            break;
        }
        json_t *content =
            flatten_content(json_object_get(m, "content") ? json_object_get(m, "content") : json_null(), e);
        json_t *copy = content ? json_copy(m) : NULL;
        if (!copy || json_object_set_new(copy, "content", content)) rc = content ? api_oom(e) : -1;
        else if (!(rc = api_message_tool_calls(copy, i, e)) && json_array_append(out, copy)) rc = api_oom(e);
        if (!copy) json_decref(content);
        json_decref(copy);
    }
    if (rc == 0 && !(ps->r->messages_json = json_dumps(out, JSON_COMPACT))) rc = api_oom(e);
    json_decref(out);
    return rc;
}

static const field fields[] = {
    {"model", C | H, F_CUSTOM, 0, parse_model, NULL},
    {"prompt", C | B, F_CUSTOM, 0, parse_prompt, NULL},
    {"prompt_ids", B, F_CUSTOM, 0, parse_prompt_ids, NULL},
    {"messages", H, F_CUSTOM, 0, parse_messages, NULL},
    {"stream", C | H, F_BOOL, REQ(stream), NULL, NULL},
    {"stream_options", C | H, F_CUSTOM, 0, parse_stream_options, NULL},
    {"max_tokens", ALL, F_CUSTOM, 0, parse_max_tokens, NULL},
    {"max_completion_tokens", H, F_CUSTOM, 0, parse_max_tokens, NULL},
    {"min_tokens", ALL, F_INT32, PARAMS(min_tokens), NULL, NULL},
    {"temperature", ALL, F_FLOAT, SAMPLING(temperature), NULL, NULL},
    {"top_p", ALL, F_FLOAT, SAMPLING(top_p), NULL, NULL},
    {"top_k", ALL, F_INT32, SAMPLING(top_k), NULL, NULL},
    {"min_p", ALL, F_FLOAT, SAMPLING(min_p), NULL, NULL},
    {"presence_penalty", ALL, F_FLOAT, SAMPLING(presence_penalty), NULL, NULL},
    {"frequency_penalty", ALL, F_FLOAT, SAMPLING(frequency_penalty), NULL, NULL},
    {"repetition_penalty", ALL, F_FLOAT, SAMPLING(repetition_penalty), NULL, NULL},
    {"n", ALL, F_INT32, PARAMS(n), NULL, NULL},
    {"best_of", C | B, F_CUSTOM, 0, parse_best_of, NULL},
    {"seed", ALL, F_CUSTOM, 0, parse_seed, NULL},
    {"stop", ALL, F_CUSTOM, 0, parse_stop, NULL},
    {"stop_token_ids", ALL, F_CUSTOM, 0, parse_stop_token_ids, NULL},
    {"include_stop_str_in_output", ALL, F_BOOL, PARAMS(include_stop_str_in_output), NULL, NULL},
    {"ignore_eos", ALL, F_BOOL, PARAMS(ignore_eos), NULL, NULL},
    {"skip_special_tokens", ALL, F_BOOL, PARAMS(skip_special_tokens), NULL, NULL},
    {"logit_bias", ALL, F_CUSTOM, 0, parse_logit_bias, NULL},
    {"logprobs", C | B, F_INT32, PARAMS(logprobs), NULL, NULL},
    {"logprobs", H, F_CUSTOM, 0, parse_chat_logprobs, NULL},
    {"top_logprobs", H, F_CUSTOM, 0, parse_top_logprobs, NULL},
    {"prompt_logprobs", ALL, F_INT32, PARAMS(prompt_logprobs), NULL, NULL},
    {"priority", ALL, F_INT32, PARAMS(priority), NULL, NULL},
    {"add_special_tokens", ALL, F_BOOL, REQ(add_special_tokens), NULL, NULL},
    {"add_generation_prompt", H, F_BOOL, REQ(chat.add_generation_prompt), generation_prompt_given, NULL},
    {"continue_final_message", H, F_BOOL, REQ(chat.continue_final_message), NULL, NULL},
    {"chat_template_kwargs", H, F_CUSTOM, 0, parse_chat_template_kwargs, NULL},
    /* structured outputs (request_constraint.c) */
    {"response_format", ALL, F_CUSTOM, 0, api_parse_response_format, NULL},
    {"structured_outputs", ALL, F_CUSTOM, 0, api_parse_structured_outputs, NULL},
    {"guided_json", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    {"guided_regex", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    {"guided_choice", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    {"guided_grammar", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    {"grammar", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    {"json_schema", ALL, F_CUSTOM, 0, api_parse_guided, NULL},
    /* tools (request_tools.c) */
    {"tools", H, F_CUSTOM, 0, api_parse_tools, NULL},
    {"tool_choice", H, F_CUSTOM, 0, api_parse_tool_choice, NULL},
    {"parallel_tool_calls", H, F_BOOL, REQ(tools.parallel), NULL, NULL},
    /* known, not implemented: only the neutral value passes */
    {"echo", C | B, F_CUSTOM, 0, unsupported, NULL},
    {"suffix", C, F_CUSTOM, 0, unsupported, NULL},
    {"chat_template", H, F_CUSTOM, 0, unsupported, NULL},
    {"functions", H, F_CUSTOM, 0, unsupported, NULL},
    {"function_call", H, F_CUSTOM, 0, unsupported, "\"none\""},
    {"modalities", H, F_CUSTOM, 0, unsupported, "[\"text\"]"},
    {"audio", H, F_CUSTOM, 0, unsupported, NULL},
    {"prediction", H, F_CUSTOM, 0, unsupported, NULL},
    {"web_search_options", H, F_CUSTOM, 0, unsupported, NULL},
    {"guided_whitespace_pattern", ALL, F_CUSTOM, 0, unsupported, NULL},
    {"use_beam_search", ALL, F_CUSTOM, 0, unsupported, NULL},
    {"truncate_prompt_tokens", ALL, F_CUSTOM, 0, unsupported, NULL},
    {"bad_words", ALL, F_CUSTOM, 0, unsupported, NULL},
    {"allowed_token_ids", ALL, F_CUSTOM, 0, unsupported, NULL},
    {"prompt_embeds", C, F_CUSTOM, 0, unsupported, NULL},
};

#define N_FIELDS (sizeof fields / sizeof fields[0])

static const field *find_field(const char *name, api_shape shape) {
    for (size_t i = 0; i < N_FIELDS; i++)
        if ((fields[i].shapes & (1 << shape)) && strcmp(fields[i].name, name) == 0) return &fields[i];
    return NULL;
}

/* The prompt of another shape: sending it means the request went to the wrong place. */
static int wrong_prompt_field(api_shape shape, const char *name, api_error *e) {
    static const char *const prompt_fields[] = {"prompt", "prompt_ids", "messages"};
    static const char *const takes[] = {"'prompt'", "'messages'", "'prompt' or 'prompt_ids'"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(name, prompt_fields[i]) == 0)
            return api_fail(e, 400, name, "'%s' is not a field of this request: it takes %s", name, takes[shape]);
    return 0;
}

static int parse_field(parse_state *ps, const field *f, json_t *v, api_error *e) {
    char *at = (char *)ps->r + f->offset;
    switch (f->kind) {
        case F_FLOAT:
            if (!json_is_number(v)) return api_fail(e, 400, f->name, "%s must be a number", f->name);
            *(float *)at = to_float(json_number_value(v));
            break;
        case F_INT32:
            if (int32_value(f, v, (int32_t *)at, e)) return -1;
            break;
        case F_BOOL:
            if (!json_is_boolean(v)) return api_fail(e, 400, f->name, "%s must be a boolean", f->name);
            *(int *)at = json_is_true(v);
            break;
        case F_CUSTOM: break;
    }
    return f->parse ? f->parse(ps, f, v, e) : 0;
}

/* The rules that span fields. Ranges are the engine's. */
static int check_request(parse_state *ps, api_error *e) {
    api_request *r = ps->r;
    if (r->shape != API_CHAT && r->n_prompts == 0)
        return api_fail(e, 400, "prompt",
                        r->shape == API_BATCH ? "give 'prompt' or 'prompt_ids'" : "prompt is required");
    if (r->shape == API_CHAT && !r->messages_json) return api_fail(e, 400, "messages", "messages is required");
    if (ps->stream_options_given && !r->stream)
        return api_fail(e, 400, "stream_options", "stream_options is only allowed when stream is true");
    if (ps->best_of >= 0 && ps->best_of != r->params.n)
        return api_fail(e, 400, "best_of", "best_of must equal n (best-of ranking is not supported)");
    if (r->shape == API_CHAT) {
        if (ps->top_logprobs >= 0 && !ps->chat_logprobs)
            return api_fail(e, 400, "top_logprobs", "top_logprobs needs logprobs set to true");
        r->params.logprobs = ps->chat_logprobs ? (ps->top_logprobs >= 0 ? ps->top_logprobs : 0) : -1;
        if (r->chat.continue_final_message) {
            if (ps->add_generation_prompt_given && r->chat.add_generation_prompt)
                return api_fail(e, 400, "continue_final_message",
                                "continue_final_message and add_generation_prompt cannot both be true");
            r->chat.add_generation_prompt = 0; /* left out: continuing the last message implies it */
        }
        r->chat.kwargs_json = r->chat_kwargs_json;
        r->chat.tools_json = r->tools.tools_json;
        if (api_check_tools(ps, e)) return -1;
    }
    return 0;
}

static void init_request(api_request *r, api_shape shape, const loom_sampling_params *defaults) {
    memset(r, 0, sizeof *r);
    r->shape = shape;
    r->params = loom_request_default_params();
    if (defaults) r->params.sampling = *defaults;
    r->params.sampling.logit_bias = NULL;
    r->params.sampling.n_logit_bias = 0;
    r->chat = loom_chat_template_default_params();
    r->add_special_tokens = shape != API_CHAT;
    r->tools.parallel = 1;
}

int api_request_parse(api_shape shape, const char *body, size_t len, const loom_sampling_params *defaults,
                      size_t max_prompts, api_request *r, api_error *e) {
    init_request(r, shape, defaults);
    parse_state ps = {.r = r, .max_prompts = max_prompts, .best_of = -1, .top_logprobs = -1};
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        api_fail(e, 400, NULL, "the body is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column,
                 jerr.text);
        api_request_free(r);
        return -1;
    }
    int rc = json_is_object(root) ? 0 : api_fail(e, 400, NULL, "the body must be a JSON object");
    const char *key;
    json_t *v;
    if (rc == 0) json_object_foreach(root, key, v) {
            const field *f = find_field(key, shape);
            if (f && !json_is_null(v)) rc = parse_field(&ps, f, v, e);
            else if (!f && !(rc = wrong_prompt_field(shape, key, e)) && api_add_ignored(r, key)) rc = api_oom(e);
            if (rc) break;
        }
    json_decref(root);
    if (rc == 0) rc = check_request(&ps, e);
    if (rc) api_request_free(r);
    return rc;
}

void api_request_free(api_request *r) {
    free(r->model);
    for (size_t i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    free(r->messages_json);
    free(r->chat_kwargs_json);
    for (int i = 0; i < LOOM_MAX_STOP_STRINGS; i++) free(r->stop_storage[i]);
    free(r->logit_bias_storage);
    free(r->constraint_spec);
    free(r->tools.tools_json);
    free(r->tools.named);
    for (size_t i = 0; i < r->n_ignored; i++) free(r->ignored[i]);
    free(r->ignored);
    memset(r, 0, sizeof *r);
}

/* Edit distance of a and b when it is at most 2, else 3 (names are short: one row of 64 suffices). */
static int edit_distance_upto2(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63 || (n > m ? n - m : m - n) > 2) return 3;
    int row[64];
    for (size_t j = 0; j <= m; j++) row[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[m] < 3 ? row[m] : 3;
}

const char *api_suggest_field(api_shape shape, const char *name) {
    const char *best = NULL;
    int best_d = 3;
    if (strlen(name) < 4) return NULL; /* "x" is one edit from "n": no guess for names this short */
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (!(fields[i].shapes & (1 << shape))) continue;
        int d = edit_distance_upto2(name, fields[i].name);
        if (d < best_d) best_d = d, best = fields[i].name;
    }
    return best;
}

/* A message of the grammar compilers (src/grammar/) or the engine's constraint checks. */
static int is_constraint_message(const char *message) {
    static const char *const prefixes[] = {
        "json schema:",       "regex:", "choice:", "gbnf:", "structural tag:", "constraint:",
        "structured outputs", "grammar"};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (!strncmp(message, prefixes[i], strlen(prefixes[i]))) return 1;
    return 0;
}

int api_fail_from_engine(api_error *e, const api_request *r, loom_status status, const char *message) {
    int http = status == LOOM_ERR_INVALID_ARG || status == LOOM_ERR_UNSUPPORTED ? 400
        : status == LOOM_ERR_NO_MEMORY                                          ? 503
                                                                                : 500;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strspn(message, "abcdefghijklmnopqrstuvwxyz_"), message);
    const char *param = name;
    if (r->constraint_field && is_constraint_message(message)) param = r->constraint_field;
    else if (strcmp(name, "max_tokens") == 0 && r->max_tokens_field) param = r->max_tokens_field;
    else if (r->shape == API_CHAT && strcmp(name, "prompt") == 0) param = "messages";
    else if (r->shape == API_CHAT && strcmp(name, "logprobs") == 0) param = "top_logprobs";
    if (!find_field(param, r->shape)) param = NULL;
    return api_fail(e, http, param, "%s", message);
}
