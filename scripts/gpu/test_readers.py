"""Tests of the GPU scripts' readers, on lines as the tools write them (no GPU, no PyTorch):
`python3 -m unittest discover -s scripts/gpu -p 'test_*.py'` (CI runs it)."""
import csv
import importlib.util
import os
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import clocks  # noqa: E402
import gaps  # noqa: E402
import ratios  # noqa: E402

TORCH_LOG = """\
[   19.4s] llama2-7b chunked   streaming FM   C=1024 M=1024: TTFT 1.160 s (median of 2; warm-up 4.571 s)  peak 13.68 GiB  28252 tok/s  cache [1028]
[   41.0s] llama2-7b chunked   snapkv    IMDC C=1024 M=1024: TTFT 1.955 s (median of 2; warm-up 2.070 s)  peak 14.08 GiB  16762 tok/s  cache [1028]
"""
MSS_LOG = """\
| configuration | L | C | M | median s | tokens/s | runs (s) | pool peak over weights, GiB |
| --- | --- | --- | --- | --- | --- | --- | --- |
| streaming_llm FM | 32768 | 1024 | 1024 | 0.786 | 41669 | 0.772, 0.800 | 1.15 |
| snapkv IMDC | 32768 | 1024 | 1024 | 0.874 | 37488 | 0.876, 0.872 | 1.74 |
| h2o FM | 32768 | 1024 | 1024 | 0.900 | 36000 | 0.900, 0.900 | 1.15 |
"""


def write(folder, name, text):
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


class Ratios(unittest.TestCase):
    def test_each_implementation_names_its_configurations_alike(self):
        self.assertEqual(ratios.torch_times(TORCH_LOG),
                         {("streaming", "FM"): 1.160, ("snapkv", "IMDC"): 1.955})
        # h2o has no PyTorch counterpart in the yardstick: left out.
        self.assertEqual(ratios.mss_times(MSS_LOG),
                         {("streaming", "FM"): 0.786, ("snapkv", "IMDC"): 0.874})

    def test_rounds_pair_up_and_the_median_is_reported(self):
        slower = MSS_LOG.replace("| 0.786 |", "| 0.810 |")
        rounds = ratios.ratios([TORCH_LOG, TORCH_LOG, TORCH_LOG], [MSS_LOG, slower, MSS_LOG])
        self.assertEqual(rounds["streaming_llm FM"], [(0.786, 1.160), (0.810, 1.160), (0.786, 1.160)])
        row = next(line for line in ratios.report(rounds).splitlines()
                   if line.startswith("| streaming_llm FM"))
        self.assertIn(f"| {0.786 / 1.160:.3f} |", row)  # the median of 0.678, 0.698, 0.678
        self.assertIn("0.672 (0.8 / 1.19 s)", row)

    def test_the_sides_medians_make_their_own_ratio(self):
        slow_torch = TORCH_LOG.replace("TTFT 1.160", "TTFT 1.250")
        fast_mss = MSS_LOG.replace("| 0.786 |", "| 0.770 |")
        rounds = ratios.ratios([TORCH_LOG, slow_torch, slow_torch], [fast_mss, MSS_LOG, MSS_LOG])
        row = next(line for line in ratios.report(rounds).splitlines()
                   if line.startswith("| streaming_llm FM"))
        # Medians 0.786 and 1.250, though no round paired those two processes.
        self.assertIn(f"| 0.786 / 1.250 ({0.786 / 1.250:.3f}) |", row)

    def test_a_round_without_the_configuration_is_left_out(self):
        rounds = ratios.ratios([TORCH_LOG, ""], [MSS_LOG, MSS_LOG])
        self.assertEqual(len(rounds["snapkv IMDC"]), 1)

    def test_a_missing_log_leaves_its_round_out(self):
        import contextlib
        import io
        with tempfile.TemporaryDirectory() as folder:
            errors = io.StringIO()
            with contextlib.redirect_stderr(errors):
                text = ratios.read(os.path.join(folder, "skipped.log"))
            self.assertEqual(text, "")
            self.assertIn("left out", errors.getvalue())


class Clocks(unittest.TestCase):
    def test_samples_fall_into_the_steps_that_hold_them(self):
        with tempfile.TemporaryDirectory() as folder:
            import datetime
            base = datetime.datetime(2026, 12, 5, 7, 0, 0)
            lines = []
            for i, (mhz, watts) in enumerate([(1980, 300), (1980, 320), (1700, 690), (1650, 700)]):
                when = (base + datetime.timedelta(seconds=i)).strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
                lines.append(f"{when}, {mhz}, {watts}.50, {50 + i}")
            lines.append("not a sample")
            samples = write(folder, "s.csv", "\n".join(lines) + "\n")
            start = base.timestamp()
            steps = write(folder, "steps.txt",
                          f"torch start {start - 0.5}\ntorch end {start + 1.5}\n"
                          f"mss start {start + 1.5}\nmss end {start + 3.5}\nlost start {start + 4}\n")
            sampled = clocks.samples(samples)
            self.assertEqual(len(sampled), 4)
            stepped = clocks.steps(steps)
            self.assertEqual([s[0] for s in stepped], ["torch", "mss"])
            report = clocks.report(sampled, stepped).splitlines()
            self.assertIn("| torch | 2 | 2 | 1980 (1980–1980) | 310 (320) | 51 |", report)
            self.assertIn("| mss | 2 | 2 | 1675 (1650–1700) | 696 (700) | 53 |", report)


class Traces(unittest.TestCase):
    def test_the_host_alone_is_read_from_the_api_records(self):
        rows = [
            ["runtime", 100_000, 103_000, 7, 211, "cudaLaunchKernel"],
            ["kernel", 104_500, 151_750, 7, 7, "nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_NNT"],
            ["memset", 153_000, 154_000, 8, 7, "Memset (Device)"],
            ["driver", 150_000, 153_000, 9, 0, "cuLaunchKernel"],
            ["kernel", 156_000, 226_000, 9, 7, "fmha_cutlassF_bf16_aligned_64x64_rf_sm80"],
            ["driver", 226_500, 240_000, 10, 0, "cuMemcpyDtoHAsync"],
            ["kernel", 0, 0, 11, 7, "incomplete"],
        ]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "t.csv")
            with open(path, "w", newline="") as f:
                out = csv.writer(f)
                out.writerow(["kind", "start_ns", "end_ns", "correlation_id", "stream_or_cbid", "name"])
                out.writerows(rows)
            kernels, copies, launches = gaps.read_csv(path)
            self.assertEqual(len(kernels), 2)  # the incomplete record is left out
            self.assertEqual(copies, [(153_000, 154_000, "memset")])
            self.assertEqual(launches, {7: (100_000, 103_000), 9: (150_000, 153_000),
                                        10: (226_500, 240_000)})
            self.assertEqual(gaps.api_bounds(launches), (100_000, 240_000))
            self.assertIsNone(gaps.api_bounds({}))
        # PyTorch's attention on CUTLASS is not a product.
        self.assertEqual(gaps.family("fmha_cutlassF_bf16_aligned_64x64_rf_sm80")[:4], "fmha")
        self.assertEqual(gaps.family("cutlass_80_tensorop_bf16_s16816gemm"), "cuBLAS")

    def test_torch_profiler_events_become_the_trace_csv(self):
        # torch-trace.py imports PyTorch and the yardstick: stand-ins, as only `rows` is tested.
        sys.modules.setdefault("torch", types.ModuleType("torch"))
        baseline = types.ModuleType("torch_baseline")
        baseline.MODEL_CONFIGS = {}
        sys.modules.setdefault("torch_baseline", baseline)
        spec = importlib.util.spec_from_file_location("torch_trace", os.path.join(HERE, "torch-trace.py"))
        torch_trace = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(torch_trace)
        trace = {"traceEvents": [
            {"cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 100.0, "dur": 3.0,
             "args": {"correlation": 7, "cbid": 211}},
            {"cat": "kernel", "name": "nvjet_x", "ts": 104.5, "dur": 47.25,
             "args": {"correlation": 7, "stream": 7}},
            {"cat": "gpu_memset", "name": "Memset (Device)", "ts": 153.0, "dur": 1.0,
             "args": {"correlation": 8, "stream": 7}},
            {"cat": "cpu_op", "name": "aten::mm", "ts": 99.0, "dur": 10.0, "args": {}},
            {"ph": "M", "name": "process_name"},
        ]}
        self.assertEqual(list(torch_trace.rows(trace)), [
            ["runtime", 100_000, 103_000, 7, 211, "cudaLaunchKernel"],
            ["kernel", 104_500, 151_750, 7, 7, "nvjet_x"],
            ["memset", 153_000, 154_000, 8, 7, "Memset (Device)"],
        ])


if __name__ == "__main__":
    unittest.main()
