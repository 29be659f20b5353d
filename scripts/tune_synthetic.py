#!/usr/bin/env python
"""Accuracy per CPU-second of small synthetic HRNets: how configs/synthetic/tiny.yaml was chosen.

Each variant is configs/synthetic/tiny.yaml with a few `--set` overrides. It trains
on the streamed synthetic source (`data.format: synthetic`) for the number of steps
that fit a fixed budget of CPU time (one torch thread, no loader workers, so CPU
time is the work done and does not depend on what else runs on the machine), then
is scored with ground-truth boxes on held-out clips (`hrtrack synth` val split with
the demo's size, length and people, but seed 1, so the demo's own held-out clips,
seed 0, play no part in choosing the config): PCKh@0.5 and PoseTrack frame mAP.

    python scripts/tune_synthetic.py --minutes 6                 # every variant
    python scripts/tune_synthetic.py --minutes 6 --variants reference base w32

The `reference` row is no training: the reference synthetic model that ships with
the code (reference/, the recipe trained far longer), scored on the same held-out
clips, so that every table shows where the variants stand against the model that
the demo and the benchmarks use.

The step cost is measured by two short pilot runs of each variant (rendering
included), as the cost of the longer one's extra steps. Variants that cost the
same per step (schedules, initialisation, learning rate) compare better at a
fixed length, without the pilot's timing noise: `--steps 600`. Ends with a
`RESULT` line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

BASE = "configs/synthetic/tiny.yaml"
TUNE_SEED = 1
# name -> (what changes, overrides of BASE)


def _model(width: int, size: tuple[int, int], stem: int) -> list[str]:
    w, h = size
    return [f"model.width={width}", f"model.input_size=[{w},{h}]", f"model.heatmap_size=[{w // 4},{h // 4}]",
            f"model.stem_channels={stem}"]


# name -> (what changes, overrides of BASE)
VARIANTS = {
    "reference": ("the reference synthetic model (no training here)", []),
    "base": ("the config as it stands", []),
    "w16_96x128_stem64": ("width 16, 96x128, stem 64 (the paper's stem)", _model(16, (96, 128), 64)),
    "w16_96x128_stem32": ("width 16, 96x128, stem 32", _model(16, (96, 128), 32)),
    "w16_96x128_stem16": ("width 16, 96x128, stem 16", _model(16, (96, 128), 16)),
    "w32_96x128_stem32": ("width 32, 96x128, stem 32", _model(32, (96, 128), 32)),
    "w16_128x160_stem32": ("width 16, 128x160, stem 32", _model(16, (128, 160), 32)),
    "w24_128x192_stem32": ("width 24, 128x192, stem 32", _model(24, (128, 192), 32)),
    "w24_128x192_stem16": ("width 24, 128x192, stem 16", _model(24, (128, 192), 16)),
    "w32_128x192_stem16": ("width 32, 128x192, stem 16", _model(32, (128, 192), 16)),
    "blocks2": ("2 basic blocks per branch", ["model.blocks_per_branch=2"]),
    "official_init": ("the official initialisation, N(0, 0.001)", ["train.weight_init=official"]),
    "official_codec": ("official codec (no DARK, no UDP)", ["model.dark=false", "model.udp=false"]),
    "multistep": ("lr x0.1 at 80% (multistep)", ["train.schedule=multistep", "train.epochs=5", "train.milestones=[4]"]),
    "lr1e-3": ("lr 1e-3", ["train.lr=0.001"]),
    "lr5e-3": ("lr 5e-3", ["train.lr=0.005"]),
    "batch32": ("batch 32", ["train.batch_size=32"]),
    "no_hidden": ("hidden joints left out of the loss", ["data.stream.supervise_hidden=false"]),
    "rot15": ("rotation 15 degrees", ["train.rotation_factor=15"]),
    "crops8": ("8 crops a frame, 2 clips a batch", ["data.stream.crops_per_frame=8"]),
    "crops4": ("4 crops a frame, 4 clips a batch, each for 8 steps", ["data.stream.crops_per_frame=4",
                                                                       "data.stream.clip_reuse=8"]),
    "crops1": ("1 crop a frame, 16 clips a batch, each for 32 steps", ["data.stream.crops_per_frame=1",
                                                                        "data.stream.clip_reuse=32"]),
    "sigma1.5": ("sigma 1.5", ["model.sigma=1.5"]),
    "bf16": ("bf16 autocast (CPU with AMX)", ["train.amp=bf16"]),
}


def val_root(cache: Path, clips: int) -> Path:
    """The held-out set: `clips` val clips with the demo's settings but seed 1, generated once."""
    from hrtrack.demo import DemoSettings
    from hrtrack.synthetic import generate_dataset

    s = DemoSettings(seed=TUNE_SEED)
    root = cache / f"tune-val-{clips}x{s.frames}-seed{s.seed}"
    if not (root / "synthetic.json").is_file():
        tmp = root.with_name(root.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_dataset(tmp, videos=clips, frames=s.frames, size=s.size, people=s.people, splits=("val",),
                         seed=s.seed, progress=False)
        tmp.rename(root)
    return root


def train_cpu_seconds(overrides: list[str], steps: int, out: Path) -> float:
    """CPU seconds of this process to train `steps` steps of the variant into `out`."""
    from hrtrack.training.run import resolve_train_config, train_run

    epochs = next((int(o.split("=", 1)[1]) for o in overrides if o.startswith("train.epochs=")), 1)
    steps = max(epochs, steps - steps % epochs)
    cfg, model_cfg, fmt = resolve_train_config(BASE, [*overrides, f"train.steps={steps}", "data.val_split=",
                                                      "train.workers=0", "data.format=synthetic"])
    start = time.process_time()
    train_run(cfg, model_cfg, fmt, out, device="cpu", progress=False)
    return time.process_time() - start


def score_reference(val: Path) -> dict:
    """The reference model's row: PCKh and frame mAP on the held-out clips, with its provenance's steps."""
    from hrtrack.models.reference import reference_model
    from hrtrack.training.run import resolve_train_config, test_run

    ref = reference_model()
    cfg, model_cfg, _ = resolve_train_config(BASE, [f"model={ref.model_yaml}", "data.format=posetrack",
                                                    "data.val_split=val", "train.workers=0"], val)
    metrics = test_run(cfg, model_cfg, "posetrack", ref.weights, device="cpu", progress=False)
    return {"variant": ref.describe(), "overrides": [], "steps": ref.provenance["steps"], "cpu_s": None,
            "samples_per_cpu_s": None, "PCKh": metrics["PCKh"], "mAP": metrics["mAP_Total"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME",
                        help=f"variants to run (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--minutes", type=float, default=6.0, help="CPU minutes of training each (default 6)")
    parser.add_argument("--steps", type=int, help="train this many steps instead of a CPU-time budget (variants "
                                                  "that cost the same per step, such as schedules, compare "
                                                  "without the pilot's timing noise)")
    parser.add_argument("--pilot-steps", type=int, default=20, help="steps of the shorter pilot run (default 20)")
    parser.add_argument("--val-clips", type=int, default=8, help="held-out clips (default 8)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override applied to every variant")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument("--keep", type=Path, help="keep each variant's run folder (weights, config) under this folder")
    args = parser.parse_args()

    import torch

    from hrtrack.demo import cache_root
    from hrtrack.training.run import resolve_train_config, test_run

    torch.set_num_threads(1)
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    val = val_root(cache, args.val_clips)
    rows = {}
    work = args.keep if args.keep else Path(tempfile.mkdtemp(prefix="hrtrack-tune-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.variants:
            label, overrides = VARIANTS[name]
            overrides = [*overrides, *args.overrides]
            if name == "reference":
                rows[name] = score_reference(val)
                print(f"reference: {rows[name]['variant']}: PCKh {rows[name]['PCKh']:.1f}, "
                      f"mAP {rows[name]['mAP']:.1f}", flush=True)
                continue
            if args.steps:
                steps = args.steps
            else:
                # The cost of the extra steps of a twice-as-long pilot: a run's fixed costs (model, the
                # stream's first scenes) would otherwise count as per-step work.
                short = train_cpu_seconds(overrides, args.pilot_steps, work / f"{name}-pilot")
                long = train_cpu_seconds(overrides, 2 * args.pilot_steps, work / f"{name}-pilot2")
                steps = int(args.minutes * 60 * args.pilot_steps / max(long - short, 1e-3))
            cpu = train_cpu_seconds(overrides, steps, work / name)
            cfg, model_cfg, _ = resolve_train_config(BASE, [*overrides, "data.format=posetrack", "data.val_split=val",
                                                            "train.workers=0"], val)
            metrics = test_run(cfg, model_cfg, "posetrack", work / name / "final_state.pth", device="cpu",
                               progress=False)
            batch = cfg.train.batch_size
            rows[name] = {"variant": label, "overrides": overrides, "steps": steps, "cpu_s": cpu,
                          "samples_per_cpu_s": steps * batch / cpu, "PCKh": metrics["PCKh"],
                          "mAP": metrics["mAP_Total"]}
            print(f"{name}: {label}: {steps} steps, {rows[name]['samples_per_cpu_s']:.1f} samples/CPU-s, "
                  f"PCKh {metrics['PCKh']:.1f}, mAP {metrics['mAP_Total']:.1f}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} CPU-min"
    print(f"\n| variant | training samples per CPU-second | steps ({budget}) | held-out PCKh | held-out mAP |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        rate = "" if r["samples_per_cpu_s"] is None else f"{r['samples_per_cpu_s']:.1f}"
        print(f"| {r['variant']} | {rate} | {r['steps']} | {r['PCKh']:.1f} | {r['mAP']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    print("RESULT " + " ".join(f"{n}_PCKh={r['PCKh']:.1f} {n}_mAP={r['mAP']:.1f}" for n, r in rows.items()))


if __name__ == "__main__":
    main()
