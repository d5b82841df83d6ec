/* JSONL request lines -> engine requests through the shared request schema (src/api/request.h): the
 * same fields, types and defaults as the server's completions endpoint, plus "prompt_ids"; ranges are
 * checked by the engine when the request is added. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch_request.h"
#include "cli/cli.h"

void batch_error_name_field(const api_request *r, loom_error *err) {
    api_error e;
    api_fail_from_engine(&e, r, err->status, err->message);
    size_t n = strlen(e.param);
    if (!n ||
        (!strncmp(err->message, e.param, n) && !isalnum((unsigned char)err->message[n]) && err->message[n] != '_'))
        return; /* no field, or the message starts with it already */
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%s: %.440s", e.param, err->message);
    memcpy(err->message, msg, sizeof msg);
}

void batch_error_at_line(loom_error *err, size_t line) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "input line %zu: %.480s", line, err->message);
    memcpy(err->message, msg, sizeof msg);
}

/* The names already warned about (each once per run). */
typedef struct warned_names {
    char **names;
    size_t n;
} warned_names;

static void warn_ignored(const api_request *req, size_t line, warned_names *w) {
    for (size_t i = 0; i < req->n_ignored; i++) {
        const char *name = req->ignored[i];
        size_t k = 0;
        while (k < w->n && strcmp(w->names[k], name) != 0) k++;
        if (k < w->n) continue;
        char **grown = realloc(w->names, (w->n + 1) * sizeof *grown);
        if (grown && (grown[w->n] = strdup(name))) w->n++;
        if (grown) w->names = grown;
        const char *guess = api_suggest_field(API_BATCH, name);
        fprintf(stderr, "loom batch: input line %zu: ignoring the unknown field '%.128s'%s%s%s\n", line, name,
                guess ? " (did you mean '" : "", guess ? guess : "", guess ? "'?)" : "");
    }
}

static loom_status parse_line(const char *line, loom_model *model, const loom_sampling_params *defaults,
                              batch_request *r, loom_error *err) {
    api_error e;
    if (api_request_parse(API_BATCH, line, strlen(line), defaults, 1, &r->req, &e))
        return loom_fail(err, e.http_status == 503 ? LOOM_ERR_NO_MEMORY : LOOM_ERR_INVALID_ARG, "%s", e.message);
    const api_prompt *p = &r->req.prompts[0];
    size_t n = p->n_ids;
    if (p->text) {
        loom_status st = loom_tokenize(model, p->text, p->text_len, r->req.add_special_tokens, &r->prompt_ids, &n, err);
        if (st != LOOM_OK) return st;
    } else {
        if (!(r->prompt_ids = malloc((n ? n : 1) * sizeof *r->prompt_ids)))
            return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        memcpy(r->prompt_ids, p->ids, n * sizeof *r->prompt_ids);
    }
    r->params = r->req.params;
    r->params.prompt_ids = r->prompt_ids;
    r->params.n_prompt = n;
    return LOOM_OK;
}

static void request_free(batch_request *r) {
    api_request_free(&r->req);
    free(r->prompt_ids);
}

void batch_requests_free(batch_request_list *l) {
    for (size_t i = 0; i < l->n; i++) request_free(&l->items[i]);
    free(l->items);
    *l = (batch_request_list){0};
}

loom_status batch_requests_read(const char *path, loom_model *model, batch_request_list *out, loom_error *err) {
    *out = (batch_request_list){0};
    loom_sampling_params defaults;
    loom_status st = loom_model_sampling_defaults(model, &defaults, err);
    if (st != LOOM_OK) return st;
    FILE *f = fopen(path, "r");
    if (!f) return loom_fail(err, LOOM_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, line_no = 0, items_cap = 0;
    warned_names warned = {0};
    while (st == LOOM_OK && getline(&line, &cap, f) >= 0) {
        line_no++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        if (out->n == items_cap) {
            items_cap = items_cap ? items_cap * 2 : 64;
            batch_request *p = realloc(out->items, items_cap * sizeof *p);
            if (!p) {
                st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
                break;
            }
            out->items = p;
        }
        batch_request *r = &out->items[out->n++];
        *r = (batch_request){.line = line_no};
        if ((st = parse_line(line, model, &defaults, r, err)) != LOOM_OK) {
            char msg[sizeof err->message];
            snprintf(msg, sizeof msg, "%.200s:%zu: %.280s", path, line_no, err->message);
            memcpy(err->message, msg, sizeof msg);
        } else {
            warn_ignored(&r->req, line_no, &warned);
        }
    }
    for (size_t i = 0; i < warned.n; i++) free(warned.names[i]);
    free(warned.names);
    free(line);
    fclose(f);
    if (st != LOOM_OK) batch_requests_free(out);
    return st;
}
