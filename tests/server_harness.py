"""Starting and stopping `loom serve` for the server tests (tests/test_server_*.py).

LoomServer(loom_bin, args) starts the server on 127.0.0.1 with --port 0, reads the port it printed
("listening on http://127.0.0.1:PORT"), and waits for /health to say 200. stop() sends SIGTERM and
returns (exit status, everything the server wrote to stderr)."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
METRIC_MODEL_LABEL = re.compile(r'model_name="(?:[^"\\]|\\.)*",?')


def default_model():
    """The default real model (fetched when missing): the last line `scripts/fetch-model.sh` prints."""
    out = subprocess.run([os.path.join(ROOT, "scripts", "fetch-model.sh")], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), path
    return path


class LoomServer:
    def __init__(self, loom_bin, args, env=None, wait_ready=True, timeout_s=120, launcher=()):
        """launcher: a command prefix such as mpirun's (tests/mpi_util.py) for a parallel server."""
        self.proc = subprocess.Popen(list(launcher) + [loom_bin, "serve", "--host", "127.0.0.1", "--port", "0"] + list(args),
                                     stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     errors="replace", env=env, cwd=ROOT)
        self.stderr_lines = []
        self.port = None
        first = self.proc.stderr.readline()
        self.stderr_lines.append(first)
        m = LISTENING.search(first)
        if not m:
            rest = self.proc.stderr.read()
            self.proc.wait(timeout=10)
            raise AssertionError(f"loom serve did not start: {first}{rest}")
        self.port = int(m.group(1))
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        if wait_ready:
            self.wait_ready(timeout_s)

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s=120):
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            assert self.proc.poll() is None, "loom serve exited:\n" + "".join(self.stderr_lines)
            status, _ = self.request("GET", "/health")
            if status == 200:
                return
            time.sleep(0.05)
        raise AssertionError("loom serve never became ready")

    def request(self, method, path, body=None, headers=None, timeout=60):
        """One request on a fresh connection: (status, parsed JSON or raw text)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            h = {"Content-Type": "application/json"} if data is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read().decode("utf-8", "replace")
            try:
                return resp.status, json.loads(raw)
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def metrics(self, headers=None, raw=False):
        """{series: value} from /metrics. Every loom_ series carries model_name="..."; the keys leave it
        out ('loom_e2e_request_latency_seconds_bucket{le="+Inf"}'); raw=True keeps the lines' own names."""
        status, text = self.request("GET", "/metrics", headers=headers)
        assert status == 200, text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name if raw else METRIC_MODEL_LABEL.sub("", name).replace("{}", "")] = float(value)
        return values

    def wait_idle(self, timeout_s=60):
        """Waits until no request runs or waits; returns the metrics then."""
        deadline = time.time() + timeout_s
        while True:
            m = self.metrics()
            if m["loom_num_requests_running"] == 0 and m["loom_num_requests_waiting"] == 0 and \
                    m["loom_num_http_requests_pending"] == 0:
                return m
            assert time.time() < deadline, f"server never went idle: {m}"
            time.sleep(0.1)

    def stop(self, timeout_s=120):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.reader.join(timeout=10)
        return code, "".join(self.stderr_lines)
