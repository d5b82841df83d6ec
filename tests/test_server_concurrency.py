"""64 concurrent streaming clients with different prompts and lengths against `loom serve` (real
default model): every stream completes with its requested length, and each greedy output equals the
same request run alone. And no single request starves the others: one request of n=64 long samples
beside many small ones, all complete."""
import threading
import time

import openai
import pytest

from server_harness import LoomServer, default_model

N_CLIENTS = 64
SUBJECTS = ["the sea", "a cat", "Paris", "winter", "a robot", "music", "the moon", "bread"]


def request_of(i):
    prompt = f"Write one sentence about {SUBJECTS[i % len(SUBJECTS)]} (number {i})."
    return dict(model="m", messages=[{"role": "user", "content": prompt}], temperature=0, max_tokens=4 + (i * 7) % 29,
                extra_body={"ignore_eos": True})


@pytest.fixture(scope="module")
def server(loom_bin):
    s = LoomServer(loom_bin, ["-m", default_model(), "--served-model-name", "m", "--max-num-seqs", "64"])
    yield s
    code, log = s.stop()
    assert code == 0, log


def streamed(client, req):
    text, finish, usage = "", None, None
    for c in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **req):
        if c.usage is not None:
            usage = c.usage
        for ch in c.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
    return text, finish, usage.completion_tokens


def test_64_concurrent_streams_match_single_runs(server):
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=600)
    alone = [client.chat.completions.create(**request_of(i)) for i in range(N_CLIENTS)]
    results = [None] * N_CLIENTS
    errors = []
    start = threading.Barrier(N_CLIENTS)

    def run(i):
        try:
            c = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=600)
            start.wait()
            results[i] = streamed(c, request_of(i))
        except Exception as e:  # reported below with the client's index
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(N_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=900)
    assert not errors, errors
    for i, (text, finish, n_tokens) in enumerate(results):
        want = alone[i].choices[0].message.content
        assert n_tokens == request_of(i)["max_tokens"] and finish == "length", (i, n_tokens, finish)
        assert text == want, (i, text, want)
    m = server.wait_idle()
    assert m["loom_kv_cache_blocks_free"] == m["loom_kv_cache_blocks_total"]


def test_one_huge_request_does_not_starve_small_ones(server):
    """n=64 samples of 48 tokens take every seat of --max-num-seqs 64; 24 small requests sent at the same
    time queue behind them and still all complete (FCFS: seats free as samples finish)."""
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=600)
    results, errors = {}, []

    def huge():
        try:
            r = client.completions.create(model="m", prompt="Once upon a time", n=64, max_tokens=48, temperature=1.0,
                                          seed=11, extra_body={"ignore_eos": True})
            results["huge"] = (len(r.choices), r.usage.completion_tokens)
        except Exception as e:
            errors.append(("huge", repr(e)))

    def small(i):
        try:
            r = client.chat.completions.create(**dict(request_of(i), max_tokens=4 + i % 5))
            results[i] = (r.usage.completion_tokens, time.time())
        except Exception as e:
            errors.append((i, repr(e)))

    threads = [threading.Thread(target=huge)] + [threading.Thread(target=small, args=(i,)) for i in range(24)]
    start = time.time()
    for t in threads:
        t.start()
        time.sleep(0.01)
    for t in threads:
        t.join(timeout=900)
    assert not errors, errors
    assert results["huge"] == (64, 64 * 48)
    for i in range(24):
        assert results[i][0] == 4 + i % 5, (i, results[i])
    assert max(results[i][1] for i in range(24)) - start < 600
    m = server.wait_idle()
    assert m["loom_kv_cache_blocks_free"] == m["loom_kv_cache_blocks_total"]
