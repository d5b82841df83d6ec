"""Property tests of the grammar engine (src/grammar/) against independent oracles.

JSON Schema: random schemas built from the supported keywords (fixed seeds); strings sampled from
each compiled grammar by random walks (tests/tool_grammar_driver.c) must parse as JSON and validate
with the `jsonschema` package (Draft 2020-12, with its format checker): 100%.
Regex: random patterns from the supported subset; every sampled string must `re.fullmatch`, and
random ASCII strings must be accepted by the grammar exactly when `re.fullmatch` accepts them."""
import json
import random
import re
import subprocess

import jsonschema
import pytest


@pytest.fixture(scope="session")
def driver(c_tool):
    return c_tool("tool_grammar_driver")


def run(driver, tmp_path, mode, kind, spec, *args, stdin=None):
    spec_file = tmp_path / "spec"
    spec_file.write_text(spec, encoding="utf-8")
    proc = subprocess.run([driver, mode, kind, str(spec_file)] + [str(a) for a in args], input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{spec}: {proc.stdout}{proc.stderr}"
    return [json.loads(line) for line in proc.stdout.splitlines()]


# ---- random JSON schemas ----

KEYS = ["id", "name", "a b", "caf\u00e9", "q\"uote", "x", "list", "n", "deep", "\u00fcber", "tab\tkey"]
PATTERNS = ["^[a-z]{2,4}$", "\\d+", "^(foo|bar)-\\w*$", "^[^\"\\\\]{0,3}$", "x\\.y", "^\\S+@\\S+$", "^[\u00e0-\u00ff]+$",
            "(ab)+", "^\\s?[A-Z]$"]
FORMATS = ["date", "date-time", "time", "uuid", "email", "ipv4", "ipv6", "hostname", "uri"]
SCALARS = ["s", "caf\u00e9", "a\"b\\c\n", "", 0, -7, 3.25, 1e5, True, False, None]


def gen_enum_value(rng, depth=0):
    r = rng.random()
    if depth < 1 and r < 0.15:
        return {rng.choice(KEYS): gen_enum_value(rng, depth + 1)}
    if depth < 1 and r < 0.25:
        return [gen_enum_value(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    return rng.choice(SCALARS)


def gen_integer(rng):
    s = {"type": "integer"}
    lo, hi = sorted(rng.sample(range(-3000, 3000), 2))
    choice = rng.randrange(6)
    if choice == 1:
        s["minimum"] = lo
    elif choice == 2:
        s["maximum"] = hi
    elif choice == 3:
        s.update(minimum=lo, maximum=hi)
    elif choice == 4:
        s.update(exclusiveMinimum=lo, exclusiveMaximum=hi + 2)
    elif choice == 5:
        s.update(minimum=lo + 0.5, maximum=hi + 0.5)
    return s


def gen_number(rng):
    s = {"type": "number"}
    lo, hi = sorted(rng.sample(range(-50, 50), 2))
    choice = rng.randrange(5)
    if choice == 1:
        s["minimum"] = lo
    elif choice == 2:
        s.update(exclusiveMinimum=lo, maximum=hi)
    elif choice == 3:
        s.update(minimum=lo, exclusiveMaximum=hi)
    elif choice == 4:
        s["exclusiveMaximum"] = hi
    return s


def gen_string(rng):
    choice = rng.randrange(5)
    if choice == 0:
        return {"type": "string"}
    if choice == 1:
        lo = rng.randint(0, 4)
        return {"type": "string", "minLength": lo, "maxLength": lo + rng.randint(0, 6)}
    if choice == 2:
        return {"type": "string", "pattern": rng.choice(PATTERNS)}
    if choice == 3:
        return {"type": "string", "format": rng.choice(FORMATS)}
    return {"type": "string", "maxLength": rng.randint(0, 3)}


def gen_object(rng, depth, defs):
    keys = rng.sample(KEYS, rng.randint(0, 4))
    s = {"type": "object"} if rng.random() < 0.8 else {}
    if keys or rng.random() < 0.5:
        s["properties"] = {k: gen_schema(rng, depth + 1, defs) for k in keys}
    req = [k for k in keys if rng.random() < 0.5]
    if req:
        s["required"] = req
    a = rng.randrange(4)
    if a == 1:
        s["additionalProperties"] = False
    elif a == 2:
        s["additionalProperties"] = True
    elif a == 3:
        s["additionalProperties"] = gen_schema(rng, depth + 1, defs)
    return s


def gen_array(rng, depth, defs):
    s = {"type": "array"}
    if rng.random() < 0.3:
        s["prefixItems"] = [gen_schema(rng, depth + 1, defs) for _ in range(rng.randint(1, 3))]
        s["items"] = rng.choice([False, gen_schema(rng, depth + 1, defs)])
    else:
        s["items"] = gen_schema(rng, depth + 1, defs)
    if rng.random() < 0.5:
        s["minItems"] = rng.randint(0, 2)
    if rng.random() < 0.6:
        s["maxItems"] = s.get("minItems", 0) + rng.randint(0, 3)
    return s


def gen_schema(rng, depth, defs):
    leaf = depth >= 3
    kinds = ["null", "boolean", "integer", "number", "string", "enum", "const", "typelist", "nullable"]
    if not leaf:
        kinds += ["array", "object", "object", "anyOf", "oneOf", "allOf", "ref", "any"]
    kind = rng.choice(kinds)
    if kind in ("null", "boolean"):
        return {"type": kind}
    if kind == "integer":
        return gen_integer(rng)
    if kind == "number":
        return gen_number(rng)
    if kind == "string":
        return gen_string(rng)
    if kind == "enum":
        return {"enum": [gen_enum_value(rng) for _ in range(rng.randint(1, 4))]}
    if kind == "const":
        return {"const": gen_enum_value(rng)}
    if kind == "typelist":
        return {"type": rng.sample(["string", "integer", "null", "boolean"], 2)}
    if kind == "nullable":
        s = gen_string(rng)
        s["nullable"] = True
        return s
    if kind == "array":
        return gen_array(rng, depth, defs)
    if kind == "object":
        return gen_object(rng, depth, defs)
    if kind == "anyOf":
        return {"anyOf": [gen_schema(rng, depth + 1, defs) for _ in range(rng.randint(1, 3))]}
    if kind == "oneOf":  # branches of distinct types: they cannot overlap
        types = rng.sample(["null", "boolean", "string", "integer", "array", "object"], rng.randint(2, 3))
        return {"oneOf": [{"type": t} if t not in ("string", "integer") else (gen_string(rng) if t == "string"
                          else gen_integer(rng)) for t in types]}
    if kind == "allOf":  # object parts with disjoint properties (mergeable)
        keys = rng.sample(KEYS, 4)
        return {"allOf": [{"type": "object", "properties": {k: gen_schema(rng, depth + 1, defs) for k in keys[:2]},
                           "required": keys[:1]},
                          {"properties": {k: gen_schema(rng, depth + 1, defs) for k in keys[2:]}, "required": keys[2:3]}]}
    if kind == "ref":
        name = f"d{len(defs)}"
        defs[name] = None  # reserved before the definition's own schema is generated
        if rng.random() < 0.3:  # recursive: a tree of bounded width
            defs[name] = {"type": "object", "properties": {"v": {"type": "integer"},
                          "kids": {"type": "array", "items": {"$ref": f"#/$defs/{name}"}, "maxItems": 2}},
                          "required": ["v"]}
        else:
            defs[name] = gen_schema(rng, depth + 1, defs)
        return {"$ref": f"#/$defs/{name}"}
    return {}


def for_oracle(schema):
    """The schema as `jsonschema` reads it: OpenAPI's "nullable": true (which loom also accepts) becomes
    a type list with "null"."""
    if isinstance(schema, list):
        return [for_oracle(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: for_oracle(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable") is True:
        out["type"] = [schema["type"], "null"]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_random_schemas_validate(driver, tmp_path, seed):
    rng = random.Random(seed)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    n_schemas = n_samples = n_long = 0
    for i in range(40):
        defs = {}
        schema = gen_schema(rng, 0, defs)
        if defs:
            schema = {"$defs": defs, **schema} if isinstance(schema, dict) else schema
        validator = jsonschema.Draft202012Validator(for_oracle(schema), format_checker=checker)
        samples = run(driver, tmp_path, "sample", "json_schema", json.dumps(schema), seed * 1000 + i, 12)
        n_schemas += 1
        for text in samples:
            if text is None:  # a random walk that ran past its length limit
                n_long += 1
                continue
            n_samples += 1
            try:
                value = json.loads(text)
            except ValueError as e:
                pytest.fail(f"not JSON: {text!r} for {json.dumps(schema)}: {e}")
            errors = list(validator.iter_errors(value))
            assert not errors, f"{text!r} invalid for {json.dumps(schema)}: {errors[0].message}"
    assert n_samples >= 0.8 * n_schemas * 12, f"too many walks ran long: {n_long}"


def test_json_object_samples_are_objects(driver, tmp_path):
    for text in run(driver, tmp_path, "sample", "json_object", "", 7, 60):
        if text is not None:
            assert isinstance(json.loads(text), dict)


# ---- random regular expressions ----

ATOMS = ["a", "b", "0", "-", "\\.", "[a-c]", "[^ab]", "\\d", "\\w", "\\s", "\\D", "\\W", ".", "[0-9_]", "x", "\\-"]


def gen_regex(rng, depth=0):
    parts = []
    for _ in range(rng.randint(1, 4)):
        if depth < 2 and rng.random() < 0.25:
            inner = "|".join(gen_regex(rng, depth + 1) for _ in range(rng.randint(1, 3)))
            atom = f"({inner})" if rng.random() < 0.5 else f"(?:{inner})"
        else:
            atom = rng.choice(ATOMS)
        q = rng.choice(["", "", "", "*", "+", "?", "{2}", "{1,3}", "{0,2}", "{2,}"])
        parts.append(atom + q)
    return "".join(parts)


ALPHABET = "ab0x-._ \n\tZ!"


@pytest.mark.parametrize("seed", range(4))
def test_random_regexes(driver, tmp_path, seed):
    rng = random.Random(100 + seed)
    for i in range(30):
        pattern = gen_regex(rng)
        compiled = re.compile(pattern)
        for text in run(driver, tmp_path, "sample", "regex", pattern, seed * 100 + i, 10):
            if text is not None:
                assert compiled.fullmatch(text), f"{text!r} sampled from {pattern!r} does not fullmatch"
        probes = [""] + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6))) for _ in range(150)]
        got = run(driver, tmp_path, "match", "regex", pattern, stdin="\n".join(json.dumps(p) for p in probes) + "\n")
        for probe, ok in zip(probes, got):
            assert ok == bool(compiled.fullmatch(probe)), f"{pattern!r} on {probe!r}: grammar {ok}"


# ---- tool calls: structural tags around random parameter schemas ----

def tool_tag(name, schema):
    """A Hermes-style (Qwen2.5) tool call: the tag src/api/tool_calls.c builds for one function."""
    return {"type": "tag", "begin": f'<tool_call>\n{{"name": "{name}", "arguments": ',
            "content": {"type": "json_schema", "json_schema": schema}, "end": "}\n</tool_call>"}


def parse_calls(text):
    """The calls of a Hermes output, by an independent reading: `<tool_call>\\n`, one JSON object (read by
    json's own decoder), `\\n</tool_call>`, calls separated by one newline. [(name, arguments), ...]"""
    calls, i, decoder = [], 0, json.JSONDecoder()
    while True:
        assert text.startswith("<tool_call>\n", i), text[i:]
        obj, i = decoder.raw_decode(text, i + len("<tool_call>\n"))
        assert list(obj) == ["name", "arguments"], obj
        calls.append((obj["name"], obj["arguments"]))
        assert text.startswith("\n</tool_call>", i), text[i:]
        i += len("\n</tool_call>")
        if i == len(text):
            return calls
        assert text[i] == "\n"
        i += 1


@pytest.mark.parametrize("seed", range(3))
def test_random_tool_call_tags(driver, tmp_path, seed):
    """Required calls (tags_with_separator) sampled from random tools parse and validate against the
    chosen tool's parameters; the same calls inside free text match the lazy form (triggered_tags), and
    a call whose arguments break the schema does not."""
    rng = random.Random(500 + seed)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    n_calls = 0
    for i in range(12):
        tools = {}
        for k in range(rng.randint(1, 3)):
            defs = {}
            schema = gen_object(rng, 1, defs)
            tools[f"fn_{k}"] = {"$defs": defs, **schema} if defs else schema
        tags = [tool_tag(name, schema) for name, schema in tools.items()]
        required = {"type": "structural_tag", "format": {"type": "tags_with_separator", "tags": tags,
                                                         "separator": "\n", "at_least_one": True}}
        texts = [t for t in run(driver, tmp_path, "sample", "structural_tag", json.dumps(required), seed * 100 + i, 6)
                 if t is not None]
        for text in texts:
            for name, args in parse_calls(text):
                validator = jsonschema.Draft202012Validator(for_oracle(tools[name]), format_checker=checker)
                errors = list(validator.iter_errors(args))
                assert not errors, f"{text!r}: {errors[0].message} for {json.dumps(tools[name])}"
                n_calls += 1
        if not texts:
            continue
        lazy = {"type": "structural_tag", "format": {"type": "triggered_tags", "triggers": ["<tool_call>"],
                                                     "tags": tags}}
        probes = [f"Let me check. {t} Done <tool_ <tool_call" for t in texts]
        probes += [t.replace('"arguments": ', '"arguments": {"\\u0000": [0]} ', 1) for t in texts]
        got = run(driver, tmp_path, "match", "structural_tag", json.dumps(lazy),
                  stdin="\n".join(json.dumps(p) for p in probes) + "\n")
        assert got == [1] * len(texts) + [0] * len(texts), (probes, got)
    assert n_calls >= 40, n_calls
