/* Status codes and error messages used by every library function.
 * Library code never prints or exits: it returns a loom_status and fills a loom_error. */
#ifndef LOOM_CORE_ERROR_H
#define LOOM_CORE_ERROR_H

#include "loom.h" /* loom_status, loom_error */

/* loom_fail (loom.h) fills an error the library returns. */

/* Prefixes an existing message with "prefix: " (e.g. a file name); returns err->status. */
loom_status error_prefix(loom_error *err, const char *prefix);

#endif
