/* Parsing entry points: the source is checked for UTF-8, its newlines normalized as Jinja does
 * ("\r\n" and "\r" become "\n", one trailing newline dropped), then lexed and parsed into an AST that
 * lives in the template's arena. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "template/internal.h"

struct loom_template {
    tpl_arena arena;
    tpl_node *root;
};

enum { MAX_TEMPLATE_BYTES = 4 << 20, PARSE_MEMORY_BYTES = 256u << 20 };

const tpl_node *tpl_template_root(const loom_template *t) { return t->root; }

loom_status template_parse(const char *src, size_t len, loom_template **out, loom_error *err) {
    *out = NULL;
    if (len > MAX_TEMPLATE_BYTES)
        return loom_fail(err, LOOM_ERR_UNSUPPORTED, "template: %zu bytes is over the %d byte limit", len,
                         MAX_TEMPLATE_BYTES);
    if (!utf8_valid(src, len)) return loom_fail(err, LOOM_ERR_FORMAT, "template: source is not valid UTF-8");
    loom_template *t = calloc(1, sizeof *t);
    if (!t) return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    t->arena.limit_bytes = PARSE_MEMORY_BYTES;
    char *text = tpl_alloc(&t->arena, len + 1);
    if (!text) {
        free(t);
        return loom_fail(err, LOOM_ERR_NO_MEMORY, "template: out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            text[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            text[n++] = src[i];
        }
    }
    if (n && text[n - 1] == '\n') n--;
    tpl_tokens toks = {0};
    loom_status st = tpl_lex(&t->arena, text, n, &toks, err);
    if (st == LOOM_OK) {
        tpl_parser p = {.arena = &t->arena, .toks = &toks, .err = err};
        t->root = tpl_parse_template(&p);
        if (!t->root) st = err ? err->status : LOOM_ERR_FORMAT;
    }
    free(toks.v);
    if (st != LOOM_OK) {
        template_free(t);
        return st;
    }
    *out = t;
    return LOOM_OK;
}

void template_free(loom_template *t) {
    if (!t) return;
    tpl_arena_free(&t->arena);
    free(t);
}
