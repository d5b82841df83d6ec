/* Structural tags (XGrammar's format, which vLLM takes as response_format {"type": "structural_tag"}):
 * a tree of formats compiled into one grammar. Tool calling is built on them (a model's wrapper around
 * JSON that matches a function's parameters), and users may send them directly.
 *
 *   {"type": "structural_tag", "format": FORMAT}
 *   {"type": "structural_tag", "structures": [{"begin", "schema", "end"}], "triggers": [...]}  (the older
 *       form: triggered_tags over tags of JSON Schema content)
 *
 * FORMAT is one of (XGrammar's names and fields; the others, e.g. token-level formats, are refused):
 *   const_string {value}; json_schema {json_schema}; grammar {grammar} (GBNF); regex {pattern};
 *   any_text {excludes}; sequence {elements}; or {elements}; optional / plus / star {content};
 *   repeat {min, max (-1: unbounded), content}; tag {begin, content, end (a string or a list)};
 *   triggered_tags {triggers, tags, at_least_one, stop_after_first, excludes};
 *   tags_with_separator {tags, separator, at_least_one, stop_after_first}.
 *
 * Free text (any_text, and triggered_tags between its tags) is any byte string that contains none of a
 * set of patterns, except where a pattern ends it: an excluded string never appears, a trigger switches
 * to the tags it begins, and inside a tag the tag's end string closes the text (the first occurrence).
 * It is compiled from the Aho-Corasick automaton of those patterns: one right-recursive rule per state
 * (the matcher runs such rules as tail calls, so long texts never grow a stack). */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/gram_internal.h"

enum { MAX_PATTERNS = 256, MAX_PATTERN_BYTES = 4096 };

typedef struct st_ctx {
    gram_builder *b;
    loom_error *err;
    loom_status st;
    int depth;
    int32_t n_names; /* helper rule names */
} st_ctx;

/* Records the first error, "structural tag: PATH: message", and returns -1. */
__attribute__((format(printf, 3, 4))) static int32_t st_fail(st_ctx *c, const char *path, const char *fmt, ...) {
    if (c->st != LOOM_OK) return -1;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    c->st = loom_fail(c->err, LOOM_ERR_INVALID_ARG, "structural tag: %s: %s", path, what);
    return -1;
}

/* An error of an embedded compiler (json schema, regex, gbnf), kept with where it happened. */
static int32_t st_nested_fail(st_ctx *c, const char *path, loom_status st) {
    if (st == LOOM_ERR_NO_MEMORY) {
        c->st = st;
        return -1;
    }
    char inner[sizeof c->err->message];
    memcpy(inner, c->err->message, sizeof inner);
    return st_fail(c, path, "%s", inner);
}

static int32_t rule_of(st_ctx *c, int32_t x) {
    char name[32];
    snprintf(name, sizeof name, "st-%d", (int)c->n_names++);
    int32_t r = gram_rule_add(c->b, name, strlen(name));
    gram_rule_define(c->b, r, x);
    return gram_x_ref(c->b, r);
}

/* ---- fields ---- */

static json_t *field(st_ctx *c, json_t *f, const char *key, const char *path, int required) {
    json_t *v = json_object_get(f, key);
    if (!v && required) st_fail(c, path, "'%s' is required", key);
    return v;
}

static int string_field(st_ctx *c, json_t *f, const char *key, const char *path, const char **s, size_t *len) {
    json_t *v = field(c, f, key, path, 1);
    if (!v) return -1;
    if (!json_is_string(v)) return st_fail(c, path, "'%s' must be a string", key);
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

static int bool_field(st_ctx *c, json_t *f, const char *key, const char *path, int *out) {
    json_t *v = json_object_get(f, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return st_fail(c, path, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* A list of strings: the patterns of free text, or a tag's end strings. */
typedef struct strs {
    const char *s[MAX_PATTERNS];
    size_t len[MAX_PATTERNS];
    int n;
} strs;

/* key absent: empty list; a string: that one (when one_ok); a list of strings. */
static int strings_field(st_ctx *c, json_t *f, const char *key, const char *path, int one_ok, strs *out) {
    json_t *v = json_object_get(f, key);
    out->n = 0;
    if (!v || json_is_null(v)) return 0;
    if (one_ok && json_is_string(v)) {
        out->s[0] = json_string_value(v);
        out->len[0] = json_string_length(v);
        out->n = 1;
        return 0;
    }
    if (!json_is_array(v)) return st_fail(c, path, "'%s' must be a list of strings", key);
    if (json_array_size(v) > MAX_PATTERNS) return st_fail(c, path, "'%s' has more than %d strings", key, MAX_PATTERNS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) return st_fail(c, path, "'%s' must be a list of strings", key);
        out->s[out->n] = json_string_value(s);
        out->len[out->n++] = json_string_length(s);
    }
    return 0;
}

/* ---- free text ---- */

typedef enum pat_kind { PAT_EXCLUDE, PAT_END, PAT_TRIGGER } pat_kind; /* by priority when several complete */

typedef struct pattern {
    const char *s;
    size_t len;
    pat_kind kind;
    int32_t then; /* PAT_TRIGGER: what follows the trigger */
} pattern;

/* The Aho-Corasick automaton of the patterns as a DFA: next[q * 256 + c]; done[q]: the pattern that
 * completes on entering q (the highest-priority one among q's suffixes), else -1. */
typedef struct ac_dfa {
    int32_t n;
    int32_t *next, *done;
} ac_dfa;

static int beats(const pattern *p, int32_t a, int32_t b) {
    return b < 0 || p[a].kind < p[b].kind || (p[a].kind == p[b].kind && a < b);
}

static int ac_build(const pattern *p, int n_pat, ac_dfa *d) {
    size_t total = 1;
    for (int i = 0; i < n_pat; i++) total += p[i].len;
    d->next = malloc(total * 256 * sizeof *d->next);
    d->done = malloc(total * sizeof *d->done);
    int32_t *fail = malloc(total * sizeof *fail), *queue = malloc(total * sizeof *queue);
    if (!d->next || !d->done || !fail || !queue) {
        free(fail);
        free(queue);
        return -1;
    }
    for (size_t i = 0; i < total * 256; i++) d->next[i] = -1;
    d->n = 1;
    d->done[0] = -1;
    for (int i = 0; i < n_pat; i++) { /* the trie */
        int32_t q = 0;
        for (size_t k = 0; k < p[i].len; k++) {
            int32_t *to = &d->next[q * 256 + (unsigned char)p[i].s[k]];
            if (*to < 0) {
                *to = d->n;
                d->done[d->n++] = -1;
            }
            q = *to;
        }
        if (beats(p, i, d->done[q])) d->done[q] = i;
    }
    int32_t head = 0, tail = 0; /* breadth first: failure links, then missing edges through them */
    for (int c = 0; c < 256; c++) {
        int32_t *to = &d->next[c];
        if (*to < 0) *to = 0;
        else fail[*to] = 0, queue[tail++] = *to;
    }
    while (head < tail) {
        int32_t q = queue[head++];
        if (d->done[fail[q]] >= 0 && beats(p, d->done[fail[q]], d->done[q])) d->done[q] = d->done[fail[q]];
        for (int c = 0; c < 256; c++) {
            int32_t *to = &d->next[q * 256 + c];
            if (*to < 0) *to = d->next[fail[q] * 256 + c];
            else fail[*to] = d->next[fail[q] * 256 + c], queue[tail++] = *to;
        }
    }
    free(fail);
    free(queue);
    return 0;
}

/* Free text over the patterns; it may stop anywhere when end_anywhere (else only through a PAT_END).
 * After a trigger's continuation the text goes on from scratch when restart, else it is over. */
static int32_t free_text(st_ctx *c, const pattern *p, int n_pat, int end_anywhere, int restart, const char *path) {
    gram_builder *b = c->b;
    size_t bytes = 0;
    for (int i = 0; i < n_pat; i++) {
        if (p[i].len == 0) return st_fail(c, path, "an empty string cannot delimit text");
        bytes += p[i].len;
    }
    if (bytes > MAX_PATTERN_BYTES)
        return st_fail(c, path, "the strings delimiting text exceed %d bytes", MAX_PATTERN_BYTES);
    ac_dfa d = {0};
    if (ac_build(p, n_pat, &d)) {
        free(d.next);
        free(d.done);
        c->st = loom_fail(c->err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory");
        return -1;
    }
    int32_t first = b->n_rules;
    for (int32_t q = 0; q < d.n; q++) { /* one rule per state; entering a completing state leaves the text */
        char name[32];
        snprintf(name, sizeof name, "text-%d-%d", (int)c->n_names, (int)q);
        gram_rule_add(b, name, strlen(name));
    }
    c->n_names++;
    int32_t alts[258], targets[257];
    gram_set sets[257];
    for (int32_t q = 0; q < d.n && !b->oom; q++) {
        if (d.done[q] >= 0) {
            gram_rule_define(b, first + q, gram_x_nothing(b)); /* never entered */
            continue;
        }
        int n_t = 0, n_alt = 0;
        for (int ch = 0; ch < 256; ch++) {
            int32_t t = d.next[q * 256 + ch], k = 0;
            while (k < n_t && targets[k] != t) k++;
            if (k == n_t) targets[n_t] = t, memset(&sets[n_t++], 0, sizeof(gram_set));
            gram_set_add(&sets[k], (unsigned)ch);
        }
        if (end_anywhere) alts[n_alt++] = gram_x_empty(b);
        for (int k = 0; k < n_t; k++) {
            int32_t t = targets[k], x = gram_x_set(b, &sets[k]), done = d.done[t];
            if (done < 0) alts[n_alt++] = gram_x_seq2(b, x, gram_x_ref(b, first + t));
            else if (p[done].kind == PAT_END) alts[n_alt++] = x;
            else if (p[done].kind == PAT_TRIGGER)
                alts[n_alt++] =
                    restart ? gram_x_seq3(b, x, p[done].then, gram_x_ref(b, first)) : gram_x_seq2(b, x, p[done].then);
        }
        gram_rule_define(b, first + q, gram_x_alt(b, alts, n_alt));
    }
    free(d.next);
    free(d.done);
    return gram_x_ref(b, first);
}

/* ---- formats ---- */

static int32_t format(st_ctx *c, json_t *f, const char *path, const strs *end);

/* The alternatives of end strings (the text closing a tag). */
static int32_t end_expr(st_ctx *c, const strs *end) {
    int32_t alts[MAX_PATTERNS];
    for (int i = 0; i < end->n; i++) alts[i] = gram_x_lit(c->b, end->s[i], end->len[i]);
    return gram_x_alt(c->b, alts, end->n);
}

/* x followed by the enclosing tag's end when there is one. */
static int32_t then_end(st_ctx *c, int32_t x, const strs *end) {
    return end ? gram_x_seq2(c->b, x, end_expr(c, end)) : x;
}

static int32_t any_text(st_ctx *c, json_t *f, const char *path, const strs *end) {
    if (json_object_get(f, "max_tokens") || json_object_get(f, "max_chars"))
        return st_fail(c, path, "any_text: max_tokens and max_chars are not supported");
    strs excl;
    if (strings_field(c, f, "excludes", path, 0, &excl)) return -1;
    pattern p[2 * MAX_PATTERNS];
    int n = 0;
    for (int i = 0; i < excl.n; i++) p[n++] = (pattern){excl.s[i], excl.len[i], PAT_EXCLUDE, -1};
    for (int i = 0; end && i < end->n; i++) p[n++] = (pattern){end->s[i], end->len[i], PAT_END, -1};
    return free_text(c, p, n, end == NULL, 0, path);
}

/* A tag's content followed by its end (the content consumes the end when it is free text), as a rule;
 * *begin: its begin string. */
static int32_t tag_body(st_ctx *c, json_t *f, const char *path, const char **begin, size_t *begin_len) {
    char sub[256];
    strs end;
    if (!json_is_object(f)) return st_fail(c, path, "a tag must be an object");
    json_t *type = json_object_get(f, "type");
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "tag")))
        return st_fail(c, path, "expected a format of type 'tag'");
    if (json_is_object(json_object_get(f, "begin")) || json_is_object(json_object_get(f, "end")))
        return st_fail(c, path, "token-level tag delimiters are not supported");
    if (string_field(c, f, "begin", path, begin, begin_len) || !field(c, f, "end", path, 1) ||
        strings_field(c, f, "end", path, 1, &end))
        return -1;
    int empty = 0;
    for (int i = 0; i < end.n; i++) empty += end.len[i] == 0;
    if (end.n == 0 || (empty && end.n > 1)) return st_fail(c, path, "'end' must be one string or non-empty strings");
    json_t *content = field(c, f, "content", path, 1);
    if (!content) return -1;
    snprintf(sub, sizeof sub, "%.200s.content", path);
    int32_t body = format(c, content, sub, empty ? NULL : &end);
    return body < 0 ? -1 : rule_of(c, body);
}

static int32_t tag(st_ctx *c, json_t *f, const char *path) {
    const char *begin;
    size_t len;
    int32_t body = tag_body(c, f, path, &begin, &len);
    return body < 0 ? -1 : gram_x_seq2(c->b, gram_x_lit(c->b, begin, len), body);
}

/* A format's "tags": a non-empty list of tag objects. */
static json_t *tags_field(st_ctx *c, json_t *f, const char *path) {
    json_t *tags = field(c, f, "tags", path, 1);
    if (tags && (!json_is_array(tags) || json_array_size(tags) == 0 || json_array_size(tags) > MAX_PATTERNS)) {
        st_fail(c, path, "'tags' must be a non-empty list of at most %d tags", MAX_PATTERNS);
        return NULL;
    }
    return tags;
}

static int32_t any_of_tags(st_ctx *c, json_t *tags, const char *path) {
    size_t n = json_array_size(tags);
    int32_t alts[MAX_PATTERNS];
    char sub[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof sub, "%.200s.tags[%zu]", path, i);
        alts[i] = tag(c, json_array_get(tags, i), sub);
    }
    return rule_of(c, gram_x_alt(c->b, alts, (int32_t)n));
}

static int32_t tags_with_separator(st_ctx *c, json_t *f, const char *path, const strs *end) {
    const char *sep;
    size_t sep_len;
    int at_least_one, stop_after_first;
    json_t *tags = tags_field(c, f, path);
    if (!tags || string_field(c, f, "separator", path, &sep, &sep_len) ||
        bool_field(c, f, "at_least_one", path, &at_least_one) ||
        bool_field(c, f, "stop_after_first", path, &stop_after_first))
        return -1;
    gram_builder *b = c->b;
    int32_t one = any_of_tags(c, tags, path);
    int32_t list = stop_after_first
        ? one
        : gram_x_seq2(b, one, gram_x_repeat(b, gram_x_seq2(b, gram_x_lit(b, sep, sep_len), one), 0, -1));
    return then_end(c, at_least_one ? list : gram_x_opt(b, list), end);
}

/* Free text in which each trigger starts one of the tags whose begin it prefixes. */
static int32_t triggered_tags(st_ctx *c, json_t *f, const char *path, const strs *end) {
    strs triggers, excl;
    int at_least_one, stop_after_first;
    json_t *tags = tags_field(c, f, path);
    if (!tags || strings_field(c, f, "triggers", path, 0, &triggers) ||
        strings_field(c, f, "excludes", path, 0, &excl) || bool_field(c, f, "at_least_one", path, &at_least_one) ||
        bool_field(c, f, "stop_after_first", path, &stop_after_first))
        return -1;
    if (triggers.n == 0) return st_fail(c, path, "'triggers' must be a non-empty list of strings");
    gram_builder *b = c->b;
    int32_t n_tags = (int32_t)json_array_size(tags), whole[MAX_PATTERNS], rest[MAX_PATTERNS], trigger_of[MAX_PATTERNS];
    char sub[256];
    for (int32_t i = 0; i < n_tags && c->st == LOOM_OK; i++) {
        const char *begin;
        size_t len;
        snprintf(sub, sizeof sub, "%.200s.tags[%d]", path, (int)i);
        int32_t body = tag_body(c, json_array_get(tags, i), sub, &begin, &len);
        if (body < 0) return -1;
        int count = 0;
        for (int k = 0; k < triggers.n; k++)
            if (len >= triggers.len[k] && !memcmp(begin, triggers.s[k], triggers.len[k])) trigger_of[i] = k, count++;
        if (count != 1)
            return st_fail(c, sub,
                           count ? "its begin starts with several triggers" : "its begin starts with no trigger");
        whole[i] = gram_x_seq2(b, gram_x_lit(b, begin, len), body);
        rest[i] =
            gram_x_seq2(b, gram_x_lit(b, begin + triggers.len[trigger_of[i]], len - triggers.len[trigger_of[i]]), body);
    }
    pattern p[3 * MAX_PATTERNS];
    int n = 0;
    for (int i = 0; i < excl.n; i++) p[n++] = (pattern){excl.s[i], excl.len[i], PAT_EXCLUDE, -1};
    for (int i = 0; end && i < end->n; i++) p[n++] = (pattern){end->s[i], end->len[i], PAT_END, -1};
    for (int k = 0; k < triggers.n; k++) {
        int32_t alts[MAX_PATTERNS], n_alts = 0;
        for (int32_t i = 0; i < n_tags; i++)
            if (trigger_of[i] == k) alts[n_alts++] = rest[i];
        if (!n_alts) continue; /* a trigger no tag begins with is plain text */
        int32_t x = rule_of(c, gram_x_alt(b, alts, n_alts));
        if (stop_after_first && end) x = gram_x_seq2(b, x, end_expr(c, end));
        p[n++] = (pattern){triggers.s[k], triggers.len[k], PAT_TRIGGER, x};
    }
    if (!at_least_one) return free_text(c, p, n, end == NULL, !stop_after_first, path);
    int32_t first = rule_of(c, gram_x_alt(b, whole, n_tags)); /* at_least_one: no text before the first tag */
    if (stop_after_first) return then_end(c, first, end);
    return gram_x_seq2(b, first, free_text(c, p, n, end == NULL, 1, path));
}

/* elements: a non-empty list of formats; the last gets the end (sequence), or each does (or). */
static int32_t elements(st_ctx *c, json_t *f, const char *path, const strs *end, int is_or) {
    json_t *els = field(c, f, "elements", path, 1);
    if (!els) return -1;
    size_t n = json_array_size(els);
    if (!json_is_array(els) || n == 0 || n > 1024)
        return st_fail(c, path, "'elements' must be a non-empty list of formats");
    int32_t *xs = malloc(n * sizeof *xs);
    if (!xs) return c->st = loom_fail(c->err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory"), -1;
    char sub[256];
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof sub, "%.200s.elements[%zu]", path, i);
        xs[i] = format(c, json_array_get(els, i), sub, is_or || i + 1 == n ? end : NULL);
    }
    int32_t x = is_or ? gram_x_alt(c->b, xs, (int32_t)n) : gram_x_seq(c->b, xs, (int32_t)n);
    free(xs);
    return x;
}

static int32_t repeat(st_ctx *c, json_t *f, const char *path, const strs *end, int32_t min, int32_t max) {
    json_t *content = field(c, f, "content", path, 1);
    if (!content) return -1;
    char sub[256];
    snprintf(sub, sizeof sub, "%.200s.content", path);
    int32_t x = rule_of(c, format(c, content, sub, NULL));
    return then_end(c, gram_x_repeat(c->b, x, min, max), end);
}

static int32_t repeat_bounds(st_ctx *c, json_t *f, const char *path, const strs *end) {
    json_t *min = json_object_get(f, "min"), *max = json_object_get(f, "max");
    if (!json_is_integer(min) || !json_is_integer(max)) return st_fail(c, path, "'min' and 'max' must be integers");
    json_int_t lo = json_integer_value(min), hi = json_integer_value(max);
    if (lo < 0 || lo > GRAM_MAX_REPEAT || hi < -1 || hi > GRAM_MAX_REPEAT || (hi >= 0 && hi < lo))
        return st_fail(c, path, "need 0 <= min <= max <= %d (max -1: unbounded)", GRAM_MAX_REPEAT);
    return repeat(c, f, path, end, (int32_t)lo, (int32_t)hi);
}

/* An embedded compiler's root rule as an expression. */
static int32_t embedded(st_ctx *c, loom_status st, int32_t root, const char *path) {
    return st == LOOM_OK ? gram_x_ref(c->b, root) : st_nested_fail(c, path, st);
}

static int32_t json_schema(st_ctx *c, json_t *f, const char *path) {
    json_t *schema = field(c, f, "json_schema", path, 1), *style = json_object_get(f, "style");
    if (!schema) return -1;
    if (style && !(json_is_string(style) && !strcmp(json_string_value(style), "json")))
        return st_fail(c, path, "only the \"json\" style is supported");
    if (json_is_true(json_object_get(f, "any_order"))) return st_fail(c, path, "any_order is not supported");
    char *text = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) return c->st = loom_fail(c->err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory"), -1;
    int32_t root = -1;
    loom_status st = gram_json_schema_compile(c->b, text, strlen(text), &root, c->err);
    free(text);
    return embedded(c, st, root, path);
}

static int32_t format(st_ctx *c, json_t *f, const char *path, const strs *end) {
    if (c->st != LOOM_OK) return -1;
    if (!json_is_object(f)) return st_fail(c, path, "a format must be an object");
    json_t *type = json_object_get(f, "type");
    if (!json_is_string(type)) return st_fail(c, path, "a format needs a string 'type'");
    if (++c->depth > GRAM_MAX_NESTING) return st_fail(c, path, "formats nest deeper than %d", GRAM_MAX_NESTING);
    const char *t = json_string_value(type), *s;
    size_t len;
    int32_t x = -1, root = -1;
    if (!strcmp(t, "const_string")) {
        if (!string_field(c, f, "value", path, &s, &len)) x = then_end(c, gram_x_lit(c->b, s, len), end);
    } else if (!strcmp(t, "json_schema")) {
        x = then_end(c, json_schema(c, f, path), end);
    } else if (!strcmp(t, "grammar")) {
        if (!string_field(c, f, "grammar", path, &s, &len)) {
            loom_status st = gram_gbnf_compile(c->b, s, len, &root, c->err);
            x = then_end(c, embedded(c, st, root, path), end);
        }
    } else if (!strcmp(t, "regex")) {
        loom_status st = LOOM_OK;
        if (!string_field(c, f, "pattern", path, &s, &len) &&
            (st = gram_regex_compile(c->b, s, len, 0, &root, c->err)) != LOOM_OK)
            st_nested_fail(c, path, st);
        else if (c->st == LOOM_OK) x = then_end(c, root, end);
    } else if (!strcmp(t, "any_text")) {
        x = any_text(c, f, path, end);
    } else if (!strcmp(t, "sequence") || !strcmp(t, "or")) {
        x = elements(c, f, path, end, t[0] == 'o');
    } else if (!strcmp(t, "optional")) {
        x = repeat(c, f, path, end, 0, 1);
    } else if (!strcmp(t, "plus")) {
        x = repeat(c, f, path, end, 1, -1);
    } else if (!strcmp(t, "star")) {
        x = repeat(c, f, path, end, 0, -1);
    } else if (!strcmp(t, "repeat")) {
        x = repeat_bounds(c, f, path, end);
    } else if (!strcmp(t, "tag")) {
        x = then_end(c, tag(c, f, path), end);
    } else if (!strcmp(t, "triggered_tags")) {
        x = triggered_tags(c, f, path, end);
    } else if (!strcmp(t, "tags_with_separator")) {
        x = tags_with_separator(c, f, path, end);
    } else {
        x = st_fail(c, path, "the format type '%.64s' is not supported", t);
    }
    c->depth--;
    return c->st == LOOM_OK ? x : -1;
}

/* The older form, {"structures": [{"begin", "schema", "end"}], "triggers"}: triggered_tags (a new
 * reference), or NULL with the error set. */
static json_t *from_structures(st_ctx *c, json_t *spec) {
    json_t *structures = json_object_get(spec, "structures"), *tags = json_array();
    if (!json_is_array(structures)) {
        json_decref(tags);
        st_fail(c, "structures", "must be a list of {\"begin\", \"schema\", \"end\"}");
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(structures); i++) {
        json_t *s = json_array_get(structures, i), *schema = json_object_get(s, "schema");
        json_t *begin = json_object_get(s, "begin"), *end = json_object_get(s, "end");
        if (!json_is_string(begin) || !json_is_string(end)) {
            json_decref(tags);
            st_fail(c, "structures", "structures[%zu] needs string 'begin' and 'end'", i);
            return NULL;
        }
        json_array_append_new(tags,
                              json_pack("{s:s, s:O, s:{s:s, s:O}, s:O}", "type", "tag", "begin", begin, "content",
                                        "type", "json_schema", "json_schema", schema ? schema : json_true(), "end",
                                        end));
    }
    return json_pack("{s:s, s:o, s:O}", "type", "triggered_tags", "tags", tags, "triggers",
                     json_object_get(spec, "triggers") ? json_object_get(spec, "triggers") : json_null());
}

loom_status gram_structural_tag_compile(gram_builder *b, const char *text, size_t len, int32_t *root, loom_error *err) {
    json_error_t je;
    json_t *spec = json_loadb(text, len, 0, &je);
    if (spec && !json_is_object(spec)) {
        json_decref(spec);
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "structural tag: not a JSON object");
    }
    if (!spec)
        return loom_fail(err, LOOM_ERR_INVALID_ARG, "structural tag: not a JSON object (line %d column %d: %s)",
                         je.line, je.column, je.text);
    st_ctx c = {.b = b, .err = err};
    json_t *type = json_object_get(spec, "type"), *fmt = json_object_get(spec, "format"), *made = NULL;
    if (type && !(json_is_string(type) && !strcmp(json_string_value(type), "structural_tag")))
        st_fail(&c, "type", "must be \"structural_tag\"");
    else if (!fmt && json_object_get(spec, "structures") && !(fmt = made = from_structures(&c, spec)) &&
             c.st == LOOM_OK)
        c.st = loom_fail(err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory");
    else if (!fmt) st_fail(&c, "format", "'format' (or the older 'structures' and 'triggers') is required");
    int32_t x = c.st == LOOM_OK ? format(&c, fmt, made ? "structures" : "format", NULL) : -1;
    json_decref(made);
    json_decref(spec);
    if (c.st != LOOM_OK) return c.st;
    if (b->oom || x < 0) return loom_fail(err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory");
    *root = gram_rule_add(b, "root", 4);
    gram_rule_define(b, *root, x);
    return b->oom ? loom_fail(err, LOOM_ERR_NO_MEMORY, "structural tag: out of memory") : LOOM_OK;
}
