/* libFuzzer harness for the model config readers: the input as config.json text
 * (loom_config_from_json, every family incl. the mixture-of-experts fields) and as a GGUF file whose
 * metadata becomes a config (loom_gguf_parse + loom_config_from_gguf). A config either fails with a
 * message or passes loom_config_validate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "model/config.h"

static void check(loom_status st, const loom_config *cfg, const loom_error *err) {
    if (st != LOOM_OK) {
        if (!err->message[0]) abort(); /* an error always says what */
        return;
    }
    loom_error again = {0};
    if (loom_config_validate(cfg, &again) != LOOM_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    loom_config cfg;
    loom_error err = {0};
    check(loom_config_from_json(text, "config.json", &cfg, &err), &cfg, &err);
    free(text);
    loom_gguf g;
    memset(&err, 0, sizeof err);
    if (loom_gguf_parse(data, size, &g, &err) == LOOM_OK) {
        memset(&err, 0, sizeof err);
        check(loom_config_from_gguf(&g, &cfg, &err), &cfg, &err);
        loom_gguf_free(&g);
    }
    return 0;
}
