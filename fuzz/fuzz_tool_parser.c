/* libFuzzer: reading tool calls out of a model's text (src/api/tool_parser.c). The first byte picks the
 * format (hermes / llama3_json / mistral: byte % 3), whether the prompt already opened the calls (bit 2)
 * and the size of the pieces the text is pushed in (bits 3-7: 1 to 32 bytes); the rest is the text.
 * Pushed whole and in pieces, the reading must be the same (content, calls, their names, ids and
 * arguments, the failure flag); every call's first delta carries an id and a name, later ones neither,
 * indices only grow, completed calls never exceed the announced ones. A list of tools restricts names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/tool_calls.h"

typedef struct reading {
    char *content;
    size_t content_len;
    char *args[64];
    char *names[64];
    int32_t n;
    int failed;
} reading;

static void append(char **dst, size_t *len, const char *s) {
    size_t n = strlen(s);
    char *grown = realloc(*dst, *len + n + 1);
    if (!grown) abort();
    memcpy(grown + *len, s, n + 1);
    *dst = grown;
    *len += n;
}

static void apply(reading *r, const api_tool_delta *d) {
    if (d->content) append(&r->content, &r->content_len, d->content);
    for (size_t i = 0; i < d->n_calls; i++) {
        const api_tool_call_delta *c = &d->calls[i];
        if (!c->arguments) abort();
        if (c->name) {
            if (c->index != r->n || !c->id || !c->id[0] || !c->name[0] || r->n >= 64) abort();
            r->names[r->n] = strdup(c->name);
            r->args[r->n++] = calloc(1, 1);
        } else if (c->id || c->index != r->n - 1) {
            abort();
        }
        size_t len = strlen(r->args[c->index]);
        append(&r->args[c->index], &len, c->arguments);
    }
}

static void read_text(reading *r, api_tool_format f, int opened, const char *text, size_t n, size_t step) {
    memset(r, 0, sizeof *r);
    api_tool_parser *p = api_tool_parser_create(f, opened, 7,
                                                "[{\"type\": \"function\", \"function\": {\"name\": "
                                                "\"get_weather\"}}, {\"type\": \"function\", \"function\": "
                                                "{\"name\": \"f\"}}]");
    if (!p) abort();
    for (size_t at = 0; at < n || at == 0; at += step) {
        api_tool_delta d = {0};
        size_t k = n - at < step ? n - at : step;
        if (api_tool_parser_push(p, text + at, k, &d)) abort();
        apply(r, &d);
        api_tool_delta_clear(&d);
        if (n == 0) break;
    }
    api_tool_delta d = {0};
    if (api_tool_parser_finish(p, &d)) abort();
    apply(r, &d);
    api_tool_delta_clear(&d);
    r->failed = api_tool_parser_failed(p);
    if (api_tool_parser_calls(p) > r->n) abort();
    api_tool_parser_free(p);
}

static void free_reading(reading *r) {
    free(r->content);
    for (int32_t i = 0; i < r->n; i++) free(r->args[i]), free(r->names[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 65536) return 0;
    api_tool_format f = (api_tool_format)(data[0] % 3);
    int opened = (data[0] >> 2) & 1;
    size_t step = (size_t)(data[0] >> 3) + 1;
    const char *text = (const char *)data + 1;
    reading whole, cut;
    read_text(&whole, f, opened, text, size - 1, size);
    read_text(&cut, f, opened, text, size - 1, step);
    if (whole.n != cut.n || whole.failed != cut.failed || whole.content_len != cut.content_len ||
        (whole.content_len && memcmp(whole.content, cut.content, whole.content_len)))
        abort();
    for (int32_t i = 0; i < whole.n; i++)
        if (strcmp(whole.names[i], cut.names[i]) || strcmp(whole.args[i], cut.args[i])) abort();
    free_reading(&whole);
    free_reading(&cut);
    return 0;
}
