"""The CPU's multiply-accumulate ceiling: fp32 and int8 GEMM rates measured, next to the ISA × clock × cores peak.

Run:  python benchmarks/cpu_peak.py [--size 2048] [--repeats 20]
fp32: numpy (its BLAS) and torch square GEMMs. int8: onnxruntime's MatMulInteger (u8 × s8 → s32, the VNNI kernel
its dynamic int8 path runs). The theoretical peak uses the base clock (the TSC rate in /proc/cpuinfo) and per-core
rates from the ISA: with AVX-512 on AMD Zen 4 two 256-bit FMA pipes give 16 fp32 MAC/cycle and VPDPBUSD
64 int8 MAC/cycle; Intel cores with two 512-bit FMA units give 32 and 128, AMX tiles far more. Boost clocks
and a busy machine move the measured numbers either way, so the 1-minute load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu() -> dict:
    """Model, base clock (GHz) and flags from /proc/cpuinfo; cores this process may use."""
    info = {"model": "unknown", "ghz": None, "flags": []}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name":
            info["model"] = value.strip()
        elif key == "flags":
            info["flags"] = value.split()
        elif key == "bogomips" and info["ghz"] is None:
            info["ghz"] = round(float(value) / 2000, 3)  # BogoMIPS is twice the TSC rate on x86
    info["cores"] = len(os.sched_getaffinity(0))
    return info


def theoretical(info: dict) -> dict:
    """Peak MAC/s from ISA × base clock × cores (per-core rates in the module docstring)."""
    flags, amd = set(info["flags"]), "AMD" in info["model"]
    if "avx512f" in flags:
        fp32, int8 = (16, 64) if amd else (32, 128)
    else:
        fp32, int8 = 16, 32
    if "avx512_vnni" not in flags and "avx_vnni" not in flags:
        int8 = fp32 * 2  # no VNNI: u8×s8 via VPMADDUBSW + VPMADDWD, about twice fp32 in practice
    scale = (info["ghz"] or 0) * 1e9 * info["cores"]
    return {
        "fp32_gmac_s": fp32 * scale / 1e9,
        "int8_gmac_s": int8 * scale / 1e9,
        "per_core_cycle": {"fp32": fp32, "int8": int8},
    }


def timed(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def int8_model(n: int, path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).integers(-127, 127, (n, n), dtype=np.int8), "W")
    node = helper.make_node("MatMulInteger", ["A", "W"], ["Y"])
    graph = helper.make_graph(
        [node],
        "mm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [n, n])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    n, macs = args.size, args.size**3
    info = cpu()
    load = [round(os.getloadavg()[0], 2)]
    measured = {}
    a, b = np.random.default_rng(0).standard_normal((2, n, n), dtype=np.float32)
    measured["numpy fp32"] = macs / timed(lambda: a @ b, args.repeats) / 1e9
    try:
        import torch

        torch.set_num_threads(info["cores"])
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        measured["torch fp32"] = macs / timed(lambda: ta @ tb, args.repeats) / 1e9
    except ImportError:
        pass
    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "mm.onnx"
            int8_model(n, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = info["cores"]
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {"A": np.random.default_rng(1).integers(0, 255, (n, n), dtype=np.uint8)}
            measured["onnxruntime int8 MatMulInteger"] = (
                macs / timed(lambda: session.run(None, feed), args.repeats) / 1e9
            )
    except ImportError:
        pass
    load.append(round(os.getloadavg()[0], 2))
    result = {
        "cpu": info["model"],
        "base_ghz": info["ghz"],
        "cores": info["cores"],
        "theoretical": theoretical(info),
        "measured_gmac_s": {k: round(v, 1) for k, v in measured.items()},
        "load_1min": load,
        "size": n,
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
