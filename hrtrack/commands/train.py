"""`hrtrack train` and `hrtrack test`: train HRNet on COCO, MPII or PoseTrack (or a synthetic set), and score it.

Both run as one process or under torchrun (`torchrun --nproc_per_node=N -m hrtrack train ...`).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from ..config import dump_config, to_dict
from ..datasets.topdown import DataSplit, TopDownDataset, open_split
from ..errors import HrtrackError
from ..fileio import write_json_atomic
from ..models import build_pose_model, load_pose_weights
from ..models.factory import ModelConfig
from ..training.config import TrainConfig, load_train_config, model_config_of
from ..training.engine import (DistContext, Trainer, cleanup_distributed, predict_keypoints, setup_distributed,
                               split_evaluator)

CHECKPOINT = "checkpoint.pth"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="C",
                        help="train config: a name in configs/train/ (coco_w32_256x192, ...) or a YAML path "
                             "(configs/synthetic/tiny.yaml)")
    parser.add_argument("--data", metavar="ROOT",
                        help="dataset root: COCO, MPII or PoseTrack as released, or a `hrtrack synth` output "
                             "(default: the config's data.root)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train an HRNet pose model (COCO, MPII, PoseTrack fine-tuning, synthetic)",
        description="Train HRNet top-down on person crops with the official augmentation, Adam and a "
                    "MultiStepLR schedule. Writes RUN_DIR/final_state.pth and best.pth (official key layout), "
                    "checkpoint.pth (resumable), metrics.csv, tensorboard/ and config.yaml. Under torchrun "
                    "it trains with DDP (NCCL on GPU, gloo on CPU).",
    )
    _common(train)
    train.add_argument("--out", required=True, type=Path, metavar="RUN_DIR", help="run folder to write")
    train.add_argument("--init", metavar="W",
                       help="start from these weights (official / MMPose / hrtrack file, or an ImageNet HRNet "
                            "backbone); default: the config's train.init")
    train.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its checkpoint.pth")
    train.set_defaults(func=run_train)

    test = subparsers.add_parser(
        "test",
        help="score pose weights on a dataset split (COCO AP, MPII PCKh, PoseTrack mAP)",
        description="Estimate poses on the config's validation split (ground-truth boxes, or COCO detections "
                    "with --set test.use_gt_boxes=false --set test.detections=FILE) and print COCO keypoint "
                    "AP, MPII PCKh or PoseTrack frame-level mAP, as fits the data.",
    )
    _common(test)
    test.add_argument("--weights", required=True, metavar="W", help="pose weights to score")
    test.add_argument("--json", type=Path, metavar="OUT.json", help="also write the metrics as JSON")
    test.set_defaults(func=run_test)


# ----------------------------------------------------------------------------- shared setup

def _resolve(args: argparse.Namespace) -> tuple[TrainConfig, ModelConfig, str]:
    cfg = load_train_config(args.config, args.set)
    if args.data:
        cfg = replace(cfg, data=replace(cfg.data, root=str(args.data)))
    if not cfg.data.root:
        raise HrtrackError("no dataset root: pass --data ROOT (or set data.root in the config)")
    model_cfg = model_config_of(cfg)
    fmt = cfg.data.format
    if fmt == "auto":
        fmt = {"coco": "coco", "mpii": "mpii", "posetrack": "posetrack"}[model_cfg.layout]
    return cfg, model_cfg, fmt


def _val_split(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str) -> DataSplit:
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
    return split_evaluator(split, in_vis_thre=cfg.test.in_vis_thre, oks_thre=cfg.test.oks_nms_thre,
                           mpii_gt_mat=gt_mat)


# ----------------------------------------------------------------------------- train

def run_train(args: argparse.Namespace) -> int:
    cfg, model_cfg, fmt = _resolve(args)
    if args.init:
        cfg = replace(cfg, train=replace(cfg.train, init=str(args.init)))
    out: Path = args.out
    if not args.resume and (out / CHECKPOINT).exists():
        raise HrtrackError(f"{out} already holds a run ({CHECKPOINT}); pass --resume to continue it "
                           f"or choose another --out")
    ctx = setup_distributed(args.device)
    try:
        return _train(cfg, model_cfg, fmt, out, args.resume, ctx, not args.no_progress)
    finally:
        cleanup_distributed()


def _train(cfg: TrainConfig, model_cfg: ModelConfig, fmt: str, out: Path, resume: bool, ctx: DistContext,
           progress: bool) -> int:
    t = cfg.train
    layout, codec = model_cfg.joint_layout, model_cfg.codec
    train_split = open_split(fmt, cfg.data.root, cfg.data.train_split, aspect_ratio=_aspect(model_cfg),
                             num_joints=model_cfg.num_joints)
    train_data = TopDownDataset(train_split.samples, codec, layout, train=True, seed=t.seed,
                                scale_factor=t.scale_factor, rotation_factor=t.rotation_factor,
                                rotation_prob=t.rotation_prob, flip=t.flip, half_body_prob=t.half_body_prob,
                                half_body_min_joints=t.half_body_min_joints)
    val_data, evaluate, metric = None, None, ""
    if cfg.data.val_split:
        val_split = _val_split(cfg, model_cfg, fmt)
        val_data = TopDownDataset(val_split.samples, codec, layout, train=False)
        evaluate, metric = _evaluator(cfg, val_split)
    # Every rank builds the same initial weights; DDP also broadcasts rank 0's.
    torch.manual_seed(t.seed)
    model = build_pose_model(model_cfg)
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
                      val_every=t.val_every, config=to_dict(cfg), progress=progress)
    if resume:
        trainer.resume(out / CHECKPOINT)
    history = trainer.fit()
    if ctx.is_main:
        best = f"{metric}={trainer.best_metric:.4g} at epoch {trainer.best_epoch}" if metric else ""
        print(f"trained {len(history)} epochs on {len(train_data)} samples x {ctx.world_size} process(es); "
              f"{best}; weights in {out / 'final_state.pth'} and {out / 'best.pth'}")
    return 0


# ----------------------------------------------------------------------------- test

def run_test(args: argparse.Namespace) -> int:
    cfg, model_cfg, fmt = _resolve(args)
    if args.json is not None and not args.json.parent.is_dir():
        raise HrtrackError(f"output folder does not exist: {args.json.parent}")
    if not cfg.data.val_split:
        raise HrtrackError("data.val_split is empty: nothing to test on")
    ctx = setup_distributed(args.device)
    try:
        split = _val_split(cfg, model_cfg, fmt)
        evaluate, metric = _evaluator(cfg, split)
        model = build_pose_model(model_cfg)
        load_pose_weights(model, args.weights)
        data = TopDownDataset(split.samples, model_cfg.codec, model_cfg.joint_layout, train=False)
        pred = predict_keypoints(model.to(ctx.device), data, ctx=ctx, layout=model_cfg.joint_layout,
                                 batch_size=cfg.test.batch_size, workers=cfg.train.workers,
                                 flip_test=cfg.test.flip_test, amp=cfg.train.amp, progress=not args.no_progress)
        if ctx.is_main:
            metrics = evaluate(pred.keypoints, pred.scores)
            print(f"{fmt} {cfg.data.val_split}: {len(data)} people, "
                  f"{'ground-truth boxes' if cfg.test.use_gt_boxes else 'detected boxes'}")
            for name, value in metrics.items():
                print(f"{name:>20s} {value:.4f}")
            if args.json is not None:
                write_json_atomic(args.json, {"metric": metric, **metrics}, indent=2)
    finally:
        cleanup_distributed()
    return 0
