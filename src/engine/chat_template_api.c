/* loom_apply_chat_template: finds the model's chat template (GGUF metadata, or the HF directory's
 * tokenizer_config.json / chat_template.jinja; read and parsed once, then kept on the model) and renders
 * it with the variables transformers passes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "template/template.h"

/* tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} (the "default"
 * one is used). *out is malloc'd; NULL when the file has none. */
static loom_status template_from_config(const char *dir, char **out, loom_error *err) {
    char *path = path_join(dir, "tokenizer_config.json"), *text = NULL;
    if (!path) return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    loom_status st = path_exists(path) ? read_file(path, &text, NULL, err) : LOOM_OK;
    /* integers as reals: transformers writes model_max_length 1e30 as an integer jansson cannot hold */
    json_t *root = text ? json_loads(text, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    json_t *t = root ? json_object_get(root, "chat_template") : NULL;
    if (text && !root) st = loom_fail(err, LOOM_ERR_FORMAT, "%s: invalid JSON", path);
    for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
        json_t *named = json_array_get(t, i), *name = json_object_get(named, "name");
        if (json_is_string(name) && strcmp(json_string_value(name), "default") == 0)
            t = json_object_get(named, "template");
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
        if (gguf_get_string(m->gguf, "tokenizer.chat_template", &s, &len) && (*out = strndup(s, len))) return LOOM_OK;
    } else if (m->source_path && path_is_dir(m->source_path)) {
        char *jinja = path_join(m->source_path, "chat_template.jinja");
        loom_status st = !jinja  ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory")
            : path_exists(jinja) ? read_file(jinja, out, NULL, err)
                                 : template_from_config(m->source_path, out, err);
        free(jinja);
        if (st != LOOM_OK || *out) return st;
    }
    return loom_fail(err, LOOM_ERR_UNSUPPORTED, "this model has no chat template");
}

/* The model's template, read and parsed on its first use and kept on the model (it is const to its
 * users; the lock makes the first use once): source and parse, or an error (then not kept). */
static loom_status model_template(const loom_model *cm, const char **src, const loom_template **t, loom_error *err) {
    loom_model *m = (loom_model *)cm;
    pthread_mutex_lock(&m->chat_lock);
    loom_status st = LOOM_OK;
    if (!m->chat_template) {
        char *source = NULL;
        loom_template *parsed = NULL;
        st = find_template(m, &source, err);
        if (st == LOOM_OK) st = template_parse(source, strlen(source), &parsed, err);
        if (st == LOOM_OK) m->chat_source = source, m->chat_template = parsed;
        else free(source);
    }
    *src = m->chat_source;
    *t = m->chat_template;
    pthread_mutex_unlock(&m->chat_lock);
    return st;
}

/* The text of a special token (bos_token / eos_token), or "" when the model has none. */
static json_t *token_text(const loom_model *m, int32_t id) {
    char *text = NULL;
    size_t len = 0;
    loom_error ignored;
    json_t *s = id >= 0 && loom_tokenizer_decode(m->tok, &id, 1, 0, &text, &len, &ignored) == LOOM_OK
        ? json_stringn(text, len)
        : json_string("");
    free(text);
    return s;
}

/* Template variables a request's kwargs may not replace (transformers passes them explicitly). */
static const char *const reserved_kwargs[] = {"messages", "tools", "documents", "add_generation_prompt",
                                              "continue_final_message"};

/* kwargs_json's members into ctx (vLLM's chat_template_kwargs). */
static loom_status add_kwargs(json_t *ctx, const char *kwargs_json, loom_error *err) {
    if (!kwargs_json) return LOOM_OK;
    json_t *kwargs = json_loads(kwargs_json, 0, NULL);
    loom_status st = json_is_object(kwargs)
        ? LOOM_OK
        : loom_fail(err, LOOM_ERR_INVALID_ARG, "chat_template_kwargs must be a JSON object");
    const char *key;
    json_t *v;
    if (st == LOOM_OK) json_object_foreach(kwargs, key, v) {
            for (size_t i = 0; i < sizeof reserved_kwargs / sizeof reserved_kwargs[0]; i++)
                if (strcmp(key, reserved_kwargs[i]) == 0)
                    st = loom_fail(err, LOOM_ERR_INVALID_ARG, "chat_template_kwargs may not set '%s'", key);
            if (st != LOOM_OK) break;
            if (json_object_set(ctx, key, v)) st = loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
        }
    json_decref(kwargs);
    return st;
}

/* transformers' continue_final_message: a tag is appended to the last message's content; the rendered
 * text is cut where the tag begins (and right-stripped when the template trimmed the space after it). */
#define CONTINUE_TAG "CONTINUE_FINAL_MESSAGE_TAG "

static loom_status tag_final_message(json_t *messages, const char *src, char **final_text, loom_error *err) {
    json_t *last = json_array_get(messages, json_array_size(messages) - 1);
    json_t *content = json_object_get(last, "content");
    if (!last) return loom_fail(err, LOOM_ERR_INVALID_ARG, "continue_final_message is set but there are no messages");
    if (!json_is_string(content))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "continue_final_message is set but the final message has no text content");
    if (!strstr(src, "content"))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "continue_final_message is set but the chat template never reads 'content'");
    size_t n = json_string_length(content);
    char *tagged = malloc(n + sizeof CONTINUE_TAG);
    *final_text = strdup(json_string_value(content));
    if (!tagged || !*final_text) {
        free(tagged);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(tagged, json_string_value(content), n);
    memcpy(tagged + n, CONTINUE_TAG, sizeof CONTINUE_TAG);
    int bad = json_object_set_new(last, "content", json_stringn(tagged, n + sizeof CONTINUE_TAG - 1));
    free(tagged);
    return bad ? loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory") : LOOM_OK;
}

static int is_py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* The final message's text without surrounding whitespace must appear, then the tag: cut there. */
static loom_status cut_at_tag(char *text, size_t *len, const char *final_text, loom_error *err) {
    const char *tag = CONTINUE_TAG, *found = NULL;
    size_t tag_len = strlen(tag) - 1; /* the tag without its trailing space */
    for (const char *p = text; (p = memmem(p, *len - (size_t)(p - text), tag, tag_len)); p++) found = p;
    size_t a = 0, b = strlen(final_text);
    while (a < b && is_py_space((unsigned char)final_text[a])) a++;
    while (b > a && is_py_space((unsigned char)final_text[b - 1])) b--;
    if (!found || (b > a && !memmem(text, *len, final_text + a, b - a)))
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "continue_final_message is set but the chat template drops part of "
                         "the final message");
    size_t cut = (size_t)(found - text);
    int spaced = cut + tag_len < *len && text[cut + tag_len] == ' ';
    if (!spaced)
        while (cut > 0 && is_py_space((unsigned char)text[cut - 1])) cut--;
    text[cut] = '\0';
    *len = cut;
    return LOOM_OK;
}

static json_t *render_context(const loom_model *m, json_t *messages, const loom_chat_template_params *p,
                              loom_error *err) {
    int32_t eos = loom_tokenizer_eos_id(m->tok) >= 0 ? loom_tokenizer_eos_id(m->tok)
        : m->info.n_eos_ids > 0                      ? m->info.eos_ids[0]
                                                     : -1;
    json_t *tools = p->tools_json ? json_loads(p->tools_json, 0, NULL) : json_null();
    if (!json_is_array(tools) && !json_is_null(tools)) {
        json_decref(tools);
        loom_fail(err, LOOM_ERR_INVALID_ARG, "tools must be a JSON array");
        return NULL;
    }
    json_t *ctx =
        json_pack("{s:O, s:b, s:o, s:o, s:o}", "messages", messages, "add_generation_prompt", p->add_generation_prompt,
                  "bos_token", token_text(m, m->info.bos_id), "eos_token", token_text(m, eos), "tools", tools);
    if (!ctx) loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
    else if (add_kwargs(ctx, p->kwargs_json, err) != LOOM_OK) {
        json_decref(ctx);
        ctx = NULL;
    }
    return ctx;
}

loom_status loom_model_chat_template(const loom_model *m, char **source_out, loom_error *err) {
    const char *src;
    const loom_template *t;
    loom_status st = model_template(m, &src, &t, err);
    *source_out = st == LOOM_OK ? strdup(src) : NULL;
    return st != LOOM_OK || *source_out ? st : loom_fail(err, LOOM_ERR_NO_MEMORY, "out of memory");
}

loom_chat_template_params loom_chat_template_default_params(void) {
    return (loom_chat_template_params){.add_generation_prompt = 1};
}

loom_status loom_apply_chat_template_ex(const loom_model *m, const char *messages_json,
                                        const loom_chat_template_params *p, char **text_out, loom_error *err) {
    *text_out = NULL;
    if (!m->tok) return loom_fail(err, LOOM_ERR_UNSUPPORTED, "this model has no tokenizer");
    if (p->add_generation_prompt && p->continue_final_message)
        return loom_fail(err, LOOM_ERR_INVALID_ARG,
                         "continue_final_message and add_generation_prompt cannot both be true");
    json_t *messages = json_loads(messages_json, 0, NULL);
    if (!json_is_array(messages)) {
        json_decref(messages);
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "chat messages must be a JSON array");
    }
    char *final_text = NULL;
    const char *src;
    const loom_template *t;
    loom_status st = model_template(m, &src, &t, err);
    if (st == LOOM_OK && p->continue_final_message) st = tag_final_message(messages, src, &final_text, err);
    json_t *ctx = st == LOOM_OK ? render_context(m, messages, p, err) : NULL;
    if (st == LOOM_OK && !ctx) st = err->status;
    size_t len;
    if (st == LOOM_OK) st = template_render(t, ctx, NULL, text_out, &len, err);
    if (st == LOOM_OK && p->continue_final_message) st = cut_at_tag(*text_out, &len, final_text, err);
    if (st != LOOM_OK) {
        free(*text_out);
        *text_out = NULL;
    }
    json_decref(ctx);
    json_decref(messages);
    free(final_text);
    return st;
}

loom_status loom_apply_chat_template(const loom_model *m, const char *messages_json, int add_generation_prompt,
                                     char **text_out, loom_error *err) {
    loom_chat_template_params p = loom_chat_template_default_params();
    p.add_generation_prompt = add_generation_prompt;
    return loom_apply_chat_template_ex(m, messages_json, &p, text_out, err);
}
