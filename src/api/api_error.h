/* Errors as the OpenAI API returns them: an HTTP status and
 * {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}. */
#ifndef LOOM_API_API_ERROR_H
#define LOOM_API_API_ERROR_H

typedef struct api_error {
    int http_status;  /* 400, 401, 404, 413, 415, 503, ... */
    const char *type; /* "invalid_request_error", "authentication_error", ... */
    const char *code; /* NULL = null */
    char param[64];   /* "" = null */
    char message[512];
} api_error;

/* Fills e; returns -1 so callers can `return api_fail(...)`. param may be NULL. */
int api_fail(api_error *e, int http_status, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The JSON body for e: malloc'd, NUL-terminated; NULL when out of memory. */
char *api_error_body(const api_error *e);

#endif
