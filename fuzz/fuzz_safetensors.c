/* libFuzzer harness for the safetensors parser: parse, touch every byte range it hands out, free. */
#include <stdint.h>
#include <string.h>

#include "formats/safetensors.h"

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_tensor_table t;
    loom_error err = {0};
    if (safetensors_parse(data, size, &t, &err) != LOOM_OK) return 0;
    for (size_t i = 0; i < t.count; i++) {
        const loom_tensor_entry *e = &t.entries[i];
        /* ASan flags any entry whose validated range leaves the input. */
        if (e->size_bytes) sink ^= e->data[0] ^ e->data[e->size_bytes - 1];
        if (tensor_table_find(&t, e->name) == NULL) __builtin_trap();
        int64_t n = 1;
        for (int d = 0; d < e->n_dims; d++) n *= e->shape[d];
        if (dtype_bytes(e->dtype, n) != e->size_bytes) __builtin_trap();
    }
    tensor_table_free(&t);
    return 0;
}
