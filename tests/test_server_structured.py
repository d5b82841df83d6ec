"""Structured outputs through `loom serve` (the default model) and `loom batch`, in every request shape
loom reads (src/api/request_constraint.c): the official `openai` client's parse() with a Pydantic model
(response_format json_schema, strict) returning a parsed object, streamed and not; response_format
json_object; vLLM's guided_json / guided_choice / guided_regex / structured_outputs and llama-server's
grammar / json_schema as raw HTTP, on chat and completions; the errors: an unsupported schema keyword
is a 400 with the compiler's message and the field as `param`, two constraints a 400 naming both.
Every output that finished is checked by an independent reader: json + jsonschema, re.fullmatch."""
import http.client
import json
import re

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from server_harness import LoomServer, default_model

MODEL = "smollm2"


@pytest.fixture(scope="module")
def server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", MODEL])
    yield s
    code, log = s.stop()
    assert code == 0, log


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


class City(BaseModel):
    name: str = Field(max_length=20)
    country: str = Field(max_length=20)
    population: int = Field(ge=0)


def test_pydantic_parse_returns_a_parsed_object(client):
    r = client.beta.chat.completions.parse(model=MODEL, response_format=City, temperature=0, max_tokens=120,
                                           messages=[{"role": "user", "content": "Describe Paris as JSON."}])
    choice = r.choices[0]
    assert choice.finish_reason == "stop", choice
    assert isinstance(choice.message.parsed, City), choice.message
    assert City.model_validate_json(choice.message.content) == choice.message.parsed


def test_json_schema_streamed_equals_whole(client):
    schema = City.model_json_schema()
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}}
    args = dict(model=MODEL, response_format=fmt, temperature=0.8, seed=11, max_tokens=120,
                messages=[{"role": "user", "content": "A city, as JSON."}])
    whole = client.chat.completions.create(**args).choices[0]
    text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(stream=True, **args)
                   if c.choices)
    assert whole.finish_reason == "stop" and text == whole.message.content
    jsonschema.validate(json.loads(text), schema)


def test_json_object(client):
    for seed in range(3):
        r = client.chat.completions.create(model=MODEL, response_format={"type": "json_object"}, temperature=1.0,
                                           seed=seed, max_tokens=200,
                                           messages=[{"role": "user", "content": "Give me a small JSON object."}])
        c = r.choices[0]
        if c.finish_reason == "stop":
            assert isinstance(json.loads(c.message.content), dict), c.message.content


def post(server, path, body):
    status, resp = server.request("POST", path, body, timeout=120)
    return status, resp


CHAT = [{"role": "user", "content": "Answer with a color."}]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_raw_http_shapes(server, path):
    """vLLM's and llama-server's fields, on both endpoints; each output checked by its own reader."""
    base = {"model": MODEL, "temperature": 0.7, "seed": 5, "max_tokens": 60}
    base.update({"messages": CHAT} if "chat" in path else {"prompt": "My favourite color is"})
    schema = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]},
                                               "shade": {"type": "integer", "minimum": 0, "maximum": 9}},
              "required": ["color", "shade"]}
    regex = "(light|dark) (red|green|blue)"
    cases = [
        ({"guided_json": schema}, lambda t: jsonschema.validate(json.loads(t), schema)),
        ({"json_schema": schema}, lambda t: jsonschema.validate(json.loads(t), schema)),  # llama-server
        ({"structured_outputs": {"json": json.dumps(schema)}}, lambda t: jsonschema.validate(json.loads(t), schema)),
        ({"guided_choice": ["cyan", "magenta"]}, lambda t: t in ("cyan", "magenta") or pytest.fail(t)),
        ({"structured_outputs": {"choice": ["up", "down"]}}, lambda t: t in ("up", "down") or pytest.fail(t)),
        ({"guided_regex": regex}, lambda t: re.fullmatch(regex, t) or pytest.fail(t)),
        ({"structured_outputs": {"regex": regex}}, lambda t: re.fullmatch(regex, t) or pytest.fail(t)),
        ({"grammar": 'root ::= "#" [0-9a-f]{6}'}, lambda t: re.fullmatch("#[0-9a-f]{6}", t) or pytest.fail(t)),
        ({"guided_grammar": 'root ::= ("yes" | "no") "!"'}, lambda t: t in ("yes!", "no!") or pytest.fail(t)),
        ({"response_format": {"type": "json_object", "schema": schema}},  # llama-server's json_object schema
         lambda t: jsonschema.validate(json.loads(t), schema)),
    ]
    for extra, check in cases:
        status, resp = post(server, path, {**base, **extra})
        assert status == 200, (extra, resp)
        choice = resp["choices"][0]
        text = choice["message"]["content"] if "chat" in path else choice["text"]
        assert choice["finish_reason"] == "stop", (extra, choice)
        check(text)


def test_structural_tag_response_format(server):
    fmt = {"type": "structural_tag", "format": {"type": "sequence", "elements": [
        {"type": "const_string", "value": "Answer: "},
        {"type": "json_schema", "json_schema": {"type": "integer", "minimum": 1, "maximum": 99}}]}}
    status, resp = post(server, "/v1/chat/completions", {"model": MODEL, "messages": CHAT, "temperature": 0,
                                                         "max_tokens": 20, "response_format": fmt})
    assert status == 200, resp
    text = resp["choices"][0]["message"]["content"]
    m = re.fullmatch(r"Answer: (\d+)", text)
    assert m and 1 <= int(m.group(1)) <= 99, text


def test_errors_name_the_field(server):
    bad_schema = {"type": "object", "properties": {"x": {"type": "string", "not": {"const": "a"}}}}
    cases = [
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": bad_schema}}},
         "response_format", "unsupported keyword \"not\""),
        ({"guided_json": bad_schema}, "guided_json", "unsupported keyword \"not\""),
        ({"guided_regex": "(?=x)a"}, "guided_regex", "regex:"),
        ({"grammar": "root ::= undefined_rule"}, "grammar", "not defined"),
        ({"guided_json": {"type": "object"}, "guided_regex": "a"}, "guided_regex", "guided_json"),
        ({"response_format": {"type": "yaml"}}, "response_format", "response_format.type"),
    ]
    for extra, param, words in cases:
        status, resp = post(server, "/v1/chat/completions",
                            {"model": MODEL, "messages": CHAT, "max_tokens": 5, **extra})
        assert status == 400, (extra, resp)
        err = resp["error"]
        assert err["param"] == param and words in err["message"], (extra, err)


def test_batch_lines(run_loom, tmp_path):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    lines = [{"prompt": "A number:", "max_tokens": 30, "temperature": 1.0, "seed": s,
              "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": schema}}}
             for s in range(3)]
    lines += [{"prompt": "Yes or no?", "guided_choice": ["yes", "no"], "temperature": 1.0, "seed": 1},
              {"prompt": "Hex:", "structured_outputs": {"regex": "[0-9a-f]{4}"}, "temperature": 1.0, "seed": 2}]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = run_loom(["batch", "-m", default_model(), "--input", inp, "--output", out, "--threads", "2"], timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(x) for x in out.read_text().splitlines()]
    for g in got[:3]:
        assert g["finish_reason"] == "stop", g
        jsonschema.validate(json.loads(g["text"]), schema)
    assert got[3]["text"] in ("yes", "no") and re.fullmatch("[0-9a-f]{4}", got[4]["text"]), got[3:]
    inp.write_text(json.dumps({"prompt": "x", "guided_json": {"type": "string", "not": {}}}) + "\n")
    proc = run_loom(["batch", "-m", default_model(), "--input", inp, "--output", out], timeout=300)
    assert proc.returncode != 0 and "input line 1: guided_json: json schema: unsupported keyword" in proc.stderr, \
        proc.stderr
