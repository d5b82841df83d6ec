/* Mask time per token of the grammar engine on real vocabularies.
 *
 *   grammar_bench TOKENIZER...   (a .gguf, a tokenizer.json or an HF directory each)
 *
 * A nested JSON schema (objects in arrays in objects, enums, bounded numbers, strings, a date format)
 * and a document valid for it. The document is tokenized with each tokenizer and replayed token by
 * token: at each step the mask of the current state is computed (cold: a fresh automaton, every state
 * seen for the first time; warm: the same document again, every mask cached; then a second request on
 * the warm automaton with a different document, as a server's next request with the same schema would
 * see), then the token is accepted. Prints µs per mask (mean, median, p90, max) and per accept, in CPU
 * time of the thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grammar/grammar.h"
#include "loom.h"
#include "sample/token_mask.h"

static const char *schema =
    "{\"type\": \"object\", \"properties\": {"
    "\"id\": {\"type\": \"integer\", \"minimum\": 0},"
    "\"name\": {\"type\": \"string\", \"maxLength\": 64},"
    "\"email\": {\"type\": \"string\", \"format\": \"email\"},"
    "\"role\": {\"enum\": [\"admin\", \"editor\", \"viewer\"]},"
    "\"active\": {\"type\": \"boolean\"},"
    "\"address\": {\"type\": \"object\", \"properties\": {\"street\": {\"type\": \"string\"}, \"city\": {\"type\": "
    "\"string\"},"
    "  \"zip\": {\"type\": \"string\", \"pattern\": \"^[0-9]{5}$\"}}, \"required\": [\"street\", \"city\"]},"
    "\"orders\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {"
    "  \"sku\": {\"type\": \"string\"}, \"qty\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 1000},"
    "  \"price\": {\"type\": \"number\"}, \"date\": {\"type\": \"string\", \"format\": \"date\"}},"
    "  \"required\": [\"sku\", \"qty\", \"price\"]}, \"maxItems\": 20},"
    "\"notes\": {\"type\": [\"string\", \"null\"]}},"
    "\"required\": [\"id\", \"name\", \"role\", \"address\", \"orders\"]}";

static const char *docs[2] = {
    "{\"id\": 4217, \"name\": \"Ada Lovelace\", \"email\": \"ada@analytical.engine\", \"role\": \"admin\", \"active\": "
    "true, "
    "\"address\": {\"street\": \"12 St James's Square\", \"city\": \"London\", \"zip\": \"10001\"}, "
    "\"orders\": [{\"sku\": \"NB-100\", \"qty\": 3, \"price\": 19.99, \"date\": \"2024-03-15\"}, "
    "{\"sku\": \"PEN-7\", \"qty\": 12, \"price\": 1.5}], \"notes\": \"Prefers delivery before noon; call ahead.\"}",
    "{\n  \"id\": 88,\n  \"name\": \"Grace Hopper\",\n  \"role\": \"viewer\",\n  \"address\": {\n    \"street\": \"1 "
    "Navy Way\",\n"
    "    \"city\": \"Arlington\"\n  },\n  \"orders\": [\n    {\"sku\": \"COBOL-1\", \"qty\": 1, \"price\": 250.0}\n  "
    "],\n"
    "  \"notes\": null\n}",
};

/* CPU time of this thread: on a shared machine, wall time would count other processes' slices. */
static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *t, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += t[i];
    qsort(t, n, sizeof *t, cmp_double);
    printf("  %-34s %5zu tokens: mean %8.2f  median %7.2f  p90 %8.2f  max %9.1f us\n", what, n, sum / n, t[n / 2],
           t[n * 9 / 10], t[n - 1]);
}

/* Replays doc's tokens on a new matcher of a; mask, accept and mask-application (onto a logits row of
 * the vocabulary's size, as the engine does before sampling) times per token into the arrays. */
static size_t replay(gram_automaton *a, const int32_t *ids, size_t n, int32_t vocab, double *mask_us, double *accept_us,
                     double *apply_us) {
    gram_matcher *m = NULL;
    loom_error err;
    if (gram_matcher_create(a, &m, &err) != LOOM_OK) return 0;
    float *logits = malloc((size_t)vocab * sizeof *logits), *masked = malloc((size_t)vocab * sizeof *masked);
    for (int32_t i = 0; i < vocab; i++) logits[i] = (float)(i % 97) * 0.01f;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double t0 = now_us();
        const uint64_t *mask = gram_matcher_mask(m, &err);
        double t1 = now_us();
        if (!mask || !((mask[ids[i] >> 6] >> (ids[i] & 63)) & 1)) {
            fprintf(stderr, "token %zu (id %d) not in the mask\n", i, (int)ids[i]);
            break;
        }
        int ok = gram_matcher_accept_token(m, ids[i], &err);
        double t2 = now_us();
        sample_apply_token_mask(logits, mask, vocab, masked);
        double t3 = now_us();
        if (ok != 1) break;
        mask_us[k] = t1 - t0;
        apply_us[k] = t3 - t2;
        accept_us[k++] = t2 - t1;
    }
    free(logits);
    free(masked);
    if (!gram_matcher_is_accepting(m)) fprintf(stderr, "document not accepted after %zu tokens\n", k);
    gram_matcher_free(m);
    return k;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s TOKENIZER...\n", argv[0]);
        return 2;
    }
    loom_error err;
    for (int arg = 1; arg < argc; arg++) {
        loom_tokenizer *t = NULL;
        if (loom_tokenizer_load(argv[arg], &t, &err) != LOOM_OK) {
            fprintf(stderr, "%s: %s\n", argv[arg], err.message);
            return 1;
        }
        int32_t eos = loom_tokenizer_eos_id(t);
        gram_vocab *v = NULL;
        double t0 = now_us();
        if (gram_vocab_from_tokenizer(t, loom_tokenizer_vocab_size(t), &eos, eos >= 0, &v, &err) != LOOM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double t1 = now_us();
        gram_grammar *g = NULL;
        gram_automaton *a = NULL;
        if (gram_compile(GRAM_JSON_SCHEMA, schema, strlen(schema), &g, &err) != LOOM_OK ||
            gram_automaton_create(g, v, &a, &err) != LOOM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double t2 = now_us();
        printf("%s: vocab %d, vocabulary + trie %.1f ms, schema compile %.2f ms\n", argv[arg], (int)gram_vocab_size(v),
               (t1 - t0) / 1e3, (t2 - t1) / 1e3);
        const char *labels[3] = {"cold (fresh automaton), doc 1", "warm (all cached), doc 1", "next request, doc 2"};
        for (int pass = 0; pass < 3; pass++) {
            const char *doc = docs[pass == 2];
            int32_t *ids = NULL;
            size_t n = 0;
            if (loom_tokenizer_encode(t, doc, strlen(doc), 0, &ids, &n, &err) != LOOM_OK) return 1;
            double *mask_us = malloc(n * sizeof *mask_us), *accept_us = malloc(n * sizeof *accept_us);
            double *apply_us = malloc(n * sizeof *apply_us);
            size_t k = replay(a, ids, n, gram_vocab_size(v), mask_us, accept_us, apply_us);
            if (k != n) return 1;
            report(labels[pass], mask_us, k);
            if (pass == 1) {
                report("accept_token, warm", accept_us, k);
                report("mask applied to a logits row", apply_us, k);
            }
            free(mask_us);
            free(accept_us);
            free(apply_us);
            free(ids);
        }
        gram_automaton_stats st;
        gram_automaton_get_stats(a, &st);
        printf("  automaton: %lld stacks, %lld states, %lld transitions, %lld masks (%.1f MiB)\n",
               (long long)st.n_stacks, (long long)st.n_states, (long long)st.n_transitions, (long long)st.n_masks,
               st.mask_bytes / 1048576.0);
        gram_automaton_release(a);
        gram_vocab_free(v);
        loom_tokenizer_free(t);
    }
    return 0;
}
