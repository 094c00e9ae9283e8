"""A kernel's family from its full name, shared by the profile summaries (`ncu-summary.py`,
`gaps.py`): launches of one kernel at other template arguments, parameters or CubeCL variants
count as one; and which kernels are attention and which matrix products (`gaps.py`,
`products.py`)."""
import re


def family(name, width=90):
    # Strip template arguments and parameters: the kernel's own name is what tells them apart.
    name = re.sub(r"\(.*", "", name)
    name = re.sub(r"<.*", "", name)
    if name.startswith("void "):
        name = name[5:]
    # CubeCL kernels carry a hash suffix per variant; keep the kind.
    name = re.sub(r"_[0-9a-f]{8,}$", "", name)
    return name[:width]


def is_attention(name):
    # cuDNN's (`..._sdpa_...`), the flash kernels (`flash_attention...`) and PyTorch's
    # memory-efficient one (`fmha_cutlass...`, built on CUTLASS but not a product).
    return "sdpa" in name or "attention" in name or "fmha" in name


def is_product(name):
    # cuBLAS's Hopper kernels (`nvjet_...`) and its CUTLASS ones; ask `is_attention` first.
    return name.startswith("nvjet") or "cutlass" in name or "gemm" in name.lower()
