"""bench/serve_compare.py's load generator (bench/serve_client.py) against a scripted local SSE server: it
must parse events split anywhere across HTTP chunks, time TTFT/TPOT from the text events, take
completion_tokens from the usage chunk, keep exactly `concurrency` requests in flight, and give
numpy's percentiles. The matrix's prompts must all differ (a seed bug once made them identical, which
let every prefix cache serve them)."""
import asyncio
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import serve_client  # noqa: E402
import serve_compare  # noqa: E402

N_TOKENS = 5
GAP_S = 0.02


async def fake_server(state):
    """Answers every POST with N_TOKENS text events GAP_S apart, then a usage chunk and [DONE], in HTTP
    chunks cut through the middle of events; counts requests in flight."""

    async def handle(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        events = [json.dumps({"choices": [{"text": f"t{i}"}]}) for i in range(N_TOKENS)]
        events.append(json.dumps({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": N_TOKENS}}))
        stream = b"".join(b"data: " + e.encode() + b"\r\n\r\n" for e in events) + b"data: [DONE]\n\n"
        cuts = [0] + [stream.index(b"t%d" % i) for i in range(1, N_TOKENS)] + [len(stream)]
        for a, b in zip(cuts, cuts[1:]):
            writer.write(b"%x\r\n" % (b - a) + stream[a:b] + b"\r\n")
            await writer.drain()
            await asyncio.sleep(GAP_S)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        state["now"] -= 1
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def run_load(n_requests, concurrency):
    async def go():
        state = {"now": 0, "max": 0}
        server = await fake_server(state)
        port = server.sockets[0].getsockname()[1]
        bodies = [{"prompt": "x", "k": k} for k in range(n_requests)]
        records, wall = await serve_client.closed_loop(port, "/v1/completions", bodies, concurrency, 30)
        server.close()
        return records, wall, state["max"]

    return asyncio.run(go())


def test_stream_timing_and_usage():
    records, wall, _ = run_load(2, 1)
    for r in records:
        assert "error" not in r, r
        assert r["completion_tokens"] == N_TOKENS and r["prompt_tokens"] == 7 and r["text_events"] == N_TOKENS
        # one text event per chunk, GAP_S apart: TPOT is the gap, TTFT less than one gap
        assert 0.8 * GAP_S < r["tpot_s"] < 5 * GAP_S
        assert 0 < r["ttft_s"] < r["e2e_s"]
    assert wall >= 2 * (N_TOKENS - 1) * GAP_S


def test_closed_loop_keeps_concurrency():
    records, _, max_in_flight = run_load(12, 4)
    assert all(r and "error" not in r for r in records)
    assert max_in_flight == 4


def test_percentile_matches_numpy():
    rng = np.random.default_rng(3)
    values = list(rng.exponential(size=37))
    for q in (0, 50, 90, 99, 100):
        assert abs(serve_client.percentile(values, q) - np.percentile(values, q)) < 1e-12


def test_matrix_prompts_all_differ():
    class Args:
        requests_per_client, min_requests = 2, 8

    pool = [f"w{i}" for i in range(500)]
    prompts = [b["prompt"] for cell in [(128, 64, 8), (128, 64, 32), (1024, 64, 8)]
               for b in serve_compare.matrix_bodies(Args, pool, cell)]
    assert len(set(prompts)) == len(prompts) == 16 + 64 + 16
    assert all(len(p.split()) in (128, 1024) for p in prompts)
