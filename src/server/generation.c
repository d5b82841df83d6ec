/* POST /v1/completions and /v1/chat/completions: parse, build the prompt ids, submit one engine
 * request per prompt, then either wait for every choice (one JSON response) or stream each event as a
 * server-sent event. The waiting happens on the connection's own thread, which also watches the
 * socket: a client that goes away has its requests aborted within one wait interval. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/openai_format.h"
#include "server/server_internal.h"

#define WAIT_INTERVAL_MS 20

typedef struct choice_acc { /* one choice of a non-streamed response */
    char *text;
    size_t len, cap;
    json_t *logprobs;
    loom_finish_reason finish;
    char *stop_reason;
} choice_acc;

typedef struct gen {
    srv_server *s;
    srv_request req;
    srv_reply_meta meta;
    char id[48];
    srv_job *job;
    int32_t **prompt_ids;
    size_t *n_prompt_ids, n_prompts;
    int32_t n_choices;
    long long prompt_tokens, completion_tokens;
    size_t *text_offsets;  /* per choice, for completions logprobs */
    choice_acc *acc;       /* per choice, non-streaming */
    int fd;
    char *buf;             /* streaming: bytes not yet handed to MHD */
    size_t len, pos, cap;
    int done;
} gen;

static void gen_free(gen *g) {
    if (!g) return;
    if (g->job) {
        srv_job_abort(g->job); /* a no-op once everything finished */
        srv_job_release(g->job);
        atomic_fetch_sub(&g->s->pending_requests, 1);
    }
    for (size_t i = 0; i < g->n_prompts; i++) free(g->prompt_ids[i]);
    free(g->prompt_ids);
    free(g->n_prompt_ids);
    for (int32_t i = 0; g->acc && i < g->n_choices; i++) {
        free(g->acc[i].text);
        json_decref(g->acc[i].logprobs);
        free(g->acc[i].stop_reason);
    }
    free(g->acc);
    free(g->text_offsets);
    free(g->buf);
    srv_request_free(&g->req);
    free(g);
}

/* The peer closed its end (or the socket broke): POLLRDHUP without consuming pipelined bytes. */
static int client_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- prompts ---- */

static int tokenize_prompt(srv_server *s, const srv_prompt *p, int add_special, int32_t **ids, size_t *n, srv_error *e) {
    if (!p->text) {
        if (!(*ids = malloc(p->n_ids * sizeof **ids))) return srv_fail(e, 503, NULL, "out of memory");
        memcpy(*ids, p->ids, p->n_ids * sizeof **ids);
        *n = p->n_ids;
        return 0;
    }
    loom_error err;
    loom_status st = loom_tokenize(s->model, p->text, p->text_len, add_special, ids, n, &err);
    if (st == LOOM_OK) return 0;
    return srv_fail(e, st == LOOM_ERR_INVALID_ARG ? 400 : 500, "prompt", "cannot tokenize the prompt: %s", err.message);
}

int srv_chat_prompt_ids(srv_server *s, const char *messages_json, int add_generation_prompt, int add_special,
                        int32_t **ids, size_t *n_ids, srv_error *e) {
    loom_error err;
    char *text = NULL;
    loom_status st = loom_apply_chat_template(s->model, messages_json, add_generation_prompt, &text, &err);
    if (st != LOOM_OK) {
        int client = st == LOOM_ERR_INVALID_ARG || st == LOOM_ERR_UNSUPPORTED;
        return srv_fail(e, client ? 400 : 500, "messages", "chat template: %s", err.message);
    }
    srv_prompt p = {.text = text, .text_len = strlen(text)};
    int rc = tokenize_prompt(s, &p, add_special, ids, n_ids, e);
    free(text);
    return rc;
}

/* Prompt ids for every prompt, and max_tokens against the context (as vLLM reports it). */
static int build_prompts(gen *g, srv_error *e) {
    srv_request *r = &g->req;
    g->n_prompts = r->endpoint == SRV_CHAT ? 1 : r->n_prompts;
    g->prompt_ids = calloc(g->n_prompts, sizeof *g->prompt_ids);
    g->n_prompt_ids = calloc(g->n_prompts, sizeof *g->n_prompt_ids);
    if (!g->prompt_ids || !g->n_prompt_ids) return srv_fail(e, 503, NULL, "out of memory");
    int32_t limit = g->s->max_model_len_tokens;
    for (size_t i = 0; i < g->n_prompts; i++) {
        int rc = r->endpoint == SRV_CHAT
                     ? srv_chat_prompt_ids(g->s, r->messages_json, r->add_generation_prompt, r->add_special_tokens,
                                           &g->prompt_ids[i], &g->n_prompt_ids[i], e)
                     : tokenize_prompt(g->s, &r->prompts[i], r->add_special_tokens, &g->prompt_ids[i], &g->n_prompt_ids[i], e);
        if (rc) return rc;
        size_t n = g->n_prompt_ids[i];
        if (n == 0) return srv_fail(e, 400, "prompt", "the prompt is empty after tokenization");
        if (n >= (size_t)limit)
            return srv_fail(e, 400, r->endpoint == SRV_CHAT ? "messages" : "prompt",
                            "this model's maximum context length is %d tokens, but the prompt has %zu tokens", limit, n);
        if (!r->max_tokens_given && r->endpoint == SRV_CHAT) {
            r->params.max_tokens = limit - (int32_t)n;
        } else if ((size_t)r->params.max_tokens + n > (size_t)limit) {
            return srv_fail(e, 400, "max_tokens",
                            "this model's maximum context length is %d tokens; you requested %zu tokens (%zu in the "
                            "prompt, %d for the completion)", limit, n + (size_t)r->params.max_tokens, n,
                            r->params.max_tokens);
        }
        g->prompt_tokens += (long long)n;
    }
    return 0;
}

/* ---- submission ---- */

static int submit(gen *g, srv_error *e) {
    srv_server *s = g->s;
    if (atomic_fetch_add(&s->pending_requests, 1) >= s->cfg.max_pending_requests) {
        atomic_fetch_sub(&s->pending_requests, 1);
        srv_fail(e, 503, NULL, "the server is busy: %d requests are in flight; retry later", s->cfg.max_pending_requests);
        e->code = "queue_full";
        return -1;
    }
    g->n_choices = (int32_t)g->n_prompts * g->req.params.n;
    g->text_offsets = calloc((size_t)g->n_choices, sizeof *g->text_offsets);
    g->job = g->text_offsets ? srv_job_create(s->engine, g->n_prompts, g->req.params.n) : NULL;
    if (!g->job) {
        atomic_fetch_sub(&s->pending_requests, 1);
        return srv_fail(e, 503, NULL, "out of memory");
    }
    for (size_t i = 0; i < g->n_prompts; i++) {
        loom_request_params rp = g->req.params;
        rp.prompt_ids = g->prompt_ids[i];
        rp.n_prompt = g->n_prompt_ids[i];
        loom_error err;
        loom_status st = srv_job_submit(g->job, i, rp, &err);
        if (st == LOOM_OK) continue;
        int status = st == LOOM_ERR_INVALID_ARG ? 400 : st == LOOM_ERR_NO_MEMORY ? 503 : 500;
        return srv_fail(e, status, NULL, "%s", err.message);
    }
    return 0;
}

static json_t *event_logprobs(gen *g, const srv_event *ev) {
    if (g->req.params.logprobs < 0) return NULL;
    return srv_fmt_logprobs(g->s->model, g->req.endpoint, ev, &g->text_offsets[ev->choice]);
}

/* ---- non-streaming ---- */

static void accumulate(gen *g, const srv_event *ev) {
    choice_acc *a = &g->acc[ev->choice];
    size_t n = strlen(ev->text);
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        while (cap < a->len + n + 1) cap *= 2;
        char *grown = realloc(a->text, cap);
        if (!grown) return;
        a->text = grown;
        a->cap = cap;
    }
    memcpy(a->text + a->len, ev->text, n + 1);
    a->len += n;
    json_t *lp = event_logprobs(g, ev);
    if (lp && a->logprobs) srv_fmt_logprobs_extend(a->logprobs, lp);
    else if (lp) a->logprobs = json_incref(lp);
    json_decref(lp);
    g->completion_tokens += ev->n_new;
    if (ev->finish != LOOM_FINISH_NONE) a->finish = ev->finish;
    if (ev->stop_reason && !a->stop_reason) a->stop_reason = strdup(ev->stop_reason);
}

/* Waits for every choice; 0 when done, -1 when the client left (requests aborted) or it failed. */
static int collect(gen *g, srv_error *e) {
    if (!(g->acc = calloc((size_t)g->n_choices, sizeof *g->acc))) return srv_fail(e, 503, NULL, "out of memory");
    for (;;) {
        int finished, failed;
        srv_event *list = srv_job_take(g->job, WAIT_INTERVAL_MS, &finished, &failed);
        for (srv_event *ev = list; ev; ev = ev->next) accumulate(g, ev);
        srv_events_free(list);
        if (failed) return srv_fail(e, 500, NULL, "generation failed inside the engine");
        if (finished) return 0;
        if (client_gone(g->fd) || g->s->stopping) return srv_fail(e, 503, NULL, "the request was cancelled");
    }
}

static json_t *full_response(gen *g) {
    json_t *choices = json_array();
    for (int32_t i = 0; i < g->n_choices; i++) {
        choice_acc *a = &g->acc[i];
        json_array_append_new(choices, srv_fmt_choice(&g->meta, i, a->text ? a->text : "", json_incref(a->logprobs),
                                                      a->finish, a->stop_reason, 0));
    }
    json_t *resp = srv_fmt_envelope(&g->meta, choices);
    json_object_set_new(resp, "usage", srv_fmt_usage(g->prompt_tokens, g->completion_tokens));
    return resp;
}

/* ---- streaming ---- */

static void append_bytes(gen *g, const char *s, size_t n) {
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->len + n) cap *= 2;
        char *grown = realloc(g->buf, cap);
        if (!grown) return;
        g->buf = grown;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, s, n);
    g->len += n;
}

/* "data: JSON\n\n"; v is stolen. */
static void append_event(gen *g, json_t *v) {
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text) return;
    append_bytes(g, "data: ", 6);
    append_bytes(g, text, strlen(text));
    append_bytes(g, "\n\n", 2);
    free(text);
}

static void append_choice_chunk(gen *g, json_t *choice) {
    json_t *choices = json_array();
    json_array_append_new(choices, choice);
    json_t *chunk = srv_fmt_envelope(&g->meta, choices);
    if (chunk && g->req.include_usage) json_object_set_new(chunk, "usage", json_null());
    append_event(g, chunk);
}

static void append_end(gen *g, int failed) {
    if (failed) {
        srv_error e;
        srv_fail(&e, 500, NULL, "generation failed inside the engine");
        char *body = srv_error_body(&e);
        if (body) {
            append_bytes(g, "data: ", 6);
            append_bytes(g, body, strlen(body));
            append_bytes(g, "\n\n", 2);
        }
        free(body);
    } else if (g->req.include_usage) {
        json_t *chunk = srv_fmt_envelope(&g->meta, json_array());
        json_object_set_new(chunk, "usage", srv_fmt_usage(g->prompt_tokens, g->completion_tokens));
        append_event(g, chunk);
    }
    append_bytes(g, "data: [DONE]\n\n", 14);
    g->done = 1;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    gen *g = cls;
    while (g->pos == g->len) {
        if (g->done) return MHD_CONTENT_READER_END_OF_STREAM;
        g->pos = g->len = 0;
        if (client_gone(g->fd) || g->s->stopping) {
            srv_job_abort(g->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        int finished, failed;
        srv_event *list = srv_job_take(g->job, WAIT_INTERVAL_MS, &finished, &failed);
        for (srv_event *ev = list; ev; ev = ev->next) {
            g->completion_tokens += ev->n_new;
            append_choice_chunk(g, srv_fmt_choice(&g->meta, ev->choice, ev->text, event_logprobs(g, ev), ev->finish,
                                                  ev->stop_reason, 0));
        }
        srv_events_free(list);
        if (finished || failed) append_end(g, failed);
    }
    size_t n = g->len - g->pos < max ? g->len - g->pos : max;
    memcpy(buf, g->buf + g->pos, n);
    g->pos += n;
    return (ssize_t)n;
}

static void stream_done(void *cls) { gen_free(cls); }

static int start_stream(gen *g, srv_reply *r) {
    if (g->req.endpoint == SRV_CHAT) /* every choice opens with the assistant role, as OpenAI streams it */
        for (int32_t i = 0; i < g->n_choices; i++)
            append_choice_chunk(g, srv_fmt_choice(&g->meta, i, "", NULL, LOOM_FINISH_NONE, NULL, 1));
    r->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, g, stream_done);
    if (!r->stream) {
        gen_free(g);
        return -1;
    }
    return 0;
}

/* ---- the routes ---- */

static int run_generation(srv_server *s, srv_conn *c, srv_reply *r, srv_endpoint endpoint) {
    srv_error e;
    gen *g = calloc(1, sizeof *g);
    if (!g) return srv_reply_error(r, (srv_fail(&e, 503, NULL, "out of memory"), &e));
    g->s = s;
    g->fd = c->fd;
    srv_request_limits lim = {.vocab_size = s->vocab_size, .max_model_len = s->max_model_len_tokens,
                              .max_prompts = s->cfg.max_prompts};
    if (srv_request_parse(endpoint, c->body ? c->body : "", c->body_len, &lim, &g->req, &e)) {
        free(g);
        return srv_reply_error(r, &e);
    }
    int rc = 0;
    if (g->req.model && strcmp(g->req.model, s->cfg.served_model_name) != 0) {
        rc = srv_fail(&e, 404, "model", "the model '%.128s' does not exist; this server serves '%.128s'", g->req.model,
                      s->cfg.served_model_name);
        e.code = "model_not_found";
    }
    snprintf(g->id, sizeof g->id, "%s-%016llx%016llx", endpoint == SRV_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)s->id_salt, (unsigned long long)atomic_fetch_add(&s->next_id, 1));
    g->meta = (srv_reply_meta){.endpoint = endpoint, .chunk = g->req.stream, .id = g->id,
                               .created_s = (long long)time(NULL), .model = s->cfg.served_model_name};
    if (rc == 0) rc = build_prompts(g, &e);
    if (rc == 0) rc = submit(g, &e);
    if (rc == 0 && g->req.stream) return start_stream(g, r);
    if (rc == 0) rc = collect(g, &e);
    if (rc == 0) srv_reply_json(r, 200, full_response(g));
    else srv_reply_error(r, &e);
    gen_free(g);
    return 0;
}

int srv_route_completions(srv_server *s, srv_conn *c, srv_reply *r) { return run_generation(s, c, r, SRV_COMPLETIONS); }
int srv_route_chat(srv_server *s, srv_conn *c, srv_reply *r) { return run_generation(s, c, r, SRV_CHAT); }
