/* Request parsing and validation of the server (src/server/request.c): JSON bodies → sampling
 * parameters and prompts, and the OpenAI-shaped errors for every kind of client mistake. */
#include <jansson.h>
#include <string.h>

#include "check.h"
#include "server/request.h"

static const srv_request_limits LIMITS = {.vocab_size = 1000, .max_model_len = 512, .max_prompts = 8};

static int parse(srv_endpoint ep, const char *body, srv_request *r, srv_error *e) {
    return srv_request_parse(ep, body, strlen(body), &LIMITS, r, e);
}

/* The body must parse; returns 0 when it did (then free r). */
static int parse_ok(srv_endpoint ep, const char *body, srv_request *r) {
    srv_error e;
    int rc = parse(ep, body, r, &e);
    CHECK_MSG(rc == 0, "%s: %s", body, e.message);
    return rc;
}

/* The body must be rejected with `status` and (when given) `param` named. */
static void expect_error(srv_endpoint ep, const char *body, int status, const char *param) {
    srv_request r;
    srv_error e;
    int rc = parse(ep, body, &r, &e);
    CHECK_MSG(rc == -1, "accepted: %s", body);
    if (rc != -1) {
        srv_request_free(&r);
        return;
    }
    CHECK_MSG(e.http_status == status, "%s: status %d, want %d (%s)", body, e.http_status, status, e.message);
    if (param) CHECK_MSG(strcmp(e.param, param) == 0, "%s: param '%s', want '%s'", body, e.param, param);
    CHECK(e.message[0] != '\0');
    char *json = srv_error_body(&e);
    json_t *v = json ? json_loads(json, 0, NULL) : NULL;
    json_t *err = json_object_get(v, "error");
    CHECK(json_is_string(json_object_get(err, "message")) && json_is_string(json_object_get(err, "type")));
    CHECK(json_object_get(err, "param") && json_object_get(err, "code"));
    json_decref(v);
    free(json);
}

static void test_completion_defaults(void) {
    srv_request r;
    srv_error e;
    CHECK(parse(SRV_COMPLETIONS, "{\"model\": \"m\", \"prompt\": \"Hello\"}", &r, &e) == 0);
    CHECK(r.n_prompts == 1 && r.prompts[0].text && strcmp(r.prompts[0].text, "Hello") == 0);
    CHECK(strcmp(r.model, "m") == 0);
    CHECK(r.params.max_tokens == 16 && r.params.sampling.temperature == 1.0f && r.params.n == 1);
    CHECK(r.params.logprobs == -1 && !r.params.sampling.has_seed && !r.stream && r.add_special_tokens == 1);
    CHECK(!r.max_tokens_given);
    srv_request_free(&r);
}

static void test_completion_all_fields(void) {
    const char *body =
        "{\"prompt\": [\"a\", \"b\"], \"max_tokens\": 7, \"temperature\": 0.5, \"top_p\": 0.9, \"top_k\": 40,"
        " \"min_p\": 0.05, \"presence_penalty\": 0.5, \"frequency_penalty\": -0.5, \"repetition_penalty\": 1.1,"
        " \"stop\": [\"x\", \"yz\"], \"seed\": 42, \"n\": 2, \"logprobs\": 3, \"logit_bias\": {\"5\": -100, \"7\": 2.5},"
        " \"ignore_eos\": true, \"user\": \"u\", \"stream\": true, \"stream_options\": {\"include_usage\": true},"
        " \"stop_token_ids\": [3, 4], \"min_tokens\": 2, \"best_of\": 2, \"echo\": false, \"suffix\": null}";
    srv_request r;
    if (parse_ok(SRV_COMPLETIONS, body, &r)) return;
    const loom_request_params *q = &r.params;
    const loom_sampling_params *s = &q->sampling;
    CHECK(r.n_prompts == 2 && strcmp(r.prompts[1].text, "b") == 0);
    CHECK(q->max_tokens == 7 && r.max_tokens_given && s->temperature == 0.5f && s->top_p == 0.9f && s->top_k == 40);
    CHECK(s->min_p == 0.05f && s->presence_penalty == 0.5f && s->frequency_penalty == -0.5f);
    CHECK(s->repetition_penalty == 1.1f && q->n_stop == 2 && strcmp(q->stop[1], "yz") == 0);
    CHECK(s->has_seed && s->seed == 42 && q->n == 2 && q->logprobs == 3 && q->ignore_eos);
    CHECK(s->n_logit_bias == 2 && s->logit_bias[0].id == 5 && s->logit_bias[0].bias == -100.0f);
    CHECK(r.stream && r.include_usage && q->n_stop_token_ids == 2 && q->stop_token_ids[1] == 4 && q->min_tokens == 2);
    srv_request_free(&r);
}

static void test_token_prompts(void) {
    srv_request r;
    srv_error e;
    CHECK(parse(SRV_COMPLETIONS, "{\"prompt\": [1, 2, 3]}", &r, &e) == 0);
    CHECK(r.n_prompts == 1 && !r.prompts[0].text && r.prompts[0].n_ids == 3 && r.prompts[0].ids[2] == 3);
    srv_request_free(&r);
    CHECK(parse(SRV_COMPLETIONS, "{\"prompt\": [[1], [2, 999]]}", &r, &e) == 0);
    CHECK(r.n_prompts == 2 && r.prompts[1].n_ids == 2 && r.prompts[1].ids[1] == 999);
    srv_request_free(&r);
}

static void test_chat(void) {
    const char *body = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
                       " {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, {\"type\": \"text\", \"text\": \"b\"}]}],"
                       " \"max_completion_tokens\": 9, \"logprobs\": true, \"top_logprobs\": 2}";
    srv_request r;
    if (parse_ok(SRV_CHAT, body, &r)) return;
    CHECK(r.params.max_tokens == 9 && r.max_tokens_given && r.params.logprobs == 2);
    CHECK(r.add_generation_prompt == 1 && r.add_special_tokens == 0);
    json_t *m = json_loads(r.messages_json, 0, NULL);
    CHECK(json_array_size(m) == 2);
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(m, 1), "content")), "a\nb") == 0);
    json_decref(m);
    srv_request_free(&r);
    /* chat without max_tokens: the handler fills in what the context leaves */
    if (parse_ok(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logprobs\": false}", &r)) return;
    CHECK(!r.max_tokens_given && r.params.logprobs == -1);
    srv_request_free(&r);
}

static void test_nulls_mean_default(void) {
    srv_request r;
    srv_error e;
    CHECK(parse(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"temperature\": null, \"stop\": null, \"seed\": null, \"n\": null}", &r, &e) == 0);
    CHECK(r.params.sampling.temperature == 1.0f && r.params.n_stop == 0 && !r.params.sampling.has_seed && r.params.n == 1);
    srv_request_free(&r);
}

static void test_malformed(void) {
    expect_error(SRV_COMPLETIONS, "", 400, NULL);
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\"", 400, NULL);
    expect_error(SRV_COMPLETIONS, "[1, 2]", 400, NULL);
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"\xff\xfe\"}", 400, NULL);
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"prompt\": \"y\"}", 400, NULL);
    expect_error(SRV_COMPLETIONS, "{}", 400, "prompt");
    expect_error(SRV_CHAT, "{}", 400, "messages");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"bogus\": 1}", 400, NULL);
    expect_error(SRV_COMPLETIONS, "{\"messages\": [], \"prompt\": \"x\"}", 400, NULL);
    expect_error(SRV_CHAT, "{\"prompt\": \"x\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}", 400, NULL);
}

static void test_wrong_types_and_ranges(void) {
    expect_error(SRV_COMPLETIONS, "{\"prompt\": 5}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": []}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": [1, \"a\"]}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": [\"a\", 1]}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": [1000]}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": [-1]}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", 400, "prompt");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": -1}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 0}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 100000000000}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 513}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": 1.5}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"max_tokens\": \"5\"}", 400, "max_tokens");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"temperature\": \"hot\"}", 400, "temperature");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"temperature\": -1}", 400, "temperature");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"temperature\": 1e300}", 400, "temperature");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"top_p\": 0}", 400, "top_p");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"top_p\": true}", 400, "top_p");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"presence_penalty\": 3}", 400, "presence_penalty");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"n\": 0}", 400, "n");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"n\": 1000}", 400, "n");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"seed\": \"s\"}", 400, "seed");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stop\": 3}", 400, "stop");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stop\": [\"\"]}", 400, "stop");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stop\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}", 400, "stop");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"logprobs\": 21}", 400, "logprobs");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"logprobs\": true}", 400, "logprobs");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"logit_bias\": {\"abc\": 1}}", 400, "logit_bias");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"logit_bias\": {\"1\": 200}}", 400, "logit_bias");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"logit_bias\": {\"5000\": 1}}", 400, "logit_bias");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stream\": \"yes\"}", 400, "stream");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stream_options\": {\"include_usage\": true}}", 400, "stream_options");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stream\": true, \"stream_options\": {\"x\": 1}}", 400, "stream_options");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"best_of\": 3}", 400, "best_of");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"echo\": true}", 400, "echo");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"stop_token_ids\": [1000]}", 400, "stop_token_ids");
    expect_error(SRV_COMPLETIONS, "{\"prompt\": \"x\", \"model\": 7}", 400, "model");
}

static void test_chat_errors(void) {
    expect_error(SRV_CHAT, "{\"messages\": []}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": \"hi\"}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": [5]}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": [{\"content\": \"x\"}]}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}", 400, "messages");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"top_logprobs\": 2}", 400, "top_logprobs");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"logprobs\": 2}", 400, "logprobs");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"tools\": [{}]}", 400, "tools");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"response_format\": {\"type\": \"json_object\"}}", 400, "response_format");
    expect_error(SRV_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"prompt\": \"x\"}", 400, NULL);
}

int main(void) {
    RUN(test_completion_defaults);
    RUN(test_completion_all_fields);
    RUN(test_token_prompts);
    RUN(test_chat);
    RUN(test_nulls_mean_default);
    RUN(test_malformed);
    RUN(test_wrong_types_and_ranges);
    RUN(test_chat_errors);
    return check_summary();
}
