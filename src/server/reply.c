/* What a route does with its request and its reply: the body as JSON, a reply's status and text, and the
 * connection's idle timeout while it waits. */
#include <stdlib.h>

#include "server/server_internal.h"

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

int srv_reply_error(srv_reply *r, const api_error *e) {
    return srv_reply_text(r, e->http_status, "application/json", api_error_body(e));
}

json_t *srv_body_object(const srv_conn *c, api_error *e) {
    json_error_t jerr;
    json_t *v = json_loadb(c->body ? c->body : "", c->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v) return api_fail(e, 400, NULL, "the body is not valid JSON: %s", jerr.text), NULL;
    if (json_is_object(v)) return v;
    json_decref(v);
    return api_fail(e, 400, NULL, "the body must be a JSON object"), NULL;
}

unsigned srv_idle_timeout_s(const srv_server *s) {
    return s->cfg.request_timeout_s < 1 ? 1u : (unsigned)(s->cfg.request_timeout_s + 0.999);
}

void srv_idle_timeout(const srv_server *s, struct MHD_Connection *mc, int on) {
    MHD_set_connection_option(mc, MHD_CONNECTION_OPTION_TIMEOUT, on ? srv_idle_timeout_s(s) : 0u);
}
