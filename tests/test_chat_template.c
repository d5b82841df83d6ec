/* Chat templates: every case of the fixtures in tests/fixtures/chat_templates/ (rendered by HF transformers'
 * apply_chat_template, see make_expected.py) must render byte for byte the same; errors must be clear;
 * and the expression language behaves as Jinja does. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "template/template.h"

#define FIXTURES "tests/fixtures/chat_templates/"

/* Renders src with the JSON context; returns the malloc'd text, or NULL with the error in err. */
static char *render_with(const char *src, const char *context_json, const loom_template_limits *limits,
                         loom_error *err) {
    loom_template *t;
    memset(err, 0, sizeof *err);
    if (template_parse(src, strlen(src), &t, err) != LOOM_OK) return NULL;
    json_t *ctx = json_loads(context_json ? context_json : "{}", 0, NULL);
    char *out = NULL;
    size_t len;
    if (template_render(t, ctx, limits, &out, &len, err) != LOOM_OK) out = NULL;
    json_decref(ctx);
    template_free(t);
    return out;
}

static char *render(const char *src, const char *context_json, loom_error *err) {
    return render_with(src, context_json, NULL, err);
}

/* CHECKs that src renders to want. */
#define EXPECT(src, ctx, want)                                                                                         \
    do {                                                                                                               \
        loom_error e_;                                                                                                 \
        char *got_ = render(src, ctx, &e_);                                                                            \
        CHECK_MSG(got_ &&strcmp(got_, want) == 0, "%s\n    want [%s]\n    got  [%s]", src, want,                       \
                  got_ ? got_ : e_.message);                                                                           \
        free(got_);                                                                                                    \
    } while (0)

/* CHECKs that src fails (at parse or render) with status st and a message containing part. */
#define EXPECT_ERROR(src, ctx, st, part)                                                                               \
    do {                                                                                                               \
        loom_error e_;                                                                                                 \
        char *got_ = render(src, ctx, &e_);                                                                            \
        CHECK_MSG(!got_ && e_.status == (st) && strstr(e_.message, part), "%s\n    want error [%s]\n    got  [%s]",    \
                  src, part, got_ ? got_ : e_.message);                                                                \
        free(got_);                                                                                                    \
    } while (0)

/* ---- fixtures ------------------------------------------------------------------------------ */

static void report_mismatch(const char *name, size_t idx, const char *want, const char *got, size_t got_len) {
    size_t i = 0, want_len = strlen(want);
    while (i < want_len && i < got_len && want[i] == got[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s case %zu: first difference at byte %zu (want %zu bytes, got %zu)\n", name, idx, i, want_len,
            got_len);
    fprintf(stderr, "    want ...%.*s\n    got  ...%.*s\n", (int)(want_len - from < 80 ? want_len - from : 80),
            want + from, (int)(got_len - from < 80 ? got_len - from : 80), got + from);
}

static void run_fixture(const char *name) {
    char path[256];
    snprintf(path, sizeof path, FIXTURES "%s.json", name);
    json_error_t jerr;
    json_t *fx = json_load_file(path, 0, &jerr);
    CHECK_MSG(fx != NULL, "%s: %s", path, jerr.text);
    if (!fx) return;
    const char *src = json_string_value(json_object_get(fx, "template"));
    loom_template *t = NULL;
    loom_error err = {0};
    CHECK_MSG(src && template_parse(src, strlen(src), &t, &err) == LOOM_OK, "%s: %s", name, err.message);
    json_t *cases = json_object_get(fx, "cases");
    size_t passed = 0, i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        if (!t) break;
        json_t *ctx =
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:n}", "messages", json_object_get(c, "messages"),
                      "add_generation_prompt", json_object_get(c, "add_generation_prompt"), "bos_token",
                      json_object_get(fx, "bos_token"), "eos_token", json_object_get(fx, "eos_token"), "tools",
                      json_object_get(c, "tools") ? json_object_get(c, "tools") : json_null(), "documents");
        if (json_object_get(c, "extra")) json_object_update(ctx, json_object_get(c, "extra"));
        const char *want = json_string_value(json_object_get(c, "expected"));
        char *got = NULL;
        size_t len = 0;
        loom_status st = template_render(t, ctx, NULL, &got, &len, &err);
        CHECK_MSG(st == LOOM_OK, "%s case %zu: %s", name, i, err.message);
        if (st == LOOM_OK && len == strlen(want) && memcmp(got, want, len) == 0) passed++;
        else if (st == LOOM_OK) {
            report_mismatch(name, i, want, got, len);
            CHECK(!"rendered text differs from transformers");
        }
        free(got);
        json_decref(ctx);
    }
    printf("  %s: %zu/%zu cases match transformers\n", name, passed, json_array_size(cases));
    CHECK(json_array_size(cases) > 0);
    template_free(t);
    json_decref(fx);
}

static void test_fixture_smollm2(void) { run_fixture("smollm2"); }
static void test_fixture_llama3(void) { run_fixture("llama3"); }
static void test_fixture_qwen2(void) { run_fixture("qwen2"); }
static void test_fixture_qwen3(void) { run_fixture("qwen3"); }
static void test_fixture_phi3(void) { run_fixture("phi3"); }
static void test_fixture_gemma2(void) { run_fixture("gemma2"); }
static void test_fixture_gemma3(void) { run_fixture("gemma3"); }
static void test_fixture_olmo2(void) { run_fixture("olmo2"); }
static void test_fixture_llama3_1(void) { run_fixture("llama3_1"); }         /* tools, "parameters" calls */
static void test_fixture_mistral_nemo(void) { run_fixture("mistral_nemo"); } /* [TOOL_CALLS], 9-character ids */
static void test_fixture_qwen2_5(void) { run_fixture("qwen2_5"); }           /* <tool_call>, Qwen2.5-Coder's */

/* ---- errors -------------------------------------------------------------------------------- */

static void test_errors(void) {
    EXPECT_ERROR("a\n{{ 1 + }}", NULL, LOOM_ERR_FORMAT, "template line 2 col 8: unexpected '}}'");
    EXPECT_ERROR("x\n\n{{ name | wordwrap }}", NULL, LOOM_ERR_UNSUPPORTED,
                 "template line 3 col 11: unsupported filter 'wordwrap'");
    EXPECT("{% if false %}{{ x | wordwrap }}{% endif %}ok", NULL, "ok"); /* Jinja, too, only fails when it runs */
    EXPECT("{% if loop_ok: %}a{% else: %}b{% endif %}", NULL, "b");      /* Jinja accepts Python's colon */
    EXPECT_ERROR("{% if x is prime %}{% endif %}", NULL, LOOM_ERR_UNSUPPORTED, "unsupported test 'prime'");
    EXPECT_ERROR("{% include 'other.j2' %}", NULL, LOOM_ERR_UNSUPPORTED,
                 "template line 1 col 4: unsupported tag 'include'");
    EXPECT_ERROR("{% for m in messages %}{{ m }}", NULL, LOOM_ERR_FORMAT,
                 "'for' opened at line 1 col 4 is not closed (expected 'endfor')");
    EXPECT_ERROR("{% if a %}x{% else %}y", NULL, LOOM_ERR_FORMAT, "(expected 'endif')");
    EXPECT_ERROR("{{ a", NULL, LOOM_ERR_FORMAT, "unterminated '{{' tag");
    EXPECT_ERROR("{# note", NULL, LOOM_ERR_FORMAT, "unterminated comment");
    EXPECT_ERROR("{{ 'abc }}", NULL, LOOM_ERR_FORMAT, "unterminated string literal");
    EXPECT_ERROR("{% endif %}", NULL, LOOM_ERR_FORMAT, "unexpected 'endif'");
    EXPECT_ERROR("{% break %}", NULL, LOOM_ERR_FORMAT, "'break' outside a for loop");
    EXPECT_ERROR("{{ raise_exception('Only user and assistant roles are supported!') }}", NULL, LOOM_ERR_INVALID_ARG,
                 "template line 1 col 19: raise_exception: Only user and assistant roles are supported!");
    EXPECT_ERROR("{{ 'a' + none }}", NULL, LOOM_ERR_INVALID_ARG,
                 "unsupported operand types for +: 'str' and 'NoneType'");
    EXPECT_ERROR("{{ missing.attr }}", NULL, LOOM_ERR_INVALID_ARG, "'missing' is undefined");
    EXPECT_ERROR("{{ 'x' + missing }}", NULL, LOOM_ERR_INVALID_ARG, "'missing' is undefined");
    EXPECT_ERROR("{{ 1 // 0 }}", NULL, LOOM_ERR_INVALID_ARG, "division by zero");
    EXPECT_ERROR("{{ 'a'.format(1) }}", NULL, LOOM_ERR_UNSUPPORTED, "unsupported str method 'format'");
    EXPECT_ERROR("{{ {'a': 1}.items }}", NULL, LOOM_ERR_UNSUPPORTED, "method 'items' of dict used without calling it");
    EXPECT_ERROR("{{ '%s' % 1 }}", NULL, LOOM_ERR_UNSUPPORTED, "'%' string formatting");
    EXPECT_ERROR("{% set x = 1 %}{% set x.a = 2 %}", NULL, LOOM_ERR_INVALID_ARG, "non-namespace");
    EXPECT_ERROR("{{ range(1000000) | length }}", NULL, LOOM_ERR_INVALID_ARG, "range too big");
    EXPECT_ERROR("{{ x | tojson }}", NULL, LOOM_ERR_INVALID_ARG, "Undefined is not JSON serializable");
    EXPECT_ERROR("\xff", NULL, LOOM_ERR_FORMAT, "not valid UTF-8");
    EXPECT_ERROR("{{ loop.cycle('a') }}{% for x in [1] %}{{ loop.cycle('a','b') }}{% endfor %}", NULL,
                 LOOM_ERR_INVALID_ARG, "'loop' is undefined");
}

static void test_limits(void) {
    loom_template_limits small = template_default_limits();
    small.max_output_bytes = 1000;
    small.max_steps = 100000;
    loom_error e;
    char *out = render_with("{% for i in range(100) %}{% for j in range(100) %}{{ i }}{% endfor %}{% endfor %}", NULL,
                            &small, &e);
    CHECK_MSG(!out && strstr(e.message, "output exceeds the 1000 byte limit"), "%s", out ? out : e.message);
    free(out);
    small.max_output_bytes = 1 << 20;
    out = render_with("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL, &small,
                      &e);
    CHECK_MSG(!out && strstr(e.message, "step limit"), "%s", out ? out : e.message);
    free(out);
    out = render_with("{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
                      NULL, NULL, &e);
    CHECK_MSG(!out && strstr(e.message, "step limit"), "%s", out ? out : e.message);
    free(out);
    out = render_with("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL, NULL, &e);
    CHECK_MSG(!out && strstr(e.message, "macro calls nested deeper than 32"), "%s", out ? out : e.message);
    free(out);
    out = render_with("{{ 'ab' * 100000000000 }}", NULL, NULL, &e);
    CHECK_MSG(!out && strstr(e.message, "memory limit"), "%s", out ? out : e.message);
    free(out);
    char deep[2100] = "{{ ";
    for (int i = 0; i < 1000; i++) strcat(deep, "(");
    strcat(deep, "1");
    for (int i = 0; i < 1000; i++) strcat(deep, ")");
    strcat(deep, " }}");
    out = render_with(deep, NULL, NULL, &e);
    CHECK_MSG(!out && strstr(e.message, "nested deeper than"), "%s", out ? out : e.message);
    free(out);
}

/* ---- the language ---------------------------------------------------------------------------- */

static void test_whitespace_control(void) {
    EXPECT("{% if true %}\n  x\n  {% endif %}\n  y", NULL, "  x\n  y");
    EXPECT("a  {%- if true -%}  b  {%- endif %}  c\n{# c #}\nd", NULL, "ab  c\nd");
    EXPECT("a\n    {%+ if true %}b{% endif %}", NULL, "a\n    b");
    EXPECT("{{ 'x' }}\n{{ 'y' -}}\n\n z\n", NULL, "x\nyz");
    EXPECT("line\r\nnext\r\n", NULL, "line\nnext");
    EXPECT("  {# c #}\nx", NULL, "x");
}

static void test_expressions(void) {
    EXPECT("{{ 'a' + 'b' ~ 1 * 2 }}|{{ -2 ** 2 }}|{{ 2 ** 3 ** 2 }}|{{ 7 // -2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }}",
           NULL, "ab2|4|64|-4 2 3.5 2.0");
    EXPECT("{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ not 1 == 2 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}", NULL,
           "7 9 True True False");
    EXPECT("{{ 'x' if false }}|{{ true == 1 }}|{{ 1 == 1.0 }}|{{ (1,2) == [1,2] }}|{{ none or 'd' }}|{{ 0 and 1 }}",
           NULL, "|True|True|False|d|0");
    EXPECT("{{ [1,'a',none,true,1.5,{'k':'v\\n'}] }}|{{ 1e16 }} {{ 1e15 }} {{ 0.1 }} {{ 1e-5 }} {{ 2**0.5 }}", NULL,
           "[1, 'a', None, True, 1.5, {'k': 'v\\n'}]|1e+16 1000000000000000.0 0.1 1e-05 1.4142135623730951");
    EXPECT("{{ 'a\\tb\\x41\\u00e9\\d' }}|{{ 'ab' 'cd' }}|{{ \"it's\" }}|{{ ['it\\'s', \"q\\\"\"] }}", NULL,
           "a\tbA\xc3\xa9\\d|abcd|it's|[\"it's\", 'q\"']");
    EXPECT("{{ [1,2,3,4,5][::2] }}{{ 'h\xc3\xa9llo'[1:3] }}{{ [1,2,3][::-1] }}{{ 'abc'[-1] }}{{ [1,2][5] }}{{ "
           "'abc'[:-1] }}",
           NULL, "[1, 3, 5]\xc3\xa9l[3, 2, 1]cab");
    EXPECT("{{ 'ab' in 'cabd' }}{{ 1 not in [1] }}{{ 'k' in {'k': 1} }}{{ 3 is divisibleby 3 }}", NULL,
           "TrueFalseTrueTrue");
    EXPECT("{{ [1,2] + [3] }}{{ 'ab' * 3 }}{{ true + 1 }}{{ 10 / 4 }}{{ 2 ** -1 }}", NULL, "[1, 2, 3]ababab22.50.5");
    EXPECT("{{ undefinedvar }}|{{ undefinedvar | length }}|{{ undefinedvar ~ 'x' }}|{{ undefinedvar is defined }}",
           NULL, "|0|x|False");
    EXPECT("{{ none.x }}|{{ (1).x }}|{{ m.role }}|{{ m['content'] }}|{{ m.missing is defined }}",
           "{\"m\": {\"role\": \"user\", \"content\": \"hi\"}}", "||user|hi|False");
    EXPECT("{{ {'a': 1}.get('b', 'z') }}{{ {'a':1}.items() | list }}{{ {'a': 1, 'b': 2}.keys() | list }}", NULL,
           "z[('a', 1)]['a', 'b']");
    EXPECT("{{ 1.0 }} {{ 3.0 * 2 }} {{ 10 / 3 }} {{ 1e100 }} {{ -0.0 }} {{ 123456789012345678.0 }}", NULL,
           "1.0 6.0 3.3333333333333335 1e+100 -0.0 1.2345678901234568e+17");
}

/* Differences from Jinja found by rendering mutated templates with both, each fixed. */
static void test_differential_regressions(void) {
    EXPECT("{{ (x, y) }}{{ {(1, 2): 'v'}[1, 2] }}", NULL, "(Undefined, Undefined)v");
    EXPECT("{{ '  a  b  '.split(none, 1) }}{{ -5 % 2.5 }}{{ x is sequence }}", NULL, "['a', 'b  ']0.0True");
    EXPECT("{{ '\\xdf'.upper() }}{{ '\\ufb01x'.title() }}", NULL, "SSFix");
    EXPECT_ERROR("{{ 'ab'[::0] }}", NULL, LOOM_ERR_INVALID_ARG, "slice step cannot be zero");
    EXPECT_ERROR("{{ [1, 2][0:x] }}", NULL, LOOM_ERR_INVALID_ARG, "slice indices must be integers or None");
    EXPECT_ERROR("{{ [1, 2][0,] }}", NULL, LOOM_ERR_FORMAT, "unexpected ']'");
}

static void test_loops_and_scopes(void) {
    EXPECT("{% for x in [1,2,3] if x > 1 %}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}", NULL,
           "1/22/2");
    EXPECT("{% for x in 'ab' %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.revindex }}{{ x }},{% endfor %}",
           NULL, "0TrueFalse2a,1FalseTrue1b,");
    EXPECT("{% for x in [] %}x{% else %}empty{% endfor %}", NULL, "empty");
    EXPECT("{% for k, v in {'a':1,'b':2}.items() %}{{k}}={{v}}{{ loop.revindex }},{% endfor %}", NULL, "a=12,b=21,");
    EXPECT("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x "
           "}}{% endfor %}",
           NULL, "13");
    EXPECT("{% for x in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", NULL, "-2;1-3;2-;");
    EXPECT("{% set x = 0 %}{% for i in range(3) %}{{ x }}{% set x = i+5 %}{{x}}{% endfor %}{{x}}", NULL, "0506070");
    EXPECT("{% if true %}{% set y = 3 %}{% endif %}{{ y }}", NULL, "3");
    EXPECT("{% set ns = namespace(a=1, found=false) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a "
           "}}{{ ns.found }}",
           NULL, "4False");
    EXPECT("{% set a, b = [1, 2] %}{{ b }}{{ a }}", NULL, "21");
    EXPECT("{% set block %}x{{ 1 + 1 }}y{% endset %}[{{ block }}]", NULL, "[x2y]");
    EXPECT("{% macro f(a, b='x') %}[{{a}}{{b}}]{% endmacro %}{{ f(1) }}{{ f(2, b=3) }}", NULL, "[1x][23]");
    EXPECT("{% for a in [[1,2],[3]] %}{% for b in a %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", NULL,
           "121;12;");
    EXPECT("{% generation %}g{% endgeneration %}", NULL, "g");
}

static void test_filters_and_methods(void) {
    EXPECT("{{ ' a b  '.split() }}{{ 'a,b,,c'.split(',') }}{{ 'a,b,c'.split(',', 1) }}", NULL,
           "['a', 'b']['a', 'b', '', 'c']['a', 'b,c']");
    EXPECT("{{ 'hello world-foo'.title() }}|{{ 'hello'|first }}|{{ [] | first }}|{{ 'x' | int }}|{{ '3.7'|int }}|{{ ' "
           "42 '|int }}",
           NULL, "Hello World-Foo|h||0|3|42");
    EXPECT("{{ '  x  ' | trim }}|{{ 'xxaxx'.strip('x') }}|{{ '\\n\\nq\\n'.lstrip('\\n') }}|{{ 'ab'.upper() }}{{ "
           "'AB'|lower }}",
           NULL, "x|a|q\n|ABab");
    EXPECT("{{ 'a-b' | replace('-', '+') }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'ab'.startswith(('x', 'a')) }}{{ "
           "'ab'.endswith('b') }}",
           NULL, "a+bbbaTrueTrue");
    EXPECT("{{ [1, 2, 3] | join(', ') }}|{{ [3, 4] | last }}|{{ x | default('d') }}|{{ none | default('d') }}|{{ '' | "
           "default('e', true) }}",
           NULL, "1, 2, 3|4|d|None|e");
    EXPECT("{{ {'a': [1, 2.0, '\xc3\xa9\"'], 'b': none} | tojson }}|{{ {'a': [1, {}], 'b': []} | tojson(indent=2) }}",
           NULL,
           "{\"a\": [1, 2.0, \"\xc3\xa9\\\"\"], \"b\": null}|{\n  \"a\": [\n    1,\n    {}\n  ],\n  \"b\": []\n}");
    EXPECT("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ 'x\\u0001' | tojson }}", NULL,
           "{\"a\": 2, \"b\": 1}\"x\\u0001\"");
    EXPECT("{{ m | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}|"
           "{{ m | rejectattr('role', 'eq', 'user') | list | length }}|{{ m | map(attribute='role') | first }}",
           "{\"m\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"bot\", \"content\": \"b\"}, "
           "{\"role\": \"user\", \"content\": \"c\"}]}",
           "a,c|1|user");
    EXPECT("{{ 5 is number }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}{{ none is none }}{{ true is "
           "true }}"
           "{{ 1 is false }}{{ 'a' is iterable }}{{ 3 is odd }}{{ x is not defined }}",
           NULL, "TrueTrueTrueTrueTrueTrueFalseTrueTrueTrue");
    EXPECT("{{ 'abc' | length }}{{ {'a': 1} | length }}{{ 'abc' | list }}{{ {'a': 1} | items | list }}{{ 1 | string ~ "
           "'x' }}",
           NULL, "31['a', 'b', 'c'][('a', 1)]1x");
}

int main(void) {
    RUN(test_fixture_smollm2);
    RUN(test_fixture_llama3);
    RUN(test_fixture_qwen2);
    RUN(test_fixture_qwen3);
    RUN(test_fixture_phi3);
    RUN(test_fixture_gemma2);
    RUN(test_fixture_gemma3);
    RUN(test_fixture_olmo2);
    RUN(test_fixture_llama3_1);
    RUN(test_fixture_mistral_nemo);
    RUN(test_fixture_qwen2_5);
    RUN(test_errors);
    RUN(test_limits);
    RUN(test_whitespace_control);
    RUN(test_expressions);
    RUN(test_differential_regressions);
    RUN(test_loops_and_scopes);
    RUN(test_filters_and_methods);
    return check_summary();
}
