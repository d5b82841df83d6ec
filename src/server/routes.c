/* The small routes: /health, /v1/models, /tokenize, /detokenize, /metrics, and the web page. */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

int srv_route_health(srv_server *s, srv_conn *c, srv_reply *r) {
    if (s->ready) return srv_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
    return srv_reply_json(r, 503, json_pack("{s:s}", "status", "loading"));
}

int srv_route_models(srv_server *s, srv_conn *c, srv_reply *r) {
    json_t *model = json_pack("{s:s, s:s, s:I, s:s, s:i}", "id", s->cfg.served_model_name, "object", "model", "created",
                              (json_int_t)s->created_s, "owned_by", "loom", "max_model_len", s->max_model_len_tokens);
    return srv_reply_json(r, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", model));
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

static int fail_reply(srv_reply *r, json_t *body, srv_error *e) {
    json_decref(body);
    return srv_reply_error(r, e);
}

/* Checks the optional "model" member like the generation routes do. */
static int check_model(const srv_server *s, json_t *body, srv_error *e) {
    json_t *m = json_object_get(body, "model");
    if (!m || json_is_null(m)) return 0;
    if (!json_is_string(m)) return srv_fail(e, 400, "model", "model must be a string");
    if (strcmp(json_string_value(m), s->cfg.served_model_name) == 0) return 0;
    srv_fail(e, 404, "model", "the model '%.128s' does not exist", json_string_value(m));
    e->code = "model_not_found";
    return -1;
}

static int only_fields(json_t *body, const char *const *names, size_t n, srv_error *e) {
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, names[i]) != 0) i++;
        if (i == n) return srv_fail(e, 400, NULL, "unknown field '%.64s'", key);
    }
    return 0;
}

static int optional_bool(json_t *body, const char *name, int fallback, int *out, srv_error *e) {
    json_t *v = json_object_get(body, name);
    if (v && !json_is_boolean(v) && !json_is_null(v)) return srv_fail(e, 400, name, "%s must be a boolean", name);
    *out = json_is_boolean(v) ? json_is_true(v) : fallback;
    return 0;
}

/* {"prompt": "text", "add_special_tokens": true} or {"messages": [...], "add_generation_prompt": true}
 * → {"count", "max_model_len", "tokens"} */
int srv_route_tokenize(srv_server *s, srv_conn *c, srv_reply *r) {
    static const char *const names[] = {"model", "prompt", "messages", "add_special_tokens", "add_generation_prompt"};
    srv_error e;
    json_t *body = srv_body_object(c, &e);
    if (!body) return srv_reply_error(r, &e);
    json_t *prompt = json_object_get(body, "prompt"), *messages = json_object_get(body, "messages");
    int add_special, add_gen;
    if (only_fields(body, names, 5, &e) || check_model(s, body, &e) ||
        optional_bool(body, "add_special_tokens", messages == NULL, &add_special, &e) ||
        optional_bool(body, "add_generation_prompt", 1, &add_gen, &e))
        return fail_reply(r, body, &e);
    if (!json_is_string(prompt) == !json_is_array(messages)) {
        srv_fail(&e, 400, NULL, "give either a string 'prompt' or a 'messages' list");
        return fail_reply(r, body, &e);
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (json_is_array(messages)) {
        char *text = json_dumps(messages, JSON_COMPACT);
        int rc = text ? srv_chat_prompt_ids(s, text, add_gen, add_special, &ids, &n, &e) : srv_fail(&e, 503, NULL, "out of memory");
        free(text);
        if (rc) return fail_reply(r, body, &e);
    } else {
        loom_error err;
        loom_status st = loom_tokenize(s->model, json_string_value(prompt), json_string_length(prompt), add_special, &ids, &n, &err);
        if (st != LOOM_OK) {
            srv_fail(&e, st == LOOM_ERR_INVALID_ARG ? 400 : 500, "prompt", "cannot tokenize: %s", err.message);
            return fail_reply(r, body, &e);
        }
    }
    json_decref(body);
    json_t *tokens = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(tokens, json_integer(ids[i]));
    free(ids);
    return srv_reply_json(r, 200, json_pack("{s:I, s:i, s:o}", "count", (json_int_t)n, "max_model_len",
                                            s->max_model_len_tokens, "tokens", tokens));
}

/* Decodes ids with a fresh incremental detokenizer (special tokens kept). *text is malloc'd. */
static loom_status decode_ids(const loom_model *m, const int32_t *ids, size_t n, char **text, loom_error *err) {
    loom_detokenizer *d;
    *text = NULL;
    loom_status st = loom_detokenizer_create(m, 0, &d, err);
    if (st != LOOM_OK) return st;
    size_t len = 0;
    char *piece = NULL;
    for (size_t i = 0; i <= n && st == LOOM_OK; i++) {
        st = i < n ? loom_detokenizer_push(d, ids[i], &piece, err) : loom_detokenizer_flush(d, &piece, err);
        size_t add = piece ? strlen(piece) : 0;
        char *grown = st == LOOM_OK ? realloc(*text, len + add + 1) : NULL;
        if (grown) {
            if (add) memcpy(grown + len, piece, add);
            len += add;
            grown[len] = '\0';
            *text = grown;
        } else if (st == LOOM_OK) {
            st = LOOM_ERR_NO_MEMORY;
        }
        free(piece);
        piece = NULL;
    }
    loom_detokenizer_free(d);
    if (st != LOOM_OK) {
        free(*text);
        *text = NULL;
    }
    return st;
}

char *srv_token_piece(const loom_model *m, int32_t id) {
    char *text = NULL;
    loom_error ignored;
    decode_ids(m, &id, 1, &text, &ignored);
    return text;
}

/* {"tokens": [ids]} → {"prompt": "text"} */
int srv_route_detokenize(srv_server *s, srv_conn *c, srv_reply *r) {
    static const char *const names[] = {"model", "tokens"};
    srv_error e;
    json_t *body = srv_body_object(c, &e);
    if (!body) return srv_reply_error(r, &e);
    json_t *tokens = json_object_get(body, "tokens");
    if (only_fields(body, names, 2, &e) || check_model(s, body, &e)) return fail_reply(r, body, &e);
    if (!json_is_array(tokens)) {
        srv_fail(&e, 400, "tokens", "tokens must be a list of token ids");
        return fail_reply(r, body, &e);
    }
    size_t n = json_array_size(tokens);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return fail_reply(r, body, (srv_fail(&e, 503, NULL, "out of memory"), &e));
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(tokens, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= s->vocab_size) {
            free(ids);
            srv_fail(&e, 400, "tokens", "tokens[%zu] is not a token id in [0, %d)", i, s->vocab_size);
            return fail_reply(r, body, &e);
        }
        ids[i] = (int32_t)json_integer_value(v);
    }
    json_decref(body);
    char *text = NULL;
    loom_error err;
    loom_status st = decode_ids(s->model, ids, n, &text, &err);
    free(ids);
    if (st != LOOM_OK) return srv_reply_error(r, (srv_fail(&e, 500, NULL, "cannot detokenize: %s", err.message), &e));
    json_t *prompt = json_string(text);
    free(text);
    return srv_reply_json(r, 200, json_pack("{s:o}", "prompt", prompt ? prompt : json_string("")));
}
