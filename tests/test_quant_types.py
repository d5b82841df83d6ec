"""Every ggml block type loom reads, on real llama.cpp output: three tiny models (tests/fixtures/quant_types,
made by make_fixtures.py with llama-quantize; each matrix in another type, see expected.json "types").

Per matrix (tests/tool_quant_driver.c, built here against $LOOM_BUILD/libloom.a, on every LOOM_ISA path):
  - loom's dequantized rows equal gguf's numpy dequantizer (gguf.quants.dequantize) exactly; Q1_0 and
    Q2_0, which PyPI gguf does not know yet, against numpy versions written here from ggml's format;
  - the matmul y = W x (int8 activations; the dtypes without kernels converted to Q8_0 first, as the loader
    does) is within the activation rounding bound of the float64 dot of the numpy-dequantized W with x:
    sum over 32-blocks of d_x / 2 * sum |w| (d_x = the block's max |x| / 127), plus for the converted
    dtypes the Q8_0 weight rounding bound sum over blocks of d_w / 2 * sum |x| (d_w = max |w| / 127), plus
    1e-4 of sum |w x| for float accumulation; the x16 layout's result equals the row layout's within 1e-5
    of sum |w x|.
Per model: loom's greedy ids for 5 prompts equal llama.cpp's (expected.json: llama-server /completion,
temperature 0, n_probs 5), tolerant at near ties: at the first difference each engine's token is in the
other's top 5, and llama.cpp's log-probabilities of the two tokens are within 1 of each other (a
guard against a wrong model that happens to agree in its top 5; IQ1 weights put up to 0.62 between them).
And a type loom still refuses (Q8_K) fails to load with an error naming the tensor and the type."""
import json
import os
import subprocess

import numpy as np
import pytest
from gguf import quants, GGMLQuantizationType, GGML_QUANT_SIZES, GGUFWriter

import gguf_blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "quant_types")
BUILD = os.environ.get("LOOM_BUILD") or os.path.join(ROOT, "build")
EXPECTED = json.load(open(os.path.join(FIXTURES, "expected.json")))
Q1_0, Q2_0 = 41, 42  # ggml type ids newer than PyPI gguf's dequantizers
BLOCK_SIZES = {t.value: s for t, s in GGML_QUANT_SIZES.items()} | {Q2_0: (64, 18)}
N_TOK = 3


def dequant_q1_0(raw):
    """128 elements: f16 d, 16 bytes of bits (element j: bit j % 8 of byte j / 8); set: +d, clear: -d."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    bits = np.unpackbits(blocks[:, 2:], axis=1, bitorder="little").astype(np.float32)
    return (d * (2 * bits - 1)).reshape(-1)


def dequant_q2_0(raw):
    """64 elements: f16 d, 16 bytes of 2-bit values (element j: bits 2 (j % 4).. of byte j / 4); x = d (q - 1)."""
    blocks = np.frombuffer(raw, np.uint8).reshape(-1, 18)
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    q = (blocks[:, 2:, None] >> np.array([0, 2, 4, 6], np.uint8)) & 3
    return (d * (q.reshape(len(blocks), 64).astype(np.float32) - 1)).reshape(-1)


def oracle_dequant(ttype, raw, shape):
    if ttype == Q1_0:
        return dequant_q1_0(raw).reshape(shape)
    if ttype == Q2_0:
        return dequant_q2_0(raw).reshape(shape)
    rows = np.frombuffer(raw, np.uint8).reshape(shape[0], -1)
    return quants.dequantize(rows, GGMLQuantizationType(ttype)).reshape(shape)


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    lib = os.path.join(BUILD, "libloom.a")
    if not os.path.isfile(lib):
        pytest.fail(f"{lib} missing: run `make` first")
    out = str(tmp_path_factory.mktemp("quant") / "tool_quant_driver")
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-pthread", "-Iinclude", "-Isrc", "-Itests"]
    if "asan" in os.path.basename(os.path.normpath(BUILD)):
        cmd += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    mpi = subprocess.run(["mpicc", "--showme:link"], capture_output=True, text=True) if _has("mpicc") else None
    cmd += ["-o", out, "tests/tool_quant_driver.c", lib, "-ljansson", "-lpcre2-8", "-lutf8proc", "-lmicrohttpd",
            "-lcurl"] + (mpi.stdout.split() if mpi and mpi.returncode == 0 else []) + ["-lpthread", "-lm"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        pytest.fail("cannot build tests/tool_quant_driver.c:\n" + proc.stderr)
    return out


def _has(program):
    return any(os.access(os.path.join(d, program), os.X_OK) for d in os.environ.get("PATH", "").split(os.pathsep))


def activations(n):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((N_TOK, n)).astype(np.float32)
    x[:, ::37] *= 8  # a few outliers, as real activations have
    return x


def int8_bound(w, x):
    """sum over 32-blocks of d_x / 2 * sum |w| per (row, token): the activation rounding bound."""
    xb = x.reshape(N_TOK, -1, 32)
    dx = np.abs(xb).max(axis=2) / 127  # [T, blocks]
    wabs = np.abs(w).reshape(w.shape[0], -1, 32).sum(axis=2)  # [rows, blocks]
    return (wabs.astype(np.float64) @ (dx.T / 2)).T  # [T, rows]


def q8_weight_bound(w, x):
    """sum over 32-blocks of d_w / 2 * sum |x|: the bound of Q8_0's weight rounding."""
    dw = np.abs(w).reshape(w.shape[0], -1, 32).max(axis=2) / 127  # [rows, blocks]
    xabs = np.abs(x).reshape(N_TOK, -1, 32).sum(axis=2)  # [T, blocks]
    return (xabs.astype(np.float64) @ (dw.T / 2))


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("model", sorted(EXPECTED["models"]))
def test_dequant_and_matmul(driver, tmp_path, model, isa):
    path = os.path.join(FIXTURES, EXPECTED["models"][model]["file"])
    tensors = gguf_blocks.tensors(path, BLOCK_SIZES)
    cols = {shape[1] for _, shape, _ in tensors.values() if len(shape) == 2}
    x_all = activations(max(cols))
    # each tensor reads x [N_TOK][its cols]: write per width and run the driver once per width
    seen = set()
    for width in sorted(cols):
        x = np.ascontiguousarray(x_all[:, :width])
        xfile, out = tmp_path / f"x{width}.f32", tmp_path / f"out{width}.bin"
        x.tofile(xfile)
        proc = subprocess.run([driver, path, str(xfile), str(N_TOK), str(out)], capture_output=True, text=True,
                              env=dict(os.environ, LOOM_ISA=isa), timeout=300)
        assert proc.returncode == 0, proc.stderr
        data, pos = np.fromfile(out, np.float32), 0
        for line in proc.stdout.splitlines():
            info = json.loads(line)
            rows, n = info["rows"], info["cols"]
            deq = data[pos:pos + rows * n].reshape(rows, n)
            pos += rows * n
            y_rows = data[pos:pos + N_TOK * rows].reshape(N_TOK, rows)
            pos += N_TOK * rows
            if info["x16"]:
                y_x16 = data[pos:pos + N_TOK * rows].reshape(N_TOK, rows)
                pos += N_TOK * rows
            name = info["name"]
            ttype, shape, raw = tensors[name]
            ref = oracle_dequant(ttype, raw, shape)
            assert np.array_equal(deq, ref), f"{name} ({info['dtype']}): dequantized values differ from the oracle"
            exact = x.astype(np.float64) @ ref.astype(np.float64).T  # [T, rows]
            mag = np.abs(x).astype(np.float64) @ np.abs(ref).astype(np.float64).T
            bound = int8_bound(ref, x) + 1e-4 * mag + 1e-6
            if info["compute"] != info["dtype"]:
                bound += q8_weight_bound(ref, x) * 1.01
            err = np.abs(y_rows - exact)
            assert (err <= bound).all(), f"{name} ({info['dtype']} as {info['compute']}): matmul off by " \
                                         f"{(err / bound).max():.3g} x the bound"
            if info["x16"]:
                assert (np.abs(y_x16 - y_rows) <= 1e-5 * mag + 1e-6).all(), f"{name}: x16 layout differs from rows"
            seen.add(info["dtype"])
        assert pos == len(data)
    assert seen == set(EXPECTED["models"][model]["types"].values())


def loom_greedy(model_path, prompt, n):
    proc = subprocess.run([os.path.join(BUILD, "loom"), "generate", "-m", model_path, "--ids", ",".join(map(str, prompt)),
                           "-n", str(n), "--temperature", "0", "--ignore-eos", "--json", "--logprobs", "5",
                           "--threads", "2"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("model", sorted(EXPECTED["models"]))
def test_greedy_matches_llama_cpp(model):
    spec = EXPECTED["models"][model]
    for run in spec["runs"]:
        got = loom_greedy(os.path.join(FIXTURES, spec["file"]), run["prompt"], EXPECTED["n_predict"])
        ids = got["ids"]
        assert len(ids) == len(run["ids"])
        div = next((i for i, (a, b) in enumerate(zip(ids, run["ids"])) if a != b), None)
        if div is None:
            continue
        ours, theirs = ids[div], run["ids"][div]
        our_top5 = [t[0] for t in got["logprobs"][div]["top"]]
        assert theirs in our_top5 and ours in run["top5"][div], \
            f"{model} prompt {run['prompt']}: step {div}: loom {ours} (top5 {our_top5}), llama.cpp {theirs} " \
            f"(top5 {run['top5'][div]})"
        llama_lp = dict(zip(run["top5"][div], run["top5_logprobs"][div]))
        assert llama_lp[theirs] - llama_lp[ours] < 1.0, f"{model} prompt {run['prompt']}: step {div} is no near tie"


def test_unsupported_type_is_named(tmp_path):
    """A Q8_K matrix (an activation type llama.cpp never writes to files) fails with its name and the tensor's."""
    src = gguf_blocks.tensors(os.path.join(FIXTURES, EXPECTED["models"]["kquants"]["file"]), BLOCK_SIZES)
    path = str(tmp_path / "q8k.gguf")
    w = GGUFWriter(path, "llama")
    w.add_tensor("blk.0.attn_q.weight", np.zeros((256, 292), np.uint8), raw_dtype=GGMLQuantizationType.Q8_K)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert src  # the fixture parsed
    proc = subprocess.run([os.path.join(BUILD, "loom"), "generate", "-m", path, "--ids", "1", "-n", "1"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Q8_K" in proc.stderr and "blk.0.attn_q.weight" in proc.stderr, proc.stderr


# offsets of each block's f16 scale fields, set to sane values in synthetic blocks (random bytes there could be
# inf or NaN); MXFP4's E8M0 exponent byte is kept near 2^0
F16_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q2_K": [80, 82], "Q3_K": [108],
              "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208], "IQ2_XXS": [0], "IQ2_XS": [0], "IQ2_S": [0],
              "IQ3_XXS": [0], "IQ3_S": [0], "IQ1_S": [0], "TQ1_0": [52], "TQ2_0": [64], "IQ4_NL": [0], "IQ4_XS": [0],
              "MXFP4": [], "NVFP4": [], "Q1_0": [0]}


def test_synthetic_blocks(driver, tmp_path):
    """Random blocks of every type gguf can write (NVFP4 has no llama-quantize type to make real ones):
    dequantization equals gguf's, the matmul is within the bound, as for the real fixtures."""
    rng = np.random.default_rng(11)
    rows, cols = 32, 512
    path = str(tmp_path / "synthetic.gguf")
    w = GGUFWriter(path, "llama")
    for name, fields in F16_FIELDS.items():
        qtype = GGMLQuantizationType[name]
        elems, nbytes = GGML_QUANT_SIZES[qtype]
        blocks = rng.integers(0, 256, (rows * cols // elems, nbytes), dtype=np.uint8)
        for off in fields:
            blocks[:, off:off + 2] = rng.uniform(0.001, 0.02, (len(blocks), 1)).astype(np.float16).view(np.uint8)
        if name == "MXFP4":
            blocks[:, 0] = rng.integers(118, 124, len(blocks))
        w.add_tensor(f"{name}.weight", blocks.reshape(rows, -1), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    x = activations(cols)
    x.tofile(tmp_path / "x.f32")
    proc = subprocess.run([driver, path, str(tmp_path / "x.f32"), str(N_TOK), str(tmp_path / "out.bin")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data, pos = np.fromfile(tmp_path / "out.bin", np.float32), 0
    tensors = gguf_blocks.tensors(path, BLOCK_SIZES)
    for line in proc.stdout.splitlines():
        info = json.loads(line)
        ttype, shape, raw = tensors[info["name"]]
        deq = data[pos:pos + rows * cols].reshape(rows, cols)
        y = data[pos + rows * cols:pos + rows * cols + N_TOK * rows].reshape(N_TOK, rows)
        pos += rows * cols + N_TOK * rows * (2 if info["x16"] else 1)
        ref = oracle_dequant(ttype, raw, shape)
        assert np.array_equal(deq, ref), f"{info['name']}: dequantized values differ from gguf's"
        exact = x.astype(np.float64) @ ref.astype(np.float64).T
        bound = int8_bound(ref, x) + 1e-4 * (np.abs(x).astype(np.float64) @ np.abs(ref).astype(np.float64).T) + 1e-6
        if info["compute"] != info["dtype"]:
            bound += q8_weight_bound(ref, x) * 1.01
        assert (np.abs(y - exact) <= bound).all(), info["name"]
    assert pos == len(data) and len(proc.stdout.splitlines()) == len(F16_FIELDS)
