"""The `loom generate` command line: dummy weights, usage errors, and the streaming/JSON contract."""
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
    "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
    "bos_token_id": 1, "eos_token_id": 2,
}


@pytest.fixture
def dummy_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CONFIG))
    return tmp_path


def test_dummy_weights_are_deterministic(run_loom, dummy_dir):
    args = ["generate", "-m", dummy_dir, "--load-format", "dummy", "--ids", "1,5,7", "-n", "12",
            "--temperature", "0", "--ignore-eos", "--json"]
    a, b = run_loom(args), run_loom(args)
    assert a.returncode == 0, a.stderr
    ids = json.loads(a.stdout)["ids"]
    assert ids == json.loads(b.stdout)["ids"] and len(ids) == 12
    assert all(0 <= i < TINY_CONFIG["vocab_size"] for i in ids)


def test_dummy_without_tokenizer_refuses_text(run_loom, dummy_dir):
    r = run_loom(["generate", "-m", dummy_dir, "--load-format", "dummy", "--prompt", "hello", "-n", "2"])
    assert r.returncode == 1 and "no tokenizer" in r.stderr


def test_context_length_is_respected(run_loom, dummy_dir):
    r = run_loom(["generate", "-m", dummy_dir, "--load-format", "dummy", "--ids", "1,2,3", "-n", "500",
                  "--temperature", "0", "--ignore-eos", "--json"])
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["ids"]) == TINY_CONFIG["max_position_embeddings"] - 3


@pytest.mark.parametrize("args, needle", [
    (["-m"], "needs a value"),
    (["-m", "x"], "exactly one of --prompt"),
    (["-m", "x", "--prompt", "a", "--ids", "1"], "exactly one of --prompt"),
    (["-m", "x", "--prompt", "a", "--temperature", "-1"], "--temperature"),
    (["-m", "x", "--prompt", "a", "--temperature", "nan"], "--temperature"),
    (["-m", "x", "--prompt", "a", "-n", "1e9"], "-n"),
    (["-m", "x", "--prompt", "a", "--top-p", "0"], "--top-p"),
    (["-m", "x", "--prompt", "a", "--bogus"], "unknown option"),
    (["-m", "x", "--prompt", "a", "--load-format", "pickle"], "--load-format"),
])
def test_usage_errors(run_loom, args, needle):
    r = run_loom(["generate"] + args)
    assert r.returncode == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_bad_ids(run_loom, shared_dir):
    model = os.path.join(shared_dir, "models", "stories260K", "gguf", "stories260K.f32.gguf")
    for ids, needle in (("1,,2", "comma-separated"), ("1,99999", "outside the vocabulary"), ("-4", "comma-separated")):
        r = run_loom(["generate", "-m", model, "--ids", ids, "-n", "2"])
        assert r.returncode == 1 and needle in r.stderr, (ids, r.stderr)


def test_missing_model(run_loom, tmp_path):
    r = run_loom(["generate", "-m", tmp_path / "nope.gguf", "--prompt", "a"])
    assert r.returncode == 1 and "nope.gguf" in r.stderr


def test_unknown_command(run_loom):
    r = run_loom(["frobnicate"])
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_tokenize_and_detokenize(run_loom, shared_dir):
    stories = os.path.join(shared_dir, "models", "stories260K", "hf")
    r = run_loom(["tokenize", "-m", stories, "--ids-only", "Once upon a time"])
    assert r.returncode == 0 and r.stdout.strip() == "1,403,407,261,378", r.stdout + r.stderr
    r = run_loom(["tokenize", "-m", stories, "--ids-only", "--no-special", "Once upon a time"])
    assert r.stdout.strip() == "403,407,261,378"
    r = run_loom(["tokenize", "-m", stories, "Once upon"])
    assert r.stdout.splitlines() == ["1\t<s>", "403\t Once", "407\t upon"]
    llama3 = os.path.join(shared_dir, "tokenizers", "llama3", "tokenizer.json")
    r = run_loom(["detokenize", "-m", llama3, "9906,1917"])
    assert r.returncode == 0 and r.stdout == "Hello world\n"
    vocab = os.path.join(shared_dir, "tokenizers", "vectors", "ggml-vocab-gpt-2.gguf")
    r = run_loom(["tokenize", "-m", vocab, "--ids-only", "Hello world"])
    assert r.returncode == 0 and r.stdout.strip() == "15496,995"


def test_tokenize_errors(run_loom, tmp_path):
    r = run_loom(["tokenize", "-m", tmp_path / "none.gguf", "x"])
    assert r.returncode == 1 and "none.gguf" in r.stderr
    r = run_loom(["detokenize", "-m", tmp_path, "1,x"])
    assert r.returncode == 2 and "comma-separated" in r.stderr
    bad = tmp_path / "tokenizer.json"
    bad.write_text("{not json")
    r = run_loom(["tokenize", "-m", bad, "x"])
    assert r.returncode == 1 and "tokenizer.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_chat_template_matches_transformers(run_loom, tmp_path):
    """`loom chat-template` on the default model renders what transformers' apply_chat_template gives
    (tests/fixtures/chat_templates/smollm2.json, made by make_expected.py)."""
    import subprocess
    model = subprocess.run(["bash", os.path.join(ROOT, "scripts", "fetch-model.sh")], capture_output=True,
                           text=True, timeout=900).stdout.strip().splitlines()[-1]
    with open(os.path.join(ROOT, "tests", "fixtures", "chat_templates", "smollm2.json")) as f:
        cases = json.load(f)["cases"]
    for i, case in enumerate(cases):
        msgs = tmp_path / f"m{i}.json"
        msgs.write_text(json.dumps(case["messages"]))
        args = ["chat-template", "-m", model, "--messages", msgs]
        if not case["add_generation_prompt"]:
            args.append("--no-generation-prompt")
        r = run_loom(args)
        assert r.returncode == 0, r.stderr
        assert r.stdout == case["expected"], f"case {i}"
    bad = tmp_path / "bad.json"
    bad.write_text('[{"role": "user"')
    r = run_loom(["chat-template", "-m", model, "--messages", bad])
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1


def test_logprobs_limit_is_the_engines_max_logprobs(run_loom, dummy_dir, tmp_path):
    """Requests may ask for at most the engine's max_logprobs (20 by default, vLLM's); `generate --logprobs K`
    raises it for its own engine, so 40 works there while a batch line asking 21 is refused."""
    r = run_loom(["generate", "-m", dummy_dir, "--load-format", "dummy", "--ids", "1,2,3", "-n", "2",
                  "--temperature", "0", "--json", "--logprobs", "40"])
    assert r.returncode == 0, r.stderr
    assert all(len(step["top"]) == 40 for step in json.loads(r.stdout)["logprobs"])
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"prompt_ids": [1, 2], "max_tokens": 2, "logprobs": 21}) + "\n")
    r = run_loom(["batch", "-m", dummy_dir, "--load-format", "dummy", "--input", inp, "--output", tmp_path / "o.jsonl"])
    assert r.returncode == 1 and "logprobs must be in [0, 20]" in r.stderr, r.stderr
