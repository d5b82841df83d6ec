"""What `loom serve` and `loom batch` take from a model's own files (issue 14), on stories260K copies made
here: an HF directory with Qwen3's chat template and a generation_config.json, and a GGUF with
general.sampling.* keys.
  - chat_template_kwargs reach the template as variables (Qwen3's enable_thinking), rendered as
    transformers renders them (tests/fixtures/chat_templates/qwen3.json); continue_final_message renders
    the last assistant message open-ended exactly as transformers' apply_chat_template does; both with
    add_generation_prompt is a 400;
  - a request that leaves sampling fields out gets generation_config.json's values (GGUF: the
    general.sampling.* keys; else llama-server's 0.8 / 40 / 0.95 / 0.05), listed in /v1/models, in the
    server and in `loom batch` alike;
  - a chat request without max_tokens stops at --max-tokens-default."""
import json
import os
import shutil

import gguf
import openai
import pytest

from server_harness import ROOT, LoomServer, default_model

GEN_CONFIG = {"temperature": 0.6, "top_k": 7, "top_p": 0.9, "min_p": 0.02, "repetition_penalty": 1.1,
              "bos_token_id": 1, "eos_token_id": 2}
GGUF_SAMPLING = {"general.sampling.temp": 0.5, "general.sampling.top_k": 9, "general.sampling.top_p": 0.8,
                 "general.sampling.min_p": 0.03, "general.sampling.penalty_repeat": 1.2}
LLAMA_SERVER = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repetition_penalty": 1.0}
THINK = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nSimple sum.\n</think>\n\n4"},
         {"role": "user", "content": "And 3+3?"}]


def qwen3_fixture():
    with open(os.path.join(ROOT, "tests", "fixtures", "chat_templates", "qwen3.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def hf_dir(shared_dir, tmp_path_factory):
    src = os.path.join(shared_dir, "models", "stories260K", "hf")
    d = tmp_path_factory.mktemp("qwen3ish")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        os.symlink(os.path.join(src, name), d / name)
    with open(os.path.join(src, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg["chat_template"] = qwen3_fixture()["template"]
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    (d / "generation_config.json").write_text(json.dumps(GEN_CONFIG))
    return d


@pytest.fixture(scope="module")
def gguf_file(shared_dir, tmp_path_factory):
    """stories260K's GGUF with general.sampling.* added (the rest copied as gguf_new_metadata does)."""
    reader = gguf.GGUFReader(os.path.join(shared_dir, "models", "stories260K", "gguf", "stories260K.f32.gguf"))
    path = tmp_path_factory.mktemp("gguf") / "stories260K.sampling.gguf"
    writer = gguf.GGUFWriter(str(path), reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub_type=sub)
    for key, value in GGUF_SAMPLING.items():
        writer.add_key_value(key, value, gguf.GGUFValueType.INT32 if key.endswith("top_k") else gguf.GGUFValueType.FLOAT32)
    for t in reader.tensors:
        writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for t in reader.tensors:
        writer.write_tensor_data(t.data)
    writer.close()
    return path


@pytest.fixture(scope="module")
def server(loom_bin, hf_dir):
    s = LoomServer(loom_bin, ["-m", str(hf_dir), "--served-model-name", "q", "--max-tokens-default", "7"])
    yield s
    code, log = s.stop()
    assert code == 0, log


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="unused", max_retries=0, timeout=120)


def tokens(server, body):
    status, reply = server.request("POST", "/tokenize", body)
    assert status == 200, reply
    return reply["tokens"]


def test_chat_template_kwargs_reach_the_template(server, client):
    case = next(c for c in qwen3_fixture()["cases"]
                if c["messages"] == THINK and c.get("extra") == {"enable_thinking": False} and c["add_generation_prompt"])
    assert "<think>\n\n</think>" in case["expected"][-40:]  # what enable_thinking=false adds
    want = tokens(server, {"prompt": case["expected"], "add_special_tokens": False})
    got = tokens(server, {"messages": THINK, "chat_template_kwargs": {"enable_thinking": False}})
    assert got == want
    assert tokens(server, {"messages": THINK}) != want  # without the kwarg the template renders otherwise
    r = client.chat.completions.create(model="q", messages=THINK, max_tokens=2, temperature=0,
                                       extra_body={"chat_template_kwargs": {"enable_thinking": False}})
    assert r.usage.prompt_tokens == len(want)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="q", messages=THINK, max_tokens=2,
                                       extra_body={"chat_template_kwargs": {"messages": []}})
    assert e.value.body["param"] == "chat_template_kwargs"


def test_continue_final_message_as_transformers_renders_it(server, client, hf_dir):
    from transformers import PreTrainedTokenizerFast
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(hf_dir, "tokenizer.json"),
                                  chat_template=qwen3_fixture()["template"])
    messages = [{"role": "user", "content": "Tell me a story."}, {"role": "assistant", "content": "Once upon a time"}]
    want_text = tok.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    assert want_text.endswith("Once upon a time")
    want = tokens(server, {"prompt": want_text, "add_special_tokens": False})
    assert tokens(server, {"messages": messages, "continue_final_message": True, "add_generation_prompt": False}) == want
    assert tokens(server, {"messages": messages, "continue_final_message": True}) == want  # implies no generation prompt
    r = client.chat.completions.create(model="q", messages=messages, max_tokens=3, temperature=0,
                                       extra_body={"continue_final_message": True, "add_generation_prompt": False})
    assert r.usage.prompt_tokens == len(want)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="q", messages=messages, max_tokens=3,
                                       extra_body={"continue_final_message": True, "add_generation_prompt": True})
    assert e.value.body["param"] == "continue_final_message"


def model_defaults(server):
    status, models = server.request("GET", "/v1/models")
    assert status == 200
    return models["data"][0]["sampling_defaults"]


def seeded_texts(client, **fields):
    """Completions of a few seeds: what sampling with these fields (or the defaults) gives."""
    return [client.completions.create(model="q", prompt="Once upon a time", max_tokens=24, seed=seed, **fields)
            .choices[0].text for seed in range(4)]


def test_generation_config_gives_the_defaults(server, client):
    d = model_defaults(server)
    for k in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty"):
        assert d[k] == pytest.approx(GEN_CONFIG[k]), k
    assert d["max_tokens"] == 7
    implicit = seeded_texts(client)
    explicit = seeded_texts(client, temperature=0.6, top_p=0.9,
                            extra_body={"top_k": 7, "min_p": 0.02, "repetition_penalty": 1.1})
    assert implicit == explicit
    llama = seeded_texts(client, temperature=0.8, top_p=0.95, extra_body={"top_k": 40, "min_p": 0.05})
    assert llama != implicit


def test_batch_uses_the_same_defaults(server, client, hf_dir, run_loom, tmp_path):
    lines = [{"prompt": "Once upon a time", "max_tokens": 24, "seed": seed} for seed in range(4)]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = run_loom(["batch", "-m", str(hf_dir), "--input", inp, "--output", out])
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["text"] for x in out.read_text().splitlines()] == seeded_texts(client)


def test_chat_without_max_tokens_stops_at_the_default(client):
    r = client.chat.completions.create(model="q", messages=[{"role": "user", "content": "Tell me a story."}],
                                       extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 7 and r.choices[0].finish_reason == "length"


def test_gguf_sampling_keys_give_the_defaults(loom_bin, gguf_file):
    s = LoomServer(loom_bin, ["-m", str(gguf_file), "--served-model-name", "g"])
    try:
        d = model_defaults(s)
    finally:
        code, log = s.stop()
    assert code == 0, log
    want = {"temperature": 0.5, "top_k": 9, "top_p": 0.8, "min_p": 0.03, "repetition_penalty": 1.2}
    assert {k: d[k] for k in want} == pytest.approx(want)


def test_without_sampling_metadata_llama_server_defaults(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m"])
    try:
        d = model_defaults(s)
    finally:
        code, log = s.stop()
    assert code == 0, log
    assert {k: d[k] for k in LLAMA_SERVER} == pytest.approx(LLAMA_SERVER)
    assert d["max_tokens"] == 2048


def test_malformed_generation_config_is_reported(loom_bin, hf_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(hf_dir, bad, symlinks=True)
    (bad / "generation_config.json").write_text(json.dumps({"top_p": 0}))
    s = LoomServer(loom_bin, ["-m", str(bad)], wait_ready=False)
    s.proc.wait(timeout=120)
    code, log = s.stop()
    assert code == 1 and "generation_config.json: top_p must be in (0, 1]" in log
