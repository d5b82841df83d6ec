/* A job: the engine requests behind one HTTP generation request (one per prompt, each with n
 * sequences) and the queue of their outputs. The engine thread only copies each loom_output into
 * the queue (no formatting, no I/O); the connection's thread takes the events and writes them. The
 * job is reference-counted: the HTTP side holds one reference and every engine request one until all
 * its sequences have finished, so neither side can free it under the other. */
#ifndef LOOM_SERVER_JOB_H
#define LOOM_SERVER_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "loom.h"

/* One loom_output, copied. */
typedef struct srv_event {
    struct srv_event *next;
    int32_t choice; /* prompt index x n + seq_index */
    char *text;     /* text delta, never NULL */
    int32_t n_new;
    int32_t *ids;                 /* [n_new] */
    loom_token_logprob *logprobs; /* [n_new] or NULL; top arrays owned by the event */
    loom_finish_reason finish;
    char *stop_reason;     /* NULL unless a stop string matched */
    int32_t stop_token_id; /* the stop_token_ids entry that ended the sequence, else -1 */
} srv_event;

typedef struct srv_job srv_job;

/* n_per_prompt: the requests' sampling n. NULL when out of memory. */
srv_job *srv_job_create(loom_engine *engine, size_t n_prompts, int32_t n_per_prompt);
/* Adds prompt prompt_index's request (req's callback fields are filled here). */
loom_status srv_job_submit(srv_job *j, size_t prompt_index, loom_request_params req, loom_error *err);
/* Waits up to wait_ms for events; returns them oldest first (free with srv_events_free). *finished
 * is set when every sequence has finished and nothing more will come; *failed when an output could
 * not be recorded (out of memory) or a sequence ended with LOOM_FINISH_ERROR. */
srv_event *srv_job_take(srv_job *j, int wait_ms, int *finished, int *failed);
/* Aborts every request of the job that has not finished (a disconnect, a shutdown). */
void srv_job_abort(srv_job *j);
/* The HTTP side is done with the job. */
void srv_job_release(srv_job *j);
void srv_events_free(srv_event *list);

#endif
