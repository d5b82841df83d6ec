/* libFuzzer: the input is a chat template. If it parses, it is rendered with a small fixed context
 * (a system, user, assistant and tool message, tools, special tokens) under tight limits. Any result
 * is fine; crashes, hangs, leaks and sanitizer reports are not. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "template/template.h"

static const char CONTEXT[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi \\u00e9 <think>x</think>\"},"
    " {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"type\": \"function\", \"function\":"
    " {\"name\": \"f\", \"arguments\": {\"a\": 1.5, \"b\": [true, null]}}}]},"
    " {\"role\": \"tool\", \"content\": \"42\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}],"
    " \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"documents\": null}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *context;
    if (!context) context = json_loads(CONTEXT, 0, NULL);
    loom_template *t;
    loom_error err;
    if (template_parse((const char *)data, size, &t, &err) != LOOM_OK) return 0;
    loom_template_limits limits = template_default_limits();
    limits.max_output_bytes = 1 << 16;
    limits.max_memory_bytes = 8 << 20;
    limits.max_steps = 200000;
    char *out;
    size_t len;
    if (template_render(t, context, &limits, &out, &len, &err) == LOOM_OK) free(out);
    template_free(t);
    return 0;
}
