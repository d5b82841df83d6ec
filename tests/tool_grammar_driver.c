/* Test driver for tests/test_grammar_property.py: samples the language of a grammar, and matches
 * strings against it.
 *
 *   tool_grammar_driver sample KIND SPEC_FILE SEED N   -> N lines, each a JSON string sampled by a random
 *                                                         walk (uniform over the allowed next bytes,
 *                                                         stopping with probability 1/4 where the grammar
 *                                                         can end), or null when a walk exceeded 20000 bytes
 *   tool_grammar_driver match KIND SPEC_FILE           -> reads JSON strings (one per line) from stdin, prints
 *                                                         1 or 0 per line: a whole sentence or not
 * KIND: json_schema, json_object, regex, choice, gbnf, structural_tag. A spec that does not compile prints
 * "error: MESSAGE" and exits 3. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

static uint64_t rng_state;
static uint64_t next_random(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int parse_kind(const char *s, gram_kind *k) {
    static const char *names[] = {"json_schema", "json_object", "regex", "choice", "gbnf", "structural_tag"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, names[i])) {
            *k = (gram_kind)i;
            return 0;
        }
    return -1;
}

static char *read_input_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* One random sentence into out (malloc'd), or NULL when the walk ran too long. */
static char *sample(gram_matcher *m, size_t *len) {
    enum { LIMIT = 20000 };
    char *out = malloc(LIMIT + 1);
    size_t n = 0;
    loom_error err;
    gram_matcher_reset(m);
    for (;;) {
        uint64_t bits[4];
        int count = gram_matcher_next_bytes(m, bits, &err);
        if (gram_matcher_is_accepting(m) && (count == 0 || next_random() % 4 == 0)) break;
        if (count <= 0 || n == LIMIT) {
            free(out);
            return NULL;
        }
        int pick = (int)(next_random() % (uint64_t)count);
        unsigned c = 0;
        for (;; c++)
            if (((bits[c >> 6] >> (c & 63)) & 1) && pick-- == 0) break;
        out[n++] = (char)c;
        gram_matcher_accept_bytes(m, out + n - 1, 1, &err);
    }
    *len = n;
    return out;
}

int main(int argc, char **argv) {
    gram_kind kind;
    if (argc < 4 || parse_kind(argv[2], &kind)) {
        fprintf(stderr, "usage: %s sample|match KIND SPEC_FILE [SEED N]\n", argv[0]);
        return 2;
    }
    size_t spec_len;
    char *spec = read_input_file(argv[3], &spec_len);
    if (!spec) return 2;
    loom_error err;
    gram_grammar *g = NULL;
    if (gram_compile(kind, spec, spec_len, &g, &err) != LOOM_OK) {
        printf("error: %s\n", err.message);
        free(spec);
        return 3;
    }
    free(spec);
    /* a vocabulary of the 256 bytes is enough: only bytes are walked here */
    char bytes[256];
    uint32_t off[256], len[256];
    for (int i = 0; i < 256; i++) bytes[i] = (char)i, off[i] = (uint32_t)i, len[i] = 1;
    gram_vocab *v = NULL;
    gram_automaton *a = NULL;
    gram_matcher *m = NULL;
    if (gram_vocab_create(256, bytes, off, len, NULL, NULL, 0, &v, &err) || gram_automaton_create(g, v, &a, &err) ||
        gram_matcher_create(a, &m, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    if (!strcmp(argv[1], "sample") && argc == 6) {
        rng_state = strtoull(argv[4], NULL, 10);
        int n = atoi(argv[5]);
        for (int i = 0; i < n; i++) {
            size_t slen = 0;
            char *s = sample(m, &slen);
            json_t *js = s ? json_stringn_nocheck(s, slen) : json_null();
            char *line = json_dumps(js, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
            printf("%s\n", line);
            free(line);
            json_decref(js);
            free(s);
        }
    } else if (!strcmp(argv[1], "match")) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        while ((got = getline(&line, &cap, stdin)) > 0) {
            json_error_t je;
            json_t *js = json_loadb(line, (size_t)got, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            int ok = 0;
            if (json_is_string(js)) {
                gram_matcher_reset(m);
                const char *s = json_string_value(js);
                size_t n = json_string_length(js);
                ok = (n == 0 || gram_matcher_accept_bytes(m, s, n, &err) == 1) && gram_matcher_is_accepting(m);
            }
            printf("%d\n", ok);
            json_decref(js);
        }
        free(line);
    } else return 2;
    gram_matcher_free(m);
    gram_automaton_release(a);
    gram_vocab_free(v);
    return 0;
}
