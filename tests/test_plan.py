"""`loom plan` (the memory planner, issue 4): its JSON matches the formulas worked by hand, for the
SmolLM2 default model (GGUF; weights summed from the file with the `gguf` package) and a dummy
Llama-3-8B-shaped config.json (no weights: --load-format dummy reads only the config); and it fails fast,
saying what to change, when max-model-len cannot fit. With --tensor-parallel-size / --pipeline-parallel-size
(issue 9) it plans every rank: each holds 1/T of every split matrix, the replicated norms, its stage's
layers, the embedding on the first stage and the LM head (+ final norm) on the last, and the KV of its
layers x its KV heads.

  KV bytes/token = 2 x layers x kv_heads x head_dim x dtype bytes, plus for fp8 a 4-byte float32 scale
                   per token, layer, K/V and KV head; for int8 a float16 scale and zero (4 bytes) per
                   token, layer and KV head for V, and per layer, block and K channel for K, that is
                   layers x ceil(4 x kv_heads x head_dim / block_size) per token
  activations    = 4 x (3 hidden + 2 q_dim + 2 kv_dim + 2 intermediate) x max_num_batched_tokens
                   + max_num_seqs x vocab x 4 (logits)
  KV budget      = --kv-cache-memory, else min(4 GiB, max_num_seqs x max_model_len tokens' KV, memory limit
                   - weights - activations)
  num_kv_blocks  = floor(KV budget / (block_size x KV bytes/token))"""
import json
import os
import subprocess

import pytest

GIB = 1 << 30

LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
    "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "bos_token_id": 128000, "eos_token_id": 128001,
}


def plan(run_loom, model, *args):
    r = run_loom(["plan", "-m", model, "--json", *args])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def llama3_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama3-8b-shape")
    (d / "config.json").write_text(json.dumps(LLAMA3_8B))
    return str(d)


def llama3_weights_bytes(dtype_bytes=4):
    h, f, L, v, kv = 4096, 14336, 32, 128256, 8 * 128
    per_layer = h * h + 2 * kv * h + h * h + 3 * f * h + 2 * h  # q, k, v, o, gate/up/down, two norms
    return dtype_bytes * (v * h + L * per_layer + h + v * h)  # embed, layers, final norm, lm_head


def default_budget(limit, weights, activations, max_num_seqs, max_model_len, per_token):
    """The KV budget without --kv-cache-memory: what the sequences need, at most 4 GiB, within the limit."""
    return min(4 * GIB, max_num_seqs * max_model_len * per_token, limit - weights - activations)


@pytest.mark.parametrize("dtype,per_token", [("f32", 2 * 32 * 8 * 128 * 4), ("f16", 2 * 32 * 8 * 128 * 2),
                                             ("bf16", 2 * 32 * 8 * 128 * 2),
                                             ("int8", 32 * (2 * 8 * 128 + 8 * 4 + 4 * 8 * 128 // 16)),
                                             ("fp8", 2 * 32 * 8 * (128 + 4))])
def test_llama3_8b_dummy_kv_budget(run_loom, llama3_dir, dtype, per_token):
    p = plan(run_loom, llama3_dir, "--load-format", "dummy", "--kv-cache-memory", str(8 * GIB), "--kv-cache-dtype", dtype)
    assert p["weights_bytes"] == llama3_weights_bytes()
    assert p["kv_bytes_per_token"] == per_token
    assert p["block_size"] == 16
    assert p["num_kv_blocks"] == 8 * GIB // (16 * per_token)
    assert p["max_tokens_in_kv"] == p["num_kv_blocks"] * 16
    assert p["kv_cache_bytes"] == p["num_kv_blocks"] * 16 * per_token
    assert p["max_model_len"] == 8192
    assert p["max_concurrent_seqs"] == p["num_kv_blocks"] // (8192 // 16)
    if dtype == "f16":
        assert (p["num_kv_blocks"], p["max_concurrent_seqs"]) == (4096, 8)


def test_llama3_8b_dummy_memory_limit(run_loom, llama3_dir):
    limit = 40 * 10**9
    p = plan(run_loom, llama3_dir, "--load-format", "dummy", "--memory-limit", str(limit), "--kv-cache-dtype", "f16",
             "--block-size", "32", "--max-num-batched-tokens", "1024", "--max-model-len", "4096")
    activations = 4 * (3 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 14336) * 1024 + 64 * 128256 * 4
    assert p["activation_bytes"] == activations
    assert p["memory_limit_bytes"] == limit and p["memory_limit_source"] == "--memory-limit"
    per_block = 32 * 131072
    budget = default_budget(limit, llama3_weights_bytes(), activations, 64, 4096, 131072)
    assert budget == 4 * GIB and p["num_kv_blocks"] == budget // per_block == 1024
    assert p["max_concurrent_seqs"] == p["num_kv_blocks"] // (4096 // 32)
    # a tight limit caps the budget below 4 GiB
    limit = 35 * 10**9
    p = plan(run_loom, llama3_dir, "--load-format", "dummy", "--memory-limit", str(limit), "--kv-cache-dtype", "f16",
             "--block-size", "32", "--max-num-batched-tokens", "1024", "--max-model-len", "4096")
    budget = default_budget(limit, llama3_weights_bytes(), activations, 64, 4096, 131072)
    assert budget < 4 * GIB and p["num_kv_blocks"] == budget // per_block


def test_default_kv_budget_and_dtype(run_loom, tmp_path):
    """No KV flags (vLLM CPU's default): the KV pool is what max_num_seqs x max_model_len need, at most 4 GiB,
    in the checkpoint's torch_dtype ("auto"); --load-format dummy makes its weights in that dtype too."""
    d = tmp_path / "llama3-bf16"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(dict(LLAMA3_8B, torch_dtype="bfloat16")))
    p = plan(run_loom, str(d), "--load-format", "dummy")
    assert p["weights_bytes"] == llama3_weights_bytes(2)  # not the 30 GiB of f32
    assert p["kv_cache_dtype"] == "bf16" and p["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 2
    assert p["kv_cache_bytes"] == 4 * GIB // (16 * 131072) * 16 * 131072
    p = plan(run_loom, str(d), "--load-format", "dummy", "--max-num-seqs", "2", "--max-model-len", "1000")
    assert p["num_kv_blocks"] == 2 * 63  # 1000 tokens = 63 blocks of 16, for each of 2 sequences
    p = plan(run_loom, str(d), "--load-format", "dummy", "--kv-cache-dtype", "f32")
    assert p["kv_cache_dtype"] == "f32" and p["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 4


def test_llama3_8b_does_not_fit(run_loom, llama3_dir):
    r = run_loom(["plan", "-m", llama3_dir, "--load-format", "dummy", "--kv-cache-memory", str(GIB)])
    assert r.returncode == 1
    # f32: 262144 bytes/token, 1 GiB holds 4096 tokens < 8192
    assert "lower max_model_len to at most 4096" in r.stderr, r.stderr
    r = run_loom(["plan", "-m", llama3_dir, "--load-format", "dummy", "--memory-limit", str(10**9)])
    assert r.returncode == 1 and "raise the memory limit" in r.stderr, r.stderr


def test_smollm2_default_model(run_loom):
    import gguf  # tests/requirements.txt
    path = subprocess.run(["scripts/fetch-model.sh"], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip().splitlines()[-1]
    reader = gguf.GGUFReader(path)
    weights = sum(int(t.n_bytes) for t in reader.tensors)
    p = plan(run_loom, path, "--kv-cache-memory", str(GIB), "--kv-cache-dtype", "f16", "--max-model-len", "2048")
    # SmolLM2-135M: 30 layers, 3 KV heads, head_dim 64
    assert p["weights_bytes"] == weights
    assert p["kv_bytes_per_token"] == 2 * 30 * 3 * 64 * 2 == 23040
    assert p["num_kv_blocks"] == GIB // (16 * 23040)
    assert p["max_concurrent_seqs"] == p["num_kv_blocks"] // (2048 // 16)
    text = run_loom(["plan", "-m", path])
    assert text.returncode == 0 and "0.9 x physical RAM" in text.stdout and "f16" in text.stdout  # auto: f16


def llama3_rank_weights_bytes(tp, pp, stage):
    """Per-rank f32 dummy bytes of the Llama-3-8B shape split tp x pp (untied: embedding rows on stage 0,
    final norm + LM head rows on the last stage), worked out by hand."""
    h, f, L, v, kv = 4096, 14336, 32, 128256, 8 * 128
    split = (h * h + 2 * kv * h + h * h + 3 * f * h) // tp  # q, k, v rows, o columns, gate/up rows, down columns
    per_layer = split + 2 * h  # + the two replicated norms
    layers = STAGE_LAYERS[pp][stage]
    total = layers * per_layer
    if stage == 0:
        total += (v // tp) * h
    if stage == pp - 1:
        total += h + (v // tp) * h
    return 4 * total


# Stages split the weights a token passes through evenly, the LM head counted on the last: a layer has
# 4096 x (4096 + 2 x 1024) + 4096 x 4096 + 3 x 4096 x 14336 = 218.1M of them, the head 128256 x 4096 =
# 525.3M; half of 32 x 218.1M + 525.3M = 3752.3M is nearest to 17 layers (3707.7M).
STAGE_LAYERS = {1: [32], 2: [17, 15]}


def test_llama3_8b_tp2_pp2(run_loom, llama3_dir):
    p = plan(run_loom, llama3_dir, "--load-format", "dummy", "--kv-cache-memory", str(8 * GIB), "--kv-cache-dtype",
             "f16", "--tensor-parallel-size", "2", "--pipeline-parallel-size", "2")
    assert len(p["ranks"]) == 4
    for r, rank in enumerate(p["ranks"]):
        stage = r // 2
        layers = STAGE_LAYERS[2][stage]
        per_token = 2 * layers * 4 * 128 * 2  # this stage's layers x 4 of the 8 KV heads per rank, f16
        assert (rank["rank"], rank["tp_rank"], rank["pp_rank"]) == (r, r % 2, stage)
        assert rank["layers"] == [17 * stage, 17 + 15 * stage]
        assert rank["weights_bytes"] == llama3_rank_weights_bytes(2, 2, stage)
        assert rank["kv_bytes_per_token"] == per_token == [34816, 30720][stage]
        assert rank["num_kv_blocks"] == 8 * GIB // (16 * per_token)
        assert rank["max_tokens_in_kv"] == rank["num_kv_blocks"] * 16
    per_token = p["ranks"][0]["kv_bytes_per_token"]
    # the top-level figures are rank 0's
    assert p["weights_bytes"] == p["ranks"][0]["weights_bytes"] and p["kv_bytes_per_token"] == per_token
    blocks = 8 * GIB // (16 * 34816)
    assert p["num_kv_blocks"] == blocks == 15420 and p["max_concurrent_seqs"] == blocks // (8192 // 16)
    # the four ranks hold the whole model plus the norms a second tensor rank replicates
    norms = 4 * (2 * 4096 * 32 + 4096)
    assert sum(r["weights_bytes"] for r in p["ranks"]) == llama3_weights_bytes() + norms


def test_llama3_8b_tp2_memory_limit(run_loom, llama3_dir):
    """Each rank's KV budget is the limit minus its own weights and the activations."""
    limit = 40 * 10**9
    p = plan(run_loom, llama3_dir, "--load-format", "dummy", "--memory-limit", str(limit), "--kv-cache-dtype", "f16",
             "--tensor-parallel-size", "2")
    weights = llama3_rank_weights_bytes(2, 1, 0)
    activations = 4 * (3 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 14336) * 2048 + 64 * 128256 * 4
    per_token = 2 * 32 * 4 * 128 * 2
    assert [r["weights_bytes"] for r in p["ranks"]] == [weights, weights]
    assert p["weights_bytes"] == weights and p["activation_bytes"] == activations
    assert p["num_kv_blocks"] == default_budget(limit, weights, activations, 64, 8192, per_token) // (16 * per_token)
    text = run_loom(["plan", "-m", llama3_dir, "--load-format", "dummy", "--memory-limit", str(limit),
                     "--tensor-parallel-size", "2"])
    assert text.returncode == 0 and "2 tensor x 1 pipeline = 2 ranks" in text.stdout, text.stdout
    assert f"rank 1   (tp 1, pp 0) layers [0, 32) x 4 KV heads: weights {weights} bytes" in text.stdout, text.stdout


def test_plan_refuses_heads_that_do_not_divide(run_loom):
    path = subprocess.run(["scripts/fetch-model.sh"], capture_output=True, text=True, check=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip().splitlines()[-1]
    r = run_loom(["plan", "-m", path, "--tensor-parallel-size", "2"])
    assert r.returncode == 1
    assert "tensor parallel size 2 must divide the number of attention heads (9)" in r.stderr, r.stderr
