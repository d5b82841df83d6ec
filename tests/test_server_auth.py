"""`loom serve --api-key-file`: every route except /health, /metrics (open by design, for probes and
scrapers; they expose no request data) and the chat page (static bytes that ask for the key) rejects a
missing or wrong key with 401 in OpenAI's error shape and `WWW-Authenticate: Bearer`; the right key
works, also through the `openai` client."""
import http.client

import openai
import pytest

from server_harness import LoomServer, default_model

KEY = "sk-loom-test-0123456789"
PROTECTED = [("GET", "/v1/models", None), ("POST", "/v1/completions", {"prompt": "hi", "max_tokens": 2}),
             ("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
             ("POST", "/tokenize", {"prompt": "hi"}), ("POST", "/detokenize", {"tokens": [1, 2]}),
             ("GET", "/v1/models/m", None), ("GET", "/no/such/route", None)]


@pytest.fixture(scope="module")
def server(loom_bin, tmp_path_factory):
    key_file = tmp_path_factory.mktemp("auth") / "key"
    key_file.write_text(KEY + "\n")
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--api-key-file", str(key_file)])
    yield s
    code, log = s.stop()
    assert code == 0, log


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Bearer " + KEY[:-1], "Bearer " + KEY + "x", KEY,
                                  "Basic " + KEY, "Bearer "])
def test_missing_or_wrong_key_is_401(server, auth):
    headers = {"Authorization": auth} if auth else {}
    for method, path, body in PROTECTED:
        status, reply = server.request(method, path, body, headers=headers)
        assert status == 401, (path, auth, status, reply)
        assert reply["error"]["type"] == "authentication_error" and reply["error"]["code"] == "invalid_api_key"


def test_right_key_is_accepted(server):
    good = {"Authorization": "Bearer " + KEY}
    for method, path, body in PROTECTED[:-1]:
        status, reply = server.request(method, path, body, headers=good)
        assert status == 200, (path, status, reply)
    assert server.request("GET", "/no/such/route", headers=good)[0] == 404


def test_health_metrics_and_the_page_are_open(server):
    assert server.request("GET", "/health")[0] == 200
    assert "loom_kv_cache_blocks_free" in server.metrics()
    status, page = server.request("GET", "/")
    assert status == 200 and "<title>loom chat</title>" in page


def test_401_says_bearer(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/v1/models")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status == 401 and resp.getheader("WWW-Authenticate") == "Bearer"


def test_openai_client_with_and_without_key(server):
    ok = openai.OpenAI(base_url=server.base_url + "/v1", api_key=KEY, max_retries=0)
    r = ok.completions.create(model="m", prompt="Hello", max_tokens=3, temperature=0)
    assert r.usage.completion_tokens == 3
    bad = openai.OpenAI(base_url=server.base_url + "/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.completions.create(model="m", prompt="Hello", max_tokens=3)
