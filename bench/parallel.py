#!/usr/bin/env python3
"""Tensor and pipeline parallelism on one machine (issue 9, acceptance 5): `loom bench latency` and
`loom bench throughput` for TP=2 x 1 thread and PP=2 x 1 thread against one process x 2 threads, run
alternately (REPS rounds of: baseline, TP=2, PP=2) on a random-weight model in the Llama-3.2-1B shape
(--load-format dummy; --quantization int8 by default so a round takes seconds, not minutes). Prints, per
configuration, the best round's prefill / decode tokens/s, continuous-batching output tokens/s, the ratio
to the baseline, and each rank's communication time per step (time inside MPI calls: transfers plus
waiting for the other rank).

usage: bench/parallel.py [--reps N] [--quantization int8|none] [--prompt-len N] [--gen-len N]
                         [--num-prompts N] [--input-len N] [--output-len N]"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import mpi_util  # noqa: E402
from model_files import make_config  # noqa: E402

LOOM = os.path.join(ROOT, "build", "loom")
CONFIGS = [("1 process x 2 threads", 1, 1, 2), ("TP=2 x 1 thread", 2, 1, 1), ("PP=2 x 1 thread", 1, 2, 1)]


def run(tp, pp, threads, argv):
    cmd = [LOOM] + argv + ["--threads", str(threads)]
    if tp * pp > 1:
        cmd = mpi_util.mpirun_cmd(tp * pp, cmd + ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp)])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quantization", default="int8")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--gen-len", type=int, default=32)
    ap.add_argument("--num-prompts", type=int, default=16)
    ap.add_argument("--input-len", type=int, default=64)
    ap.add_argument("--output-len", type=int, default=32)
    a = ap.parse_args()
    subprocess.run(["make", "-s", "build/loom"], cwd=ROOT, check=True)
    d = tempfile.mkdtemp(prefix="loom-1b-")
    cfg = make_config(hidden=2048, heads=32, kv_heads=8, layers=16, intermediate=8192, vocab=128256, max_pos=4096)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    model = ["-m", d, "--load-format", "dummy", "--quantization", a.quantization]
    best = {name: {} for name, *_ in CONFIGS}
    for rep in range(a.reps):
        for name, tp, pp, threads in CONFIGS:
            lat = json.loads(run(tp, pp, threads, ["bench", "latency"] + model + [
                "--prompt-len", str(a.prompt_len), "--gen-len", str(a.gen_len), "--json"]).strip().splitlines()[-1])
            out = os.path.join(d, "throughput.json")
            run(tp, pp, threads, ["bench", "throughput"] + model + [
                "--num-prompts", str(a.num_prompts), "--input-len", str(a.input_len), "--output-len", str(a.output_len),
                "--baseline-prompts", "1", "--max-num-seqs", str(a.num_prompts), "--json", out])
            with open(out) as f:
                thr = json.load(f)
            b = best[name]
            print(f"round {rep + 1} {name}: prefill {lat['prefill_tokens_per_s']:.1f}, decode "
                  f"{lat['decode_tokens_per_s']:.2f}, batched {thr['batched_tok_s']:.2f} tok/s; comm ms/step "
                  + ", ".join(f"rank {x['rank']} {x['comm_ms_per_step']:.2f}" for x in lat["ranks"]), file=sys.stderr)
            for key, value in (("prefill", lat["prefill_tokens_per_s"]), ("decode", lat["decode_tokens_per_s"]),
                               ("batched", thr["batched_tok_s"])):
                if value > b.get(key, 0):
                    b[key] = value
            if lat["decode_tokens_per_s"] >= b["decode"]:
                b["ranks"] = lat["ranks"]
    base = best[CONFIGS[0][0]]
    print(f"model: Llama-3.2-1B shape, dummy weights, {a.quantization}; latency: prompt {a.prompt_len}, "
          f"gen {a.gen_len}; throughput: {a.num_prompts} x ({a.input_len} in, {a.output_len} out); best of {a.reps}")
    print("| configuration | prefill tok/s | decode tok/s | batched tok/s | vs 1 process (prefill / decode / batched) "
          "| weights per rank | comm ms/step per rank (latency run) |")
    print("|---|---|---|---|---|---|---|")
    for name, *_ in CONFIGS:
        b = best[name]
        ratios = " / ".join(f"{b[k] / base[k]:.2f}x" for k in ("prefill", "decode", "batched"))
        weights = ", ".join(f"{x['weight_bytes'] / 2**20:.0f} MiB" for x in b["ranks"])
        comm = ", ".join(f"{x['comm_ms_per_step']:.2f}" for x in b["ranks"])
        print(f"| {name} | {b['prefill']:.1f} | {b['decode']:.2f} | {b['batched']:.2f} | {ratios} | {weights} | {comm} |")


if __name__ == "__main__":
    main()
