/* Shared by the two implementations of comm.h (comm_mpi.c, comm_single.c): the operation deadline, the
 * clock, the accounting behind comm_seconds() and the one-line failure report. */
#ifndef LOOM_PARALLEL_COMM_INTERNAL_H
#define LOOM_PARALLEL_COMM_INTERNAL_H

#include <stdarg.h>

#include "parallel/comm.h"

/* Monotonic wall clock, seconds. */
double comm_now_s(void);
/* The deadline of one operation, seconds (default 60, LOOM_COMM_TIMEOUT_S, comm_set_timeout). */
double comm_timeout_s(void);
/* Reads LOOM_COMM_TIMEOUT_S when set (a positive number of seconds), else keeps the current value. */
loom_status comm_read_timeout_env(loom_error *err);
/* LOOM_OK for a process group color comm_split accepts (>= 0), else the error. */
loom_status comm_check_color(int color, loom_error *err);
/* Adds now - start_s to the time reported by comm_seconds(). */
void comm_account_since(double start_s);
/* Writes "loom: rank R: MESSAGE\n" to stderr with one write(2), so lines of ranks sharing a terminal
 * do not interleave. */
void comm_report(int rank, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
