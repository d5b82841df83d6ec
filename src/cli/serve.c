/* loom serve: the OpenAI-compatible HTTP server. Listens first (so /health says 503 while the model
 * loads), loads the model, starts the engine thread, then serves until SIGINT or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/tool_calls.h"
#include "cli/cli.h"
#include "cli/engine_opts.h"
#include "server/server.h"

typedef struct serve_opts {
    const char *api_key_file;
    srv_config srv;
    srv_log_level log_level;
    cli_engine_opts engine;
} serve_opts;

static const char *const server_options[] = {"--host",
                                             "--port",
                                             "--api-key",
                                             "--api-key-file",
                                             "--served-model-name",
                                             "--max-body-bytes",
                                             "--max-pending-requests",
                                             "--allowed-origins",
                                             "--request-timeout",
                                             "--max-connections",
                                             "--max-connections-per-ip",
                                             "--max-tokens-default",
                                             "--tool-call-parser",
                                             "--log-level"};

static const char *const level_names[] = {"debug", "info", "warning"};

/* The server's log lines on stderr, from its level up. */
static void log_to_stderr(void *user, srv_log_level level, const char *message) {
    if (level >= *(const srv_log_level *)user) fprintf(stderr, "loom serve: %s: %s\n", level_names[level], message);
}

static int is_server_option(const char *a) {
    for (size_t i = 0; i < sizeof server_options / sizeof server_options[0]; i++)
        if (!strcmp(a, server_options[i])) return 1;
    return 0;
}

/* An integer option into *out; 0, or the usage error's exit status. */
static int int_option(const char *name, const char *v, long long min, long long max, long long *out) {
    if (cli_parse_int(v, min, max, out) == 0) return 0;
    return cli_usage_error("serve", "%s needs an integer in [%lld, %lld], got '%s'", name, min, max, v);
}

/* A non-integer option (or --log-level); 1 when a was one of them. */
static int text_option(const char *a, const char *v, serve_opts *o, int *bad) {
    if (!strcmp(a, "--host")) o->srv.host = v;
    else if (!strcmp(a, "--api-key")) o->srv.api_key = v;
    else if (!strcmp(a, "--api-key-file")) o->api_key_file = v;
    else if (!strcmp(a, "--served-model-name")) o->srv.served_model_name = v;
    else if (!strcmp(a, "--allowed-origins")) o->srv.allowed_origins = v;
    else if (!strcmp(a, "--tool-call-parser")) {
        if (strcmp(v, "auto") && api_tool_format_parse(v) < 0)
            *bad = cli_usage_error("serve", "--tool-call-parser is auto, hermes, llama3_json or mistral, not '%s'", v);
        else o->srv.tool_call_parser = v;
    } else if (!strcmp(a, "--request-timeout")) {
        double t;
        if (cli_parse_float(v, 0.1, 86400, &t))
            *bad = cli_usage_error("serve", "--request-timeout needs seconds in [0.1, 86400], got '%s'", v);
        else o->srv.request_timeout_s = t;
    } else if (!strcmp(a, "--log-level")) {
        int i = 0;
        while (i < 3 && strcmp(v, level_names[i])) i++;
        if (i == 3) *bad = cli_usage_error("serve", "--log-level is debug, info or warning, not '%s'", v);
        else o->log_level = (srv_log_level)i;
    } else {
        return 0;
    }
    return 1;
}

static int server_option(const char *a, const char *v, serve_opts *o) {
    long long n = 0;
    int bad = 0;
    if (text_option(a, v, o, &bad)) return bad;
    if (!strcmp(a, "--port")) {
        if (!(bad = int_option(a, v, 0, 65535, &n))) o->srv.port = (uint16_t)n;
    } else if (!strcmp(a, "--max-body-bytes")) {
        if (!(bad = int_option(a, v, 1024, 1ll << 30, &n))) o->srv.max_body_bytes = (size_t)n;
    } else if (!strcmp(a, "--max-connections")) {
        if (!(bad = int_option(a, v, 1, 100000, &n))) o->srv.max_connections = (int32_t)n;
    } else if (!strcmp(a, "--max-connections-per-ip")) {
        if (!(bad = int_option(a, v, 1, 100000, &n))) o->srv.max_connections_per_ip = (int32_t)n;
    } else if (!strcmp(a, "--max-tokens-default")) {
        if (!(bad = int_option(a, v, 0, INT32_MAX, &n))) o->srv.max_tokens_default = (int32_t)n;
    } else if (!(bad = int_option(a, v, 1, 1 << 20, &n))) { /* --max-pending-requests */
        o->srv.max_pending_requests = (int32_t)n;
    }
    return bad;
}

static int parse_opts(int argc, char **argv, serve_opts *o) {
    memset(o, 0, sizeof *o);
    o->srv = srv_default_config();
    o->srv.served_model_name = NULL;
    o->log_level = SRV_LOG_INFO;
    cli_engine_opts_init(&o->engine);
    for (int i = 1; i < argc; i++) {
        int r = cli_engine_option("serve", argc, argv, &i, &o->engine);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i], *v;
        if (!strcmp(a, "--enable-auto-tool-choice")) continue; /* vLLM's switch: tool_choice auto is always on */
        if (!is_server_option(a)) return cli_usage_error("serve", "unknown option '%s'", a);
        if (!(v = cli_option_value(argc, argv, &i))) return cli_usage_error("serve", "%s needs a value", a);
        if ((r = server_option(a, v, o)) != 0) return r;
    }
    if (!o->engine.load.path) return cli_usage_error("serve", "-m MODEL is required");
    if (o->srv.api_key && o->api_key_file)
        return cli_usage_error("serve", "give --api-key or --api-key-file, not both");
    if (!o->srv.served_model_name) o->srv.served_model_name = o->engine.load.path; /* as vLLM names it */
    o->srv.log = log_to_stderr;
    o->srv.log_user = &o->log_level;
    return 0;
}

/* The first line of the file, without its line ending. *key is malloc'd. */
static int read_key_file(const char *path, char **key) {
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f) return cli_usage_error("serve", "cannot open --api-key-file %s", path);
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[ok ? strcspn(line, "\r\n") : 0] = '\0';
    if (!line[0]) return cli_usage_error("serve", "--api-key-file %s holds no key", path);
    *key = strdup(line);
    return *key ? 0 : cli_usage_error("serve", "out of memory");
}

/* Loads the model and starts the engine thread; on failure everything is freed. */
static loom_status start_engine(serve_opts *o, loom_model **model, loom_engine **engine, loom_error *err) {
    loom_status st = cli_engine_open(&o->engine, model, engine, err);
    if (st == LOOM_OK) st = loom_engine_start(*engine, err);
    if (st != LOOM_OK) cli_engine_close(&o->engine, model, engine);
    return st;
}

int cli_serve(int argc, char **argv) {
    serve_opts o;
    char *key = NULL;
    int rc = parse_opts(argc, argv, &o);
    if (rc == 0 && o.api_key_file && (rc = read_key_file(o.api_key_file, &key)) == 0) o.srv.api_key = key;
    if (rc) return rc;
    loom_error err;
    loom_model *model = NULL;
    loom_engine *engine = NULL;
    if (loom_parallel_rank() != 0) {             /* another rank of a parallel run: no HTTP, it follows rank 0 */
        start_engine(&o, &model, &engine, &err); /* returns only when loading failed */
        free(key);
        return cli_error(&err);
    }
    /* the signals are taken by sigwait below; every thread started from here on inherits the mask */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv_server *server = NULL;
    if (srv_start(&o.srv, &server, &err) != LOOM_OK) {
        free(key);
        return cli_error(&err);
    }
    fprintf(stderr, "loom serve: listening on http://%s:%u (loading %s)\n", o.srv.host, srv_port(server),
            o.engine.load.path);
    if (start_engine(&o, &model, &engine, &err) != LOOM_OK) {
        srv_stop(server);
        free(key);
        return cli_error(&err);
    }
    const loom_model_info *info = loom_model_get_info(model);
    loom_memory_plan plan; /* the engine sized itself by this plan: its max_model_len is the limit */
    if (loom_memory_plan_compute(model, &o.engine.params, &plan, &err) != LOOM_OK ||
        srv_set_ready(server, model, engine, plan.max_model_len, &err) != LOOM_OK) {
        srv_stop(server);
        cli_engine_close(&o.engine, &model, &engine);
        free(key);
        return cli_error(&err);
    }
    int32_t max_model_len = plan.max_model_len;
    fprintf(stderr, "loom serve: ready: model '%s' (%s), max_model_len %d\n", o.srv.served_model_name,
            info->architecture, max_model_len);
    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "loom serve: signal %d, shutting down\n", sig);
    srv_stop(server);
    cli_engine_close(&o.engine, &model, &engine);
    free(key);
    return 0;
}
