#include "formats/tensor_table.h"
#include "core/grow.h"

#include <stdlib.h>
#include <string.h>

loom_status tensor_table_add(loom_tensor_table *t, const loom_tensor_entry *e, loom_error *err) {
    if (grow(&t->entries, &t->capacity, t->count, sizeof *t->entries, 64))
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory growing tensor table");
    loom_tensor_entry copy = *e;
    copy.name = strdup(e->name);
    if (!copy.name) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory copying tensor name");
    t->entries[t->count++] = copy;
    return LOOM_OK;
}

const loom_tensor_entry *tensor_table_find(const loom_tensor_table *t, const char *name) {
    for (size_t i = 0; i < t->count; i++)
        if (strcmp(t->entries[i].name, name) == 0) return &t->entries[i];
    return NULL;
}

void tensor_table_free(loom_tensor_table *t) {
    for (size_t i = 0; i < t->count; i++) free(t->entries[i].name);
    free(t->entries);
    t->entries = NULL;
    t->count = t->capacity = 0;
}
