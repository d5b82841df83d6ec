/* loom_apply_chat_template: finds the model's chat template (GGUF metadata, or the HF directory's
 * tokenizer_config.json / chat_template.jinja) and renders it with the variables transformers passes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "template/template.h"

/* tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} (the "default"
 * one is used). *out is malloc'd; NULL when the file has none. */
static loom_status template_from_config(const char *dir, char **out, loom_error *err) {
    char *path = loom_path_join(dir, "tokenizer_config.json"), *text = NULL;
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = loom_path_exists(path) ? loom_read_file(path, &text, NULL, err) : LOOM_OK;
    json_t *root = text ? json_loads(text, 0, NULL) : NULL, *t = root ? json_object_get(root, "chat_template") : NULL;
    if (text && !root) st = loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON", path);
    for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
        json_t *named = json_array_get(t, i), *name = json_object_get(named, "name");
        if (json_is_string(name) && strcmp(json_string_value(name), "default") == 0) t = json_object_get(named, "template");
    }
    if (st == LOOM_OK && json_is_string(t) && !(*out = strdup(json_string_value(t))))
        st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    json_decref(root);
    free(text);
    free(path);
    return st;
}

/* The template source, malloc'd. */
static loom_status find_template(const loom_model *m, char **out, loom_error *err) {
    *out = NULL;
    const char *s;
    size_t len;
    if (m->gguf) {
        if (loom_gguf_get_string(m->gguf, "tokenizer.chat_template", &s, &len) && (*out = strndup(s, len))) return LOOM_OK;
    } else if (m->source_path && loom_path_is_dir(m->source_path)) {
        char *jinja = loom_path_join(m->source_path, "chat_template.jinja");
        loom_status st = !jinja ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory")
                         : loom_path_exists(jinja) ? loom_read_file(jinja, out, NULL, err)
                                                   : template_from_config(m->source_path, out, err);
        free(jinja);
        if (st != LOOM_OK || *out) return st;
    }
    return loom_fail(err, LOOM_ERR_UNSUPPORTED, "this model has no chat template");
}

/* The text of a special token (bos_token / eos_token), or "" when the model has none. */
static json_t *token_text(const loom_model *m, int32_t id) {
    char *text = NULL;
    size_t len = 0;
    loom_error ignored;
    json_t *s = id >= 0 && loom_tokenizer_decode(m->tok, &id, 1, 0, &text, &len, &ignored) == LOOM_OK
                    ? json_stringn(text, len) : json_string("");
    free(text);
    return s;
}

static json_t *render_context(const loom_model *m, const char *messages_json, int add_generation_prompt,
                              loom_error *err) {
    json_error_t jerr;
    json_t *messages = json_loads(messages_json, 0, &jerr);
    if (!json_is_array(messages)) {
        json_decref(messages);
        loom_fail(err, LOOM_ERR_INVALID_ARG, "chat messages must be a JSON array");
        return NULL;
    }
    int32_t eos = loom_tokenizer_eos_id(m->tok) >= 0 ? loom_tokenizer_eos_id(m->tok)
                  : m->info.n_eos_ids > 0            ? m->info.eos_ids[0] : -1;
    json_t *ctx = json_pack("{s:o, s:b, s:o, s:o, s:n}", "messages", messages, "add_generation_prompt",
                            add_generation_prompt, "bos_token", token_text(m, m->info.bos_id), "eos_token",
                            token_text(m, eos), "tools");
    if (!ctx) loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    return ctx;
}

loom_status loom_apply_chat_template(const loom_model *m, const char *messages_json, int add_generation_prompt,
                                     char **text_out, loom_error *err) {
    *text_out = NULL;
    if (!m->tok) return loom_fail(err, LOOM_ERR_UNSUPPORTED, "this model has no tokenizer");
    char *src = NULL;
    loom_status st = find_template(m, &src, err);
    loom_template *t = NULL;
    if (st == LOOM_OK) st = loom_template_parse(src, strlen(src), &t, err);
    json_t *ctx = st == LOOM_OK ? render_context(m, messages_json, add_generation_prompt, err) : NULL;
    if (st == LOOM_OK && !ctx) st = err->status;
    size_t len;
    if (st == LOOM_OK) st = loom_template_render(t, ctx, NULL, text_out, &len, err);
    json_decref(ctx);
    loom_template_free(t);
    free(src);
    return st;
}
