"""`hrtrack demo`: the whole system on synthetic data, from nothing, in one command.

1. generate the held-out synthetic clips (PoseTrack-like val videos);
2. take the reference synthetic model that ships with the code (reference/, its
   sha256 checked; `hrtrack.models.reference`), or with `--train` train the small
   HRNet of configs/synthetic/tiny.yaml from scratch on freshly rendered people
   (the streamed synthetic source: no clip is ever seen twice, none is held out);
3. track the held-out clips (noisy precomputed detections, DIS flow propagation,
   HRNet, flow-OKS greedy association) into PoseTrack 2017 files; render one clip,
   a contact sheet and a plot of the track lifetimes against the ground truth's;
4. score them with the PoseTrack evaluator (mAP, MOTA).

Data and a trained model are cached under `~/.cache/hrtrack/demo/` (or
`$HRTRACK_CACHE/demo`) keyed by their settings, so a second run starts at once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import CONFIG_ROOT, dump_config, load_config
from ..errors import HrtrackError
from ..fileio import cache_root


@dataclass(frozen=True)
class DemoSettings:
    """What the demo generates, and trains with `train`; the cache keys are hashes of these.

    val_videos, frames, size, people, seed: the held-out clips. train: train the
    small HRNet from scratch instead of taking the reference model; train_config:
    the recipe (a streamed synthetic one); steps: its training length (None: the
    recipe's); overrides: `--set key=value` changes to the recipe (e.g.
    "model.dark=false"). The recipe settings matter only with `train`.
    """

    val_videos: int = 4
    frames: int = 40
    size: tuple[int, int] = (640, 360)
    people: tuple[int, int] = (2, 5)
    seed: int = 0
    train: bool = False
    train_config: str = str(CONFIG_ROOT / "synthetic" / "tiny.yaml")
    steps: int | None = None
    overrides: tuple[str, ...] = ()

    @classmethod
    def quick(cls, train: bool = False) -> "DemoSettings":
        """A reduced demo: fewer, shorter held-out clips (and, with `train`, a shorter training)."""
        return cls(val_videos=2, frames=30, train=train, steps=QUICK_STEPS if train else None)

    def key(self, part: str) -> str:
        fields = asdict(self)
        if part == "data":
            fields = {k: fields[k] for k in ("val_videos", "frames", "size", "people", "seed")}
        else:
            # The recipe's content, not just its path, decides the trained weights.
            fields = {"steps": self.steps, "overrides": list(self.overrides),
                      "train_config_text": Path(self.train_config).read_text(encoding="utf-8")}
        blob = json.dumps({"part": part, **fields}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:10]


# The reduced demo's training (`--quick --train`): long enough to find people, short enough for a test.
QUICK_STEPS = 400


@dataclass(frozen=True)
class DemoModel:
    """The small HRNet the demo tracks with: its weights, model config and a one-line description."""

    weights: Path
    model_yaml: Path
    description: str


@dataclass
class DemoResult:
    mAP: float
    MOTA: float
    seconds: float
    fps: float
    predictions: Path
    video: Path
    contact_sheet: Path
    lifetimes: Path
    weights: Path


def _fresh(path: Path) -> Path:
    """A temporary sibling folder to build `path` in, renamed over it when complete."""
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    return tmp


def prepare_data(settings: DemoSettings, root: Path, progress: bool = True) -> Path:
    """The held-out synthetic clips of `settings` (a `hrtrack synth` val split), generated once and cached."""
    from ..synthetic import generate_dataset

    data = root / f"data-{settings.key('data')}"
    if (data / "synthetic.json").is_file():
        return data
    tmp = _fresh(data)
    generate_dataset(tmp, videos=settings.val_videos, frames=settings.frames, size=settings.size,
                     people=settings.people, splits=("val",), seed=settings.seed, progress=progress)
    tmp.rename(data)
    return data


def prepare_model(settings: DemoSettings, root: Path, progress: bool = True) -> DemoModel:
    """The demo's model: the verified reference model, or with `settings.train` one trained here (cached)."""
    if not settings.train:
        from ..models.reference import reference_model

        ref = reference_model()
        return DemoModel(ref.weights, ref.model_yaml, ref.describe())
    from ..training.config import load_train_config

    steps = settings.steps or load_train_config(settings.train_config, list(settings.overrides)).train.steps
    return DemoModel(*train_model(settings, root, progress),
                     f"small HRNet trained on this machine ({steps} steps of {Path(settings.train_config).name})")


def train_model(settings: DemoSettings, root: Path, progress: bool = True) -> tuple[Path, Path]:
    """(weights, model config YAML) of the small HRNet trained on the synthetic stream, cached."""
    from ..cli import main as cli_main
    from ..training.config import load_train_config, model_config_of

    run = root / f"model-{settings.key('model')}"
    weights, model_yaml = run / "final_state.pth", run / "model.yaml"
    if weights.is_file() and model_yaml.is_file():
        return weights, model_yaml
    tmp = _fresh(run)
    overrides = list(settings.overrides)
    if settings.steps is not None:
        cfg = load_train_config(settings.train_config, overrides)
        # Keep the recipe's checkpoint periods where they divide the new length.
        epochs = cfg.train.epochs if settings.steps % cfg.train.epochs == 0 else 1
        overrides += [f"train.steps={settings.steps}", f"train.epochs={epochs}"]
    argv = ["train", "--config", settings.train_config, "--out", str(tmp), "--device", "cpu"]
    for o in overrides:
        argv += ["--set", o]
    if not progress:
        argv.append("--no-progress")
    if cli_main(argv) != 0:
        raise HrtrackError("training the demo model failed (see the message above)")
    dump_config(model_config_of(load_train_config(settings.train_config, overrides)), tmp / "model.yaml")
    tmp.rename(run)
    return weights, model_yaml


def track_clips(data: Path, model: DemoModel, out: Path, *, overrides: tuple[str, ...] = (),
                detections: Path | None = None, progress: bool = True):
    """Track the held-out clips of `data` with `model` (the synthetic_tiny preset) into PoseTrack 2017
    files in `out` (replaced); returns the `track_dataset` run."""
    from ..config import load_config
    from ..pipeline.config import PipelineConfig
    from ..pipeline.track_dataset import track_dataset

    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"estimator.model={model.model_yaml}",
                                                                      *overrides])
    shutil.rmtree(out, ignore_errors=True)
    return track_dataset(cfg, images_root=data, annotations=data / "annotations" / "posetrack17" / "val",
                         out_dir=out, pose_weights=model.weights,
                         detections=detections or data / "detections" / "val.json", device="cpu",
                         progress=progress)


def run_demo(settings: DemoSettings, out: Path, progress: bool = True, cache: Path | None = None) -> DemoResult:
    """Run the whole demo; outputs (predictions, video, figures, scores) go to `out`; data and model to `cache`."""
    from ..config import load_config
    from ..evaluation.posetrack import evaluate_folders
    from ..fileio import resolve_under, write_json_atomic
    from ..formats.detections import read_coco_detections
    from ..formats.posetrack import read_sequence, sequence_files
    from ..pipeline.build import build_pipeline, precomputed_fn
    from ..pipeline.config import PipelineConfig
    from ..pipeline.runner import track_source
    from ..pipeline.sinks import VideoSink
    from ..pipeline.sources import ImageListSource
    from .figures import write_contact_sheet, write_lifetimes

    start = time.perf_counter()
    root = cache if cache is not None else cache_root() / "demo"
    root.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    print(f"[1/4] held-out synthetic clips ({settings.val_videos} videos, {settings.frames} frames, "
          f"{settings.size[0]}x{settings.size[1]}, {settings.people[0]}-{settings.people[1]} people, "
          f"seed {settings.seed})")
    data = prepare_data(settings, root, progress)
    print(f"      {data}")
    if settings.train:
        print(f"[2/4] small HRNet ({Path(settings.train_config).stem}) trained on freshly rendered synthetic people")
    else:
        print("[2/4] the reference synthetic model (shipped with the code; `--train` trains one here instead)")
    model = prepare_model(settings, root, progress)
    print(f"      {model.description}\n      {model.weights}")
    print("[3/4] tracking the held-out clips: noisy detections, DIS flow propagation, HRNet, flow-OKS greedy")
    gt_dir = data / "annotations" / "posetrack17" / "val"
    pred = out / "predictions"
    detections = data / "detections" / "val.json"
    run = track_clips(data, model, pred, progress=progress)
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"estimator.model={model.model_yaml}"])
    first = sorted(sequence_files(gt_dir))[0]
    seq = read_sequence(gt_dir / f"{first}.json")
    source = ImageListSource([resolve_under(data, fr.image, first) for fr in seq.frames],
                             names=[fr.image for fr in seq.frames], description=first)
    built = build_pipeline(cfg, model.weights, device="cpu")
    video = out / f"{first}.mp4"
    track_source(source, precomputed_fn(read_coco_detections(detections)), built.pipeline,
                 [VideoSink(video, 25.0, built.model_config.joint_layout, cfg.output.joint_threshold)],
                 progress=progress, desc="render")
    sheet = write_contact_sheet(data, pred, out / "contact_sheet.png")
    lifetimes = write_lifetimes(settings, pred, out / "track_lifetimes.png")
    print("[4/4] PoseTrack evaluation (poseval's definitions)")
    result = evaluate_folders(gt_dir, pred, progress=False)
    print(result.tables())
    summary = result.summary()
    write_json_atomic(out / "scores.json", {"model": model.description, **summary}, indent=2)
    seconds = time.perf_counter() - start
    print(f"{run.processed} sequences tracked at {run.fps:.1f} fps (CPU)")
    print(f"outputs: predictions {pred}/, video {video}, scores {out / 'scores.json'}")
    print(f"look: contact sheet {sheet}, track lifetimes vs ground truth {lifetimes}")
    print("on your own video with the official weights:\n"
          "  hrtrack track my_video.mp4 --pose-weights pose_hrnet_w48_384x288.pth "
          "--detector-weights fasterrcnn_resnet50_fpn_coco-258fb6c6.pth --render out.mp4 --out results.json")
    mAP, mota = summary["mAP"]["Total"], summary["MOTA"]["Total"]
    kind = "trained" if settings.train else "reference"
    print(f"RESULT mAP={mAP:.1f} MOTA={mota:.1f} fps={run.fps:.1f} seconds={seconds:.0f} model={kind}")
    return DemoResult(mAP, mota, seconds, run.fps, pred, video, sheet, lifetimes, model.weights)
