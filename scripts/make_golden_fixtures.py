#!/usr/bin/env python3
"""Golden fixtures for mss-models: tiny random-weight Llama / Mistral models and their logits,
computed by Hugging Face transformers (f32, eager attention, CPU).

Usage:  python3 scripts/make_golden_fixtures.py crates/mss-models/tests/fixtures [NAME ...]
        (only the named fixtures are written; every model is still built in order, so each
        fixture is the same whichever are asked for)
Needs:  torch, transformers, safetensors (the GPU box has them; nothing here needs a GPU).

Each fixture folder holds config.json + model.safetensors (a Hugging Face folder that
`Transformer::load` reads) and golden.safetensors with `input_ids` [1, T] (i64) and
`logits` [1, T, vocab] (f32). The fixtures:
- tiny_llama: GQA (4 query heads over 2 KV heads), untied LM head;
- tiny_llama_dynamic: as tiny_llama with dynamic-NTK RoPE and a sequence past
  max_position_embeddings, so the scaling is active;
- tiny_mistral: sliding window 8, shorter than the 40-token test sequence, tied embeddings;
- tiny_qwen2: Qwen2 (Llama with biases on the q/k/v projections, none on o), tied embeddings.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

SEQ = 40
COMMON = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    bos_token_id=1,
    eos_token_id=2,
)


def fixtures():
    yield "tiny_llama", LlamaForCausalLM, LlamaConfig(
        **COMMON, max_position_embeddings=128, rope_theta=10000.0, tie_word_embeddings=False)
    dynamic = {"rope_type": "dynamic", "factor": 2.0}
    if int(transformers.__version__.split(".")[0]) >= 5:
        rope = dict(rope_parameters=dict(dynamic, rope_theta=10000.0))
    else:
        rope = dict(rope_scaling=dynamic, rope_theta=10000.0)
    yield "tiny_llama_dynamic", LlamaForCausalLM, LlamaConfig(
        **COMMON, max_position_embeddings=24, tie_word_embeddings=False, **rope)
    yield "tiny_mistral", MistralForCausalLM, MistralConfig(
        **COMMON, max_position_embeddings=128, rope_theta=10000.0, sliding_window=8,
        tie_word_embeddings=True)
    yield "tiny_qwen2", Qwen2ForCausalLM, Qwen2Config(
        **COMMON, max_position_embeddings=128, rope_theta=10000.0, tie_word_embeddings=True,
        use_sliding_window=False)


def main(out_root, names):
    torch.manual_seed(0)
    for name, cls, config in fixtures():
        config._attn_implementation = "eager"
        model = cls(config).eval().to(torch.float32)
        # Give the norms non-trivial gains so that a wrong norm weight cannot pass.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("norm.weight"):
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                elif n.endswith("proj.bias"):
                    # Zero-initialised by transformers: make them count.
                    p.copy_(0.5 * torch.randn_like(p))
        if names and name not in names:
            continue
        out = os.path.join(out_root, name)
        os.makedirs(out, exist_ok=True)
        model.save_pretrained(out, safe_serialization=True)
        ids = torch.randint(0, config.vocab_size, (1, SEQ), generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            logits = model(input_ids=ids).logits.to(torch.float32)
        save_file({"input_ids": ids.contiguous(), "logits": logits.contiguous()},
                  os.path.join(out, "golden.safetensors"),
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__})
        for extra in ("generation_config.json",):
            path = os.path.join(out, extra)
            if os.path.exists(path):
                os.remove(path)
        print(name, tuple(logits.shape), json.dumps({"transformers": transformers.__version__}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
