/* Tokenizer driver for the oracle test: `tool_tok_driver (--hf PATH | --gguf PATH) [--special]`
 * reads a JSON array of strings on stdin and prints a JSON array with, per string, the ids, the
 * whole decode (special tokens kept) and whether the streaming detokenizer agreed with it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file_map.h"
#include "tokenizer/tokenizer.h"

static int stream_matches(const loom_tokenizer *t, const int32_t *ids, size_t n, const char *whole, size_t whole_len) {
    loom_error err;
    loom_detok *d;
    if (detok_create(t, 0, &d, &err)) return 0;
    char *acc = malloc(whole_len * 4 + 16);
    size_t len = 0;
    int ok = acc != NULL;
    for (size_t i = 0; i <= n && ok; i++) {
        char *p;
        size_t l;
        ok = !(i < n ? detok_push(d, ids[i], &p, &l, &err) : detok_flush(d, &p, &l, &err));
        if (ok && len + l <= whole_len) memcpy(acc + len, p, l);
        if (ok) len += l;
        if (ok) free(p);
    }
    ok = ok && len == whole_len && !memcmp(acc, whole, len);
    free(acc);
    detok_free(d);
    return ok;
}

int main(int argc, char **argv) {
    const char *hf = NULL, *gguf = NULL;
    int special = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--hf") && i + 1 < argc) hf = argv[++i];
        else if (!strcmp(argv[i], "--gguf") && i + 1 < argc) gguf = argv[++i];
        else if (!strcmp(argv[i], "--special")) special = 1;
    }
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    loom_file_map m = {0};
    loom_gguf g = {0};
    if (hf) {
        if (tokenizer_load_hf(hf, &t, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
    } else if (gguf) {
        if (file_map_open(&m, gguf, &err) || gguf_parse(m.data, m.size_bytes, &g, &err) ||
            tokenizer_from_gguf(&g, &t, &err)) {
            fprintf(stderr, "%s: %s\n", gguf, err.message);
            return 1;
        }
    } else {
        fprintf(stderr, "usage: tool_tok_driver (--hf PATH | --gguf PATH) [--special] < strings.json\n");
        return 2;
    }
    json_error_t je;
    json_t *in = json_loadf(stdin, JSON_ALLOW_NUL, &je), *out = json_array(), *s;
    size_t i;
    json_array_foreach(in, i, s) {
        int32_t *ids;
        size_t n;
        json_t *rec = json_object();
        if (loom_tokenizer_encode(t, json_string_value(s), json_string_length(s), special, &ids, &n, &err)) {
            json_object_set_new(rec, "error", json_string(err.message));
        } else {
            json_t *arr = json_array();
            for (size_t k = 0; k < n; k++) json_array_append_new(arr, json_integer(ids[k]));
            json_object_set_new(rec, "ids", arr);
            char *text;
            size_t len;
            if (!loom_tokenizer_decode(t, ids, n, 0, &text, &len, &err)) {
                json_object_set_new(rec, "text", json_stringn(text, len));
                json_object_set_new(rec, "stream_ok", json_boolean(stream_matches(t, ids, n, text, len)));
                free(text);
            }
            free(ids);
        }
        json_array_append_new(out, rec);
    }
    json_dumpf(out, stdout, JSON_COMPACT);
    putchar('\n');
    json_decref(in);
    json_decref(out);
    loom_tokenizer_free(t);
    gguf_free(&g);
    file_map_close(&m);
    return 0;
}
