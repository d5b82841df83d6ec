/* The small routes: /health, /v1/models (and /v1/models/{id}), /tokenize, /detokenize, /metrics, and the web page. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

int srv_route_health(srv_server *s, srv_conn *c, srv_reply *r) {
    if (s->ready) return srv_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    return srv_reply_json(r, 503, json_pack("{s:s}", "status", "loading"));
}

/* One model as /v1/models lists it; beside OpenAI's fields, vLLM's max_model_len and loom's defaults for
 * what a request leaves out (the chat page starts from them). */
/* The double with the shortest decimal form that reads back as f (0.8f -> 0.8, not 0.800000011920929). */
static double shortest(float f) {
    char buf[32];
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static json_t *model_card(const srv_server *s) {
    const loom_sampling_params *d = &s->sampling_defaults;
    json_t *defaults = json_pack("{s:f, s:i, s:f, s:f, s:f, s:f, s:f}", "temperature", shortest(d->temperature),
                                 "top_k", d->top_k, "top_p", shortest(d->top_p), "min_p", shortest(d->min_p),
                                 "repetition_penalty", shortest(d->repetition_penalty), "presence_penalty",
                                 shortest(d->presence_penalty), "frequency_penalty", shortest(d->frequency_penalty));
    if (defaults && s->cfg.max_tokens_default > 0)
        json_object_set_new(defaults, "max_tokens", json_integer(s->cfg.max_tokens_default));
    return json_pack("{s:s, s:s, s:I, s:s, s:i, s:o}", "id", s->cfg.served_model_name, "object", "model", "created",
                     (json_int_t)s->created_s, "owned_by", "loom", "max_model_len", s->max_model_len_tokens,
                     "sampling_defaults", defaults ? defaults : json_null());
}

int srv_route_models(srv_server *s, srv_conn *c, srv_reply *r) {
    return srv_reply_json(r, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", model_card(s)));
}

/* GET /v1/models/{id} (the client's models.retrieve): the card, or 404 for another id. */
int srv_route_model(srv_server *s, srv_conn *c, srv_reply *r, const char *model_id) {
    if (strcmp(model_id, s->cfg.served_model_name) == 0) return srv_reply_json(r, 200, model_card(s));
    api_error e;
    api_fail(&e, 404, "model", "the model '%.128s' does not exist; this server serves '%.128s'", model_id,
             s->cfg.served_model_name);
    e.code = "model_not_found";
    return srv_reply_error(r, &e);
}

int srv_route_metrics(srv_server *s, srv_conn *c, srv_reply *r) {
    return srv_reply_text(r, 200, "text/plain; version=0.0.4", srv_metrics_text(s));
}

int srv_route_web_page(srv_server *s, srv_conn *c, srv_reply *r) {
    char *page = malloc(srv_web_index_html_len + 1);
    if (page) {
        memcpy(page, srv_web_index_html, srv_web_index_html_len);
        page[srv_web_index_html_len] = '\0';
    }
    return srv_reply_text(r, 200, "text/html; charset=utf-8", page);
}

static int fail_reply(srv_reply *r, json_t *body, api_error *e) {
    json_decref(body);
    return srv_reply_error(r, e);
}

/* Checks the optional "model" member like the generation routes do. */
static int check_model(const srv_server *s, json_t *body, api_error *e) {
    json_t *m = json_object_get(body, "model");
    if (!m || json_is_null(m)) return 0;
    if (!json_is_string(m)) return api_fail(e, 400, "model", "model must be a string");
    if (strcmp(json_string_value(m), s->cfg.served_model_name) == 0) return 0;
    api_fail(e, 404, "model", "the model '%.128s' does not exist", json_string_value(m));
    e->code = "model_not_found";
    return -1;
}

/* {"prompt": "text", "add_special_tokens": true} or {"messages": [...], "add_generation_prompt": true,
 * "continue_final_message": false, "chat_template_kwargs": {...}} -> {"count", "max_model_len", "tokens"}:
 * the body is read as a completions or chat request (src/api/request.h), so fields mean the same here. */
int srv_route_tokenize(srv_server *s, srv_conn *c, srv_reply *r) {
    api_error e;
    json_t *body = srv_body_object(c, &e);
    if (!body) return srv_reply_error(r, &e);
    api_shape shape = json_object_get(body, "messages") ? API_CHAT : API_COMPLETIONS;
    json_decref(body);
    api_request req;
    if (api_request_parse(shape, c->body, c->body_len, &s->sampling_defaults, 1, &req, &e))
        return srv_reply_error(r, &e);
    r->ignored_fields = srv_note_ignored_fields(s, shape, req.ignored, req.n_ignored, "/tokenize");
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = req.model && strcmp(req.model, s->cfg.served_model_name) != 0
        ? api_fail(&e, 404, "model", "the model '%.128s' does not exist", req.model)
        : 0;
    if (rc) e.code = "model_not_found";
    else if (shape == API_CHAT)
        rc = srv_chat_prompt_ids(s, req.messages_json, &req.chat, req.add_special_tokens, NULL, &ids, &n, &e);
    else if (!req.prompts[0].text) rc = api_fail(&e, 400, "prompt", "prompt must be a string");
    else {
        loom_error err;
        loom_status st = loom_tokenize(s->model, req.prompts[0].text, req.prompts[0].text_len, req.add_special_tokens,
                                       &ids, &n, &err);
        if (st != LOOM_OK)
            rc = api_fail(&e, st == LOOM_ERR_INVALID_ARG ? 400 : 500, "prompt", "cannot tokenize: %s", err.message);
    }
    api_request_free(&req);
    if (rc) return srv_reply_error(r, &e);
    json_t *tokens = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(tokens, json_integer(ids[i]));
    free(ids);
    return srv_reply_json(r, 200,
                          json_pack("{s:I, s:i, s:o}", "count", (json_int_t)n, "max_model_len", s->max_model_len_tokens,
                                    "tokens", tokens));
}

/* {"tokens": [ids]} -> {"prompt": "text"}; other fields are ignored (and listed) as everywhere. */
int srv_route_detokenize(srv_server *s, srv_conn *c, srv_reply *r) {
    api_error e;
    json_t *body = srv_body_object(c, &e);
    if (!body) return srv_reply_error(r, &e);
    json_t *tokens = json_object_get(body, "tokens");
    const char *key;
    json_t *v;
    char *ignored[64];
    size_t n_ignored = 0;
    json_object_foreach(body, key, v) if (strcmp(key, "model") != 0 && strcmp(key, "tokens") != 0 && n_ignored < 64)
        ignored[n_ignored++] = (char *)key;
    r->ignored_fields = srv_note_ignored_fields(s, API_COMPLETIONS, ignored, n_ignored, "/detokenize");
    if (check_model(s, body, &e)) return fail_reply(r, body, &e);
    if (!json_is_array(tokens)) {
        api_fail(&e, 400, "tokens", "tokens must be a list of token ids");
        return fail_reply(r, body, &e);
    }
    size_t n = json_array_size(tokens);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return fail_reply(r, body, (api_fail(&e, 503, NULL, "out of memory"), &e));
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(tokens, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= s->vocab_size) {
            free(ids);
            api_fail(&e, 400, "tokens", "tokens[%zu] is not a token id in [0, %d)", i, s->vocab_size);
            return fail_reply(r, body, &e);
        }
        ids[i] = (int32_t)json_integer_value(x);
    }
    json_decref(body);
    char *text = NULL;
    loom_error err;
    loom_status st = srv_decode_ids(s->model, ids, n, &text, &err);
    free(ids);
    if (st != LOOM_OK) return srv_reply_error(r, (api_fail(&e, 500, NULL, "cannot detokenize: %s", err.message), &e));
    json_t *prompt = json_string(text);
    free(text);
    return srv_reply_json(r, 200, json_pack("{s:o}", "prompt", prompt ? prompt : json_string("")));
}
