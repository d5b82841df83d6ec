"""Issue 17's acceptance on real models: structured output on the default model (SmolLM2-135M-Instruct)
and on Qwen2.5-Coder-0.5B-Instruct Q4_K_M is valid for its schema in every request of a property test.

Random schemas from test_grammar_property's generator (every supported keyword: nested objects, arrays,
$ref recursion, anyOf / oneOf / allOf, enum / const, string patterns and formats, number ranges), one
request each ("Write a JSON value that matches this JSON Schema: ..." in the model's chat template) with
its own random seed, temperature 1, all in one `loom batch` run per model (so they are batched together,
as a server would run them), each as response_format json_schema. Every output that finished ("stop")
must parse as JSON and validate with `jsonschema` (Draft 2020-12, format checker): no exception.

A constrained output cut by max_tokens is not whole JSON, so the cost is bounded by max_tokens = 200 and
the test asserts that most requests finish: at least 2/3. Measured with these seeds: 19/24 on SmolLM2
(at temperature 1 the 135M model sometimes writes strings or additional properties that never end:
400 tokens finish no more of them) and 24/24 on Qwen; outputs are reproducible (seeded, batch
invariant), the margin is for kernels that change the sampled tokens. 24 requests per model: about
6 s (SmolLM2) and 10 s (Qwen) on 2 threads. Qwen is skipped, saying so, only without a network to
fetch it."""
import json
import os
import random
import subprocess

import jsonschema
import pytest

from server_harness import ROOT, default_model
from test_grammar_property import for_oracle, gen_schema

N_REQUESTS = 24
MAX_TOKENS = 200
NO_NETWORK = ("Temporary failure in name resolution", "Network is unreachable", "Failed to establish a new connection",
              "No route to host", "Name or service not known", "Connection refused", "timed out")


def qwen():
    proc = subprocess.run([os.path.join(ROOT, "scripts", "fetch-model.sh"), "qwen2.5-coder-0.5b"], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode != 0:
        if any(s in proc.stderr for s in NO_NETWORK):
            pytest.skip("no network to fetch Qwen2.5-Coder-0.5B-Instruct Q4_K_M:\n" + proc.stderr[-500:])
        pytest.fail("scripts/fetch-model.sh qwen2.5-coder-0.5b failed:\n" + proc.stderr)
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("which,seed", [("smollm2", 1), ("qwen2.5-coder-0.5b", 2)])
def test_random_schemas_on_real_models(run_loom, tmp_path, which, seed):
    model = default_model() if which == "smollm2" else qwen()
    rng = random.Random(seed)
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([{"role": "user", "content": "@CONTENT@"}]))
    proc = run_loom(["chat-template", "-m", model, "--messages", messages], timeout=120)
    assert proc.returncode == 0 and proc.stdout.count("@CONTENT@") == 1, proc.stderr
    schemas, lines = [], []
    for _ in range(N_REQUESTS):
        defs = {}
        schema = gen_schema(rng, 0, defs)
        if defs:
            schema = {"$defs": defs, **schema}
        schemas.append(schema)
        ask = "Write a JSON value that matches this JSON Schema: " + json.dumps(schema)
        lines.append({"prompt": proc.stdout.replace("@CONTENT@", ask), "add_special_tokens": False,
                      "max_tokens": MAX_TOKENS, "temperature": 1.0, "seed": rng.randrange(1 << 30),
                      "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}})
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    proc = run_loom(["batch", "-m", model, "--input", inp, "--output", out, "--threads", "2"], timeout=900)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(results) == N_REQUESTS
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    finished = 0
    for schema, got in zip(schemas, results):
        if got["finish_reason"] != "stop":
            assert got["finish_reason"] == "length" and len(got["ids"]) == MAX_TOKENS, got
            continue
        finished += 1
        try:
            value = json.loads(got["text"])
        except ValueError as e:
            pytest.fail(f"{which}: not JSON: {got['text']!r} for {json.dumps(schema)}: {e}")
        errors = list(jsonschema.Draft202012Validator(for_oracle(schema), format_checker=checker).iter_errors(value))
        assert not errors, f"{which}: {got['text']!r} invalid for {json.dumps(schema)}: {errors[0].message}"
    print(f"{which}: {finished} of {N_REQUESTS} finished within {MAX_TOKENS} tokens, all valid")
    assert finished >= 2 / 3 * N_REQUESTS, f"{which}: only {finished} of {N_REQUESTS} finished within {MAX_TOKENS} tokens"
