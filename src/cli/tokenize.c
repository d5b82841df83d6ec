/* loom tokenize / loom detokenize: the tokenizer of a model (or a tokenizer file) on the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

typedef struct tok_opts {
    const char *model, *input;
    int ids_only, no_special;
} tok_opts;

static int parse_tok_opts(const char *cmd, int argc, char **argv, tok_opts *o) {
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model = cli_option_value(argc, argv, &i))) return cli_usage_error(cmd, "%s needs a value", a);
        } else if (!strcmp(a, "--ids-only")) {
            o->ids_only = 1;
        } else if (!strcmp(a, "--no-special")) {
            o->no_special = 1;
        } else if (a[0] == '-' && a[1] == '-' && !o->input) {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        } else if (!o->input) {
            o->input = a;
        } else {
            return cli_usage_error(cmd, "give the input as one argument (quote it)");
        }
    }
    if (!o->model) return cli_usage_error(cmd, "-m MODEL_OR_TOKENIZER is required");
    if (!o->input) return cli_usage_error(cmd, "nothing to %s", cmd);
    return 0;
}

/* A model directory/GGUF or a tokenizer file: the tokenizer alone is loaded either way. */
static loom_status open_tokenizer(const char *path, loom_tokenizer **t, loom_error *err) {
    return loom_tokenizer_load(path, t, err);
}

/* Prints the ids, or one line per token "id<TAB>its text": the text each token adds to the decoded
 * prefix (so a SentencePiece "▁word" shows its space; a byte of a split character shows as U+FFFD). */
int cli_tokenize(int argc, char **argv) {
    tok_opts o;
    int rc = parse_tok_opts("tokenize", argc, argv, &o);
    if (rc) return rc;
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    loom_status st = open_tokenizer(o.model, &t, &err);
    if (st == LOOM_OK) st = loom_tokenizer_encode(t, o.input, strlen(o.input), !o.no_special, &ids, &n, &err);
    for (size_t i = 0; st == LOOM_OK && i < n; i++) {
        if (o.ids_only) {
            printf("%s%d", i ? "," : "", ids[i]);
            continue;
        }
        char *before = NULL, *after = NULL;
        size_t n_before = 0, n_after = 0;
        st = loom_tokenizer_decode(t, ids, i, 0, &before, &n_before, &err);
        if (st == LOOM_OK) st = loom_tokenizer_decode(t, ids, i + 1, 0, &after, &n_after, &err);
        if (st == LOOM_OK) {
            size_t common = 0; /* the prefix the two decodes share */
            while (common < n_before && common < n_after && before[common] == after[common]) common++;
            printf("%d\t%.*s\n", ids[i], (int)(n_after - common), after + common);
        }
        free(before);
        free(after);
    }
    if (st == LOOM_OK && o.ids_only) putchar('\n');
    free(ids);
    loom_tokenizer_free(t);
    return st == LOOM_OK ? 0 : cli_error(&err);
}

/* IDS: "1,2,3"; prints the decoded text (special tokens kept unless --no-special). */
int cli_detokenize(int argc, char **argv) {
    tok_opts o;
    int rc = parse_tok_opts("detokenize", argc, argv, &o);
    if (rc) return rc;
    int32_t *ids = NULL;
    size_t n = 0;
    if (cli_parse_ids(o.input, &ids, &n))
        return cli_usage_error("detokenize", "IDS must be a comma-separated list of token ids");
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    char *text = NULL;
    size_t len = 0;
    loom_status st = open_tokenizer(o.model, &t, &err);
    if (st == LOOM_OK) st = loom_tokenizer_decode(t, ids, n, o.no_special, &text, &len, &err);
    if (st == LOOM_OK) {
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    free(text);
    free(ids);
    loom_tokenizer_free(t);
    return st == LOOM_OK ? 0 : cli_error(&err);
}
