/* The parts of comm.h both implementations share: deadline, clock, time accounting, failure line. */
#include "parallel/comm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Calls into the communicator are serialized (one thread at a time, MPI_THREAD_SERIALIZED), so plain
 * statics are enough here. */
static double g_timeout_s = 60.0;
static double g_inside_comm_s;

double comm_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double comm_timeout_s(void) { return g_timeout_s; }

void comm_set_timeout(double seconds) {
    if (seconds > 0) g_timeout_s = seconds;
}

loom_status comm_read_timeout_env(loom_error *err) {
    const char *text = getenv("LOOM_COMM_TIMEOUT_S");
    if (!text || !*text) return LOOM_OK;
    char *end = NULL;
    errno = 0;
    double seconds = strtod(text, &end);
    if (errno || *end || !(seconds > 0) || seconds > 1e9)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "LOOM_COMM_TIMEOUT_S=%s: expected a positive number of seconds",
                         text);
    g_timeout_s = seconds;
    return LOOM_OK;
}

loom_status comm_check_color(int color, loom_error *err) {
    if (color < 0) return loom_fail(err, LOOM_ERR_INVALID_ARG, "process group color %d: must be >= 0", color);
    return LOOM_OK;
}

void comm_account_since(double start_s) { g_inside_comm_s += comm_now_s() - start_s; }

double comm_seconds(void) { return g_inside_comm_s; }

void comm_report(int rank, const char *fmt, va_list ap) {
    char line[1024];
    int head = snprintf(line, sizeof line, "loom: rank %d: ", rank);
    int body = vsnprintf(line + head, sizeof line - (size_t)head - 1, fmt, ap);
    size_t len = (size_t)head + (body < 0 ? 0 : (size_t)body);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t written = write(STDERR_FILENO, line, len);
    (void)written; /* nothing better to do when stderr is gone: the job ends right after */
}
