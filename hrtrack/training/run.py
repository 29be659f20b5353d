"""Training and scoring runs: a train config -> data splits, model, trainer; weights -> metrics.

`train_run` and `test_run` are what `hrtrack train` and `hrtrack test` do, callable
from Python; both run as one process or under torchrun.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from ..config import dump_config, to_dict
from ..datasets.synthetic_stream import SyntheticStream
from ..datasets.topdown import DataSplit, TopDownDataset, open_split
from ..errors import HrtrackError
from ..fileio import write_json_atomic
from ..models import build_pose_model, load_pose_weights
from ..models.factory import ModelConfig
from .config import TrainConfig, load_train_config, model_config_of
from .engine import DistContext, Trainer, cleanup_distributed, predict_keypoints, setup_distributed, split_evaluator

CHECKPOINT = "checkpoint.pth"


def resolve_train_config(config: str | Path, overrides: list[str], data: str | Path | None = None
                         ) -> tuple[TrainConfig, ModelConfig, str]:
    """The train config (with `overrides` and an optional dataset root), its model config and data format."""
    cfg = load_train_config(config, overrides)
    if data:
        cfg = replace(cfg, data=replace(cfg.data, root=str(data)))
    model_cfg = model_config_of(cfg)
    fmt = cfg.data.format
    # A synthetic stream renders its own training data; a root only adds validation on its val split.
    if not cfg.data.root and fmt != "synthetic":
        raise HrtrackError("no dataset root: pass --data ROOT (or set data.root in the config)")
    if fmt == "auto":
        fmt = {"coco": "coco", "mpii": "mpii", "posetrack": "posetrack"}[model_cfg.layout]
    return cfg, model_cfg, fmt


def _val_split(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str) -> DataSplit:
    if not cfg.data.root:
        raise HrtrackError("no dataset root to score on: pass --data ROOT (a `hrtrack synth` output for "
                           "synthetic configs)")
    # A synthetic stream is scored on the PoseTrack files of a `hrtrack synth` root.
    fmt = "posetrack" if fmt == "synthetic" else fmt
    detections = None
    if not cfg.test.use_gt_boxes:
        if not cfg.test.detections:
            raise HrtrackError("test.use_gt_boxes is false but test.detections names no detection file")
        # A relative path that does not exist from here is taken relative to the dataset root.
        detections = Path(cfg.test.detections)
        if not detections.is_absolute() and not detections.exists():
            detections = Path(cfg.data.root) / detections
    return open_split(fmt, cfg.data.root, cfg.data.val_split, aspect_ratio=_aspect(model_cfg),
                      num_joints=model_cfg.num_joints, detections=detections,
                      min_detection_score=cfg.test.min_detection_score)


def _aspect(model_cfg: ModelConfig) -> float:
    return model_cfg.input_size[0] / model_cfg.input_size[1]


def _evaluator(cfg: TrainConfig, split: DataSplit):
    gt_mat = Path(cfg.data.root) / "annot" / f"gt_{cfg.data.val_split}.mat"
    return split_evaluator(split, in_vis_thre=cfg.test.in_vis_thre, oks_nms_threshold=cfg.test.oks_nms_threshold,
                           mpii_gt_mat=gt_mat)


# ----------------------------------------------------------------------------- train

def train_run(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str, out: Path, *, resume: bool = False,
              device: str = "auto", progress: bool = True) -> None:
    """Train `model_cfg` on `cfg`'s data into the run folder `out` (resumable with `resume`)."""
    if not resume and (out / CHECKPOINT).exists():
        raise HrtrackError(f"{out} already holds a run ({CHECKPOINT}); pass --resume to continue it "
                           f"or choose another --out")
    ctx = setup_distributed(device)
    try:
        _train(cfg, model_cfg, fmt, out, resume, ctx, progress)
    finally:
        cleanup_distributed()


def _stream(cfg: TrainConfig, model_cfg: ModelConfig, ctx: DistContext) -> tuple[SyntheticStream, int]:
    """The streamed synthetic source of this process and its steps per epoch."""
    t, s = cfg.train, cfg.data.stream
    if t.steps < 1 or t.steps % t.epochs:
        raise HrtrackError(f"a synthetic stream trains for train.steps steps in train.epochs periods: steps must be "
                           f"a positive multiple of epochs, got steps={t.steps}, epochs={t.epochs}")
    stream = SyntheticStream(model_cfg.codec, model_cfg.joint_layout, batch_size=t.batch_size, seed=t.seed,
                             frame_size=s.frame_size, people=s.people, clip_frames=s.clip_frames,
                             crops_per_frame=s.crops_per_frame, clip_reuse=s.clip_reuse, box_jitter=s.box_jitter,
                             scale_factor=t.scale_factor, rotation_factor=t.rotation_factor,
                             rotation_prob=t.rotation_prob, flip=t.flip, supervise_hidden=s.supervise_hidden,
                             jpeg_quality=s.jpeg_quality, rank=ctx.rank, world_size=ctx.world_size)
    return stream, t.steps // t.epochs


def _train(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str, out: Path, resume: bool, ctx: DistContext,
           progress: bool) -> None:
    t = cfg.train
    layout, codec = model_cfg.joint_layout, model_cfg.codec
    steps_per_epoch = None
    if fmt == "synthetic":
        train_data, steps_per_epoch = _stream(cfg, model_cfg, ctx)
    else:
        train_split = open_split(fmt, cfg.data.root, cfg.data.train_split, aspect_ratio=_aspect(model_cfg),
                                 num_joints=model_cfg.num_joints)
        train_data = TopDownDataset(train_split.samples, codec, layout, train=True, seed=t.seed,
                                    scale_factor=t.scale_factor, rotation_factor=t.rotation_factor,
                                    rotation_prob=t.rotation_prob, flip=t.flip, half_body_prob=t.half_body_prob,
                                    half_body_min_joints=t.half_body_min_joints)
    val_data, evaluate, metric = None, None, ""
    if cfg.data.val_split and cfg.data.root:
        # A stream validates on the PoseTrack files of a `hrtrack synth` root.
        val_split = _val_split(cfg, model_cfg, fmt)
        val_data = TopDownDataset(val_split.samples, codec, layout, train=False)
        evaluate, metric = _evaluator(cfg, val_split)
    # Every rank builds the same initial weights; DDP also broadcasts rank 0's.
    torch.manual_seed(t.seed)
    model = build_pose_model(model_cfg)
    if t.weight_init != "official":
        model.init_weights(t.weight_init)
    if t.init and not resume:
        kind = load_pose_weights(model, t.init)
        if ctx.is_main:
            print(f"initialised from {t.init} ({kind} weights)")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, out / "config.yaml")
    trainer = Trainer(model, train_data, val_data, layout=layout, ctx=ctx, evaluate=evaluate, metric=metric,
                      out_dir=out, lr=t.lr, milestones=t.milestones, factor=t.factor, epochs=t.epochs,
                      batch_size=t.batch_size, val_batch_size=cfg.test.batch_size, workers=t.workers,
                      seed=t.seed, amp=t.amp, sync_bn=t.sync_bn, flip_test=cfg.test.flip_test,
                      val_every=t.val_every, config=to_dict(cfg), progress=progress, schedule=t.schedule,
                      warmup_steps=t.warmup_steps, steps_per_epoch=steps_per_epoch, channels_last=t.channels_last)
    if resume:
        trainer.resume(out / CHECKPOINT)
    history = trainer.fit()
    if ctx.is_main:
        seen = (f"{t.steps} steps of {t.batch_size} freshly rendered people" if steps_per_epoch is not None
                else f"{len(history)} epochs on {len(train_data)} samples")
        best = f"; {metric}={trainer.best_metric:.4g} at epoch {trainer.best_epoch}" if metric else ""
        print(f"trained {seen} x {ctx.world_size} process(es){best}; weights in {out / 'final_state.pth'} "
              f"and {out / 'best.pth'}")


# ----------------------------------------------------------------------------- test

def test_run(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str, weights: str | Path, *, json_out: Path | None = None,
             device: str = "auto", engine: str = "auto", progress: bool = True) -> dict[str, float]:
    """Score `weights` on `cfg`'s validation split; print the metrics (and write them to `json_out`).

    `engine` runs the network (see hrtrack.models.engines), as it would in tracking.
    """
    if json_out is not None and not json_out.parent.is_dir():
        raise HrtrackError(f"output folder does not exist: {json_out.parent}")
    if not cfg.data.val_split:
        raise HrtrackError("data.val_split is empty: nothing to test on")
    ctx = setup_distributed(device)
    metrics: dict[str, float] = {}
    try:
        split = _val_split(cfg, model_cfg, fmt)
        evaluate, metric = _evaluator(cfg, split)
        if Path(weights).suffix == ".onnx":
            network = Path(weights)  # an `hrtrack export` file runs as it is, on an ONNX engine
        else:
            network = build_pose_model(model_cfg).to(ctx.device)
            load_pose_weights(network, weights)
        data = TopDownDataset(split.samples, model_cfg.codec, model_cfg.joint_layout, train=False)
        pred = predict_keypoints(network, data, ctx=ctx, layout=model_cfg.joint_layout,
                                 batch_size=cfg.test.batch_size, workers=cfg.train.workers,
                                 flip_test=cfg.test.flip_test, amp=cfg.train.amp, engine=engine,
                                 progress=progress)
        if ctx.is_main:
            metrics = evaluate(pred.keypoints, pred.scores)
            print(f"{fmt} {cfg.data.val_split}: {len(data)} people, "
                  f"{'ground-truth boxes' if cfg.test.use_gt_boxes else 'detected boxes'}")
            for name, value in metrics.items():
                print(f"{name:>20s} {value:.4f}")
            if json_out is not None:
                write_json_atomic(json_out, {"metric": metric, **metrics}, indent=2)
    finally:
        cleanup_distributed()
    return metrics
