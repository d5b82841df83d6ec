"""The chat page at GET / in headless Chromium (Debian's `chromium`), driven over the DevTools protocol
on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4, so no extra packages): the page
sends a message, streams the reply into the DOM, and the reply equals the API's greedy answer for the
same message; its sampling fields start from the server's defaults (/v1/models); a screenshot of the
page is a real, non-blank PNG of the window's size. With --api-key the page itself is served without
the key, asks for it when the API answers 401 (again after a wrong one) and then chats with it."""
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


KEY = "sk-page-test-42"


@pytest.fixture(scope="module")
def keyed_server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--api-key", KEY])
    yield s
    code, log = s.stop()
    assert code == 0, log


def greedy_reply(server, headers=None):
    status, want = server.request("POST", "/v1/chat/completions", {
        "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 256, "temperature": 0}, headers=headers)
    assert status == 200, want
    assert want["choices"][0]["message"]["content"]
    return want["choices"][0]["message"]["content"]


class Page:
    """One tab of a headless Chromium on url."""

    def __init__(self, tmp_path, url):
        self.browser = DevTools(tmp_path / "profile")
        target = self.browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.browser.call("Page.enable", session=self.session)
        self.browser.call("Page.navigate", {"url": url}, session=self.session)

    def eval(self, expression):
        return self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                 session=self.session)["result"].get("value")

    def wait_for(self, expression, timeout_s=120):
        """The expression's value once it is not null; an error bubble fails at once."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            error = self.eval("(document.querySelector('.msg.error') || {}).textContent || null")
            assert error is None, error
            value = self.eval(expression)
            if value is not None:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}")

    def reply(self):
        return self.wait_for("(document.querySelector('.msg.assistant.done') || {}).textContent || null")

    def close(self):
        self.browser.close()


def page_url(server):
    return f"{server.base_url}/?temperature=0&max_tokens=256&q=" + QUESTION.replace(" ", "%20").replace("?", "%3F")


def test_chat_page_streams_a_reply_and_renders(server, tmp_path):
    status, page = server.request("GET", "/")
    assert status == 200 and "<title>loom chat</title>" in page
    want = greedy_reply(server)
    status, models = server.request("GET", "/v1/models")
    defaults = models["data"][0]["sampling_defaults"]
    tab = Page(tmp_path, page_url(server))
    try:
        assert tab.reply() == want
        dom = tab.eval("document.getElementById('log').innerText")
        assert QUESTION in dom and want.strip()[:40] in dom
        # the fields start from the server's defaults; the query set temperature and max_tokens
        for name in ("top_p", "top_k", "min_p"):
            assert float(tab.eval(f"document.getElementById('{name}').value")) == pytest.approx(defaults[name]), name
        assert defaults["max_tokens"] == 2048 and tab.eval("document.getElementById('max_tokens').value") == "256"
        assert float(tab.eval("document.getElementById('temperature').value")) == 0
        shot = base64.b64decode(tab.browser.call("Page.captureScreenshot", {"format": "png"}, session=tab.session)["data"])
    finally:
        tab.close()

    path = os.path.join(ROOT, "build", "server_web_screenshot.png")
    with open(path, "wb") as f:
        f.write(shot)
    width, height, raw = png_pixels(shot)
    assert width == WIDTH and 400 < height <= HEIGHT  # the viewport: the window less its frame
    assert len(shot) > 5000  # a blank page compresses to a few hundred bytes
    rows = {raw[r * len(raw) // height + 1:(r + 1) * len(raw) // height] for r in range(height)}
    assert len(rows) > 50  # text and bubbles make many distinct scanlines


def test_page_asks_for_the_key_and_uses_it(keyed_server, tmp_path):
    status, page = keyed_server.request("GET", "/")  # the page needs no key ...
    assert status == 200 and "<title>loom chat</title>" in page
    assert keyed_server.request("GET", "/v1/models")[0] == 401  # ... the API does
    want = greedy_reply(keyed_server, headers={"Authorization": "Bearer " + KEY})
    tab = Page(tmp_path, page_url(keyed_server))
    try:
        form_shown = "document.getElementById('keyform').hidden ? null : true"
        assert tab.wait_for(form_shown) is True
        assert tab.eval("document.querySelectorAll('.msg').length") == 0  # nothing was sent without a key
        submit = ("(() => { document.getElementById('key').value = %s;"
                  " document.getElementById('usekey').click(); return true; })()")
        tab.eval(submit % json.dumps("wrong-key"))
        assert tab.wait_for(form_shown) is True  # 401 again: asked again
        tab.eval(submit % json.dumps(KEY))
        assert tab.reply() == want
        assert tab.eval("document.getElementById('keyform').hidden") is True
        assert tab.eval("sessionStorage.getItem('loom-api-key')") == KEY  # this tab only, not localStorage
        assert tab.eval("localStorage.length") == 0
        assert tab.eval("document.getElementById('model').textContent") == "m"
    finally:
        tab.close()
