"""Structured outputs from the command line (`loom generate --json-schema / --grammar / --regex / --choice /
--json-object`) on the real stories260K model (SentencePiece with byte fallback): sampled outputs
validate with the `jsonschema` package or `re.fullmatch`, and bad constraints are refused with a
message."""
import json
import os
import re

import jsonschema
import pytest

SCHEMA = {"type": "object", "properties": {
    "title": {"type": "string", "maxLength": 16},
    "year": {"type": "integer", "minimum": 1900, "maximum": 2099},
    "genres": {"type": "array", "items": {"enum": ["drama", "comedy", "horror"]}, "minItems": 1, "maxItems": 2},
    "rating": {"type": ["number", "null"]},
    "cast": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}},
                                        "required": ["name"]}, "maxItems": 2}},
    "required": ["title", "year", "genres", "cast"]}


@pytest.fixture
def model(shared_dir):
    return os.path.join(shared_dir, "models", "stories260K", "hf")


def generate(run_loom, model, seed, *constraint):
    r = run_loom(["generate", "-m", model, "--prompt", "Once upon a time", "-n", "400", "--temperature", "1",
                  "--seed", seed, "--json"] + list(constraint))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_json_schema(run_loom, model, tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    for seed in range(4):
        out = generate(run_loom, model, seed, "--json-schema", path)
        jsonschema.validate(json.loads(out["text"]), SCHEMA)
        assert out["finish_reason"] == "stop"


def test_json_object_regex_choice_gbnf(run_loom, model, tmp_path):
    for seed in range(3):  # a story model writes long keys: a sample may hit -n before the object closes
        out = generate(run_loom, model, seed, "--json-object")
        assert out["text"].startswith("{")
        if out["finish_reason"] == "stop":
            assert isinstance(json.loads(out["text"]), dict)
    pattern = r"[A-Z][a-z]{1,8}(, [a-z]{2,5}){1,3}!"
    for seed in range(3):
        assert re.fullmatch(pattern, generate(run_loom, model, seed, "--regex", pattern)["text"])
    assert generate(run_loom, model, 2, "--choice", '["north", "south"]')["text"] in ("north", "south")
    gbnf = tmp_path / "list.gbnf"
    gbnf.write_text('# three items\nroot ::= "- " item ("\\n- " item){2}\nitem ::= [a-z]{1,8} (" " [a-z]{1,8})?\n')
    out = generate(run_loom, model, 3, "--grammar", gbnf)
    assert re.fullmatch(r"- [a-z]{1,8}( [a-z]{1,8})?(\n- [a-z]{1,8}( [a-z]{1,8})?){2}", out["text"]), out["text"]
    assert out["finish_reason"] == "stop"


def test_bad_constraints(run_loom, model, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"type": "object", "properties": {"x": {"type": "string", "minLength": 2,
                                                                        "contains": {}}}}))
    r = run_loom(["generate", "-m", model, "--prompt", "x", "--json-schema", path])
    assert r.returncode == 1 and 'unsupported keyword "contains" at #/properties/x' in r.stderr
    r = run_loom(["generate", "-m", model, "--prompt", "x", "--regex", "a(?=b)"])
    assert r.returncode == 1 and "lookaround" in r.stderr
    r = run_loom(["generate", "-m", model, "--prompt", "x", "--regex", "a", "--json-object"])
    assert r.returncode == 2 and "at most one" in r.stderr
    r = run_loom(["generate", "-m", model, "--prompt", "x", "--grammar", tmp_path / "missing.gbnf"])
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_bench_throughput_with_a_constraint(run_loom, model):
    """Constrained vs unconstrained decode, alternating; the regex cannot end within --output-len."""
    r = run_loom(["bench", "throughput", "-m", model, "--num-prompts", "3", "--input-len", "4", "--output-len", "8",
                  "--rounds", "2", "--regex", "[a-z ]{100,200}"])
    assert r.returncode == 0, r.stderr
    assert "constrained vs unconstrained" in r.stdout and "ratio" in r.stdout and "outside the forward" in r.stdout
    assert "constrained:   " in r.stdout and "(48 tokens" in r.stdout  # 3 prompts x 8 tokens x 2 rounds
    assert "note:" not in r.stdout  # no sample ended early
