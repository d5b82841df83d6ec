/* tokenizer_load_hf: which files an HF directory (or a tokenizer.json path) holds, and the loader for
 * each (tok_core.c has the object they all fill). */
#include <stdlib.h>
#include <string.h>

#include "core/file_map.h"
#include "tokenizer/tok_internal.h"

static loom_status load_json_file(loom_tokenizer *t, const char *path, loom_error *err) {
    char *data;
    size_t size;
    loom_status st = read_file(path, &data, &size, err);
    if (st) return st;
    st = tok_load_hf_json(t, data, size, path, err);
    free(data);
    return st;
}

static loom_status load_spm_file(loom_tokenizer *t, const char *path, loom_error *err) {
    loom_file_map m;
    loom_status st = file_map_open(&m, path, err);
    if (st) return st;
    st = tok_load_spm_model(t, m.data, m.size_bytes, path, err);
    file_map_close(&m);
    return st;
}

loom_status tokenizer_load_hf(const char *path, loom_tokenizer **out, loom_error *err) {
    *out = NULL;
    char *dir = NULL, *json = NULL, *file = NULL;
    if (!path_exists(path)) return loom_fail(err, LOOM_ERR_IO, "%s: no such file or directory", path);
    if (path_is_dir(path)) {
        dir = strdup(path);
    } else {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        json = strdup(path);
    }
    loom_tokenizer *t = tok_new();
    if (!dir || !t || (!json && !(json = path_join(dir, "tokenizer.json")))) {
        free(dir);
        free(json);
        loom_tokenizer_free(t);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "tokenizer: out of memory");
    }
    char *config = path_join(dir, "tokenizer_config.json");
    loom_status st;
    int from_json = path_exists(json);
    if (from_json) {
        st = load_json_file(t, json, err);
    } else if ((file = path_join(dir, "vocab.json")) && path_exists(file)) {
        st = tok_load_vocab_merges(t, dir, config, err);
    } else {
        free(file);
        file = path_join(dir, "tokenizer.model");
        st = file && path_exists(file)
            ? load_spm_file(t, file, err)
            : loom_fail(err, LOOM_ERR_IO, "%s: no tokenizer.json, vocab.json + merges.txt or tokenizer.model", dir);
    }
    if (!st && config && path_exists(config)) st = tok_apply_hf_config(t, config, !from_json, err);
    free(dir);
    free(json);
    free(file);
    free(config);
    if (st) {
        loom_tokenizer_free(t);
        return st;
    }
    *out = t;
    return LOOM_OK;
}
