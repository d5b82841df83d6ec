/* Structured outputs through the engine (loom.h) on the real stories260K model (SentencePiece with byte
 * fallback): sampled outputs under a JSON Schema parse and satisfy it, choices and regexes are met,
 * the grammar's end stops the sample, n = 2 samples each follow the grammar, a constraint that does not
 * compile is refused with the compiler's message, and the public loom_grammar_* calls mask logits. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "check.h"
#include "loom.h"

#define MAX_TEXT 4096

typedef struct collected {
    char text[2][MAX_TEXT];
    size_t len[2];
    loom_finish_reason finish[2];
} collected;

static void on_output(const loom_output *out, void *user) {
    collected *c = user;
    int s = out->seq_index;
    size_t n = strlen(out->text_delta);
    if (c->len[s] + n < MAX_TEXT) {
        memcpy(c->text[s] + c->len[s], out->text_delta, n);
        c->len[s] += n;
        c->text[s][c->len[s]] = 0;
    }
    if (out->finish_reason != LOOM_FINISH_NONE) c->finish[s] = out->finish_reason;
}

static loom_model *load_stories(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/models/stories260K/hf", check_shared_dir());
    loom_model_params mp = loom_model_default_params();
    mp.path = path;
    loom_model *m = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_model_load(&mp, &m, &err) == LOOM_OK, "%s", err.message);
    return m;
}

static loom_engine *make_engine(loom_model *m) {
    loom_engine_params p = loom_engine_default_params();
    p.n_threads = 2;
    p.max_model_len = 512;
    loom_engine *e = NULL;
    loom_error err = {0};
    CHECK_MSG(loom_engine_create(m, &p, &e, &err) == LOOM_OK, "%s", err.message);
    return e;
}

/* Adds a sampled request (seed) with the constraint; returns the status. */
static loom_status add(loom_engine *e, loom_model *m, loom_constraint c, uint64_t seed, int32_t n, collected *out,
                       loom_error *err) {
    int32_t *ids = NULL;
    size_t n_ids = 0;
    CHECK(loom_tokenize(m, "Once upon a time", 16, 1, &ids, &n_ids, err) == LOOM_OK);
    loom_request_params rp = loom_request_default_params();
    rp.prompt_ids = ids;
    rp.n_prompt = n_ids;
    rp.sampling.temperature = 1.0f;
    rp.sampling.seed = seed;
    rp.sampling.has_seed = 1;
    rp.max_tokens = 400;
    rp.n = n;
    rp.constraint = c;
    rp.on_output = on_output;
    rp.user = out;
    loom_status st = loom_engine_add_request(e, &rp, NULL, err);
    free(ids);
    return st;
}

static void run_all(loom_engine *e) {
    loom_error err = {0};
    while (loom_engine_has_work(e)) CHECK_MSG(loom_engine_step(e, &err) == LOOM_OK, "%s", err.message);
}

static const char *schema =
    "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 12},"
    " \"age\": {\"type\": \"integer\", \"minimum\": 0, \"maximum\": 99},"
    " \"tags\": {\"type\": \"array\", \"items\": {\"enum\": [\"cat\", \"dog\", \"sun\"]}, \"maxItems\": 3},"
    " \"ok\": {\"type\": \"boolean\"}}, \"required\": [\"name\", \"age\", \"tags\", \"ok\"], \"additionalProperties\": "
    "false}";

/* The text satisfies the schema above (checked independently of the grammar, with jansson). */
static int satisfies(const char *text) {
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    int ok = json_is_object(v) && json_object_size(v) == 4;
    json_t *name = json_object_get(v, "name"), *age = json_object_get(v, "age"), *tags = json_object_get(v, "tags");
    ok = ok && json_is_string(name) && json_is_integer(age) && json_integer_value(age) >= 0 &&
        json_integer_value(age) <= 99;
    ok = ok && json_is_boolean(json_object_get(v, "ok")) && json_is_array(tags) && json_array_size(tags) <= 3;
    if (ok) { /* at most 12 code points */
        size_t cps = 0;
        for (const char *p = json_string_value(name); *p; p++) cps += ((unsigned char)*p & 0xC0) != 0x80;
        ok = cps <= 12;
    }
    size_t i;
    json_t *t;
    if (ok)
        json_array_foreach(tags, i, t) ok = ok && json_is_string(t) &&
            (!strcmp(json_string_value(t), "cat") || !strcmp(json_string_value(t), "dog") ||
             !strcmp(json_string_value(t), "sun"));
    json_decref(v);
    return ok;
}

static void test_json_schema_outputs_satisfy_it(void) {
    loom_model *m = load_stories();
    loom_engine *e = make_engine(m);
    collected out[4];
    memset(out, 0, sizeof out);
    loom_error err = {0};
    loom_constraint c = {LOOM_CONSTRAINT_JSON_SCHEMA, schema};
    for (int i = 0; i < 3; i++)
        CHECK_MSG(add(e, m, c, 11 + (uint64_t)i, 1, &out[i], &err) == LOOM_OK, "%s", err.message);
    CHECK_MSG(add(e, m, c, 99, 2, &out[3], &err) == LOOM_OK, "%s", err.message); /* n = 2: both constrained */
    run_all(e);
    for (int i = 0; i < 4; i++)
        for (int s = 0; s < (i == 3 ? 2 : 1); s++) {
            CHECK_MSG(satisfies(out[i].text[s]), "request %d sample %d: %s", i, s, out[i].text[s]);
            CHECK(out[i].finish[s] == LOOM_FINISH_STOP); /* the object closed: nothing can follow */
        }
    CHECK(strcmp(out[3].text[0], out[3].text[1]) != 0); /* two samples, two streams */
    loom_engine_free(e);
    loom_model_free(m);
}

static void test_choice_and_regex(void) {
    loom_model *m = load_stories();
    loom_engine *e = make_engine(m);
    collected ch[3], rx[3];
    memset(ch, 0, sizeof ch);
    memset(rx, 0, sizeof rx);
    loom_error err = {0};
    loom_constraint choice = {LOOM_CONSTRAINT_CHOICE, "[\"happy\", \"sad\", \"very sleepy\"]"};
    loom_constraint regex = {LOOM_CONSTRAINT_REGEX, "[A-Z][a-z]{2,6}( [a-z]{1,6}){2,3}\\."};
    for (int i = 0; i < 3; i++) {
        CHECK(add(e, m, choice, 5 + (uint64_t)i, 1, &ch[i], &err) == LOOM_OK);
        CHECK(add(e, m, regex, 50 + (uint64_t)i, 1, &rx[i], &err) == LOOM_OK);
    }
    run_all(e);
    for (int i = 0; i < 3; i++) {
        CHECK_MSG(!strcmp(ch[i].text[0], "happy") || !strcmp(ch[i].text[0], "sad") ||
                      !strcmp(ch[i].text[0], "very sleepy"),
                  "%s", ch[i].text[0]);
        CHECK(ch[i].finish[0] == LOOM_FINISH_STOP);
        /* [A-Z][a-z]{2,6}( [a-z]{1,6}){2,3}\. checked by hand */
        const char *t = rx[i].text[0];
        size_t k = 0, n = strlen(t);
        int ok = n > 0 && t[0] >= 'A' && t[0] <= 'Z';
        for (k = 1; ok && k < n && t[k] >= 'a' && t[k] <= 'z'; k++) {}
        ok = ok && k >= 3 && k <= 7;
        int words = 0;
        while (ok && k < n && t[k] == ' ') {
            size_t w = ++k;
            while (k < n && t[k] >= 'a' && t[k] <= 'z') k++;
            ok = k - w >= 1 && k - w <= 6;
            words++;
        }
        ok = ok && words >= 2 && words <= 3 && k + 1 == n && t[k] == '.';
        CHECK_MSG(ok, "'%s'", t);
    }
    loom_engine_free(e);
    loom_model_free(m);
}

static void test_bad_constraints_rejected(void) {
    loom_model *m = load_stories();
    loom_engine *e = make_engine(m);
    collected out;
    loom_error err = {0};
    loom_constraint bad = {LOOM_CONSTRAINT_JSON_SCHEMA,
                           "{\"type\": \"object\", \"properties\": {\"a\": {\"not\": {}}}}"};
    CHECK(add(e, m, bad, 1, 1, &out, &err) == LOOM_ERR_INVALID_ARG);
    CHECK_MSG(strstr(err.message, "\"not\"") && strstr(err.message, "#/properties/a"), "%s", err.message);
    loom_constraint regex = {LOOM_CONSTRAINT_REGEX, "(a"};
    CHECK(add(e, m, regex, 1, 1, &out, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "missing )"));
    loom_constraint kind = {(loom_constraint_kind)42, "x"};
    CHECK(add(e, m, kind, 1, 1, &out, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "constraint"));
    loom_constraint no_spec = {LOOM_CONSTRAINT_GBNF, NULL};
    CHECK(add(e, m, no_spec, 1, 1, &out, &err) == LOOM_ERR_INVALID_ARG && strstr(err.message, "spec"));
    CHECK(!loom_engine_has_work(e));
    loom_engine_free(e);
    loom_model_free(m);
}

/* loom_grammar_*: after masking only allowed tokens keep finite logits, a refused token changes nothing,
 * and EOS becomes allowed once the output is complete. */
static void test_public_grammar(void) {
    loom_model *m = load_stories();
    const loom_model_info *info = loom_model_get_info(m);
    loom_grammar *g = NULL;
    loom_error err = {0};
    loom_constraint c = {LOOM_CONSTRAINT_CHOICE, "[\"ab\", \"abc\"]"};
    CHECK_MSG(loom_grammar_create(m, &c, &g, &err) == LOOM_OK, "%s", err.message);
    float *logits = malloc((size_t)info->vocab_size * sizeof *logits);
    int32_t eos = info->eos_ids[0], step = 0, eos_allowed = 0;
    for (; g && step < 6 && !eos_allowed; step++) {
        for (int32_t i = 0; i < info->vocab_size; i++) logits[i] = 1.0f;
        CHECK(loom_grammar_mask_logits(g, logits, &err) == LOOM_OK);
        int32_t finite = 0, first = -1, refused = -1;
        for (int32_t i = 0; i < info->vocab_size; i++) {
            if (isfinite(logits[i]) && i != eos && first < 0) first = i;
            if (!isfinite(logits[i]) && refused < 0) refused = i;
            finite += isfinite(logits[i]) != 0;
        }
        CHECK(finite > 0 && finite < info->vocab_size / 2);
        eos_allowed = isfinite(logits[eos]);
        CHECK(loom_grammar_accept(g, refused, &err) == LOOM_ERR_INVALID_ARG);
        if (!eos_allowed) CHECK(first >= 0 && loom_grammar_accept(g, first, &err) == LOOM_OK);
    }
    CHECK(eos_allowed && step >= 2); /* "ab" takes at least two bytes */
    CHECK(g && loom_grammar_accept(g, eos, &err) == LOOM_OK && loom_grammar_is_terminated(g));
    free(logits);
    loom_grammar_free(g);
    loom_model_free(m);
}

int main(void) {
    RUN(test_json_schema_outputs_satisfy_it);
    RUN(test_choice_and_regex);
    RUN(test_bad_constraints_rejected);
    RUN(test_public_grammar);
    return check_summary();
}
