/* Structural tags (src/grammar/structural_tag.c): each format's language on hand-picked strings in and
 * out, free text with triggers / excludes / tag ends (including patterns that overlap, as Aho-Corasick
 * must handle), the older "structures" form, GBNF rule names that meet a JSON Schema's, masks against
 * brute force on a vocabulary with multi-byte tokens, and the errors naming where the problem is. */
#include <stdio.h>

#include "grammar_util.h"

#define ST(fmt) "{\"type\": \"structural_tag\", \"format\": " fmt "}"
#define SCHEMA_CITY                                                                                                    \
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}"

static int st_match(const char *spec, const char *s) { return util_match(GRAM_STRUCTURAL_TAG, spec, s); }

static void test_primitives(void) {
    const char *c = ST("{\"type\": \"const_string\", \"value\": \"Hello\"}");
    CHECK(st_match(c, "Hello") == 1);
    CHECK(st_match(c, "Hell") == 0);
    const char *j = ST("{\"type\": \"json_schema\", \"json_schema\": " SCHEMA_CITY "}");
    CHECK(st_match(j, "{\"city\": \"Paris\"}") == 1);
    CHECK(st_match(j, "{}") == 0);
    const char *r = ST("{\"type\": \"regex\", \"pattern\": \"[A-Z]{3}-[0-9]{2}\"}");
    CHECK(st_match(r, "ABC-12") == 1);
    CHECK(st_match(r, "AB-12") == 0);
    const char *g = ST("{\"type\": \"grammar\", \"grammar\": \"root ::= \\\"yes\\\" | \\\"no\\\"\"}");
    CHECK(st_match(g, "no") == 1);
    CHECK(st_match(g, "maybe") == 0);
    const char *any = ST("{\"type\": \"any_text\"}");
    CHECK(st_match(any, "") == 1);
    CHECK(st_match(any, "anything \xff at all") == 1);
    const char *ex = ST("{\"type\": \"any_text\", \"excludes\": [\"ab\", \"bc\"]}");
    CHECK(st_match(ex, "a b c acb") == 1);
    CHECK(st_match(ex, "xxabx") == 0);
    CHECK(st_match(ex, "xbc") == 0);
}

static void test_composition(void) {
    const char *seq =
        ST("{\"type\": \"sequence\", \"elements\": [{\"type\": \"const_string\", \"value\": \"Answer: \"},"
           "{\"type\": \"json_schema\", \"json_schema\": {\"type\": \"integer\"}}]}");
    CHECK(st_match(seq, "Answer: 42") == 1);
    CHECK(st_match(seq, "Answer: x") == 0);
    const char *alt = ST("{\"type\": \"or\", \"elements\": [{\"type\": \"const_string\", \"value\": \"yes\"},"
                         "{\"type\": \"const_string\", \"value\": \"no\"}]}");
    CHECK(st_match(alt, "yes") == 1 && st_match(alt, "no") == 1 && st_match(alt, "yesno") == 0);
    const char *rep = ST("{\"type\": \"repeat\", \"min\": 2, \"max\": 3, \"content\": {\"type\": \"const_string\", "
                         "\"value\": \"ab\"}}");
    CHECK(st_match(rep, "ab") == 0 && st_match(rep, "abab") == 1 && st_match(rep, "ababab") == 1);
    CHECK(st_match(rep, "abababab") == 0);
    const char *plus = ST("{\"type\": \"plus\", \"content\": {\"type\": \"const_string\", \"value\": \"x\"}}");
    CHECK(st_match(plus, "") == 0 && st_match(plus, "xxxx") == 1);
    const char *star = ST("{\"type\": \"star\", \"content\": {\"type\": \"const_string\", \"value\": \"x\"}}");
    CHECK(st_match(star, "") == 1 && st_match(star, "xx") == 1);
    const char *opt = ST("{\"type\": \"optional\", \"content\": {\"type\": \"const_string\", \"value\": \"x\"}}");
    CHECK(st_match(opt, "") == 1 && st_match(opt, "x") == 1 && st_match(opt, "xx") == 0);
}

/* A tag whose content is free text ends at the first occurrence of its end string. */
static void test_tags(void) {
    const char *think = ST("{\"type\": \"tag\", \"begin\": \"<think>\", \"content\": {\"type\": \"any_text\"}, "
                           "\"end\": \"</think>\"}");
    CHECK(st_match(think, "<think>a < b </thin k></think>") == 1);
    CHECK(st_match(think, "<think>x</think>y</think>") == 0);
    CHECK(st_match(think, "<think>unfinished") == 0);
    const char *ends = ST("{\"type\": \"tag\", \"begin\": \"<r>\", \"content\": {\"type\": \"json_schema\", "
                          "\"json_schema\": {\"type\": \"object\"}}, \"end\": [\"</r>\", \"</a>\"]}");
    CHECK(st_match(ends, "<r>{}</r>") == 1 && st_match(ends, "<r>{\"k\": 1}</a>") == 1);
    CHECK(st_match(ends, "<r>{}</x>") == 0);
    /* end "aab" in text "aaab": the automaton must not lose the overlapping match */
    const char *overlap = ST("{\"type\": \"tag\", \"begin\": \"[\", \"content\": {\"type\": \"any_text\"}, "
                             "\"end\": \"aab\"}");
    CHECK(st_match(overlap, "[xaaab") == 1);
    CHECK(st_match(overlap, "[aaabz") == 0);
}

#define WEATHER_TAG                                                                                                    \
    "{\"type\": \"tag\", \"begin\": \"<tool_call>\\n{\\\"name\\\": \\\"get_weather\\\", \\\"arguments\\\": \", "       \
    "\"content\": {\"type\": \"json_schema\", \"json_schema\": " SCHEMA_CITY "}, \"end\": \"}\\n</tool_call>\"}"
#define TIME_TAG                                                                                                       \
    "{\"type\": \"tag\", \"begin\": \"<tool_call>\\n{\\\"name\\\": \\\"get_time\\\", \\\"arguments\\\": \", "          \
    "\"content\": {\"type\": \"json_schema\", \"json_schema\": {\"type\": \"object\", \"properties\": {}}}, "          \
    "\"end\": \"}\\n</tool_call>\"}"
#define CALL_W "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"
#define CALL_T "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>"

static void test_tags_with_separator(void) {
    const char *any = ST("{\"type\": \"tags_with_separator\", \"tags\": [" WEATHER_TAG ", " TIME_TAG "], "
                         "\"separator\": \"\\n\", \"at_least_one\": true}");
    CHECK(st_match(any, CALL_W) == 1);
    CHECK(st_match(any, CALL_T "\n" CALL_W "\n" CALL_T) == 1);
    CHECK(st_match(any, "") == 0);
    CHECK(st_match(any, "Sure. " CALL_W) == 0);
    CHECK(st_match(any, CALL_W CALL_T) == 0); /* no separator */
    const char *one = ST("{\"type\": \"tags_with_separator\", \"tags\": [" WEATHER_TAG "], \"separator\": \"\\n\", "
                         "\"at_least_one\": true, \"stop_after_first\": true}");
    CHECK(st_match(one, CALL_W) == 1 && st_match(one, CALL_W "\n" CALL_W) == 0);
    CHECK(st_match(one, CALL_T) == 0);
    const char *none_ok = ST("{\"type\": \"tags_with_separator\", \"tags\": [" WEATHER_TAG "], \"separator\": \",\"}");
    CHECK(st_match(none_ok, "") == 1);
}

static void test_triggered_tags(void) {
    const char *lazy = ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<tool_call>\"], \"tags\": [" WEATHER_TAG
                          ", " TIME_TAG "]}");
    CHECK(st_match(lazy, "") == 1);
    CHECK(st_match(lazy, "Just text, <tool_ and < and tool_call>.") == 1);
    CHECK(st_match(lazy, "Let me look. " CALL_W " and " CALL_T " done") == 1);
    CHECK(st_match(lazy, "x <tool_call>\n{\"name\": \"nope\"}") == 0); /* unknown tool */
    CHECK(st_match(lazy, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>") ==
          0); /* schema */
    CHECK(st_match(lazy, "<tool_call><tool_call>") == 0);
    CHECK(st_match(lazy, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"A\"}}") == 0); /* cut */
    const char *first = ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<tool_call>\"], \"tags\": [" WEATHER_TAG
                           "], \"stop_after_first\": true}");
    CHECK(st_match(first, "hm " CALL_W) == 1 && st_match(first, "hm " CALL_W " more") == 0);
    CHECK(st_match(first, "no call") == 1);
    const char *must = ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<tool_call>\"], \"tags\": [" WEATHER_TAG
                          "], \"at_least_one\": true}");
    CHECK(st_match(must, CALL_W " then text") == 1 && st_match(must, "text " CALL_W) == 0);
    CHECK(st_match(must, "") == 0);
    const char *excl = ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<f=\"], \"excludes\": [\"<|bad|>\"], "
                          "\"tags\": [{\"type\": \"tag\", \"begin\": \"<f=a>\", \"content\": {\"type\": \"any_text\"}, "
                          "\"end\": \"</f>\"}]}");
    CHECK(st_match(excl, "t <f=a>free < text</f> more") == 1);
    CHECK(st_match(excl, "t <|bad|> t") == 0);
    CHECK(st_match(excl, "<f=b>") == 0);
    /* free text inside a tag: triggered tags end with the enclosing tag's end */
    const char *nested = ST("{\"type\": \"tag\", \"begin\": \"[\", \"content\": {\"type\": \"triggered_tags\", "
                            "\"triggers\": [\"<\"], \"tags\": [{\"type\": \"tag\", \"begin\": \"<x>\", \"content\": "
                            "{\"type\": \"const_string\", \"value\": \"1\"}, \"end\": \"</x>\"}]}, \"end\": \"]\"}");
    CHECK(st_match(nested, "[a<x>1</x>b]") == 1 && st_match(nested, "[a<y>]") == 0 && st_match(nested, "[a]b") == 0);
}

static void test_structures_form(void) {
    const char *old = "{\"type\": \"structural_tag\", \"structures\": [{\"begin\": \"<function=get_weather>\", "
                      "\"schema\": " SCHEMA_CITY ", \"end\": \"</function>\"}], \"triggers\": [\"<function=\"]}";
    CHECK(st_match(old, "ok <function=get_weather>{\"city\": \"Rome\"}</function>") == 1);
    CHECK(st_match(old, "ok <function=get_weather>{}</function>") == 0);
    CHECK(st_match(old, "plain") == 1);
}

/* A GBNF grammar beside a JSON Schema: its rule "root" is its own, not the schema's. */
static void test_gbnf_names_are_scoped(void) {
    const char *both =
        ST("{\"type\": \"sequence\", \"elements\": [{\"type\": \"json_schema\", \"json_schema\": "
           "{\"type\": \"integer\"}}, {\"type\": \"grammar\", \"grammar\": \"root ::= \\\"!\\\" x\\nx ::= "
           "\\\"?\\\"\"}]}");
    CHECK(st_match(both, "12!?") == 1);
    CHECK(st_match(both, "12!") == 0);
}

static void test_masks(void) {
    static const char *const extra[] = {
        "<tool_call>",     "<tool",         "_call>\n", "{\"name\": \"",   "get_weather", "\", ",
        "\"arguments\": ", "{\"city\": \"", "Oslo\"}",  "}\n</tool_call>", " text"};
    gram_vocab *v = util_vocab(extra, (int32_t)(sizeof extra / sizeof *extra));
    gram_matcher *m = util_matcher(
        GRAM_STRUCTURAL_TAG,
        ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<tool_call>\"], \"tags\": [" WEATHER_TAG "]}"), v);
    CHECK(m != NULL);
    if (!m) return;
    const char *walk = "a <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>";
    loom_error err;
    int32_t free_allowed = util_check_mask(m, v);
    CHECK(free_allowed == gram_vocab_size(v)); /* free text: every token, EOS too */
    for (size_t i = 0; walk[i]; i++) {
        CHECK(gram_matcher_accept_bytes(m, walk + i, 1, &err) == 1);
        util_check_mask(m, v);
    }
    CHECK(gram_matcher_is_accepting(m));
    gram_matcher_free(m);
    gram_vocab_free(v);
}

static void test_errors(void) {
    static const char *const bad[][2] = {
        {"[1]", "structural tag: not a JSON object"},
        {"{\"type\": \"json_schema\"}", "must be \"structural_tag\""},
        {"{\"type\": \"structural_tag\"}", "'format'"},
        {ST("{\"type\": \"token\", \"token\": \"<x>\"}"), "format: the format type 'token' is not supported"},
        {ST("{\"type\": \"sequence\", \"elements\": [{\"type\": \"json_schema\", \"json_schema\": {\"type\": "
            "\"object\", \"not\": {}}}]}"),
         "format.elements[0]: json schema: "},
        {ST("{\"type\": \"regex\", \"pattern\": \"(a\"}"), "format: regex: "},
        {ST("{\"type\": \"grammar\", \"grammar\": \"x ::= \\\"a\\\"\"}"), "format: gbnf: no 'root' rule"},
        {ST("{\"type\": \"triggered_tags\", \"triggers\": [\"<a\"], \"tags\": [{\"type\": \"tag\", \"begin\": \"<b>\", "
            "\"content\": {\"type\": \"any_text\"}, \"end\": \"</b>\"}]}"),
         "format.tags[0]: its begin starts with no trigger"},
        {ST("{\"type\": \"tag\", \"begin\": \"<a>\", \"content\": {\"type\": \"const_string\", \"value\": \"x\"}}"),
         "format: 'end' is required"},
        {ST("{\"type\": \"any_text\", \"max_tokens\": 5}"), "max_tokens"},
        {ST("{\"type\": \"repeat\", \"min\": 3, \"max\": 2, \"content\": {\"type\": \"any_text\"}}"), "min <= max"},
        {ST("{\"type\": \"json_schema\", \"json_schema\": {}, \"style\": \"qwen_xml\"}"), "only the \"json\" style"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *msg = util_compile_error(GRAM_STRUCTURAL_TAG, bad[i][0]);
        CHECK_MSG(strstr(msg, bad[i][1]) != NULL, "%s -> '%s'", bad[i][0], msg);
    }
}

int main(void) {
    RUN(test_primitives);
    RUN(test_composition);
    RUN(test_tags);
    RUN(test_tags_with_separator);
    RUN(test_triggered_tags);
    RUN(test_structures_form);
    RUN(test_gbnf_names_are_scoped);
    RUN(test_masks);
    RUN(test_errors);
    return check_summary();
}
