/* Errors as the OpenAI API returns them: an HTTP status and
 * {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}. */
#ifndef LOOM_SERVER_API_ERROR_H
#define LOOM_SERVER_API_ERROR_H

typedef struct srv_error {
    int http_status;  /* 400, 401, 404, 413, 415, 503, ... */
    const char *type; /* "invalid_request_error", "authentication_error", ... */
    const char *code; /* NULL = null */
    char param[64];   /* "" = null */
    char message[512];
} srv_error;

/* Fills e; returns -1 so callers can `return srv_fail(...)`. param may be NULL. */
int srv_fail(srv_error *e, int http_status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The JSON body for e: malloc'd, NUL-terminated; NULL when out of memory. */
char *srv_error_body(const srv_error *e);

#endif
