/* The libmicrohttpd side: the daemon (one thread per connection), body collection under a size
 * limit, routing, authentication, and turning a srv_reply into an MHD response. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_internal.h"

/* Bodies larger than this are refused at once (the connection is closed); up to it they are read
 * and discarded, so the client gets its 413 instead of a reset connection. */
#define DRAIN_LIMIT_BYTES (64u << 20)

typedef int (*route_fn)(srv_server *s, srv_conn *c, srv_reply *r);

typedef struct route {
    const char *method, *path;
    route_fn run;
    int needs_model; /* 503 until the model is loaded */
    int open;        /* served without the API key */
    int json_body;   /* POST with a JSON body */
} route;

/* /metrics is open like /health, so scrapers need no key; it exposes counters, never request data. */
static const route routes[] = {
    {"GET", "/health", srv_route_health, 0, 1, 0},
    {"GET", "/metrics", srv_route_metrics, 1, 1, 0},
    {"GET", "/", srv_route_web_page, 0, 0, 0},
    {"GET", "/v1/models", srv_route_models, 1, 0, 0},
    {"POST", "/v1/completions", srv_route_completions, 1, 0, 1},
    {"POST", "/v1/chat/completions", srv_route_chat, 1, 0, 1},
    {"POST", "/tokenize", srv_route_tokenize, 1, 0, 1},
    {"POST", "/detokenize", srv_route_detokenize, 1, 0, 1},
};

srv_config srv_default_config(void) {
    return (srv_config){.host = "127.0.0.1", .port = 8000, .served_model_name = "loom",
                        .max_body_bytes = 4u << 20, .max_pending_requests = 1024, .max_prompts = 64};
}

int srv_reply_text(srv_reply *r, int status, const char *content_type, char *text) {
    r->status = status;
    r->content_type = content_type;
    r->body = text;
    return 0;
}

int srv_reply_json(srv_reply *r, int status, json_t *v) {
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return srv_reply_text(r, status, "application/json", text);
}

int srv_reply_error(srv_reply *r, const srv_error *e) {
    return srv_reply_text(r, e->http_status, "application/json", srv_error_body(e));
}

json_t *srv_body_object(const srv_conn *c, srv_error *e) {
    json_error_t jerr;
    json_t *v = json_loadb(c->body ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) return srv_fail(e, 400, NULL, "the body is not valid JSON: %s", jerr.text), NULL;
    if (json_is_object(v)) return v;
    json_decref(v);
    return srv_fail(e, 400, NULL, "the body must be a JSON object"), NULL;
}

/* Compares without an early exit, so the time taken says nothing about where a guess went wrong. */
static int same_secret(const char *given, const char *key) {
    size_t n = strlen(key), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(key[i] ^ (i < m ? given[i] : 0));
    return diff == 0;
}

static int authorized(const srv_server *s, struct MHD_Connection *mc) {
    if (!s->cfg.api_key) return 1;
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && strncasecmp(h, "Bearer ", 7) == 0 && same_secret(h + 7, s->cfg.api_key);
}

static int json_content_type(struct MHD_Connection *mc) {
    const char *ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct) return 1; /* clients that send none mean JSON */
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void dispatch(srv_server *s, struct MHD_Connection *mc, srv_conn *c, const char *url, const char *method,
                     srv_reply *r) {
    srv_error e;
    const route *rt = NULL;
    int path_known = 0, open = 0; /* unknown paths need the key too: they say nothing without it */
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0) continue;
        path_known = 1;
        open = routes[i].open;
        if (strcmp(method, routes[i].method) == 0) rt = &routes[i];
    }
    if (!open && !authorized(s, mc)) {
        srv_fail(&e, 401, NULL, "a valid API key is required: send 'Authorization: Bearer KEY'");
        e.code = "invalid_api_key";
        srv_reply_error(r, &e);
    } else if (!rt) {
        srv_fail(&e, path_known ? 405 : 404, NULL, path_known ? "method %.16s is not allowed on %.128s" : "no route %.16s %.128s",
                 method, url);
        srv_reply_error(r, &e);
    } else if (c->body_too_large) {
        srv_fail(&e, 413, NULL, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
        srv_reply_error(r, &e);
    } else if (rt->json_body && !json_content_type(mc)) {
        srv_fail(&e, 415, NULL, "the body must be JSON (Content-Type: application/json)");
        srv_reply_error(r, &e);
    } else if (rt->needs_model && !s->ready) {
        srv_fail(&e, 503, NULL, "the model is still loading");
        srv_reply_error(r, &e);
    } else {
        rt->run(s, c, r);
    }
}

static enum MHD_Result queue_reply(struct MHD_Connection *mc, srv_reply *r) {
    struct MHD_Response *resp = r->stream;
    if (!resp && r->body) resp = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    if (r->stream) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    }
    enum MHD_Result ok = MHD_queue_response(mc, r->stream ? 200 : (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result refuse_now(struct MHD_Connection *mc, const srv_server *s) {
    srv_error e;
    srv_reply r = {0};
    srv_fail(&e, 413, NULL, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
    srv_reply_error(&r, &e);
    return queue_reply(mc, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_bytes, void **con_cls) {
    srv_server *s = cls;
    srv_conn *c = *con_cls;
    if (!c) { /* headers only */
        if (!(c = calloc(1, sizeof *c))) return MHD_NO;
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = info ? info->connect_fd : -1;
        *con_cls = c;
        const char *length = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > DRAIN_LIMIT_BYTES) return refuse_now(mc, s);
        return MHD_YES;
    }
    if (*upload_bytes) {
        size_t n = *upload_bytes;
        *upload_bytes = 0;
        if (c->body_too_large || c->body_len + n > s->cfg.max_body_bytes) {
            c->body_too_large = 1;
            free(c->body);
            c->body = NULL;
            c->body_len += n;
            return c->body_len > DRAIN_LIMIT_BYTES ? MHD_NO : MHD_YES;
        }
        if (c->body_len + n + 1 > c->body_cap) {
            size_t cap = c->body_cap ? c->body_cap : 4096;
            while (cap < c->body_len + n + 1) cap *= 2;
            char *grown = realloc(c->body, cap);
            if (!grown) return MHD_NO;
            c->body = grown;
            c->body_cap = cap;
        }
        memcpy(c->body + c->body_len, upload, n);
        c->body_len += n;
        c->body[c->body_len] = '\0';
        return MHD_YES;
    }
    srv_reply r = {0};
    dispatch(s, mc, c, url, method, &r);
    return queue_reply(mc, &r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode why) {
    srv_conn *c = *con_cls;
    if (!c) return;
    free(c->body);
    free(c);
    *con_cls = NULL;
}

/* URLs are matched as sent: decoding %XX would turn "/%00" into "/" and reach a route by accident. */
static size_t keep_escaped(void *cls, struct MHD_Connection *mc, char *s) { return strlen(s); }

static loom_status resolve_host(const char *host, uint16_t port, struct sockaddr_storage *addr, loom_error *err) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    if (getaddrinfo(host, port_text, &hints, &res) != 0 || !res) {
        err->status = LOOM_ERR_INVALID_ARG;
        snprintf(err->message, sizeof err->message, "--host %s is not a numeric IPv4 or IPv6 address", host);
        return err->status;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return LOOM_OK;
}

loom_status srv_start(const srv_config *cfg, srv_server **out, loom_error *err) {
    *out = NULL;
    srv_server *s = calloc(1, sizeof *s);
    if (!s) {
        err->status = LOOM_ERR_NO_MEMORY;
        snprintf(err->message, sizeof err->message, "out of memory");
        return err->status;
    }
    s->cfg = *cfg;
    s->created_s = (long long)time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->id_salt = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16);
    struct sockaddr_storage addr;
    if (resolve_host(cfg->host, cfg->port, &addr, err) != LOOM_OK) {
        free(s);
        return err->status;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
                                 MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        free(s);
        err->status = LOOM_ERR_IO;
        snprintf(err->message, sizeof err->message, "cannot listen on %s port %u (in use, or not an address of this host)",
                 cfg->host, cfg->port);
        return err->status;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    *out = s;
    return LOOM_OK;
}

uint16_t srv_port(const srv_server *s) { return s->port; }

void srv_set_ready(srv_server *s, loom_model *model, loom_engine *engine, int32_t max_model_len_tokens) {
    s->model = model;
    s->engine = engine;
    s->max_model_len_tokens = max_model_len_tokens;
    s->vocab_size = loom_model_get_info(model)->vocab_size;
    s->ready = 1;
}

void srv_stop(srv_server *s) {
    if (!s) return;
    s->stopping = 1;
    MHD_stop_daemon(s->daemon);
    free(s);
}
