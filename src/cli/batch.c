/* loom batch: offline generation for a JSONL file of prompts through the continuous-batching engine
 * (vLLM's LLM.generate). Input line: {"prompt": "..." | "prompt_ids": [..], "max_tokens": N, sampling
 * fields as in the OpenAI API}. Output, one line per input in input order:
 *   n == 1: {"index": i, "text": "...", "ids": [...], "finish_reason": "stop|length"[, "logprobs": [...]]}
 *   n > 1:  {"index": i, "outputs": [{"text", "ids", "finish_reason"[, "logprobs"]} x n]}
 * The engine metrics summary goes to stderr (and as JSON to --metrics-json FILE). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/batch_request.h"
#include "cli/cli.h"
#include "cli/engine_opts.h"

typedef struct batch_sample {
    json_t *ids, *logprobs; /* arrays */
    char *text;
    size_t text_len;
    loom_finish_reason finish;
} batch_sample;

typedef struct batch_entry {
    batch_sample *samples; /* [n] */
    int32_t n;
} batch_entry;

typedef struct batch_opts {
    cli_engine_opts engine;
    const char *input, *output, *metrics_json;
} batch_opts;

static int parse_opts(int argc, char **argv, batch_opts *o) {
    memset(o, 0, sizeof *o);
    cli_engine_opts_init(&o->engine);
    for (int i = 1; i < argc; i++) {
        int r = cli_engine_option("batch", argc, argv, &i, &o->engine);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i], *v = cli_option_value(argc, argv, &i);
        if (strcmp(a, "--input") && strcmp(a, "--output") && strcmp(a, "--metrics-json"))
            return cli_usage_error("batch", "unknown option '%s'", a);
        if (!v) return cli_usage_error("batch", "%s needs a value", a);
        if (!strcmp(a, "--input")) o->input = v;
        else if (!strcmp(a, "--output")) o->output = v;
        else o->metrics_json = v;
    }
    if (!o->engine.load.path) return cli_usage_error("batch", "-m MODEL is required");
    if (!o->input || !o->output) return cli_usage_error("batch", "--input FILE and --output FILE are required");
    return 0;
}

static void on_output(const loom_output *out, void *user) {
    batch_entry *entry = user;
    batch_sample *s = &entry->samples[out->seq_index];
    for (int32_t i = 0; i < out->n_new; i++) {
        json_array_append_new(s->ids, json_integer(out->new_ids[i]));
        if (out->logprobs) {
            const loom_token_logprob *lp = &out->logprobs[i];
            json_t *top = json_array();
            for (int32_t k = 0; k < lp->n_top; k++)
                json_array_append_new(top, json_pack("[i,f]", lp->top_ids[k], (double)lp->top_logprobs[k]));
            json_array_append_new(s->logprobs,
                                  json_pack("{s:i,s:f,s:o}", "id", lp->id, "logprob", (double)lp->logprob, "top", top));
        }
    }
    size_t len = strlen(out->text_delta);
    char *grown = realloc(s->text, s->text_len + len + 1);
    if (grown) {
        memcpy(grown + s->text_len, out->text_delta, len + 1);
        s->text = grown;
        s->text_len += len;
    }
    if (out->finish_reason != LOOM_FINISH_NONE) s->finish = out->finish_reason;
}

static const char *finish_name(loom_finish_reason r) {
    switch (r) {
        case LOOM_FINISH_STOP: return "stop";
        case LOOM_FINISH_LENGTH: return "length";
        case LOOM_FINISH_ABORT: return "abort";
        case LOOM_FINISH_ERROR: return "error";
        default: return "none";
    }
}

static json_t *sample_json(const batch_sample *s) {
    json_t *o = json_pack("{s:s,s:O,s:s}", "text", s->text ? s->text : "", "ids", s->ids, "finish_reason",
                          finish_name(s->finish));
    if (json_array_size(s->logprobs) > 0) json_object_set(o, "logprobs", s->logprobs);
    return o;
}

static loom_status write_outputs(const char *path, const batch_entry *entries, size_t n, loom_error *err) {
    FILE *f = fopen(path, "w");
    if (!f) return loom_fail(err, LOOM_ERR_IO, "%s: cannot create", path);
    for (size_t i = 0; i < n; i++) {
        json_t *line;
        if (entries[i].n == 1) {
            line = sample_json(&entries[i].samples[0]);
            json_object_set_new(line, "index", json_integer((json_int_t)i));
        } else {
            json_t *outs = json_array();
            for (int32_t k = 0; k < entries[i].n; k++) json_array_append_new(outs, sample_json(&entries[i].samples[k]));
            line = json_pack("{s:I,s:o}", "index", (json_int_t)i, "outputs", outs);
        }
        char *s = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        json_decref(line);
        if (!s || fprintf(f, "%s\n", s) < 0) {
            free(s);
            fclose(f);
            return loom_fail(err, LOOM_ERR_IO, "%s: write failed", path);
        }
        free(s);
    }
    return fclose(f) == 0 ? LOOM_OK : loom_fail(err, LOOM_ERR_IO, "%s: write failed", path);
}

static loom_status write_metrics_json(const char *path, const loom_engine_metrics *m, loom_error *err) {
    json_t *j = cli_metrics_json(m);
    int rc = json_dump_file(j, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    json_decref(j);
    return rc ? loom_fail(err, LOOM_ERR_IO, "%s: cannot write", path) : LOOM_OK;
}

/* Reads every line, adds it to the engine, runs the engine until all are done. */
static loom_status run_batch(const batch_opts *o, loom_model *model, loom_engine *engine, batch_entry **entries_out,
                             size_t *n_out, loom_error *err) {
    batch_request_list reqs;
    loom_status st = batch_requests_read(o->input, model, &reqs, err);
    if (st != LOOM_OK) return st;
    batch_entry *entries = calloc(reqs.n ? reqs.n : 1, sizeof *entries);
    if (!entries) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; st == LOOM_OK && i < reqs.n; i++) {
        loom_request_params *rp = &reqs.items[i].params;
        entries[i].n = rp->n;
        entries[i].samples = calloc((size_t)rp->n, sizeof *entries[i].samples);
        if (!entries[i].samples) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        for (int32_t k = 0; st == LOOM_OK && k < rp->n; k++) {
            entries[i].samples[k].ids = json_array();
            entries[i].samples[k].logprobs = json_array();
        }
        rp->on_output = on_output;
        rp->user = &entries[i];
        if (st == LOOM_OK && (st = loom_engine_add_request(engine, rp, NULL, err)) != LOOM_OK)
            batch_error_name_field(&reqs.items[i].req, err);
        if (st != LOOM_OK) batch_error_at_line(err, reqs.items[i].line);
    }
    while (st == LOOM_OK && loom_engine_has_work(engine)) st = loom_engine_step(engine, err);
    *entries_out = entries;
    *n_out = entries ? reqs.n : 0;
    batch_requests_free(&reqs);
    return st;
}

static void free_entries(batch_entry *entries, size_t n) {
    for (size_t i = 0; entries && i < n; i++) {
        for (int32_t k = 0; entries[i].samples && k < entries[i].n; k++) {
            json_decref(entries[i].samples[k].ids);
            json_decref(entries[i].samples[k].logprobs);
            free(entries[i].samples[k].text);
        }
        free(entries[i].samples);
    }
    free(entries);
}

int cli_batch(int argc, char **argv) {
    batch_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_model *model = NULL;
    loom_engine *engine = NULL;
    batch_entry *entries = NULL;
    size_t n = 0;
    loom_status st = cli_engine_open(&o.engine, &model, &engine, &err);
    if (st == LOOM_OK) st = run_batch(&o, model, engine, &entries, &n, &err);
    if (st == LOOM_OK) st = write_outputs(o.output, entries, n, &err);
    if (st == LOOM_OK) {
        loom_engine_metrics m;
        loom_engine_get_metrics(engine, &m);
        cli_print_metrics(stderr, &m);
        if (o.metrics_json) st = write_metrics_json(o.metrics_json, &m, &err);
    }
    free_entries(entries, n);
    cli_engine_close(&o.engine, &model, &engine);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
