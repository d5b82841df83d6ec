/* `loom serve`: an OpenAI-compatible HTTP server over the engine (libmicrohttpd, one thread per
 * connection; the engine runs on its own thread and reports through callbacks, so no HTTP work ever
 * happens on the engine loop). Speaks only loom.h (and src/api/, the request schema). */
#ifndef LOOM_SERVER_SERVER_H
#define LOOM_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "loom.h"

typedef enum srv_log_level { SRV_LOG_DEBUG = 0, SRV_LOG_INFO, SRV_LOG_WARNING } srv_log_level;

/* Called from connection threads (the library never prints); message has no trailing newline. */
typedef void (*srv_log_fn)(void *user, srv_log_level level, const char *message);

typedef struct srv_config {
    const char *host;               /* numeric IPv4 or IPv6 address to bind */
    uint16_t port;                  /* 0 = any free port (see srv_port) */
    const char *api_key;            /* NULL = no authentication */
    const char *served_model_name;  /* the model id clients send and /v1/models lists */
    size_t max_body_bytes;          /* larger request bodies get 413 */
    int32_t max_pending_requests;   /* generation requests in flight; more get 503 */
    int32_t max_prompts;            /* prompts in one completions request */
    int32_t max_tokens_default;     /* a chat request without max_tokens: at most this many (and what the
                                    * context leaves); 0 = only what the context leaves */
    const char *allowed_origins;    /* CORS: NULL = no CORS headers; "*" or "https://a,https://b" */
    double request_timeout_s;       /* a request's headers and body must arrive within this */
    int32_t max_connections;        /* open connections in all */
    int32_t max_connections_per_ip; /* open connections from one client address */
    const char *tool_call_parser;   /* "auto" (from the chat template), "hermes", "llama3_json", "mistral" */
    srv_log_fn log;                 /* NULL = silent */
    void *log_user;
} srv_config;

srv_config srv_default_config(void);

typedef struct srv_server srv_server;

/* Starts listening; until srv_set_ready, /health answers 503 and other routes 503 as well. The
 * config's strings must outlive the server. */
loom_status srv_start(const srv_config *cfg, srv_server **out, loom_error *err);
uint16_t srv_port(const srv_server *s);
/* The model and running engine to serve (owned by the caller, alive until srv_stop returns). Fails
 * when the model's sampling defaults cannot be read (loom_model_sampling_defaults). */
loom_status srv_set_ready(srv_server *s, loom_model *model, loom_engine *engine, int32_t max_model_len_tokens,
                          loom_error *err);
/* Ends open streams (their requests are aborted), stops listening, joins every connection thread. */
void srv_stop(srv_server *s);

#endif
