#!/usr/bin/env python3
"""Tokenizer encode speed, loom vs Hugging Face `tokenizers`, alternating in one run.

Text: 1 MB (1,000,000 bytes, cut at a character boundary) of the public-domain KJV fixture
(tests/fixtures/perplexity/) repeated. Each round times loom's encode (bench/tokenizer_bench.c, one
process, tokenizer loading not timed; the first of 2 reps is a warm-up) and then HF's
Tokenizer.encode on the same string (single string, no special tokens; also after a warm-up), so both
see the same machine state. Prints the median MB/s of each and the ratio."""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
TOKENIZERS = {
    "llama3": os.path.join(SHARED, "tokenizers", "llama3", "tokenizer.json"),
    "qwen3": os.path.join(SHARED, "tokenizers", "qwen3", "tokenizer.json"),
    "mistral": os.path.join(SHARED, "tokenizers", "mistral", "tokenizer.json"),
}


def one_megabyte():
    src = open(os.path.join(ROOT, "tests", "fixtures", "perplexity", "kjv_genesis_1-26.txt"), "rb").read()
    data = (src * (1_000_000 // len(src) + 1))[:1_000_000]
    return data.decode("utf-8", errors="ignore").encode("utf-8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bench", "tokenizer_bench"))
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    data = one_megabyte()
    with tempfile.NamedTemporaryFile(suffix=".txt", delete=False) as f:
        f.write(data)
        path = f.name
    text = data.decode("utf-8")
    print(f"| tokenizer | loom MB/s | HF tokenizers MB/s | loom / HF | tokens (loom = HF) |")
    print(f"|---|---|---|---|---|")
    for name, tok_path in TOKENIZERS.items():
        hf = Tokenizer.from_file(tok_path)
        hf.encode(text, add_special_tokens=False)  # warm-up
        loom_rates, hf_rates = [], []
        for _ in range(args.rounds):
            out = subprocess.run([args.bench, tok_path, path, "2"], capture_output=True, text=True, check=True)
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            loom_rates.append(rec["mb_per_s"])
            t0 = time.perf_counter()
            ids = hf.encode(text, add_special_tokens=False).ids
            hf_rates.append(len(data) / (time.perf_counter() - t0) / 1e6)
        lm, hm = statistics.median(loom_rates), statistics.median(hf_rates)
        same = "yes" if rec["tokens"] == len(ids) else f"no ({rec['tokens']} vs {len(ids)})"
        print(f"| {name} | {lm:.2f} | {hm:.2f} | {lm / hm:.2f}x | {len(ids)} ({same}) |")
    os.unlink(path)


if __name__ == "__main__":
    main()
