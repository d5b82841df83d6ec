"""Malformed model files must be rejected cleanly.

Each case copies the real stories260K files (../shared/models/stories260K: the HF directory, the GGUF, and
the PyTorch fixture tests/fixtures/stories260K-pt) into a temp dir, breaks one thing, and runs
    $LOOM_BIN generate -m BAD --prompt hi -n 2
which must: exit with status 1 (not a crash, not 0), write exactly ONE line to stderr, name the broken
file in it (its path or basename; for a directory model the directory path also counts), say what is wrong
(a case-specific keyword, matched case-insensitively against a few accepted spellings), and show no
sanitizer report.
"""
import json
import os
import re
import shutil
import struct

import pytest

import model_files

TESTS = os.path.dirname(os.path.abspath(__file__))
PT_FIXTURE = os.path.join(TESTS, "fixtures", "stories260K-pt")
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|"
                       r"Segmentation fault|core dumped|Aborted")

# accepted spellings of each problem
K_TRUNC = r"truncat|past (the )?end|beyond|too (short|small)|exceed|out of (range|bounds)|end of file|eof|short read"
K_HEADER = r"header"
K_JSON = r"json|pars|syntax|invalid"
K_DTYPE = r"dtype|data ?type"
K_SHAPE = r"shape|dimension|size"
K_MISSING = r"missing|not found|no such|absent|cannot open|can't open|does not exist"


# ---------------------------------------------------------------------------------------------------
# helpers

def copy_hf(shared_dir, dst):
    shutil.copytree(os.path.join(shared_dir, "models/stories260K/hf"), dst)
    return dst


def st_split(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    return json.loads(data[8:8 + n]), data[8 + n:]


def st_join(path, header, body, raw_header=None):
    hj = raw_header if raw_header is not None else json.dumps(header).encode()
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + body)


def last_tensor(header):
    return max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])


def gguf_copy(shared_dir, dst):
    shutil.copy(os.path.join(shared_dir, model_files.STORIES_GGUF), dst)
    return dst, model_files.read_gguf(dst)


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


# ---------------------------------------------------------------------------------------------------
# the cases: each builder returns (model path for -m, the broken file, problem regex)

def st_truncated(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    truncate(f, os.path.getsize(f) // 2)
    return d, f, K_TRUNC


def st_header_len_huge(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    patch(f, 0, struct.pack("<Q", 1 << 40))
    return d, f, K_HEADER + "|" + K_TRUNC


def st_header_len_past_json(tmp, shared):
    """header length pointing into the middle of the tensor data: the JSON then has trailing binary"""
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    (n,) = struct.unpack_from("<Q", open(f, "rb").read(8))
    patch(f, 0, struct.pack("<Q", n + 1000))
    return d, f, K_HEADER + "|" + K_JSON


def st_bad_json(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    h, body = st_split(f)
    raw = json.dumps(h).encode()
    i = raw.index(b'"data_offsets": [', len(raw) // 2)
    raw = raw[:i] + b'"data_offsets" [' + raw[i + len(b'"data_offsets": ['):]  # a missing ':'
    json.loads(raw.replace(b'"data_offsets" [', b'"data_offsets": ['))  # only that is wrong
    st_join(f, None, body, raw_header=raw)
    return d, f, K_HEADER + "|" + K_JSON


def st_dtype_f64(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    h, body = st_split(f)
    h["model.layers.0.self_attn.q_proj.weight"]["dtype"] = "F64"
    st_join(f, h, body)
    return d, f, K_DTYPE + "|F64|" + K_SHAPE + "|offset"


def st_dtype_q9(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    h, body = st_split(f)
    h["model.layers.1.mlp.up_proj.weight"]["dtype"] = "Q9"
    st_join(f, h, body)
    return d, f, K_DTYPE + "|Q9"


def st_shape_vs_offsets(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    h, body = st_split(f)
    h["model.layers.0.mlp.down_proj.weight"]["shape"] = [64, 171]
    st_join(f, h, body)
    return d, f, K_SHAPE + "|offset|bytes"


def st_offsets_past_eof(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    h, body = st_split(f)
    t = last_tensor(h)
    b, e = h[t]["data_offsets"]
    h[t]["data_offsets"] = [b + 4096, e + 4096]
    st_join(f, h, body)
    return d, f, K_TRUNC + "|offset"


def st_wrong_tensor_shape(tmp, shared):
    """q_proj stored consistently (data matches its header) but as [64, 32] instead of [64, 64]"""
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    w = model_files.read_safetensors(f)
    w["model.layers.0.self_attn.q_proj.weight"] = w["model.layers.0.self_attn.q_proj.weight"][:, :32]
    model_files.write_safetensors(f, w, "F32")
    return d, f, K_SHAPE + "|q_proj"


def st_missing_tensor(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    f = str(d / "model.safetensors")
    w = model_files.read_safetensors(f)
    del w["model.layers.2.mlp.up_proj.weight"]
    model_files.write_safetensors(f, w, "F32")
    return d, f, K_MISSING + r"|up_proj"


def cfg_missing(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    os.remove(d / "config.json")
    return d, str(d / "config.json"), K_MISSING


def cfg_invalid_json(tmp, shared):
    d = copy_hf(shared, tmp / "m")
    (d / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": 64,,}')
    return d, str(d / "config.json"), K_JSON


def _edit_config(tmp, shared, **changes):
    d = copy_hf(shared, tmp / "m")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))
    return d, str(d / "config.json")


def cfg_unsupported_arch(tmp, shared):
    d, f = _edit_config(tmp, shared, architectures=["GPT2LMHeadModel"], model_type="gpt2")
    return d, f, r"architecture|unsupported|GPT2"


def cfg_heads_not_dividing(tmp, shared):
    d, f = _edit_config(tmp, shared, num_attention_heads=7, num_key_value_heads=7)
    return d, f, r"head|divis|divide|multiple"


def gguf_bad_magic(tmp, shared):
    f, _ = gguf_copy(shared, str(tmp / "bad.gguf"))
    patch(f, 0, b"GGUX")
    return f, f, r"magic|not a gguf|gguf"


def gguf_truncated_tensor_table(tmp, shared):
    f, g = gguf_copy(shared, str(tmp / "bad.gguf"))
    t = g.tensors[len(g.tensors) // 2]
    truncate(f, t["info_start"] + 10)  # inside a tensor info's name
    return f, f, K_TRUNC


def gguf_truncated_data(tmp, shared):
    f, g = gguf_copy(shared, str(tmp / "bad.gguf"))
    truncate(f, g.data_start + (os.path.getsize(f) - g.data_start) // 2)
    return f, f, K_TRUNC


def gguf_unknown_type(tmp, shared):
    f, g = gguf_copy(shared, str(tmp / "bad.gguf"))
    t = next(t for t in g.tensors if t["name"] == "blk.0.attn_q.weight")
    patch(f, t["info_end"] - 12, struct.pack("<I", 99))  # [..., u32 type, u64 offset]
    return f, f, r"type|99"


def gguf_offset_past_eof(tmp, shared):
    f, g = gguf_copy(shared, str(tmp / "bad.gguf"))
    t = next(t for t in g.tensors if t["name"] == "blk.1.ffn_up.weight")
    patch(f, t["info_end"] - 8, struct.pack("<Q", os.path.getsize(f) + 4096))
    return f, f, K_TRUNC + "|offset"


def _copy_pt(tmp):
    if not os.path.isdir(PT_FIXTURE):
        pytest.fail(f"PyTorch fixture missing: {PT_FIXTURE} (made by tests/fixtures/make_pytorch_fixture.py)")
    d = tmp / "pt"
    shutil.copytree(PT_FIXTURE, d)
    return d, str(d / "pytorch_model.bin")


def pt_not_zip(tmp, shared):
    d, f = _copy_pt(tmp)
    with open(f, "wb") as fh:
        fh.write(b"this is not a zip archive\n" * 100)
    return d, f, r"zip|not a|format|invalid|corrupt|archive|pytorch|magic"


def pt_truncated(tmp, shared):
    d, f = _copy_pt(tmp)
    truncate(f, os.path.getsize(f) // 2)
    return d, f, K_TRUNC + r"|zip|corrupt|central directory|archive|invalid"


CASES = [st_truncated, st_header_len_huge, st_header_len_past_json, st_bad_json, st_dtype_f64, st_dtype_q9,
         st_shape_vs_offsets, st_offsets_past_eof, st_wrong_tensor_shape, st_missing_tensor, cfg_missing,
         cfg_invalid_json, cfg_unsupported_arch, cfg_heads_not_dividing, gguf_bad_magic,
         gguf_truncated_tensor_table, gguf_truncated_data, gguf_unknown_type, gguf_offset_past_eof,
         pt_not_zip, pt_truncated]


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_corrupt_input_rejected(build, tmp_path, shared_dir, run_loom):
    model, bad_file, problem = build(tmp_path, shared_dir)
    model = str(model)
    proc = run_loom(["generate", "-m", model, "--prompt", "hi", "-n", "2"], timeout=60)
    where = f"{build.__name__}: loom generate -m {model}"
    err = proc.stderr
    assert not SANITIZER.search(err), f"{where}: sanitizer / crash report in stderr:\n{err[-4000:]}"
    assert proc.returncode == 1, (
        f"{where}: exit status {proc.returncode}, expected 1\nstderr:\n{err[-2000:]}\nstdout:\n{proc.stdout[-500:]}")
    lines = err.rstrip("\n").split("\n")
    assert err.strip() and len(lines) == 1, f"{where}: stderr must be exactly one line, got {len(lines)}:\n{err}"
    line = lines[0]
    names = {bad_file, os.path.basename(bad_file)}
    if os.path.isdir(model):
        names.add(model.rstrip("/"))
    assert any(n in line for n in names), f"{where}: stderr does not name the file ({sorted(names)}): {line}"
    # match the problem keyword outside the paths (the temp dir names contain the case name)
    bare = line
    for n in sorted(names | {str(tmp_path)}, key=len, reverse=True):
        bare = bare.replace(n, "<path>")
    assert re.search(problem, bare, re.I), f"{where}: stderr does not say what is wrong (/{problem}/i): {line}"
