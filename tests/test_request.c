/* The request schema both front-ends share (src/api/request.c): JSON -> loom_request_params and the
 * prompt, for completions, chat and `loom batch` lines. Types are checked by the parser; ranges by the
 * engine (checked here through loom_engine_validate_request on stories260K, with the param each error
 * names); unknown fields are ignored and listed; known but unsupported values are 400 naming the field. */
#include <jansson.h>
#include <string.h>

#include "api/request.h"
#include "check.h"

static loom_model *model;
static loom_engine *engine;

static int parse(api_shape shape, const char *body, api_request *r, api_error *e) {
    return api_request_parse(shape, body, strlen(body), NULL, 8, r, e);
}

/* The body must parse; returns 0 when it did (then free r). */
static int parse_ok(api_shape shape, const char *body, api_request *r) {
    api_error e;
    int rc = parse(shape, body, r, &e);
    CHECK_MSG(rc == 0, "%s: %s", body, e.message);
    return rc;
}

static void check_error_json(const api_error *e) {
    char *json = api_error_body(e);
    json_t *v = json ? json_loads(json, 0, NULL) : NULL;
    json_t *err = json_object_get(v, "error");
    CHECK(json_is_string(json_object_get(err, "message")) && json_is_string(json_object_get(err, "type")));
    CHECK(json_object_get(err, "param") && json_object_get(err, "code"));
    json_decref(v);
    free(json);
}

/* The body must be refused by the parser with `status` and (when given) `param` named. */
static void expect_error(api_shape shape, const char *body, int status, const char *param) {
    api_request r;
    api_error e;
    int rc = parse(shape, body, &r, &e);
    CHECK_MSG(rc == -1, "accepted: %s", body);
    if (rc != -1) {
        api_request_free(&r);
        return;
    }
    CHECK_MSG(e.http_status == status, "%s: status %d, want %d (%s)", body, e.http_status, status, e.message);
    if (param) CHECK_MSG(strcmp(e.param, param) == 0, "%s: param '%s', want '%s'", body, e.param, param);
    CHECK(e.message[0] != '\0');
    check_error_json(&e);
}

/* The body must parse, and the engine must refuse it with a 400 naming `param`. */
static void expect_engine_error(api_shape shape, const char *body, const char *param) {
    api_request r;
    if (parse_ok(shape, body, &r)) return;
    static const int32_t ids[] = {1, 2, 3};
    loom_request_params p = r.params;
    if (!p.prompt_ids) {
        p.prompt_ids = r.n_prompts && r.prompts[0].ids ? r.prompts[0].ids : ids;
        p.n_prompt = r.n_prompts && r.prompts[0].ids ? r.prompts[0].n_ids : 3;
    }
    loom_error err;
    loom_status st = loom_engine_validate_request(engine, &p, &err);
    CHECK_MSG(st != LOOM_OK, "the engine accepted: %s", body);
    if (st != LOOM_OK) {
        api_error e;
        CHECK(api_fail_from_engine(&e, &r, st, err.message) == -1);
        CHECK_MSG(e.http_status == 400, "%s: status %d (%s)", body, e.http_status, e.message);
        CHECK_MSG(strcmp(e.param, param) == 0, "%s: param '%s', want '%s' (%s)", body, e.param, param, e.message);
        check_error_json(&e);
    }
    api_request_free(&r);
}

static void test_completion_defaults(void) {
    api_request r;
    if (parse_ok(API_COMPLETIONS, "{\"model\": \"m\", \"prompt\": \"Hello\"}", &r)) return;
    CHECK(r.n_prompts == 1 && r.prompts[0].text && strcmp(r.prompts[0].text, "Hello") == 0);
    CHECK(strcmp(r.model, "m") == 0 && r.n_ignored == 0);
    CHECK(r.params.max_tokens == 16 && r.params.sampling.temperature == 1.0f && r.params.n == 1);
    CHECK(r.params.logprobs == -1 && !r.params.sampling.has_seed && !r.stream && r.add_special_tokens == 1);
    CHECK(!r.max_tokens_given);
    api_request_free(&r);
}

static void test_completion_all_fields(void) {
    const char *body =
        "{\"prompt\": [\"a\", \"b\"], \"max_tokens\": 7, \"temperature\": 0.5, \"top_p\": 0.9, \"top_k\": 40,"
        " \"min_p\": 0.05, \"presence_penalty\": 0.5, \"frequency_penalty\": -0.5, \"repetition_penalty\": 1.1,"
        " \"stop\": [\"x\", \"yz\"], \"seed\": 42, \"n\": 2, \"logprobs\": 3, \"logit_bias\": {\"5\": -100, \"7\": "
        "2.5},"
        " \"ignore_eos\": true, \"user\": \"u\", \"stream\": true, \"stream_options\": {\"include_usage\": true},"
        " \"stop_token_ids\": [3, 4], \"min_tokens\": 2, \"best_of\": 2, \"echo\": false, \"suffix\": null,"
        " \"priority\": -3, \"response_format\": {\"type\": \"text\"}}";
    api_request r;
    if (parse_ok(API_COMPLETIONS, body, &r)) return;
    const loom_request_params *q = &r.params;
    const loom_sampling_params *s = &q->sampling;
    CHECK(r.n_prompts == 2 && strcmp(r.prompts[1].text, "b") == 0);
    CHECK(q->max_tokens == 7 && r.max_tokens_given && s->temperature == 0.5f && s->top_p == 0.9f && s->top_k == 40);
    CHECK(s->min_p == 0.05f && s->presence_penalty == 0.5f && s->frequency_penalty == -0.5f);
    CHECK(s->repetition_penalty == 1.1f && q->n_stop == 2 && strcmp(q->stop[1], "yz") == 0);
    CHECK(s->has_seed && s->seed == 42 && q->n == 2 && q->logprobs == 3 && q->ignore_eos && q->priority == -3);
    CHECK(s->n_logit_bias == 2 && s->logit_bias[0].id == 5 && s->logit_bias[0].bias == -100.0f);
    CHECK(r.stream && r.include_usage && q->n_stop_token_ids == 2 && q->stop_token_ids[1] == 4 && q->min_tokens == 2);
    CHECK(r.n_ignored == 1 && strcmp(r.ignored[0], "user") == 0); /* known to OpenAI, without effect in loom */
    api_request_free(&r);
}

static void test_token_prompts(void) {
    api_request r;
    if (parse_ok(API_COMPLETIONS, "{\"prompt\": [1, 2, 3]}", &r)) return;
    CHECK(r.n_prompts == 1 && !r.prompts[0].text && r.prompts[0].n_ids == 3 && r.prompts[0].ids[2] == 3);
    api_request_free(&r);
    if (parse_ok(API_COMPLETIONS, "{\"prompt\": [[1], [2, 999]]}", &r)) return;
    CHECK(r.n_prompts == 2 && r.prompts[1].n_ids == 2 && r.prompts[1].ids[1] == 999);
    api_request_free(&r);
}

static void test_chat(void) {
    const char *body = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
                       " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": "
                       "\"text\", \"text\": \"b\"}]}],"
                       " \"max_completion_tokens\": 9, \"logprobs\": true, \"top_logprobs\": 2}";
    api_request r;
    if (parse_ok(API_CHAT, body, &r)) return;
    CHECK(r.params.max_tokens == 9 && r.max_tokens_given && r.params.logprobs == 2);
    CHECK(r.chat.add_generation_prompt == 1 && !r.chat.continue_final_message && r.add_special_tokens == 0);
    json_t *m = json_loads(r.messages_json, 0, NULL);
    CHECK(json_array_size(m) == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(m, 1), "content")), "a\nb") == 0);
    json_decref(m);
    api_request_free(&r);
    /* chat without max_tokens: the server fills in its default */
    if (parse_ok(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": false}", &r))
        return;
    CHECK(!r.max_tokens_given && r.params.logprobs == -1);
    api_request_free(&r);
}

/* max_completion_tokens wins over max_tokens whichever comes first (issue 14). */
static void test_max_completion_tokens_wins(void) {
    const char *bodies[] = {
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_tokens\": 5, \"max_completion_tokens\": 9}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": 9, \"max_tokens\": 5}"};
    for (int i = 0; i < 2; i++) {
        api_request r;
        if (parse_ok(API_CHAT, bodies[i], &r)) continue;
        CHECK_MSG(r.params.max_tokens == 9, "body %d: max_tokens %d", i, r.params.max_tokens);
        CHECK(strcmp(r.max_tokens_field, "max_completion_tokens") == 0);
        api_request_free(&r);
    }
}

/* Fields clients send that loom does not know (or knows but has no use for) are ignored and listed. */
static void test_unknown_fields_are_ignored(void) {
    const char *body =
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"store\": true, \"metadata\": {\"a\": 1},"
        " \"guided_decoding_backend\": \"xgrammar\", \"service_tier\": \"auto\", \"user\": \"u\", "
        "\"reasoning_effort\": \"low\", \"temprature\": 0.2, \"stream_options\": null}";
    api_request r;
    if (parse_ok(API_CHAT, body, &r)) return;
    static const char *const want[] = {
        "store", "metadata", "guided_decoding_backend", "service_tier", "user", "reasoning_effort", "temprature"};
    CHECK_MSG(r.n_ignored == 7, "%zu ignored", r.n_ignored);
    for (size_t i = 0; i < 7 && i < r.n_ignored; i++) CHECK_MSG(strcmp(r.ignored[i], want[i]) == 0, "%s", r.ignored[i]);
    CHECK(r.params.sampling.temperature == 1.0f); /* the typo changed nothing */
    api_request_free(&r);
    if (parse_ok(API_COMPLETIONS,
                 "{\"prompt\": \"x\", \"stream\": true, \"stream_options\": {\"include_usage\": true, \"x\": 1}}", &r))
        return;
    CHECK(r.include_usage && r.n_ignored == 1 && strcmp(r.ignored[0], "stream_options.x") == 0);
    api_request_free(&r);
    CHECK(strcmp(api_suggest_field(API_CHAT, "temprature"), "temperature") == 0);
    CHECK(strcmp(api_suggest_field(API_BATCH, "max_token"), "max_tokens") == 0);
    CHECK(api_suggest_field(API_CHAT, "metadata") == NULL && api_suggest_field(API_CHAT, "x") == NULL);
}

static void test_chat_template_options(void) {
    api_request r;
    const char *kw = "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"chat_template_kwargs\": "
                     "{\"enable_thinking\": false}}";
    if (parse_ok(API_CHAT, kw, &r)) return;
    json_t *v = json_loads(r.chat.kwargs_json, 0, NULL);
    CHECK(json_is_false(json_object_get(v, "enable_thinking")));
    json_decref(v);
    api_request_free(&r);
    const char *cont =
        "{\"messages\": [{\"role\": \"assistant\", \"content\": \"Once\"}], \"continue_final_message\": true}";
    if (parse_ok(API_CHAT, cont, &r)) return;
    CHECK(r.chat.continue_final_message && !r.chat.add_generation_prompt); /* implied when left out */
    api_request_free(&r);
    expect_error(API_CHAT,
                 "{\"messages\": [{\"role\": \"assistant\", \"content\": \"x\"}], \"continue_final_message\": true,"
                 " \"add_generation_prompt\": true}",
                 400, "continue_final_message");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"chat_template_kwargs\": [1]}",
                 400, "chat_template_kwargs");
}

static void test_batch_lines(void) {
    api_request r;
    if (parse_ok(API_BATCH, "{\"prompt_ids\": [5, 6], \"max_tokens\": 4, \"priority\": 2, \"bogus\": 1}", &r)) return;
    CHECK(r.n_prompts == 1 && r.prompts[0].n_ids == 2 && r.params.priority == 2 && r.params.max_tokens == 4);
    CHECK(r.n_ignored == 1 && strcmp(r.ignored[0], "bogus") == 0);
    api_request_free(&r);
    expect_error(API_BATCH, "{\"prompt\": [\"a\", \"b\"]}", 400, "prompt");
    expect_error(API_BATCH, "{\"prompt\": \"a\", \"prompt_ids\": [1]}", 400, "prompt");
    expect_error(API_BATCH, "{\"max_tokens\": 3}", 400, "prompt");
    expect_error(API_BATCH, "{\"messages\": [], \"prompt\": \"a\"}", 400, "messages");
}

/* The defaults apply to fields left out, and only to them. */
static void test_sampling_defaults(void) {
    loom_sampling_params d = loom_sampling_default_params();
    d.temperature = 0.7f;
    d.top_k = 20;
    d.min_p = 0.1f;
    api_request r;
    api_error e;
    const char *body = "{\"prompt\": \"x\", \"top_k\": 5}";
    if (api_request_parse(API_COMPLETIONS, body, strlen(body), &d, 8, &r, &e) != 0) {
        CHECK_MSG(0, "%s", e.message);
        return;
    }
    CHECK(r.params.sampling.temperature == 0.7f && r.params.sampling.top_k == 5 && r.params.sampling.min_p == 0.1f);
    api_request_free(&r);
}

static void test_nulls_mean_default(void) {
    api_request r;
    if (parse_ok(API_COMPLETIONS,
                 "{\"prompt\": \"x\", \"temperature\": null, \"stop\": null, \"seed\": null, \"n\": null}", &r))
        return;
    CHECK(r.params.sampling.temperature == 1.0f && r.params.n_stop == 0 && !r.params.sampling.has_seed &&
          r.params.n == 1);
    CHECK(r.n_ignored == 0);
    api_request_free(&r);
}

static void test_malformed(void) {
    expect_error(API_COMPLETIONS, "", 400, NULL);
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\"", 400, NULL);
    expect_error(API_COMPLETIONS, "[1, 2]", 400, NULL);
    expect_error(API_COMPLETIONS, "{\"prompt\": \"\xff\xfe\"}", 400, NULL);
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"prompt\": \"y\"}", 400, NULL);
    expect_error(API_COMPLETIONS, "{}", 400, "prompt");
    expect_error(API_CHAT, "{}", 400, "messages");
    expect_error(API_COMPLETIONS, "{\"messages\": [], \"prompt\": \"x\"}", 400, "messages");
    expect_error(API_CHAT, "{\"prompt\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 400,
                 "prompt");
}

/* Type errors: the parser's. */
static void test_wrong_types(void) {
    expect_error(API_COMPLETIONS, "{\"prompt\": 5}", 400, "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": [1, \"a\"]}", 400, "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": [\"a\", 1]}", 400, "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": [1e3]}", 400, "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": [4294967296]}", 400, "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", 400,
                 "prompt");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 100000000000}", 400, "max_tokens");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 1.5}", 400, "max_tokens");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": \"5\"}", 400, "max_tokens");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"temperature\": \"hot\"}", 400, "temperature");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"top_p\": true}", 400, "top_p");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"seed\": \"s\"}", 400, "seed");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stop\": 3}", 400, "stop");
    expect_error(
        API_COMPLETIONS,
        "{\"prompt\": \"x\", \"stop\": "
        "[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
        400, "stop");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"logprobs\": true}", 400, "logprobs");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"logit_bias\": {\"abc\": 1}}", 400, "logit_bias");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"logit_bias\": {\"1\": \"x\"}}", 400, "logit_bias");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stream\": \"yes\"}", 400, "stream");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": true}}", 400,
                 "stream_options");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stream\": true, \"stream_options\": {\"include_usage\": 1}}",
                 400, "stream_options");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stream_options\": {\"x\": true}}", 400, "stream_options");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"best_of\": 3}", 400, "best_of");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"model\": 7}", 400, "model");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"stop_token_ids\": [\"a\"]}", 400, "stop_token_ids");
}

/* Range errors: the engine's, with the field its message names (as the client named it). */
static void test_ranges_are_the_engines(void) {
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1000]}", "prompt");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [-1]}", "prompt");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": []}", "prompt");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"max_tokens\": -1}", "max_tokens");
    expect_engine_error(API_CHAT,
                        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"max_completion_tokens\": -1}",
                        "max_completion_tokens");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"temperature\": -1}", "temperature");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"temperature\": 1e300}", "temperature");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"top_p\": 0}", "top_p");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"presence_penalty\": 3}", "presence_penalty");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"n\": 0}", "n");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"n\": 1000}", "n");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"stop\": [\"\"]}", "stop");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"logprobs\": 21}", "logprobs");
    expect_engine_error(
        API_CHAT,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": true, \"top_logprobs\": 21}",
        "top_logprobs");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"logit_bias\": {\"1\": 200}}", "logit_bias");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"logit_bias\": {\"5000\": 1}}", "logit_bias");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"stop_token_ids\": [1000]}", "stop_token_ids");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"min_tokens\": 20}", "min_tokens");
    expect_engine_error(API_COMPLETIONS, "{\"prompt\": [1], \"prompt_logprobs\": 1}", "prompt_logprobs");
    expect_engine_error(API_BATCH, "{\"prompt_ids\": [1], \"top_k\": -2}", "top_k");
}

/* Known fields with values loom does not implement: 400 naming them; their neutral values pass. */
static void test_known_but_unsupported(void) {
    static const char *const refused[][2] = {
        {"\"chat_template\": \"{{ messages }}\"", "chat_template"},
        {"\"guided_whitespace_pattern\": \"[ ]?\"", "guided_whitespace_pattern"},
        {"\"use_beam_search\": true", "use_beam_search"},
        {"\"functions\": [{\"name\": \"f\"}]", "functions"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], %s}", refused[i][0]);
        expect_error(API_CHAT, body, 400, refused[i][1]);
    }
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"echo\": true}", 400, "echo");
    expect_error(API_COMPLETIONS, "{\"prompt\": \"x\", \"suffix\": \"y\"}", 400, "suffix");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", 400,
                 "messages");
    api_request r;
    if (parse_ok(API_CHAT,
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [], \"tool_choice\": \"none\","
                 " \"response_format\": {\"type\": \"text\"}, \"guided_json\": null, \"use_beam_search\": false}",
                 &r))
        return;
    CHECK(r.n_ignored == 0 && r.params.constraint.kind == LOOM_CONSTRAINT_NONE && r.tools.n_tools == 0);
    api_request_free(&r);
}

/* Every spelling of a structured output lands in params.constraint with its spec; constraint_field
 * names where it came from. */
static void test_structured_outputs(void) {
    static const struct {
        const char *field; /* a member of the body */
        loom_constraint_kind kind;
        const char *spec; /* NULL: none */
        const char *from;
    } cases[] = {
        {"\"response_format\": {\"type\": \"json_object\"}", LOOM_CONSTRAINT_JSON_OBJECT, NULL, "response_format"},
        {"\"response_format\": {\"type\": \"json_object\", \"schema\": {\"type\": \"integer\"}}",
         LOOM_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"integer\"}", "response_format"},
        {"\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\", \"strict\": true, "
         "\"schema\": {\"type\": \"object\"}}}",
         LOOM_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"object\"}", "response_format"},
        {"\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"n\"}}",
         LOOM_CONSTRAINT_JSON_OBJECT, NULL, "response_format"},
        {"\"response_format\": {\"type\": \"structural_tag\", \"format\": {\"type\": \"any_text\"}}",
         LOOM_CONSTRAINT_STRUCTURAL_TAG, "{\"type\":\"structural_tag\",\"format\":{\"type\":\"any_text\"}}",
         "response_format"},
        {"\"structured_outputs\": {\"json\": {\"type\": \"string\"}}", LOOM_CONSTRAINT_JSON_SCHEMA,
         "{\"type\":\"string\"}", "structured_outputs"},
        {"\"structured_outputs\": {\"json\": \"{\\\"type\\\": \\\"null\\\"}\"}", LOOM_CONSTRAINT_JSON_SCHEMA,
         "{\"type\": \"null\"}", "structured_outputs"},
        {"\"structured_outputs\": {\"regex\": \"a+\", \"json\": null}", LOOM_CONSTRAINT_REGEX, "a+",
         "structured_outputs"},
        {"\"structured_outputs\": {\"choice\": [\"y\", \"n\"]}", LOOM_CONSTRAINT_CHOICE, "[\"y\",\"n\"]",
         "structured_outputs"},
        {"\"structured_outputs\": {\"grammar\": \"root ::= \\\"x\\\"\"}", LOOM_CONSTRAINT_GBNF, "root ::= \"x\"",
         "structured_outputs"},
        {"\"structured_outputs\": {\"json_object\": true}", LOOM_CONSTRAINT_JSON_OBJECT, NULL, "structured_outputs"},
        {"\"structured_outputs\": {\"json_object\": false}", LOOM_CONSTRAINT_NONE, NULL, NULL},
        {"\"guided_json\": {\"type\": \"boolean\"}", LOOM_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"boolean\"}",
         "guided_json"},
        {"\"guided_regex\": \"[0-9]+\"", LOOM_CONSTRAINT_REGEX, "[0-9]+", "guided_regex"},
        {"\"guided_choice\": [\"a\", \"b\"]", LOOM_CONSTRAINT_CHOICE, "[\"a\",\"b\"]", "guided_choice"},
        {"\"guided_grammar\": \"root ::= \\\"a\\\"\"", LOOM_CONSTRAINT_GBNF, "root ::= \"a\"", "guided_grammar"},
        {"\"grammar\": \"root ::= [0-9]\"", LOOM_CONSTRAINT_GBNF, "root ::= [0-9]", "grammar"},
        {"\"json_schema\": {\"type\": \"array\"}", LOOM_CONSTRAINT_JSON_SCHEMA, "{\"type\":\"array\"}", "json_schema"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        static const char *const heads[] = {"{\"prompt\": \"x\", ",
                                            "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], ",
                                            "{\"prompt_ids\": [1], "};
        for (int shape = 0; shape < 3; shape++) {
            char body[512];
            snprintf(body, sizeof body, "%s%s}", heads[shape], cases[i].field);
            api_request r;
            if (parse_ok((api_shape)shape, body, &r)) continue;
            const loom_constraint *c = &r.params.constraint;
            CHECK_MSG(c->kind == cases[i].kind, "%s: kind %d", body, (int)c->kind);
            CHECK_MSG(cases[i].spec ? c->spec && !strcmp(c->spec, cases[i].spec) : !c->spec, "%s: spec %s", body,
                      c->spec ? c->spec : "(none)");
            CHECK_MSG(cases[i].from ? r.constraint_field && !strcmp(r.constraint_field, cases[i].from)
                                    : !r.constraint_field,
                      "%s", body);
            api_request_free(&r);
        }
    }
    /* backend options of structured_outputs are ignored and listed */
    api_request r;
    if (!parse_ok(API_COMPLETIONS,
                  "{\"prompt\": \"x\", \"structured_outputs\": {\"regex\": \"a\", \"disable_any_whitespace\": true}}",
                  &r)) {
        CHECK(r.n_ignored == 1 && !strcmp(r.ignored[0], "structured_outputs.disable_any_whitespace"));
        api_request_free(&r);
    }
    static const char *const bad[][2] = {
        {"\"response_format\": {\"type\": \"json_object\"}, \"guided_json\": {}", "guided_json"},
        {"\"guided_regex\": \"a\", \"grammar\": \"root ::= \\\"a\\\"\"", "grammar"},
        {"\"structured_outputs\": {\"regex\": \"a\", \"choice\": [\"a\"]}", "structured_outputs"},
        {"\"response_format\": {\"type\": \"xml\"}", "response_format"},
        {"\"response_format\": {\"json_schema\": {}}", "response_format"},
        {"\"response_format\": {\"type\": \"json_schema\"}", "response_format"},
        {"\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": 5}}", "response_format"},
        {"\"guided_choice\": []", "guided_choice"},
        {"\"guided_choice\": [1]", "guided_choice"},
        {"\"guided_regex\": 5", "guided_regex"},
        {"\"structured_outputs\": {\"json_object\": \"yes\"}", "structured_outputs"},
        {"\"structured_outputs\": [\"json\"]", "structured_outputs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"prompt\": \"x\", %s}", bad[i][0]);
        expect_error(API_COMPLETIONS, body, 400, bad[i][1]);
    }
    /* both constraint names are in the message */
    api_error e;
    const char *two = "{\"prompt\": \"x\", \"guided_json\": {}, \"response_format\": {\"type\": \"json_object\"}}";
    if (parse(API_COMPLETIONS, two, &r, &e) == -1)
        CHECK_MSG(strstr(e.message, "guided_json") && strstr(e.message, "response_format"), "%s", e.message);
    else api_request_free(&r);
}

/* A spec the grammar compiler refuses: a 400 naming the field it came in (the engine's message). */
static void test_constraint_errors_name_the_field(void) {
    static const char *const bad[][2] = {
        {"\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": "
         "{\"type\": \"object\", \"not\": {}}}}",
         "response_format"},
        {"\"guided_regex\": \"(a\"", "guided_regex"},
        {"\"structured_outputs\": {\"grammar\": \"x ::= \\\"a\\\"\"}", "structured_outputs"},
        {"\"grammar\": \"root ::= [a\"", "grammar"},
        {"\"response_format\": {\"type\": \"structural_tag\", \"format\": {\"type\": \"token\"}}", "response_format"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[512];
        snprintf(body, sizeof body, "{\"prompt_ids\": [1, 2], %s}", bad[i][0]);
        api_request r;
        if (parse_ok(API_BATCH, body, &r)) continue;
        loom_request_params p = r.params;
        p.prompt_ids = r.prompts[0].ids;
        p.n_prompt = r.prompts[0].n_ids;
        uint64_t id;
        loom_error err;
        loom_status st = loom_engine_add_request(engine, &p, &id, &err);
        CHECK_MSG(st == LOOM_ERR_INVALID_ARG, "%s: %d", body, (int)st);
        if (st == LOOM_OK) loom_engine_abort(engine, id, &err);
        api_error e;
        api_fail_from_engine(&e, &r, st, err.message);
        CHECK_MSG(e.http_status == 400 && !strcmp(e.param, bad[i][1]), "%s: %d '%s' (%s)", body, e.http_status, e.param,
                  e.message);
        api_request_free(&r);
    }
    while (loom_engine_has_work(engine)) {
        loom_error err;
        CHECK(loom_engine_step(engine, &err) == LOOM_OK);
    }
}

#define TOOL_WEATHER                                                                                                   \
    "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\", "       \
    "\"properties\": {\"city\": {\"type\": \"string\"}}}}}"
#define USER_X "\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]"

static void test_tools(void) {
    api_request r;
    if (!parse_ok(API_CHAT, "{" USER_X ", \"tools\": [" TOOL_WEATHER "]}", &r)) {
        CHECK(r.tools.n_tools == 1 && r.tools.choice == API_TOOL_CHOICE_AUTO && r.tools.parallel == 1);
        CHECK(r.chat.tools_json == r.tools.tools_json && strstr(r.tools.tools_json, "get_weather"));
        api_request_free(&r);
    }
    if (!parse_ok(API_CHAT,
                  "{" USER_X ", \"tools\": [" TOOL_WEATHER "], \"tool_choice\": {\"type\": \"function\", \"function\": "
                  "{\"name\": \"get_weather\"}}, \"parallel_tool_calls\": false}",
                  &r)) {
        CHECK(r.tools.choice == API_TOOL_CHOICE_NAMED && !strcmp(r.tools.named, "get_weather") && !r.tools.parallel);
        api_request_free(&r);
    }
    if (!parse_ok(API_CHAT, "{" USER_X ", \"tools\": [" TOOL_WEATHER "], \"tool_choice\": \"required\"}", &r)) {
        CHECK(r.tools.choice == API_TOOL_CHOICE_REQUIRED);
        api_request_free(&r);
    }
    if (!parse_ok(API_CHAT, "{" USER_X ", \"tool_choice\": \"auto\"}", &r)) { /* no tools: nothing to choose */
        CHECK(r.tools.choice == API_TOOL_CHOICE_NONE && !r.chat.tools_json);
        api_request_free(&r);
    }
    static const char *const bad[][2] = {
        {"\"tools\": {}", "tools"},
        {"\"tools\": [{\"type\": \"retrieval\"}]", "tools"},
        {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"a b\"}}]", "tools"},
        {"\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": 3}}]", "tools"},
        {"\"tools\": [" TOOL_WEATHER ", " TOOL_WEATHER "]", "tools"},
        {"\"tool_choice\": \"required\"", "tool_choice"},
        {"\"tools\": [" TOOL_WEATHER "], \"tool_choice\": \"sometimes\"", "tool_choice"},
        {"\"tools\": [" TOOL_WEATHER "], \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"f\"}}",
         "tool_choice"},
        {"\"tools\": [" TOOL_WEATHER "], \"parallel_tool_calls\": 1", "parallel_tool_calls"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char body[512];
        snprintf(body, sizeof body, "{" USER_X ", %s}", bad[i][0]);
        expect_error(API_CHAT, body, 400, bad[i][1]);
    }
    if (!parse_ok(API_COMPLETIONS, "{\"prompt\": \"x\", \"tools\": [" TOOL_WEATHER "]}", &r)) { /* a chat field */
        CHECK(r.n_ignored == 1 && !strcmp(r.ignored[0], "tools") && r.tools.n_tools == 0);
        api_request_free(&r);
    }
}

/* Assistant tool calls fed back: arguments become objects for the template; tool results pass as they are. */
static void test_tool_messages(void) {
    const char *body = "{\"messages\": [{\"role\": \"user\", \"content\": \"w?\"}, {\"role\": \"assistant\", "
                       "\"content\": null, \"tool_calls\": [{\"id\": \"call_1\", \"type\": \"function\", \"function\": "
                       "{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}}]}, {\"role\": "
                       "\"tool\", \"tool_call_id\": \"call_1\", \"content\": \"12 C\"}]}";
    api_request r;
    if (parse_ok(API_CHAT, body, &r)) return;
    json_t *m = json_loads(r.messages_json, 0, NULL);
    json_t *args = json_object_get(
        json_object_get(json_array_get(json_object_get(json_array_get(m, 1), "tool_calls"), 0), "function"),
        "arguments");
    CHECK(json_is_object(args) && !strcmp(json_string_value(json_object_get(args, "city")), "Oslo"));
    CHECK(json_is_null(json_object_get(json_array_get(m, 1), "content")));
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(m, 2), "tool_call_id")), "call_1"));
    json_decref(m);
    api_request_free(&r);
    expect_error(API_CHAT,
                 "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", "
                 "\"arguments\": \"{oops\"}}]}]}",
                 400, "messages");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {}}]}]}", 400,
                 "messages");
}

static void test_chat_errors(void) {
    expect_error(API_CHAT, "{\"messages\": []}", 400, "messages");
    expect_error(API_CHAT, "{\"messages\": \"hi\"}", 400, "messages");
    expect_error(API_CHAT, "{\"messages\": [5]}", 400, "messages");
    expect_error(API_CHAT, "{\"messages\": [{\"content\": \"x\"}]}", 400, "messages");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}", 400,
                 "top_logprobs");
    expect_error(API_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": 2}", 400,
                 "logprobs");
}

static int open_engine(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/stories260K/hf", check_shared_dir());
    loom_model_params mp = loom_model_default_params();
    mp.path = path;
    loom_error err;
    if (loom_model_load(&mp, &model, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    loom_engine_params ep = loom_engine_default_params();
    ep.n_threads = 1;
    ep.max_num_seqs = 4;
    ep.max_model_len = 64;
    if (loom_engine_create(model, &ep, &engine, &err) != LOOM_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    return 0;
}

int main(void) {
    if (open_engine()) return 1;
    RUN(test_completion_defaults);
    RUN(test_completion_all_fields);
    RUN(test_token_prompts);
    RUN(test_chat);
    RUN(test_max_completion_tokens_wins);
    RUN(test_unknown_fields_are_ignored);
    RUN(test_chat_template_options);
    RUN(test_batch_lines);
    RUN(test_sampling_defaults);
    RUN(test_nulls_mean_default);
    RUN(test_malformed);
    RUN(test_wrong_types);
    RUN(test_ranges_are_the_engines);
    RUN(test_known_but_unsupported);
    RUN(test_structured_outputs);
    RUN(test_constraint_errors_name_the_field);
    RUN(test_tools);
    RUN(test_tool_messages);
    RUN(test_chat_errors);
    loom_engine_free(engine);
    loom_model_free(model);
    return check_summary();
}
