#include "core/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

loom_status file_map_open(loom_file_map *m, const char *path, loom_error *err) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return loom_fail(err, LOOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return loom_fail(err, LOOM_ERR_IO, "%s: not a regular file", path);
    }
    m->size_bytes = (size_t)st.st_size;
    if (m->size_bytes > 0) {
        void *p = mmap(NULL, m->size_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return loom_fail(err, LOOM_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
    }
    close(fd);
    m->path = strdup(path);
    if (!m->path) {
        file_map_close(m);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    return LOOM_OK;
}

void file_map_close(loom_file_map *m) {
    if (m->data) munmap((void *)m->data, m->size_bytes);
    free(m->path);
    memset(m, 0, sizeof *m);
}

loom_status read_file(const char *path, char **data_out, size_t *size_out, loom_error *err) {
    *data_out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return loom_fail(err, LOOM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1) break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int read_error = ferror(f);
    fclose(f);
    if (!buf) return loom_fail(err, LOOM_ERR_NO_MEMORY, "%s: out of memory", path);
    if (read_error) {
        free(buf);
        return loom_fail(err, LOOM_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data_out = buf;
    if (size_out) *size_out = n;
    return LOOM_OK;
}

int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int path_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}
