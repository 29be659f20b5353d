#!/usr/bin/env python
"""Every installed inference engine of the HRNet estimator side by side: crops/s and heatmap error.

The baseline is the official-layout network (`PoseHighResolutionNet`, the official
parameter names and module tree) run eagerly: BatchNorm unfolded, contiguous NCHW,
fp32, eval mode, torch.inference_mode. Beside it, each installed engine of
`hrtrack.models.build_engine` with its default settings (the ones the estimator
uses): torch (BN folded, channels_last), onnxruntime and openvino (the same network
exported to ONNX). Every variant runs the same input with the same thread count,
and the heatmaps are compared with the baseline's (max abs difference).

Repetitions are interleaved (A, B, C, A, B, C, ...), so load from other processes
falls on all variants alike; speed-ups are medians of per-round time ratios,
crops/s the median over rounds. The weights are seeded and calibrated like a
trained network's (He-initialised convolutions, BatchNorm statistics measured on
random crops, head scaled so heatmaps peak near 1), or --pose-weights.

--tune sweeps the engines' settings instead: ONNX Runtime's graph optimisation
level, intra-op threads and thread spinning; OpenVINO's LATENCY and THROUGHPUT
hints, stream counts and bf16. --int8 adds int8 static quantisation (QDQ,
calibrated on random crops) run by ONNX Runtime and OpenVINO; it is never the
default (its accuracy on the synthetic PCKh: scripts/bench_int8.py).

Ends with one `RESULT` line per engine, e.g.
`RESULT engine=onnxruntime w32_256x192_b8_crops_per_s=... w32_256x192_b8_speedup=... max_abs_diff=...`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from hrtrack.models import build_engine, build_pose_model, load_model_config, load_pose_weights
from hrtrack.models.calibrate import calibrate_like_trained
from hrtrack.models.engines import ORT_LEVELS, OnnxRuntimeEngine, OpenVinoEngine, installed_engines
from hrtrack.models.export import cached_onnx, quantize_int8

Run = Callable[[np.ndarray], np.ndarray]


def calibrated_model(name: str, seed: int) -> nn.Module:
    """A seeded network whose activations and heatmaps have a trained network's scale."""
    cfg = load_model_config(name)
    return calibrate_like_trained(build_pose_model(cfg), cfg.input_size, seed)


def official_eager(model: nn.Module) -> Run:
    """The baseline: the unfolded official-layout network, NCHW fp32, eval, inference mode."""
    model = model.eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()
    return run


def int8_file(model: nn.Module, input_size: tuple[int, int], folder: Path) -> Path:
    """The int8 static quantisation of the model, calibrated on random crops (speed only: the accuracy
    of int8 needs a trained network and real crops, scripts/bench_int8.py)."""
    w, h = input_size
    rng = np.random.default_rng(1)
    batches = (rng.standard_normal((4, 3, h, w), np.float32) for _ in range(8))
    return quantize_int8(cached_onnx(model, input_size), folder / "int8.onnx", batches)


def variants(model: nn.Module, input_size: tuple[int, int], threads: int, tune: bool, int8: bool,
             folder: Path) -> dict[str, Run]:
    out: dict[str, Run] = {"official eager": official_eager(model)}
    engines = installed_engines()
    if not tune:
        for name in engines:
            out[name] = build_engine(model, name, input_size, threads, device="cpu")
    else:
        out["torch"] = build_engine(model, "torch", input_size, threads, device="cpu")
        onnx = cached_onnx(model, input_size) if len(engines) > 1 else None
        if "onnxruntime" in engines:
            for level in ORT_LEVELS[1:]:
                for n in sorted({1, threads}):
                    for spin in (True, False):
                        out[f"ort {level} t{n}{' spin' if spin else ''}"] = OnnxRuntimeEngine(
                            onnx, input_size, threads=n, optimization=level, spinning=spin)
        if "openvino" in engines:
            out["ov LATENCY"] = OpenVinoEngine(onnx, input_size, threads=threads, hint="LATENCY")
            for streams in sorted({1, 2, threads}):
                out[f"ov THROUGHPUT s{streams}"] = OpenVinoEngine(onnx, input_size, threads=threads,
                                                                 hint="THROUGHPUT", streams=streams)
            out["ov LATENCY bf16"] = OpenVinoEngine(onnx, input_size, threads=threads, hint="LATENCY",
                                                    precision="bf16")
    if int8:
        path = int8_file(model, input_size, folder)
        for name in ("onnxruntime", "openvino"):
            if name in engines:
                out[f"{name} int8"] = build_engine(path, name, input_size, threads)
    return out


def measure(runs: dict[str, Run], x: np.ndarray, repeats: int) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Interleaved timings (seconds per round, per variant) and max abs difference from the first variant."""
    reference = None
    diffs = {}
    for name, run in runs.items():  # also the warm-up call
        y = run(x)
        reference = y if reference is None else reference
        diffs[name] = float(np.abs(y - reference).max())
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t = time.perf_counter()
            run(x)
            times[name].append(time.perf_counter() - t)
    return times, diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["w32_256x192"],
                        help="model configs (default: %(default)s; the docs' table adds w48_384x288)")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8], help="batch sizes (default: 1 8)")
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds per batch (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="threads for every engine (0: torch's default)")
    parser.add_argument("--pose-weights", type=Path, help="real weights instead of the calibrated seeded ones "
                                                          "(one model only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true", help="sweep the ONNX Runtime and OpenVINO settings")
    parser.add_argument("--int8", action="store_true", help="add ONNX Runtime int8 static quantisation")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"{threads} threads; engines installed: {', '.join(installed_engines())}")
    print(f"{'model':<13}{'batch':>6}  {'variant':<26}{'crops/s':>9}{'best':>9}{'vs eager':>10}{'max |diff|':>12}")
    result: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            if args.pose_weights:
                model = build_pose_model(name)
                load_pose_weights(model, args.pose_weights)
            else:
                model = calibrated_model(name, args.seed)
            input_size = load_model_config(name).input_size
            runs = variants(model.eval(), input_size, threads, args.tune, args.int8, Path(tmp))
            w, h = input_size
            rng = np.random.default_rng(args.seed)
            for batch in args.batches:
                x = rng.standard_normal((batch, 3, h, w), np.float32)
                times, diffs = measure(runs, x, args.repeats)
                base = times["official eager"]
                for label, ts in times.items():
                    rate = batch / statistics.median(ts)
                    speedup = statistics.median(b / t for b, t in zip(base, ts))
                    print(f"{name:<13}{batch:>6}  {label:<26}{rate:>9.2f}{batch / min(ts):>9.2f}{speedup:>9.2f}x"
                          f"{diffs[label]:>12.1e}", flush=True)
                    entry = result.setdefault(label, {})
                    entry[f"{name}_b{batch}_crops_per_s"] = rate
                    entry[f"{name}_b{batch}_speedup"] = speedup
                    entry["max_abs_diff"] = max(entry.get("max_abs_diff", 0.0), diffs[label])
    for label, entry in result.items():
        fields = " ".join(f"{k}={v:.3g}" for k, v in entry.items())
        print(f"RESULT engine={label.replace(' ', '_')} {fields}")


if __name__ == "__main__":
    main()
