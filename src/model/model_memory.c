/* What a model owns beside its mapped files: buffers kept until the model is freed, and the release of
 * bytes nothing points to any more (freed when owned, dropped from the resident set when mapped). */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model/model.h"

loom_status model_own(loom_model *m, void *p, loom_error *err) {
    void **grown = realloc(m->owned, (m->n_owned + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    m->owned = grown;
    m->owned[m->n_owned++] = p;
    return LOOM_OK;
}

/* Drops the whole pages inside [p, p + n) from the resident set when they belong to a file mapping:
 * the bytes stay in the file (and the page cache) and would come back if read again. */
void model_release_mapped_pages(const loom_model *m, const uint8_t *p, size_t n) {
    int mapped = 0;
    for (size_t i = 0; i < m->n_maps && !mapped; i++)
        mapped = p >= m->maps[i].data && p + n <= m->maps[i].data + m->maps[i].size_bytes;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t begin = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + n) & ~(page - 1);
    if (mapped && end > begin) madvise((void *)begin, end - begin, MADV_DONTNEED);
}

void model_release(loom_model *m, const void *p, size_t n) {
    for (size_t i = 0; i < m->n_owned; i++) {
        if (m->owned[i] != p) continue;
        free(m->owned[i]);
        m->owned[i] = m->owned[--m->n_owned];
        return;
    }
    model_release_mapped_pages(m, p, n);
}
