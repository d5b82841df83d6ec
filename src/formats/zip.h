/* A minimal read-only zip reader over a mapped buffer, enough for torch.save archives: the
 * end-of-central-directory record (zip64 when present), the central directory and the local headers.
 * Only STORED (method 0) members are accepted; a compressed or encrypted member is an error naming
 * it. Every offset and length is checked against the buffer. */
#ifndef LOOM_FORMATS_ZIP_H
#define LOOM_FORMATS_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "formats/byte_cursor.h"

/* ---- zip ----------------------------------------------------------------------------------------- */

typedef struct loom_zip_entry {
    const char *name; /* into the buffer, not NUL-terminated */
    size_t name_len;
    const uint8_t *data; /* the stored bytes, inside the buffer */
    size_t size_bytes;
} loom_zip_entry;

typedef struct loom_zip {
    loom_zip_entry *entries; /* owned; central-directory order */
    size_t count;
} loom_zip;

/* Reads the directory of a whole zip file in memory. Entries point into data (no copy). On error *out
 * is left empty; messages name the offending member where there is one. */
loom_status zip_open(const uint8_t *data, size_t size_bytes, loom_zip *out, loom_error *err);
/* The member whose name is exactly name[0..name_len), or NULL. */
const loom_zip_entry *zip_find(const loom_zip *z, const char *name, size_t name_len);
void zip_free(loom_zip *z);

#endif
