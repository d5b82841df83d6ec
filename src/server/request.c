/* Request bodies → srv_request. Every top-level field is listed in one table (name, endpoints, kind,
 * where it goes, its range); a field not in the table is an error, so a misspelt parameter never
 * silently falls back to its default. JSON null means "not given" for every optional field. */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server/request.h"

#define MAX_MESSAGES 4096
#define MAX_STOP_BYTES 1024
#define MAX_LOGIT_BIAS 1024

enum { FOR_COMPLETIONS = 1, FOR_CHAT = 2, FOR_BOTH = 3 };
typedef enum field_kind { F_FLOAT, F_INT32, F_BOOL, F_CUSTOM } field_kind;

typedef int (*field_parser)(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e);

typedef struct field {
    const char *name;
    int endpoints;
    field_kind kind;
    size_t offset;        /* into srv_request, for F_FLOAT (float), F_INT32 (int32_t), F_BOOL (int) */
    long long min, max;   /* F_INT32 range; max < 0 means "max_model_len" */
    field_parser parse;   /* F_CUSTOM; for the others an optional follow-up (sets a "given" flag) */
} field;

#define PARAMS(member) (offsetof(srv_request, params) + offsetof(loom_request_params, member))
#define SAMPLING(member) (PARAMS(sampling) + offsetof(loom_sampling_params, member))
#define REQ(member) offsetof(srv_request, member)
#define TO_MODEL_LEN (-1)

static int parse_model(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_string(v)) return srv_fail(e, 400, "model", "model must be a string");
    return (r->model = strdup(json_string_value(v))) ? 0 : srv_fail(e, 503, NULL, "out of memory");
}

static int parse_stream_options(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_object(v)) return srv_fail(e, 400, "stream_options", "stream_options must be an object");
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        if (strcmp(key, "include_usage") != 0 && strcmp(key, "continuous_usage_stats") != 0)
            return srv_fail(e, 400, "stream_options", "stream_options has an unknown field '%.64s'", key);
        if (!json_is_boolean(x) && !json_is_null(x))
            return srv_fail(e, 400, "stream_options", "stream_options.%s must be a boolean", key);
    }
    r->include_usage = json_is_true(json_object_get(v, "include_usage"));
    return 0;
}

static int max_tokens_given(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    r->max_tokens_given = 1;
    return 0;
}

static int seed_given(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_integer(v)) return srv_fail(e, 400, "seed", "seed must be an integer");
    r->params.sampling.seed = (uint64_t)json_integer_value(v);
    r->params.sampling.has_seed = 1;
    return 0;
}

static int parse_stop(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    json_t *one = json_is_string(v) ? v : NULL;
    size_t n = one ? 1 : json_array_size(v);
    if (!one && !json_is_array(v)) return srv_fail(e, 400, "stop", "stop must be a string or a list of strings");
    if (n > LOOM_MAX_STOP_STRINGS) return srv_fail(e, 400, "stop", "at most %d stop strings", LOOM_MAX_STOP_STRINGS);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return srv_fail(e, 400, "stop", "stop must be a string or a list of strings");
        size_t len = json_string_length(s);
        if (len == 0 || len > MAX_STOP_BYTES)
            return srv_fail(e, 400, "stop", "stop strings must be non-empty and at most %d bytes", MAX_STOP_BYTES);
        if (!(r->stop_storage[i] = strdup(json_string_value(s)))) return srv_fail(e, 503, NULL, "out of memory");
        r->params.stop[i] = r->stop_storage[i];
        r->params.n_stop = (int32_t)(i + 1);
    }
    return 0;
}

/* A token id from JSON: an integer in [0, vocab_size). */
static int token_id(json_t *v, const srv_request_limits *lim, const char *param, int32_t *out, srv_error *e) {
    if (!json_is_integer(v)) return srv_fail(e, 400, param, "%s must hold integer token ids", param);
    json_int_t id = json_integer_value(v);
    if (id < 0 || id >= lim->vocab_size)
        return srv_fail(e, 400, param, "%s: token id %lld is outside the vocabulary [0, %d)", param, (long long)id,
                        lim->vocab_size);
    *out = (int32_t)id;
    return 0;
}

static int parse_stop_token_ids(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_array(v)) return srv_fail(e, 400, "stop_token_ids", "stop_token_ids must be a list of integers");
    if (json_array_size(v) > LOOM_MAX_STOP_TOKEN_IDS)
        return srv_fail(e, 400, "stop_token_ids", "at most %d stop_token_ids", LOOM_MAX_STOP_TOKEN_IDS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (token_id(json_array_get(v, i), lim, "stop_token_ids", &r->params.stop_token_ids[i], e)) return -1;
        r->params.n_stop_token_ids = (int32_t)(i + 1);
    }
    return 0;
}

static int parse_logit_bias(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_object(v)) return srv_fail(e, 400, "logit_bias", "logit_bias must be an object of token id -> bias");
    size_t n = json_object_size(v);
    if (n > MAX_LOGIT_BIAS) return srv_fail(e, 400, "logit_bias", "at most %d logit_bias entries", MAX_LOGIT_BIAS);
    if (n == 0) return 0;
    if (!(r->logit_bias_storage = calloc(n, sizeof *r->logit_bias_storage))) return srv_fail(e, 503, NULL, "out of memory");
    const char *key;
    json_t *x;
    int32_t k = 0;
    json_object_foreach(v, key, x) {
        char *end;
        long long id = strtoll(key, &end, 10);
        if (end == key || *end || id < 0 || id >= lim->vocab_size)
            return srv_fail(e, 400, "logit_bias", "logit_bias key '%.32s' is not a token id in [0, %d)", key, lim->vocab_size);
        if (!json_is_number(x)) return srv_fail(e, 400, "logit_bias", "logit_bias values must be numbers");
        r->logit_bias_storage[k++] = (loom_logit_bias){.id = (int32_t)id, .bias = (float)json_number_value(x)};
    }
    r->params.sampling.logit_bias = r->logit_bias_storage;
    r->params.sampling.n_logit_bias = k;
    return 0;
}

static int parse_best_of(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_integer(v)) return srv_fail(e, 400, "best_of", "best_of must be an integer");
    r->best_of = json_integer_value(v);
    return 0;
}

static int parse_completions_logprobs(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 20)
        return srv_fail(e, 400, "logprobs", "logprobs must be an integer in [0, 20]");
    r->params.logprobs = (int32_t)json_integer_value(v);
    return 0;
}

static int reject_true(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    return json_is_true(v) ? srv_fail(e, 400, "echo", "echo is not supported") : 0;
}

static int parse_suffix(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_string(v) || json_string_length(v) != 0) return srv_fail(e, 400, "suffix", "suffix is not supported");
    return 0;
}

static int parse_response_format(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    json_t *type = json_object_get(v, "type");
    if (!json_is_object(v) || !json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
        json_object_size(v) != 1)
        return srv_fail(e, 400, "response_format", "only response_format {\"type\": \"text\"} is supported");
    return 0;
}

static int parse_tools(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_array(v) || json_array_size(v) != 0) return srv_fail(e, 400, "tools", "tools are not supported");
    return 0;
}

static int parse_tool_choice(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    if (!json_is_string(v) || strcmp(json_string_value(v), "none") != 0)
        return srv_fail(e, 400, "tool_choice", "tool_choice must be \"none\" (tools are not supported)");
    return 0;
}

static int parse_user(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    return json_is_string(v) ? 0 : srv_fail(e, 400, "user", "user must be a string");
}

static int add_prompt(srv_request *r, srv_prompt p) {
    r->prompts[r->n_prompts++] = p;
    return 0;
}

/* A list of token ids → one prompt. */
static int ids_prompt(srv_request *r, json_t *arr, const srv_request_limits *lim, srv_error *e) {
    size_t n = json_array_size(arr);
    if (n == 0) return srv_fail(e, 400, "prompt", "a prompt of token ids must not be empty");
    if (n > (size_t)lim->max_model_len)
        return srv_fail(e, 400, "prompt", "the prompt has %zu tokens; this model's maximum context length is %d tokens",
                        n, lim->max_model_len);
    srv_prompt p = {0};
    if (!(p.ids = malloc(n * sizeof *p.ids))) return srv_fail(e, 503, NULL, "out of memory");
    p.n_ids = n;
    add_prompt(r, p);
    for (size_t i = 0; i < n; i++)
        if (token_id(json_array_get(arr, i), lim, "prompt", &p.ids[i], e)) return -1;
    return 0;
}

static int text_prompt(srv_request *r, json_t *s, srv_error *e) {
    srv_prompt p = {.text_len = json_string_length(s)};
    if (!(p.text = malloc(p.text_len + 1))) return srv_fail(e, 503, NULL, "out of memory");
    memcpy(p.text, json_string_value(s), p.text_len + 1);
    return add_prompt(r, p);
}

/* prompt: "text" | ["text", ...] | [id, ...] | [[id, ...], ...] */
static int parse_prompt(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !json_is_array(v))
        return srv_fail(e, 400, "prompt", "prompt must be a string, a list of strings, or token ids");
    if (n == 0) return srv_fail(e, 400, "prompt", "prompt must not be empty");
    int flat_ids = json_is_array(v) && json_is_integer(json_array_get(v, 0));
    size_t n_prompts = flat_ids ? 1 : n;
    if (n_prompts > (size_t)lim->max_prompts)
        return srv_fail(e, 400, "prompt", "at most %d prompts in one request", lim->max_prompts);
    if (!(r->prompts = calloc(n_prompts, sizeof *r->prompts))) return srv_fail(e, 503, NULL, "out of memory");
    if (json_is_string(v)) return text_prompt(r, v, e);
    if (flat_ids) return ids_prompt(r, v, lim, e);
    int strings = json_is_string(json_array_get(v, 0));
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (strings ? !json_is_string(x) : !json_is_array(x))
            return srv_fail(e, 400, "prompt", "prompt must be a string, a list of strings, or token ids");
        if (strings ? text_prompt(r, x, e) : ids_prompt(r, x, lim, e)) return -1;
    }
    return 0;
}

/* content: "text" | null | [{"type": "text", "text": "..."}, ...] → one string (parts joined by "\n",
 * as vLLM does for templates that expect string contents). */
static json_t *flatten_content(json_t *content, srv_error *e) {
    if (json_is_string(content) || json_is_null(content)) return json_incref(content);
    if (!json_is_array(content))
        return srv_fail(e, 400, "messages", "message content must be a string or a list of text parts"), NULL;
    size_t total = 0, n = json_array_size(content);
    for (size_t i = 0; i < n; i++) {
        json_t *part = json_array_get(content, i), *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(text))
            return srv_fail(e, 400, "messages", "only content parts of type \"text\" are supported"), NULL;
        total += json_string_length(text) + 1;
    }
    char *joined = malloc(total + 1), *w = joined;
    if (!joined) return srv_fail(e, 503, NULL, "out of memory"), NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *text = json_object_get(json_array_get(content, i), "text");
        if (i) *w++ = '\n';
        memcpy(w, json_string_value(text), json_string_length(text));
        w += json_string_length(text);
    }
    json_t *s = json_stringn(joined, (size_t)(w - joined));
    free(joined);
    return s ? s : (srv_fail(e, 400, "messages", "message content holds a NUL character"), NULL);
}

static int parse_messages(srv_request *r, json_t *v, const srv_request_limits *lim, srv_error *e) {
    size_t n = json_array_size(v);
    if (!json_is_array(v) || n == 0) return srv_fail(e, 400, "messages", "messages must be a non-empty list");
    if (n > MAX_MESSAGES) return srv_fail(e, 400, "messages", "at most %d messages", MAX_MESSAGES);
    json_t *out = json_array();
    int rc = out ? 0 : srv_fail(e, 503, NULL, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *m = json_array_get(v, i), *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role) || json_string_length(role) == 0) {
            rc = srv_fail(e, 400, "messages", "messages[%zu] must be an object with a string 'role'", i);
            break;
        }
        json_t *content = flatten_content(json_object_get(m, "content") ? json_object_get(m, "content") : json_null(), e);
        json_t *copy = content ? json_copy(m) : NULL;
        if (!copy || json_object_set_new(copy, "content", content) || json_array_append_new(out, copy))
            rc = content ? srv_fail(e, 503, NULL, "out of memory") : -1;
        if (!copy) json_decref(content);
    }
    if (rc == 0 && !(r->messages_json = json_dumps(out, JSON_COMPACT))) rc = srv_fail(e, 503, NULL, "out of memory");
    json_decref(out);
    return rc;
}

static const field fields[] = {
    {"model", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_model},
    {"prompt", FOR_COMPLETIONS, F_CUSTOM, 0, 0, 0, parse_prompt},
    {"messages", FOR_CHAT, F_CUSTOM, 0, 0, 0, parse_messages},
    {"stream", FOR_BOTH, F_BOOL, REQ(stream), 0, 0, NULL},
    {"stream_options", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_stream_options},
    {"max_tokens", FOR_BOTH, F_INT32, PARAMS(max_tokens), 1, TO_MODEL_LEN, max_tokens_given},
    {"max_completion_tokens", FOR_CHAT, F_INT32, PARAMS(max_tokens), 1, TO_MODEL_LEN, max_tokens_given},
    {"min_tokens", FOR_BOTH, F_INT32, PARAMS(min_tokens), 0, TO_MODEL_LEN, NULL},
    {"temperature", FOR_BOTH, F_FLOAT, SAMPLING(temperature), 0, 0, NULL},
    {"top_p", FOR_BOTH, F_FLOAT, SAMPLING(top_p), 0, 0, NULL},
    {"top_k", FOR_BOTH, F_INT32, SAMPLING(top_k), -1, INT32_MAX, NULL},
    {"min_p", FOR_BOTH, F_FLOAT, SAMPLING(min_p), 0, 0, NULL},
    {"presence_penalty", FOR_BOTH, F_FLOAT, SAMPLING(presence_penalty), 0, 0, NULL},
    {"frequency_penalty", FOR_BOTH, F_FLOAT, SAMPLING(frequency_penalty), 0, 0, NULL},
    {"repetition_penalty", FOR_BOTH, F_FLOAT, SAMPLING(repetition_penalty), 0, 0, NULL},
    {"n", FOR_BOTH, F_INT32, PARAMS(n), 1, 128, NULL},
    {"best_of", FOR_COMPLETIONS, F_CUSTOM, 0, 0, 0, parse_best_of},
    {"seed", FOR_BOTH, F_CUSTOM, 0, 0, 0, seed_given},
    {"stop", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_stop},
    {"stop_token_ids", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_stop_token_ids},
    {"include_stop_str_in_output", FOR_BOTH, F_BOOL, PARAMS(include_stop_str_in_output), 0, 0, NULL},
    {"ignore_eos", FOR_BOTH, F_BOOL, PARAMS(ignore_eos), 0, 0, NULL},
    {"skip_special_tokens", FOR_BOTH, F_BOOL, PARAMS(skip_special_tokens), 0, 0, NULL},
    {"logit_bias", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_logit_bias},
    {"logprobs", FOR_COMPLETIONS, F_CUSTOM, 0, 0, 0, parse_completions_logprobs},
    {"logprobs", FOR_CHAT, F_BOOL, REQ(chat_logprobs), 0, 0, NULL},
    {"top_logprobs", FOR_CHAT, F_INT32, REQ(top_logprobs), 0, 20, NULL},
    {"echo", FOR_COMPLETIONS, F_CUSTOM, 0, 0, 0, reject_true},
    {"suffix", FOR_COMPLETIONS, F_CUSTOM, 0, 0, 0, parse_suffix},
    {"add_special_tokens", FOR_BOTH, F_BOOL, REQ(add_special_tokens), 0, 0, NULL},
    {"add_generation_prompt", FOR_CHAT, F_BOOL, REQ(add_generation_prompt), 0, 0, NULL},
    {"response_format", FOR_CHAT, F_CUSTOM, 0, 0, 0, parse_response_format},
    {"tools", FOR_CHAT, F_CUSTOM, 0, 0, 0, parse_tools},
    {"tool_choice", FOR_CHAT, F_CUSTOM, 0, 0, 0, parse_tool_choice},
    {"user", FOR_BOTH, F_CUSTOM, 0, 0, 0, parse_user},
};

static const field *find_field(const char *name, int endpoint_bit) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if ((fields[i].endpoints & endpoint_bit) && strcmp(fields[i].name, name) == 0) return &fields[i];
    return NULL;
}

static int parse_field(srv_request *r, const field *f, json_t *v, const srv_request_limits *lim, srv_error *e) {
    char *at = (char *)r + f->offset;
    switch (f->kind) {
    case F_FLOAT:
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || fabs(json_number_value(v)) > 1e30)
            return srv_fail(e, 400, f->name, "%s must be a finite number", f->name);
        *(float *)at = (float)json_number_value(v);
        break;
    case F_INT32: {
        long long max = f->max < 0 ? lim->max_model_len : f->max;
        if (!json_is_integer(v)) return srv_fail(e, 400, f->name, "%s must be an integer", f->name);
        if (json_integer_value(v) < f->min || json_integer_value(v) > max)
            return srv_fail(e, 400, f->name, "%s must be in [%lld, %lld], got %lld", f->name, f->min, max,
                            (long long)json_integer_value(v));
        *(int32_t *)at = (int32_t)json_integer_value(v);
        break;
    }
    case F_BOOL:
        if (!json_is_boolean(v)) return srv_fail(e, 400, f->name, "%s must be a boolean", f->name);
        *(int *)at = json_is_true(v);
        break;
    case F_CUSTOM:
        break;
    }
    return f->parse ? f->parse(r, v, lim, e) : 0;
}

/* The checks that span fields, then the sampling parameters as a whole. */
static int check_request(srv_request *r, const srv_request_limits *lim, srv_error *e) {
    if (r->endpoint == SRV_COMPLETIONS && r->n_prompts == 0) return srv_fail(e, 400, "prompt", "prompt is required");
    if (r->endpoint == SRV_CHAT && !r->messages_json) return srv_fail(e, 400, "messages", "messages is required");
    if (r->include_usage && !r->stream)
        return srv_fail(e, 400, "stream_options", "stream_options is only allowed when stream is true");
    if (r->best_of >= 0 && r->best_of != r->params.n)
        return srv_fail(e, 400, "best_of", "best_of must equal n (best-of ranking is not supported)");
    if (r->endpoint == SRV_CHAT) {
        if (r->top_logprobs >= 0 && !r->chat_logprobs)
            return srv_fail(e, 400, "top_logprobs", "top_logprobs needs logprobs set to true");
        r->params.logprobs = r->chat_logprobs ? (r->top_logprobs >= 0 ? r->top_logprobs : 0) : -1;
    }
    loom_error err;
    if (loom_sampling_params_validate(&r->params.sampling, lim->vocab_size, &err) != LOOM_OK) {
        /* the message starts with the field it is about ("top_p must be in (0, 1]") */
        char param[64];
        snprintf(param, sizeof param, "%.*s", (int)strspn(err.message, "abcdefghijklmnopqrstuvwxyz_"), err.message);
        return srv_fail(e, 400, find_field(param, FOR_BOTH) ? param : NULL, "%s", err.message);
    }
    return 0;
}

static void init_request(srv_request *r, srv_endpoint endpoint) {
    memset(r, 0, sizeof *r);
    r->endpoint = endpoint;
    r->params = loom_request_default_params();
    r->add_generation_prompt = 1;
    r->add_special_tokens = endpoint == SRV_COMPLETIONS;
    r->best_of = -1;
    r->top_logprobs = -1;
}

int srv_request_parse(srv_endpoint endpoint, const char *body, size_t len, const srv_request_limits *lim,
                      srv_request *r, srv_error *e) {
    init_request(r, endpoint);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return srv_fail(e, 400, NULL, "the body is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column, jerr.text);
    int rc = json_is_object(root) ? 0 : srv_fail(e, 400, NULL, "the body must be a JSON object");
    const char *key;
    json_t *v;
    int bit = endpoint == SRV_CHAT ? FOR_CHAT : FOR_COMPLETIONS;
    if (rc == 0) json_object_foreach(root, key, v) {
        const field *f = find_field(key, bit);
        if (!f) rc = srv_fail(e, 400, NULL, "unknown field '%.64s'", key);
        else if (!json_is_null(v)) rc = parse_field(r, f, v, lim, e);
        if (rc) break;
    }
    json_decref(root);
    if (rc == 0) rc = check_request(r, lim, e);
    if (rc) srv_request_free(r);
    return rc;
}

void srv_request_free(srv_request *r) {
    free(r->model);
    for (size_t i = 0; i < r->n_prompts; i++) {
        free(r->prompts[i].text);
        free(r->prompts[i].ids);
    }
    free(r->prompts);
    free(r->messages_json);
    for (int i = 0; i < LOOM_MAX_STOP_STRINGS; i++) free(r->stop_storage[i]);
    free(r->logit_bias_storage);
    memset(r, 0, sizeof *r);
}
