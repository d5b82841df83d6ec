/* loom: the command line. Each subcommand lives in its own file (cli/NAME.c: cli_NAME). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
} commands[] = {
    {"generate", cli_generate,
     "-m MODEL (--prompt TEXT | --ids 1,2,3) [-n N] [--temperature T] [--seed S] [--top-k K] [--top-p P]\n"
     "           [--min-p P] [--ignore-eos] [--json] [--logprobs K] [--threads N] [--load-format auto|dummy]\n"
     "           [--dump-logits FILE]"},
    /* subcommands: one line each, in the order of `loom --help` */
};

static void usage(FILE *f) {
    fputs("usage: loom COMMAND [options]\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s %s\n", commands[i].name, commands[i].synopsis);
    fputs("MODEL is a Hugging Face model directory or a .gguf file.\n", f);
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "loom: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
