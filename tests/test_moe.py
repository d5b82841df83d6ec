"""Mixture-of-experts models (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE) against Hugging Face transformers and
llama.cpp, on the committed fixtures of tests/fixtures/moe/ (tiny random-weight models written, and their
oracle outputs recorded, by tests/fixtures/moe/make_moe_fixtures.py, which needs torch; see its docstring).

For each family, from its HF directory (BF16 safetensors) and from llama.cpp's BF16 GGUF conversion of it,
    loom generate -m MODEL --ids 1,5,9,200,33 -n 16 --temperature 0 --ignore-eos --json --dump-logits F
must give transformers' 16 greedy ids exactly (the recorded float32 and float64 runs agree, and so does
llama.cpp on the GGUF), and logits at every position within TOL x max(1, max|logit|) of transformers'
float64 run. The weights are bfloat16 values, held exactly by every format, and loom computes in float32:
what remains is float32 rounding (~1e-6 relative per op, ~1e-5 of the scale at the logits; see
tests/test_forward_reference.py), so 1e-3 leaves ~100x headroom, while a wrong routing rule (softmax
order, renormalisation, top-k), a missing shared-expert gate or q/k norm moves logits by O(0.1-1) of the
scale. The fixtures are sound at that tolerance: every greedy step's top-1 logit leads by >= 5x it and
every routing decision by >= 2e-4 in probability (asserted at generation, recorded in expected.json).

Also: batch invariance (a prompt's greedy ids and top-5 logprobs identical, to the last bit, alone and
among 12 prompts of mixed lengths in one engine), and clear errors for what is not supported."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "moe")
FAMILIES = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"]
TOL = 1e-3


def expected(family):
    with open(os.path.join(FIXTURES, family, "expected.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def hf_dirs(shared_dir, tmp_path_factory):
    """Each fixture's config.json + model.safetensors beside the stories260K tokenizer (vocab 512)."""
    out = {}
    tok = os.path.join(shared_dir, "models", "stories260K", "hf")
    for family in FAMILIES:
        d = tmp_path_factory.mktemp(family)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(os.path.join(FIXTURES, family, f), d / f)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(tok, f), d / f)
        out[family] = str(d)
    return out


def generate(run_loom, model, dump, *extra):
    # an f32 KV cache, as the oracle computes (the bf16 checkpoints would otherwise get a bf16 one)
    args = ["generate", "-m", model, "--ids", "1,5,9,200,33", "-n", "16", "--temperature", "0", "--ignore-eos",
            "--json", "--dump-logits", dump, "--kv-cache-dtype", "f32", *extra]
    r = run_loom(args, timeout=120)
    assert r.returncode == 0, f"loom {' '.join(map(str, args))}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout)


def check_against_oracle(family, out, dump):
    want = expected(family)
    assert want["ids"] == want["ids_float64"] == want["llama_cpp_ids"], want  # the oracles agree
    ref = np.fromfile(os.path.join(FIXTURES, family, "logits.f32"), dtype="<f4").reshape(-1, 512).astype(np.float64)
    got = np.fromfile(dump, dtype="<f4").astype(np.float64)
    assert got.size == ref.size, f"{family}: {got.size} logits dumped, expected {ref.size}"
    got = got.reshape(ref.shape)
    scale = max(1.0, float(np.abs(ref).max()))
    diff = np.abs(got - ref).max(axis=1)
    assert out["prompt_ids"] == want["prompt_ids"]
    assert diff.max() <= TOL * scale, (
        f"{family}: logits differ from transformers by up to {diff.max():.4g} (> {TOL} x {scale:.3g}); per position "
        f"{np.array2string(diff, precision=3)}; loom ids {out['ids']}, transformers {want['ids']}")
    assert out["ids"] == want["ids"], f"{family}: loom {out['ids']} != transformers {want['ids']}"
    return diff.max() / scale


@pytest.mark.parametrize("family", FAMILIES)
def test_hf_checkpoint_matches_transformers(family, hf_dirs, run_loom, tmp_path):
    dump = str(tmp_path / "logits.f32")
    check_against_oracle(family, generate(run_loom, hf_dirs[family], dump), dump)


@pytest.mark.parametrize("family", FAMILIES)
def test_gguf_matches_transformers_and_llama_cpp(family, run_loom, tmp_path):
    dump = str(tmp_path / "logits.f32")
    out = generate(run_loom, os.path.join(FIXTURES, family, "model.gguf"), dump)
    check_against_oracle(family, out, dump)


WORDS = ("once upon a time there was a little girl named Lily who liked to play in the park with her "
         "dog Max and one day they found a big red ball under a tree").split()


def run_batch(run_loom, model, tmp_path, lines, name, *flags):
    inp, out = tmp_path / f"{name}.in.jsonl", tmp_path / f"{name}.jsonl"
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = run_loom(["batch", "-m", model, "--input", inp, "--output", out, *flags], timeout=300)
    assert r.returncode == 0, r.stderr
    return [json.loads(x) for x in out.read_text().splitlines()]


@pytest.mark.parametrize("family", ["qwen2_moe", "olmoe"])
def test_batched_experts_are_batch_invariant(family, hf_dirs, run_loom, tmp_path):
    """12 prompts (2 to 40 tokens) in one engine, prefill chunks and decode steps mixed, each token's
    experts run over whichever tokens share them: every prompt's ids and top-5 logprobs are exactly
    those of the prompt run alone."""
    lines = [{"prompt": " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(2 + (i * 7) % 39)).capitalize(),
              "max_tokens": 12, "temperature": 0, "logprobs": 5, "ignore_eos": True} for i in range(12)]
    together = run_batch(run_loom, hf_dirs[family], tmp_path, lines, "together", "--max-num-batched-tokens", "64")
    for i, line in enumerate(lines):
        alone = run_batch(run_loom, hf_dirs[family], tmp_path, [line], f"alone{i}")[0]
        assert together[i]["ids"] == alone["ids"], (i, together[i]["ids"], alone["ids"])
        assert together[i]["logprobs"] == alone["logprobs"], f"prompt {i}: logprobs differ alone vs batched"


def write_config(tmp_path, family, **changes):
    with open(os.path.join(FIXTURES, family, "config.json")) as f:
        cfg = json.load(f)
    cfg.update(changes)
    d = tmp_path / "cfg"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


@pytest.mark.parametrize("family,changes,message", [
    ("qwen2_moe", {"mlp_only_layers": [1]}, "dense layers between the sparse ones"),
    ("qwen3_moe", {"decoder_sparse_step": 2}, "decoder_sparse_step 2"),
    ("olmoe", {"clip_qkv": 8.0}, "clip_qkv is not supported"),
    ("mixtral", {"num_experts_per_tok": 5}, "num_experts_per_tok (5) <= num_experts (4)"),
    ("olmoe", {"num_experts": 0}, "needs num_experts > 0"),
])
def test_unsupported_configs_fail_clearly(family, changes, message, run_loom, tmp_path):
    r = run_loom(["generate", "-m", write_config(tmp_path, family, **changes), "--load-format", "dummy", "--ids", "1",
                  "-n", "1"])
    assert r.returncode == 1 and message in r.stderr, r.stderr


def split_experts_gguf(src, dst):
    """src with every stacked ffn_{gate,up,down}_exps tensor written as one matrix per expert, the older
    Mixtral GGUF layout (blk.L.ffn_gate.E.weight ...); metadata and other tensors as they are."""
    import gguf
    r = gguf.GGUFReader(src)
    w = gguf.GGUFWriter(dst, str(r.fields["general.architecture"].contents()))
    for field in r.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        vtype = field.types[0]
        w.add_key_value(field.name, field.contents(), vtype,
                        sub_type=field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None)
    n_split = 0
    for t in r.tensors:
        data, kind = np.array(t.data), t.tensor_type
        if "_exps." not in t.name:
            w.add_tensor(t.name, data, raw_shape=data.shape if kind != gguf.GGMLQuantizationType.BF16 else None,
                         raw_dtype=kind)
            continue
        layer, what = t.name.split(".")[1], t.name.split(".")[2].replace("_exps", "")
        for e in range(data.shape[0]):
            w.add_tensor(f"blk.{layer}.{what}.{e}.weight", data[e], raw_dtype=kind)
            n_split += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return n_split


def test_gguf_with_per_expert_matrices(run_loom, tmp_path):
    """Older Mixtral GGUFs store each expert's matrices apart (ffn_gate.E / ffn_up.E / ffn_down.E): the same
    weights give the same ids and logits."""
    path = str(tmp_path / "mixtral-per-expert.gguf")
    assert split_experts_gguf(os.path.join(FIXTURES, "mixtral", "model.gguf"), path) == 2 * 3 * 4
    dump = str(tmp_path / "logits.f32")
    check_against_oracle("mixtral", generate(run_loom, path, dump), dump)
