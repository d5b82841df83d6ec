/* What the server's files share: the server struct, the connection table (listener.c), a connection's
 * body and reply, and the route handlers. */
#ifndef LOOM_SERVER_INTERNAL_H
#define LOOM_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "api/api_error.h"
#include "api/request.h"
#include "api/tool_calls.h"
#include "server/server.h"

typedef struct srv_listener srv_listener;

#define SRV_MAX_LOGGED_FIELDS 256 /* distinct ignored field names logged; later ones are only counted */

struct srv_server {
    srv_config cfg;
    struct MHD_Daemon *daemon;
    srv_listener *listener;
    uint16_t port;
    loom_model *model; /* NULL until ready */
    loom_engine *engine;
    int32_t max_model_len_tokens, vocab_size;
    loom_sampling_params sampling_defaults; /* for request fields left out (loom_model_sampling_defaults) */
    api_tool_format tool_format;            /* how the model writes tool calls (cfg.tool_call_parser) */
    atomic_int ready, stopping;
    atomic_int pending_requests; /* generation requests in flight */
    atomic_ullong next_id;       /* completion ids */
    uint64_t id_salt;            /* makes ids differ between server runs */
    long long created_s;         /* /v1/models "created" */
    pthread_mutex_t log_mu;      /* guards logged_fields */
    char *logged_fields[SRV_MAX_LOGGED_FIELDS];
    size_t n_logged_fields;
};

/* One HTTP request as the access handler sees it. */
typedef struct srv_conn {
    char *body;
    size_t body_len, body_cap;
    int body_too_large;
    int fd;     /* the client's socket, to notice a disconnect while we wait */
    void *slot; /* its entry in the connection table (listener.c) */
    struct MHD_Connection *mc;
} srv_conn;

/* A reply the handlers build: status + body, or a streaming MHD response already made. */
typedef struct srv_reply {
    int status;
    char *body; /* malloc'd */
    const char *content_type;
    struct MHD_Response *stream; /* when set, status/body are unused (stream_status is the status) */
    int stream_status;           /* 200; a non-streamed answer that had to start early (generation.c) too */
    const char *stream_type;     /* the stream's Content-Type */
    char *ignored_fields;        /* malloc'd X-Loom-Ignored-Fields value, or NULL */
} srv_reply;

/* reply.c. Reply helpers: a JSON value (stolen), an error, or text. Each returns 0. */
int srv_reply_json(srv_reply *r, int status, json_t *v);
int srv_reply_error(srv_reply *r, const api_error *e);
int srv_reply_text(srv_reply *r, int status, const char *content_type, char *text);

/* The body as a JSON object (for the small routes); 400 otherwise. */
json_t *srv_body_object(const srv_conn *c, api_error *e);

/* libmicrohttpd closes a connection idle for request_timeout_s (a client that stops reading its answer).
 * Off while the connection's thread waits for the engine (nothing is idle then but us), on again when
 * it has bytes to send: its clock restarts then. */
void srv_idle_timeout(const srv_server *s, struct MHD_Connection *mc, int on);
/* request_timeout_s as libmicrohttpd's whole seconds (at least 1) */
unsigned srv_idle_timeout_s(const srv_server *s);

/* Logging through cfg.log (printf-style; nothing when no logger is set). */
void srv_log(srv_server *s, srv_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A request's ignored fields (of a request of this shape): logged once per name (debug, with a guess at
 * the intended field) and returned as the X-Loom-Ignored-Fields value (malloc'd; NULL when none). */
char *srv_note_ignored_fields(srv_server *s, api_shape shape, char *const *names, size_t n, const char *route);

/* Routes (routes.c, generation.c). model_id: the rest of the path after "/v1/models/", or NULL. */
int srv_route_health(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_models(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_model(srv_server *s, srv_conn *c, srv_reply *r, const char *model_id);
int srv_route_tokenize(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_detokenize(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_metrics(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_web_page(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_completions(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_chat(srv_server *s, srv_conn *c, srv_reply *r);

/* prompt.c. A prompt's ids: its own, or its text tokenized (add_special: BOS and the like). *ids is
 * malloc'd; 400 for text the tokenizer refuses. */
int srv_prompt_ids(srv_server *s, const api_prompt *p, int add_special, int32_t **ids, size_t *n, api_error *e);
/* Chat messages (JSON text) -> prompt ids through the model's template with the request's template
 * options, suffix (NULL: none) appended to the rendered text; fails with a 400 for a template that rejects them or a
  * model without one. *ids is malloc'd. */
int srv_chat_prompt_ids(srv_server *s, const char *messages_json, const loom_chat_template_params *tp, int add_special,
                        const char *suffix, int32_t **ids, size_t *n_ids, api_error *e);

/* Decodes ids with a fresh incremental detokenizer (special tokens kept). *text is malloc'd. */
loom_status srv_decode_ids(const loom_model *m, const int32_t *ids, size_t n, char **text, loom_error *err);
/* The text of one token for logprobs output, malloc'd ("" for a piece of a UTF-8 character). */
char *srv_token_piece(const loom_model *m, int32_t id);

/* Prometheus text for the engine's and the HTTP side's metrics, malloc'd. */
char *srv_metrics_text(srv_server *s);

/* ---- the connection table (listener.c) ---- */
typedef struct srv_conn_stats {
    int32_t open, limit, per_ip_limit;
    uint64_t timed_out_total;   /* closed because the request did not arrive within request_timeout_s */
    uint64_t refused_total;     /* over max_connections or max_connections_per_ip */
    uint64_t bad_headers_total; /* malformed framing headers, answered and closed */
} srv_conn_stats;

/* Binds addr, then accepts and screens connections on its own thread, handing sound ones to s->daemon. */
loom_status srv_listener_start(srv_server *s, const struct sockaddr_storage *addr, socklen_t addr_len,
                               srv_listener **out, loom_error *err);
uint16_t srv_listener_port(const srv_listener *l);
/* Stops accepting and closes what was not handed off yet; srv_listener_free after MHD_stop_daemon. */
void srv_listener_stop_accepting(srv_listener *l);
void srv_listener_free(srv_listener *l);
/* libmicrohttpd's connection notifications, and the access handler's "the request is whole". */
void srv_listener_mhd_started(srv_listener *l, int fd, void **socket_context);
void srv_listener_mhd_closed(srv_listener *l, void **socket_context);
void srv_listener_request_whole(srv_listener *l, void *socket_context);
void srv_listener_stats(srv_listener *l, srv_conn_stats *out);

/* Web page bytes (generated at build time from src/server/web/index.html). */
extern const unsigned char srv_web_index_html[];
extern const unsigned int srv_web_index_html_len;

#endif
