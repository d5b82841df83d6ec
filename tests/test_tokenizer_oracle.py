"""Randomized oracle test of loom's tokenizer against Hugging Face `tokenizers` (and, for a bare
SentencePiece tokenizer.model, against the `sentencepiece` library itself).

For each tokenizer, N_STRINGS random strings (mixed scripts, emoji and ZWJ sequences, combining marks,
whitespace runs, digits, contractions, special-token look-alikes) are encoded by loom through
tests/tool_tok_driver.c (compiled here against $LOOM_BUILD/libloom.a) and by the oracle. Ids must be
identical, loom's decode must equal the oracle's decode, and the streaming detokenizer must agree with
the whole decode. A small sample is also checked with special tokens added (transformers' BOS rules).
"""
import json
import os
import random
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
TOK = os.path.join(SHARED, "tokenizers")
N_STRINGS = 2000

PIECES = [
    "the", "The", " quick", "brown", "fox", "HELLO", "don't", "I'm", "we'LL", "it's", "'s", "'ve", "\u017f",
    "123", "4567", "2024-11-25", "3.14159", "1,000,000", "\u0661\u0662\u0663", "\uff11\uff12",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\x85", "\u200b",
    "\u180e", "\ufeff", "\u2581", "\u2581\u2581x",
    "caf\u00e9", "cafe\u0301", "na\u00efve", "\u00c5ngstr\u00f6m", "A\u030a", "\ufb01", "\u2126", "\u212a",
    "\u041f\u0440\u0438\u0432\u0435\u0442", "\u03b1\u03b2\u03b3", "\u1f7d", "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u4f60\u597d\u4e16\u754c",
    "\u65e5\u672c\u8a9e", "\ud55c\uad6d\uc5b4", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\U0001f600", "\U0001f44d\U0001f3fd", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1eb\U0001f1f7",
    "\u2764\ufe0f", "\U0001f9d1\u200d\U0001f4bb", "\U00010400", "\U0001d54f",
    "!!", "...", "?!", "--", "(x)", "[1]", "{a: b}", "<>", "</", "=>", "#", "@user", "$5", "100%", "\u2026",
    "\u00bf", "\u00ab\u00bb", "\u201cq\u201d", "\u3002", "\uff0c",
    "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>",
    "<|end|>", "<|user|>", "<think>", "<|im_", "<|", "|>", "<0x41>", "<s", "s>",
]


def random_strings(seed, n, exclude=()):
    rng = random.Random(seed)
    pieces = [p for p in PIECES if not any(x in p for x in exclude)]
    out = [""]
    while len(out) < n:
        parts = []
        for _ in range(rng.randint(1, 14)):
            r = rng.random()
            if r < 0.75:
                parts.append(rng.choice(pieces))
            elif r < 0.9:  # a random code point from a random plane region, never a surrogate
                hi = rng.choice([0x7F, 0x7FF, 0xFFFF, 0x10FFFF])
                cp = rng.randint(1, hi)
                while 0xD800 <= cp <= 0xDFFF:
                    cp = rng.randint(1, hi)
                parts.append(chr(cp))
            else:
                parts.append(rng.choice([" ", "", "\n"]) * rng.randint(1, 5))
        s = "".join(parts) if rng.random() < 0.5 else " ".join(parts)
        if not any(x in s for x in exclude):
            out.append(s)
    return out


@pytest.fixture(scope="session")
def driver(c_tool):
    return c_tool("tool_tok_driver")


def run_driver(driver, args, strings):
    proc = subprocess.run([driver] + args, input=json.dumps(strings), capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def hf_tokenizer(path):
    from tokenizers import Tokenizer
    if not os.path.exists(path):
        pytest.fail(f"shared asset missing: {path}")
    return Tokenizer.from_file(path)


def auto_backend(path, cls=None, tmp=None):
    """transformers' fast tokenizer for a directory (a copy with tokenizer_class when the directory has
    no tokenizer_config.json)."""
    from transformers import AutoTokenizer
    if not os.path.exists(path):
        pytest.fail(f"shared asset missing: {path}")
    if cls:
        import shutil
        for f in os.listdir(path):
            shutil.copy(os.path.join(path, f), tmp)
        with open(os.path.join(tmp, "tokenizer_config.json"), "w") as fh:
            json.dump({"tokenizer_class": cls}, fh)
        path = str(tmp)
    return AutoTokenizer.from_pretrained(path)


def compare(name, strings, got, encode, decode):
    bad = []
    for s, g in zip(strings, got):
        want = encode(s)
        if "error" in g:
            bad.append(f"{s!r}: loom error {g['error']}")
        elif g["ids"] != want:
            bad.append(f"{s!r}: ids {g['ids']} != HF {want}")
        elif g["text"] != decode(want):
            bad.append(f"{s!r}: decode {g['text']!r} != HF {decode(want)!r}")
        elif not g["stream_ok"]:
            bad.append(f"{s!r}: streaming decode differs from whole decode")
    print(f"oracle {name}: {len(strings) - len(bad)}/{len(strings)} identical")
    assert not bad, f"{name}: {len(bad)}/{len(strings)} mismatches, first ones:\n" + "\n".join(bad[:8])


JSON_TOKENIZERS = ["llama3", "qwen3", "mistral", "phi3"]


@pytest.mark.parametrize("name", JSON_TOKENIZERS)
def test_tokenizer_json(driver, name):
    path = os.path.join(TOK, name, "tokenizer.json")
    tok = hf_tokenizer(path)
    strings = random_strings(name, N_STRINGS)
    got = run_driver(driver, ["--hf", path], strings)
    compare(name, strings, got, lambda s: tok.encode(s, add_special_tokens=False).ids,
            lambda ids: tok.decode(ids, skip_special_tokens=False))


@pytest.mark.parametrize("name,cls", [("gpt2", "GPT2Tokenizer"), ("qwen2", None)])
def test_vocab_merges(driver, name, cls, tmp_path):
    path = os.path.join(TOK, name)
    tok = auto_backend(path, cls, tmp_path).backend_tokenizer
    strings = random_strings(name, N_STRINGS)
    got = run_driver(driver, ["--hf", path], strings)
    compare(name, strings, got, lambda s: tok.encode(s, add_special_tokens=False).ids,
            lambda ids: tok.decode(ids, skip_special_tokens=False))


def test_sentencepiece_model(driver):
    """A bare tokenizer.model follows sentencepiece itself (as llama.cpp and the hub's Llama-2
    tokenizer.json do). sentencepiece does not match control tokens in text, so no look-alikes."""
    import sentencepiece
    path = os.path.join(TOK, "llama2", "tokenizer.model")
    if not os.path.exists(path):
        pytest.fail(f"shared asset missing: {path}")
    sp = sentencepiece.SentencePieceProcessor(model_file=path)
    strings = random_strings("llama2", N_STRINGS, exclude=("<s>", "</s>", "<unk>"))
    got = run_driver(driver, ["--hf", os.path.dirname(path)], strings)
    compare("llama2 tokenizer.model", strings, got, sp.encode, sp.decode)


@pytest.mark.parametrize("name", JSON_TOKENIZERS + ["qwen2"])
def test_add_special(driver, name):
    """The ids added around a sequence (BOS/EOS per tokenizer_config.json add_bos_token and the
    post-processor) are those transformers adds. Only the added ids are compared: transformers 5
    re-derives some pipelines (e.g. Llama's Metaspace), the content is checked against `tokenizers` above."""
    from transformers import AutoTokenizer
    path = os.path.join(TOK, name)
    tok = AutoTokenizer.from_pretrained(path)
    strings = random_strings("special-" + name, 100)
    plain = run_driver(driver, ["--hf", path], strings)
    got = run_driver(driver, ["--hf", path, "--special"], strings)
    bad = []
    for s, p, g in zip(strings, plain, got):
        with_sp, without = tok(s)["input_ids"], tok(s, add_special_tokens=False)["input_ids"]
        pre = next(i for i in range(len(with_sp) + 1) if with_sp[i:i + len(without)] == without)
        want = with_sp[:pre] + p["ids"] + with_sp[pre + len(without):]
        if g["ids"] != want:
            bad.append(f"{s!r}: {g['ids']} != {want}")
    assert not bad, f"{name}: {len(bad)} mismatches:\n" + "\n".join(bad[:8])


# Pipeline pieces the shared tokenizers do not use, checked by swapping them into Mistral's
# tokenizer.json (same vocab and merges): name → (normalizer, pre_tokenizer, decoder or None to keep).
META = "\u2581"
VARIANTS = {
    "metaspace_first": (None, {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False},
                        {"type": "Metaspace", "replacement": META, "prepend_scheme": "first", "split": False}),
    "metaspace_always_split": (None, {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
                               {"type": "Sequence", "decoders": [
                                   {"type": "Metaspace", "replacement": META, "prepend_scheme": "always", "split": True},
                                   {"type": "ByteFallback"}, {"type": "Fuse"}]}),
    "nfkc_digits_punct_ws": ({"type": "NFKC"}, {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": False}, {"type": "Punctuation", "behavior": "Isolated"},
        {"type": "WhitespaceSplit"}]}, None),
    "split_behaviours": ({"type": "NFKC"}, {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "Split", "pattern": {"Regex": "\\p{N}+"}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "Contiguous", "invert": True}]}, None),
    "lowercase_whitespace": ({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
                             {"type": "Whitespace"}, None),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_pipeline_variants(driver, name, tmp_path):
    from tokenizers import Tokenizer
    base = os.path.join(TOK, "mistral", "tokenizer.json")
    if not os.path.exists(base):
        pytest.fail(f"shared asset missing: {base}")
    with open(base) as fh:
        spec = json.load(fh)
    spec["normalizer"], spec["pre_tokenizer"], decoder = VARIANTS[name]
    if decoder:
        spec["decoder"] = decoder
    path = str(tmp_path / "tokenizer.json")
    with open(path, "w") as fh:
        json.dump(spec, fh)
    tok = Tokenizer.from_file(path)
    strings = random_strings(name, 1000)
    got = run_driver(driver, ["--hf", path], strings)
    compare(name, strings, got, lambda s: tok.encode(s, add_special_tokens=False).ids,
            lambda ids: tok.decode(ids, skip_special_tokens=False))
