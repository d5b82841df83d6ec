/* The libmicrohttpd side: the daemon (one thread per connection, fed by listener.c), body collection
 * under a size limit, routing, authentication, CORS, and turning a srv_reply into an MHD response.
 * Every response closes its connection: each connection then carries exactly one request, whose
 * headers listener.c has checked before libmicrohttpd reads them. */
#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
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
#define CORS_METHODS "GET, POST, HEAD, OPTIONS"

typedef int (*route_fn)(srv_server *s, srv_conn *c, srv_reply *r);

typedef struct route {
    const char *method, *path; /* GET routes answer HEAD too */
    route_fn run;
    int needs_model; /* 503 until the model is loaded */
    int open;        /* served without the API key */
    int json_body;   /* POST with a JSON body */
} route;

/* /health and /metrics are open for probes and scrapers (counters, never request data); so is the chat
 * page: static bytes that ask for the key themselves. */
static const route routes[] = {
    {"GET", "/health", srv_route_health, 0, 1, 0},
    {"GET", "/metrics", srv_route_metrics, 1, 1, 0},
    {"GET", "/", srv_route_web_page, 0, 1, 0},
    {"GET", "/v1/models", srv_route_models, 1, 0, 0},
    {"POST", "/v1/completions", srv_route_completions, 1, 0, 1},
    {"POST", "/v1/chat/completions", srv_route_chat, 1, 0, 1},
    {"POST", "/tokenize", srv_route_tokenize, 1, 0, 1},
    {"POST", "/detokenize", srv_route_detokenize, 1, 0, 1},
};

#define MODEL_PREFIX "/v1/models/"

srv_config srv_default_config(void) {
    return (srv_config){.host = "127.0.0.1",
                        .port = 8000,
                        .served_model_name = "loom",
                        .max_body_bytes = 4u << 20,
                        .max_pending_requests = 1024,
                        .max_prompts = 64,
                        .max_tokens_default = 2048,
                        .request_timeout_s = 30,
                        .max_connections = 2000,
                        .max_connections_per_ip = 256,
                        .tool_call_parser = "auto"};
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

/* ---- CORS ---- */

/* The Access-Control-Allow-Origin value for this request's Origin, or NULL (no CORS headers). */
static const char *allowed_origin(const srv_server *s, struct MHD_Connection *mc) {
    const char *list = s->cfg.allowed_origins;
    const char *origin = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin");
    if (!list || !origin) return NULL;
    size_t n = strlen(origin);
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ') p++;
        size_t len = strcspn(p, ",");
        while (len && p[len - 1] == ' ') len--;
        if (len == 1 && *p == '*') return "*";
        if (len && len == n && strncmp(p, origin, n) == 0) return origin;
        p += strcspn(p, ",");
    }
    return NULL;
}

/* Access-Control-Request-Headers, echoed when it is a plain list of header names. */
static const char *requested_headers(struct MHD_Connection *mc) {
    const char *h = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    if (!h || strlen(h) > 1024) return NULL;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_, ", *p)) return NULL;
    return h;
}

static int is_preflight(const srv_server *s, struct MHD_Connection *mc, const char *method) {
    return s->cfg.allowed_origins && strcmp(method, "OPTIONS") == 0 &&
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin") &&
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Access-Control-Request-Method");
}

/* ---- routing ---- */

/* %XX -> bytes, in place; -1 for a malformed escape or %00. */
static int percent_decode(char *s) {
    char *w = s;
    for (const char *p = s; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        char hex[3] = {p[1], p[1] ? p[2] : 0, 0}, *end;
        long v = strtol(hex, &end, 16);
        if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]) || *end || v == 0) return -1;
        *w++ = (char)v;
        p += 2;
    }
    *w = '\0';
    return 0;
}

static void __attribute__((format(printf, 4, 5)))
fail_reply(srv_reply *r, int status, const char *code, const char *fmt, ...) {
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    api_error e;
    api_fail(&e, status, NULL, "%s", message);
    e.code = code;
    srv_reply_error(r, &e);
}

static void dispatch(srv_server *s, struct MHD_Connection *mc, srv_conn *c, const char *url, const char *method,
                     srv_reply *r) {
    const route *rt = NULL;
    int path_known = 0, open = 0; /* unknown paths need the key too: they say nothing without it */
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int model_path = strncmp(url, MODEL_PREFIX, strlen(MODEL_PREFIX)) == 0 && url[strlen(MODEL_PREFIX)];
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path) != 0) continue;
        path_known = 1;
        open = routes[i].open;
        if (strcmp(method, routes[i].method) == 0 || (get && strcmp(routes[i].method, "GET") == 0)) rt = &routes[i];
    }
    if (!open && !authorized(s, mc)) {
        fail_reply(r, 401, "invalid_api_key", "a valid API key is required: send 'Authorization: Bearer KEY'");
    } else if (model_path && get) {
        if (!s->ready) fail_reply(r, 503, NULL, "the model is still loading");
        else {
            char *id = strdup(url + strlen(MODEL_PREFIX));
            if (!id || percent_decode(id)) fail_reply(r, 404, "model_not_found", "no model %.128s", url);
            else srv_route_model(s, c, r, id);
            free(id);
        }
    } else if (!rt) {
        if (path_known || model_path) fail_reply(r, 405, NULL, "method %.16s is not allowed on %.128s", method, url);
        else fail_reply(r, 404, NULL, "no route %.16s %.128s", method, url);
    } else if (c->body_too_large) {
        fail_reply(r, 413, NULL, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
    } else if (rt->json_body && !json_content_type(mc)) {
        fail_reply(r, 415, NULL, "the body must be JSON (Content-Type: application/json)");
    } else if (rt->needs_model && !s->ready) {
        fail_reply(r, 503, NULL, "the model is still loading");
    } else {
        rt->run(s, c, r);
    }
}

static void add_headers(const srv_server *s, struct MHD_Connection *mc, struct MHD_Response *resp, const srv_reply *r,
                        int status) {
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    const char *origin = allowed_origin(s, mc);
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Loom-Ignored-Fields");
        if (strcmp(origin, "*") != 0) MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, CORS_METHODS);
    if (r->ignored_fields) MHD_add_response_header(resp, "X-Loom-Ignored-Fields", r->ignored_fields);
}

static enum MHD_Result queue_reply(const srv_server *s, struct MHD_Connection *mc, srv_reply *r) {
    struct MHD_Response *resp = r->stream;
    if (!resp && r->body) resp = MHD_create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_FREE);
    int status = r->stream ? r->stream_status : r->status;
    if (!resp) {
        free(r->body);
        free(r->ignored_fields);
        return MHD_NO;
    }
    if (r->stream) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->stream_type);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    }
    add_headers(s, mc, resp, r, status);
    free(r->ignored_fields);
    enum MHD_Result ok = MHD_queue_response(mc, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* A CORS preflight: 204 with what may be sent, or 403 for an origin not on the list. No key needed:
 * browsers never send credentials on a preflight. */
static enum MHD_Result answer_preflight(srv_server *s, struct MHD_Connection *mc) {
    srv_reply r = {0};
    const char *origin = allowed_origin(s, mc);
    if (!origin) {
        fail_reply(&r, 403, NULL, "origin %.128s is not allowed (--allowed-origins)",
                   MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin"));
        return queue_reply(s, mc, &r);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) return MHD_NO;
    add_headers(s, mc, resp, &r, 204);
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", CORS_METHODS);
    const char *asked = requested_headers(mc);
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", asked ? asked : "Authorization, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    enum MHD_Result ok = MHD_queue_response(mc, 204, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result refuse_now(struct MHD_Connection *mc, const srv_server *s) {
    api_error e;
    srv_reply r = {0};
    api_fail(&e, 413, NULL, "the request body is larger than %zu bytes", s->cfg.max_body_bytes);
    srv_reply_error(&r, &e);
    return queue_reply(s, mc, &r);
}

static srv_conn *open_request(srv_server *s, struct MHD_Connection *mc) {
    srv_conn *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->mc = mc;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = info ? info->connect_fd : -1;
    info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    c->slot = info ? info->socket_context : NULL;
    return c;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_bytes, void **con_cls) {
    srv_server *s = cls;
    srv_conn *c = *con_cls;
    if (!c) { /* headers only */
        if (!(c = *con_cls = open_request(s, mc))) return MHD_NO;
        const char *length = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > DRAIN_LIMIT_BYTES) return refuse_now(mc, s);
        if (is_preflight(s, mc, method)) return answer_preflight(s, mc);
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
    srv_listener_request_whole(s->listener, c->slot);
    srv_reply r = {0};
    dispatch(s, mc, c, url, method, &r);
    return queue_reply(s, mc, &r);
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode why) {
    srv_conn *c = *con_cls;
    if (!c) return;
    free(c->body);
    free(c);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *mc, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    srv_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        srv_listener_mhd_closed(s->listener, socket_context);
        return;
    }
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (info) srv_listener_mhd_started(s->listener, info->connect_fd, socket_context);
}

/* URLs are matched as sent: decoding %XX would turn "/%00" into "/" and reach a route by accident. */
static size_t keep_escaped(void *cls, struct MHD_Connection *mc, char *s) { return strlen(s); }

static loom_status resolve_host(const char *host, uint16_t port, struct sockaddr_storage *addr, socklen_t *len,
                                loom_error *err) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char port_text[8];
    snprintf(port_text, sizeof port_text, "%u", port);
    if (getaddrinfo(host, port_text, &hints, &res) != 0 || !res) {
        err->status = LOOM_ERR_INVALID_ARG;
        snprintf(err->message, sizeof err->message, "--host %s is not a numeric IPv4 or IPv6 address", host);
        return err->status;
    }
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return LOOM_OK;
}

static void free_server(srv_server *s) {
    for (size_t i = 0; i < s->n_logged_fields; i++) free(s->logged_fields[i]);
    pthread_mutex_destroy(&s->log_mu);
    free(s);
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
    pthread_mutex_init(&s->log_mu, NULL);
    s->created_s = (long long)time(NULL);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->id_salt = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16);
    struct sockaddr_storage addr;
    socklen_t addr_len = 0;
    if (resolve_host(cfg->host, cfg->port, &addr, &addr_len, err) != LOOM_OK) {
        free_server(s);
        return err->status;
    }
    unsigned flags =
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_CONNECTION_TIMEOUT, srv_idle_timeout_s(s), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)cfg->max_connections + 16u, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        free_server(s);
        err->status = LOOM_ERR_INTERNAL;
        snprintf(err->message, sizeof err->message, "cannot start the HTTP daemon");
        return err->status;
    }
    if (srv_listener_start(s, &addr, addr_len, &s->listener, err) != LOOM_OK) {
        srv_listener_stop_accepting(s->listener);
        MHD_stop_daemon(s->daemon);
        srv_listener_free(s->listener);
        free_server(s);
        return err->status;
    }
    s->port = srv_listener_port(s->listener);
    *out = s;
    return LOOM_OK;
}

uint16_t srv_port(const srv_server *s) { return s->port; }

loom_status srv_set_ready(srv_server *s, loom_model *model, loom_engine *engine, int32_t max_model_len_tokens,
                          loom_error *err) {
    loom_status st = loom_model_sampling_defaults(model, &s->sampling_defaults, err);
    if (st != LOOM_OK) return st;
    const char *parser = s->cfg.tool_call_parser ? s->cfg.tool_call_parser : "auto";
    if (strcmp(parser, "auto") != 0) {
        int f = api_tool_format_parse(parser);
        if (f < 0) {
            err->status = LOOM_ERR_INVALID_ARG;
            snprintf(err->message, sizeof err->message, "unknown tool-call parser '%.64s'", parser);
            return err->status;
        }
        s->tool_format = (api_tool_format)f;
    } else { /* the format the template writes calls in; a model without a template gets hermes */
        char *src = NULL;
        loom_error ignored;
        s->tool_format =
            api_tool_format_detect(loom_model_chat_template(model, &src, &ignored) == LOOM_OK ? src : NULL);
        free(src);
    }
    srv_log(s, SRV_LOG_INFO, "tool calls: the %s format%s", api_tool_format_name(s->tool_format),
            strcmp(parser, "auto") ? "" : " (--tool-call-parser auto: from the chat template)");
    s->model = model;
    s->engine = engine;
    s->max_model_len_tokens = max_model_len_tokens;
    s->vocab_size = loom_model_get_info(model)->vocab_size;
    s->ready = 1;
    return LOOM_OK;
}

void srv_stop(srv_server *s) {
    if (!s) return;
    s->stopping = 1;
    srv_listener_stop_accepting(s->listener);
    MHD_stop_daemon(s->daemon);
    srv_listener_free(s->listener);
    free_server(s);
}
