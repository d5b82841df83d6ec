/* libFuzzer: the input is the JSON of a request. The first byte picks the shape (completions, chat,
 * a `loom batch` line); the rest goes through api_request_parse (src/api/request.c), the schema the
 * server and `loom batch` share. On success the result must hold what the parser promises (a prompt or
 * messages, stop strings and stop ids within their arrays, logit_bias entries, the ignored names,
 * chat_template_kwargs as a JSON object, a structured-output constraint with its spec and field, tools as
 * a JSON array); the sampling values then go through the engine's checker and any refusal through
 * api_fail_from_engine; a chat request's tools make their grammar (api_tool_constraint, the format picked
 * by the first byte), which must be a structural tag or a 400 naming tool_choice. On failure the error must be a 4xx
  * (or 503 for out of memory)
 * with a message that renders as OpenAI's error JSON. Crashes, leaks and sanitizer reports are failures. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "api/tool_calls.h"

static void check_parsed(const api_request *r) {
    if (r->shape == API_CHAT) {
        json_t *m = json_loads(r->messages_json, 0, NULL);
        if (!json_is_array(m) || json_array_size(m) == 0) abort();
        json_decref(m);
        if (r->chat.add_generation_prompt && r->chat.continue_final_message) abort();
        if (r->chat.kwargs_json) {
            json_t *k = json_loads(r->chat.kwargs_json, 0, NULL);
            if (!json_is_object(k)) abort();
            json_decref(k);
        }
    } else if (r->n_prompts == 0 || (r->shape == API_BATCH && r->n_prompts != 1)) {
        abort();
    }
    for (size_t i = 0; i < r->n_prompts; i++)
        if (!r->prompts[i].text && !r->prompts[i].ids) abort();
    const loom_request_params *p = &r->params;
    if (p->n_stop < 0 || p->n_stop > LOOM_MAX_STOP_STRINGS) abort();
    for (int32_t i = 0; i < p->n_stop; i++)
        if (!p->stop[i]) abort();
    if (p->n_stop_token_ids < 0 || p->n_stop_token_ids > LOOM_MAX_STOP_TOKEN_IDS) abort();
    if (p->sampling.n_logit_bias < 0 || (p->sampling.n_logit_bias > 0 && !p->sampling.logit_bias)) abort();
    for (size_t i = 0; i < r->n_ignored; i++) {
        if (!r->ignored[i]) abort();
        api_suggest_field(r->shape, r->ignored[i]);
    }
    const loom_constraint *c = &p->constraint;
    if (!r->constraint_field != (c->kind == LOOM_CONSTRAINT_NONE)) abort();
    if (c->kind != LOOM_CONSTRAINT_NONE && c->kind != LOOM_CONSTRAINT_JSON_OBJECT && !c->spec) abort();
    const api_tools *t = &r->tools;
    if (t->n_tools) {
        json_t *tools = json_loads(t->tools_json, 0, NULL);
        if (json_array_size(tools) != t->n_tools || r->shape != API_CHAT) abort();
        json_decref(tools);
    } else if (t->choice != API_TOOL_CHOICE_NONE) {
        abort();
    }
    if ((t->choice == API_TOOL_CHOICE_NAMED) != (t->named != NULL)) abort();
}

/* The grammar of the request's tools in one format: a structural tag, or a 400 naming tool_choice. */
static void check_tool_constraint(api_request *r, api_tool_format f) {
    const char *had = r->constraint_field, *suffix = NULL;
    api_error e;
    if (api_tool_constraint(r, f, &suffix, &e)) {
        if (e.http_status != 400 || strcmp(e.param, "tool_choice") || !had) abort();
        return;
    }
    if (r->constraint_field == had) return; /* nothing asked for */
    json_t *spec = json_loads(r->params.constraint.spec, 0, NULL);
    json_t *type = json_object_get(spec, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "structural_tag")) abort();
    json_decref(spec);
    if (suffix && f != API_TOOLS_MISTRAL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    api_shape shape = (api_shape)(data[0] % 3);
    loom_sampling_params defaults = loom_sampling_default_params();
    defaults.temperature = (float)(data[0] >> 2) / 16.0f;
    api_request r;
    api_error e;
    if (api_request_parse(shape, (const char *)data + 1, size - 1, &defaults, 64, &r, &e) == 0) {
        check_parsed(&r);
        if (r.tools.choice != API_TOOL_CHOICE_NONE) check_tool_constraint(&r, (api_tool_format)((data[0] >> 2) % 3));
        loom_error err;
        loom_status st = loom_sampling_params_validate(&r.params.sampling, 49152, &err);
        if (st != LOOM_OK && (api_fail_from_engine(&e, &r, st, err.message) != -1 || e.http_status != 400)) abort();
        api_request_free(&r);
        return 0;
    }
    if (e.http_status < 400 || (e.http_status >= 500 && e.http_status != 503)) abort();
    if (!e.message[0]) abort();
    char *body = api_error_body(&e);
    if (!body) abort();
    free(body);
    return 0;
}
