"""`loom serve` at the HTTP level, over raw sockets on loopback (issue 14): malformed framing headers
(two conflicting Content-Length headers, negative, overflowing, signed or listed lengths, Content-Length
beside Transfer-Encoding) get one 400 and a closed connection, never libmicrohttpd's doubled status
line; a client that half-closes after its request still gets the whole answer, while one that really
leaves has its request aborted; HEAD; CORS with --allowed-origins (preflight without the key, 403 for
other origins); slow clients (slowloris headers, a trickled body) are closed after --request-timeout;
--max-connections-per-ip refuses the connection over the cap; /metrics reports connections and caps."""
import json
import socket
import threading
import time

import pytest

from server_harness import LoomServer, default_model

KEY = "sk-http-test"
AUTH = f"Authorization: Bearer {KEY}\r\n"
ORIGIN = "http://ok.example"
BODY = json.dumps({"prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}).encode()


@pytest.fixture(scope="module")
def server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--api-key", KEY,
                              "--allowed-origins", f"{ORIGIN}, http://other.example", "--log-level", "debug"])
    yield s
    code, log = s.stop()
    assert code == 0, log


def exchange(port, data, half_close=False, timeout=60):
    """Sends data, reads until the server closes: the raw bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def post(path, body, extra_headers="", length=None):
    length = f"Content-Length: {len(body)}\r\n" if length is None else length
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{AUTH}{extra_headers}{length}\r\n"
            .encode() + body)


def split_response(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return int(lines[0].split(" ")[1]), headers, body


def completion_text(server):
    status, reply = server.request("POST", "/v1/completions", json.loads(BODY), headers={"Authorization": f"Bearer {KEY}"})
    assert status == 200, reply
    return reply["choices"][0]["text"]


@pytest.mark.parametrize("length", ["Content-Length: %d\r\nContent-Length: 5\r\n", "Content-Length: -1\r\n",
                                    "Content-Length: 99999999999999999999999\r\n", "Content-Length: +%d\r\n",
                                    "Content-Length: %d, %d\r\n", "Content-Length : %d\r\n",
                                    "Content-Length: %d\r\nTransfer-Encoding: chunked\r\n"])
def test_malformed_framing_is_one_400_and_close(server, length):
    n = len(BODY)
    raw = exchange(server.port, post("/v1/completions", BODY, length=length.replace("%d", str(n))))
    assert raw.count(b"HTTP/1.1") == 1, raw  # one status line (libmicrohttpd alone sent two)
    status, headers, body = split_response(raw)
    assert status == 400 and headers["connection"] == "close", raw
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


def test_unknown_transfer_coding_is_501(server):
    raw = exchange(server.port, post("/v1/completions", BODY, length="Transfer-Encoding: gzip\r\n"))
    status, headers, body = split_response(raw)
    assert raw.count(b"HTTP/1.1") == 1 and status == 501 and headers["connection"] == "close"
    assert "chunked" in json.loads(body)["error"]["message"]


def test_identical_duplicate_length_is_accepted(server):
    n = len(BODY)
    status, _, body = split_response(exchange(server.port, post("/v1/completions", BODY,
                                                                 length=f"Content-Length: {n}\r\nContent-Length: {n}\r\n")))
    assert status == 200 and json.loads(body)["choices"][0]["text"] == completion_text(server)


@pytest.mark.parametrize("stream", [False, True])
def test_half_closed_client_gets_the_whole_answer(server, stream):
    """shutdown(SHUT_WR) after the request: the generation is long enough for the server to see the FIN
    while it works; the answer still comes, whole and equal to the normal one."""
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 40, "temperature": 0, "ignore_eos": True,
                       "stream": stream}).encode()
    want = server.request("POST", "/v1/completions", dict(json.loads(body), stream=False),
                          headers={"Authorization": f"Bearer {KEY}"})[1]["choices"][0]["text"]
    status, headers, got = split_response(exchange(server.port, post("/v1/completions", body), half_close=True))
    assert status == 200
    if stream:
        events = [e[6:] for e in got.decode().split("\n\n") if e.startswith("data: ")]
        assert events[-1] == "[DONE]"
        assert "".join(json.loads(e)["choices"][0]["text"] for e in events[:-1]) == want
    else:
        assert json.loads(got)["choices"][0]["text"] == want


@pytest.mark.parametrize("stream", [False, True])
def test_client_that_leaves_is_aborted(server, stream):
    before = server.wait_idle()
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 3000, "temperature": 0, "ignore_eos": True,
                       "stream": stream}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(post("/v1/completions", body))
        time.sleep(1.0)  # generating
    m = server.wait_idle(timeout_s=30)
    assert m['loom_request_success_total{finished_reason="abort"}'] == \
        before['loom_request_success_total{finished_reason="abort"}'] + 1
    assert m["loom_generation_tokens_total"] - before["loom_generation_tokens_total"] < 2000


def test_ignored_fields_are_logged_once_per_name(server):
    """At --log-level debug: one line per unknown field name, however often it comes; names from the
    client are escaped in the log and in X-Loom-Ignored-Fields."""
    body = json.dumps({"prompt": "Hi", "max_tokens": 1, "temprature": 0.1, "odd\r\nname": 1}).encode()
    for _ in range(3):
        status, headers, _ = split_response(exchange(server.port, post("/v1/completions", body)))
        assert status == 200 and headers["x-loom-ignored-fields"] == "temprature, odd%0D%0Aname"
    time.sleep(0.2)
    log = "".join(server.stderr_lines)
    assert log.count("ignoring the unknown field 'temprature' (did you mean 'temperature'?)") == 1, log[-2000:]
    assert log.count("ignoring the unknown field 'odd%0D%0Aname'") == 1


def test_head_health(server):
    raw = exchange(server.port, b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = split_response(raw)
    assert status == 200 and body == b"" and headers["content-type"] == "application/json"


def test_cors(server):
    def get(origin):
        return split_response(exchange(server.port, f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}Origin: {origin}\r\n\r\n"
                                       .encode()))
    status, headers, _ = get(ORIGIN)
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN and headers["vary"] == "Origin"
    status, headers, _ = get("http://evil.example")
    assert status == 200 and "access-control-allow-origin" not in headers
    # a preflight carries no key; it says what may be sent
    pre = ("OPTIONS /v1/chat/completions HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nAccess-Control-Request-Method: POST\r\n"
           "Access-Control-Request-Headers: authorization, content-type, x-stainless-os\r\n\r\n")
    status, headers, _ = split_response(exchange(server.port, (pre % ORIGIN).encode()))
    assert status == 204 and headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in headers["access-control-allow-methods"] and "OPTIONS" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "authorization, content-type, x-stainless-os"
    status, headers, _ = split_response(exchange(server.port, (pre % "http://evil.example").encode()))
    assert status == 403 and "access-control-allow-origin" not in headers
    # a 401 carries the CORS headers too, so a page can read it
    status, headers, _ = split_response(exchange(server.port, f"GET /v1/models HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\n\r\n"
                                                 .encode()))
    assert status == 401 and headers["access-control-allow-origin"] == ORIGIN and headers["www-authenticate"] == "Bearer"


TIMEOUT_S = 2.0
PER_IP = 6


@pytest.fixture(scope="module")
def strict_server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--request-timeout", str(TIMEOUT_S)])
    yield s
    code, log = s.stop()
    assert code == 0, log


@pytest.fixture(scope="module")
def capped_server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--max-connections-per-ip", str(PER_IP)])
    yield s
    code, log = s.stop()
    assert code == 0, log


def trickle(port, data, at_once, interval_s, result, key):
    """Sends data[:at_once], then the rest one byte per interval; result[key] = seconds until the server
    closed the connection."""
    start = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(data[:at_once])
            for b in data[at_once:]:
                time.sleep(interval_s)
                s.sendall(bytes([b]))
                s.setblocking(False)
                try:
                    if s.recv(4096) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
        except OSError:  # reset by the server
            pass
    result[key] = time.time() - start


def test_slow_clients_are_closed(strict_server):
    """Four connections trickle their headers, one its body (headers whole at once), a byte per 0.3 s:
    each is closed about --request-timeout after it opened, while other requests are served."""
    head = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    result = {}
    threads = [threading.Thread(target=trickle, args=(strict_server.port, head, 0, 0.3, result, f"headers{i}"))
               for i in range(4)]
    threads.append(threading.Thread(target=trickle, args=(strict_server.port, head + b" " * 200, len(head), 0.3, result,
                                                          "body")))
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.time()
    assert strict_server.request("GET", "/health")[0] == 200  # others are served meanwhile
    assert time.time() - t0 < 1.0
    for t in threads:
        t.join(timeout=30)
    assert len(result) == 5
    for key, took in result.items():
        assert TIMEOUT_S - 0.5 < took < TIMEOUT_S + 2.0, (key, took)
    assert strict_server.metrics()["loom_http_requests_timed_out_total"] >= 5


def test_answers_slower_than_the_timeout_still_arrive(strict_server):
    """--request-timeout bounds receiving a request (and a client idle while we have bytes for it), not
    how long the engine works: a non-streamed answer that takes longer arrives (libmicrohttpd's idle
    clock would have closed the connection under the waiting handler). The length is doubled until the
    answer does take longer than the timeout on this machine."""
    n, took = 64, 0.0
    while took <= TIMEOUT_S and n <= 4096:
        body = {"prompt": "Once upon a time", "max_tokens": n, "temperature": 0, "ignore_eos": True}
        t0 = time.time()
        status, reply = strict_server.request("POST", "/v1/completions", body, timeout=600)
        took = time.time() - t0
        assert status == 200 and reply["usage"]["completion_tokens"] == n, reply
        n *= 2
    assert took > TIMEOUT_S, took


def test_connections_per_ip_are_capped_and_reported(capped_server):
    idle = [socket.create_connection(("127.0.0.1", capped_server.port), timeout=10) for _ in range(PER_IP - 1)]
    try:
        time.sleep(0.2)
        m = capped_server.metrics()  # the PER_IP-th connection
        assert m["loom_http_connections"] == PER_IP and m["loom_http_connections_per_ip_limit"] == PER_IP
        assert m["loom_http_connections_limit"] == 2000
        # the metrics connection's slot is freed when libmicrohttpd has closed it, which a loaded machine may
        # delay: until then a new connection is refused (a 503 and a close), so retry until one is kept
        refused_before = m["loom_http_connections_refused_total"]
        for _ in range(50):
            extra = socket.create_connection(("127.0.0.1", capped_server.port), timeout=10)
            extra.settimeout(0.2)
            try:
                extra.recv(64)  # an answer (or a close) before any request was sent: refused
                refused = True
            except socket.timeout:
                refused = False
            except ConnectionResetError:
                refused = True
            extra.settimeout(10)
            if not refused:
                idle.append(extra)
                break
            extra.close()
            refused_before += 1
            time.sleep(0.1)
        assert len(idle) == PER_IP
        over = socket.create_connection(("127.0.0.1", capped_server.port), timeout=10)
        over.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        try:
            while chunk := over.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        over.close()
        assert data.startswith(b"HTTP/1.1 503") or data == b"", data
    finally:
        for s in idle:
            s.close()
    time.sleep(0.3)
    m = capped_server.metrics()
    assert m["loom_http_connections_refused_total"] == refused_before + 1
    assert m["loom_http_connections"] == 1
