#include <string.h>

#include "cli/cli.h"

int cli_parse_quantization(const char *s, loom_quantization *out) {
    static const struct {
        const char *name;
        loom_quantization q;
    } modes[] = {{"none", LOOM_QUANT_NONE},
                 {"f32", LOOM_QUANT_F32},
                 {"int8", LOOM_QUANT_INT8},
                 {"int4", LOOM_QUANT_INT4},
                 {"fp8", LOOM_QUANT_FP8}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (!strcmp(s, modes[i].name)) {
            *out = modes[i].q;
            return 0;
        }
    return -1;
}
