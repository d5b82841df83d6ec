"""Independent float64 NumPy reference forward pass for Llama-family decoders (Llama, Mistral, Qwen2).

Written from the Llama / RoFormer papers and the Hugging Face `transformers` semantics, NOT from loom's C
code; it is the oracle the forward-pass tests compare loom against. Fixture generation only: loom itself
never uses Python.

Weights: a dict of numpy arrays keyed by Hugging Face names
    model.embed_tokens.weight                      [vocab, hidden]
    model.layers.N.input_layernorm.weight          [hidden]
    model.layers.N.self_attn.q_proj.weight         [heads*head_dim, hidden]   (+ .bias for Qwen2)
    model.layers.N.self_attn.k_proj.weight         [kv_heads*head_dim, hidden] (+ .bias)
    model.layers.N.self_attn.v_proj.weight         [kv_heads*head_dim, hidden] (+ .bias)
    model.layers.N.self_attn.o_proj.weight         [hidden, heads*head_dim]
    model.layers.N.post_attention_layernorm.weight [hidden]
    model.layers.N.mlp.{gate,up}_proj.weight       [intermediate, hidden]
    model.layers.N.mlp.down_proj.weight            [hidden, intermediate]
    model.norm.weight                              [hidden]
    lm_head.weight                                 [vocab, hidden]  (absent / ignored when tied)
Config: the config.json dict (hidden_size, num_attention_heads, num_key_value_heads, head_dim,
rms_norm_eps, rope_theta, rope_scaling or transformers-5 style rope_parameters, tie_word_embeddings, ...).

Everything is computed in float64. `rope_style="half"` is HF's rotate-half convention (pairs (i, i+d/2));
`rope_style="interleaved"` rotates adjacent pairs (2i, 2i+1) -- the convention of llama.cpp's "norm" RoPE,
for Q/K weights that were permuted the way convert_hf_to_gguf.py does it (used to cross-check that
permutation on the real stories260K GGUF).
"""
import math

import numpy as np


def _cfg(config, key, default=None):
    v = config.get(key)
    return default if v is None else v


def head_dim_of(config):
    return int(_cfg(config, "head_dim", config["hidden_size"] // config["num_attention_heads"]))


def rope_params(config):
    """(rope_theta, rope_scaling dict or None), from either the transformers-4 keys (rope_theta,
    rope_scaling) or the transformers-5 key rope_parameters."""
    rp = config.get("rope_parameters")
    theta = config.get("rope_theta")
    scaling = config.get("rope_scaling")
    if rp:
        theta = rp.get("rope_theta", theta)
        if rp.get("rope_type", rp.get("type", "default")) != "default":
            scaling = rp
    if theta is None:
        theta = 10000.0
    if scaling is not None and scaling.get("rope_type", scaling.get("type", "default")) == "default":
        scaling = None
    return float(theta), scaling


def rope_inv_freq(config):
    """Inverse frequencies [head_dim/2] as HF computes them (default, or llama3 scaling:
    transformers.modeling_rope_utils._compute_llama3_parameters)."""
    dim = head_dim_of(config)
    theta, scaling = rope_params(config)
    inv_freq = 1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    if scaling is None:
        return inv_freq
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind != "llama3":
        raise NotImplementedError(f"rope scaling type {kind!r}")
    factor = float(scaling["factor"])
    low_freq_factor = float(scaling["low_freq_factor"])
    high_freq_factor = float(scaling["high_freq_factor"])
    old_context_len = float(scaling["original_max_position_embeddings"])
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    # long wavelengths (low frequencies) are divided by factor, short ones kept, the band between is
    # interpolated smoothly
    inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
    smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(is_medium, smoothed, inv_freq_llama)


def apply_rope(x, positions, inv_freq, style="half"):
    """x: [T, n_heads, head_dim]; positions: [T]."""
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq[None, :]  # [T, d/2]
    cos = np.cos(ang)[:, None, :]
    sin = np.sin(ang)[:, None, :]
    half = x.shape[-1] // 2
    if style == "half":
        x1, x2 = x[..., :half], x[..., half:]
        return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    if style == "interleaved":
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x1 * cos - x2 * sin
        out[..., 1::2] = x2 * cos + x1 * sin
        return out
    raise ValueError(style)


def rms_norm(x, w, eps):
    var = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(var + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def quantize_activations_q8(x):
    """llama.cpp's q8_0 activation quantization, which engines apply to the input of integer dot
    products with Q8_0/Q4_0/Q4_1 weights: per row, blocks of 32; d = max|x| / 127, q = round(x / d)
    (to nearest even), x' = q * d."""
    shape = x.shape
    b = np.asarray(x, dtype=np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    inv = np.where(amax > 0, np.float32(127) / np.where(amax > 0, amax, 1), np.float32(0)).astype(np.float32)
    q = np.rint(b * inv)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(shape)


def _linear(x, weights, name, bias_ok=True, act_quant=()):
    if name + ".weight" in act_quant:
        x = quantize_activations_q8(x)
    y = x @ weights[name + ".weight"].T
    b = weights.get(name + ".bias")
    if b is not None and bias_ok:
        y = y + b
    return y


def forward(weights, config, ids, rope_style="half", act_quant=()):
    """Logits [len(ids), vocab] (float64) for every position of `ids` (causal, positions 0..T-1).
    act_quant: names of weights ("...q_proj.weight", "lm_head.weight") whose matmul input goes through
    quantize_activations_q8 first, as an engine's integer dot products do."""
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    ids = np.asarray(ids, dtype=np.int64)
    T = len(ids)
    hidden = int(config["hidden_size"])
    n_heads = int(config["num_attention_heads"])
    n_kv = int(_cfg(config, "num_key_value_heads", n_heads))
    hd = head_dim_of(config)
    eps = float(_cfg(config, "rms_norm_eps", 1e-6))
    n_layers = int(config["num_hidden_layers"])
    assert n_heads % n_kv == 0
    group = n_heads // n_kv
    inv_freq = rope_inv_freq(config)
    pos = np.arange(T)
    causal = np.triu(np.full((T, T), -np.inf), k=1)

    x = w["model.embed_tokens.weight"][ids]  # [T, hidden]
    assert x.shape == (T, hidden)
    for l in range(n_layers):
        p = f"model.layers.{l}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = _linear(h, w, p + "self_attn.q_proj", act_quant=act_quant).reshape(T, n_heads, hd)
        k = _linear(h, w, p + "self_attn.k_proj", act_quant=act_quant).reshape(T, n_kv, hd)
        v = _linear(h, w, p + "self_attn.v_proj", act_quant=act_quant).reshape(T, n_kv, hd)
        q = apply_rope(q, pos, inv_freq, rope_style)
        k = apply_rope(k, pos, inv_freq, rope_style)
        k = np.repeat(k, group, axis=1)  # query head h uses kv head h // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + causal[None]
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        attn = np.einsum("hts,shd->thd", probs, v).reshape(T, n_heads * hd)
        x = x + _linear(attn, w, p + "self_attn.o_proj", act_quant=act_quant)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = _linear(h, w, p + "mlp.gate_proj", act_quant=act_quant)
        up = _linear(h, w, p + "mlp.up_proj", act_quant=act_quant)
        x = x + _linear(silu(gate) * up, w, p + "mlp.down_proj", act_quant=act_quant)
    x = rms_norm(x, w["model.norm.weight"], eps)
    if config.get("tie_word_embeddings", False) or "lm_head.weight" not in w:
        head_name = "model.embed_tokens.weight"
    else:
        head_name = "lm_head.weight"
    if head_name in act_quant:
        x = quantize_activations_q8(x)
    return x @ w[head_name].T


def greedy_generate(weights, config, prompt_ids, n, rope_style="half", act_quant=()):
    """Greedy decoding (argmax, first index on ties), no EOS stop. Returns (generated ids, logits) where
    logits[i] are those of position i of prompt_ids + generated[:-1] (the same positions loom's
    --dump-logits writes). Recomputes the whole sequence each step: tiny models only."""
    seq = list(prompt_ids)
    out = []
    for _ in range(n):
        logits = forward(weights, config, seq, rope_style, act_quant)
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        seq.append(nxt)
    logits = forward(weights, config, seq[:-1], rope_style, act_quant)
    return out, logits


def top2_margin(logits):
    """Per position: top-1 logit minus top-2 logit (how robust greedy argmax is)."""
    s = np.sort(logits, axis=-1)
    return s[..., -1] - s[..., -2]
