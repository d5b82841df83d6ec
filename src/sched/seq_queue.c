/* Sequence queues in scheduling order. */
#include <stdlib.h>
#include <string.h>

#include "sched/seq_queue.h"

void seq_queue_free(loom_seq_queue *q) {
    free(q->items);
    *q = (loom_seq_queue){0};
}

int seq_order(const loom_seq *a, const loom_seq *b) {
    if (a->priority != b->priority) return a->priority < b->priority ? -1 : 1;
    if (a->arrival != b->arrival) return a->arrival < b->arrival ? -1 : 1;
    return a->seq_index < b->seq_index ? -1 : a->seq_index > b->seq_index;
}

static int reserve(loom_seq_queue *q) {
    if (q->n < q->capacity) return 0;
    int32_t cap = q->capacity ? q->capacity * 2 : 16;
    loom_seq **p = realloc(q->items, (size_t)cap * sizeof *p);
    if (!p) return -1;
    q->items = p;
    q->capacity = cap;
    return 0;
}

int seq_queue_push(loom_seq_queue *q, loom_seq *s) {
    if (reserve(q)) return -1;
    q->items[q->n++] = s;
    return 0;
}

int seq_queue_insert_sorted(loom_seq_queue *q, loom_seq *s) {
    if (reserve(q)) return -1;
    int32_t at = q->n;
    while (at > 0 && seq_order(q->items[at - 1], s) > 0) at--;
    memmove(q->items + at + 1, q->items + at, (size_t)(q->n - at) * sizeof *q->items);
    q->items[at] = s;
    q->n++;
    return 0;
}

int seq_queue_remove(loom_seq_queue *q, const loom_seq *s) {
    for (int32_t i = 0; i < q->n; i++)
        if (q->items[i] == s) {
            memmove(q->items + i, q->items + i + 1, (size_t)(q->n - i - 1) * sizeof *q->items);
            q->n--;
            return 0;
        }
    return -1;
}

void seq_queue_sort(loom_seq_queue *q) {
    for (int32_t i = 1; i < q->n; i++) { /* insertion sort: stable, linear when already sorted */
        loom_seq *s = q->items[i];
        int32_t j = i;
        while (j > 0 && seq_order(q->items[j - 1], s) > 0) {
            q->items[j] = q->items[j - 1];
            j--;
        }
        q->items[j] = s;
    }
}
