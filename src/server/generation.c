/* POST /v1/completions and /v1/chat/completions: parse (src/api/request.h), build the prompt ids, have
 * the engine validate each request, submit one engine request per prompt, then either wait for every
 * choice (one JSON response) or stream each event as a server-sent event.
 *
 * A client that goes away has its requests aborted. The rule: the client is gone when a write to it
 * fails (libmicrohttpd then ends the response and stream_done aborts) or when its socket reports an
 * error or a hang-up (POLLERR / POLLHUP: a reset, or both directions closed). A FIN alone (POLLRDHUP)
 * is no proof: a client may shut down its sending side after the request (shutdown(SHUT_WR)) and still
 * read the answer, and TCP cannot tell that from a close() until we write. So once a FIN is seen, the
 * server writes something the client ignores every PROBE_INTERVAL_MS while it has nothing else to send:
 * a stream an SSE comment (": ping"), a non-streamed request its answer's leading whitespace (it then
 * answers 200 at once and its JSON follows; should generation fail after that, the body is the error
 * object under status 200). A closed client answers the first probe with a reset, so it is noticed
 * within two probes. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/job.h"
#include "server/openai_format.h"
#include "server/server_internal.h"

#define WAIT_INTERVAL_MS 20
#define PROBE_INTERVAL_MS 250

typedef struct choice_acc { /* one choice of a non-streamed response */
    char *text;
    size_t len, cap;
    json_t *logprobs;
    loom_finish_reason finish;
    char *stop_reason;
    int32_t stop_token_id;
} choice_acc;

typedef struct gen {
    srv_server *s;
    api_request req;
    srv_reply_meta meta;
    char id[48];
    srv_job *job;
    int32_t **prompt_ids;
    size_t *n_prompt_ids, n_prompts;
    int32_t n_choices;
    long long prompt_tokens, completion_tokens;
    size_t *text_offsets; /* per choice, for completions logprobs */
    choice_acc *acc;      /* per choice, non-streaming */
    int fd;
    struct MHD_Connection *mc;
    char *buf; /* a response's bytes not yet handed to MHD */
    size_t len, pos, cap;
    int done;
    int whole_json; /* the non-streamed answer, sent through the stream reader (after a FIN) */
    double last_write_s;
    int tools_on;              /* chat with tools (tool_choice not none): answers are read for tool calls */
    int tools_opened;          /* the prompt ends with the format's opener (forced mistral calls) */
    api_tool_parser **parsers; /* per choice, when streaming with tools */
} gen;

typedef enum peer_state { PEER_HERE = 0, PEER_FIN, PEER_GONE } peer_state;

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
    for (int32_t i = 0; g->parsers && i < g->n_choices; i++) api_tool_parser_free(g->parsers[i]);
    free(g->parsers);
    free(g->text_offsets);
    free(g->buf);
    api_request_free(&g->req);
    free(g);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* What the socket says about the client, without consuming anything it sent. */
static peer_state peer(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    if (fd < 0 || poll(&p, 1, 0) <= 0) return PEER_HERE;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return PEER_GONE;
    return (p.revents & POLLRDHUP) ? PEER_FIN : PEER_HERE;
}

/* ---- prompts ---- */

/* The engine's request for prompt i. */
static loom_request_params prompt_params(const gen *g, size_t i) {
    loom_request_params rp = g->req.params;
    rp.prompt_ids = g->prompt_ids[i];
    rp.n_prompt = g->n_prompt_ids[i];
    return rp;
}

/* Prompt ids for every prompt; max_tokens against the context (as vLLM reports it; a chat request
 * without max_tokens gets what the context leaves, at most --max-tokens-default); then the engine's
 * own checks of every field, before anything is set up. */
static int build_prompts(gen *g, api_error *e) {
    api_request *r = &g->req;
    g->n_prompts = r->shape == API_CHAT ? 1 : r->n_prompts;
    g->prompt_ids = calloc(g->n_prompts, sizeof *g->prompt_ids);
    g->n_prompt_ids = calloc(g->n_prompts, sizeof *g->n_prompt_ids);
    if (!g->prompt_ids || !g->n_prompt_ids) return api_fail(e, 503, NULL, "out of memory");
    int32_t limit = g->s->max_model_len_tokens, cap = g->s->cfg.max_tokens_default;
    const char *prompt_param = r->shape == API_CHAT ? "messages" : "prompt", *suffix = NULL;
    if (r->shape == API_CHAT && r->tools.choice != API_TOOL_CHOICE_NONE) {
        if (api_tool_constraint(r, g->s->tool_format, &suffix, e)) return -1;
        g->tools_on = 1;
        g->tools_opened = suffix != NULL;
        if (g->s->tool_format == API_TOOLS_MISTRAL) r->params.skip_special_tokens = 0; /* [TOOL_CALLS] is one */
    }
    for (size_t i = 0; i < g->n_prompts; i++) {
        int rc = r->shape == API_CHAT
            ? srv_chat_prompt_ids(g->s, r->messages_json, &r->chat, r->add_special_tokens, suffix, &g->prompt_ids[i],
                                  &g->n_prompt_ids[i], e)
            : srv_prompt_ids(g->s, &r->prompts[i], r->add_special_tokens, &g->prompt_ids[i], &g->n_prompt_ids[i], e);
        if (rc) return rc;
        size_t n = g->n_prompt_ids[i];
        if (n >= (size_t)limit && n > 0)
            return api_fail(e, 400, prompt_param,
                            "this model's maximum context length is %d tokens, but the prompt has %zu tokens", limit,
                            n);
        if (!r->max_tokens_given && r->shape == API_CHAT) {
            int32_t room = limit - (int32_t)n;
            r->params.max_tokens = cap > 0 && cap < room ? cap : room;
        } else if (r->params.max_tokens > 0 && (size_t)r->params.max_tokens + n > (size_t)limit) {
            return api_fail(e, 400, r->max_tokens_field ? r->max_tokens_field : "max_tokens",
                            "this model's maximum context length is %d tokens; you requested %zu tokens (%zu in the "
                            "prompt, %d for the completion)",
                            limit, n + (size_t)r->params.max_tokens, n, r->params.max_tokens);
        }
        g->prompt_tokens += (long long)n;
    }
    for (size_t i = 0; i < g->n_prompts; i++) {
        loom_request_params rp = prompt_params(g, i);
        loom_error err;
        loom_status st = loom_engine_validate_request(g->s->engine, &rp, &err);
        if (st != LOOM_OK) return api_fail_from_engine(e, r, st, err.message);
    }
    return 0;
}

/* ---- submission ---- */

static int submit(gen *g, api_error *e) {
    srv_server *s = g->s;
    if (atomic_fetch_add(&s->pending_requests, 1) >= s->cfg.max_pending_requests) {
        atomic_fetch_sub(&s->pending_requests, 1);
        api_fail(e, 503, NULL, "the server is busy: %d requests are in flight; retry later",
                 s->cfg.max_pending_requests);
        e->code = "queue_full";
        return -1;
    }
    g->n_choices = (int32_t)g->n_prompts * g->req.params.n;
    g->text_offsets = calloc((size_t)g->n_choices, sizeof *g->text_offsets);
    if (g->tools_on && !(g->parsers = calloc((size_t)g->n_choices, sizeof *g->parsers))) {
        atomic_fetch_sub(&s->pending_requests, 1);
        return api_fail(e, 503, NULL, "out of memory");
    }
    g->job = g->text_offsets ? srv_job_create(s->engine, g->n_prompts, g->req.params.n) : NULL;
    if (!g->job) {
        atomic_fetch_sub(&s->pending_requests, 1);
        return api_fail(e, 503, NULL, "out of memory");
    }
    for (size_t i = 0; i < g->n_prompts; i++) {
        loom_error err;
        loom_status st = srv_job_submit(g->job, i, prompt_params(g, i), &err);
        if (st != LOOM_OK) return api_fail_from_engine(e, &g->req, st, err.message);
    }
    return 0;
}

static json_t *event_logprobs(gen *g, const srv_event *ev) {
    if (g->req.params.logprobs < 0) return NULL;
    return srv_fmt_logprobs(g->s->model, g->req.shape, ev, &g->text_offsets[ev->choice]);
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
    if (ev->finish != LOOM_FINISH_NONE) {
        a->finish = ev->finish;
        a->stop_token_id = ev->stop_token_id;
    }
    if (ev->stop_reason && !a->stop_reason) a->stop_reason = strdup(ev->stop_reason);
}

static int take_into_acc(gen *g, int *finished) {
    int failed;
    srv_event *list = srv_job_take(g->job, WAIT_INTERVAL_MS, finished, &failed);
    for (srv_event *ev = list; ev; ev = ev->next) accumulate(g, ev);
    srv_events_free(list);
    return failed;
}

/* Waits for every choice: 0 when done, 1 when the client sent a FIN first (the answer then goes out
 * through the probing reader), -1 when the client left (requests aborted) or it failed. */
static int collect(gen *g, api_error *e) {
    if (!(g->acc = calloc((size_t)g->n_choices, sizeof *g->acc))) return api_fail(e, 503, NULL, "out of memory");
    for (int32_t i = 0; i < g->n_choices; i++) g->acc[i].stop_token_id = -1;
    for (;;) {
        int finished;
        if (take_into_acc(g, &finished)) return api_fail(e, 500, NULL, "generation failed inside the engine");
        if (finished) return 0;
        peer_state p = peer(g->fd);
        if (p == PEER_GONE || g->s->stopping) return api_fail(e, 503, NULL, "the request was cancelled");
        if (p == PEER_FIN) return 1;
    }
}

/* Different call ids in every choice of every response. */
static uint64_t tool_id_seed(const gen *g, int32_t choice) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = g->id; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return h ^ ((uint64_t)choice << 32);
}

/* A whole answer's tool calls into its choice: content outside them, the calls, finish_reason
 * "tool_calls"; an answer whose calls do not read as the format says is all content (vLLM's rule). */
static void whole_answer_tools(gen *g, int32_t i, json_t *choice) {
    const choice_acc *a = &g->acc[i];
    api_tool_parser *p =
        api_tool_parser_create(g->s->tool_format, g->tools_opened, tool_id_seed(g, i), g->req.tools.tools_json);
    api_tool_delta d = {0};
    int ok = p && api_tool_parser_push(p, a->text ? a->text : "", a->len, &d) == 0 &&
        api_tool_parser_finish(p, &d) == 0 && !api_tool_parser_failed(p);
    json_t *calls = ok && d.n_calls ? json_array() : NULL;
    for (size_t k = 0; calls && k < d.n_calls; k++) {
        const api_tool_call_delta *c = &d.calls[k];
        if (c->name) /* a call's first delta; whole text gives one delta per call */
            json_array_append_new(calls,
                                  json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", c->id, "type", "function", "function",
                                            "name", c->name, "arguments", c->arguments));
    }
    const char *content = ok ? d.content : a->text;
    srv_fmt_set_tool_calls(choice, content, calls, calls && a->finish == LOOM_FINISH_STOP);
    api_tool_delta_clear(&d);
    api_tool_parser_free(p);
}

static json_t *full_response(gen *g) {
    json_t *choices = json_array();
    for (int32_t i = 0; i < g->n_choices; i++) {
        choice_acc *a = &g->acc[i];
        json_t *choice = srv_fmt_choice(&g->meta, i, a->text ? a->text : "", json_incref(a->logprobs), a->finish,
                                        a->stop_reason, a->stop_token_id, 0);
        if (g->tools_on && choice) whole_answer_tools(g, i, choice);
        json_array_append_new(choices, choice);
    }
    json_t *resp = srv_fmt_envelope(&g->meta, choices);
    json_object_set_new(resp, "usage", srv_fmt_usage(g->prompt_tokens, g->completion_tokens));
    return resp;
}

/* ---- the streamed bytes (SSE, or a non-streamed answer after a FIN) ---- */

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

static char *engine_failure_body(void) {
    api_error e;
    api_fail(&e, 500, NULL, "generation failed inside the engine");
    return api_error_body(&e);
}

static void append_end(gen *g, int failed) {
    if (failed) {
        char *body = engine_failure_body();
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

/* A streamed event of a chat with tools: the content and tool-call deltas its text gives (a chunk only
 * when there is something to say). */
static void append_tool_event(gen *g, const srv_event *ev) {
    api_tool_parser **p = &g->parsers[ev->choice];
    if (!*p)
        *p = api_tool_parser_create(g->s->tool_format, g->tools_opened, tool_id_seed(g, ev->choice),
                                    g->req.tools.tools_json);
    if (!*p) return;
    api_tool_delta d = {0};
    int rc = api_tool_parser_push(*p, ev->text, strlen(ev->text), &d);
    if (rc == 0 && ev->finish != LOOM_FINISH_NONE) rc = api_tool_parser_finish(*p, &d);
    json_t *lp = event_logprobs(g, ev);
    if (rc == 0 && (d.content || d.n_calls || lp || ev->finish != LOOM_FINISH_NONE)) {
        json_t *choice =
            srv_fmt_choice(&g->meta, ev->choice, "", lp, ev->finish, ev->stop_reason, ev->stop_token_id, 0);
        int called = ev->finish == LOOM_FINISH_STOP && api_tool_parser_calls(*p) > 0;
        if (choice) srv_fmt_set_tool_calls(choice, d.content, srv_fmt_tool_call_deltas(&d), called);
        append_choice_chunk(g, choice);
    } else {
        json_decref(lp);
    }
    api_tool_delta_clear(&d);
}

static void take_into_stream(gen *g) {
    int finished, failed;
    srv_event *list = srv_job_take(g->job, WAIT_INTERVAL_MS, &finished, &failed);
    for (srv_event *ev = list; ev; ev = ev->next) {
        g->completion_tokens += ev->n_new;
        if (g->tools_on) {
            append_tool_event(g, ev);
            continue;
        }
        append_choice_chunk(g,
                            srv_fmt_choice(&g->meta, ev->choice, ev->text, event_logprobs(g, ev), ev->finish,
                                           ev->stop_reason, ev->stop_token_id, 0));
    }
    srv_events_free(list);
    if (finished || failed) append_end(g, failed);
}

static void take_whole_json(gen *g) {
    int finished;
    int failed = take_into_acc(g, &finished);
    if (!finished && !failed) return;
    char *text = NULL;
    if (failed) {
        text = engine_failure_body();
    } else {
        json_t *resp = full_response(g);
        text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
        json_decref(resp);
    }
    if (text) append_bytes(g, text, strlen(text));
    free(text);
    g->done = 1;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    gen *g = cls;
    if (g->pos == g->len && !g->done) srv_idle_timeout(g->s, g->mc, 0);
    while (g->pos == g->len) {
        if (g->done) return MHD_CONTENT_READER_END_OF_STREAM;
        g->pos = g->len = 0;
        peer_state p = peer(g->fd);
        if (p == PEER_GONE || g->s->stopping) {
            srv_job_abort(g->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (g->whole_json) take_whole_json(g);
        else take_into_stream(g);
        if (g->len == 0 && p == PEER_FIN && now_s() - g->last_write_s > PROBE_INTERVAL_MS * 1e-3) {
            if (g->whole_json) append_bytes(g, " ", 1); /* JSON may start with whitespace */
            else append_bytes(g, ": ping\n\n", 8);      /* an SSE comment */
        }
    }
    srv_idle_timeout(g->s, g->mc, 1);
    size_t n = g->len - g->pos < max ? g->len - g->pos : max;
    memcpy(buf, g->buf + g->pos, n);
    g->pos += n;
    g->last_write_s = now_s();
    return (ssize_t)n;
}

static void stream_done(void *cls) { gen_free(cls); }

static int start_stream(gen *g, srv_reply *r, const char *content_type) {
    int role_chunks = !g->whole_json && g->req.shape == API_CHAT; /* each chat choice opens with its role */
    for (int32_t i = 0; role_chunks && i < g->n_choices; i++)
        append_choice_chunk(g, srv_fmt_choice(&g->meta, i, "", NULL, LOOM_FINISH_NONE, NULL, -1, 1));
    g->last_write_s = now_s();
    r->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, g, stream_done);
    r->stream_status = 200;
    r->stream_type = content_type;
    if (!r->stream) {
        gen_free(g);
        return -1;
    }
    return 0;
}

/* ---- the routes ---- */

static int run_generation(srv_server *s, srv_conn *c, srv_reply *r, api_shape shape) {
    api_error e;
    gen *g = calloc(1, sizeof *g);
    if (!g) return srv_reply_error(r, (api_fail(&e, 503, NULL, "out of memory"), &e));
    g->s = s;
    g->fd = c->fd;
    g->mc = c->mc;
    const char *route = shape == API_CHAT ? "/v1/chat/completions" : "/v1/completions";
    if (api_request_parse(shape, c->body ? c->body : "", c->body_len, &s->sampling_defaults, (size_t)s->cfg.max_prompts,
                          &g->req, &e)) {
        free(g);
        return srv_reply_error(r, &e);
    }
    r->ignored_fields = srv_note_ignored_fields(s, shape, g->req.ignored, g->req.n_ignored, route);
    int rc = 0;
    if (g->req.model && strcmp(g->req.model, s->cfg.served_model_name) != 0) {
        rc = api_fail(&e, 404, "model", "the model '%.128s' does not exist; this server serves '%.128s'", g->req.model,
                      s->cfg.served_model_name);
        e.code = "model_not_found";
    }
    snprintf(g->id, sizeof g->id, "%s-%016llx%016llx", shape == API_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)s->id_salt, (unsigned long long)atomic_fetch_add(&s->next_id, 1));
    g->meta = (srv_reply_meta){.endpoint = shape,
                               .chunk = g->req.stream,
                               .id = g->id,
                               .created_s = (long long)time(NULL),
                               .model = s->cfg.served_model_name};
    srv_idle_timeout(s, c->mc, 0); /* tokenizing and the engine may take longer than the idle timeout */
    if (rc == 0) rc = build_prompts(g, &e);
    if (rc == 0) rc = submit(g, &e);
    if (rc == 0 && g->req.stream) return start_stream(g, r, "text/event-stream");
    if (rc == 0) rc = collect(g, &e);
    if (rc == 1) {
        g->whole_json = 1;
        return start_stream(g, r, "application/json");
    }
    if (rc == 0) srv_reply_json(r, 200, full_response(g));
    else srv_reply_error(r, &e);
    srv_idle_timeout(s, c->mc, 1);
    gen_free(g);
    return 0;
}

int srv_route_completions(srv_server *s, srv_conn *c, srv_reply *r) { return run_generation(s, c, r, API_COMPLETIONS); }
int srv_route_chat(srv_server *s, srv_conn *c, srv_reply *r) { return run_generation(s, c, r, API_CHAT); }
