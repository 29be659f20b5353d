"""`hrtrack demo`: the whole system on synthetic data, from nothing, in one command.

1. generate a synthetic PoseTrack-like dataset (train and val videos);
2. train the small HRNet of configs/synthetic/tiny.yaml on the train split;
3. track the val videos (noisy precomputed detections, DIS flow propagation,
   HRNet, flow-OKS greedy association) into PoseTrack 2017 files, render one;
4. score them with the PoseTrack evaluator (mAP, MOTA).

Data and the trained model are cached under `~/.cache/hrtrack/demo/` (or
`$HRTRACK_CACHE/demo`) keyed by their settings, so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import CONFIG_ROOT, dump_config, load_config
from ..errors import HrtrackError


def cache_root() -> Path:
    """hrtrack's cache folder: $HRTRACK_CACHE, else ~/.cache/hrtrack."""
    return Path(os.environ.get("HRTRACK_CACHE", Path.home() / ".cache" / "hrtrack"))


@dataclass(frozen=True)
class DemoSettings:
    """What the demo generates and trains; the cache key is a hash of these."""

    train_videos: int = 24
    val_videos: int = 4
    frames: int = 40
    size: tuple[int, int] = (640, 360)
    people: tuple[int, int] = (2, 5)
    seed: int = 0
    train_config: str = str(CONFIG_ROOT / "synthetic" / "tiny.yaml")
    epochs: int | None = None

    @classmethod
    def quick(cls) -> "DemoSettings":
        """A reduced demo for CI: fewer, shorter videos and a shorter training."""
        return cls(train_videos=8, val_videos=2, frames=30, epochs=3)

    def key(self, part: str) -> str:
        fields = asdict(self)
        if part == "data":
            fields = {k: fields[k] for k in ("train_videos", "val_videos", "frames", "size", "people", "seed")}
        else:
            # The recipe's content, not just its path, decides the trained weights.
            fields["train_config_text"] = Path(self.train_config).read_text(encoding="utf-8")
        blob = json.dumps({"part": part, **fields}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]


@dataclass
class DemoResult:
    mAP: float
    MOTA: float
    seconds: float
    predictions: Path
    video: Path
    weights: Path


def _fresh(path: Path) -> Path:
    """A temporary sibling folder to build `path` in, renamed over it when complete."""
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def prepare_data(settings: DemoSettings, root: Path, progress: bool = True) -> Path:
    """The synthetic dataset of `settings`, generated once and cached."""
    from ..synthetic import generate_dataset

    data = root / f"data-{settings.key('data')}"
    if (data / "synthetic.json").is_file():
        return data
    tmp = _fresh(data)
    generate_dataset(tmp, videos=settings.train_videos, frames=settings.frames, size=settings.size,
                     people=settings.people, splits=("train",), seed=settings.seed, progress=progress)
    generate_dataset(tmp, videos=settings.val_videos, frames=settings.frames, size=settings.size,
                     people=settings.people, splits=("val",), seed=settings.seed, progress=progress)
    tmp.rename(data)
    return data


def prepare_model(settings: DemoSettings, data: Path, root: Path, progress: bool = True) -> tuple[Path, Path]:
    """(weights, model config YAML) of the small HRNet trained on `data`'s train split, cached."""
    from ..cli import main as cli_main
    from ..training.config import load_train_config, model_config_of

    run = root / f"model-{settings.key('model')}"
    weights, model_yaml = run / "final_state.pth", run / "model.yaml"
    if weights.is_file() and model_yaml.is_file():
        return weights, model_yaml
    tmp = _fresh(run)
    overrides = ["data.val_split=", "data.format=posetrack"]
    if settings.epochs is not None:
        overrides.append(f"train.epochs={settings.epochs}")
    argv = ["train", "--config", settings.train_config, "--data", str(data), "--out", str(tmp), "--device", "cpu"]
    for o in overrides:
        argv += ["--set", o]
    if not progress:
        argv.append("--no-progress")
    if cli_main(argv) != 0:
        raise HrtrackError("training the demo model failed (see the message above)")
    dump_config(model_config_of(load_train_config(settings.train_config, overrides)), tmp / "model.yaml")
    tmp.rename(run)
    return weights, model_yaml


def run_demo(settings: DemoSettings, out: Path, progress: bool = True, cache: Path | None = None) -> DemoResult:
    """Run the whole demo; outputs (predictions, video, scores) go to `out`; data and model to `cache`."""
    from ..formats.posetrack import read_sequence, sequence_files
    from ..evaluation.posetrack import evaluate_folders
    from ..fileio import write_json_atomic
    from ..pipeline.build import build_pipeline, precomputed_fn
    from ..pipeline.config import PipelineConfig
    from ..fileio import resolve_under
    from ..pipeline.track_dataset import track_dataset
    from ..pipeline.runner import track_source
    from ..pipeline.sinks import VideoSink
    from ..pipeline.sources import ImageListSource
    from ..formats.detections import read_coco_detections

    start = time.perf_counter()
    root = cache if cache is not None else cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/4] synthetic data ({settings.train_videos} train + {settings.val_videos} val videos, "
          f"{settings.frames} frames, {settings.size[0]}x{settings.size[1]})")
    data = prepare_data(settings, root, progress)
    print(f"      {data}")
    print(f"[2/4] small HRNet ({Path(settings.train_config).stem}) trained on the train split")
    weights, model_yaml = prepare_model(settings, data, root, progress)
    print(f"      {weights}")
    print("[3/4] tracking the val videos: noisy detections, DIS flow propagation, HRNet, flow-OKS greedy")
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"estimator.model={model_yaml}"])
    gt_dir = data / "annotations" / "posetrack17" / "val"
    pred = out / "predictions"
    shutil.rmtree(pred, ignore_errors=True)
    detections = data / "detections" / "val.json"
    run = track_dataset(cfg, images_root=data, annotations=gt_dir, out_dir=pred, pose_weights=weights,
                        detections=detections, device="cpu", progress=progress)
    first = sorted(sequence_files(gt_dir))[0]
    seq = read_sequence(gt_dir / f"{first}.json")
    source = ImageListSource([resolve_under(data, fr.image, first) for fr in seq.frames],
                             names=[fr.image for fr in seq.frames], description=first)
    built = build_pipeline(cfg, weights, device="cpu")
    video = out / f"{first}.mp4"
    track_source(source, precomputed_fn(read_coco_detections(detections)), built.pipeline,
                 [VideoSink(video, 25.0, built.model_config.joint_layout, cfg.output.joint_threshold)],
                 progress=progress, desc="render")
    print("[4/4] PoseTrack evaluation (poseval's definitions)")
    result = evaluate_folders(gt_dir, pred, progress=False)
    print(result.tables())
    summary = result.summary()
    write_json_atomic(out / "scores.json", summary, indent=2)
    seconds = time.perf_counter() - start
    print(f"{run.processed} sequences tracked at {run.fps:.1f} fps (CPU)")
    print(f"outputs: predictions {pred}/, video {video}, scores {out / 'scores.json'}")
    print("on your own video with the official weights:\n"
          "  hrtrack track my_video.mp4 --pose-weights pose_hrnet_w48_384x288.pth "
          "--detector-weights fasterrcnn_resnet50_fpn_coco-258fb6c6.pth --render out.mp4 --out results.json")
    mAP, mota = summary["mAP"]["Total"], summary["MOTA"]["Total"]
    print(f"RESULT mAP={mAP:.1f} MOTA={mota:.1f} seconds={seconds:.0f}")
    return DemoResult(mAP, mota, seconds, pred, video, weights)
