#!/usr/bin/env python
"""Throughput of the HRNet estimator network: crops/s, folded vs unfolded, and GFLOP/s.

For each model (default W32-256x192 and W48-384x288) and batch size (1, 8, 32) it
times the plain eager NCHW model (the baseline), the BN-folded model and the
folded channels_last model (the estimator's CPU default), with torch.inference_mode.
It measures the machine's own peak with a large 3x3 convolution and a large matmul
and prints the fraction of it each variant achieves. With CUDA it also compares
fp32 with fp16/bf16 autocast at batch 32. Times are the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import time

import torch

from hrtrack.models import build_pose_model, fold_batchnorm, load_model_config
from hrtrack.models.complexity import count_macs


def best_time(fn, repeats: int, sync) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def measure_peak(device: torch.device, repeats: int, sync) -> tuple[float, float]:
    """GFLOP/s of a 3x3 convolution (128->128 ch, 4x128x96) and a 2048^2 matmul, fp32."""
    conv = torch.nn.Conv2d(128, 128, 3, padding=1, bias=False).to(device).eval()
    x = torch.randn(4, 128, 128, 96, device=device)
    a = torch.randn(2048, 2048, device=device)
    with torch.inference_mode():
        t_conv = best_time(lambda: conv(x), repeats, sync)
        t_mm = best_time(lambda: a @ a, repeats, sync)
    conv_flops = 2 * 4 * 128 * 96 * 128 * 128 * 9
    return conv_flops / t_conv / 1e9, 2 * 2048 ** 3 / t_mm / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["w32_256x192", "w48_384x288"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    conv_peak, mm_peak = measure_peak(device, args.repeats, sync)
    peak = max(conv_peak, mm_peak)
    print(f"device {device}, {torch.get_num_threads()} threads; measured peak: 3x3 conv {conv_peak:.1f} "
          f"GFLOP/s, matmul {mm_peak:.1f} GFLOP/s")
    print(f"{'model':<13}{'batch':>6}{'variant':>22}{'crops/s':>10}{'GFLOP/s':>9}{'of peak':>9}{'speedup':>9}")
    result = {}
    for name in args.models:
        cfg = load_model_config(name)
        torch.manual_seed(0)
        plain = build_pose_model(cfg).eval().to(device)
        folded = fold_batchnorm(plain)
        folded_cl = fold_batchnorm(plain).to(memory_format=torch.channels_last)
        flops = 2 * count_macs(build_pose_model(cfg), cfg.input_size)
        w, h = cfg.input_size
        for batch in args.batches:
            x = torch.randn(batch, 3, h, w, device=device)
            x_cl = x.contiguous(memory_format=torch.channels_last)
            variants = [("eager NCHW unfolded", plain, x, None), ("folded NCHW", folded, x, None),
                        ("folded channels_last", folded_cl, x_cl, None)]
            if device.type == "cuda" and batch == max(args.batches):
                variants += [("folded cl fp16", folded_cl, x_cl, torch.float16),
                             ("folded cl bf16", folded_cl, x_cl, torch.bfloat16)]
            base = None
            for label, model, inp, dtype in variants:
                def run(model=model, inp=inp, dtype=dtype):
                    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        model(inp)
                t = best_time(run, args.repeats, sync)
                rate = batch / t
                base = base or rate
                gflops = flops * batch / t / 1e9
                print(f"{name:<13}{batch:>6}{label:>22}{rate:>10.2f}{gflops:>9.1f}{gflops / peak:>9.0%}"
                      f"{rate / base:>8.2f}x")
                key = f"{name}_b{batch}_{label.replace(' ', '_')}"
                result[key] = rate
            result[f"{name}_b{batch}_speedup"] = result[f"{name}_b{batch}_folded_channels_last"] / base
    fields = " ".join(f"{k}={v:.3f}" for k, v in result.items() if k.endswith("speedup"))
    print(f"RESULT peak_gflops={peak:.1f} {fields}")


if __name__ == "__main__":
    main()
