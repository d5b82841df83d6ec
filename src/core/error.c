#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

loom_status loom_fail(loom_error *err, loom_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

loom_status error_prefix(loom_error *err, const char *prefix) {
    if (!err) return LOOM_ERR_INTERNAL;
    char tmp[sizeof err->message];
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3) n = sizeof tmp - 3;
    memcpy(tmp, prefix, n);
    memcpy(tmp + n, ": ", 2);
    /* the old message, truncated to what fits after the prefix */
    size_t room = sizeof tmp - n - 3, old = strnlen(err->message, sizeof err->message);
    if (old > room) old = room;
    memcpy(tmp + n + 2, err->message, old);
    tmp[n + 2 + old] = '\0';
    memcpy(err->message, tmp, sizeof tmp);
    return err->status;
}

const char *loom_status_name(loom_status s) {
    switch (s) {
        case LOOM_OK: return "ok";
        case LOOM_ERR_IO: return "I/O error";
        case LOOM_ERR_FORMAT: return "malformed input";
        case LOOM_ERR_UNSUPPORTED: return "unsupported";
        case LOOM_ERR_INVALID_ARG: return "invalid argument";
        case LOOM_ERR_NO_MEMORY: return "out of memory";
        case LOOM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
