/* loom: the command line. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: loom COMMAND [options]\n"
    "commands:\n"
    "  generate -m MODEL (--prompt TEXT | --ids 1,2,3) [-n N] [--temperature T] [--seed S]\n"
    "           [--top-k K] [--top-p P] [--min-p P] [--ignore-eos] [--json] [--logprobs K]\n"
    "           [--threads N] [--load-format auto|dummy] [--dump-logits FILE]\n"
    "MODEL is a Hugging Face model directory or a .gguf file.\n";

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "generate") == 0) return cli_generate(argc - 1, argv + 1);
    fprintf(stderr, "loom: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
