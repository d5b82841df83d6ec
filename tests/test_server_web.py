"""The chat page at GET / in headless Chromium (Debian's `chromium`), driven over the DevTools protocol
on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4, so no extra packages): the page
sends a message, streams the reply into the DOM, and the reply equals the API's greedy answer for the
same message; a screenshot of the page is a real, non-blank PNG of the window's size."""
import base64
import json
import os
import shutil
import struct
import subprocess
import time
import zlib

import pytest

from server_harness import ROOT, LoomServer, default_model

WIDTH, HEIGHT = 900, 700
QUESTION = "What is the capital of France?"


class DevTools:
    """A Chromium over --remote-debugging-pipe; call(method, params, session) returns the result."""

    def __init__(self, user_data_dir):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds_3_and_4():
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)  # above 4, so dup2 cannot clobber them
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-pipe", f"--user-data-dir={user_data_dir}", f"--window-size={WIDTH},{HEIGHT}",
             "--hide-scrollbars", "about:blank"],
            preexec_fn=fds_3_and_4, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.next_id, self.pending = 0, b""

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                chunk = os.read(self.from_chrome, 1 << 20)
                assert chunk, "chromium closed the DevTools pipe"
                self.pending += chunk
            raw, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                assert "error" not in reply, reply
                return reply["result"]

    def close(self):
        self.proc.kill()
        self.proc.wait()
        os.close(self.to_chrome)
        os.close(self.from_chrome)


def png_pixels(png):
    """(width, height, raw scanlines) of an 8-bit RGB/RGBA PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", None
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", data[:8])
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.fixture(scope="module")
def server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m"])
    yield s
    code, log = s.stop()
    assert code == 0, log


def test_chat_page_streams_a_reply_and_renders(server, tmp_path):
    status, page = server.request("GET", "/")
    assert status == 200 and "<title>loom chat</title>" in page
    status, want = server.request("POST", "/v1/chat/completions", {
        "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 256, "temperature": 0})
    assert status == 200
    want = want["choices"][0]["message"]["content"]
    assert want

    browser = DevTools(tmp_path / "profile")
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Page.enable", session=session)
        url = f"{server.base_url}/?temperature=0&q=" + QUESTION.replace(" ", "%20").replace("?", "%3F")
        browser.call("Page.navigate", {"url": url}, session=session)
        reply, deadline = None, time.time() + 120
        while reply is None and time.time() < deadline:
            got = browser.call("Runtime.evaluate", {
                "expression": "(document.querySelector('.msg.assistant.done') || {}).textContent || null",
                "returnByValue": True}, session=session)["result"].get("value")
            error = browser.call("Runtime.evaluate", {
                "expression": "(document.querySelector('.msg.error') || {}).textContent || null",
                "returnByValue": True}, session=session)["result"].get("value")
            assert error is None, error
            reply = got
            time.sleep(0.2)
        assert reply == want
        dom = browser.call("Runtime.evaluate", {"expression": "document.getElementById('log').innerText",
                                                "returnByValue": True}, session=session)["result"]["value"]
        assert QUESTION in dom and want.strip()[:40] in dom
        shot = base64.b64decode(browser.call("Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    finally:
        browser.close()

    path = os.path.join(ROOT, "build", "server_web_screenshot.png")
    with open(path, "wb") as f:
        f.write(shot)
    width, height, raw = png_pixels(shot)
    assert width == WIDTH and 400 < height <= HEIGHT  # the viewport: the window less its frame
    assert len(shot) > 5000  # a blank page compresses to a few hundred bytes
    rows = {raw[r * len(raw) // height + 1:(r + 1) * len(raw) // height] for r in range(height)}
    assert len(rows) > 50  # text and bubbles make many distinct scanlines
