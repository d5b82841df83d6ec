/* A growable array of sequences, optionally kept in scheduling order (priority, then arrival, then
 * sample index). */
#ifndef LOOM_SCHED_SEQ_QUEUE_H
#define LOOM_SCHED_SEQ_QUEUE_H

#include "sched/sequence.h"

typedef struct loom_seq_queue {
    loom_seq **items;
    int32_t n, capacity;
} loom_seq_queue;

void seq_queue_free(loom_seq_queue *q);
/* < 0 when a should run before b. */
int seq_order(const loom_seq *a, const loom_seq *b);
/* Inserts in scheduling order (after equals). -1 when out of memory. */
int seq_queue_insert_sorted(loom_seq_queue *q, loom_seq *s);
/* Appends at the tail. -1 when out of memory. */
int seq_queue_push(loom_seq_queue *q, loom_seq *s);
/* Removes s keeping the order of the rest; 0 when found, -1 when not queued here. */
int seq_queue_remove(loom_seq_queue *q, const loom_seq *s);
/* Sorts in scheduling order (stable: the queue is short and mostly sorted already). */
void seq_queue_sort(loom_seq_queue *q);

#endif
