/* loom: the command line. Each subcommand lives in its own file (cli/NAME.c: cli_NAME). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_opts.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;
} commands[] = {
    {"generate", cli_generate,
     "-m MODEL (--prompt TEXT | --ids 1,2,3) [-n N] [--temperature T] [--seed S] [--top-k K] [--top-p P]\n"
     "           [--min-p P] [--repetition-penalty R] [--presence-penalty P] [--frequency-penalty F]\n"
     "           [--stop TEXT]... [--n 1] [--ignore-eos] [--json] [--logprobs K] [--threads N]\n"
     "           [--load-format auto|dummy] [--dump-logits FILE] [--tensor-parallel-size N] [--pipeline-parallel-size "
     "N]\n"
     "           [--enable-expert-parallel] [--kv-cache-dtype auto|f32|f16|bf16|int8|fp8]\n"
     "           [--json-schema FILE | --grammar FILE.gbnf | --regex RE | --choice JSON_ARRAY | --json-object |\n"
     "            --structural-tag FILE]\n"
     "           " CLI_SPEC_USAGE},
    {"plan", cli_plan,
     "-m MODEL [--memory-limit BYTES] [--kv-cache-memory BYTES] [--max-model-len N] [--kv-cache-dtype "
     "auto|f32|f16|bf16|int8|fp8] [--block-size N] [--max-num-batched-tokens N] [--max-num-seqs N] [--load-format "
     "auto|dummy] [--tensor-parallel-size N] [--pipeline-parallel-size N] [--enable-expert-parallel] [--json]"},
    {"bench", cli_bench,
     "latency|perplexity|throughput|serve -m MODEL [--quantization none|f32|int8|int4|fp8] [--threads N] "
     "[--load-format auto|dummy] [--tensor-parallel-size N] [--pipeline-parallel-size N] [--enable-expert-parallel] "
     "(latency: [--prompt-len N] [--gen-len N] [--reps N] [--json]; perplexity: --file TEXT [--max-tokens N] [--window "
     "N]; throughput: [--json-schema FILE | --grammar FILE | --regex RE | --choice JSON | --json-object | "
     "--structural-tag FILE]: constrained vs unconstrained)"},
    {"quantize", cli_quantize, "IN.gguf OUT.gguf --type int8|int4|fp8|q8_0|q4_0|q4_1"},
    {"tokenize", cli_tokenize, "-m MODEL_OR_TOKENIZER [--ids-only] [--no-special] TEXT"},
    {"detokenize", cli_detokenize, "-m MODEL_OR_TOKENIZER [--no-special] IDS"},
    {"chat-template", cli_chat_template, "-m MODEL --messages FILE.json [--no-generation-prompt]"},
    /* subcommands: one line each, in the order of `loom --help` */
    {"serve", cli_serve,
     CLI_ENGINE_USAGE
     "\n           [--host ADDR] [--port N] [--api-key KEY | --api-key-file F] [--served-model-name NAME]\n"
     "           [--max-body-bytes N] [--max-pending-requests N] [--max-tokens-default 2048]\n"
     "           [--allowed-origins '*'|A,B]"
     " [--request-timeout 30] [--max-connections 2000] [--max-connections-per-ip 256] [--log-level info]\n"
     "           [--tool-call-parser auto|hermes|llama3_json|mistral] [--enable-auto-tool-choice]"},
    {"batch", cli_batch,
     CLI_ENGINE_USAGE "\n           --input PROMPTS.jsonl --output OUT.jsonl [--metrics-json FILE]"},
};

static void usage(FILE *f) {
    fputs("usage: loom COMMAND [options]\ncommands:\n", f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s %s\n", commands[i].name, commands[i].synopsis);
    fputs("MODEL is a Hugging Face model directory or a .gguf file.\n", f);
}

static int run(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        if (argc > 2 && (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
            printf("usage: loom %s %s\n", commands[i].name, commands[i].synopsis);
            return 0;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "loom: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) {
    loom_error err = {0};
    if (loom_parallel_init(&argc, &argv, &err) != LOOM_OK) return cli_error(&err);
    int status = run(argc, argv);
    loom_parallel_release_followers(); /* rank 0 of a parallel run: the other ranks may exit */
    loom_parallel_finalize();
    return status;
}
