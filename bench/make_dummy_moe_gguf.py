#!/usr/bin/env python3
"""Writes an OLMoE-architecture GGUF with random F16 weights in the shape of a ~1B-parameter mixture of
experts with ~0.25B active per token (hidden 1024, 16 layers, 16 heads, 64 experts of FFN 256, top-8,
q/k norms over the whole projection) and the tokenizer of a template GGUF (the default model's, 49152
tokens), for speed benchmarks only (bench/compare-llamacpp-moe.sh). llama-quantize then makes the Q8_0
and Q4_K_M variants. Matrices N(0, 0.02^2), the router too (so routing spreads over the experts), norms 1.

usage: make_dummy_moe_gguf.py TEMPLATE.gguf OUT.gguf"""
import sys

import numpy as np
import gguf

from make_dummy_gguf import copy_tokenizer

HIDDEN, LAYERS, HEADS, EXPERTS, TOP_K, EXPERT_FFN = 1024, 16, 16, 64, 8, 256


def main():
    template, out = sys.argv[1], sys.argv[2]
    reader = gguf.GGUFReader(template)
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    w = gguf.GGUFWriter(out, "olmoe")
    w.add_name("loom-dummy-olmoe-1b-a0.25b")
    w.add_context_length(4096)
    w.add_embedding_length(HIDDEN)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(EXPERT_FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_expert_count(EXPERTS)
    w.add_expert_used_count(TOP_K)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    copy_tokenizer(reader, w)
    rng = np.random.default_rng(1234)

    def mat(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16))

    def vec(name, n):
        w.add_tensor(name, np.ones(n, dtype=np.float32))

    mat("token_embd.weight", vocab, HIDDEN)
    mat("output.weight", vocab, HIDDEN)
    vec("output_norm.weight", HIDDEN)
    for l in range(LAYERS):
        p = f"blk.{l}."
        vec(p + "attn_norm.weight", HIDDEN)
        vec(p + "attn_q_norm.weight", HIDDEN)
        vec(p + "attn_k_norm.weight", HIDDEN)
        vec(p + "ffn_norm.weight", HIDDEN)
        for t in ("q", "k", "v", "output"):
            mat(p + f"attn_{t}.weight", HIDDEN, HIDDEN)
        w.add_tensor(p + "ffn_gate_inp.weight", rng.standard_normal((EXPERTS, HIDDEN), dtype=np.float32) * 0.02)
        mat(p + "ffn_gate_exps.weight", EXPERTS, EXPERT_FFN, HIDDEN)
        mat(p + "ffn_up_exps.weight", EXPERTS, EXPERT_FFN, HIDDEN)
        mat(p + "ffn_down_exps.weight", EXPERTS, HIDDEN, EXPERT_FFN)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
