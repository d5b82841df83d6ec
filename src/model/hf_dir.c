/* Loading a Hugging Face model directory: config.json, the weight files (one safetensors file, or
 * shards named by model.safetensors.index.json, or the PyTorch equivalents), and the tokenizer. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pytorch.h"
#include "formats/safetensors.h"
#include "model/model.h"

typedef loom_status (*table_parser)(const uint8_t *data, size_t size, loom_tensor_table *out, loom_error *err);

/* Maps one weight file and appends its tensors to m->tensors (a name seen before is an error). */
static loom_status add_weight_file(loom_model *m, const char *path, table_parser parse, loom_error *err) {
    loom_file_map *grown = realloc(m->maps, (m->n_maps + 1) * sizeof *grown);
    if (!grown) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    m->maps = grown;
    loom_file_map *map = &m->maps[m->n_maps];
    loom_status st = file_map_open(map, path, err);
    if (st != LOOM_OK) return st;
    m->n_maps++;
    loom_tensor_table table = {0};
    st = parse(map->data, map->size_bytes, &table, err);
    if (st != LOOM_OK) return error_prefix(err, path);
    for (size_t i = 0; i < table.count && st == LOOM_OK; i++) {
        if (tensor_table_find(&m->tensors, table.entries[i].name))
            st = loom_fail(err, LOOM_ERR_FORMAT, "%s: tensor '%s' also appears in another shard", path,
                           table.entries[i].name);
        else st = tensor_table_add(&m->tensors, &table.entries[i], err);
    }
    tensor_table_free(&table);
    return st;
}

static int has_file(const char *dir, const char *name) {
    char *p = path_join(dir, name);
    int ok = p && path_exists(p);
    free(p);
    return ok;
}

/* Shard file names must be plain names inside the model directory. */
static int safe_shard_name(const char *s) {
    return s[0] != '\0' && !strchr(s, '/') && strcmp(s, "..") != 0 && strcmp(s, ".") != 0;
}

/* Reads an index's weight_map, loads every distinct shard, and checks each listed tensor is in it. */
static loom_status load_sharded(loom_model *m, const char *dir, const char *index_name, table_parser parse,
                                loom_error *err) {
    char *index_path = path_join(dir, index_name), *text = NULL;
    if (!index_path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = read_file(index_path, &text, NULL, err);
    json_t *root = NULL;
    if (st == LOOM_OK) {
        json_error_t jerr;
        root = json_loads(text, 0, &jerr);
        if (!root)
            st = loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON at line %d: %s", index_path, jerr.line, jerr.text);
    }
    json_t *map = root ? json_object_get(root, "weight_map") : NULL;
    if (st == LOOM_OK && !json_is_object(map))
        st = loom_fail(err, LOOM_ERR_FORMAT, "%s: missing object 'weight_map'", index_path);
    const char *name;
    json_t *file;
    /* load shards in order of first mention; a shard already loaded is skipped */
    char **loaded = NULL;
    size_t n_loaded = 0;
    if (st == LOOM_OK) {
        json_object_foreach(map, name, file) {
            const char *fname = json_string_value(file);
            if (!fname || !safe_shard_name(fname)) {
                st = loom_fail(err, LOOM_ERR_FORMAT, "%s: tensor '%s' maps to an invalid file name", index_path, name);
                break;
            }
            int seen = 0;
            for (size_t i = 0; i < n_loaded && !seen; i++) seen = strcmp(loaded[i], fname) == 0;
            if (seen) continue;
            char **grown = realloc(loaded, (n_loaded + 1) * sizeof *grown);
            char *shard = grown ? path_join(dir, fname) : NULL;
            if (grown) loaded = grown;
            if (!shard) {
                st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
                break;
            }
            loaded[n_loaded++] = (char *)fname;
            st = add_weight_file(m, shard, parse, err);
            free(shard);
            if (st != LOOM_OK) break;
        }
    }
    if (st == LOOM_OK) {
        json_object_foreach(map, name, file) {
            if (!tensor_table_find(&m->tensors, name)) {
                st = loom_fail(err, LOOM_ERR_FORMAT, "%s: tensor '%s' is listed but not found in '%s'", index_path,
                               name, json_string_value(file));
                break;
            }
        }
    }
    free(loaded);
    json_decref(root);
    free(text);
    free(index_path);
    return st;
}

static loom_status load_single(loom_model *m, const char *dir, const char *file_name, table_parser parse,
                               loom_error *err) {
    char *path = path_join(dir, file_name);
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = add_weight_file(m, path, parse, err);
    free(path);
    return st;
}

/* Returns the name of the file that best identifies the weights in error messages. */
static loom_status load_weight_files(loom_model *m, const char *dir, const char **source, loom_error *err) {
    static const struct {
        const char *file;
        int sharded;
        table_parser parse;
    } layouts[] = {
        {"model.safetensors.index.json", 1, safetensors_parse},
        {"model.safetensors", 0, safetensors_parse},
        {"pytorch_model.bin.index.json", 1, pytorch_parse},
        {"pytorch_model.bin", 0, pytorch_parse},
    };
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        if (!has_file(dir, layouts[i].file)) continue;
        *source = layouts[i].file;
        return layouts[i].sharded ? load_sharded(m, dir, layouts[i].file, layouts[i].parse, err)
                                  : load_single(m, dir, layouts[i].file, layouts[i].parse, err);
    }
    return loom_fail(err, LOOM_ERR_IO,
                     "%s: no weights found (expected model.safetensors, model.safetensors.index.json, "
                     "pytorch_model.bin or pytorch_model.bin.index.json)",
                     dir);
}

/* An image-text checkpoint's text model: its tensors renamed from the Hub's language_model.model.* and
 * language_model.lm_head.* (or transformers 5's model.language_model.*) to a text model's names; the
 * vision tower and projector left out of the table (their bytes stay mapped, never read). */
static loom_status keep_text_model(loom_tensor_table *t, loom_error *err) {
    static const struct {
        const char *from, *to;
    } prefixes[] = {
        {"language_model.model.", "model."},
        {"language_model.lm_head.", "lm_head."},
        {"model.language_model.", "model."},
        {"lm_head.", "lm_head."},
    };
    size_t kept = 0;
    loom_status st = LOOM_OK;
    for (size_t i = 0; i < t->count; i++) {
        loom_tensor_entry e = t->entries[i];
        char *renamed = NULL;
        for (size_t k = 0; st == LOOM_OK && !renamed && k < sizeof prefixes / sizeof prefixes[0]; k++) {
            size_t from = strlen(prefixes[k].from), to = strlen(prefixes[k].to), rest = strlen(e.name) - from;
            if (strncmp(e.name, prefixes[k].from, from) != 0) continue;
            if (!(renamed = malloc(to + rest + 1))) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
            else memcpy(renamed, prefixes[k].to, to), memcpy(renamed + to, e.name + from, rest + 1);
        }
        free(e.name);
        if (!renamed) continue;
        e.name = renamed;
        t->entries[kept++] = e;
    }
    t->count = kept;
    return st;
}

loom_status load_hf_dir(loom_model *m, const char *dir, loom_error *err) {
    loom_status st = read_hf_config(dir, &m->cfg, err);
    const char *source = NULL;
    if (st == LOOM_OK) st = model_init_shard(m, err);
    if (st == LOOM_OK) st = load_weight_files(m, dir, &source, err);
    if (st == LOOM_OK && m->cfg.hf_text_model) st = keep_text_model(&m->tensors, err);
    if (st == LOOM_OK) st = tokenizer_load_hf(dir, &m->tok, err);
    if (st != LOOM_OK) return st;
    char *source_path = path_join(dir, source);
    if (!source_path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    st = weights_bind(m, LOOM_NAMES_HF, source_path, err);
    free(source_path);
    return st;
}
