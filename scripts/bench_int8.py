#!/usr/bin/env python
"""int8 static quantisation of the reference synthetic HRNet: its speed and its PCKh on held-out synthetic people.

Takes the demo's synthetic data (made and cached like `hrtrack demo`; --quick
for the reduced demo's) and the reference synthetic model (reference/; --train:
a small HRNet trained here by the demo's recipe), exports it with `hrtrack export`, once as
fp32 and once as int8 (`--int8 --calibration DATA`: ranges measured on crops of
a few freshly generated training clips), and scores each with `hrtrack test` on the held-out val split
(PCKh@0.5, ground-truth boxes, flip test), run by torch, onnxruntime and openvino.
Then it times each variant on batches of val crops, interleaved, with the same
threads. int8 is a choice, never a default: this script is how to judge it.

Ends with one `RESULT` line per variant: `RESULT variant=... PCKh=... crops_per_s=... speedup=...`
(speed-up over the torch engine, the median of per-round ratios).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the reduced demo's data (2 clips of 30 frames)")
    parser.add_argument("--train", action="store_true",
                        help="a model trained here by the demo's recipe instead of the reference model")
    parser.add_argument("--batch", type=int, default=8, help="crops per timed call (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=20, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--crops", type=int, default=256, help="calibration crops (default: %(default)s)")
    args = parser.parse_args()

    import numpy as np
    import torch

    from hrtrack.cli import main as hrtrack
    from hrtrack.datasets.topdown import TopDownDataset, open_split
    from hrtrack.demo import DemoSettings, cache_root, prepare_data, prepare_model
    from hrtrack.models import build_engine, build_pose_model, load_model_config, load_pose_weights
    from hrtrack.models.engines import installed_engines
    from hrtrack.synthetic import generate_dataset
    from hrtrack.training.run import resolve_train_config, test_run

    settings = DemoSettings.quick(args.train) if args.quick else DemoSettings(train=args.train)
    root = cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(settings, root)
    demo_model = prepare_model(settings, root)
    weights, model_yaml = demo_model.weights, demo_model.model_yaml
    model_cfg = load_model_config(model_yaml)
    threads = torch.get_num_threads()
    engines = [e for e in ("onnxruntime", "openvino") if e in installed_engines()]
    print(f"{threads} threads; {demo_model.description}, input {model_cfg.input_size}")
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        # The demo trains on a stream and keeps no training clips: calibrate on a few fresh ones.
        calibration = Path(tmp) / "calibration"
        generate_dataset(calibration, videos=4, frames=16, size=settings.size, people=settings.people,
                         splits=("train",), seed=settings.seed + 1, progress=False)
        common = ["--pose-weights", str(weights), "--config", str(model_yaml)]
        assert hrtrack(["export", *common, "--out", str(fp32)]) == 0
        assert hrtrack(["export", *common, "--out", str(int8), "--int8", "--calibration", str(calibration),
                        "--calibration-crops", str(args.crops)]) == 0
        variants = {"torch fp32": (weights, "torch")}
        for engine in engines:
            variants[f"{engine} fp32"] = (fp32, engine)
            variants[f"{engine} int8"] = (int8, engine)

        cfg, test_model_cfg, fmt = resolve_train_config(settings.train_config, [], data)
        pckh = {}
        for label, (path, engine) in variants.items():
            with contextlib.redirect_stdout(io.StringIO()):
                metrics = test_run(cfg, test_model_cfg, fmt, path, device="cpu", engine=engine, progress=False)
            pckh[label] = metrics["PCKh"]
            print(f"{label:<18} PCKh {pckh[label]:.2f}", flush=True)

        w, h = model_cfg.input_size
        split = open_split(model_cfg.layout, data, "val", aspect_ratio=w / h, num_joints=model_cfg.num_joints)
        val = TopDownDataset(split.samples, model_cfg.codec, model_cfg.joint_layout, train=False)
        picks = np.linspace(0, len(val) - 1, args.batch).round().astype(int)
        x = np.stack([val[int(i)][0].numpy() for i in picks])
        model = build_pose_model(model_cfg)
        load_pose_weights(model, weights)
        runs = {label: build_engine(model if engine == "torch" else path, engine, model_cfg.input_size, threads,
                                    device="cpu") for label, (path, engine) in variants.items()}
        times: dict[str, list[float]] = {label: [] for label in runs}
        for run in runs.values():
            run(x)
        for _ in range(args.repeats):
            for label, run in runs.items():
                t = time.perf_counter()
                run(x)
                times[label].append(time.perf_counter() - t)
    base = times["torch fp32"]
    print(f"{'variant':<18}{'PCKh':>7}{'crops/s':>9}{'vs torch':>10}")
    lines = []
    for label, ts in times.items():
        rate = args.batch / statistics.median(ts)
        speedup = statistics.median(b / t for b, t in zip(base, ts))
        print(f"{label:<18}{pckh[label]:>7.2f}{rate:>9.1f}{speedup:>9.2f}x")
        lines.append(f"RESULT variant={label.replace(' ', '_')} PCKh={pckh[label]:.2f} crops_per_s={rate:.1f} "
                     f"speedup={speedup:.2f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
