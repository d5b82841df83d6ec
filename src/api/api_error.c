/* OpenAI-shaped error bodies. The type follows from the status unless the caller chose one. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#include "api/api_error.h"

static const char *type_for_status(int status) {
    switch (status) {
        case 401: return "authentication_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 429: return "rate_limit_error";
        case 503: return "service_unavailable_error";
        default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

int api_fail(api_error *e, int http_status, const char *param, const char *fmt, ...) {
    e->http_status = http_status;
    e->type = type_for_status(http_status);
    e->code = NULL;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

char *api_error_body(const api_error *e) {
    /* a message quoting client text may have been cut inside a UTF-8 character */
    json_t *msg = json_string(e->message);
    if (!msg) msg = json_string("invalid request");
    json_t *root = json_pack("{s:{s:o, s:s, s:o, s:o}}", "error", "message", msg, "type", e->type, "param",
                             e->param[0] ? json_string(e->param) : json_null(), "code",
                             e->code ? json_string(e->code) : json_null());
    char *body = root ? json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(root);
    return body;
}
