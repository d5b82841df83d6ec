"""The dense families beyond Llama (Qwen3, Gemma 2, Gemma 3 and the text model of its image-text checkpoints,
Phi-3, OLMo 2) and the RoPE variants (YaRN, linear, LongRoPE, and Llama 3.1's, whose GGUF form is llama.cpp's
rope_freqs tensor) against Hugging Face transformers, from both formats.

The fixtures (tests/fixtures/families/CASE/, written by make_families.py with torch) are tiny random-weight
checkpoints in each family's Hub config format, the same weights converted to GGUF by llama.cpp's
convert_hf_to_gguf.py, and transformers' float32 greedy ids and logits on them. For each case and format:
    loom generate -m MODEL --ids PROMPT -n 16 --temperature 0 --ignore-eos --json --dump-logits F
must give transformers' 16 greedy ids exactly and every position's logits within expected.json's tolerance
(2e-3 x max(1, max|logit|)): loom computes in float32 on BF16 weights that float32 holds exactly, like the
oracle, so what differs is float32 rounding and summation order (measured: at most 1.7e-6 x scale, every
case and format; the headroom is for other summation orders); a wrong norm offset, window, soft cap, RoPE
base or scaling moves logits by 0.05-1 x scale. Each fixture's greedy run has a
top-1/top-2 margin of at least twice the tolerance at every step (checked again here), so ids within
tolerance cannot differ. expected.json also records llama.cpp's greedy ids on the GGUF (llama-server at
generation time), which must equal transformers'.

Also: the chat template each fixture carries (the family's real one) renders through loom's Jinja engine as
transformers' apply_chat_template renders it, from the HF directory and from the GGUF's metadata; Gemma 2's
sliding windows over a 270-token prompt (windows crossing the attention's 256-key chunks); batched runs equal
runs alone; tensor parallel 2 (KV heads replicated when there is one) and pipeline parallel 2 under mpirun
give the single-process ids. And what loom cannot run yet is refused with an error naming it.
"""
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

import mpi_util
from conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "families")
CASES = sorted(d for d in os.listdir(FIXTURES) if os.path.exists(os.path.join(FIXTURES, d, "expected.json")))
FORMATS = {"hf": "", "gguf": "model.gguf"}


def expected(case):
    with open(os.path.join(FIXTURES, case, "expected.json")) as f:
        return json.load(f)


def model_path(case, fmt):
    return os.path.join(FIXTURES, case, FORMATS[fmt])


def margins(logits):
    top = np.sort(logits, axis=1)
    return top[:, -1] - top[:, -2]


def generate(run_loom, model, prompt, n, dump=None, extra=()):
    # an f32 KV cache, as transformers computes (bf16 checkpoints would otherwise get a bf16 one)
    args = ["generate", "-m", model, "--ids", ",".join(map(str, prompt)), "-n", n, "--temperature", "0",
            "--ignore-eos", "--json", "--kv-cache-dtype", "f32", *extra]
    if dump:
        args += ["--dump-logits", dump]
    proc = run_loom(args, timeout=120)
    assert proc.returncode == 0, f"loom {' '.join(map(str, args))}\nexit {proc.returncode}\n{proc.stderr[-3000:]}"
    out = json.loads(proc.stdout)
    assert out["prompt_ids"] == prompt
    return out["ids"]


def check_logits(case, got, ref, tol, what):
    diff = np.abs(got.astype(np.float64) - ref)
    per_pos = diff.max(axis=1)
    assert np.all(np.isfinite(got)), f"{case} {what}: non-finite logits"
    assert per_pos.max() <= tol, (
        f"{case} {what}: logits differ from transformers' by up to {per_pos.max():.4g} (tolerance {tol:.4g}); "
        f"per position {np.array2string(per_pos, precision=3, max_line_width=200)}")


def test_fixtures_present():
    assert set(CASES) >= {"qwen3", "qwen3-yarn", "gemma2", "gemma3", "gemma3-mm", "phi3", "phi3-longrope", "olmo2",
                          "llama3-rope"}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("case", CASES)
def test_matches_transformers(case, fmt, run_loom, tmp_path):
    exp = expected(case)
    ref = np.load(os.path.join(FIXTURES, case, "logits.npy"))
    prompt, want = exp["prompt_ids"], exp["ids"]
    tol = exp["tolerance"] * exp["logits_scale"]
    assert margins(ref[len(prompt) - 1:]).min() >= 2 * tol, f"{case}: fixture unsound (greedy margin below 2 x tol)"
    if exp["llama_cpp_ids"] is not None:
        assert exp["llama_cpp_ids"] == want, f"{case}: llama.cpp's greedy ids on the GGUF differ from transformers'"
    dump = str(tmp_path / "logits.f32")
    ids = generate(run_loom, model_path(case, fmt), prompt, len(want), dump)
    got = np.fromfile(dump, dtype="<f4")
    assert got.size == ref.size, f"{case} {fmt}: dumped {got.size} logits, expected {ref.shape}"
    check_logits(case, got.reshape(ref.shape), ref, tol, fmt)
    assert ids == want, f"{case} {fmt}: greedy ids {ids} != transformers' {want}"


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("case", [c for c in CASES if "long" in expected(c)])
def test_long_prompt_sliding_windows(case, fmt, run_loom, tmp_path):
    long = expected(case)["long"]
    ref = np.load(os.path.join(FIXTURES, case, "long_logits.npy"))
    tol = expected(case)["tolerance"] * long["logits_scale"]
    dump = str(tmp_path / "logits.f32")
    ids = generate(run_loom, model_path(case, fmt), long["prompt_ids"], len(long["ids"]), dump)
    vocab = ref.shape[1]
    got = np.fromfile(dump, dtype="<f4").reshape(-1, vocab)[long["positions"]]
    check_logits(case, got, ref, tol, f"{fmt}, long prompt")
    if long["margin"] >= 2 * tol:
        assert ids == long["ids"]


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("case", CASES)
def test_chat_template_renders_like_transformers(case, fmt, run_loom, tmp_path):
    chat = expected(case)["chat"]
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(chat["messages"]))
    proc = run_loom(["chat-template", "-m", model_path(case, fmt), "--messages", messages])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == chat["rendered"], \
        f"{case} {fmt}:\nloom:\n{proc.stdout!r}\ntransformers:\n{chat['rendered']!r}"


@pytest.mark.parametrize("case", ["gemma2", "gemma3", "phi3-longrope"])
def test_batched_equals_alone(case, run_loom, tmp_path):
    """Sequences of several lengths batched together (sliding-window layers included) give the ids each
    gives alone."""
    exp = expected(case)
    base = exp["prompt_ids"]
    prompts = [base, base[:3], base * 3, [7] + base[1:]]
    alone = [generate(run_loom, model_path(case, "hf"), p, 12) for p in prompts]
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"prompt_ids": p, "max_tokens": 12, "temperature": 0, "ignore_eos": True}) + "\n"
                           for p in prompts))
    proc = run_loom(["batch", "-m", model_path(case, "hf"), "--input", inp, "--output", out], timeout=120)
    assert proc.returncode == 0, proc.stderr
    batched = [json.loads(line)["ids"] for line in out.read_text().splitlines()]
    assert batched == alone


LAYOUTS = {"tp2": (2, 1), "pp2": (1, 2)}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("case", CASES)
def test_parallel_matches_single_process(case, layout, loom_bin, run_loom):
    check_parallel(case, *LAYOUTS[layout], loom_bin)


@pytest.mark.parametrize("case", ["gemma3", "olmo2"])
def test_tp4_replicates_kv_heads(case, loom_bin):
    """4 ranks over 4 query heads: Gemma 3's one KV head on every rank, OLMo 2's two KV heads on two ranks
    each (its q/k norms span the whole projection: their sums of squares count each KV head once)."""
    check_parallel(case, 4, 1, loom_bin)


def check_parallel(case, tp, pp, loom_bin):
    exp = expected(case)
    args = ["generate", "-m", model_path(case, "hf"), "--ids", ",".join(map(str, exp["prompt_ids"])), "-n", "16",
            "--temperature", "0", "--ignore-eos", "--json", "--tensor-parallel-size", tp, "--pipeline-parallel-size",
            pp, "--threads", "1"]
    cmd = mpi_util.mpirun_cmd(tp * pp, [loom_bin] + [str(a) for a in args])
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = json.loads(proc.stdout.strip().splitlines()[-1])["ids"]
    assert ids == exp["ids"], f"{case} tp {tp} pp {pp}: {ids} != {exp['ids']}"


# config.json changes loom must refuse, and the words its error must contain
UNSUPPORTED = {
    "architecture": ({"architectures": ["FalconForCausalLM"]},
                     "unsupported architecture 'FalconForCausalLM' (supported: LlamaForCausalLM"),
    "dynamic-ntk": ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}},
                    "rope_scaling type 'dynamic' (dynamic NTK) is not supported"),
    "rope-type": ({"rope_scaling": {"type": "ntk-by-parts", "factor": 2.0}},
                  "unsupported rope_scaling type 'ntk-by-parts' (supported: llama3, linear, yarn, longrope)"),
    "rope-parameters": ({"rope_parameters": {"rope_type": "mrope", "rope_theta": 10000.0}},
                        "unsupported rope_scaling type 'mrope'"),
    "activation": ({"hidden_act": "gelu"}, "hidden_act 'gelu' is not supported (supported: silu, gelu_pytorch_tanh)"),
    "partial-rotary": ({"partial_rotary_factor": 0.5}, "partial_rotary_factor other than 1 is not supported"),
    "layer-type": ({"use_sliding_window": True, "sliding_window": 8,
                    "layer_types": ["chunked_attention", "full_attention"]},
                   "layer type 'chunked_attention' of layer 0 is not supported"),
    "mlp-bias": ({"mlp_bias": True}, "mlp_bias true is not supported"),
    "yarn-without-original": ({"rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
                              "rope_scaling yarn needs original_max_position_embeddings"),
}


@pytest.mark.parametrize("what", list(UNSUPPORTED))
def test_unsupported_config_is_refused_by_name(what, run_loom, tmp_path):
    change, message = UNSUPPORTED[what]
    d = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURES, "qwen3"), d)
    with open(d / "config.json") as f:
        cfg = json.load(f)
    cfg.update(change)
    (d / "config.json").write_text(json.dumps(cfg))
    proc = run_loom(["generate", "-m", d, "--ids", "1,2,3", "-n", "1"])
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_unsupported_gguf_architecture_is_refused_by_name(run_loom, tmp_path):
    import gguf
    path = str(tmp_path / "falcon.gguf")
    w = gguf.GGUFWriter(path, "falcon")
    w.add_block_count(1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    proc = run_loom(["generate", "-m", path, "--ids", "1", "-n", "1"])
    assert proc.returncode != 0, proc.stderr
    assert "unsupported architecture 'falcon' (supported: llama, qwen2, qwen3, gemma2, gemma3, phi3, olmo2, qwen2moe, qwen3moe, olmoe" in \
        proc.stderr, proc.stderr


def test_tensor_parallel_kv_heads_must_divide_or_be_divided(run_loom, tmp_path):
    """6 query heads, 3 KV heads: TP 3 splits them, TP 6 replicates each KV head on 2 ranks, TP 2 can do
    neither (a rank's 3 query heads would read two KV heads)."""
    d = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURES, "qwen3"), d)
    with open(d / "config.json") as f:
        cfg = json.load(f)
    cfg.update({"num_attention_heads": 6, "num_key_value_heads": 3, "hidden_size": 48, "head_dim": 16,
                "intermediate_size": 96})
    (d / "config.json").write_text(json.dumps(cfg))
    for tp in (3, 6):
        proc = run_loom(["plan", "-m", d, "--load-format", "dummy", "--tensor-parallel-size", tp])
        assert proc.returncode == 0, proc.stderr
    proc = run_loom(["plan", "-m", d, "--load-format", "dummy", "--tensor-parallel-size", 2])
    assert proc.returncode != 0
    assert "tensor parallel size 2 must divide the number of KV heads (3) or be a multiple of it" in proc.stderr, \
        proc.stderr


def test_quantized_gguf_of_fused_projections(run_loom, tmp_path):
    """`loom quantize` converts Phi-3's fused attn_qkv (and ffn_up, gate and up in one) like the other layer
    matrices, to the same bytes load-time quantization gives the q/k/v row ranges: the written file's
    greedy ids equal --quantization int8 on the original."""
    import gguf
    src, out = model_path("phi3", "gguf"), str(tmp_path / "phi3.q8_0.gguf")
    proc = run_loom(["quantize", src, out, "--type", "int8"])
    assert proc.returncode == 0, proc.stderr
    types = {t.name: int(t.tensor_type) for t in gguf.GGUFReader(out).tensors}
    assert types["blk.0.attn_qkv.weight"] == 8 and types["blk.0.ffn_up.weight"] == 8, types
    prompt = expected("phi3")["prompt_ids"]
    assert generate(run_loom, out, prompt, 16) == generate(run_loom, src, prompt, 16, extra=["--quantization", "int8"])
