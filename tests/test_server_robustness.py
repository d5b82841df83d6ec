"""`loom serve` under hostile clients, run from the ASan+UBSan build (build-asan/loom, made here when
missing or stale) on loopback only: more than 500 malformed requests (bad JSON, wrong types, negative
or huge max_tokens, the other endpoint's prompt field, 10 MB bodies, truncated bodies, invalid UTF-8,
wrong content types, unknown routes, malformed Content-Length) each get a 4xx with an OpenAI error
body; 100 clients drop their streams midway. Afterwards the server is healthy, serves the same greedy text as before, every KV block is
free, and it shuts down with exit status 0 and no sanitizer or leak report."""
import json
import os
import socket
import subprocess
import threading

import pytest

from server_harness import ROOT, LoomServer, default_model

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
MSG = [{"role": "user", "content": "Tell me a long story."}]


@pytest.fixture(scope="module")
def asan_loom():
    build = subprocess.run(["make", "-s", "SANITIZE=1", "build-asan/loom"], cwd=ROOT, capture_output=True, text=True,
                           timeout=1800)
    assert build.returncode == 0, build.stdout + build.stderr
    return os.path.join(ROOT, "build-asan", "loom")


@pytest.fixture(scope="module")
def server(asan_loom):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1")
    s = LoomServer(asan_loom, ["-m", default_model(), "--served-model-name", "m", "--max-body-bytes", str(4 << 20),
                               "--max-num-seqs", "128"], env=env, timeout_s=300)
    yield s
    s.stop()


def wrong_type_bodies():
    """For each field, values of a type it never accepts (or out of its range)."""
    bad = {
        "max_tokens": ["5", 1.5, True, [], {}, -1, -10**12, 10**12, 10**30, 8193],
        "temperature": ["hot", True, [], {}, -0.5, 1e300],
        "top_p": ["x", False, [], 0, 1.5, -1],
        "top_k": ["x", 1.5, [], -2],
        "min_p": ["x", 2, -1],
        "presence_penalty": ["x", 3, -3],
        "frequency_penalty": [{}, 2.5],
        "repetition_penalty": ["x", 0, -1],
        "n": ["2", 0, -1, 129, 2.5],
        "seed": ["s", 1.5, [], {}],
        "stop": [3, [1], [""], {"a": 1}, ["x"] * 17],
        "stop_token_ids": ["1", [-1], [10**9], ["a"]],
        "logit_bias": ["x", [1], {"a": 1}, {"1": "x"}, {"1": 500}, {"999999": 1}],
        "stream": ["yes", 1, []],
        "stream_options": ["x", {"bogus": True}, {"include_usage": True}],
        "ignore_eos": ["no", 0],
        "model": [5, [], {}],
        "min_tokens": [-1, "3", 10**9],
    }
    for field, values in bad.items():
        for v in values:
            yield COMPLETIONS, {"prompt": "hi", field: v}
            yield CHAT, {"messages": MSG, field: v}
    for v in [5, [], {}, [1, "a"], ["a", 1], [[1], "a"], [-1], [10**9], [[]], True]:
        yield COMPLETIONS, {"prompt": v}
    for v in ["hi", [], [5], [{"content": "x"}], [{"role": 5, "content": "x"}], [{"role": "user", "content": 5}],
              [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}], {"role": "user"}]:
        yield CHAT, {"messages": v}
    yield CHAT, {"messages": MSG, "logprobs": 3}
    yield CHAT, {"messages": MSG, "top_logprobs": 2}
    yield COMPLETIONS, {"prompt": "x", "logprobs": 21}
    yield COMPLETIONS, {"prompt": "x", "min_tokens": 20}  # above max_tokens (16): the engine's check
    yield COMPLETIONS, {"prompt": "x", "echo": True}
    yield COMPLETIONS, {}
    yield CHAT, {}


def raw_requests():
    """(method, path, body bytes, content type) of every malformed request."""
    reqs = []
    for path, body in wrong_type_bodies():
        reqs.append(("POST", path, json.dumps(body).encode(), "application/json"))
    for i in range(100):  # unknown fields are ignored, but the prompt field of the other endpoint is an error
        reqs.append(("POST", COMPLETIONS if i % 2 else CHAT,
                     json.dumps({"prompt": "x", "messages": MSG, f"unknown_{i}": i}).encode(), "application/json"))
    good = json.dumps({"prompt": "Hello there", "max_tokens": 3, "temperature": 0}).encode()
    good_chat = json.dumps({"messages": MSG, "max_tokens": 3}).encode()
    for path, whole in ((COMPLETIONS, good), (CHAT, good_chat)):  # truncated bodies (complete requests, cut JSON)
        for cut in range(0, len(whole) - 1):
            reqs.append(("POST", path, whole[:cut], "application/json"))
    for junk in [b"{", b"}", b"nul", b"[1,2", b"{\"prompt\": \"x\",}", b"{'prompt': 'x'}", b"\x00\x01",
                 b"{\"prompt\": \"x\"} extra", b"123", b"\"str\"", b"null", b"true", b"{\"a\":" * 5000]:
        for path in (COMPLETIONS, CHAT, "/tokenize", "/detokenize"):
            reqs.append(("POST", path, junk, "application/json"))
    for bad_utf8 in [b"\xff", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"abc\x80"]:
        reqs.append(("POST", COMPLETIONS, b'{"prompt": "' + bad_utf8 + b'"}', "application/json"))
        reqs.append(("POST", CHAT, b'{"messages": [{"role": "user", "content": "' + bad_utf8 + b'"}]}',
                     "application/json"))
        reqs.append(("POST", "/tokenize", b'{"prompt": "' + bad_utf8 + b'"}', "application/json"))
    for ctype in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                  "application/jsonx", "text/json"]:
        for path in (COMPLETIONS, CHAT, "/tokenize", "/detokenize"):
            reqs.append(("POST", path, good, ctype))
    for path in ["/v2/completions", "/v1/completion", "/admin", "/v1/models/x", "/../etc/passwd", "/%00"]:
        reqs.append(("GET", path, None, None))
        reqs.append(("POST", path, good, "application/json"))
    for method, path in [("GET", COMPLETIONS), ("PUT", CHAT), ("DELETE", "/v1/models"), ("POST", "/health"),
                         ("GET", "/tokenize")]:
        reqs.append((method, path, good if method != "GET" else None, "application/json"))
    reqs.append(("POST", "/detokenize", json.dumps({"tokens": [-1]}).encode(), "application/json"))
    reqs.append(("POST", "/detokenize", json.dumps({"tokens": [10**9]}).encode(), "application/json"))
    reqs.append(("POST", "/tokenize", json.dumps({"text": "x"}).encode(), "application/json"))
    big = b'{"prompt": "' + b"a" * (10 << 20) + b'"}'
    for path in (COMPLETIONS, CHAT, "/tokenize"):
        reqs.append(("POST", path, big, "application/json"))
    n = len(good)
    for length in [f"Content-Length: {n}\r\nContent-Length: 3\r\n", "Content-Length: -1\r\n", f"Content-Length: +{n}\r\n",
                   "Content-Length: 99999999999999999999999\r\n", f"Content-Length: {n}, {n}\r\n",
                   f"Content-Length: {n}\r\nTransfer-Encoding: chunked\r\n"]:
        reqs.append(("POST", COMPLETIONS, good, "application/json", length))
    return reqs


def send(port, method, path, body, ctype, timeout=120, length=None):
    """One request over a raw socket (length: the framing header lines, else a right Content-Length);
    returns (status, body bytes)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if ctype:
        head += f"Content-Type: {ctype}\r\n"
    if length is not None:
        head += length
    elif body is not None:
        head += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + (body or b""))
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def greedy(server):
    status, body = server.request("POST", COMPLETIONS, {"prompt": "The capital of France is", "max_tokens": 6,
                                                        "temperature": 0})
    assert status == 200, body
    return body["choices"][0]["text"]


def test_malformed_requests_get_4xx_json(server):
    reqs = raw_requests()
    assert len(reqs) >= 500
    failures = []
    for method, path, body, ctype, *length in reqs:
        status, payload = send(server.port, method, path, body, ctype, length=length[0] if length else None)
        try:
            err = json.loads(payload)["error"]
            ok = 400 <= status < 500 and isinstance(err["message"], str) and err["message"]
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            failures.append((method, path, (body or b"")[:80], ctype, length, status, payload[:200]))
    assert not failures, f"{len(failures)} of {len(reqs)} malformed requests not answered with a 4xx JSON error: {failures[:5]}"
    assert server.request("GET", "/health")[0] == 200


def test_truncated_upload_and_early_close_do_not_hurt(server):
    for declared in (100, 10 << 20):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            s.sendall(f"POST {COMPLETIONS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {declared}\r\n\r\n{{\"prompt\": ".encode())
    assert server.request("GET", "/health")[0] == 200


def drop_mid_stream(port, i, got_chunk):
    body = json.dumps({"messages": MSG, "stream": True, "max_tokens": 300 + i, "ignore_eos": True,
                       "temperature": 0.8, "seed": i}).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as s:
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while data.count(b"data: ") < 3:  # the role chunk and two tokens, then go away
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        got_chunk[i] = data.count(b"data: ") >= 3


def test_clients_disconnecting_mid_stream_free_everything(server):
    before = greedy(server)
    got_chunk = [False] * 100
    threads = [threading.Thread(target=drop_mid_stream, args=(server.port, i, got_chunk)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert all(got_chunk)
    m = server.wait_idle(timeout_s=120)
    assert m["loom_kv_cache_blocks_free"] == m["loom_kv_cache_blocks_total"] > 0
    assert m["loom_kv_cache_usage_percent"] == 0
    # 100 streams of 300+ tokens were dropped after two: far fewer tokens than asked were generated
    assert m["loom_generation_tokens_total"] < 100 * 300 / 2
    assert server.request("GET", "/health")[0] == 200
    assert greedy(server) == before


def test_shutdown_is_clean_under_sanitizers(server):
    code, log = server.stop()
    assert code == 0, log[-4000:]
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in log, log[-4000:]
