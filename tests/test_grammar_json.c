/* The JSON Schema and json_object compilers (src/grammar/json_*.c): accepted and rejected documents
 * per keyword, exact number ranges checked against every integer of a window, errors naming the
 * unsupported keyword, and masks against brute force along a real document. The random property
 * test against Python's jsonschema is tests/test_grammar_property.py. */
#include "grammar_util.h"

#define S GRAM_JSON_SCHEMA

static void test_types(void) {
    CHECK(util_match(S, "{\"type\": \"null\"}", "null") == 1);
    CHECK(util_match(S, "{\"type\": \"boolean\"}", "false") == 1);
    CHECK(util_match(S, "{\"type\": \"boolean\"}", "null") == 0);
    CHECK(util_match(S, "{\"type\": \"integer\"}", "-120") == 1);
    CHECK(util_match(S, "{\"type\": \"integer\"}", "012") == 0);
    CHECK(util_match(S, "{\"type\": \"integer\"}", "1.5") == 0);
    CHECK(util_match(S, "{\"type\": \"number\"}", "-0.25e+10") == 1);
    CHECK(util_match(S, "{\"type\": \"number\"}", "1.") == 0);
    CHECK(util_match(S, "{\"type\": \"string\"}", "\"a\\\"b\\\\c\\u00e9\\n\xE2\x82\xAC\"") == 1);
    CHECK(util_match(S, "{\"type\": \"string\"}", "\"a\nb\"") == 0);    /* raw control character */
    CHECK(util_match(S, "{\"type\": \"string\"}", "\"\\ud800\"") == 0); /* lone surrogate escape */
    CHECK(util_match(S, "{\"type\": \"string\"}", "\"\\x\"") == 0);
    CHECK(util_match(S, "{\"type\": [\"string\", \"null\"]}", "null") == 1);
    CHECK(util_match(S, "{\"type\": \"string\", \"nullable\": true}", "null") == 1);
    CHECK(util_match(S, "{}", "[1, {\"a\": [true, null]}, \"x\"]") == 1);
    CHECK(util_match(S, "true", "{\"k\": 2.5}") == 1);
    CHECK(util_match(S, "{\"type\": \"integer\"}", "12345678901234567") == 0); /* 17 digits: bounded */
}

static void test_whitespace(void) {
    const char *s =
        "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, \"b\": {\"type\": \"array\"}}}";
    CHECK(util_match(S, s, "{\"a\":1,\"b\":[]}") == 1);
    CHECK(util_match(S, s, "{\n  \"a\": 1,\n  \"b\": [ 1, 2 ]\n}") == 1);
    CHECK(util_match(S, s, "{\"a\" : 1}") == 0);                      /* no space before ':' */
    CHECK(util_match(S, s, "{\"a\":  1}") == 0);                      /* one space at most, or a newline and indent */
    CHECK(util_match(S, s, " {\"a\":1}") == 0);                       /* nothing around the document */
    CHECK(util_match(S, s, "{\n                     \"a\":1}") == 0); /* indent of 21 > 20 */
}

static void test_objects(void) {
    const char *s =
        "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\"}, "
        "\"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}}, \"required\": [\"name\", \"tags\"]}";
    CHECK(util_match(S, s, "{\"name\": \"x\", \"age\": 3, \"tags\": []}") == 1);
    CHECK(util_match(S, s, "{\"name\": \"x\", \"tags\": [\"a\", \"b\"]}") == 1);
    CHECK(util_match(S, s, "{\"name\": \"x\"}") == 0);                           /* tags required */
    CHECK(util_match(S, s, "{\"age\": 3, \"name\": \"x\", \"tags\": []}") == 0); /* schema order */
    CHECK(util_match(S, s, "{\"name\": \"x\", \"tags\": [], \"z\": 1}") == 0);   /* no additional by default */
    const char *opt = "{\"properties\": {\"a\": {\"const\": 1}, \"b\": {\"const\": 2}, \"c\": {\"const\": 3}}}";
    CHECK(util_match(S, opt, "{}") == 1);
    CHECK(util_match(S, opt, "{\"b\": 2}") == 1);
    CHECK(util_match(S, opt, "{\"a\": 1, \"c\": 3}") == 1);
    CHECK(util_match(S, opt, "{\"a\": 1,}") == 0);
    CHECK(util_match(S, opt, "{, \"b\": 2}") == 0);
    const char *addl = "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}}, "
                       "\"additionalProperties\": {\"type\": \"boolean\"}}";
    CHECK(util_match(S, addl, "{\"id\": 1, \"x\": true, \"idx\": false, \"i\": true, \"\": false}") == 1);
    CHECK(util_match(S, addl, "{\"id\": 1, \"id\": true}") == 0); /* an extra key never repeats a declared one */
    CHECK(util_match(S, addl, "{\"x\": 5}") == 0);
    CHECK(util_match(S, addl, "{\"a\\\"b\": true}") == 0); /* extra keys are written without escapes */
    CHECK(util_match(S, "{\"type\": \"object\"}", "{\"any\": [1, {\"x\": null}]}") == 1);
    CHECK(util_match(S, "{\"type\": \"object\", \"additionalProperties\": false}", "{}") == 1);
    CHECK(util_match(S, "{\"type\": \"object\", \"additionalProperties\": false}", "{\"a\": 1}") == 0);
    CHECK(util_match(S, "{\"required\": [\"k\"]}", "{\"k\": [1]}") == 1);
    CHECK(util_match(S, "{\"required\": [\"k\"]}", "{}") == 0);
    CHECK(util_match(GRAM_JSON_OBJECT, "", "{\"a\": {\"b\": [1, 2.5, \"c\"]}, \"d\": null}") == 1);
    CHECK(util_match(GRAM_JSON_OBJECT, "", "[1]") == 0);
}

static void test_arrays(void) {
    const char *s = "{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 2, \"maxItems\": 3}";
    CHECK(util_match(S, s, "[1, 2]") == 1);
    CHECK(util_match(S, s, "[1,2,3]") == 1);
    CHECK(util_match(S, s, "[1]") == 0);
    CHECK(util_match(S, s, "[1, 2, 3, 4]") == 0);
    CHECK(util_match(S, s, "[1, \"a\"]") == 0);
    const char *t = "{\"prefixItems\": [{\"type\": \"string\"}, {\"type\": \"integer\"}], \"items\": false}";
    CHECK(util_match(S, t, "[]") == 1);
    CHECK(util_match(S, t, "[\"a\"]") == 1);
    CHECK(util_match(S, t, "[\"a\", 1]") == 1);
    CHECK(util_match(S, t, "[\"a\", 1, 2]") == 0);
    CHECK(util_match(S, t, "[1]") == 0);
    const char *u = "{\"prefixItems\": [{\"const\": \"x\"}], \"items\": {\"type\": \"null\"}, \"minItems\": 2}";
    CHECK(util_match(S, u, "[\"x\", null, null]") == 1);
    CHECK(util_match(S, u, "[\"x\"]") == 0);
    const char *old = "{\"items\": [{\"type\": \"boolean\"}], \"additionalItems\": {\"type\": \"integer\"}}";
    CHECK(util_match(S, old, "[true, 1, 2]") == 1);
    CHECK(util_match(S, old, "[true, false]") == 0);
}

static void test_enum_const_anyof(void) {
    const char *e = "{\"enum\": [\"red\", 2, null, {\"a\": [1]}, 1.5]}";
    CHECK(util_match(S, e, "\"red\"") == 1);
    CHECK(util_match(S, e, "2") == 1);
    CHECK(util_match(S, e, "{\"a\":[1]}") == 1);
    CHECK(util_match(S, e, "1.5") == 1);
    CHECK(util_match(S, e, "\"blue\"") == 0);
    CHECK(util_match(S, "{\"type\": \"string\", \"enum\": [\"a\", 1]}", "1") == 0); /* filtered by type */
    CHECK(util_match(S, "{\"const\": \"caf\\u00e9\"}", "\"caf\xC3\xA9\"") == 1);
    const char *a = "{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"string\", \"maxLength\": 2}]}";
    CHECK(util_match(S, a, "12") == 1);
    CHECK(util_match(S, a, "\"ab\"") == 1);
    CHECK(util_match(S, a, "\"abc\"") == 0);
    const char *o =
        "{\"type\": \"object\", \"oneOf\": [{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]},"
        " {\"properties\": {\"b\": {\"type\": \"string\"}}, \"required\": [\"b\"]}]}";
    CHECK(util_match(S, o, "{\"a\": 1}") == 1);
    CHECK(util_match(S, o, "{\"b\": \"x\"}") == 1);
    CHECK(util_match(S, o, "{\"a\": \"x\"}") == 0);
}

static void test_allof_and_refs(void) {
    const char *all =
        "{\"allOf\": [{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": [\"a\"]},"
        " {\"properties\": {\"a\": {\"minimum\": 5}, \"b\": {\"type\": \"string\"}}, \"required\": [\"b\"]}]}";
    CHECK(util_match(S, all, "{\"a\": 7, \"b\": \"x\"}") == 1);
    CHECK(util_match(S, all, "{\"a\": 4, \"b\": \"x\"}") == 0);
    CHECK(util_match(S, all, "{\"a\": 7}") == 0);
    const char *tree =
        "{\"$defs\": {\"node\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": \"integer\"}, "
        "\"kids\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/node\"}}}, \"required\": [\"v\"]}}, "
        "\"$ref\": \"#/$defs/node\"}";
    CHECK(util_match(S, tree, "{\"v\": 1, \"kids\": [{\"v\": 2}, {\"v\": 3, \"kids\": [{\"v\": 4, \"kids\": []}]}]}") ==
          1);
    CHECK(util_match(S, tree, "{\"v\": 1, \"kids\": [{\"kids\": []}]}") == 0);
    const char *root_ref =
        "{\"type\": \"array\", \"items\": {\"anyOf\": [{\"type\": \"integer\"}, {\"$ref\": \"#\"}]}}";
    CHECK(util_match(S, root_ref, "[1, [2, [[]]]]") == 1);
    CHECK(util_match(S, root_ref, "[1, [\"x\"]]") == 0);
    const char *sib =
        "{\"definitions\": {\"s\": {\"type\": \"string\"}}, \"$ref\": \"#/definitions/s\", \"maxLength\": 1}";
    CHECK(util_match(S, sib, "\"a\"") == 1);
    CHECK(util_match(S, sib, "\"ab\"") == 0);
    /* a branch that can never finish is dropped, the rest stays */
    CHECK(util_match(S, "{\"anyOf\": [{\"$ref\": \"#/anyOf/0\"}, {\"type\": \"null\"}]}", "null") == 1);
}

static void test_strings(void) {
    CHECK(util_match(S, "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"\\u00e9\\n\"") == 1);
    CHECK(util_match(S, "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"\xC3\xA9\xC3\xA9\xC3\xA9\"") ==
          1);
    CHECK(util_match(S, "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"abcd\"") == 0);
    CHECK(util_match(S, "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"a\"") == 0);
    const char *p = "{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d+$\"}";
    CHECK(util_match(S, p, "\"AB-12\"") == 1);
    CHECK(util_match(S, p, "\"AB-\"") == 0);
    const char *search = "{\"type\": \"string\", \"pattern\": \"ab\"}"; /* unanchored: anywhere */
    CHECK(util_match(S, search, "\"xxaby\\\"\"") == 1);
    CHECK(util_match(S, search, "\"xxa\"") == 0);
    const char *quote = "{\"type\": \"string\", \"pattern\": \"^a\\\"\\\\\\\\\\n$\"}"; /* a " \ newline, JSON-escaped */
    CHECK(util_match(S, quote, "\"a\\\"\\\\\\n\"") == 1);
    CHECK(util_match(S, "{\"format\": \"date\"}", "\"2024-02-28\"") == 1);
    CHECK(util_match(S, "{\"format\": \"date\"}", "\"2024-02-30\"") == 0);
    CHECK(util_match(S, "{\"format\": \"date\"}", "\"2024-04-31\"") == 0);
    CHECK(util_match(S, "{\"format\": \"date-time\"}", "\"2024-12-31T23:59:59.123Z\"") == 1);
    CHECK(util_match(S, "{\"format\": \"time\"}", "\"24:00:00Z\"") == 0);
    CHECK(util_match(S, "{\"format\": \"uuid\"}", "\"123e4567-e89b-12d3-a456-426614174000\"") == 1);
    CHECK(util_match(S, "{\"format\": \"email\"}", "\"a.b+c@ex-ample.co\"") == 1);
    CHECK(util_match(S, "{\"format\": \"email\"}", "\"a@b\"") == 0);
    CHECK(util_match(S, "{\"format\": \"ipv4\"}", "\"192.168.0.255\"") == 1);
    CHECK(util_match(S, "{\"format\": \"ipv4\"}", "\"256.1.1.1\"") == 0);
}

/* Every integer in a window against the bounds, for several bound combinations. */
static void test_integer_ranges(void) {
    static const struct {
        const char *kw;
        long long lo, hi;
    } cases[] = {
        {"\"minimum\": -37, \"maximum\": 1234", -37, 1234},
        {"\"exclusiveMinimum\": 9, \"exclusiveMaximum\": 101", 10, 100},
        {"\"minimum\": 95", 95, 1000000},
        {"\"maximum\": -5", -1000000, -5},
        {"\"minimum\": 0.5, \"maximum\": 20.5", 1, 20},
        {"\"minimum\": -1000, \"maximum\": -999", -1000, -999},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char schema[160];
        snprintf(schema, sizeof schema, "{\"type\": \"integer\", %s}", cases[c].kw);
        int wrong = 0;
        for (long long v = -1100; v <= 1300 && !wrong; v++) {
            char text[32];
            snprintf(text, sizeof text, "%lld", v);
            int want = v >= cases[c].lo && v <= cases[c].hi;
            if (util_match(S, schema, text) != want) {
                wrong = 1;
                fprintf(stderr, "  %s: %lld\n", schema, v);
            }
        }
        CHECK(!wrong);
    }
}

static void test_number_ranges(void) {
    const char *s = "{\"type\": \"number\", \"exclusiveMinimum\": 0, \"maximum\": 10}";
    static const char *yes[] = {"0.5", "10", "10.000", "9.99", "1", "0.001"};
    static const char *no[] = {"0", "0.0", "-1", "10.01", "11", "-0.5"};
    for (size_t i = 0; i < 6; i++) CHECK_MSG(util_match(S, s, yes[i]) == 1, "%s", yes[i]);
    for (size_t i = 0; i < 6; i++) CHECK_MSG(util_match(S, s, no[i]) == 0, "%s", no[i]);
    const char *neg = "{\"type\": \"number\", \"minimum\": -2, \"exclusiveMaximum\": -1}";
    CHECK(util_match(S, neg, "-2") == 1);
    CHECK(util_match(S, neg, "-1.5") == 1);
    CHECK(util_match(S, neg, "-2.5") == 0);
    CHECK(util_match(S, neg, "-1") == 0);
    CHECK(util_match(S, neg, "-1.0") == 0);
    CHECK(strstr(util_compile_error(S, "{\"type\": \"number\", \"minimum\": 0.5}"), "integer bounds") != NULL);
}

static void test_errors(void) {
    static const char *bad[][2] = {
        {"{\"type\": \"object\", \"patternProperties\": {}}", "unsupported keyword \"patternProperties\" at #"},
        {"{\"properties\": {\"a\": {\"type\": \"integer\", \"multipleOf\": 2}}}", "\"multipleOf\" at #/properties/a"},
        {"{\"not\": {}}", "\"not\""},
        {"{\"type\": \"array\", \"uniqueItems\": true}", "uniqueItems"},
        {"{\"$ref\": \"#/$defs/missing\"}", "points at nothing"},
        {"{\"$ref\": \"other.json#/a\"}", "only local $ref"},
        {"{\"type\": \"string\", \"format\": \"color\"}", "format \"color\""},
        {"{\"type\": \"strin\"}", "unknown type"},
        {"{\"allOf\": [{\"type\": \"string\"}, {\"type\": \"integer\"}]}", "do not intersect"},
        {"{\"allOf\": [{\"pattern\": \"a\"}, {\"pattern\": \"b\"}]}", "\"pattern\""},
        {"{\"$ref\": \"#\"}", "matches no text"},
        {"{\"enum\": []}", "matches no text"},
        {"{\"type\": \"array\", \"items\": {\"$ref\": \"#/items\"}, \"minItems\": 1}", "matches no text"},
        {"{\"type\": \"string\", \"pattern\": \"(?=x)\"}", "lookaround"},
        {"{\"type\": ", "not valid JSON"},
        {"{\"required\": [\"a\"], \"additionalProperties\": false}", "required property \"a\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *msg = util_compile_error(S, bad[i][0]);
        CHECK_MSG(strstr(msg, bad[i][1]) != NULL, "%s -> '%s'", bad[i][0], msg);
    }
}

/* Masks along a document, over a vocabulary with JSON-ish multi-byte tokens. */
static void test_masks_along_document(void) {
    const char *extra[] = {"{\"",   "\":",  "\": ", "\",",   "\"}",  "\"]",      "},",  "}}", "[{",
                           "\": [", "name", "age",  "true",  "null", "12",       "345", ".5", "e-",
                           " \"",   ",\n",  "\n  ", "\\u00", "\\n",  "\xC3\xA9", "\xC3"};
    gram_vocab *v = util_vocab(extra, (int32_t)(sizeof extra / sizeof *extra));
    const char *schema =
        "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 8}, "
        "\"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 150}, \"ok\": {\"type\": \"boolean\"}, "
        "\"list\": {\"type\": \"array\", \"items\": {\"type\": \"number\"}}}, \"required\": [\"name\"]}";
    const char *doc = "{\n  \"name\": \"J\\u00e9\xC3\xA9\",\"age\": 123, \"list\": [1.5e-3, -2]}";
    gram_matcher *m = util_matcher(S, schema, v);
    CHECK(m != NULL);
    loom_error err;
    for (size_t i = 0; m; i++) {
        CHECK(util_check_mask(m, v) > 0);
        if (!doc[i]) break;
        CHECK_MSG(gram_matcher_accept_bytes(m, doc + i, 1, &err) == 1, "at %zu", i);
    }
    CHECK(m && gram_matcher_is_accepting(m));
    gram_matcher_free(m);
    gram_vocab_free(v);
}

int main(void) {
    RUN(test_types);
    RUN(test_whitespace);
    RUN(test_objects);
    RUN(test_arrays);
    RUN(test_enum_const_anyof);
    RUN(test_allof_and_refs);
    RUN(test_strings);
    RUN(test_integer_ranges);
    RUN(test_number_ranges);
    RUN(test_errors);
    RUN(test_masks_along_document);
    return check_summary();
}
