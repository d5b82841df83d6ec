#!/usr/bin/env bash
# loom vs llama.cpp on the same GGUFs, same thread count, run alternately (REPS rounds of: llama-bench,
# then `loom bench latency`), best round of each reported. Prints pp512 / tg128 tokens/s, loom/llama.cpp
# ratios, the machine's measured read bandwidth and, per model, the decode rate that bandwidth allows
# (bandwidth / bytes of weights read per token, taken as the GGUF's size: every weight is read once per
# token, the tied embedding included as the LM head).
#
# What is measured is what llama-bench measures: pp512 = a 512-token prompt into an empty cache; tg128 =
# 128 single-token steps from an empty cache (llama-bench's default depth 0; loom: a 1-token prompt,
# then 128 steps); tg128@512 = the same after 512 tokens already in the cache (llama-bench -d 512;
# loom: the 128 steps that follow its 512-token prompt), where attention over the cache adds to the
# weights each step reads.
#
# llama.cpp comes from PyPI: the llama-cpp-python sdist vendors llama.cpp's source; it is built with
# cmake into build-bench/ (nothing of it is committed) at nice 19 with 2 jobs (the machine is shared).
# Models: the default model (Q4_1) and a Q8_0 made from it with `loom quantize` (both engines read that
# file); a random-weight 1B-shaped model (bench/make_dummy_gguf.py) in Q8_0, Q4_0 and Q4_K_M (llama-quantize);
# a random-weight OLMoE-shaped mixture of experts, 1B parameters of which ~0.25B active per token
# (bench/make_dummy_moe_gguf.py), in Q8_0 and Q4_K_M.
#
# More models: MORE_TYPES=1 adds the 1B shape in Q5_K_M, IQ4_XS and Q3_K_M, and Qwen2.5-Coder-0.5B-Instruct
# Q4_K_M (scripts/fetch-model.sh qwen2.5-coder-0.5b); ONLY="a b" keeps the models whose file name contains one
# of the words. LOOM_BASE=another loom binary (e.g. main's build) runs alternately too, in every round right
# after build/loom, and the table adds loom / base ratios (a regression check on a noisy machine); with
# SKIP_LLAMA=1 llama-bench is not run (only the loom / base table is printed).
#
# PP / TG (default 512 / 128) shorten the prompt and generation (the table's pp512 / tg128 / tg128@512 then
# mean ppPP / tgTG / tgTG@PP), for a loaded machine where the full protocol takes too long.
#
# usage: bench/compare-llamacpp.sh [THREADS]      env: REPS (default 3), SKIP_1B=1, SKIP_MOE=1,
#        MORE_TYPES=1, ONLY, LOOM_BASE, SKIP_LLAMA=1, PP, TG,
#        LLAMA_BIN=dir with llama-bench and llama-quantize (skips the build)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
THREADS="${1:-2}"
REPS="${REPS:-3}"
PP="${PP:-512}"
TG="${TG:-128}"
BB="$ROOT/build-bench"
mkdir -p "$BB/models"

if [ -z "${LLAMA_BIN:-}" ]; then
    LLAMA_BIN="$BB/llama.cpp/bin"
    if [ ! -x "$LLAMA_BIN/llama-bench" ] || [ ! -x "$LLAMA_BIN/llama-quantize" ]; then
        mkdir -p "$BB/src"
        pip download --no-binary :all: --no-deps llama-cpp-python -d "$BB/src" >&2
        tar xzf "$(ls "$BB"/src/llama_cpp_python-*.tar.gz | tail -1)" -C "$BB/src"
        SRC="$(ls -d "$BB"/src/llama_cpp_python-*/vendor/llama.cpp | tail -1)"
        cmake -S "$SRC" -B "$BB/llama.cpp" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
        nice -n 19 cmake --build "$BB/llama.cpp" --target llama-bench llama-quantize -j 2 >&2
    fi
fi
make -s build/loom >&2

DEFAULT="$(scripts/fetch-model.sh | tail -1)"
MODELS=("$DEFAULT")
quantize() { # IN OUT TYPE
    [ -f "$2" ] || "$LLAMA_BIN/llama-quantize" --allow-requantize "$1" "$2" "$3" >&2
}
[ -f "$BB/models/smollm2-135m.Q8_0.gguf" ] || build/loom quantize "$DEFAULT" "$BB/models/smollm2-135m.Q8_0.gguf" --type q8_0
MODELS+=("$BB/models/smollm2-135m.Q8_0.gguf")
if [ "${SKIP_1B:-0}" != 1 ]; then
    [ -f "$BB/models/dummy-1b.f16.gguf" ] || python3 bench/make_dummy_gguf.py "$DEFAULT" "$BB/models/dummy-1b.f16.gguf"
    quantize "$BB/models/dummy-1b.f16.gguf" "$BB/models/dummy-1b.Q8_0.gguf" Q8_0
    quantize "$BB/models/dummy-1b.f16.gguf" "$BB/models/dummy-1b.Q4_0.gguf" Q4_0
    quantize "$BB/models/dummy-1b.f16.gguf" "$BB/models/dummy-1b.Q4_K_M.gguf" Q4_K_M
    MODELS+=("$BB/models/dummy-1b.Q8_0.gguf" "$BB/models/dummy-1b.Q4_0.gguf" "$BB/models/dummy-1b.Q4_K_M.gguf")
    if [ "${MORE_TYPES:-0}" = 1 ]; then
        for type in Q5_K_M IQ4_XS Q3_K_M; do
            quantize "$BB/models/dummy-1b.f16.gguf" "$BB/models/dummy-1b.$type.gguf" "$type"
            MODELS+=("$BB/models/dummy-1b.$type.gguf")
        done
    fi
fi
[ "${MORE_TYPES:-0}" = 1 ] && MODELS+=("$(scripts/fetch-model.sh qwen2.5-coder-0.5b | tail -1)")
if [ "${SKIP_MOE:-0}" != 1 ]; then
    [ -f "$BB/models/dummy-olmoe.f16.gguf" ] ||
        (cd bench && python3 make_dummy_moe_gguf.py "$DEFAULT" "$BB/models/dummy-olmoe.f16.gguf")
    quantize "$BB/models/dummy-olmoe.f16.gguf" "$BB/models/dummy-olmoe.Q8_0.gguf" Q8_0
    quantize "$BB/models/dummy-olmoe.f16.gguf" "$BB/models/dummy-olmoe.Q4_K_M.gguf" Q4_K_M
    MODELS+=("$BB/models/dummy-olmoe.Q8_0.gguf" "$BB/models/dummy-olmoe.Q4_K_M.gguf")
fi
if [ -n "${ONLY:-}" ]; then
    kept=()
    for model in "${MODELS[@]}"; do
        for word in $ONLY; do [[ "$(basename "$model")" == *"$word"* ]] && { kept+=("$model"); break; }; done
    done
    MODELS=("${kept[@]}")
fi

gcc -O3 -march=native -pthread bench/stream_read.c -o "$BB/stream_read"
BW="$("$BB/stream_read" "$THREADS" 2>/dev/null)"

RESULTS="${RESULTS:-$BB/results.jsonl}"
: > "$RESULTS"
for model in "${MODELS[@]}"; do
    for rep in $(seq "$REPS"); do
        llama='[]'
        [ "${SKIP_LLAMA:-0}" = 1 ] ||
            llama="$("$LLAMA_BIN/llama-bench" -m "$model" -p "$PP" -n "$TG" -d 0,"$PP" -t "$THREADS" -r 1 -o json 2>/dev/null)"
        loom="$(build/loom bench latency -m "$model" --prompt-len "$PP" --gen-len "$TG" --threads "$THREADS" --json)"
        loom0="$(build/loom bench latency -m "$model" --prompt-len 1 --gen-len "$TG" --threads "$THREADS" --json)"
        base='{}' base0='{}'
        if [ -n "${LOOM_BASE:-}" ]; then
            base="$("$LOOM_BASE" bench latency -m "$model" --prompt-len "$PP" --gen-len "$TG" --threads "$THREADS" --json)"
            base0="$("$LOOM_BASE" bench latency -m "$model" --prompt-len 1 --gen-len "$TG" --threads "$THREADS" --json)"
        fi
        python3 - "$model" "$llama" "$loom" "$loom0" "$base" "$base0" >> "$RESULTS" <<'PY'
import json, sys
model, llama, loom, loom0, base, base0 = sys.argv[1], *(json.loads(a) for a in sys.argv[2:])
def llama_ts(prompt, deep):
    return next((r["avg_ts"] for r in llama if (r["n_prompt"] > 0) == prompt and (r.get("n_depth", 0) > 0) == deep),
                None)
print(json.dumps({"model": model, "llama_pp": llama_ts(True, False), "llama_tg": llama_ts(False, False),
                  "llama_tg512": llama_ts(False, True), "loom_pp": loom["prefill_tokens_per_s"],
                  "loom_tg": loom0["decode_tokens_per_s"], "loom_tg512": loom["decode_tokens_per_s"],
                  "base_pp": base.get("prefill_tokens_per_s"), "base_tg": base0.get("decode_tokens_per_s"),
                  "base_tg512": base.get("decode_tokens_per_s")}))
PY
    done
done

python3 - "$RESULTS" "$BW" "$THREADS" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
bw, threads = float(sys.argv[2]), sys.argv[3]
print(f"read bandwidth ({threads} threads): {bw:.1f} GB/s")
print(f"{'model':34} {'MB':>6} | {'pp512 llama':>11} {'loom':>7} {'ratio':>6} | {'tg128 llama':>11} {'loom':>7} {'ratio':>6}"
      f" | {'tg limit':>8} {'llama %':>7} {'loom %':>6} | {'tg128@512 llama':>15} {'loom':>7} {'ratio':>6}")
for model in dict.fromkeys(r["model"] for r in rows if r["llama_pp"]):
    rs = [r for r in rows if r["model"] == model]
    best = {k: max(r[k] for r in rs) for k in ("llama_pp", "llama_tg", "llama_tg512", "loom_pp", "loom_tg", "loom_tg512")}
    mb = os.path.getsize(model) / 1e6
    limit = bw * 1e3 / mb
    print(f"{os.path.basename(model):34} {mb:6.0f} | {best['llama_pp']:11.1f} {best['loom_pp']:7.1f} "
          f"{best['loom_pp'] / best['llama_pp']:6.2f} | {best['llama_tg']:11.1f} {best['loom_tg']:7.1f} "
          f"{best['loom_tg'] / best['llama_tg']:6.2f} | {limit:8.0f} {100 * best['llama_tg'] / limit:6.0f}% "
          f"{100 * best['loom_tg'] / limit:5.0f}% | {best['llama_tg512']:15.1f} {best['loom_tg512']:7.1f} "
          f"{best['loom_tg512'] / best['llama_tg512']:6.2f}")
if any(r["base_pp"] for r in rows):
    print("loom / LOOM_BASE, best rounds (and the per-round ratios' range):")
    for model in dict.fromkeys(r["model"] for r in rows):
        rs = [r for r in rows if r["model"] == model]
        cells = []
        for k in ("pp", "tg", "tg512"):
            ratio = max(r[f"loom_{k}"] for r in rs) / max(r[f"base_{k}"] for r in rs)
            per_round = [r[f"loom_{k}"] / r[f"base_{k}"] for r in rs]
            cells.append(f"{k} {ratio:5.2f} ({min(per_round):.2f}-{max(per_round):.2f})")
        print(f"{os.path.basename(model):34} " + "   ".join(cells))
PY
