#!/usr/bin/env python3
"""Decoding speed of transformers' `generate` on the CPU, the yardstick for mss's `generate`.

Loads a Hugging Face model folder (by default mss's default model, SmolLM2-135M-Instruct, as
`cargo xtask fetch-model` converts it into .cache/models/) in f32, prefills the given prompt in
one forward pass, then decodes greedily for a fixed number of tokens with the KV cache, and
prints the prefill time and the decoding tokens/s of `model.generate` (greedy, exactly
`--new-tokens` tokens): (new tokens - 1) / (generate's time - the prefill's time). The prompt is encoded with the folder's
tokenizer.json through the `tokenizers` package (what mss's tokenizer reads), without special
tokens, so both sides see the same ids.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install torch transformers
    /tmp/venv/bin/python scripts/generate_speed.py --prompt-file long.txt --new-tokens 128

Compare with: cargo run --release --example generate -- --prompt-file long.txt \
    --max-new-tokens 128 (plus the pruner options of the run being compared).
"""
import argparse
import json
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default=".cache/models/SmolLM2-135M-Instruct")
    p.add_argument("--prompt-file", required=True)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = Tokenizer.from_file(f"{args.model}/tokenizer.json")
    text = open(args.prompt_file, encoding="utf-8").read()
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    input_ids = torch.tensor([ids])
    with torch.inference_mode():
        model(input_ids=input_ids[:, :16])  # warm-up
        start = time.perf_counter()
        model(input_ids=input_ids, use_cache=True, logits_to_keep=1)
        prefill_s = time.perf_counter() - start
        start = time.perf_counter()
        out = model.generate(input_ids, max_new_tokens=args.new_tokens,
                             min_new_tokens=args.new_tokens, do_sample=False)
        generate_s = time.perf_counter() - start
    new = out[0, len(ids):].tolist()
    decode_s = generate_s - prefill_s
    print(json.dumps({
        "prompt_tokens": len(ids),
        "prefill_s": round(prefill_s, 3),
        "generate_s": round(generate_s, 3),
        "new_tokens": len(new),
        "decode_tokens_per_s": round((len(new) - 1) / decode_s, 2),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
