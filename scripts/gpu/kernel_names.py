"""A kernel's family from its full name, shared by the profile summaries (`ncu-summary.py`,
`gaps.py`): launches of one kernel at other template arguments, parameters or CubeCL variants
count as one."""
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
