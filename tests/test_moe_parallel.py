"""Mixture-of-experts models split over MPI ranks: tensor parallelism (every expert split like an MLP,
router replicated), expert parallelism (--enable-expert-parallel: whole experts per tensor rank, the
attention still tensor-parallel, one all-reduce per FFN either way) and pipeline parallelism give exactly
the greedy ids of one process, for each family's fixture (tests/fixtures/moe/, see tests/test_moe.py) and
for a random-weight (--load-format dummy) OLMoE-shaped model with more experts than ranks times top-k.
`loom plan` counts each rank's weights (experts included) as a count from the config alone predicts."""
import json
import os
import shutil
import subprocess

import pytest

import mpi_util
from conftest import ROOT

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "moe")
FAMILIES = ["mixtral", "qwen2_moe", "qwen3_moe", "olmoe"]
LAYOUTS = {"tp2": (2, 1, False), "ep2": (2, 1, True), "pp2": (1, 2, False), "ep2pp2": (2, 2, True)}
IDS = "1,5,9,200,33"


def mpirun(loom_bin, n, args, timeout=300):
    cmd = mpi_util.mpirun_cmd(n, [loom_bin] + [str(a) for a in args])
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout, cwd=ROOT)


def layout_flags(tp, pp, ep):
    flags = ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--threads", "1"]
    return flags + (["--enable-expert-parallel"] if ep else [])


def ids_of(r):
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])["ids"]


@pytest.fixture(scope="module")
def models(shared_dir, tmp_path_factory):
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


@pytest.mark.parametrize("family", FAMILIES)
def test_layouts_match_single_process(family, models, loom_bin, run_loom):
    args = ["generate", "-m", models[family], "--ids", IDS, "-n", "16", "--temperature", "0", "--ignore-eos", "--json"]
    want = ids_of(run_loom(args + ["--threads", "1"]))
    with open(os.path.join(FIXTURES, family, "expected.json")) as f:
        assert want == json.load(f)["ids"]  # the single process is right (tests/test_moe.py)
    for name, (tp, pp, ep) in LAYOUTS.items():
        got = ids_of(mpirun(loom_bin, tp * pp, args + layout_flags(tp, pp, ep)))
        assert got == want, f"{family} {name}: {got} != {want}"


OLMOE_SHAPED = dict(architectures=["OlmoeForCausalLM"], model_type="olmoe", vocab_size=1000, hidden_size=128,
                    intermediate_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
                    num_experts=16, num_experts_per_tok=4, norm_topk_prob=False, max_position_embeddings=256,
                    rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)


def test_dummy_expert_parallel_matches_single_process(loom_bin, run_loom, tmp_path):
    """Dummy weights are a function of each element's position, so every rank generates exactly its
    experts' values: EP over 2 and 4 ranks (4 experts each, some tokens' top-4 entirely elsewhere) and TP
    agree with one process, in `loom batch` too (12 prompts batched)."""
    (tmp_path / "config.json").write_text(json.dumps(OLMOE_SHAPED))
    args = ["generate", "-m", tmp_path, "--load-format", "dummy", "--ids", "3,14,15,92,65,35", "-n", "24",
            "--temperature", "0", "--ignore-eos", "--json"]
    want = ids_of(run_loom(args + ["--threads", "1"]))
    for tp, ep in ((2, True), (4, True), (2, False), (4, False)):
        got = ids_of(mpirun(loom_bin, tp, args + layout_flags(tp, 1, ep)))
        assert got == want, f"tp {tp} ep {ep}: {got} != {want}"
    lines = "".join(json.dumps({"prompt_ids": [1 + i, 7 * i % 1000, 3], "max_tokens": 8, "temperature": 0,
                                "ignore_eos": True}) + "\n" for i in range(12))
    (tmp_path / "in.jsonl").write_text(lines)
    outs = {}
    for name, runner in (("single", lambda a: run_loom(a + ["--threads", "1"], timeout=300)),
                         ("ep2", lambda a: mpirun(loom_bin, 2, a + layout_flags(2, 1, True)))):
        out = tmp_path / f"{name}.jsonl"
        r = runner(["batch", "-m", tmp_path, "--load-format", "dummy", "--input", tmp_path / "in.jsonl", "--output",
                    out])
        assert r.returncode == 0, r.stderr[-3000:]
        outs[name] = [json.loads(x)["ids"] for x in out.read_text().splitlines()]
    assert outs["ep2"] == outs["single"]


def rank_params(cfg, tp, rank, ep):
    """Parameters rank `rank` of a tensor-parallel group of tp holds, from the config alone."""
    h, v, L = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    hd = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    e, ffn = cfg["num_experts"], cfg["intermediate_size"]
    vocab_rows = min(v - rank * -(-v // tp), -(-v // tp))
    attn = (h * q + 2 * h * kv + q * h) // tp + (q + kv) // tp  # q/k/v/o slices + the q/k norm slices
    if ep:
        lo, hi = e * rank // tp, e * (rank + 1) // tp
        experts = (hi - lo) * 3 * h * ffn
    else:
        experts = e * 3 * h * ffn // tp
    layer = attn + 2 * h + e * h + experts  # + input/post-attention norms + router
    return L * layer + 2 * vocab_rows * h + h  # + embedding and LM head rows, final norm


@pytest.mark.parametrize("ep", [False, True])
def test_plan_counts_expert_weights_per_rank(ep, run_loom, tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(OLMOE_SHAPED))
    for tp in (1, 2, 4):
        r = run_loom(["plan", "-m", tmp_path, "--load-format", "dummy", "--tensor-parallel-size", tp, "--json"] +
                     (["--enable-expert-parallel"] if ep else []))
        assert r.returncode == 0, r.stderr
        plan = json.loads(r.stdout)
        ranks = plan.get("ranks", [{"weights_bytes": plan["weights_bytes"]}])
        got = [x["weights_bytes"] for x in ranks]
        want = [4 * rank_params(OLMOE_SHAPED, tp, k, ep) for k in range(tp)]  # dummy weights are float32
        assert got == want, f"tp {tp} ep {ep}: {got} != {want}"


def test_expert_parallel_layout_errors(loom_bin, run_loom, tmp_path):
    cfg = dict(OLMOE_SHAPED, intermediate_size=66, num_experts=3, num_experts_per_tok=2)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    args = ["generate", "-m", tmp_path, "--load-format", "dummy", "--ids", "1,2", "-n", "2"]
    r = mpirun(loom_bin, 4, args + layout_flags(4, 1, False), timeout=120)
    assert r.returncode != 0 and "must divide the experts' intermediate size 66" in r.stderr, r.stderr[-2000:]
    r = mpirun(loom_bin, 4, args + layout_flags(4, 1, True), timeout=120)
    assert r.returncode != 0 and "needs at least as many experts (the model has 3)" in r.stderr, r.stderr[-2000:]
