/* Tool calls (src/api/tool_calls.c, tool_parser.c): for each format, the grammar api_tool_constraint
 * builds accepts the model's own call text (as its chat template renders calls) and refuses calls of
 * other functions, bad arguments and text around forced calls; the parser reads calls and content out
 * of whole answers and of the same answers cut into every chunking (the reassembled deltas must equal
 * the whole reading), hands malformed or cut-off calls back as content, and the parser chosen for a
 * template is the one its text implies. */
#include <jansson.h>
#include <stdio.h>

#include "api/tool_calls.h"
#include "grammar_util.h"

#define WEATHER                                                                                                        \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", "       \
    "\"properties\": {\"city\": {\"type\": \"string\"}, \"days\": {\"type\": \"integer\"}}, \"required\": "            \
    "[\"city\"]}}}"
#define TIME "{\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}"

/* One reading: content and calls (name, arguments), or a failure. */
typedef struct reading {
    char content[512];
    int has_content;
    int n;
    char name[4][64], args[4][256], id[4][64];
    int failed;
} reading;

static void apply(reading *r, const api_tool_delta *d) {
    if (d->content) {
        strncat(r->content, d->content, sizeof r->content - strlen(r->content) - 1);
        r->has_content = 1;
    }
    for (size_t i = 0; i < d->n_calls; i++) {
        const api_tool_call_delta *c = &d->calls[i];
        CHECK(c->index >= 0 && c->index < 4);
        if (c->index < 0 || c->index >= 4) continue;
        if (c->name) { /* the first delta of a call: in order, with its id */
            CHECK(c->index == r->n && c->id != NULL);
            snprintf(r->name[c->index], sizeof r->name[0], "%s", c->name);
            snprintf(r->id[c->index], sizeof r->id[0], "%s", c->id ? c->id : "");
            r->n = c->index + 1;
        } else {
            CHECK(c->index == r->n - 1); /* fragments only for the call being written */
        }
        strncat(r->args[c->index], c->arguments, sizeof r->args[0] - strlen(r->args[c->index]) - 1);
    }
}

/* Reads text pushed in pieces of `step` bytes (0: all at once). */
static reading read_text(api_tool_format f, int opened, const char *text, size_t step) {
    reading r = {0};
    api_tool_parser *p = api_tool_parser_create(f, opened, 42, "[" WEATHER ", " TIME "]");
    size_t n = strlen(text), at = 0;
    do {
        size_t k = step && n - at > step ? step : n - at;
        api_tool_delta d = {0};
        CHECK(api_tool_parser_push(p, text + at, k, &d) == 0);
        apply(&r, &d);
        api_tool_delta_clear(&d);
        at += k;
    } while (at < n);
    api_tool_delta d = {0};
    CHECK(api_tool_parser_finish(p, &d) == 0);
    apply(&r, &d);
    api_tool_delta_clear(&d);
    r.failed = api_tool_parser_failed(p);
    CHECK(api_tool_parser_calls(p) <= r.n);
    api_tool_parser_free(p);
    return r;
}

/* The reading must be the same however the text is cut; compares with the expectation. */
static void expect_reading(api_tool_format f, int opened, const char *text, const char *content, int n_calls,
                           const char *const *names, const char *const *args, int failed) {
    reading whole = read_text(f, opened, text, 0);
    for (size_t step = 1; step <= 7; step++) {
        reading cut = read_text(f, opened, text, step);
        CHECK_MSG(!strcmp(cut.content, whole.content) && cut.n == whole.n && cut.failed == whole.failed,
                  "%s: step %zu gives '%s' / %d calls, whole '%s' / %d", text, step, cut.content, cut.n, whole.content,
                  whole.n);
        for (int i = 0; i < cut.n && i < whole.n; i++)
            CHECK_MSG(!strcmp(cut.args[i], whole.args[i]) && !strcmp(cut.name[i], whole.name[i]), "%s: step %zu", text,
                      step);
    }
    CHECK_MSG(content ? whole.has_content && !strcmp(whole.content, content) : !whole.has_content,
              "%s: content '%s', want '%s'", text, whole.content, content ? content : "(none)");
    CHECK_MSG(whole.n == n_calls && whole.failed == failed, "%s: %d calls (failed %d), want %d (failed %d)", text,
              whole.n, whole.failed, n_calls, failed);
    for (int i = 0; i < n_calls && i < whole.n; i++) {
        CHECK_MSG(!strcmp(whole.name[i], names[i]), "%s: call %d is '%s'", text, i, whole.name[i]);
        CHECK_MSG(!strcmp(whole.args[i], args[i]), "%s: call %d arguments '%s', want '%s'", text, i, whole.args[i],
                  args[i]);
        json_t *parsed = json_loads(whole.args[i], JSON_DECODE_ANY, NULL);
        CHECK_MSG(json_is_object(parsed), "%s: arguments are not a JSON object", whole.args[i]);
        json_decref(parsed);
        size_t id_len = strlen(whole.id[i]);
        CHECK(f == API_TOOLS_MISTRAL ? id_len == 9 : id_len == 29 && !strncmp(whole.id[i], "call_", 5));
    }
    if (whole.n == 2) CHECK(strcmp(whole.id[0], whole.id[1]) != 0);
}

static void test_hermes_reading(void) {
    const char *names[] = {"get_weather", "get_time"};
    const char *args[] = {"{\"city\": \"Oslo\", \"note\": \"a}b\\\"{\"}", "{}"};
    expect_reading(
        API_TOOLS_HERMES, 0,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"note\": "
        "\"a}b\\\"{\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>",
        NULL, 2, names, args, 0);
    expect_reading(API_TOOLS_HERMES, 0,
                   "Let me check.\n<tool_call>\n{\"arguments\": {}, \"name\": \"get_time\"}\n</tool_call>",
                   "Let me check.", 1, names + 1, args + 1, 0);
    const char *str_args[] = {"{\"city\": \"Rome\"}"};
    expect_reading(
        API_TOOLS_HERMES, 0,
        "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Rome\\\"}\"}</tool_call>", NULL, 1,
        names, str_args, 0);
    expect_reading(API_TOOLS_HERMES, 0, "No tools needed: a < b and <tool is fine.",
                   "No tools needed: a < b and <tool is fine.", 0, NULL, NULL, 0);
    expect_reading(API_TOOLS_HERMES, 0, "  \n", "  \n", 0, NULL, NULL, 0);
    /* bare calls at the start (small models leave the tags out), then text or tagged calls */
    const char *city[] = {"{\"city\": \"Paris\"}"};
    expect_reading(API_TOOLS_HERMES, 0, "\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", NULL, 1,
                   names, city, 0);
    const char *both_names[] = {"get_weather", "get_time"}, *both_args[] = {"{\"city\": \"Paris\"}", "{}"};
    expect_reading(API_TOOLS_HERMES, 0,
                   "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n{\"name\": \"get_time\"} done",
                   "done", 2, both_names, both_args, 0);
    /* a JSON answer that is not a call of one of the tools is content */
    expect_reading(API_TOOLS_HERMES, 0, "{\"name\": \"John\", \"age\": 30}", "{\"name\": \"John\", \"age\": 30}", 0,
                   NULL, NULL, 1);
    expect_reading(API_TOOLS_HERMES, 0, "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>",
                   "<tool_call>\n{\"name\": \"rm_rf\", \"arguments\": {}}\n</tool_call>", 0, NULL, NULL, 1);
    /* malformed and cut off: the text comes back as content */
    expect_reading(API_TOOLS_HERMES, 0, "x <tool_call>\n{\"nam\": 1}\n</tool_call> y",
                   "x <tool_call>\n{\"nam\": 1}\n</tool_call> y", 0, NULL, NULL, 1);
    expect_reading(API_TOOLS_HERMES, 0, "<tool_call>\nnot json</tool_call>", "<tool_call>\nnot json</tool_call>", 0,
                   NULL, NULL, 1);
    expect_reading(API_TOOLS_HERMES, 0, "<tool_call>\n{\"name\"", "<tool_call>\n{\"name\"", 0, NULL, NULL, 1);
    expect_reading(API_TOOLS_HERMES, 0, "<tool_call>\n{\"name\": \"get_time\"}", NULL, 1, names + 1, args + 1, 0);
}

/* A call announced, then broken, then another call: the stream never reuses the broken call's index
 * (found by fuzz_tool_parser). */
static void test_broken_call_keeps_its_index(void) {
    const char *text = "<tool_call>\n{\"name\": \"get_time\", \"arguments\"\"x\": 1}</tool_call> and "
                       "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"tz\": 2}}</tool_call>";
    for (size_t step = 0; step <= 5; step++) {
        reading r = read_text(API_TOOLS_HERMES, 0, text, step);
        CHECK_MSG(r.n == 2 && r.failed && !strcmp(r.args[1], "{\"tz\": 2}"), "step %zu: %d calls, '%s'", step, r.n,
                  r.args[1]);
        CHECK(strcmp(r.id[0], r.id[1]) != 0);
    }
}

static void test_llama3_reading(void) {
    const char *names[] = {"get_weather", "get_time"};
    const char *args[] = {"{\"city\": \"Oslo\"}", "{\"tz\": 1}"};
    expect_reading(API_TOOLS_LLAMA3_JSON, 0, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", NULL,
                   1, names, args, 0);
    expect_reading(
        API_TOOLS_LLAMA3_JSON, 0,
        " <|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}; {\"name\": \"get_time\", "
        "\"parameters\": {\"tz\": 1}}",
        NULL, 2, names, args, 0);
    expect_reading(API_TOOLS_LLAMA3_JSON, 0, "The answer is {\"name\": 1}.", "The answer is {\"name\": 1}.", 0, NULL,
                   NULL, 0);
    expect_reading(API_TOOLS_LLAMA3_JSON, 0, "{\"a\": 1}", "{\"a\": 1}", 0, NULL, NULL, 1);
}

static void test_mistral_reading(void) {
    const char *names[] = {"get_weather", "get_time"};
    const char *args[] = {"{\"city\": \"Oslo\"}", "{}"};
    expect_reading(
        API_TOOLS_MISTRAL, 0,
        "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}, \"id\": \"abcdefghi\"}, "
        "{\"name\": \"get_time\", \"arguments\": {}}]",
        NULL, 2, names, args, 0);
    expect_reading(API_TOOLS_MISTRAL, 1, " [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}]", NULL, 1,
                   names, args, 0);
    expect_reading(API_TOOLS_MISTRAL, 0, "Sure [TOOL_CALLS] [oops", "Sure [TOOL_CALLS] [oops", 0, NULL, NULL, 1);
    expect_reading(API_TOOLS_MISTRAL, 0, "[TOOLS] are [fine]", "[TOOLS] are [fine]", 0, NULL, NULL, 0);
}

/* The constraint for tool_choice, compiled and matched against the model's own call text. */
static char *constraint_for(api_tool_format f, const char *body, const char **suffix) {
    api_request r;
    api_error e;
    if (api_request_parse(API_CHAT, body, strlen(body), NULL, 1, &r, &e)) {
        CHECK_MSG(0, "%s: %s", body, e.message);
        return NULL;
    }
    char *spec = NULL;
    if (api_tool_constraint(&r, f, suffix, &e) == 0 && r.params.constraint.spec)
        spec = strdup(r.params.constraint.spec);
    CHECK(!spec ||
          (r.params.constraint.kind == LOOM_CONSTRAINT_STRUCTURAL_TAG && !strcmp(r.constraint_field, "tools")));
    api_request_free(&r);
    return spec;
}

#define BODY(extra)                                                                                                    \
    "{\"messages\": [{\"role\": \"user\", \"content\": \"w?\"}], \"tools\": [" WEATHER ", " TIME "]" extra "}"

static void test_forced_grammars(void) {
    static const struct {
        api_tool_format f;
        const char *one, *two, *sep;
    } formats[] = {
        {API_TOOLS_HERMES,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>",
         "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>", "\n"},
        {API_TOOLS_LLAMA3_JSON, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
         "{\"name\": \"get_time\", \"parameters\": {}}", "; "},
        {API_TOOLS_MISTRAL, "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}",
         "{\"name\": \"get_time\", \"arguments\": {}}", ", "},
    };
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) {
        api_tool_format f = formats[i].f;
        int m = f == API_TOOLS_MISTRAL;
        char one[256], both[512], bad[256];
        snprintf(one, sizeof one, "%s%s%s", m ? " [" : "", formats[i].one, m ? "]" : "");
        snprintf(both, sizeof both, "%s%s%s%s%s", m ? "[" : "", formats[i].one, formats[i].sep, formats[i].two,
                 m ? "]" : "");
        snprintf(bad, sizeof bad, "%s", one);
        char *at = strstr(bad, "\"Oslo\"");
        if (at) memcpy(at, "12345 ", 6); /* city must be a string */
        const char *suffix;
        char *req = constraint_for(f, BODY(", \"tool_choice\": \"required\""), &suffix);
        CHECK(m ? suffix && !strcmp(suffix, "[TOOL_CALLS]") : suffix == NULL);
        CHECK_MSG(util_match(GRAM_STRUCTURAL_TAG, req, one) == 1, "%s: %s", api_tool_format_name(f), one);
        CHECK_MSG(util_match(GRAM_STRUCTURAL_TAG, req, both) == 1, "%s: %s", api_tool_format_name(f), both);
        CHECK(util_match(GRAM_STRUCTURAL_TAG, req, bad) == 0);
        CHECK(util_match(GRAM_STRUCTURAL_TAG, req, "Sure.") == 0 && util_match(GRAM_STRUCTURAL_TAG, req, "") == 0);
        free(req);
        char *single =
            constraint_for(f, BODY(", \"tool_choice\": \"required\", \"parallel_tool_calls\": false"), &suffix);
        CHECK(util_match(GRAM_STRUCTURAL_TAG, single, one) == 1 && util_match(GRAM_STRUCTURAL_TAG, single, both) == 0);
        free(single);
        char *named = constraint_for(
            f, BODY(", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"get_time\"}}"), &suffix);
        CHECK(util_match(GRAM_STRUCTURAL_TAG, named, one) == 0);
        char two[256];
        snprintf(two, sizeof two, "%s%s%s", m ? "[" : "", formats[i].two, m ? "]" : "");
        CHECK_MSG(util_match(GRAM_STRUCTURAL_TAG, named, two) == 1, "%s", two);
        free(named);
        /* what the grammar makes, the parser reads */
        const char *names[] = {"get_weather", "get_time"}, *args[] = {"{\"city\": \"Oslo\"}", "{}"};
        expect_reading(f, m, both, NULL, 2, names, args, 0);
        char *lazy = constraint_for(f, BODY(""), &suffix); /* auto */
        CHECK(f == API_TOOLS_HERMES ? lazy != NULL : lazy == NULL);
        if (lazy) {
            char text[600];
            snprintf(text, sizeof text, "I will check. %s\n%s", formats[i].one, formats[i].two);
            CHECK(util_match(GRAM_STRUCTURAL_TAG, lazy, text) == 1 &&
                  util_match(GRAM_STRUCTURAL_TAG, lazy, "Hi!") == 1);
            snprintf(text, sizeof text, "I will check. %s", bad);
            CHECK(util_match(GRAM_STRUCTURAL_TAG, lazy, text) == 0);
        }
        free(lazy);
    }
    /* tool_choice none: nothing; required beside response_format: refused naming both */
    const char *suffix;
    CHECK(constraint_for(API_TOOLS_HERMES, BODY(", \"tool_choice\": \"none\""), &suffix) == NULL);
    const char *both = BODY(", \"tool_choice\": \"required\", \"response_format\": {\"type\": \"json_object\"}");
    api_request r;
    api_error e;
    if (api_request_parse(API_CHAT, both, strlen(both), NULL, 1, &r, &e) == 0) {
        CHECK(api_tool_constraint(&r, API_TOOLS_HERMES, &suffix, &e) == -1);
        CHECK(e.http_status == 400 && !strcmp(e.param, "tool_choice") && strstr(e.message, "response_format"));
        api_request_free(&r);
    }
}

static void test_detect(void) {
    CHECK(api_tool_format_detect("{{- '<tool_call>\\n' }}") == API_TOOLS_HERMES);
    CHECK(api_tool_format_detect("{{- \"[TOOL_CALLS] [\" }}") == API_TOOLS_MISTRAL);
    CHECK(api_tool_format_detect("<|start_header_id|> {{- '\"parameters\": ' }}") == API_TOOLS_LLAMA3_JSON);
    CHECK(api_tool_format_detect("{% for m in messages %}{{ m.content }}{% endfor %}") == API_TOOLS_HERMES);
    for (int i = 0; i < 3; i++) CHECK(api_tool_format_parse(api_tool_format_name((api_tool_format)i)) == i);
    CHECK(api_tool_format_parse("pythonic") == -1);
}

int main(void) {
    RUN(test_hermes_reading);
    RUN(test_broken_call_keeps_its_index);
    RUN(test_llama3_reading);
    RUN(test_mistral_reading);
    RUN(test_forced_grammars);
    RUN(test_detect);
    return check_summary();
}
