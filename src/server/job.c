/* The job's event queue and reference counting (see job.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/job.h"

typedef struct job_part {
    struct srv_job *job;
    size_t prompt_index;
    uint64_t request_id;
    int submitted;
    int32_t seqs_finished;
} job_part;

struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    loom_engine *engine;
    int refs;
    srv_event *head, *tail;
    job_part *parts;
    size_t n_parts;
    int32_t n_per_prompt;
    int32_t choices, choices_finished;
    int failed;
};

srv_job *srv_job_create(loom_engine *engine, size_t n_prompts, int32_t n_per_prompt) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j || !(j->parts = calloc(n_prompts, sizeof *j->parts))) {
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &attr);
    pthread_condattr_destroy(&attr);
    j->engine = engine;
    j->refs = 1;
    j->n_parts = n_prompts;
    j->n_per_prompt = n_per_prompt;
    j->choices = (int32_t)n_prompts * n_per_prompt;
    for (size_t i = 0; i < n_prompts; i++) j->parts[i] = (job_part){.job = j, .prompt_index = i};
    return j;
}

void srv_events_free(srv_event *list) {
    while (list) {
        srv_event *next = list->next;
        for (int32_t i = 0; list->logprobs && i < list->n_new; i++) {
            free((void *)list->logprobs[i].top_ids);
            free((void *)list->logprobs[i].top_logprobs);
        }
        free(list->logprobs);
        free(list->ids);
        free(list->text);
        free(list->stop_reason);
        free(list);
        list = next;
    }
}

static void job_free(srv_job *j) {
    srv_events_free(j->head);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->parts);
    free(j);
}

/* Drops one reference (mu held; unlocks). */
static void unref_and_unlock(srv_job *j) {
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) job_free(j);
}

static int copy_logprobs(srv_event *ev, const loom_token_logprob *lp) {
    if (!(ev->logprobs = calloc((size_t)ev->n_new, sizeof *ev->logprobs))) return -1;
    for (int32_t i = 0; i < ev->n_new; i++) {
        loom_token_logprob *d = &ev->logprobs[i];
        *d = (loom_token_logprob){.id = lp[i].id, .logprob = lp[i].logprob};
        if (lp[i].n_top <= 0) continue;
        int32_t *ids = malloc((size_t)lp[i].n_top * sizeof *ids);
        float *lps = malloc((size_t)lp[i].n_top * sizeof *lps);
        d->top_ids = ids;
        d->top_logprobs = lps;
        if (!ids || !lps) return -1;
        memcpy(ids, lp[i].top_ids, (size_t)lp[i].n_top * sizeof *ids);
        memcpy(lps, lp[i].top_logprobs, (size_t)lp[i].n_top * sizeof *lps);
        d->n_top = lp[i].n_top;
    }
    return 0;
}

static srv_event *copy_output(const loom_output *o, const job_part *p) {
    srv_event *ev = calloc(1, sizeof *ev);
    if (!ev) return NULL;
    ev->choice = (int32_t)p->prompt_index * p->job->n_per_prompt + o->seq_index;
    ev->n_new = o->n_new > 0 ? o->n_new : 0;
    ev->finish = o->finish_reason;
    ev->stop_token_id = o->stop_token_id;
    int ok = (ev->text = strdup(o->text_delta ? o->text_delta : "")) != NULL;
    if (ok && o->stop_reason) ok = (ev->stop_reason = strdup(o->stop_reason)) != NULL;
    if (ok && ev->n_new) {
        ok = (ev->ids = malloc((size_t)ev->n_new * sizeof *ev->ids)) != NULL;
        if (ok) memcpy(ev->ids, o->new_ids, (size_t)ev->n_new * sizeof *ev->ids);
        if (ok && o->logprobs) ok = copy_logprobs(ev, o->logprobs) == 0;
    }
    if (!ok) {
        srv_events_free(ev);
        return NULL;
    }
    return ev;
}

/* The engine's callback (engine thread): copy, queue, wake the connection. */
static void on_output(const loom_output *o, void *user) {
    job_part *p = user;
    srv_job *j = p->job;
    srv_event *ev = copy_output(o, p);
    pthread_mutex_lock(&j->mu);
    if (!ev) j->failed = 1;
    else if (j->tail) j->tail = j->tail->next = ev;
    else j->head = j->tail = ev;
    if (o->finish_reason == LOOM_FINISH_ERROR) j->failed = 1;
    int part_done = 0;
    if (o->finish_reason != LOOM_FINISH_NONE) {
        j->choices_finished++;
        part_done = ++p->seqs_finished == j->n_per_prompt;
    }
    pthread_cond_signal(&j->cv);
    if (part_done) unref_and_unlock(j);
    else pthread_mutex_unlock(&j->mu);
}

loom_status srv_job_submit(srv_job *j, size_t prompt_index, loom_request_params req, loom_error *err) {
    job_part *p = &j->parts[prompt_index];
    req.on_output = on_output;
    req.user = p;
    pthread_mutex_lock(&j->mu);
    j->refs++; /* the engine may call back before add_request returns */
    pthread_mutex_unlock(&j->mu);
    uint64_t id = 0;
    loom_status st = loom_engine_add_request(j->engine, &req, &id, err);
    pthread_mutex_lock(&j->mu);
    if (st != LOOM_OK) {
        j->refs--;
    } else {
        p->request_id = id;
        p->submitted = 1;
    }
    pthread_mutex_unlock(&j->mu);
    return st;
}

srv_event *srv_job_take(srv_job *j, int wait_ms, int *finished, int *failed) {
    pthread_mutex_lock(&j->mu);
    if (!j->head && j->choices_finished < j->choices && !j->failed && wait_ms > 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += (long)wait_ms * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&j->cv, &j->mu, &t);
    }
    srv_event *list = j->head;
    j->head = j->tail = NULL;
    *finished = j->choices_finished >= j->choices;
    *failed = j->failed;
    pthread_mutex_unlock(&j->mu);
    return list;
}

/* The ids are collected under the lock but aborted outside it: the engine may hold its own lock
 * while it calls on_output, which takes ours. The caller's reference keeps the job alive. */
void srv_job_abort(srv_job *j) {
    uint64_t *ids = malloc(j->n_parts * sizeof *ids);
    size_t n = 0;
    pthread_mutex_lock(&j->mu);
    for (size_t i = 0; ids && i < j->n_parts; i++)
        if (j->parts[i].submitted && j->parts[i].seqs_finished < j->n_per_prompt) ids[n++] = j->parts[i].request_id;
    pthread_mutex_unlock(&j->mu);
    for (size_t i = 0; i < n; i++) {
        loom_error ignored; /* an id that finished meanwhile is not an error worth reporting */
        loom_engine_abort(j->engine, ids[i], &ignored);
    }
    free(ids);
}

void srv_job_release(srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    unref_and_unlock(j);
}
