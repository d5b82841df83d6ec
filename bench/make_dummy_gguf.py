#!/usr/bin/env python3
"""Writes a Llama-architecture GGUF with random F16 weights in the shape of a 1B model (Llama-3.2-1B's
hidden 2048, 16 layers, 32/8 heads, FFN 8192) and the tokenizer of a template GGUF (the default
model's), for speed benchmarks only. llama-quantize then makes the Q8_0 / Q4_0 variants.

usage: make_dummy_gguf.py TEMPLATE.gguf OUT.gguf"""
import sys

import numpy as np
import gguf

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 2048, 16, 32, 8, 8192


def copy_tokenizer(reader, writer):
    for field in reader.fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)


def main():
    template, out = sys.argv[1], sys.argv[2]
    reader = gguf.GGUFReader(template)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    w = gguf.GGUFWriter(out, "llama")
    w.add_name("loom-dummy-1b")
    w.add_context_length(4096)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    copy_tokenizer(reader, w)
    rng = np.random.default_rng(1234)
    head_dim = HIDDEN // HEADS

    def mat(name, rows, cols):
        w.add_tensor(name, (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16))

    def vec(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    mat("token_embd.weight", vocab, HIDDEN)
    vec("output_norm.weight", HIDDEN)
    for l in range(LAYERS):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", HIDDEN)
        vec(p + "ffn_norm.weight", HIDDEN)
        mat(p + "attn_q.weight", HEADS * head_dim, HIDDEN)
        mat(p + "attn_k.weight", KV_HEADS * head_dim, HIDDEN)
        mat(p + "attn_v.weight", KV_HEADS * head_dim, HIDDEN)
        mat(p + "attn_output.weight", HIDDEN, HEADS * head_dim)
        mat(p + "ffn_gate.weight", FFN, HIDDEN)
        mat(p + "ffn_up.weight", FFN, HIDDEN)
        mat(p + "ffn_down.weight", HIDDEN, FFN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
