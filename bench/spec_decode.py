#!/usr/bin/env python3
"""Single-stream decode speed with and without speculative decoding, alternating runs of `loom generate`
(greedy), on a fixed set of code-completion prompts. Prints per-run decode tok/s (generated tokens after
the first / time after the first token), acceptance, and the ratio of total decode throughput.

  bench/spec_decode.py --loom build/loom -m TARGET.gguf --spec "--draft-model DRAFT.gguf --num-speculative-tokens 4"
                       [--rounds 2] [-n 128] [--threads 2] [--workload code|copy]

Workloads: code = code-completion prompts (function or class headers with a docstring); copy = the same
code given in full, then asked for again ("# The same code, unchanged:"), the input-grounded case
prompt lookup (n-gram proposals) is meant for.
"""
import argparse
import re
import shlex
import subprocess
import sys

PROMPTS = [
    "def quicksort(arr):\n    \"\"\"Sort a list of numbers with quicksort and return the sorted list.\"\"\"\n",
    "import json\n\n\ndef load_config(path):\n    \"\"\"Read a JSON config file, fill in defaults and validate the fields.\"\"\"\n",
    "#include <stdlib.h>\n\nstruct node {\n    int value;\n    struct node *next;\n};\n\n/* Reverses a singly linked list in place and returns the new head. */\nstruct node *reverse(struct node *head) {\n",
    "class LRUCache:\n    \"\"\"A least-recently-used cache with a fixed capacity.\"\"\"\n\n    def __init__(self, capacity: int):\n",
]


COPY_BODY = (
    "def quicksort(arr):\n    if len(arr) <= 1:\n        return arr\n    pivot = arr[len(arr) // 2]\n"
    "    left = [x for x in arr if x < pivot]\n    middle = [x for x in arr if x == pivot]\n"
    "    right = [x for x in arr if x > pivot]\n    return quicksort(left) + middle + quicksort(right)\n\n\n"
    "def binary_search(items, target):\n    lo, hi = 0, len(items) - 1\n    while lo <= hi:\n"
    "        mid = (lo + hi) // 2\n        if items[mid] == target:\n            return mid\n"
    "        if items[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n"
    "    return -1\n")
COPY_PROMPTS = [COPY_BODY + "\n\n# The same code, unchanged:\n" + COPY_BODY.split("\n")[0] + "\n",
                "# Python\n" + COPY_BODY + "\n# Repeat the code above exactly:\n" + COPY_BODY.split("\n")[0] + "\n"]


def run(loom, model, prompt, n, threads, extra):
    cmd = [loom, "generate", "-m", model, "--prompt", prompt, "-n", str(n), "--temperature", "0", "--ignore-eos",
           "--threads", str(threads), "--json"] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {shlex.join(cmd)}\n{r.stderr}")
    m = re.search(r"generated (\d+) tokens in ([\d.]+) ms", r.stderr)
    acc = re.search(r"(\d+) of (\d+) proposed tokens accepted", r.stderr)
    out_ids = r.stdout
    return int(m.group(1)), float(m.group(2)), (int(acc.group(1)), int(acc.group(2))) if acc else None, out_ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loom", default="build/loom")
    ap.add_argument("-m", required=True)
    ap.add_argument("--spec", required=True, help="speculative flags, one string")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workload", choices=["code", "copy"], default="code")
    a = ap.parse_args()
    prompts = PROMPTS if a.workload == "code" else COPY_PROMPTS
    tot = {"base": [0, 0.0], "spec": [0, 0.0]}
    accepted = proposed = 0
    for rnd in range(a.rounds):
        for i, p in enumerate(prompts):
            res = {}
            for name, extra in (("base", []), ("spec", shlex.split(a.spec))):
                n, ms, acc, out = run(a.loom, a.m, p, a.n, a.threads, extra)
                res[name] = out
                tot[name][0] += n - 1
                tot[name][1] += ms
                if acc:
                    accepted += acc[0]
                    proposed += acc[1]
                print(f"round {rnd + 1} prompt {i} {name}: {(n - 1) / (ms / 1e3):.2f} tok/s"
                      + (f", accepted {acc[0]}/{acc[1]}" if acc else ""), flush=True)
            if res["base"] != res["spec"]:
                sys.exit(f"prompt {i}: speculative output differs from the plain run")
    b = tot["base"][0] / (tot["base"][1] / 1e3)
    s = tot["spec"][0] / (tot["spec"][1] / 1e3)
    print(f"decode: plain {b:.2f} tok/s, speculative {s:.2f} tok/s, ratio {s / b:.2f}x; "
          f"acceptance {accepted}/{proposed} = {accepted / max(proposed, 1):.1%} (outputs identical)")


if __name__ == "__main__":
    main()
