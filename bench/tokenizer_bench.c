/* Encode speed of one tokenizer on one text file: loads the tokenizer (not timed), then encodes the
 * whole file as one string `reps` times and prints one JSON line per rep:
 *   {"bytes": N, "tokens": T, "seconds": S, "mb_per_s": R}
 * usage: tokenizer_bench TOKENIZER TEXT_FILE [REPS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "loom.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER TEXT_FILE [REPS]\n", argv[0]);
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 1;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: read failed\n", argv[2]);
        return 1;
    }
    fclose(f);
    loom_error err = {0};
    loom_tokenizer *t = NULL;
    if (loom_tokenizer_load(argv[1], &t, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = now_s();
        if (loom_tokenizer_encode(t, text, (size_t)size, 0, &ids, &n, &err) != LOOM_OK) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        double s = now_s() - t0;
        printf("{\"bytes\": %ld, \"tokens\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.3f}\n", size, n, s,
               size / s / 1e6);
        free(ids);
    }
    loom_tokenizer_free(t);
    free(text);
    return 0;
}
