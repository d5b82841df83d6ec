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
        " \"parallel_tool_calls\": false, \"service_tier\": \"auto\", \"user\": \"u\", \"reasoning_effort\": \"low\","
        " \"temprature\": 0.2, \"stream_options\": null}";
    api_request r;
    if (parse_ok(API_CHAT, body, &r)) return;
    static const char *const want[] = {"store", "metadata",         "parallel_tool_calls", "service_tier",
                                       "user",  "reasoning_effort", "temprature"};
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
        {"\"tools\": [{\"type\": \"function\"}]", "tools"},
        {"\"tool_choice\": \"auto\"", "tool_choice"},
        {"\"response_format\": {\"type\": \"json_object\"}", "response_format"},
        {"\"guided_json\": {\"type\": \"object\"}", "guided_json"},
        {"\"guided_choice\": [\"a\", \"b\"]", "guided_choice"},
        {"\"guided_regex\": \"a+\"", "guided_regex"},
        {"\"structured_outputs\": {\"json\": {}}", "structured_outputs"},
        {"\"chat_template\": \"{{ messages }}\"", "chat_template"},
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
    CHECK(r.n_ignored == 0);
    api_request_free(&r);
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
    RUN(test_chat_errors);
    loom_engine_free(engine);
    loom_model_free(model);
    return check_summary();
}
