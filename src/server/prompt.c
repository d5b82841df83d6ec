/* Prompts to token ids and token ids to text, for the routes: a prompt (text or ids), chat messages
 * through the model's template, and the text of ids (/detokenize, logprobs). */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

int srv_prompt_ids(srv_server *s, const api_prompt *p, int add_special, int32_t **ids, size_t *n, api_error *e) {
    if (!p->text) {
        if (!(*ids = malloc((p->n_ids ? p->n_ids : 1) * sizeof **ids))) return api_fail(e, 503, NULL, "out of memory");
        memcpy(*ids, p->ids, p->n_ids * sizeof **ids);
        *n = p->n_ids;
        return 0;
    }
    loom_error err;
    loom_status st = loom_tokenize(s->model, p->text, p->text_len, add_special, ids, n, &err);
    if (st == LOOM_OK) return 0;
    return api_fail(e, st == LOOM_ERR_INVALID_ARG ? 400 : 500, "prompt", "cannot tokenize the prompt: %s", err.message);
}

int srv_chat_prompt_ids(srv_server *s, const char *messages_json, const loom_chat_template_params *tp, int add_special,
                        const char *suffix, int32_t **ids, size_t *n_ids, api_error *e) {
    loom_error err;
    char *text = NULL;
    loom_status st = loom_apply_chat_template_ex(s->model, messages_json, tp, &text, &err);
    if (st != LOOM_OK) {
        int client = st == LOOM_ERR_INVALID_ARG || st == LOOM_ERR_UNSUPPORTED;
        const char *param = strncmp(err.message, "chat_template_kwargs", 20) == 0 ? "chat_template_kwargs"
            : strncmp(err.message, "continue_final_message", 22) == 0             ? "continue_final_message"
                                                                                  : "messages";
        return api_fail(e, client ? 400 : 500, param, "chat template: %s", err.message);
    }
    if (suffix) {
        size_t n = strlen(text), k = strlen(suffix);
        char *grown = realloc(text, n + k + 1);
        if (!grown) {
            free(text);
            return api_fail(e, 503, NULL, "out of memory");
        }
        memcpy(grown + n, suffix, k + 1);
        text = grown;
    }
    api_prompt p = {.text = text, .text_len = strlen(text)};
    int rc = srv_prompt_ids(s, &p, add_special, ids, n_ids, e);
    free(text);
    return rc;
}

/* Decodes ids with a fresh incremental detokenizer (special tokens kept). *text is malloc'd. */
loom_status srv_decode_ids(const loom_model *m, const int32_t *ids, size_t n, char **text, loom_error *err) {
    loom_detokenizer *d;
    *text = NULL;
    loom_status st = loom_detokenizer_create(m, 0, &d, err);
    if (st != LOOM_OK) return st;
    size_t len = 0;
    char *piece = NULL;
    for (size_t i = 0; i <= n && st == LOOM_OK; i++) {
        st = i < n ? loom_detokenizer_push(d, ids[i], &piece, err) : loom_detokenizer_flush(d, &piece, err);
        size_t add = piece ? strlen(piece) : 0;
        char *grown = st == LOOM_OK ? realloc(*text, len + add + 1) : NULL;
        if (grown) {
            if (add) memcpy(grown + len, piece, add);
            len += add;
            grown[len] = '\0';
            *text = grown;
        } else if (st == LOOM_OK) {
            st = LOOM_ERR_NO_MEMORY;
        }
        free(piece);
        piece = NULL;
    }
    loom_detokenizer_free(d);
    if (st != LOOM_OK) {
        free(*text);
        *text = NULL;
    }
    return st;
}

char *srv_token_piece(const loom_model *m, int32_t id) {
    char *text = NULL;
    loom_error ignored;
    srv_decode_ids(m, &id, 1, &text, &ignored);
    return text;
}
