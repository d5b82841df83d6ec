/* JSON text as grammar rules: bounded whitespace, strings, numbers, any value, objects.
 *
 * Whitespace: between tokens the grammar allows nothing, one space, or a newline followed by up to 20
 * spaces or tabs (as llama.cpp's JSON grammars do). Models write both compact and pretty-printed JSON,
 * so forbidding all whitespace pushes them off their usual distribution, while unbounded whitespace
 * lets a small model emit spaces forever; this bound keeps every gap at 21 bytes at most. Whitespace is
 * allowed after { [ , : and after every value, not before ':' and not around the whole text.
 *
 * Numbers: at most 16 integer digits, 16 fraction digits and a 2-digit exponent (the same reason: a
 * model must not spin on digits); every such text is a valid JSON number. Strings: any UTF-8 character
 * except '"', '\' and controls, or an escape; \u escapes exclude the surrogates D800-DFFF, so every
 * escape is one character of the decoded string (lengths count correctly). */
#include <string.h>

#include "grammar/gram_internal.h"

void gram_json_rules_init(gram_json_rules *j) { *j = (gram_json_rules){-1, -1, -1, -1, -1, -1}; }

/* The rule named name, made by fn on first use (fn may refer to the rule recursively). */
static int32_t lazy_rule(gram_builder *b, int32_t *slot, const char *name,
                         int32_t (*fn)(gram_builder *, gram_json_rules *), gram_json_rules *j) {
    if (*slot < 0) {
        int32_t r = gram_rule_add(b, name, strlen(name));
        if (r < 0) return -1;
        *slot = r;
        gram_rule_define(b, r, fn(b, j));
    }
    return gram_x_ref(b, *slot);
}

static int32_t make_ws(gram_builder *b, gram_json_rules *j) {
    (void)j;
    gram_set s = {{0}};
    gram_set_add(&s, ' ');
    gram_set_add(&s, '\t');
    int32_t indent = gram_x_repeat(b, gram_x_set(b, &s), 0, 20);
    return gram_x_alt(
        b, (int32_t[]){gram_x_empty(b), gram_x_byte(b, ' '), gram_x_seq2(b, gram_x_byte(b, '\n'), indent)}, 3);
}
int32_t gram_json_ws(gram_builder *b, gram_json_rules *j) { return lazy_rule(b, &j->ws, "ws", make_ws, j); }

static int32_t hex(gram_builder *b) {
    gram_set s = {{0}};
    gram_set_add_range(&s, '0', '9');
    gram_set_add_range(&s, 'a', 'f');
    gram_set_add_range(&s, 'A', 'F');
    return gram_x_set(b, &s);
}

/* \uXXXX outside D800-DFFF: first digit not d/D, or d/D then 0-7. */
static int32_t unicode_escape(gram_builder *b) {
    gram_set first = {{0}};
    gram_set_add_range(&first, '0', '9');
    gram_set_add_range(&first, 'a', 'c');
    gram_set_add_range(&first, 'e', 'f');
    gram_set_add_range(&first, 'A', 'C');
    gram_set_add_range(&first, 'E', 'F');
    gram_set d = {{0}};
    gram_set_add(&d, 'd');
    gram_set_add(&d, 'D');
    int32_t not_d = gram_x_seq(b, (int32_t[]){gram_x_set(b, &first), hex(b), hex(b), hex(b)}, 4);
    int32_t with_d = gram_x_seq(b, (int32_t[]){gram_x_set(b, &d), gram_x_range(b, '0', '7'), hex(b), hex(b)}, 4);
    return gram_x_seq2(b, gram_x_str(b, "\\u"), gram_x_alt2(b, not_d, with_d));
}

static int32_t make_string_char(gram_builder *b, gram_json_rules *j) {
    (void)j;
    static const gram_cp_range excluded[] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
    gram_set esc = {{0}};
    for (const char *p = "\"\\/bfnrt"; *p; p++) gram_set_add(&esc, (uint8_t)*p);
    int32_t simple = gram_x_seq2(b, gram_x_byte(b, '\\'), gram_x_set(b, &esc));
    return gram_x_alt(b, (int32_t[]){gram_x_utf8_except(b, excluded, 3), simple, unicode_escape(b)}, 3);
}
int32_t gram_json_string_char(gram_builder *b, gram_json_rules *j) {
    return lazy_rule(b, &j->string_char, "char", make_string_char, j);
}

static int32_t make_string(gram_builder *b, gram_json_rules *j) {
    int32_t q = gram_x_byte(b, '"');
    return gram_x_seq3(b, q, gram_x_repeat(b, gram_json_string_char(b, j), 0, -1), gram_x_byte(b, '"'));
}
int32_t gram_json_string(gram_builder *b, gram_json_rules *j) {
    return lazy_rule(b, &j->string, "string", make_string, j);
}

/* -?(0|[1-9][0-9]{0,15}) */
static int32_t make_integer(gram_builder *b, gram_json_rules *j) {
    (void)j;
    int32_t digits = gram_x_seq2(b, gram_x_range(b, '1', '9'), gram_x_repeat(b, gram_x_range(b, '0', '9'), 0, 15));
    return gram_x_seq2(b, gram_x_opt(b, gram_x_byte(b, '-')), gram_x_alt2(b, gram_x_byte(b, '0'), digits));
}
int32_t gram_json_integer(gram_builder *b, gram_json_rules *j) {
    return lazy_rule(b, &j->integer, "integer", make_integer, j);
}

static int32_t make_number(gram_builder *b, gram_json_rules *j) {
    int32_t frac = gram_x_seq2(b, gram_x_byte(b, '.'), gram_x_repeat(b, gram_x_range(b, '0', '9'), 1, 16));
    gram_set e = {{0}}, sign = {{0}};
    gram_set_add(&e, 'e');
    gram_set_add(&e, 'E');
    gram_set_add(&sign, '+');
    gram_set_add(&sign, '-');
    int32_t exp = gram_x_seq3(b, gram_x_set(b, &e), gram_x_opt(b, gram_x_set(b, &sign)),
                              gram_x_repeat(b, gram_x_range(b, '0', '9'), 1, 2));
    return gram_x_seq3(b, gram_json_integer(b, j), gram_x_opt(b, frac), gram_x_opt(b, exp));
}
int32_t gram_json_number(gram_builder *b, gram_json_rules *j) {
    return lazy_rule(b, &j->number, "number", make_number, j);
}

int32_t gram_json_object_of(gram_builder *b, gram_json_rules *j, int32_t value) {
    if (value == -1) value = gram_json_value(b, j);
    int32_t member = gram_x_seq(
        b, (int32_t[]){gram_json_string(b, j), gram_x_byte(b, ':'), gram_json_ws(b, j), value, gram_json_ws(b, j)}, 5);
    int32_t more = gram_x_repeat(b, gram_x_seq3(b, gram_x_byte(b, ','), gram_json_ws(b, j), member), 0, -1);
    int32_t members = gram_x_opt(b, gram_x_seq2(b, member, more));
    return gram_x_seq(b, (int32_t[]){gram_x_byte(b, '{'), gram_json_ws(b, j), members, gram_x_byte(b, '}')}, 4);
}

static int32_t make_value(gram_builder *b, gram_json_rules *j) {
    int32_t value = gram_x_ref(b, j->value);
    int32_t item = gram_x_seq2(b, value, gram_json_ws(b, j));
    int32_t more = gram_x_repeat(b, gram_x_seq3(b, gram_x_byte(b, ','), gram_json_ws(b, j), item), 0, -1);
    int32_t array = gram_x_seq(b,
                               (int32_t[]){gram_x_byte(b, '['), gram_json_ws(b, j),
                                           gram_x_opt(b, gram_x_seq2(b, item, more)), gram_x_byte(b, ']')},
                               4);
    int32_t alts[] = {gram_json_object_of(b, j, value),
                      array,
                      gram_json_string(b, j),
                      gram_json_number(b, j),
                      gram_x_str(b, "true"),
                      gram_x_str(b, "false"),
                      gram_x_str(b, "null")};
    return gram_x_alt(b, alts, 7);
}
int32_t gram_json_value(gram_builder *b, gram_json_rules *j) { return lazy_rule(b, &j->value, "value", make_value, j); }

loom_status gram_json_object_compile(gram_builder *b, int32_t *root, loom_error *err) {
    gram_json_rules j;
    gram_json_rules_init(&j);
    int32_t r = gram_rule_add(b, "root", 4);
    gram_rule_define(b, r, gram_json_object_of(b, &j, -1));
    *root = r;
    return b->oom ? loom_fail(err, LOOM_ERR_NO_MEMORY, "json_object: out of memory") : LOOM_OK;
}
