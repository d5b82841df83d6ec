/* `loom serve`: an OpenAI-compatible HTTP server over the engine (libmicrohttpd, one thread per
 * connection; the engine runs on its own thread and reports through callbacks, so no HTTP work ever
 * happens on the engine loop). Speaks only loom.h. */
#ifndef LOOM_SERVER_SERVER_H
#define LOOM_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "loom.h"

typedef struct srv_config {
    const char *host;              /* numeric IPv4 or IPv6 address to bind */
    uint16_t port;                 /* 0 = any free port (see srv_port) */
    const char *api_key;           /* NULL = no authentication */
    const char *served_model_name; /* the model id clients send and /v1/models lists */
    size_t max_body_bytes;         /* larger request bodies get 413 */
    int32_t max_pending_requests;  /* generation requests in flight; more get 503 */
    int32_t max_prompts;           /* prompts in one completions request */
} srv_config;

srv_config srv_default_config(void);

typedef struct srv_server srv_server;

/* Starts listening; until srv_set_ready, /health answers 503 and other routes 503 as well. The
 * config's strings must outlive the server. */
loom_status srv_start(const srv_config *cfg, srv_server **out, loom_error *err);
uint16_t srv_port(const srv_server *s);
/* The model and running engine to serve (owned by the caller, alive until srv_stop returns). */
void srv_set_ready(srv_server *s, loom_model *model, loom_engine *engine, int32_t max_model_len_tokens);
/* Ends open streams (their requests are aborted), stops listening, joins every connection thread. */
void srv_stop(srv_server *s);

#endif
