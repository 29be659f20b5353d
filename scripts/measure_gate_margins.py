#!/usr/bin/env python
"""How far the gates' numbers move on other machines: the margins of tests/test_gates.py, measured.

Two parts; each condition runs as a fresh process with its own environment:

--tracking   the reference model tracking the demo's 4 held-out clips (inference only),
             under every setting that should not change the result but changes the
             arithmetic: 1 and 2 threads; the torch, ONNX Runtime and OpenVINO
             engines; estimator batches of 8 instead of 64; and another CPU's
             instruction set, emulated by capping the vector ISA of torch
             (ATEN_CPU_CAPABILITY=default), oneDNN (ONEDNN_MAX_CPU_ISA=AVX: no FMA, no
             AVX2) and OpenCV (OPENCV_CPU_DISABLE). Prints mAP and MOTA of each and
             the largest deviation from the default (auto engine, 2 threads).

--training   the reduced training of the gate (configs/synthetic/tiny.yaml, --steps
             steps in 4 periods, validated with ground-truth boxes on held-out clips)
             for several seeds, with 1 or 2 training threads and with the emulated ISA.
             Prints the loss of the first and last period, their ratio and the
             held-out PCKh of each run, and their minimum.

    python scripts/measure_gate_margins.py --tracking
    python scripts/measure_gate_margins.py --training --seeds 0 1 2

Ends with a `RESULT` line per part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Another CPU's arithmetic, emulated here: the widest vector paths off in torch, oneDNN and OpenCV.
OTHER_ISA = {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX",
             "OPENCV_CPU_DISABLE": "AVX512_SKX,AVX2,FMA3,AVX,POPCNT,SSE4_2,SSE4_1"}
# name -> (environment, pipeline overrides)
TRACKING = {
    "auto engine, 2 threads (the default)": ({"OMP_NUM_THREADS": "2"}, []),
    "auto engine, 1 thread": ({"OMP_NUM_THREADS": "1"}, []),
    "torch, 2 threads": ({"OMP_NUM_THREADS": "2"}, ["estimator.engine=torch"]),
    "torch, 1 thread": ({"OMP_NUM_THREADS": "1"}, ["estimator.engine=torch"]),
    "onnxruntime, 2 threads": ({"OMP_NUM_THREADS": "2"}, ["estimator.engine=onnxruntime"]),
    "onnxruntime, 1 thread": ({"OMP_NUM_THREADS": "1"}, ["estimator.engine=onnxruntime"]),
    "openvino, batches of 8": ({"OMP_NUM_THREADS": "2"}, ["estimator.engine=openvino", "estimator.max_batch=8"]),
    "torch, batches of 8": ({"OMP_NUM_THREADS": "2"}, ["estimator.engine=torch", "estimator.max_batch=8"]),
    "torch, emulated other ISA": ({"OMP_NUM_THREADS": "2", **OTHER_ISA}, ["estimator.engine=torch"]),
    "openvino, emulated other ISA": ({"OMP_NUM_THREADS": "2", **OTHER_ISA}, ["estimator.engine=openvino"]),
}


def one_tracking(overrides: list[str]) -> dict:
    """mAP and MOTA of the reference model on the demo's clips with pipeline `overrides` (this process)."""
    from hrtrack.demo import DemoSettings, cache_root, prepare_data, prepare_model, track_clips
    from hrtrack.evaluation.posetrack import evaluate_folders

    settings = DemoSettings()
    root = cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    data = prepare_data(settings, root, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        track_clips(data, prepare_model(settings, root), Path(tmp), overrides=tuple(overrides), progress=False)
        s = evaluate_folders(data / "annotations" / "posetrack17" / "val", Path(tmp), progress=False).summary()
    return {"mAP": s["mAP"]["Total"], "MOTA": s["MOTA"]["Total"], "switches": s["counts"]["num_switches"]}


def one_training(steps: int, seed: int, workers: int, held_out: Path) -> dict:
    """Loss of the first and last period and held-out PCKh of the reduced training (this process)."""
    import csv

    from hrtrack.cli import main as hrtrack

    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "--config", "configs/synthetic/tiny.yaml", "--data", str(held_out), "--out", tmp,
                "--device", "cpu", "--no-progress", "--set", f"train.steps={steps}", "--set", "train.epochs=4",
                "--set", "train.val_every=4", "--set", f"train.seed={seed}", "--set", f"train.workers={workers}",
                "--set", "data.val_split=val"]
        if hrtrack(argv) != 0:
            raise SystemExit("training failed")
        with open(Path(tmp) / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    return {"first_loss": first, "last_loss": last, "ratio": first / last, "PCKh": float(rows[-1]["PCKh"])}


def held_out_people(cache: Path) -> Path:
    """The training gate's held-out clips (tests/conftest.py's GATE_HELD_OUT), generated once."""
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import GATE_HELD_OUT

    from hrtrack.synthetic import generate_dataset

    root = cache / "gate-held-out-{videos}x{frames}-seed{seed}".format(**GATE_HELD_OUT)
    if not (root / "synthetic.json").is_file():
        generate_dataset(root, splits=("val",), progress=False, **GATE_HELD_OUT)
    return root


def run_child(env: dict, args: list[str]) -> dict:
    full = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **env}
    out = subprocess.run([sys.executable, __file__, *args], env=full, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracking", action="store_true", help="the tracking gate's conditions")
    parser.add_argument("--training", action="store_true", help="the training gate's conditions")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--steps", type=int, default=400, help="reduced training steps (default %(default)s)")
    parser.add_argument("--child-tracking", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--child-training", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child_tracking is not None:
        print(json.dumps(one_tracking(args.child_tracking)))
        return
    if args.child_training is not None:
        steps, seed, workers, held_out = args.child_training
        print(json.dumps(one_training(int(steps), int(seed), int(workers), Path(held_out))))
        return
    if not (args.tracking or args.training):
        parser.error("give --tracking and/or --training")
    from hrtrack.fileio import cache_root
    from hrtrack.models.reference import reference_model

    if args.tracking:
        print(f"tracking the demo's clips with the {reference_model().describe()}", flush=True)
        rows = {}
        for name, (env, overrides) in TRACKING.items():
            rows[name] = run_child(env, ["--child-tracking", *overrides])
            r = rows[name]
            print(f"  {name}: mAP {r['mAP']:.2f} MOTA {r['MOTA']:.2f} ID switches {r['switches']}", flush=True)
        base = next(iter(rows.values()))
        d_map = max(abs(r["mAP"] - base["mAP"]) for r in rows.values())
        d_mota = max(abs(r["MOTA"] - base["MOTA"]) for r in rows.values())
        print(f"RESULT part=tracking mAP={base['mAP']:.2f} MOTA={base['MOTA']:.2f} max_dmAP={d_map:.2f} "
              f"max_dMOTA={d_mota:.2f} conditions={len(rows)}")
    if args.training:
        cache = cache_root()
        cache.mkdir(parents=True, exist_ok=True)
        held_out = held_out_people(cache)
        conditions = [(f"seed {s}, 1 training thread beside the rendering worker", {}, s, 1) for s in args.seeds]
        conditions += [("seed 0, 2 threads, rendering inline", {"OMP_NUM_THREADS": "2"}, 0, 0),
                       ("seed 0, emulated other ISA", OTHER_ISA, 0, 1)]
        rows = {}
        for name, env, seed, workers in conditions:
            rows[name] = run_child(env, ["--child-training", str(args.steps), str(seed), str(workers), str(held_out)])
            r = rows[name]
            print(f"  {name}: loss {r['first_loss']:.3e} -> {r['last_loss']:.3e} (x{r['ratio']:.2f}), "
                  f"held-out PCKh {r['PCKh']:.1f}", flush=True)
        print(f"RESULT part=training steps={args.steps} min_ratio={min(r['ratio'] for r in rows.values()):.2f} "
              f"min_PCKh={min(r['PCKh'] for r in rows.values()):.1f} "
              f"max_PCKh={max(r['PCKh'] for r in rows.values()):.1f} runs={len(rows)}")


if __name__ == "__main__":
    main()
