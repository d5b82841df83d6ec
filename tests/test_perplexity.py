"""Accuracy of load-time quantization (issue 8, acceptance 2): perplexity of the default model
(SmolLM2-135M-Instruct, Q4_1 GGUF) on tests/fixtures/perplexity/kjv_genesis_1-26.txt (~23k tokens,
public domain; provenance in that folder's README) with each `--quantization` mode, against the
same model with every matrix dequantized to f32 (`--quantization f32`):
INT8 within +1%, FP8 within +2%, INT4 within +8%.
To keep `make test` short, the first 4096 tokens are scored (2048 under the ~10x slower sanitizer
build), with the same bounds; LOOM_PERPLEXITY_FULL=1 scores the whole file (the full-file numbers are in
bench/RESULTS.md: int8 +0.52%, fp8 +0.53%, int4 +0.52%)."""
import json
import os

from test_default_model import default_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEXT = os.path.join(ROOT, "tests", "fixtures", "perplexity", "kjv_genesis_1-26.txt")
BOUNDS = {"int8": 1.01, "fp8": 1.02, "int4": 1.08}


def perplexity(run_loom, loom_bin, mode):
    args = ["bench", "perplexity", "-m", default_model(), "--file", TEXT, "--quantization", mode, "--json"]
    full = os.environ.get("LOOM_PERPLEXITY_FULL") == "1"
    limit = None if full else 2048 if "build-asan" in loom_bin else 4096
    if limit:
        args += ["--max-tokens", str(limit)]
    r = run_loom(args, timeout=3600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tokens_scored"] > (limit - 100 if limit else 20000), out
    return out["perplexity"]


def test_quantized_perplexity_within_bounds(run_loom, loom_bin):
    ref = perplexity(run_loom, loom_bin, "f32")
    assert 1.0 < ref < 100.0, ref  # a working model on English text
    for mode, bound in BOUNDS.items():
        ppl = perplexity(run_loom, loom_bin, mode)
        print(f"{mode}: perplexity {ppl:.4f} vs f32 {ref:.4f} ({100 * (ppl / ref - 1):+.2f}%)")
        assert ppl <= ref * bound, f"{mode}: {ppl:.4f} > {bound} x f32 {ref:.4f}"
