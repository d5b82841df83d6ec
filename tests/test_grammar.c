/* The grammar engine (src/grammar/): regex, GBNF and choice compilers on examples (accepted and
 * rejected strings), error messages, the matcher (rollback, accepting, termination, EOS) and masks
 * checked against brute force over small vocabularies. JSON Schema: tests/test_grammar_json.c. */
#include <math.h>

#include "grammar_util.h"
#include "sample/token_mask.h"

static void test_regex_basics(void) {
    const char *re = "ab+c?|d{2,3}";
    CHECK(util_match(GRAM_REGEX, re, "ab") == 1);
    CHECK(util_match(GRAM_REGEX, re, "abbbc") == 1);
    CHECK(util_match(GRAM_REGEX, re, "dd") == 1);
    CHECK(util_match(GRAM_REGEX, re, "ddd") == 1);
    CHECK(util_match(GRAM_REGEX, re, "dddd") == 0);
    CHECK(util_match(GRAM_REGEX, re, "a") == 0);
    CHECK(util_match(GRAM_REGEX, re, "abcc") == 0);
    CHECK(util_match(GRAM_REGEX, re, "") == 0);
    CHECK(util_match(GRAM_REGEX, "x*", "") == 1);
    CHECK(util_match(GRAM_REGEX, "", "") == 1); /* fuzz regression: a grammar without byte classes */
    CHECK(util_match(GRAM_REGEX, "", "a") == 0);
    CHECK(util_match(GRAM_REGEX, "^(?:foo|ba[rz])+$", "foobazbar") == 1);
    CHECK(util_match(GRAM_REGEX, "^(?:foo|ba[rz])+$", "foobaq") == 0);
    CHECK(util_match(GRAM_REGEX, "(?<year>\\d{4})-(?P<m>\\d\\d)", "2024-05") == 1);
    CHECK(util_match(GRAM_REGEX, "a{2}", "aa") == 1);
    CHECK(util_match(GRAM_REGEX, "a{2}", "aaa") == 0);
    CHECK(util_match(GRAM_REGEX, "a{2,}", "aaaaaa") == 1);
    CHECK(util_match(GRAM_REGEX, "a{,2}", "a{,2}") == 1); /* not a quantifier: literal braces */
    CHECK(util_match(GRAM_REGEX, "a+?b*?", "aab") == 1);  /* lazy quantifiers: same language */
}

static void test_regex_classes(void) {
    CHECK(util_match(GRAM_REGEX, "[a-c0-2_]+", "ab2_c") == 1);
    CHECK(util_match(GRAM_REGEX, "[a-c0-2_]+", "abd") == 0);
    CHECK(util_match(GRAM_REGEX, "[^a-c]", "d") == 1);
    CHECK(util_match(GRAM_REGEX, "[^a-c]", "b") == 0);
    CHECK(util_match(GRAM_REGEX, "[^a-c]", "\xC3\xA9") == 1); /* é: negated classes include non-ASCII */
    CHECK(util_match(GRAM_REGEX, "[^a-c]", "\n") == 1);
    CHECK(util_match(GRAM_REGEX, ".", "\n") == 0);
    CHECK(util_match(GRAM_REGEX, ".", "\xE2\x82\xAC") == 1); /* € */
    CHECK(util_match(GRAM_REGEX, ".", "\xE2\x82") == 0);     /* half a character */
    CHECK(util_match(GRAM_REGEX, ".", "\xFF") == 0);
    CHECK(util_match(GRAM_REGEX, "\\d\\w\\s", "7z ") == 1);
    CHECK(util_match(GRAM_REGEX, "\\D\\W\\S", "a!x") == 1);
    CHECK(util_match(GRAM_REGEX, "\\S", "\x1f") == 0); /* space to Python's re, not to ECMA's: left out */
    CHECK(util_match(GRAM_REGEX, "\\S", "\x1b") == 1);
    CHECK(util_match(GRAM_REGEX, "\\D", "5") == 0);
    CHECK(util_match(GRAM_REGEX, "[\\d.]+", "3.14") == 1);
    CHECK(util_match(GRAM_REGEX, "[é-ê]", "\xC3\xAA") == 1);
    CHECK(util_match(GRAM_REGEX, "[é-ê]", "\xC3\xAB") == 0);
    CHECK(util_match(GRAM_REGEX, "\\u00e9\\x41\\.\\u{1F600}",
                     "\xC3\xA9"
                     "A."
                     "\xF0\x9F\x98\x80") == 1);
    CHECK(util_match(GRAM_REGEX, "[\\u0800-\\uFFFF]", "\xE0\xA0\x80") == 1);
    CHECK(util_match(GRAM_REGEX, "[\\u0800-\\uFFFF]", "\xED\xA0\x80") == 0); /* a surrogate is no character */
    CHECK(util_match(GRAM_REGEX, "[\\u0800-\\uFFFF]", "\xEF\xBF\xBF") == 1);
    CHECK(util_match(GRAM_REGEX, "[]a]", "]") == 1);
}

/* Every code point range, encoded as UTF-8, against a direct check of each code point. */
static void test_regex_utf8_ranges(void) {
    static const uint32_t cases[][2] = {{0x61, 0x7A},      {0x7F, 0x81},        {0x700, 0x900},  {0xD000, 0xE100},
                                        {0xFFF0, 0x10010}, {0x10000, 0x10FFFF}, {0x123, 0x45678}};
    gram_vocab *v = util_byte_vocab();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char re[64];
        snprintf(re, sizeof re, "[\\u{%X}-\\u{%X}]", (unsigned)cases[c][0], (unsigned)cases[c][1]);
        gram_matcher *m = util_matcher(GRAM_REGEX, re, v);
        CHECK(m != NULL);
        if (!m) continue;
        int wrong = 0;
        for (uint32_t cp = 0; cp <= 0x10FFFF; cp += cp < 0x11000 ? 1 : 97) {
            if (cp >= 0xD800 && cp <= 0xDFFF) continue;
            char buf[4];
            size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (n == 1) buf[0] = (char)cp;
            else if (n == 2) buf[0] = (char)(0xC0 | (cp >> 6)), buf[1] = (char)(0x80 | (cp & 0x3F));
            else if (n == 3)
                buf[0] = (char)(0xE0 | (cp >> 12)), buf[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
                buf[2] = (char)(0x80 | (cp & 0x3F));
            else
                buf[0] = (char)(0xF0 | (cp >> 18)), buf[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
                buf[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), buf[3] = (char)(0x80 | (cp & 0x3F));
            loom_error err;
            int ok = gram_matcher_accept_bytes(m, buf, n, &err) == 1 && gram_matcher_is_accepting(m);
            if (gram_matcher_history(m)) gram_matcher_rollback(m, 1);
            int want = cp >= cases[c][0] && cp <= cases[c][1];
            if (ok != want && wrong++ < 3) fprintf(stderr, "  %s: U+%X gives %d\n", re, (unsigned)cp, ok);
        }
        CHECK(wrong == 0);
        gram_matcher_free(m);
    }
    gram_vocab_free(v);
}

static void test_regex_errors(void) {
    static const char *bad[][2] = {
        {"a(b", "missing )"},         {"a)b", "unbalanced )"},
        {"(?=a)", "lookaround"},      {"\\bfoo", "word boundaries"},
        {"(a)\\1", "backreferences"}, {"[a-", "unterminated"},
        {"*a", "quantifier"},         {"a{3,1}", "n < m"},
        {"a^b", "anchors"},           {"\\p{L}", "Unicode properties"},
        {"[z-a]", "out of order"},    {"\\q", "unknown escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *msg = util_compile_error(GRAM_REGEX, bad[i][0]);
        CHECK_MSG(strstr(msg, bad[i][1]) != NULL, "%s -> '%s'", bad[i][0], msg);
    }
}

static void test_choice(void) {
    const char *spec = "[\"yes\", \"no\", \"not sure\", \"n\\u00e9\"]";
    CHECK(util_match(GRAM_CHOICE, spec, "yes") == 1);
    CHECK(util_match(GRAM_CHOICE, spec, "no") == 1);
    CHECK(util_match(GRAM_CHOICE, spec, "not sure") == 1);
    CHECK(util_match(GRAM_CHOICE, spec, "n\xC3\xA9") == 1);
    CHECK(util_match(GRAM_CHOICE, spec, "not") == 0);
    CHECK(util_match(GRAM_CHOICE, spec, "yesno") == 0);
    CHECK(strstr(util_compile_error(GRAM_CHOICE, "[1]"), "not a string") != NULL);
    CHECK(strstr(util_compile_error(GRAM_CHOICE, "{}"), "non-empty JSON array") != NULL);
}

static void test_matcher_rollback_and_eos(void) {
    const char *extra[] = {"ab", "abc", "c", "cab"};
    gram_vocab *v = util_vocab(extra, 4);
    int32_t eos = gram_vocab_size(v) - 1, ab = 256, abc = 257, c = 258, cab = 259;
    gram_matcher *m = util_matcher(GRAM_REGEX, "(ab|c)+", v);
    loom_error err;
    CHECK(!gram_matcher_is_accepting(m));
    CHECK(gram_matcher_accept_token(m, eos, &err) == 0); /* nothing yet: EOS not allowed */
    CHECK(gram_matcher_accept_token(m, 'b', &err) == 0);
    CHECK(gram_matcher_accept_token(m, ab, &err) == 1);
    CHECK(gram_matcher_is_accepting(m));
    CHECK(gram_matcher_accept_token(m, abc, &err) == 1);
    CHECK(gram_matcher_accept_token(m, 'a', &err) == 1);
    CHECK(!gram_matcher_is_accepting(m)); /* "ababca" needs a 'b' */
    CHECK(gram_matcher_history(m) == 3);
    gram_matcher_rollback(m, 2);
    CHECK(gram_matcher_history(m) == 1 && gram_matcher_is_accepting(m));
    CHECK(gram_matcher_accept_token(m, cab, &err) == 1);
    CHECK(gram_matcher_accept_token(m, c, &err) == 1);
    CHECK(gram_matcher_accept_token(m, eos, &err) == 1);
    CHECK(gram_matcher_is_terminated(m));
    CHECK(gram_matcher_accept_token(m, c, &err) == 0); /* after EOS nothing */
    gram_matcher_rollback(m, 1);
    CHECK(gram_matcher_accept_token(m, c, &err) == 1);
    gram_matcher_free(m);
    gram_vocab_free(v);
}

static void test_terminated(void) {
    gram_vocab *v = util_byte_vocab();
    gram_matcher *m = util_matcher(GRAM_CHOICE, "[\"ab\", \"abc\"]", v);
    loom_error err;
    CHECK(gram_matcher_accept_bytes(m, "ab", 2, &err) == 1);
    CHECK(gram_matcher_is_accepting(m) && !gram_matcher_is_terminated(m));
    CHECK(gram_matcher_accept_bytes(m, "c", 1, &err) == 1);
    CHECK(gram_matcher_is_accepting(m) && gram_matcher_is_terminated(m));
    /* only EOS is left in the mask */
    const uint64_t *mask = gram_matcher_mask(m, &err);
    int32_t eos = gram_vocab_size(v) - 1, n_allowed = 0;
    for (int32_t t = 0; t < gram_vocab_size(v); t++) n_allowed += (int)((mask[t >> 6] >> (t & 63)) & 1);
    CHECK(n_allowed == 1 && ((mask[eos >> 6] >> (eos & 63)) & 1));
    gram_matcher_free(m);
    gram_vocab_free(v);
}

/* Masks against brute force along a path through the grammar, over a vocabulary with multi-byte tokens
 * that cross rule boundaries, UTF-8 fragments and a special token. */
static void test_masks_brute_force(void) {
    const char *extra[] = {"ab",
                           "abc",
                           "bca",
                           "cab",
                           "\xC3",
                           "\xA9",
                           "\xC3\xA9",
                           "\xC3\xA9"
                           "a",
                           "aaaa",
                           "a\"",
                           "1",
                           "12",
                           "123",
                           "-1",
                           ".5",
                           "e+",
                           "\",",
                           "\"}",
                           "{\"",
                           "\":",
                           "true",
                           "tru",
                           "null}",
                           " {",
                           ""};
    gram_vocab *v = util_vocab(extra, (int32_t)(sizeof extra / sizeof *extra));
    static const char *cases[][2] = {
        {"(ab|c)+", "abcab"},
        {"[a-c]*\xC3\xA9?[0-9]+",
         "abc\xC3\xA9"
         "12"},
        {"a{2,5}b", "aaaab"},
        {"-?[0-9]+(\\.[0-9]+)?(e[+-]?[0-9]+)?", "-12.5e+3"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        gram_matcher *m = util_matcher(GRAM_REGEX, cases[c][0], v);
        CHECK(m != NULL);
        if (!m) continue;
        const char *path = cases[c][1];
        loom_error err;
        for (size_t i = 0;; i++) {
            CHECK(util_check_mask(m, v) > 0);
            if (!path[i]) break;
            CHECK(gram_matcher_accept_bytes(m, path + i, 1, &err) == 1);
        }
        CHECK(gram_matcher_is_accepting(m));
        gram_matcher_free(m);
    }
    gram_vocab_free(v);
}

static void test_gbnf(void) {
    const char *g = "# a list of items\n"
                    "root ::= \"[\" ws ( item (\",\" ws item)* )? \"]\"\n"
                    "item ::= ident | str | num   # three kinds\n"
                    "ident ::= [a-zA-Z_] [a-zA-Z0-9_-]{0,7}\n"
                    "str ::= \"\\\"\" ( [^\"\\\\\\x00-\\x1f] | \"\\\\\" [nt\"] )* \"\\\"\"\n"
                    "num ::= \"-\"? [0-9]+ (\n"
                    "    \".\" [0-9]+\n"
                    "  )?\n"
                    "ws ::= [ \\t\\n]?\n";
    CHECK(util_match(GRAM_GBNF, g, "[]") == 1);
    CHECK(util_match(GRAM_GBNF, g, "[abc, \"x\\ny\", -1.5,zz_9]") == 1);
    CHECK(util_match(GRAM_GBNF, g, "[abcdefghi]") == 0); /* identifier too long */
    CHECK(util_match(GRAM_GBNF, g, "[1.]") == 0);
    CHECK(util_match(GRAM_GBNF, g, "[\"a\\q\"]") == 0);
    CHECK(util_match(GRAM_GBNF, "root ::= \"\\u00e9\" . [^a] \"\\x41\"{2}\n",
                     "\xC3\xA9"
                     "\xE2\x82\xAC"
                     "\xC3\xBF"
                     "AA") == 1);
    CHECK(util_match(GRAM_GBNF, "root ::= (\"a\" | \"b\")+ \"c\"?", "abbac") == 1);
    CHECK(util_match(GRAM_GBNF, "root ::= x*\nx ::= \"ab\" | \"\"", "ababab") == 1); /* nullable star */
    CHECK(util_match(GRAM_GBNF, "root ::= \"(\" root \")\" | \"\"", "((()))") == 1); /* recursion */
    CHECK(util_match(GRAM_GBNF, "root ::= \"(\" root \")\" | \"\"", "(()") == 0);
}

static void test_gbnf_errors(void) {
    static const char *bad[][2] = {
        {"root ::= foo", "rule 'foo' is not defined"},
        {"x ::= \"a\"", "no 'root' rule"},
        {"root ::= root \"a\" | \"b\"", "left-recursive"},
        {"root ::= a\na ::= b? a \"x\" | \"y\"\nb ::= \"\"", "left-recursive"},
        {"root ::= \"a\"\nroot ::= \"b\"", "defined twice"},
        {"root ::= \"abc", "unterminated string"},
        {"root ::= [abc", "unterminated character class"},
        {"root ::= (\"a\"", "expected ')'"},
        {"root ::= \"a\" )", "unbalanced ')'"},
        {"root ::= <[12]>", "token references"},
        {"root = \"a\"", "expected '::='"},
        {"root ::= \"a\"{2,1}", "n < m"},
        {"root ::= \"\\q\"", "unknown escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *msg = util_compile_error(GRAM_GBNF, bad[i][0]);
        CHECK_MSG(strstr(msg, bad[i][1]) != NULL, "%s -> '%s'", bad[i][0], msg);
    }
}

/* The mask on a logits row (src/sample/token_mask.c) against the per-bit definition: densities from
 * empty to full, a row length off the 64 grid, in place and out of place. */
static void test_apply_token_mask(void) {
    enum { N = 64 * 9 + 37 };
    static const double density[] = {0.0, 0.02, 0.3, 0.5, 0.7, 0.98, 1.0};
    uint64_t rng = 12345;
    for (size_t d = 0; d < sizeof density / sizeof *density; d++) {
        uint64_t mask[(N + 63) / 64] = {0};
        float logits[N], out[N], inplace[N];
        for (int i = 0; i < N; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            if ((double)(rng >> 11) / 9007199254740992.0 < density[d]) mask[i >> 6] |= 1ull << (i & 63);
            logits[i] = inplace[i] = (float)i * 0.5f - 100.0f;
        }
        sample_apply_token_mask(logits, mask, N, out);
        sample_apply_token_mask(inplace, mask, N, inplace);
        int wrong = 0;
        for (int i = 0; i < N; i++) {
            float want = (mask[i >> 6] >> (i & 63)) & 1 ? logits[i] : -INFINITY;
            wrong += out[i] != want || inplace[i] != want;
        }
        CHECK_MSG(wrong == 0, "density %g: %d wrong", density[d], wrong);
    }
}

int main(void) {
    RUN(test_apply_token_mask);
    RUN(test_gbnf);
    RUN(test_gbnf_errors);
    RUN(test_regex_basics);
    RUN(test_regex_classes);
    RUN(test_regex_utf8_ranges);
    RUN(test_regex_errors);
    RUN(test_choice);
    RUN(test_matcher_rollback_and_eos);
    RUN(test_terminated);
    RUN(test_masks_brute_force);
    return check_summary();
}
