/* loom chat-template: renders a model's own chat template for a conversation (the prompt the server
 * would build for /v1/chat/completions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_chat_template(int argc, char **argv) {
    const char *model = NULL, *messages_path = NULL;
    int add_generation_prompt = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--messages")) {
            const char *v = cli_option_value(argc, argv, &i);
            if (!v) return cli_usage_error("chat-template", "%s needs a value", a);
            if (!strcmp(a, "--messages")) messages_path = v;
            else model = v;
        } else if (!strcmp(a, "--no-generation-prompt")) {
            add_generation_prompt = 0;
        } else {
            return cli_usage_error("chat-template", "unknown option '%s'", a);
        }
    }
    if (!model || !messages_path)
        return cli_usage_error("chat-template", "-m MODEL and --messages FILE.json are required");
    loom_error err = {0};
    char *messages = NULL, *text = NULL;
    FILE *f = fopen(messages_path, "rb");
    if (!f) {
        loom_fail(&err, LOOM_ERR_IO, "%s: cannot open", messages_path);
        return cli_error(&err);
    }
    size_t cap = 1 << 16, n = 0;
    messages = malloc(cap);
    while (messages && (n += fread(messages + n, 1, cap - n - 1, f)) == cap - 1) {
        char *grown = realloc(messages, cap *= 2);
        if (!grown) free(messages);
        messages = grown;
    }
    fclose(f);
    if (!messages) {
        loom_fail(&err, LOOM_ERR_NO_MEMORY, "out of memory");
        return cli_error(&err);
    }
    messages[n] = '\0';
    loom_model_params mp = loom_model_default_params();
    mp.path = model;
    loom_model *m = NULL;
    loom_status st = loom_model_load(&mp, &m, &err);
    if (st == LOOM_OK) st = loom_apply_chat_template(m, messages, add_generation_prompt, &text, &err);
    if (st == LOOM_OK) fputs(text, stdout);
    free(text);
    free(messages);
    loom_model_free(m);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
