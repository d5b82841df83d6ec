/* loom_model_sampling_defaults: the sampling defaults a checkpoint ships (HF generation_config.json,
 * GGUF general.sampling.*) over llama-server's (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05). */
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

static loom_sampling_params llama_server_defaults(void) {
    loom_sampling_params p = loom_sampling_default_params();
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    return p;
}

/* A float field of loom_sampling_params by its name in the file. */
typedef struct float_key {
    const char *file_key;
    size_t offset;
} float_key;

#define AT(field) offsetof(loom_sampling_params, field)

static const float_key hf_floats[] = {{"temperature", AT(temperature)},
                                      {"top_p", AT(top_p)},
                                      {"min_p", AT(min_p)},
                                      {"repetition_penalty", AT(repetition_penalty)}};
static const float_key gguf_floats[] = {{"general.sampling.temp", AT(temperature)},
                                        {"general.sampling.top_p", AT(top_p)},
                                        {"general.sampling.min_p", AT(min_p)},
                                        {"general.sampling.penalty_repeat", AT(repetition_penalty)}};

/* The validator's message ("top_p must be in (0, 1]") prefixed with where the value came from. */
static loom_status refail(loom_error *err, const char *where) {
    char why[sizeof err->message];
    memcpy(why, err->message, sizeof why);
    return loom_fail(err, LOOM_ERR_FORMAT, "%s: %.400s", where, why);
}

static loom_status from_generation_config(const char *dir, loom_sampling_params *p, loom_error *err) {
    char *path = path_join(dir, "generation_config.json"), *text = NULL;
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = path_exists(path) ? read_file(path, &text, NULL, err) : LOOM_OK;
    json_t *root = text ? json_loads(text, 0, NULL) : NULL;
    if (text && !json_is_object(root)) st = loom_fail(err, LOOM_ERR_FORMAT, "%s: not a JSON object", path);
    for (size_t i = 0; st == LOOM_OK && root && i < sizeof hf_floats / sizeof hf_floats[0]; i++) {
        json_t *v = json_object_get(root, hf_floats[i].file_key);
        if (!v || json_is_null(v)) continue;
        if (!json_is_number(v))
            st = loom_fail(err, LOOM_ERR_FORMAT, "%s: %s must be a number", path, hf_floats[i].file_key);
        else *(float *)((char *)p + hf_floats[i].offset) = (float)json_number_value(v);
    }
    json_t *k = json_object_get(root, "top_k");
    if (st == LOOM_OK && k && !json_is_null(k)) {
        double d = json_number_value(k);
        if (!json_is_number(k) || d != floor(d) || d < -1 || d > INT32_MAX)
            st = loom_fail(err, LOOM_ERR_FORMAT, "%s: top_k must be an integer >= -1", path);
        else p->top_k = (int32_t)d;
    }
    if (st == LOOM_OK && root && loom_sampling_params_validate(p, INT32_MAX, err) != LOOM_OK) st = refail(err, path);
    json_decref(root);
    free(text);
    free(path);
    return st;
}

static loom_status from_gguf(const loom_gguf *g, loom_sampling_params *p, loom_error *err) {
    double d;
    int64_t k;
    for (size_t i = 0; i < sizeof gguf_floats / sizeof gguf_floats[0]; i++)
        if (gguf_get_float(g, gguf_floats[i].file_key, &d)) *(float *)((char *)p + gguf_floats[i].offset) = (float)d;
    if (gguf_get_int(g, "general.sampling.top_k", &k)) {
        if (k < -1 || k > INT32_MAX)
            return loom_fail(err, LOOM_ERR_FORMAT, "GGUF general.sampling.top_k must be >= -1");
        p->top_k = (int32_t)k;
    }
    if (loom_sampling_params_validate(p, INT32_MAX, err) != LOOM_OK) return refail(err, "GGUF general.sampling.*");
    return LOOM_OK;
}

loom_status loom_model_sampling_defaults(const loom_model *m, loom_sampling_params *out, loom_error *err) {
    *out = llama_server_defaults();
    if (m->gguf) return from_gguf(m->gguf, out, err);
    if (m->source_path && path_is_dir(m->source_path)) return from_generation_config(m->source_path, out, err);
    return LOOM_OK;
}
