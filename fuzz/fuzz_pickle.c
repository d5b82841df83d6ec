/* libFuzzer harness for the PyTorch checkpoint reader: the input is parsed as a whole torch.save zip
 * (touching every byte range handed out), and the same bytes go straight to the restricted unpickler
 * (walking the value tree without recursion, as a consumer must). */
#include <stdint.h>
#include <string.h>

#include "formats/pickle.h"
#include "formats/pytorch.h"

static volatile uint8_t sink;

static void parse_checkpoint(const uint8_t *data, size_t size) {
    loom_tensor_table t;
    loom_error err = {0};
    if (pytorch_parse(data, size, &t, &err) != LOOM_OK) {
        if (err.message[0] == '\0') __builtin_trap();
        return;
    }
    for (size_t i = 0; i < t.count; i++) {
        const loom_tensor_entry *e = &t.entries[i];
        /* ASan flags any entry whose validated range leaves the input. */
        if (e->size_bytes) sink ^= e->data[0] ^ e->data[e->size_bytes - 1];
        int64_t n = 1;
        for (int d = 0; d < e->n_dims; d++) n *= e->shape[d];
        if (dtype_bytes(e->dtype, n) != e->size_bytes) __builtin_trap();
    }
    tensor_table_free(&t);
}

static void unpickle(const uint8_t *data, size_t size) {
    loom_pickle p;
    loom_error err = {0};
    if (pickle_load(data, size, &p, &err) != LOOM_OK) {
        if (err.message[0] == '\0') __builtin_trap();
        return;
    }
    /* one level of every container: item pointers and string ranges must be valid */
    const loom_pickle_value *root = p.root;
    for (size_t i = 0; i < root->n_items; i++) {
        const loom_pickle_value *v = root->items[i];
        if (v->len) sink ^= (uint8_t)(v->str[0] ^ v->str[v->len - 1]);
        if (v->depth > LOOM_PICKLE_MAX_DEPTH) __builtin_trap();
    }
    pickle_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    parse_checkpoint(data, size);
    unpickle(data, size);
    return 0;
}
