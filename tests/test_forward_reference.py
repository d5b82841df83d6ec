"""loom's forward pass against an independent float64 NumPy reference (tests/reference/llama_ref.py).

Tiny random models (hidden 64-128, 2 layers, vocab 512, the stories260K tokenizer) are written at test
time by tests/reference/model_files.py as HF directories (F32 / F16 / BF16 safetensors, single or sharded)
and as GGUF v3 files (F32, Q8_0, mixed Q8_0/Q4_0/Q4_1/F16, mixed Q4_K/Q6_K/Q8_0; Q/K permuted like
llama.cpp). For each,
    $LOOM_BIN generate -m MODEL --ids 1,5,9,200,33 -n 16 --temperature 0 --ignore-eos --json
                       --dump-logits PATH
must (1) echo the prompt ids, (2) produce the reference's 16 greedy ids exactly, and (3) dump the logits of
all len(prompt) + 16 - 1 positions within the tolerance below of the reference run on the same token
sequence, with the weights the reference uses read back (and dequantized) from the very bytes loom reads.

A few tests check the oracle itself and need no loom: the reference reproduces llama2.c's logits and
greedy ids for the pretrained stories260K, the GGUF writer reproduces llama.cpp's conversion of it byte
for byte (so the Q/K permutation is llama.cpp's), and interleaved RoPE on the permuted weights equals
rotate-half RoPE on the HF weights.

Tolerances (max abs logit difference, all positions, relative to s = max(1, max|reference logit|)):
  * F32 / F16 / BF16 weights: 1e-3 * s. loom runs in float32 (eps 6e-8) on weights that float32 holds
    exactly (F16 and BF16 widen losslessly), so the only difference from the float64 reference is float32
    rounding in dot products of length <= 192, norms, softmax and exp: ~1e-6 relative per op, ~1e-5 of s
    at the logits (llama2.c's float32 logits of stories260K differ from this reference by 1.6e-5 at
    max|logit| 20). 1e-3 leaves ~100x headroom for summation order, an F16 KV cache (5e-4 relative per
    element) or fast exp, while every real bug seen in such engines (RoPE pairing or theta, missing bias,
    GQA head mapping, head_dim, rope scaling, untied head, eps) moves logits by O(0.1-1) * s (e.g. dropping
    the llama3 rope scaling changes them by 9.8 at s = 11).
  * quantized GGUF (Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K tensors): 1e-2 * s. The reference uses the exactly dequantized
    weights and quantizes the activations of those matmuls to 8-bit blocks as loom and llama.cpp do
    (int8_activation_weights below); what remains is float32 accumulation plus activations that sit
    on a rounding boundary of that quantization in one run and not the other (measured: <= 0.7% of s).
Every fixture's reference greedy run has top-1 minus top-2 logit >= 2 * tolerance at every step (asserted
below): an engine within tolerance therefore cannot pick a different greedy token, so the ids must match
exactly for all 16 steps.
"""
import json
import os

import numpy as np
import pytest

import llama_ref
import model_files

PROMPT = model_files.PROMPT_IDS
N_GEN = model_files.N_GEN
TOL_FLOAT = 1e-3
TOL_QUANT = 1e-2

# (case, fixture model, safetensors dtype, shards)
HF_CASES = [
    ("hf-llama-tied-gqa-f32", "llama-tied-gqa", "F32", 1),
    ("hf-qwen2-bias-headdim-f32", "qwen2-bias-headdim", "F32", 1),
    ("hf-mistral-gqa4-f32", "mistral-gqa4", "F32", 1),
    ("hf-llama3-rope-scaling-f32", "llama3-rope-scaling", "F32", 1),
    ("hf-llama-tied-gqa-f16", "llama-tied-gqa", "F16", 1),
    ("hf-qwen2-bias-headdim-bf16", "qwen2-bias-headdim", "BF16", 1),
    ("hf-mistral-gqa4-sharded", "mistral-gqa4", "F32", 2),
]
GGUF_CASES = [c[0] for c in model_files.GGUF_CASES]
ALL_CASES = [c[0] for c in HF_CASES] + GGUF_CASES


@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory):
    return tmp_path_factory.mktemp("forward_fixtures")


_built = {}

def int8_activation_weights(types):
    """The weights whose matmul input loom (like llama.cpp) quantizes to int8 blocks for integer dot
    products: Q8_0/Q4_0/Q4_1/Q4_K/Q6_K matrices (K-quants too take blocks of 32 activations), except
    that the fused groups (q,k,v) and (gate,up) share one input and take int8 activations only when every
    matrix of the group is of those types. The reference applies the same quantization
    (llama_ref.quantize_activations_q8) to exactly these."""
    int8 = (model_files.GGML_Q8_0, model_files.GGML_Q4_0, model_files.GGML_Q4_1, model_files.GGML_Q4_K,
            model_files.GGML_Q6_K)
    chosen = {n for n, t in types.items() if t in int8}
    groups = (("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"), ("mlp.gate_proj", "mlp.up_proj"))
    for n in list(chosen):
        for group in groups:
            for member in group:
                if f".{member}." not in n:
                    continue
                names = [n.replace(f".{member}.", f".{other}.") for other in group]
                if not all(types.get(m) in int8 for m in names):
                    chosen.discard(n)
    return chosen


def build_case(case, root, shared_dir):
    """Writes the case's model files; returns (model path for loom, reference config, reference weights,
    tolerance). The reference weights are read back from the written files."""
    if case in _built:
        return _built[case]
    hf = {c[0]: c for c in HF_CASES}
    if case in hf:
        _, model, dtype, shards = hf[case]
        cfg, w = model_files.fixture_model(model)
        path = os.path.join(root, case)
        model_files.write_hf_dir(path, cfg, w, shared_dir, dtype=dtype, shards=shards)
        rcfg, rw = model_files.load_hf_dir(path)
        tol, act_quant = TOL_FLOAT, set()
    else:
        path = os.path.join(root, case + ".gguf")
        model_files.write_gguf_case(path, case, shared_dir)
        rcfg, rw, types = model_files.load_gguf(path)
        act_quant = int8_activation_weights(types)
        tol = TOL_QUANT if act_quant else TOL_FLOAT
    _built[case] = (path, rcfg, rw, tol, act_quant)
    return _built[case]


def run_generate(run_loom, model, dump):
    # an f32 KV cache, as the reference computes: the KV dtypes' own rounding is tested in test_kv_context.c
    args = ["generate", "-m", model, "--ids", ",".join(map(str, PROMPT)), "-n", N_GEN, "--kv-cache-dtype", "f32",
            "--temperature", "0", "--ignore-eos", "--json", "--dump-logits", dump]
    proc = run_loom(args, timeout=120)
    cmd = "loom " + " ".join(map(str, args))
    assert proc.returncode == 0, f"{cmd}\nexit {proc.returncode}\nstderr:\n{proc.stderr[-3000:]}"
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"{cmd}: stdout is not one JSON object ({e}):\n{proc.stdout[:2000]}")
    return out, cmd


@pytest.mark.parametrize("case", ALL_CASES)
def test_forward_matches_reference(case, fixture_root, shared_dir, run_loom):
    model, rcfg, rw, tol, act_quant = build_case(case, str(fixture_root), shared_dir)

    # the oracle's own run and the fixture's soundness (clear argmax at every greedy step)
    ref_ids, ref_logits = llama_ref.greedy_generate(rw, rcfg, PROMPT, N_GEN, act_quant=act_quant)
    scale = max(1.0, float(np.abs(ref_logits).max()))
    margins = llama_ref.top2_margin(ref_logits[len(PROMPT) - 1:])
    assert margins.min() >= 2 * tol * scale, (
        f"{case}: fixture unsound, reference top-1/top-2 margin {margins.min():.4g} at step "
        f"{int(margins.argmin())} < 2 * tol * scale = {2 * tol * scale:.4g}")

    dump = os.path.join(str(fixture_root), case + ".logits.f32")
    if os.path.exists(dump):
        os.remove(dump)
    out, cmd = run_generate(run_loom, model, dump)
    assert out.get("prompt_ids") == PROMPT, f"{case}: prompt_ids {out.get('prompt_ids')} != {PROMPT}"
    ids = out.get("ids")
    assert isinstance(ids, list) and len(ids) == N_GEN, f"{case}: expected {N_GEN} ids, got {ids!r}"

    # logits of loom's own token sequence (so a divergence still gets a precise logit comparison)
    seq = PROMPT + ids[:-1]
    n_pos = len(seq)
    assert os.path.exists(dump), f"{case}: {cmd} wrote no --dump-logits file"
    raw = np.fromfile(dump, dtype="<f4")
    V = rcfg["vocab_size"]
    assert raw.size == n_pos * V, (
        f"{case}: dump has {raw.size} floats, expected {n_pos} positions x {V} vocab = {n_pos * V}")
    got = raw.reshape(n_pos, V).astype(np.float64)
    ref = ref_logits if ids == ref_ids else llama_ref.forward(rw, rcfg, seq)
    assert np.all(np.isfinite(got)), (
        f"{case}: non-finite logits at positions {sorted(set(np.nonzero(~np.isfinite(got))[0].tolist()))}")
    diff = np.abs(got - ref)
    per_pos = diff.max(axis=1)
    bad = np.nonzero(per_pos > tol * scale)[0]
    if len(bad):
        p = int(bad[0])
        j = int(diff[p].argmax())
        raise AssertionError(
            f"{case}: logits differ from the reference beyond {tol:g} * {scale:.3g} = {tol * scale:.4g} at "
            f"{len(bad)}/{n_pos} positions; first bad position {p} (token {seq[p]}): max abs diff "
            f"{per_pos[p]:.4g} at vocab {j} (loom {got[p, j]:.6g}, reference {ref[p, j]:.6g}); worst "
            f"position {int(per_pos.argmax())} diff {per_pos.max():.4g}; per-position max diffs "
            f"{np.array2string(per_pos, precision=3, max_line_width=200)}")

    if ids != ref_ids:
        k = next(i for i in range(N_GEN) if ids[i] != ref_ids[i])
        raise AssertionError(
            f"{case}: greedy ids diverge at step {k}: loom {ids}, reference {ref_ids} (reference margin there "
            f"{margins[k]:.4g}; logits were within tolerance, so check the argmax/sampling path)")


# ---------------------------------------------------------------------------------------------------
# checks of the oracle itself (no loom needed)

STORIES = "models/stories260K"


def stories_reference(shared_dir):
    with open(os.path.join(shared_dir, STORIES, "reference/greedy_once_upon_a_time_ids.json")) as f:
        ref = json.load(f)
    logits = np.fromfile(os.path.join(shared_dir, STORIES, "reference/logits_first16_positions.f32"),
                         dtype="<f4").reshape(16, 512)
    return ref["prompt_ids"], ref["generated_ids"], logits


def test_reference_reproduces_stories260K(shared_dir):
    prompt, gen, want = stories_reference(shared_dir)
    cfg, w = model_files.load_hf_dir(os.path.join(shared_dir, STORIES, "hf"))
    seq = prompt + gen
    logits = llama_ref.forward(w, cfg, seq[:-1])
    d = np.abs(logits[:16] - want)
    assert d.max() <= 1e-4, f"stories260K: reference vs llama2.c logits max abs diff {d.max():.3g} " \
                            f"at position {np.unravel_index(d.argmax(), d.shape)[0]}"
    # greedy == argmax of each position when fed its own greedy output (one pass over the full run)
    pred = logits[len(prompt) - 1:].argmax(axis=1).tolist()
    assert pred == gen, f"stories260K greedy ids diverge at step {next(i for i in range(len(gen)) if pred[i] != gen[i])}"
    # and the incremental helper agrees on a prefix
    g16, _ = llama_ref.greedy_generate(w, cfg, prompt, 16)
    assert g16 == gen[:16]


def test_gguf_writer_matches_llama_cpp_conversion(shared_dir, tmp_path):
    """Our HF->GGUF writer (names, dims, Q/K permutation) reproduces the llama.cpp-converted
    stories260K.f32.gguf tensor for tensor, byte for byte."""
    cfg, w = model_files.load_hf_dir(os.path.join(shared_dir, STORIES, "hf"))
    ours_path = str(tmp_path / "stories.gguf")
    model_files.write_gguf_model(ours_path, cfg, {k: v.astype(np.float32) for k, v in w.items()}, shared_dir)
    ours = model_files.read_gguf(ours_path)
    theirs = model_files.read_gguf(os.path.join(shared_dir, model_files.STORIES_GGUF))
    t_by = {t["name"]: t for t in theirs.tensors}
    assert sorted(t_by) == sorted(t["name"] for t in ours.tensors)
    for t in ours.tensors:
        o = t_by[t["name"]]
        assert o["dims"] == t["dims"] and o["type"] == t["type"], t["name"]
        n = int(np.prod(t["dims"])) * 4
        a = ours.data[ours.data_start + t["offset"]:][:n]
        b = theirs.data[theirs.data_start + o["offset"]:][:n]
        assert a == b, f"tensor {t['name']} differs from llama.cpp's conversion"
    for k in ("llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
              "llama.feed_forward_length", "tokenizer.ggml.model"):
        assert ours.kv[k].value == theirs.kv[k].value, k


def test_interleaved_rope_on_gguf_equals_rotate_half_on_hf(shared_dir):
    prompt, gen, want = stories_reference(shared_dir)
    cfg, w, _ = model_files.load_gguf(os.path.join(shared_dir, model_files.STORIES_GGUF), unpermute=False)
    logits = llama_ref.forward(w, cfg, (prompt + gen)[:16], rope_style="interleaved")
    assert np.abs(logits - want).max() <= 1e-4


def test_quantizers_round_trip():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((8, 64)) * np.exp(rng.standard_normal((8, 1)))).astype(np.float32)
    x[0, :32] = 0.0  # an all-zero block
    blocks = x.reshape(-1, 32).astype(np.float64)
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    for name, bound in (("Q8_0", amax / 127 / 2), ("Q4_0", amax / 8),
                        ("Q4_1", (blocks.max(1, keepdims=True) - blocks.min(1, keepdims=True)) / 15 / 2)):
        gt = model_files.GGML_NAMES[name]
        raw = model_files.encode_tensor(x, gt)
        assert len(raw) == x.size // 32 * model_files.GGML_BLOCK[gt][1]
        y = model_files.dequantize(raw, gt, x.size).reshape(-1, 32)
        # error bound: half a step (+ f16 rounding of the scale / min)
        assert np.all(np.abs(y - blocks) <= bound * 1.01 + 2e-3 * amax + 1e-12), name
        assert np.all(y[0] == 0.0), name
