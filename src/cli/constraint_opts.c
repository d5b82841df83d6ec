/* The structured-output options of `loom generate` and `loom bench throughput`:
 *   --json-schema FILE | --grammar FILE (GBNF) | --regex RE | --choice JSON_ARRAY | --json-object |
 *   --structural-tag FILE (XGrammar's structural tag JSON) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got + 1 > cap) {
            cap = (len + got + 1) * 2;
            char *grown = realloc(buf, cap);
            if (!grown) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        memcpy(buf + len, chunk, got);
        len += got;
    }
    fclose(f);
    if (!buf) buf = calloc(1, 1);
    else buf[len] = 0;
    return buf;
}

int cli_constraint_flag(const char *a) { return !strcmp(a, "--json-object"); }

int cli_constraint_option(const char *cmd, const char *a, const char *v, loom_constraint *c) {
    static const struct {
        const char *name;
        loom_constraint_kind kind;
        int file;
    } opts[] = {
        {"--json-schema", LOOM_CONSTRAINT_JSON_SCHEMA, 1},
        {"--grammar", LOOM_CONSTRAINT_GBNF, 1},
        {"--regex", LOOM_CONSTRAINT_REGEX, 0},
        {"--choice", LOOM_CONSTRAINT_CHOICE, 0},
        {"--json-object", LOOM_CONSTRAINT_JSON_OBJECT, 0},
        {"--structural-tag", LOOM_CONSTRAINT_STRUCTURAL_TAG, 1},
    };
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
        if (strcmp(a, opts[i].name)) continue;
        if (c->kind != LOOM_CONSTRAINT_NONE) {
            cli_usage_error(cmd,
                            "give at most one of --json-schema, --grammar, --regex, --choice, --json-object, "
                            "--structural-tag");
            return -1;
        }
        c->kind = opts[i].kind;
        if (opts[i].kind == LOOM_CONSTRAINT_JSON_OBJECT) return 1;
        if (!opts[i].file) {
            c->spec = strdup(v);
        } else if (!(c->spec = read_text(v))) {
            cli_usage_error(cmd, "%s: cannot read '%s'", a, v);
            return -1;
        }
        return 1;
    }
    return 0;
}

void cli_constraint_free(loom_constraint *c) {
    free((void *)c->spec);
    *c = (loom_constraint){0};
}
