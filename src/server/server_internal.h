/* What the server's files share: the server struct, a connection's body and reply, and the route
 * handlers. */
#ifndef LOOM_SERVER_INTERNAL_H
#define LOOM_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

#include "server/api_error.h"
#include "server/request.h"
#include "server/server.h"

struct srv_server {
    srv_config cfg;
    struct MHD_Daemon *daemon;
    uint16_t port;
    loom_model *model;  /* NULL until ready */
    loom_engine *engine;
    int32_t max_model_len_tokens, vocab_size;
    atomic_int ready, stopping;
    atomic_int pending_requests; /* generation requests in flight */
    atomic_ullong next_id;       /* completion ids */
    uint64_t id_salt;            /* makes ids differ between server runs */
    long long created_s;         /* /v1/models "created" */
};

/* One HTTP request as the access handler sees it. */
typedef struct srv_conn {
    char *body;
    size_t body_len, body_cap;
    int body_too_large;
    int fd; /* the client's socket, to notice a disconnect while we wait */
} srv_conn;

/* A reply the handlers build: status + body, or a streaming MHD response already made. */
typedef struct srv_reply {
    int status;
    char *body;               /* malloc'd */
    const char *content_type;
    struct MHD_Response *stream; /* when set, status/body are unused */
} srv_reply;

/* Reply helpers: a JSON value (stolen), an error, or text. Each returns 0. */
int srv_reply_json(srv_reply *r, int status, json_t *v);
int srv_reply_error(srv_reply *r, const srv_error *e);
int srv_reply_text(srv_reply *r, int status, const char *content_type, char *text);

/* The body as a JSON object (for the small routes); 400 otherwise. */
json_t *srv_body_object(const srv_conn *c, srv_error *e);

/* Routes (routes.c, generation.c). */
int srv_route_health(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_models(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_tokenize(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_detokenize(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_metrics(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_web_page(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_completions(srv_server *s, srv_conn *c, srv_reply *r);
int srv_route_chat(srv_server *s, srv_conn *c, srv_reply *r);

/* Chat messages (JSON text) → prompt ids through the model's template; fails with a 400 for a
 * template that rejects the messages or a model without one. *ids is malloc'd. */
int srv_chat_prompt_ids(srv_server *s, const char *messages_json, int add_generation_prompt, int add_special,
                        int32_t **ids, size_t *n_ids, srv_error *e);

/* The text of one token for logprobs output, malloc'd ("" for a piece of a UTF-8 character). */
char *srv_token_piece(const loom_model *m, int32_t id);

/* Prometheus text for the engine's metrics, malloc'd. */
char *srv_metrics_text(srv_server *s);

/* Web page bytes (generated at build time from src/server/web/index.html). */
extern const unsigned char srv_web_index_html[];
extern const unsigned int srv_web_index_html_len;

#endif
