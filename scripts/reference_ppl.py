#!/usr/bin/env python3
"""Perplexity of a Hugging Face Llama folder on the first N tokens of a text, by transformers.

Usage:  python3 scripts/reference_ppl.py MODEL_DIR TEXT_FILE N_TOKENS > result.json
Needs:  torch, transformers, tokenizers.

The text is tokenized with the folder's tokenizer.json (no special tokens added), cut to its
first N tokens, and run in one forward pass in f32 on the CPU with eager attention. The
perplexity is exp of the mean negative log-likelihood of the N-1 next-token predictions.
This is the expected value of mss-models' SmolLM2 perplexity test.
"""
import json
import math
import os
import sys

import tokenizers
import torch
import transformers
from transformers import LlamaForCausalLM


def main(model_dir, text_file, n):
    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    text = open(text_file, encoding="utf-8").read()
    ids = tok.encode(text, add_special_tokens=False).ids[:n]
    dtype_arg = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="eager",
                                             **{dtype_arg: torch.float32}).eval()
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x).logits[0].double()
    nll = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="mean").item()
    print(json.dumps({
        "text": os.path.basename(text_file),
        "tokens": len(ids),
        "first_ids": ids[:16],
        "mean_nll": nll,
        "perplexity": math.exp(nll),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "dtype": "float32",
        "script": "scripts/reference_ppl.py",
    }, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
