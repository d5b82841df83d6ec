/* JSONL request lines -> loom_request_params: "prompt" or "prompt_ids", and the OpenAI / vLLM
 * sampling fields by their API names. Unknown fields are errors (a typo must not silently change
 * sampling). */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch_request.h"
#include "cli/cli.h"

void batch_error_at_line(loom_error *err, size_t line) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "input line %zu: %.480s", line, err->message);
    memcpy(err->message, msg, sizeof msg);
}

static loom_status bad(loom_error *err, const char *field, const char *what) {
    return cli_fail(err, LOOM_ERR_INVALID_ARG, "\"%s\" must be %s", field, what);
}

static loom_status get_number(json_t *v, const char *key, double *out, loom_error *err) {
    if (!json_is_number(v)) return bad(err, key, "a number");
    *out = json_number_value(v);
    return LOOM_OK;
}

static loom_status get_int(json_t *v, const char *key, int64_t *out, loom_error *err) {
    if (!json_is_integer(v)) return bad(err, key, "an integer");
    *out = json_integer_value(v);
    return LOOM_OK;
}

static loom_status get_ids(json_t *v, const char *key, int32_t *ids, size_t max, size_t *n, loom_error *err) {
    if (!json_is_array(v) || json_array_size(v) > max) return bad(err, key, "an array of token ids (not too long)");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX)
            return bad(err, key, "an array of token ids >= 0");
        ids[i] = (int32_t)json_integer_value(x);
    }
    *n = json_array_size(v);
    return LOOM_OK;
}

static loom_status get_stop(json_t *v, batch_request *r, loom_error *err) {
    loom_request_params *sp = &r->params;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if ((!json_is_string(v) && !json_is_array(v)) || n > LOOM_MAX_STOP_STRINGS)
        return bad(err, "stop", "a string or an array of at most 16 strings");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s)) return bad(err, "stop", "a string or an array of strings");
        if (!(r->stop[i] = strdup(json_string_value(s)))) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        sp->stop[i] = r->stop[i];
    }
    sp->n_stop = (int32_t)n;
    return LOOM_OK;
}

static loom_status get_logit_bias(json_t *v, batch_request *r, loom_error *err) {
    if (!json_is_object(v)) return bad(err, "logit_bias", "an object {\"token id\": bias}");
    size_t n = json_object_size(v), i = 0;
    if (!(r->logit_bias = calloc(n ? n : 1, sizeof *r->logit_bias))) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        long long id;
        if (cli_parse_int(key, 0, INT32_MAX, &id) || !json_is_number(val))
            return bad(err, "logit_bias", "an object {\"token id\": bias}");
        r->logit_bias[i++] = (loom_logit_bias){(int32_t)id, (float)json_number_value(val)};
    }
    r->params.sampling.logit_bias = r->logit_bias;
    r->params.sampling.n_logit_bias = (int32_t)n;
    return LOOM_OK;
}

/* One sampling field by its API name; LOOM_ERR_INVALID_ARG for an unknown name. */
static loom_status set_field(const char *key, json_t *v, batch_request *r, loom_error *err) {
    loom_sampling_params *sp = &r->params.sampling;
    static const struct { const char *name; size_t offset; } floats[] = {
        {"temperature", offsetof(loom_sampling_params, temperature)}, {"top_p", offsetof(loom_sampling_params, top_p)},
        {"min_p", offsetof(loom_sampling_params, min_p)},
        {"presence_penalty", offsetof(loom_sampling_params, presence_penalty)},
        {"frequency_penalty", offsetof(loom_sampling_params, frequency_penalty)},
        {"repetition_penalty", offsetof(loom_sampling_params, repetition_penalty)}};
    static const struct { const char *name; size_t offset; } ints[] = {
        {"max_tokens", offsetof(loom_request_params, max_tokens)},
        {"top_k", offsetof(loom_request_params, sampling) + offsetof(loom_sampling_params, top_k)},
        {"min_tokens", offsetof(loom_request_params, min_tokens)}, {"logprobs", offsetof(loom_request_params, logprobs)},
        {"n", offsetof(loom_request_params, n)}};
    double d = 0;
    int64_t i64 = 0;
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (!strcmp(key, floats[i].name)) {
            loom_status st = get_number(v, key, &d, err);
            if (st == LOOM_OK) *(float *)((char *)sp + floats[i].offset) = (float)d;
            return st;
        }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (!strcmp(key, ints[i].name)) {
            loom_status st = get_int(v, key, &i64, err);
            if (st == LOOM_OK && (i64 < INT32_MIN || i64 > INT32_MAX)) st = bad(err, key, "a 32-bit integer");
            if (st == LOOM_OK) *(int32_t *)((char *)&r->params + ints[i].offset) = (int32_t)i64;
            return st;
        }
    static const char *const flags[] = {"ignore_eos", "skip_special_tokens", "include_stop_str_in_output"};
    int *flag_fields[] = {&r->params.ignore_eos, &r->params.skip_special_tokens, &r->params.include_stop_str_in_output};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(key, flags[i])) {
            if (!json_is_boolean(v)) return bad(err, key, "true or false");
            *flag_fields[i] = json_is_true(v);
            return LOOM_OK;
        }
    if (!strcmp(key, "seed")) {
        if (json_is_null(v)) return LOOM_OK;
        int64_t seed = 0;
        loom_status st = get_int(v, key, &seed, err);
        sp->seed = (uint64_t)seed;
        sp->has_seed = 1;
        return st;
    }
    if (!strcmp(key, "priority")) {
        int64_t priority = 0;
        loom_status st = get_int(v, key, &priority, err);
        r->params.priority = (int32_t)priority;
        return st;
    }
    if (!strcmp(key, "stop")) return json_is_null(v) ? LOOM_OK : get_stop(v, r, err);
    if (!strcmp(key, "logit_bias")) return get_logit_bias(v, r, err);
    if (!strcmp(key, "stop_token_ids")) {
        size_t n = 0;
        loom_status st = get_ids(v, key, r->params.stop_token_ids, LOOM_MAX_STOP_TOKEN_IDS, &n, err);
        r->params.n_stop_token_ids = (int32_t)n;
        return st;
    }
    return cli_fail(err, LOOM_ERR_INVALID_ARG, "unknown field \"%s\"", key);
}

static loom_status set_prompt(json_t *obj, loom_model *model, batch_request *r, loom_error *err) {
    json_t *text = json_object_get(obj, "prompt"), *ids = json_object_get(obj, "prompt_ids");
    if (!text == !ids) return cli_fail(err, LOOM_ERR_INVALID_ARG, "give exactly one of \"prompt\" and \"prompt_ids\"");
    size_t n = 0;
    if (text) {
        if (!json_is_string(text)) return bad(err, "prompt", "a string");
        loom_status st = loom_tokenize(model, json_string_value(text), json_string_length(text), 1, &r->prompt_ids, &n, err);
        if (st != LOOM_OK) return st;
    } else {
        size_t cap = json_is_array(ids) ? json_array_size(ids) : 0;
        if (!(r->prompt_ids = malloc((cap ? cap : 1) * sizeof *r->prompt_ids))) return cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        loom_status st = get_ids(ids, "prompt_ids", r->prompt_ids, cap, &n, err);
        if (st != LOOM_OK) return st;
    }
    r->params.prompt_ids = r->prompt_ids;
    r->params.n_prompt = n;
    return LOOM_OK;
}

static loom_status parse_line(const char *line, loom_model *model, batch_request *r, loom_error *err) {
    json_error_t jerr;
    json_t *obj = json_loads(line, 0, &jerr);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        return cli_fail(err, LOOM_ERR_FORMAT, "not a JSON object (%s)", obj ? "another JSON value" : jerr.text);
    }
    r->params = loom_request_default_params();
    loom_status st = set_prompt(obj, model, r, err);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (st != LOOM_OK) break;
        if (strcmp(key, "prompt") && strcmp(key, "prompt_ids")) st = set_field(key, v, r, err);
    }
    json_decref(obj);
    return st;
}

static void request_free(batch_request *r) {
    free(r->prompt_ids);
    for (int i = 0; i < LOOM_MAX_STOP_STRINGS; i++) free(r->stop[i]);
    free(r->logit_bias);
}

void batch_requests_free(batch_request_list *l) {
    for (size_t i = 0; i < l->n; i++) request_free(&l->items[i]);
    free(l->items);
    *l = (batch_request_list){0};
}

loom_status batch_requests_read(const char *path, loom_model *model, batch_request_list *out, loom_error *err) {
    *out = (batch_request_list){0};
    FILE *f = fopen(path, "r");
    if (!f) return cli_fail(err, LOOM_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, line_no = 0, items_cap = 0;
    loom_status st = LOOM_OK;
    while (st == LOOM_OK && getline(&line, &cap, f) >= 0) {
        line_no++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        if (out->n == items_cap) {
            items_cap = items_cap ? items_cap * 2 : 64;
            batch_request *p = realloc(out->items, items_cap * sizeof *p);
            if (!p) {
                st = cli_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
                break;
            }
            out->items = p;
        }
        batch_request *r = &out->items[out->n++];
        *r = (batch_request){.line = line_no};
        if ((st = parse_line(line, model, r, err)) != LOOM_OK) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%.200s:%zu: %.280s", path, line_no, err->message);
            memcpy(err->message, msg, sizeof msg);
        }
    }
    free(line);
    fclose(f);
    if (st != LOOM_OK) batch_requests_free(out);
    return st;
}
