"""Whether tuning cuBLAS's choice of kernel would pay for a 7B layer's products: for each
product shape and weight layout, PyTorch's default product (cuBLAS's heuristic) against every
algorithm cuBLASLt's heuristic offers (up to 32), each timed back to back (the launch gaps a
prefill has too) with CUDA events. `mss` calls cuBLAS's heuristic today (docs/decisions.md §32):
a clear win here would be worth tuning per shape at run time, a tie would not.

    python3 scripts/gpu/gemm-tuning.py [--tokens 1024] [--reps 20] [--algos 32]
"""

import argparse
import ctypes
import glob
import os

import torch

HIDDEN, FF = 4096, 11008
# cuBLAS's and CUDA's enumerations (cublasLt.h, library_types.h).
COMPUTE_32F, R_32F, R_16BF = 68, 0, 14
DESC_TRANSA, DESC_TRANSB = 3, 4
PREF_MAX_WORKSPACE = 1
OP_N, OP_T = 0, 1
ALGO_ID, ALGO_TILE, ALGO_SPLITK, ALGO_STAGES = 0, 1, 2, 6
WORKSPACE = 32 << 20


class HeuristicResult(ctypes.Structure):
    # cublasLtMatmulHeuristicResult_t: the algorithm (8 words), its workspace, a status, waves.
    _fields_ = [
        ("algo", ctypes.c_uint64 * 8),
        ("workspace", ctypes.c_size_t),
        ("state", ctypes.c_int),
        ("waves", ctypes.c_float),
        ("reserved", ctypes.c_int * 4),
    ]


def load_cublaslt():
    for name in ["libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"]:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    roots = [os.path.dirname(p) for p in __import__("nvidia").__path__]
    for path in glob.glob(os.path.join(roots[0], "nvidia", "**", "libcublasLt.so*"), recursive=True):
        return ctypes.CDLL(path)
    raise SystemExit("libcublasLt not found")


def check(status, what):
    if status != 0:
        raise RuntimeError(f"{what}: cuBLAS status {status}")


def timed(fn, reps):
    """Mean microseconds per call of `reps` calls back to back, after a warm-up; median of 5."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(5):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / reps)
    return sorted(samples)[2]


class Lt:
    def __init__(self, requested):
        self.requested = requested
        self.lib = load_cublaslt()
        self.handle = ctypes.c_void_p()
        check(self.lib.cublasLtCreate(ctypes.byref(self.handle)), "cublasLtCreate")
        self.workspace = torch.empty(WORKSPACE, dtype=torch.uint8, device="cuda")

    def layout(self, rows, cols, ld):
        out = ctypes.c_void_p()
        check(
            self.lib.cublasLtMatrixLayoutCreate(
                ctypes.byref(out), R_16BF, ctypes.c_uint64(rows), ctypes.c_uint64(cols),
                ctypes.c_int64(ld)),
            "layout",
        )
        return out

    def product(self, x, w, layout):
        """Every heuristic algorithm for row-major `y = x W` (`W` as `layout` stores it), as
        (description, workspace, timing function)."""
        m, k = x.shape
        n = w.shape[1] if layout == "in_out" else w.shape[0]
        y = torch.empty(m, n, dtype=torch.bfloat16, device="cuda")
        # Row-major y = x W is column-major yᵀ (n × m) = Wᵀ xᵀ: A is the weight, B the input.
        desc = ctypes.c_void_p()
        check(self.lib.cublasLtMatmulDescCreate(ctypes.byref(desc), COMPUTE_32F, R_32F), "desc")
        trans_a = ctypes.c_int(OP_N if layout == "in_out" else OP_T)
        trans_b = ctypes.c_int(OP_N)
        for attr, value in [(DESC_TRANSA, trans_a), (DESC_TRANSB, trans_b)]:
            check(self.lib.cublasLtMatmulDescSetAttribute(desc, attr, ctypes.byref(value), 4), "trans")
        a = self.layout(n, k, n) if layout == "in_out" else self.layout(k, n, k)
        b = self.layout(k, m, k)
        c = self.layout(n, m, n)
        pref = ctypes.c_void_p()
        check(self.lib.cublasLtMatmulPreferenceCreate(ctypes.byref(pref)), "pref")
        ws = ctypes.c_uint64(WORKSPACE)
        check(self.lib.cublasLtMatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE, ctypes.byref(ws), 8), "ws")
        results = (HeuristicResult * self.requested)()
        count = ctypes.c_int()
        check(
            self.lib.cublasLtMatmulAlgoGetHeuristic(
                self.handle, desc, a, b, c, c, pref, self.requested, results, ctypes.byref(count)),
            "heuristic",
        )
        alpha, beta = ctypes.c_float(1.0), ctypes.c_float(0.0)
        stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)
        out = []
        for i in range(count.value):
            r = results[i]
            if r.state != 0:
                continue
            algo = ctypes.byref(r.algo)

            def run(algo=algo, r=r):
                check(
                    self.lib.cublasLtMatmul(
                        self.handle, desc, ctypes.byref(alpha), ctypes.c_void_p(w.data_ptr()), a,
                        ctypes.c_void_p(x.data_ptr()), b, ctypes.byref(beta),
                        ctypes.c_void_p(y.data_ptr()), c, ctypes.c_void_p(y.data_ptr()), c, algo,
                        ctypes.c_void_p(self.workspace.data_ptr()), ctypes.c_size_t(r.workspace),
                        stream),
                    "matmul",
                )

            fields = []
            for name, attr in [("id", ALGO_ID), ("tile", ALGO_TILE), ("splitk", ALGO_SPLITK), ("stages", ALGO_STAGES)]:
                value, written = ctypes.c_int32(), ctypes.c_size_t()
                self.lib.cublasLtMatmulAlgoConfigGetAttribute(algo, attr, ctypes.byref(value), 4, ctypes.byref(written))
                fields.append(f"{name} {value.value}")
            out.append((f"#{i} " + " ".join(fields), r.workspace, run, y))
        return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--algos", type=int, default=32)
    args = parser.parse_args()
    m = args.tokens
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "tokens", m)
    lt = Lt(args.algos)
    shapes = {"q/k/v/o": (HIDDEN, HIDDEN), "gate/up": (HIDDEN, FF), "down": (FF, HIDDEN)}
    saving = 0.0
    for name, (k, n) in shapes.items():
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        for layout in ["in_out", "out_in"]:
            shape = (k, n) if layout == "in_out" else (n, k)
            w = torch.randn(*shape, device="cuda", dtype=torch.bfloat16) * k**-0.5
            default = (lambda: x @ w) if layout == "in_out" else (lambda: torch.nn.functional.linear(x, w))
            reference = default()
            base = timed(default, args.reps)
            flop = 2 * m * k * n
            print(f"{name:8} {layout:6} PyTorch's default {base:7.1f} us {flop / base / 1e6:5.0f} TFLOP/s")
            rows = []
            for what, workspace, run, y in lt.product(x, w, layout):
                try:
                    run()
                    torch.cuda.synchronize()
                except RuntimeError as e:
                    print(f"    {what}: {e}")
                    continue
                err = (y.float() - reference.float()).abs().max().item()
                rows.append((timed(run, args.reps), what, workspace, err))
            rows.sort()
            for us, what, workspace, err in rows[:5]:
                print(f"    {us:7.1f} us {flop / us / 1e6:5.0f} TFLOP/s  {what}  workspace {workspace >> 10} KiB  max |diff| {err:.1e}")
            if rows:
                print(f"    best of {len(rows)}: {rows[0][0] / base:.3f}× the default; the heuristic's first: "
                      + next((f"{us:.1f} us" for us, what, _, _ in rows if what.startswith("#0 ")), "?"))
                if layout == ("out_in" if name == "gate/up" else "in_out"):
                    per_layer = {"q/k/v/o": 4, "gate/up": 2, "down": 1}[name]
                    saving += per_layer * max(0.0, base - rows[0][0])
    print(f"a 7B layer-step in mss's layouts would save {saving:.1f} us with the best algorithm of each shape")


if __name__ == "__main__":
    main()
