"""Writers (and independent readers) of the model files the forward-pass tests feed to loom.

NumPy only (fixture generation; loom never uses Python):
  * safetensors: u64 little-endian header length + JSON header + raw data, dtypes F32 / F16 / BF16,
    single file or sharded with model.safetensors.index.json;
  * Hugging Face directory: config.json + safetensors + the stories260K tokenizer (vocab 512);
  * GGUF v3 (arch llama or qwen2) with llama.cpp tensor names, the stories260K embedded tokenizer,
    Q/K rows permuted like llama.cpp's convert_hf_to_gguf.py, tensors in F32/F16/BF16/Q8_0/Q4_0/Q4_1/
    Q4_K/Q6_K quantized here following ggml's block layouts (K-quants read back by the gguf package).
The readers (read_safetensors, load_hf_dir, read_gguf, load_gguf) parse the bytes back independently of
the writers' in-memory arrays and dequantize them, so the reference runs on exactly what the files hold.
"""
import json
import os
import shutil
import struct

import numpy as np

from llama_ref import rope_params

# ----------------------------------------------------------------------------------------------------
# random models

ARCH_NAMES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def make_config(model_type="llama", hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                vocab=512, head_dim=None, rope_theta=10000.0, rope_scaling=None, tie=True,
                eps=1e-5, max_pos=512):
    cfg = {
        "architectures": [ARCH_NAMES[model_type]],
        "model_type": model_type,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "hidden_act": "silu",
        "tie_word_embeddings": tie,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    if head_dim is not None:
        cfg["head_dim"] = head_dim
    if rope_scaling is not None:
        cfg["rope_scaling"] = rope_scaling
    if model_type == "mistral":
        cfg["sliding_window"] = None
    if model_type == "qwen2":
        cfg["use_sliding_window"] = False
        cfg["sliding_window"] = None
    return cfg


def random_weights(config, seed, qkv_bias=None):
    """Random float32 weights in HF names. Row norms of the embedding / LM head vary (log-normal) so the
    logits are heavy-tailed and greedy argmax has clear margins; norm weights are near 1; o_proj and
    down_proj are scaled up so the layers, not the token's own embedding, dominate the residual stream
    (otherwise a tied model just repeats its input token)."""
    rng = np.random.default_rng(seed)
    H = config["hidden_size"]
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads", nh)
    hd = config.get("head_dim") or H // nh
    I = config["intermediate_size"]
    V = config["vocab_size"]
    if qkv_bias is None:
        qkv_bias = config["model_type"] == "qwen2"

    def mat(rows, cols, scale=1.0):
        return (rng.standard_normal((rows, cols)) * scale / np.sqrt(cols)).astype(np.float32)

    def norm_w(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w = {}
    # a tied head with very uneven row norms always picks the same big-norm token: keep them closer
    sigma = 0.15 if config.get("tie_word_embeddings") else 0.5
    emb = rng.standard_normal((V, H)) * np.exp(sigma * rng.standard_normal((V, 1)))
    w["model.embed_tokens.weight"] = emb.astype(np.float32)
    for l in range(config["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm_w(H)
        w[p + "self_attn.q_proj.weight"] = mat(nh * hd, H, 2.0)
        w[p + "self_attn.k_proj.weight"] = mat(nkv * hd, H, 2.0)
        w[p + "self_attn.v_proj.weight"] = mat(nkv * hd, H)
        if qkv_bias:
            w[p + "self_attn.q_proj.bias"] = (0.5 * rng.standard_normal(nh * hd)).astype(np.float32)
            w[p + "self_attn.k_proj.bias"] = (0.5 * rng.standard_normal(nkv * hd)).astype(np.float32)
            w[p + "self_attn.v_proj.bias"] = (0.5 * rng.standard_normal(nkv * hd)).astype(np.float32)
        w[p + "self_attn.o_proj.weight"] = mat(H, nh * hd, 3.0)
        w[p + "post_attention_layernorm.weight"] = norm_w(H)
        w[p + "mlp.gate_proj.weight"] = mat(I, H)
        w[p + "mlp.up_proj.weight"] = mat(I, H)
        w[p + "mlp.down_proj.weight"] = mat(H, I, 3.0)
    # a tied head multiplies two O(sqrt(hidden))-norm vectors: scale the final norm down to keep logits O(10)
    w["model.norm.weight"] = norm_w(H) * np.float32(0.3 if config.get("tie_word_embeddings") else 1.0)
    if not config.get("tie_word_embeddings", False):
        head = rng.standard_normal((V, H)) * np.exp(0.5 * rng.standard_normal((V, 1))) / np.sqrt(H)
        w["lm_head.weight"] = (3.0 * head).astype(np.float32)
    return w


# ----------------------------------------------------------------------------------------------------
# float conversions

def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even (NaN kept quiet)."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(a, dtype=np.float32))
    rounded = np.where(nan, (bits >> 16) | 0x40, rounded)
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(u):
    return (np.asarray(u, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


# ----------------------------------------------------------------------------------------------------
# safetensors

ST_DTYPES = {"F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (None, 2)}


def _st_bytes(arr, dtype):
    if dtype == "F32":
        return np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "F16":
        return np.ascontiguousarray(arr, dtype=np.float32).astype("<f2").tobytes()
    if dtype == "BF16":
        return f32_to_bf16_bits(arr).astype("<u2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype="F32", metadata=None):
    """tensors: {name: float array}; every tensor stored as `dtype`."""
    header = {}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        b = _st_bytes(arr, dtype)
        header[name] = {"dtype": dtype, "shape": list(np.shape(arr)), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata if metadata is not None else {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: float64 array} decoded from the file's bytes (F32/F16/BF16)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            raise ValueError(f"{path}: dtype {dt}")
        out[name] = a.astype(np.float64).reshape(info["shape"])
    return out


STORIES_HF = "models/stories260K/hf"


def write_hf_dir(out_dir, config, weights, shared_dir, dtype="F32", shards=1):
    """HF model directory: config.json, model.safetensors (or `shards` shard files + index), and the
    stories260K tokenizer files (vocab 512)."""
    os.makedirs(out_dir, exist_ok=True)
    cfg = dict(config)
    cfg["torch_dtype"] = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for fn in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(shared_dir, STORIES_HF, fn), os.path.join(out_dir, fn))
    names = list(weights)
    if config.get("tie_word_embeddings", False):
        names = [n for n in names if n != "lm_head.weight"]
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), {n: weights[n] for n in names}, dtype)
        return out_dir
    # split by order, roughly equal counts per shard
    per = -(-len(names) // shards)
    weight_map = {}
    total = 0
    for s in range(shards):
        part = names[s * per:(s + 1) * per]
        fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(out_dir, fn), {n: weights[n] for n in part}, dtype)
        for n in part:
            weight_map[n] = fn
            total += int(np.prod(np.shape(weights[n]))) * ST_DTYPES[dtype][1]
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return out_dir


def load_hf_dir(d):
    """(config dict, {HF name: float64 array}) read back from a directory written above (or any HF
    safetensors directory)."""
    with open(os.path.join(d, "config.json")) as f:
        config = json.load(f)
    idx = os.path.join(d, "model.safetensors.index.json")
    weights = {}
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        for fn in files:
            weights.update(read_safetensors(os.path.join(d, fn)))
    else:
        weights = read_safetensors(os.path.join(d, "model.safetensors"))
    return config, weights


# ----------------------------------------------------------------------------------------------------
# ggml quantization (block size 32), following ggml-quants.c's reference quantizers

QK = 32
QK_K = 256
GGML_F32, GGML_F16, GGML_Q4_0, GGML_Q4_1, GGML_Q8_0, GGML_BF16 = 0, 1, 2, 3, 8, 30
GGML_Q4_K, GGML_Q6_K = 12, 14
GGML_NAMES = {"F32": GGML_F32, "F16": GGML_F16, "Q4_0": GGML_Q4_0, "Q4_1": GGML_Q4_1,
              "Q8_0": GGML_Q8_0, "BF16": GGML_BF16, "Q4_K": GGML_Q4_K, "Q6_K": GGML_Q6_K}
# (elements per block, bytes per block)
GGML_BLOCK = {GGML_F32: (1, 4), GGML_F16: (1, 2), GGML_BF16: (1, 2), GGML_Q4_0: (32, 18),
              GGML_Q4_1: (32, 20), GGML_Q8_0: (32, 34), GGML_Q4_K: (QK_K, 144), GGML_Q6_K: (QK_K, 210)}


def quantize_q8_0(x):
    """x: float32 [..., n] with n % 32 == 0 -> bytes. Block: f16 d, int8 qs[32]; d = amax/127."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    amax = np.abs(b).max(axis=1)
    d = amax / 127.0
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    # roundf (ties away from zero), as ggml's quantize_row_q8_0_ref
    v = b * idv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    out = np.empty((b.shape[0], 34), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.tobytes()


def quantize_q4_0(x):
    """Block: f16 d, u8 qs[16]; d = max/-8 where max is the signed value of largest magnitude,
    q = min(15, int(x/d + 8.5)); low nibble = element j, high nibble = element j+16."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    i = np.argmax(np.abs(b), axis=1)
    mx = b[np.arange(b.shape[0]), i]
    d = (mx / -8.0).astype(np.float32)
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = b * idv[:, None] + np.float32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)  # (int8_t) cast truncates
    out = np.empty((b.shape[0], 18), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def quantize_q4_1(x):
    """Block: f16 d, f16 m, u8 qs[16]; d = (max-min)/15, m = min, q = min(15, int((x-min)/d + 0.5))."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, QK)
    mn = b.min(axis=1)
    mx = b.max(axis=1)
    d = ((mx - mn) / 15.0).astype(np.float32)
    idv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0).astype(np.float32)
    v = (b - mn[:, None]) * idv[:, None] + np.float32(0.5)
    q = np.minimum(15, np.trunc(v).astype(np.int32)).astype(np.uint8)
    out = np.empty((b.shape[0], 20), dtype=np.uint8)
    out[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = mn.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 4:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def _f16_exact(v):
    return np.asarray(v, dtype=np.float32).astype("<f2")


def quantize_q4_k(x):
    """llama.cpp's block_q4_K (144 bytes per 256): f16 d, f16 dmin, 12 bytes of 6-bit scales/mins for 8
    sub-blocks of 32, 128 bytes of nibbles (32 bytes per sub-block pair: low nibbles = the even
    sub-block). x = d * sc * q - dmin * m. Plain min/max quantization (not llama.cpp's search):
    per sub-block scale (max - min) / 15 and offset -min (min clamped to <= 0), both quantized to 6 bits
    against the super-block's largest, q = round((x + dmin m) / (d sc)) in 0..15."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 8, 32).astype(np.float64)
    mn = np.minimum(b.min(axis=2), 0.0)
    scale_f, min_f = (b.max(axis=2) - mn) / 15.0, -mn
    d = _f16_exact(scale_f.max(axis=1) / 63.0)
    dmin = _f16_exact(min_f.max(axis=1) / 63.0)
    d64, dmin64 = d.astype(np.float64)[:, None], dmin.astype(np.float64)[:, None]
    sc = np.clip(np.rint(np.divide(scale_f, d64, out=np.zeros_like(scale_f), where=d64 > 0)), 0, 63).astype(np.int64)
    m = np.clip(np.rint(np.divide(min_f, dmin64, out=np.zeros_like(min_f), where=dmin64 > 0)), 0, 63).astype(np.int64)
    step = (d64 * sc)[:, :, None]
    v = np.divide(b + (dmin64 * m)[:, :, None], step, out=np.zeros_like(b), where=step > 0)
    q = np.clip(np.rint(v), 0, 15).astype(np.uint8)
    out = np.zeros((b.shape[0], 144), dtype=np.uint8)
    out[:, 0:2] = d.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = dmin.view(np.uint8).reshape(-1, 2)
    for j in range(4):  # 6-bit pairs: j < 4 in bytes j / j+4; j >= 4 split over bytes j+4 and the top bits
        out[:, 4 + j] = sc[:, j] | ((sc[:, j + 4] >> 4) << 6)
        out[:, 8 + j] = m[:, j] | ((m[:, j + 4] >> 4) << 6)
        out[:, 12 + j] = (sc[:, j + 4] & 15) | ((m[:, j + 4] & 15) << 4)
    for pair in range(4):
        out[:, 16 + 32 * pair:48 + 32 * pair] = q[:, 2 * pair] | (q[:, 2 * pair + 1] << 4)
    return out.tobytes()


def quantize_q6_k(x):
    """llama.cpp's block_q6_K (210 bytes per 256): ql[128] low nibbles, qh[64] top 2 bits, int8
    scales[16] (one per 16 consecutive elements), f16 d; x = d * scale * (q - 32), q 6-bit. In each half
    of 128 elements, element l + 32k (l < 32) sits in ql[l + 32 (k & 1)] (low nibble for k < 2, high
    otherwise) and bits 2k..2k+1 of qh[l]. Plain quantization: scale max|x| / 31 per 16, quantized to
    int8 against the super-block's largest, q - 32 = round(x / (d scale)) in -32..31."""
    b = np.asarray(x, dtype=np.float32).reshape(-1, 16, 16).astype(np.float64)
    scale_f = np.abs(b).max(axis=2) / 31.0
    d = _f16_exact(scale_f.max(axis=1) / 127.0)
    d64 = d.astype(np.float64)[:, None]
    sc = np.clip(np.rint(np.divide(scale_f, d64, out=np.zeros_like(scale_f), where=d64 > 0)), -128, 127)
    step = (d64 * sc)[:, :, None]
    q = (np.clip(np.rint(np.divide(b, step, out=np.zeros_like(b), where=step != 0)), -32, 31) + 32)
    q = q.astype(np.uint8).reshape(-1, 2, 4, 32)  # [block, half, k, l]
    out = np.zeros((q.shape[0], 210), dtype=np.uint8)
    for half in range(2):
        qq = q[:, half]
        out[:, 64 * half:64 * half + 32] = (qq[:, 0] & 15) | ((qq[:, 2] & 15) << 4)
        out[:, 64 * half + 32:64 * half + 64] = (qq[:, 1] & 15) | ((qq[:, 3] & 15) << 4)
        out[:, 128 + 32 * half:160 + 32 * half] = ((qq[:, 0] >> 4) | ((qq[:, 1] >> 4) << 2) | ((qq[:, 2] >> 4) << 4)
                                                   | ((qq[:, 3] >> 4) << 6))
    out[:, 192:208] = sc.astype(np.int8).view(np.uint8)
    out[:, 208:210] = d.view(np.uint8).reshape(-1, 2)
    return out.tobytes()


def dequantize(raw, gtype, n_elements):
    """Bytes of a ggml tensor -> float64 flat array (independent of the quantizers above)."""
    if gtype == GGML_F32:
        return np.frombuffer(raw, dtype="<f4", count=n_elements).astype(np.float64)
    if gtype == GGML_F16:
        return np.frombuffer(raw, dtype="<f2", count=n_elements).astype(np.float64)
    if gtype == GGML_BF16:
        return bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2", count=n_elements)).astype(np.float64)
    if gtype in (GGML_Q4_K, GGML_Q6_K):  # the gguf package's NumPy port of llama.cpp's dequantizers
        import gguf
        blk = np.frombuffer(raw, dtype=np.uint8, count=n_elements // QK_K * GGML_BLOCK[gtype][1])
        qtype = gguf.GGMLQuantizationType.Q4_K if gtype == GGML_Q4_K else gguf.GGMLQuantizationType.Q6_K
        return gguf.quants.dequantize(blk, qtype).astype(np.float64).reshape(-1)
    nb = n_elements // QK
    blk = np.frombuffer(raw, dtype=np.uint8, count=nb * GGML_BLOCK[gtype][1]).reshape(nb, -1)
    d = blk[:, 0:2].copy().view("<f2").astype(np.float64)  # [nb, 1]
    if gtype == GGML_Q8_0:
        q = blk[:, 2:].copy().view(np.int8).astype(np.float64)
        return (q * d).reshape(-1)
    if gtype == GGML_Q4_0:
        qs = blk[:, 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64) - 8.0
        return (q * d).reshape(-1)
    if gtype == GGML_Q4_1:
        m = blk[:, 2:4].copy().view("<f2").astype(np.float64)
        qs = blk[:, 4:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float64)
        return (q * d + m).reshape(-1)
    raise ValueError(f"ggml type {gtype}")


def encode_tensor(arr, gtype):
    a = np.ascontiguousarray(arr, dtype=np.float32)
    if gtype == GGML_F32:
        return a.astype("<f4").tobytes()
    if gtype == GGML_F16:
        return a.astype("<f2").tobytes()
    if gtype == GGML_BF16:
        return f32_to_bf16_bits(a).astype("<u2").tobytes()
    block = GGML_BLOCK[gtype][0]
    if a.shape[-1] % block:
        raise ValueError(f"row length {a.shape[-1]} not a multiple of {block}")
    return {GGML_Q8_0: quantize_q8_0, GGML_Q4_0: quantize_q4_0, GGML_Q4_1: quantize_q4_1,
            GGML_Q4_K: quantize_q4_k, GGML_Q6_K: quantize_q6_k}[gtype](a)


# ----------------------------------------------------------------------------------------------------
# GGUF v3

GGUF_MAGIC = b"GGUF"
(GT_U8, GT_I8, GT_U16, GT_I16, GT_U32, GT_I32, GT_F32, GT_BOOL, GT_STR, GT_ARR, GT_U64, GT_I64,
 GT_F64) = range(13)
_SCALAR = {GT_U8: "<B", GT_I8: "<b", GT_U16: "<H", GT_I16: "<h", GT_U32: "<I", GT_I32: "<i",
           GT_F32: "<f", GT_BOOL: "<?", GT_U64: "<Q", GT_I64: "<q", GT_F64: "<d"}


class GGUFValue:
    """A typed metadata value: vtype is a GT_* id; for arrays, subtype is the element type."""

    def __init__(self, vtype, value, subtype=None):
        self.vtype, self.value, self.subtype = vtype, value, subtype

    def __repr__(self):
        return f"GGUFValue({self.vtype}, {self.value!r:.60}, {self.subtype})"


def _pack_str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_value(vtype, value, subtype=None):
    if vtype == GT_STR:
        return _pack_str(value)
    if vtype == GT_ARR:
        out = [struct.pack("<IQ", subtype, len(value))]
        if subtype == GT_STR:
            out += [_pack_str(s) for s in value]
        else:
            out.append(np.asarray(value, dtype=np.dtype(_SCALAR[subtype])).tobytes())
        return b"".join(out)
    return struct.pack(_SCALAR[vtype], value)


def write_gguf(path, kv, tensors, alignment=32):
    """kv: ordered {key: GGUFValue}; tensors: list of (name, ggml dims [ne0, ne1, ...], gtype, raw bytes).
    ne0 is the row length (HF's last axis)."""
    kv = dict(kv)
    if alignment != 32:
        kv["general.alignment"] = GGUFValue(GT_U32, alignment)
    head = [GGUF_MAGIC, struct.pack("<IQQ", 3, len(tensors), len(kv))]
    for k, v in kv.items():
        head.append(_pack_str(k) + struct.pack("<I", v.vtype) + _pack_value(v.vtype, v.value, v.subtype))
    off = 0
    offsets = []
    for name, dims, gtype, raw in tensors:
        offsets.append(off)
        head.append(_pack_str(name) + struct.pack("<I", len(dims)) +
                    struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", gtype, off))
        off += len(raw)
        off += (-off) % alignment
    hb = b"".join(head)
    hb += b"\0" * ((-len(hb)) % alignment)
    with open(path, "wb") as f:
        f.write(hb)
        for (name, dims, gtype, raw), o in zip(tensors, offsets):
            f.write(raw)
            f.write(b"\0" * ((-len(raw)) % alignment))


class GGUFFile:
    """Parsed GGUF: version, kv {key: GGUFValue}, tensors [{name, dims, type, offset, info_start,
    info_end}], data_start (absolute), alignment, header_end (end of tensor info table), raw bytes."""


def read_gguf(path):
    with open(path, "rb") as f:
        data = f.read()
    g = GGUFFile()
    g.data = data
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals if len(vals) > 1 else vals[0]

    def take_str():
        nonlocal pos
        n = take("<Q")
        s = data[pos:pos + n]
        pos += n
        return s.decode("utf-8", errors="surrogateescape")

    def take_val(t):
        nonlocal pos
        if t == GT_STR:
            return take_str()
        if t == GT_ARR:
            sub, n = take("<IQ")
            if sub == GT_STR:
                return GGUFValue(GT_ARR, [take_str() for _ in range(n)], sub)
            dt = np.dtype(_SCALAR[sub])
            arr = np.frombuffer(data, dtype=dt, count=n, offset=pos).copy()
            pos += n * dt.itemsize
            return GGUFValue(GT_ARR, arr, sub)
        return take(_SCALAR[t])

    if data[:4] != GGUF_MAGIC:
        raise ValueError(f"{path}: bad magic")
    pos = 4
    g.version, n_t, n_kv = take("<IQQ")
    g.kv = {}
    for _ in range(n_kv):
        k = take_str()
        t = take("<I")
        v = take_val(t)
        g.kv[k] = v if isinstance(v, GGUFValue) else GGUFValue(t, v)
    g.tensors = []
    for _ in range(n_t):
        start = pos
        name = take_str()
        nd = take("<I")
        dims = list(struct.unpack_from(f"<{nd}Q", data, pos))
        pos += 8 * nd
        gtype, off = take("<IQ")
        g.tensors.append({"name": name, "dims": dims, "type": gtype, "offset": off,
                          "info_start": start, "info_end": pos})
    g.header_end = pos
    g.alignment = g.kv["general.alignment"].value if "general.alignment" in g.kv else 32
    g.data_start = pos + (-pos) % g.alignment
    return g


def gguf_tensor(g, t):
    """float64 array of a tensor in numpy (HF) axis order: shape reversed(dims)."""
    n = int(np.prod(t["dims"]))
    epb, bpb = GGML_BLOCK[t["type"]]
    nbytes = n // epb * bpb
    start = g.data_start + t["offset"]
    raw = g.data[start:start + nbytes]
    if len(raw) != nbytes:
        raise ValueError(f"tensor {t['name']} past end of file")
    return dequantize(raw, t["type"], n).reshape(list(reversed(t["dims"])))


# llama.cpp's Q/K permutation (convert_hf_to_gguf.py, LlamaModel.permute):
#   w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)
# with n_head = num_key_value_heads for k_proj. Within each head, HF row r < hd/2 (first half of the
# rotate-half pair (r, r+hd/2)) goes to row 2r and row r+hd/2 goes to row 2r+1: the rotate-half pairs
# become adjacent (interleaved) pairs, which is what ggml's "normal" RoPE mode rotates.

def permute_qk(w, n_head):
    w = np.asarray(w)
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w, n_head):
    w = np.asarray(w)
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_to_gguf_name(name):
    """HF tensor name -> llama.cpp GGUF name."""
    if name == "model.embed_tokens.weight":
        return "token_embd.weight"
    if name == "model.norm.weight":
        return "output_norm.weight"
    if name == "lm_head.weight":
        return "output.weight"
    parts = name.split(".")
    assert parts[0] == "model" and parts[1] == "layers", name
    l = parts[2]
    rest = ".".join(parts[3:])
    table = {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    base, suffix = rest.rsplit(".", 1)
    return f"blk.{l}.{table[base]}.{suffix}"


def gguf_to_hf_name(name, n_layers):
    table = {}
    for n in ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]:
        table[hf_to_gguf_name(n)] = n
    for l in range(n_layers):
        for s in ["input_layernorm", "post_attention_layernorm", "self_attn.q_proj", "self_attn.k_proj",
                  "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]:
            for suf in ("weight", "bias"):
                n = f"model.layers.{l}.{s}.{suf}"
                table[hf_to_gguf_name(n)] = n
    return table[name]


STORIES_GGUF = "models/stories260K/gguf/stories260K.f32.gguf"


def tokenizer_kv(shared_dir):
    g = read_gguf(os.path.join(shared_dir, STORIES_GGUF))
    return {k: v for k, v in g.kv.items() if k.startswith("tokenizer.ggml.")}


def write_gguf_model(path, config, weights, shared_dir, types=None, default_type="F32", permute=None,
                     name="loom-test"):
    """GGUF v3 of an HF-named model. arch = qwen2 for Qwen2 configs, else llama (Mistral too, as
    llama.cpp does). types: {HF name: "F32"|"F16"|"BF16"|"Q8_0"|"Q4_0"|"Q4_1"} per tensor, default
    default_type for 2-D tensors; 1-D tensors (norms, biases) stay F32. Q/K permuted for llama."""
    arch = "qwen2" if config["model_type"] == "qwen2" else "llama"
    if permute is None:
        permute = arch == "llama"
    H = config["hidden_size"]
    nh = config["num_attention_heads"]
    nkv = config.get("num_key_value_heads", nh)
    hd = config.get("head_dim") or H // nh
    theta, scaling = rope_params(config)
    if scaling is not None:
        raise NotImplementedError("rope scaling in GGUF fixtures")
    kv = {
        "general.architecture": GGUFValue(GT_STR, arch),
        "general.name": GGUFValue(GT_STR, name),
        f"{arch}.block_count": GGUFValue(GT_U32, config["num_hidden_layers"]),
        f"{arch}.context_length": GGUFValue(GT_U32, config.get("max_position_embeddings", 512)),
        f"{arch}.embedding_length": GGUFValue(GT_U32, H),
        f"{arch}.feed_forward_length": GGUFValue(GT_U32, config["intermediate_size"]),
        f"{arch}.attention.head_count": GGUFValue(GT_U32, nh),
        f"{arch}.attention.head_count_kv": GGUFValue(GT_U32, nkv),
        f"{arch}.attention.layer_norm_rms_epsilon": GGUFValue(GT_F32, config["rms_norm_eps"]),
        f"{arch}.rope.freq_base": GGUFValue(GT_F32, theta),
        f"{arch}.rope.dimension_count": GGUFValue(GT_U32, hd),
    }
    if config.get("head_dim") is not None:
        kv[f"{arch}.attention.key_length"] = GGUFValue(GT_U32, hd)
        kv[f"{arch}.attention.value_length"] = GGUFValue(GT_U32, hd)
    if arch == "llama":
        kv[f"{arch}.vocab_size"] = GGUFValue(GT_U32, config["vocab_size"])
    types = types or {}
    # general.file_type (llama_ftype): informational; the most common 2-D tensor type
    two_d = [types.get(n, default_type) for n, w in weights.items() if np.ndim(w) == 2]
    main_type = max(set(two_d), key=two_d.count) if two_d else "F32"
    ftype = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "BF16": 32, "Q4_K": 15, "Q6_K": 18}[main_type]
    kv["general.file_type"] = GGUFValue(GT_U32, ftype)
    kv.update(tokenizer_kv(shared_dir))
    tensors = []
    for n, w in weights.items():
        if n == "lm_head.weight" and config.get("tie_word_embeddings", False):
            continue
        w = np.asarray(w, dtype=np.float32)
        if permute and n.endswith(("q_proj.weight", "q_proj.bias")):
            w = permute_qk(w, nh)
        if permute and n.endswith(("k_proj.weight", "k_proj.bias")):
            w = permute_qk(w, nkv)
        t = types.get(n, default_type if w.ndim == 2 else "F32")
        gt = GGML_NAMES[t]
        tensors.append((hf_to_gguf_name(n), list(reversed(w.shape)), gt, encode_tensor(w, gt)))
    write_gguf(path, kv, tensors)
    return path


def load_gguf(path, unpermute=True):
    """(config dict, {HF name: float64 array}, {HF name: ggml type}) read back from a GGUF file; Q/K rows
    are un-permuted to HF order for arch llama unless unpermute=False."""
    g = read_gguf(path)
    arch = g.kv["general.architecture"].value
    kvv = {k: v.value for k, v in g.kv.items()}
    nh = int(kvv[f"{arch}.attention.head_count"])
    nkv = int(kvv.get(f"{arch}.attention.head_count_kv", nh))
    H = int(kvv[f"{arch}.embedding_length"])
    cfg = {
        "model_type": arch,
        "hidden_size": H,
        "intermediate_size": int(kvv[f"{arch}.feed_forward_length"]),
        "num_hidden_layers": int(kvv[f"{arch}.block_count"]),
        "num_attention_heads": nh,
        "num_key_value_heads": nkv,
        "rms_norm_eps": float(kvv[f"{arch}.attention.layer_norm_rms_epsilon"]),
        "rope_theta": float(kvv.get(f"{arch}.rope.freq_base", 10000.0)),
    }
    if f"{arch}.attention.key_length" in kvv:
        cfg["head_dim"] = int(kvv[f"{arch}.attention.key_length"])
    weights, types = {}, {}
    for t in g.tensors:
        hf = gguf_to_hf_name(t["name"], cfg["num_hidden_layers"])
        w = gguf_tensor(g, t)
        if unpermute and arch == "llama":
            if hf.endswith(("q_proj.weight", "q_proj.bias")):
                w = unpermute_qk(w, nh)
            elif hf.endswith(("k_proj.weight", "k_proj.bias")):
                w = unpermute_qk(w, nkv)
        weights[hf] = w
        types[hf] = t["type"]
    cfg["vocab_size"] = weights["model.embed_tokens.weight"].shape[0]
    cfg["tie_word_embeddings"] = "lm_head.weight" not in weights
    return cfg, weights, types


# ----------------------------------------------------------------------------------------------------
# the fixture models of tests/test_forward_reference.py (also used by check_against_transformers.py).
# Seeds were picked so that greedy decoding of PROMPT_IDS has a clear top-1/top-2 margin at every step
# (the test asserts it, so a near-tie can never make loom's ids differ for a legitimate reason).

PROMPT_IDS = [1, 5, 9, 200, 33]
N_GEN = 16

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 32}

FIXTURE_MODELS = [
    {"name": "llama-tied-gqa", "seed": 12,
     "config": dict(model_type="llama", hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128,
                    tie=True)},
    {"name": "qwen2-bias-headdim", "seed": 5,
     "config": dict(model_type="qwen2", hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32,
                    intermediate=96, rope_theta=1e6, tie=False, eps=1e-6)},
    {"name": "mistral-gqa4", "seed": 12,
     "config": dict(model_type="mistral", hidden=128, layers=2, heads=8, kv_heads=2, intermediate=192,
                    tie=False)},
    {"name": "llama3-rope-scaling", "seed": 10,
     "config": dict(model_type="llama", hidden=64, layers=2, heads=4, kv_heads=1, intermediate=128,
                    rope_theta=10000.0, rope_scaling=LLAMA3_SCALING, tie=True)},
    # rows of 256 and 512: K-quant super-blocks
    {"name": "llama-k-quant", "seed": 23,
     "config": dict(model_type="llama", hidden=256, layers=2, heads=4, kv_heads=2, intermediate=512,
                    tie=False)},
]


def fixture_model(name):
    spec = next(m for m in FIXTURE_MODELS if m["name"] == name)
    cfg = make_config(**spec["config"])
    return cfg, random_weights(cfg, spec["seed"])


# per-tensor GGML types of the mixed GGUF fixtures: every quantized type on some tensor, and the two
# layers use different assignments so no type/role pairing is special
MIXED_LAYER_TYPES = [
    {"q_proj": "Q4_0", "k_proj": "Q4_1", "v_proj": "Q8_0", "o_proj": "F16",
     "gate_proj": "Q4_1", "up_proj": "Q4_0", "down_proj": "Q8_0"},
    {"q_proj": "Q8_0", "k_proj": "Q4_0", "v_proj": "Q4_1", "o_proj": "Q8_0",
     "gate_proj": "F16", "up_proj": "Q8_0", "down_proj": "Q4_1"},
]


# Q4_K_M-like (Q6_K on v / down / embedding / head) in layer 0, K-quants mixed with Q8_0 in layer 1
K_QUANT_LAYER_TYPES = [
    {"q_proj": "Q4_K", "k_proj": "Q4_K", "v_proj": "Q6_K", "o_proj": "Q4_K",
     "gate_proj": "Q4_K", "up_proj": "Q4_K", "down_proj": "Q6_K"},
    {"q_proj": "Q6_K", "k_proj": "Q4_K", "v_proj": "Q8_0", "o_proj": "Q6_K",
     "gate_proj": "Q6_K", "up_proj": "Q4_K", "down_proj": "Q4_K"},
]


def mixed_types(weights, embd="Q8_0", head="Q4_0", layer_types=MIXED_LAYER_TYPES):
    types = {}
    for n, w in weights.items():
        if np.ndim(w) != 2:
            continue
        if n == "model.embed_tokens.weight":
            types[n] = embd
        elif n == "lm_head.weight":
            types[n] = head
        else:
            l = int(n.split(".")[2])
            role = n.split(".")[-2]
            types[n] = layer_types[l % 2][role]
    return types


# (case name, fixture model shape, seed, types function or a single type for all 2-D tensors). Seeds
# picked so the DEQUANTIZED model's greedy top-1/top-2 margin is >= 0.02 * max|logit| at every step.
GGUF_CASES = [
    ("gguf-llama-f32", "llama-tied-gqa", 12, "F32"),
    ("gguf-llama-mixed-quant", "llama-tied-gqa", 12, lambda w: mixed_types(w, embd="Q8_0")),
    ("gguf-mistral-mixed-quant", "mistral-gqa4", 2, lambda w: mixed_types(w, embd="F16", head="Q4_0")),
    ("gguf-qwen2-q8_0", "qwen2-bias-headdim", 1, "Q8_0"),
    ("gguf-llama-k-quants", "llama-k-quant", 23,
     lambda w: mixed_types(w, embd="Q6_K", head="Q6_K", layer_types=K_QUANT_LAYER_TYPES)),
]


def write_gguf_case(path, case, shared_dir):
    name, model, seed, types = next(c for c in GGUF_CASES if c[0] == case)
    spec = next(m for m in FIXTURE_MODELS if m["name"] == model)
    cfg = make_config(**spec["config"])
    w = random_weights(cfg, seed)
    if callable(types):
        write_gguf_model(path, cfg, w, shared_dir, types=types(w), name=name)
    else:
        write_gguf_model(path, cfg, w, shared_dir, default_type=types, name=name)
    return path
