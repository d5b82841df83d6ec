"""The load-generating side of bench/serve_compare.py: a small asyncio HTTP/1.1 client (standard library
only, so the benchmark needs no package of its own) that streams OpenAI server-sent events and times
them, closed-loop client pools, and percentiles.

One request's timing, taken client-side: TTFT = from sending the request to the first event carrying
generated text; TPOT = (last such event - first) / (completion_tokens - 1), completion_tokens from the
final usage chunk (stream_options.include_usage) or, when a server sends none, the number of text
events."""
import asyncio
import json
import time


async def _read_head(reader):
    status = int((await reader.readline()).split()[1])
    headers = {}
    while True:
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            return status, headers
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()


async def _body_chunks(reader, headers):
    """Yields the body as it arrives (chunked transfer encoding, Content-Length, or until close)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            data = await reader.readexactly(size)
            await reader.readexactly(2)
            yield data
    elif "content-length" in headers:
        yield await reader.readexactly(int(headers["content-length"]))
    else:
        while data := await reader.read(65536):
            yield data


async def request(port, method, path, body=None, on_event=None, host="127.0.0.1"):
    """One HTTP request on its own connection. With on_event, the body is read as server-sent events and
    on_event(arrival_time, parsed_json) is called for every `data:` line but `[DONE]`; returns
    (status, body bytes; empty when streamed)."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
    try:
        data = json.dumps(body).encode() if body is not None else b""
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
        await writer.drain()
        status, headers = await _read_head(reader)
        out, pending = bytearray(), b""
        async for chunk in _body_chunks(reader, headers):
            if on_event is None or status != 200:
                out += chunk
                continue
            now = time.perf_counter()
            pending += chunk.replace(b"\r\n", b"\n")
            *events, pending = pending.split(b"\n\n")
            for ev in events:
                for line in ev.split(b"\n"):
                    if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
                        on_event(now, json.loads(line[5:]))
        return status, bytes(out)
    finally:
        writer.close()


def _text_of(event):
    choices = event.get("choices") or []
    if not choices:
        return ""
    c = choices[0]
    return c.get("text") or (c.get("delta") or {}).get("content") or ""


async def timed_stream(port, path, body):
    """Streams one generation request; returns its record: ttft_s, tpot_s, e2e_s, prompt_tokens,
    completion_tokens, text_events, prompt_computed (llama-server's timings.prompt_n: prompt tokens it
    did not find in its cache), or error."""
    t = {"first": None, "last": None, "events": 0, "usage": None, "timings": None}

    def on_event(now, ev):
        if _text_of(ev):
            t["first"] = t["first"] or now
            t["last"] = now
            t["events"] += 1
        if ev.get("usage"):
            t["usage"] = ev["usage"]
        if ev.get("timings"):  # llama-server's own per-request counters
            t["timings"] = ev["timings"]

    start = time.perf_counter()
    status, err = await request(port, "POST", path, body, on_event)
    end = time.perf_counter()
    if status != 200:
        return {"error": f"HTTP {status}: {err[:300].decode(errors='replace')}"}
    if t["first"] is None:
        return {"error": f"HTTP 200, but the stream ended after {end - start:.1f} s without a token"}
    usage = t["usage"] or {}
    n = usage.get("completion_tokens", t["events"])
    return {"ttft_s": t["first"] - start, "tpot_s": (t["last"] - t["first"]) / (n - 1) if n > 1 else None,
            "e2e_s": end - start, "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": n,
            "text_events": t["events"], "prompt_computed": (t["timings"] or {}).get("prompt_n")}


async def closed_loop(port, path, bodies, concurrency, timeout_s):
    """`concurrency` clients, each sending its next body (taken in order from `bodies`) as soon as its
    previous request finished. Returns (records in body order, wall time from first send to last end)."""
    queue = list(enumerate(bodies))[::-1]
    records = [None] * len(bodies)

    async def client():
        while queue:
            i, body = queue.pop()
            records[i] = await timed_stream(port, path, body)

    start = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client() for _ in range(concurrency))), timeout_s)
    return records, time.perf_counter() - start


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)
