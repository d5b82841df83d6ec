/* The `loom` command: one file per subcommand; helpers shared by them. Only this folder prints or exits. */
#ifndef LOOM_CLI_CLI_H
#define LOOM_CLI_CLI_H

#include <stdint.h>

#include "loom.h"

int cli_generate(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_detokenize(int argc, char **argv);
int cli_chat_template(int argc, char **argv);
int cli_batch(int argc, char **argv);
int cli_bench_throughput(int argc, char **argv); /* `loom bench throughput` (bench_throughput.c) */
int cli_plan(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_quantize(int argc, char **argv); /* `loom quantize IN OUT --type T` (quantize.c) */

/* "none" | "f32" | "int8" | "int4" | "fp8" -> *out; -1 for anything else (cli/quant_opts.c). */
int cli_parse_quantization(const char *s, loom_quantization *out);
int cli_serve(int argc, char **argv);
int cli_bench_serve(int argc, char **argv); /* `loom bench serve` (bench_serve.c) */

/* Prints "loom: MESSAGE" as one line on stderr and returns exit status 1. */
int cli_error(const loom_error *err);
/* Prints "loom CMD: FORMAT..." on stderr and returns exit status 2 (usage errors). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option values: each returns 0 and sets *out, or -1 when the text is not a valid value. */
int cli_parse_int(const char *s, long long min, long long max, long long *out);
int cli_parse_float(const char *s, double min, double max, double *out);
/* A positive byte count: "4294967296", "4GiB", "512MiB", "2G" (powers of 1024 for KiB/MiB/GiB, of 1000 for
 * K/M/G). */
int cli_parse_bytes(const char *s, uint64_t *out);
/* "1,2,3" -> malloc'd ids; -1 on a malformed list. */
int cli_parse_ids(const char *s, int32_t **ids, size_t *n);

/* The options of every command that loads a model, option a with value v into mp: -m/--model (path),
 * --load-format auto|dummy, --quantization, --tensor-parallel-size N, --pipeline-parallel-size N.
 * 1 when a was one of them, 0 when not, -1 after printing a usage error. */
int cli_model_option(const char *cmd, const char *a, const char *v, loom_model_params *mp);
/* The model flags without a value (--enable-expert-parallel) into mp: 1 when a was one, else 0. */
int cli_model_flag(const char *a, loom_model_params *mp);
/* loom_model_load; on ranks other than 0 of a parallel run it then follows rank 0 (loom_parallel_follow)
 * and exits the process when rank 0 is done, so callers go on only on rank 0. */
loom_status cli_model_load(const loom_model_params *mp, loom_model **model, loom_error *err);

/* Structured outputs (constraint_opts.c): --json-schema FILE, --grammar FILE (GBNF), --regex RE,
 * --choice JSON_ARRAY, --json-object (a flag: cli_constraint_flag). 1 when a was one of them (c filled,
 * its spec malloc'd), 0 when not, -1 after printing a usage error (a second constraint, a file that
 * cannot be read). */
int cli_constraint_option(const char *cmd, const char *a, const char *v, loom_constraint *c);
int cli_constraint_flag(const char *a);
void cli_constraint_free(loom_constraint *c);

/* Fetches the value of option argv[*i] (advancing *i); NULL when missing. */
const char *cli_option_value(int argc, char **argv, int *i);

#endif
