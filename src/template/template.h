/* Chat templates: a Jinja subset interpreter that renders a model's `chat_template` exactly as Hugging
 * Face transformers' apply_chat_template(..., tokenize=False) does (Jinja2 with trim_blocks=True,
 * lstrip_blocks=True, the loopcontrols extension, and transformers' globals raise_exception,
 * strftime_now, namespace and its tojson filter).
 *
 * Anything outside the subset is an error naming the construct and its line, never silently different
 * output. Rendering runs under limits (output size, memory, work, call depth), so a hostile template
 * ends with an error instead of hanging or exhausting memory.
 *
 * Not supported (an error when reached): include/import/extends/block/call/filter/raw/with tags,
 * recursive loops, loop.cycle/changed, *args and **kwargs in calls, '%' string formatting, integers beyond 64 bits,
 * filters other than trim length count tojson string lower upper capitalize title first last join
 * default/d items replace int float list selectattr rejectattr map, tests other than defined undefined
 * none string mapping iterable number sequence true false boolean integer float eq/equalto/== ne/!=
 * lt le gt ge (and symbols) in odd even divisibleby, str methods other than startswith endswith strip
 * lstrip rstrip split upper lower replace title capitalize find join, dict methods other than items
 * keys values get, and methods referenced without a call. Known differences that print: range(n)
 * prints as a list, not "range(0, n)"; case mapping is utf8proc's plus Python's special cases for
 * ß, ligatures and İ. */
#ifndef LOOM_TOKENIZER_TEMPLATE_H
#define LOOM_TOKENIZER_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct loom_template loom_template;

typedef struct loom_template_limits {
    size_t max_output_bytes; /* the rendered text */
    size_t max_memory_bytes; /* every value built while rendering */
    uint64_t max_steps;      /* work: evaluated nodes, loop iterations, bytes copied or searched */
    int max_call_depth;      /* nested macro calls */
} loom_template_limits;

/* 1 MiB of output, 64 MiB of values, 50M steps (well under a second), 32 nested macro calls. */
loom_template_limits template_default_limits(void);

/* Parses src (UTF-8, len bytes; need not be NUL-terminated). Syntax errors, unknown tags, filters and
 * tests are reported here as "template line L col C: ...". */
loom_status template_parse(const char *src, size_t len, loom_template **out, loom_error *err);

/* context: a JSON object whose members are the template's variables, as transformers passes them:
 * messages, add_generation_prompt, bos_token, eos_token, tools (null when absent), documents, and
 * any extra keyword (enable_thinking, ...). limits: NULL for the defaults. *out is malloc'd and
 * NUL-terminated (the text itself may hold NUL bytes: use *out_len). raise_exception(msg) in the
 * template fails with LOOM_ERR_INVALID_ARG and a message ending in msg. */
loom_status template_render(const loom_template *t, const json_t *context, const loom_template_limits *limits,
                            char **out, size_t *out_len, loom_error *err);

void template_free(loom_template *t);

#endif
