/* libFuzzer harness for the model config readers: an input starting with "GGUF" is parsed as a GGUF file
 * and read by config_from_gguf, anything else is config.json text for config_from_json. A
 * config that reads is validated again, every layer's sliding flag is asked for, and it is sharded for
 * tensor parallel sizes 2 and 4 (whatever fails must say why). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/config.h"
#include "model/shard.h"

static volatile uint64_t sink;

static void exercise(const loom_config *cfg) {
    loom_error err = {0};
    if (config_validate(cfg, &err) != LOOM_OK) __builtin_trap(); /* a config that read is valid */
    for (int32_t l = 0; l < cfg->n_layers; l++) sink += (uint64_t)config_layer_sliding(cfg, l);
    for (int32_t tp = 2; tp <= 4; tp += 2) {
        loom_shard s;
        loom_status st = shard_init(&s, cfg, tp - 1, tp, 0, 1, &err);
        if (st != LOOM_OK && !err.message[0]) __builtin_trap();
        if (st == LOOM_OK) sink += (uint64_t)(s.n_kv_heads + s.kv_head_begin);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    loom_config cfg;
    loom_error err = {0};
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) {
        loom_gguf g;
        if (gguf_parse(data, size, &g, &err) != LOOM_OK) return 0;
        if (config_from_gguf(&g, &cfg, &err) == LOOM_OK) exercise(&cfg);
        else if (!err.message[0]) __builtin_trap();
        gguf_free(&g);
        return 0;
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (config_from_json(text, "config.json", &cfg, &err) == LOOM_OK) exercise(&cfg);
    else if (!err.message[0]) __builtin_trap();
    free(text);
    return 0;
}
