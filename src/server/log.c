/* The server's log lines (through srv_config.log) and what it says about ignored request fields. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define IGNORED_HEADER_MAX_BYTES 1024

void srv_log(srv_server *s, srv_log_level level, const char *fmt, ...) {
    if (!s->cfg.log) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    s->cfg.log(s->cfg.log_user, level, message);
}

/* 1 the first time name is seen (then remembered, up to SRV_MAX_LOGGED_FIELDS names). */
static int first_time(srv_server *s, const char *name) {
    pthread_mutex_lock(&s->log_mu);
    int seen = 0;
    for (size_t i = 0; i < s->n_logged_fields && !seen; i++) seen = strcmp(s->logged_fields[i], name) == 0;
    int remember = !seen && s->n_logged_fields < SRV_MAX_LOGGED_FIELDS;
    if (remember && (s->logged_fields[s->n_logged_fields] = strdup(name))) s->n_logged_fields++;
    pthread_mutex_unlock(&s->log_mu);
    return !seen && remember;
}

/* Field names come from the client: the header gets them with anything but [A-Za-z0-9_.-] as %XX. */
static void append_escaped(char *out, size_t cap, size_t *len, const char *name) {
    for (const unsigned char *p = (const unsigned char *)name; *p && *len + 4 < cap; p++) {
        int plain =
            (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_.-", *p);
        *len += (size_t)snprintf(out + *len, cap - *len, plain ? "%c" : "%%%02X", *p);
    }
}

char *srv_note_ignored_fields(srv_server *s, api_shape shape, char *const *names, size_t n, const char *route) {
    if (n == 0) return NULL;
    char *header = malloc(IGNORED_HEADER_MAX_BYTES);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = names[i], *guess = api_suggest_field(shape, name);
        if (first_time(s, name)) {
            char shown[256];
            size_t shown_len = 0;
            append_escaped(shown, sizeof shown, &shown_len, name);
            shown[shown_len] = '\0';
            srv_log(s, SRV_LOG_DEBUG, "%s: ignoring the unknown field '%s'%s%s%s (logged once per name)", route, shown,
                    guess ? " (did you mean '" : "", guess ? guess : "", guess ? "'?)" : "");
        }
        if (!header || len + 8 >= IGNORED_HEADER_MAX_BYTES) continue;
        if (i) len += (size_t)snprintf(header + len, IGNORED_HEADER_MAX_BYTES - len, ", ");
        append_escaped(header, IGNORED_HEADER_MAX_BYTES, &len, name);
    }
    if (header) header[len] = '\0';
    return header;
}
