#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_error(const loom_error *err) {
    /* one line: newlines inside a message would break log parsers */
    fputs("loom: ", stderr);
    for (const char *p = err->message; *p; p++) fputc(*p == '\n' ? ' ' : *p, stderr);
    fputc('\n', stderr);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "loom %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int cli_parse_int(const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_float(const char *s, double min, double max, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_bytes(const char *s, uint64_t *out) {
    static const struct {
        const char *suffix;
        double scale;
    } units[] = {{"", 1},         {"K", 1e3},         {"M", 1e6},           {"G", 1e9},
                 {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v <= 0) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].suffix) == 0 && v * units[i].scale < 1e18) {
            *out = (uint64_t)(v * units[i].scale);
            return *out > 0 ? 0 : -1;
        }
    return -1;
}

int cli_parse_ids(const char *s, int32_t **ids, size_t *n) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    size_t k = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (errno || end == p || x < 0 || x > INT32_MAX || (*end && *end != ',')) {
            free(v);
            return -1;
        }
        v[k++] = (int32_t)x;
        p = *end ? end + 1 : end;
    }
    if (k == 0) {
        free(v);
        return -1;
    }
    *ids = v;
    *n = k;
    return 0;
}

const char *cli_option_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

int cli_model_flag(const char *a, loom_model_params *mp) {
    if (strcmp(a, "--enable-expert-parallel")) return 0;
    mp->enable_expert_parallel = 1;
    return 1;
}

int cli_model_option(const char *cmd, const char *a, const char *v, loom_model_params *mp) {
    if (cli_model_flag(a, mp)) return 1;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        mp->path = v;
        return 1;
    }
    if (!strcmp(a, "--load-format")) {
        if (strcmp(v, "auto") && strcmp(v, "dummy")) {
            cli_usage_error(cmd, "--load-format must be auto or dummy, got '%s'", v);
            return -1;
        }
        mp->load_format = v[0] == 'd' ? LOOM_LOAD_DUMMY : LOOM_LOAD_AUTO;
        return 1;
    }
    if (!strcmp(a, "--quantization")) {
        if (cli_parse_quantization(v, &mp->quantization)) {
            cli_usage_error(cmd, "--quantization must be none, f32, int8, int4 or fp8, got '%s'", v);
            return -1;
        }
        return 1;
    }
    int32_t *size = !strcmp(a, "--tensor-parallel-size") ? &mp->tensor_parallel_size
        : !strcmp(a, "--pipeline-parallel-size")         ? &mp->pipeline_parallel_size
                                                         : NULL;
    if (!size) return 0;
    long long n;
    if (cli_parse_int(v, 1, 1024, &n)) {
        cli_usage_error(cmd, "%s needs a count in [1, 1024], got '%s'", a, v);
        return -1;
    }
    *size = (int32_t)n;
    return 1;
}

loom_status cli_model_load(const loom_model_params *mp, loom_model **model, loom_error *err) {
    loom_status st = loom_model_load(mp, model, err);
    if (st != LOOM_OK || loom_parallel_rank() == 0) return st;
    /* another rank of a parallel run: serve rank 0's steps on this shard until it is done */
    st = loom_parallel_follow(*model, err);
    loom_model_free(*model);
    int status = st == LOOM_OK ? 0 : cli_error(err);
    loom_parallel_finalize();
    exit(status);
}
