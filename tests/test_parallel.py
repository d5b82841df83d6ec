"""Tensor and pipeline parallelism end to end (issue 9): `loom generate`, `loom batch` and `loom serve`
under mpirun give exactly the greedy ids of the single-process run, for TP=2, PP=2 and TP=2 x PP=2, on
stories260K and random-weight Llama (GQA), Qwen2 (attention biases, untied head) and Mistral models;
continuous batching with forced preemption (recompute and swap) included. Also: per-rank weight memory
under TP=2 on a dummy 1B-shaped model (<= 0.55 x the whole), a rank killed mid-generation ends the job
with a clear error within 30 s, and a clear error when the layout does not fit the job or the model."""
import json
import os
import signal
import subprocess
import time

import pytest

import mpi_util
from conftest import ROOT
from model_files import make_config, random_weights, write_hf_dir
from server_harness import LoomServer

LAYOUTS = {"tp2": (2, 1), "pp2": (1, 2), "tp2pp2": (2, 2)}
PROMPT = "Once upon a time there was a little girl named Lily"


def layout_flags(tp, pp):
    return ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--threads", "1"]


def mpirun(loom_bin, np_, args, timeout=300, **kw):
    cmd = mpi_util.mpirun_cmd(np_, [loom_bin] + [str(a) for a in args])
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout, cwd=ROOT, **kw)


@pytest.fixture(scope="module")
def models(shared_dir, tmp_path_factory):
    out = {"stories": os.path.join(shared_dir, "models", "stories260K", "hf")}
    specs = {"llama": dict(model_type="llama", hidden=64, heads=4, kv_heads=2, layers=4, tie=True),
             "qwen2": dict(model_type="qwen2", hidden=64, heads=4, kv_heads=2, layers=3, tie=False),
             "mistral": dict(model_type="mistral", hidden=96, heads=6, kv_heads=2, layers=4, tie=False,
                             intermediate=192)}
    for i, (name, spec) in enumerate(specs.items()):
        cfg = make_config(**spec)
        out[name] = write_hf_dir(str(tmp_path_factory.mktemp(name)), cfg, random_weights(cfg, seed=11 + i), shared_dir)
    return out


def generate_ids(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])["ids"]


@pytest.mark.parametrize("model_name", ["stories", "llama", "qwen2", "mistral"])
def test_generate_matches_single_process(models, model_name, loom_bin, run_loom):
    args = ["generate", "-m", models[model_name], "--prompt", PROMPT, "-n", "24", "--temperature", "0",
            "--ignore-eos", "--json"]
    want = generate_ids(run_loom(args + ["--threads", "1"]))
    assert len(want) == 24
    for name, (tp, pp) in LAYOUTS.items():
        got = generate_ids(mpirun(loom_bin, tp * pp, args + layout_flags(tp, pp)))
        assert got == want, f"{model_name} {name}: {got} != {want}"


def batch_lines():
    words = PROMPT.lower().split() + "who liked to play in the park with her dog".split()
    return [{"prompt": " ".join(words[(i * 3) % len(words):][: 3 + (i * 5) % 14]).capitalize(), "max_tokens": 20,
             "temperature": 0} for i in range(12)]


def run_batch(runner, model, tmp_path, name, flags):
    inp, out, metrics = tmp_path / f"{name}.in.jsonl", tmp_path / f"{name}.jsonl", tmp_path / f"{name}.metrics.json"
    inp.write_text("".join(json.dumps(x) + "\n" for x in batch_lines()))
    r = runner(["batch", "-m", model, "--input", inp, "--output", out, "--metrics-json", metrics, *flags])
    assert r.returncode == 0, r.stderr
    return [json.loads(x)["ids"] for x in out.read_text().splitlines()], json.loads(metrics.read_text())


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_batch_with_preemption_matches_single_process(models, layout, loom_bin, run_loom, tmp_path):
    tp, pp = LAYOUTS[layout]
    want, _ = run_batch(lambda a: run_loom(a, timeout=300), models["llama"], tmp_path, "single",
                        ["--threads", "1", "--max-model-len", "32", "--block-size", "4"])
    for mode in ("recompute", "swap"):
        got, metrics = run_batch(lambda a: mpirun(loom_bin, tp * pp, a), models["llama"], tmp_path, f"{layout}_{mode}",
                                 layout_flags(tp, pp) + ["--num-kv-blocks", "8", "--block-size", "4",
                                                         "--max-model-len", "32", "--preemption-mode", mode,
                                                         "--swap-space", "10000000"])
        assert metrics["num_preemptions_total"] >= 1, metrics
        assert metrics["kv_blocks_free"] == metrics["kv_blocks_total"] == 8
        assert got == want, f"{layout} {mode}"


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_serve_matches_single_process(models, layout, loom_bin, run_loom):
    tp, pp = LAYOUTS[layout]
    want = generate_ids(run_loom(["generate", "-m", models["stories"], "--prompt", PROMPT, "-n", "16",
                                  "--temperature", "0", "--ignore-eos", "--json"]))
    detok = run_loom(["detokenize", "-m", models["stories"], ",".join(map(str, want))])
    assert detok.returncode == 0, detok.stderr
    launcher = mpi_util.mpirun_cmd(tp * pp, [])
    server = LoomServer(loom_bin, ["-m", models["stories"], "--served-model-name", "stories260K"] + layout_flags(tp, pp),
                        launcher=launcher)
    try:
        texts = []
        for _ in range(2):  # the second request reuses the first one's cached prefix blocks
            status, body = server.request("POST", "/v1/completions",
                                          {"model": "stories260K", "prompt": PROMPT, "max_tokens": 16,
                                           "temperature": 0, "ignore_eos": True})
            assert status == 200, body
            texts.append(body["choices"][0]["text"])
    finally:
        _, err = server.stop()
    assert texts == [detok.stdout.rstrip("\n")] * 2, err


def smol_shaped_config(tmp_path, shared_dir):
    """SmolLM2-135M's attention shape (9 heads, 3 KV heads) at a tiny size."""
    cfg = make_config(hidden=144, heads=9, kv_heads=3, layers=2, intermediate=96)
    d = tmp_path / "smol_shaped"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return str(d)


def test_layout_errors(models, shared_dir, loom_bin, run_loom, tmp_path):
    r = run_loom(["generate", "-m", models["stories"], "--prompt", "Hi", "-n", "2", "--tensor-parallel-size", "2"])
    assert r.returncode == 1 and "needs 2 ranks" in r.stderr, r.stderr
    r = mpirun(loom_bin, 2, ["generate", "-m", smol_shaped_config(tmp_path, shared_dir), "--load-format", "dummy",
                             "--ids", "1,2", "-n", "2", "--tensor-parallel-size", "2"], timeout=120)
    assert r.returncode != 0 and "must divide the number of attention heads (9)" in r.stderr, r.stderr


def parent_pid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def rank_pid(launcher_pid, rank, timeout_s):
    """The pid of `rank` among the launcher's descendants (ranks carry OMPI_COMM_WORLD_RANK)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                ancestor = int(pid)
                while ancestor > 1 and ancestor != launcher_pid:
                    ancestor = parent_pid(ancestor)
            except (OSError, ValueError, IndexError):
                continue
            if ancestor == launcher_pid and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError(f"rank {rank} never started")


def run_and_hurt_rank1(loom_bin, tmp_path, sig, extra_env=None):
    """Starts a long PP=2 generation, sends rank 1 `sig` once it is generating; returns (exit status,
    seconds from the signal to the job's end, stderr)."""
    # big enough that 3000 tokens take far longer than the test waits before the signal
    cfg = make_config(hidden=1024, heads=16, kv_heads=4, layers=8, intermediate=2816, vocab=32000, max_pos=4096)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    cmd = mpi_util.mpirun_cmd(2, [loom_bin, "generate", "-m", tmp_path, "--load-format", "dummy", "--ids", "1,2,3",
                                  "-n", "3000", "--temperature", "0", "--ignore-eos"] + layout_flags(1, 2),
                              extra_env=extra_env)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    try:
        pid = rank_pid(proc.pid, 1, timeout_s=60)
        time.sleep(3.0)  # loaded and generating (a signal during loading must end the job all the same)
        assert proc.poll() is None, proc.communicate()
        os.kill(pid, sig)
        t0 = time.time()
        _, err = proc.communicate(timeout=90)
        return proc.returncode, time.time() - t0, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_killed_rank_ends_the_job(loom_bin, tmp_path):
    """Acceptance 4: rank 1 killed mid-generation: the job ends within 30 s with an error naming it
    (rank 0's own line, or mpirun's when it closed rank 0's stderr first)."""
    code, elapsed, err = run_and_hurt_rank1(loom_bin, tmp_path, signal.SIGKILL)
    assert code != 0 and elapsed < 30, (code, elapsed, err)
    assert "loom: rank 0:" in err or "process rank 1" in err, err


def test_hung_rank_ends_the_job(loom_bin, tmp_path):
    """A rank that stops answering (SIGSTOP): rank 0's collective times out and it ends the job with its
    own error line."""
    code, elapsed, err = run_and_hurt_rank1(loom_bin, tmp_path, signal.SIGSTOP, {"LOOM_COMM_TIMEOUT_S": "5"})
    assert code != 0 and elapsed < 30, (code, elapsed, err)
    assert "loom: rank 0:" in err and "timed out after 5 s" in err, err


@pytest.mark.parametrize("layout", ["pp2", "tp2"])
def test_two_hosts_over_tcp(models, layout, loom_bin, run_loom):
    """One rank in each of two network namespaces joined by a veth pair: OpenMPI over TCP on the test
    addresses only, same ids as one process, and the traffic is seen on that link."""
    tp, pp = LAYOUTS[layout]
    args = ["generate", "-m", models["llama"], "--prompt", PROMPT, "-n", "24", "--temperature", "0", "--ignore-eos",
            "--json"]
    want = generate_ids(run_loom(args + ["--threads", "1"]))
    with mpi_util.two_host_netns() as hosts:
        rx0, tx0 = hosts.link_bytes(0)
        r = subprocess.run(hosts.mpirun_cmd([loom_bin] + args + layout_flags(tp, pp)), capture_output=True, text=True,
                           errors="replace", timeout=300, cwd=ROOT)
        rx1, tx1 = hosts.link_bytes(0)
    assert generate_ids(r) == want, r.stderr
    # every step crosses the link: at least the batch header and one activation or logits row per token
    assert rx1 - rx0 > 24 * 256 and tx1 - tx0 > 24 * 256, (rx1 - rx0, tx1 - tx0)


def test_tp2_halves_weight_memory(loom_bin, run_loom, tmp_path):
    """Acceptance 3: a Llama-3.2-1B-shaped random model (4.9 GB of f32 weights): under TP=2 each rank holds
    and has resident at most 0.55 x what one process does (both from `loom bench latency --json`)."""
    cfg = make_config(hidden=2048, heads=32, kv_heads=8, layers=16, intermediate=8192, vocab=128256, max_pos=256)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    args = ["bench", "latency", "-m", tmp_path, "--load-format", "dummy", "--prompt-len", "4", "--gen-len", "1", "--json"]
    r = run_loom(args + ["--threads", "2"], timeout=600)
    assert r.returncode == 0, r.stderr
    whole = json.loads(r.stdout)["ranks"][0]
    assert whole["weight_bytes"] > 4.9e9
    r = mpirun(loom_bin, 2, args + layout_flags(2, 1), timeout=600)
    assert r.returncode == 0, r.stderr
    ranks = json.loads(r.stdout.strip().splitlines()[-1])["ranks"]
    assert [x["tp_rank"] for x in ranks] == [0, 1]
    for x in ranks:
        assert x["weight_bytes"] <= 0.55 * whole["weight_bytes"], (x, whole)
        assert x["rss_bytes"] <= 0.55 * whole["rss_bytes"], (x, whole)
    assert sum(x["weight_bytes"] for x in ranks) >= whole["weight_bytes"]  # nothing missing
