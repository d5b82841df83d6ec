/* A read-only memory map of a whole file. Weights stay in the page cache: nothing is copied at load. */
#ifndef LOOM_CORE_FILE_MAP_H
#define LOOM_CORE_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_file_map {
    const uint8_t *data; /* NULL for an empty file */
    size_t size_bytes;
    char *path; /* owned copy, for error messages */
} loom_file_map;

/* Errors name the path ("PATH: cannot open: No such file or directory"). */
loom_status file_map_open(loom_file_map *m, const char *path, loom_error *err);
void file_map_close(loom_file_map *m);

/* Reads a whole (small) file into a NUL-terminated heap buffer; *size_out excludes the NUL. */
loom_status read_file(const char *path, char **data_out, size_t *size_out, loom_error *err);

int path_exists(const char *path);
int path_is_dir(const char *path);
/* Returns a heap string "dir/name". */
char *path_join(const char *dir, const char *name);

#endif
