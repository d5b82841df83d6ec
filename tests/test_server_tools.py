"""Tool calling through `loom serve`, driven by the official `openai` client, unmodified.

On Qwen2.5-Coder-0.5B-Instruct Q4_K_M (`scripts/fetch-model.sh qwen2.5-coder-0.5b`; skipped, saying so,
only when there is no network to fetch it), whose template writes hermes <tool_call> blocks: a weather
question with tool_choice auto yields a get_weather call, greedy, whose arguments validate against the
tool's parameters (jsonschema) and name Paris; streamed, the delta.tool_calls (id and name first, then
argument fragments) reassemble to the same call; required / a named function / parallel_tool_calls false
are enforced; tool_choice none gives text; the call fed back with the tool's result renders exactly as
transformers renders the same conversation (arguments as an object) and the model answers; errors name
their field. On the default model with --tool-call-parser llama3_json and mistral, required calls come
out in those formats (the grammar forces them) and read back as valid calls, streamed and not."""
import json
import os
import subprocess

import gguf
import jsonschema
import openai
import pytest
from transformers import PreTrainedTokenizerFast

from server_harness import ROOT, LoomServer, default_model

NO_NETWORK = ("Temporary failure in name resolution", "Network is unreachable", "Failed to establish a new connection",
              "No route to host", "Name or service not known", "Connection refused", "timed out")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Get the local time in a time zone",
    "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}, "required": ["timezone"]}}}
TOOLS = [WEATHER, TIME]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
ASK = [{"role": "user", "content": "What is the weather like in Paris today?"}]


@pytest.fixture(scope="module")
def qwen_path():
    proc = subprocess.run([os.path.join(ROOT, "scripts", "fetch-model.sh"), "qwen2.5-coder-0.5b"], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        if any(s in proc.stderr for s in NO_NETWORK):
            pytest.skip("no network to fetch Qwen2.5-Coder-0.5B-Instruct Q4_K_M:\n" + proc.stderr[-500:])
        pytest.fail("scripts/fetch-model.sh qwen2.5-coder-0.5b failed:\n" + proc.stderr)
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server(loom_bin, qwen_path):
    s = LoomServer(loom_bin, ["-m", qwen_path, "--served-model-name", "qwen", "--threads", "2"])
    yield s
    code, log = s.stop()
    assert code == 0, log
    assert "tool calls: the hermes format (--tool-call-parser auto: from the chat template)" in log


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=300)


def check_call(call, name=None):
    """A call as the client sees it: an id, type function, a known name, arguments valid for it."""
    assert call.id.startswith("call_") and len(call.id) > 8 and call.type == "function", call
    assert call.function.name in PARAMS and (name is None or call.function.name == name), call
    args = json.loads(call.function.arguments)
    jsonschema.validate(args, PARAMS[call.function.name])
    return args


def reassemble(chunks):
    """The stream's tool calls by index ({id, name, arguments}), its content and finish reason."""
    calls, content, finish = {}, "", None
    for c in chunks:
        for ch in c.choices:
            content += ch.delta.content or ""
            finish = ch.finish_reason or finish
            for d in ch.delta.tool_calls or []:
                if d.index not in calls:  # the first delta of a call carries its id and name
                    assert d.id and d.function.name and d.type == "function", d
                    calls[d.index] = {"id": d.id, "name": d.function.name, "arguments": ""}
                else:
                    assert d.id is None and d.function.name is None, d
                calls[d.index]["arguments"] += d.function.arguments or ""
    return calls, content, finish


def test_auto_calls_the_weather_tool(client):
    r = client.chat.completions.create(model="qwen", messages=ASK, tools=TOOLS, temperature=0, max_tokens=80)
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None, choice
    assert len(choice.message.tool_calls) == 1
    args = check_call(choice.message.tool_calls[0], "get_weather")
    assert "paris" in args["city"].lower(), args


def test_streamed_calls_reassemble_to_the_same(client):
    args = dict(model="qwen", messages=ASK, tools=TOOLS, temperature=0, max_tokens=80)
    whole = client.chat.completions.create(**args).choices[0].message.tool_calls
    calls, content, finish = reassemble(client.chat.completions.create(stream=True, **args))
    assert finish == "tool_calls" and content == "", (content, finish)
    assert [(c["name"], c["arguments"]) for _, c in sorted(calls.items())] == \
        [(c.function.name, c.function.arguments) for c in whole]
    assert calls[0]["id"].startswith("call_")


def test_required_and_named_are_enforced(client):
    joke = [{"role": "user", "content": "Tell me a joke about cats."}]
    named = client.chat.completions.create(model="qwen", messages=joke, tools=TOOLS, temperature=0, max_tokens=80,
                                           tool_choice={"type": "function", "function": {"name": "get_time"}})
    calls = named.choices[0].message.tool_calls
    assert named.choices[0].finish_reason == "tool_calls" and len(calls) >= 1, named.choices[0]
    for c in calls:
        check_call(c, "get_time")
    one = client.chat.completions.create(model="qwen", messages=joke, tools=TOOLS, temperature=1.0, seed=3,
                                         max_tokens=120, tool_choice="required", parallel_tool_calls=False)
    assert one.choices[0].finish_reason == "tool_calls" and len(one.choices[0].message.tool_calls) == 1
    check_call(one.choices[0].message.tool_calls[0])
    calls, _, finish = reassemble(client.chat.completions.create(
        model="qwen", messages=joke, tools=TOOLS, temperature=1.0, seed=4, max_tokens=120, tool_choice="required",
        stream=True))
    assert finish == "tool_calls" and calls, calls
    for c in calls.values():
        jsonschema.validate(json.loads(c["arguments"]), PARAMS[c["name"]])


def test_tool_choice_none_gives_text(client):
    r = client.chat.completions.create(model="qwen", messages=[{"role": "user", "content": "Say hello."}],
                                       tools=TOOLS, tool_choice="none", temperature=0, max_tokens=20)
    assert r.choices[0].message.tool_calls is None and r.choices[0].message.content, r.choices[0]


def transformers_rendering(qwen_path, shared_dir, messages, tools):
    """The same conversation rendered by transformers with the GGUF's own template (arguments as objects,
    transformers' convention)."""
    template = gguf.GGUFReader(qwen_path).fields["tokenizer.chat_template"].contents()
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(shared_dir, "tokenizers", "qwen3", "tokenizer.json"),
                                  eos_token="<|im_end|>", chat_template=template)
    for m in messages:
        for c in m.get("tool_calls") or []:
            c["function"]["arguments"] = json.loads(c["function"]["arguments"])
    return tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)


def test_results_fed_back(client, server, qwen_path, shared_dir):
    first = client.chat.completions.create(model="qwen", messages=ASK, tools=TOOLS, temperature=0, max_tokens=80)
    call = first.choices[0].message.tool_calls[0]
    messages = ASK + [first.choices[0].message.model_dump(exclude_none=True),
                      {"role": "tool", "tool_call_id": call.id, "content": json.dumps({"temperature_c": 21})}]
    assert isinstance(messages[1]["tool_calls"][0]["function"]["arguments"], str)  # as clients send it
    status, mine = server.request("POST", "/tokenize", {"model": "qwen", "messages": messages, "tools": TOOLS})
    assert status == 200, mine
    want = transformers_rendering(qwen_path, shared_dir, json.loads(json.dumps(messages)), TOOLS)
    # the template's instructions name <tool_call> twice, then the call with its arguments as an object
    assert want.count("<tool_call>") == 3 and '"arguments": {"city": ' in want and "<tool_response>" in want, want
    status, theirs = server.request("POST", "/tokenize", {"model": "qwen", "prompt": want, "add_special_tokens": False})
    assert status == 200 and mine["tokens"] == theirs["tokens"]
    answer = client.chat.completions.create(model="qwen", messages=messages, tools=TOOLS, temperature=0,
                                            max_tokens=40)
    assert answer.choices[0].finish_reason in ("stop", "length", "tool_calls"), answer


def test_errors_name_the_field(client):
    bad = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "not": {}}}}
    cases = [
        (dict(tools=[bad]), "tools", "unsupported keyword"),
        (dict(tools=TOOLS, tool_choice="required", response_format={"type": "json_object"}), "tool_choice",
         "response_format"),
        (dict(tools=TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice", "nope"),
        (dict(tool_choice="required"), "tool_choice", "needs tools"),
        (dict(tools=[{"type": "function", "function": {"name": "bad name"}}]), "tools", "letters"),
    ]
    for extra, param, words in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model="qwen", messages=ASK, max_tokens=5, **extra)
        assert e.value.body["param"] == param and words in e.value.body["message"], (extra, e.value.body)


@pytest.mark.parametrize("parser", ["llama3_json", "mistral"])
def test_other_formats_on_the_default_model(loom_bin, parser):
    """SmolLM2's template knows no tools; with tool_choice required the grammar writes the calls in the
    parser's format anyway, and they read back: the whole and the streamed answer give the same calls."""
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "smol", "--tool-call-parser", parser])
    try:
        c = openai.OpenAI(base_url=s.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)
        args = dict(model="smol", messages=ASK, tools=TOOLS, tool_choice="required", temperature=0.7, seed=9,
                    max_tokens=120)
        whole = c.chat.completions.create(**args).choices[0]
        assert whole.finish_reason == "tool_calls", whole
        for call in whole.message.tool_calls:
            jsonschema.validate(json.loads(call.function.arguments), PARAMS[call.function.name])
            assert len(call.id) == 9 if parser == "mistral" else call.id.startswith("call_")
        calls, _, finish = reassemble(c.chat.completions.create(stream=True, **args))
        assert finish == "tool_calls"
        assert [(x["name"], x["arguments"]) for _, x in sorted(calls.items())] == \
            [(x.function.name, x.function.arguments) for x in whole.message.tool_calls]
    finally:
        code, log = s.stop()
    assert code == 0, log
    assert f"tool calls: the {parser} format" in log
