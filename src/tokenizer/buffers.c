/* Growable byte and id buffers. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int tok_buf_reserve(tok_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* Keeps the buffer NUL-terminated so it can be handed out as a C string. */
int tok_buf_append(tok_buf *b, const void *p, size_t n) {
    if (tok_buf_reserve(b, n)) return -1;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

void tok_buf_free(tok_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

int tok_ids_append(tok_ids *v, const int32_t *ids, size_t n) {
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 16;
        while (cap < v->len + n) cap *= 2;
        int32_t *p = realloc(v->data, cap * sizeof *p);
        if (!p) return -1;
        v->data = p;
        v->cap = cap;
    }
    if (n) memcpy(v->data + v->len, ids, n * sizeof *ids);
    v->len += n;
    return 0;
}

int tok_ids_push(tok_ids *v, int32_t id) { return tok_ids_append(v, &id, 1); }

void tok_ids_free(tok_ids *v) {
    free(v->data);
    memset(v, 0, sizeof *v);
}
