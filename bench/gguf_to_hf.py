#!/usr/bin/env python3
"""Writes a Hugging Face model directory (bf16 safetensors, config, tokenizer) dequantized from a GGUF with
transformers, for engines that read only HF checkpoints (vLLM); bench/serve_compare.py serves it with
vLLM and loom alike. Needs torch, transformers and gguf.

usage: bench/gguf_to_hf.py MODEL.gguf OUT_DIR"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out = sys.argv[1], sys.argv[2]
folder, name = os.path.split(os.path.abspath(gguf))
loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
# The loaded model counts as "GGUF-quantized", which save_pretrained refuses: copy its (already
# dequantized) weights into a plain model of the same config.
config = loaded.config
if hasattr(config, "quantization_config"):
    del config.quantization_config
model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
model.load_state_dict(loaded.state_dict())
model.save_pretrained(out)
AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
print(out)
