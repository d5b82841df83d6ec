/* loom quantize IN.gguf OUT.gguf --type T: writes a GGUF with converted weight matrices once, so that
 * loading it needs no --quantization work (format: src/model/gguf_quantize.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int cli_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--type")) {
            if (!(type = cli_option_value(argc, argv, &i))) return cli_usage_error("quantize", "--type needs a value");
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_usage_error("quantize", "unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return cli_usage_error("quantize", "unexpected argument '%s'", a);
        }
    }
    if (!in || !out) return cli_usage_error("quantize", "give the input and output GGUF paths");
    if (!type) return cli_usage_error("quantize", "--type int8|int4|fp8|q8_0|q4_0|q4_1 is required");
    loom_error err = {0};
    if (loom_quantize_gguf_file(in, out, type, &err) != LOOM_OK) return cli_error(&err);
    fprintf(stderr, "loom quantize: wrote %s (%s)\n", out, type);
    return 0;
}
