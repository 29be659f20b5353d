"""The training engine: one process or many (torchrun + DDP), CPU or CUDA, optional AMP.

`setup_distributed` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK)
and initialises torch.distributed (NCCL on GPU, gloo on CPU). `Trainer` owns a
run: Adam (no weight decay, as the official code), MultiStepLR stepped once per
epoch (or a per-step cosine schedule with warm-up), `JointsMSELoss`,
DistributedSampler sharding seeded by (seed, epoch) (or a step-indexed stream of
whole batches, such as `SyntheticStream`, sharded by rank inside the stream),
optional SyncBatchNorm, validation with the estimator's own flip test and
decoding (`PoseEstimator.heatmaps` / `.decode`), metrics gathered across ranks.
Only rank 0 writes: `final_state.pth`, `best.pth`, `checkpoint.pth`,
`metrics.csv`, TensorBoard scalars under `tensorboard/`, `config.yaml`.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..formats.posetrack import PoseTrackFrame, PoseTrackSequence
from ..datasets.topdown import DataSplit
from ..errors import HrtrackError
from ..evaluation.coco import evaluate_keypoints, keypoint_results, rescore_and_nms
from ..evaluation.mpii import load_mpii_gt_mat, normalised_errors, pckh
from ..evaluation.posetrack import PoseTrackEvaluator, column_values
from ..fileio import write_bytes_atomic
from ..geometry import PIXEL_STD
from ..models.estimator import PoseEstimator
from ..device import resolve_device
from ..skeleton import Layout
from .state import (load_training_state, remove_stale_outputs, restore_rng_states, save_model_weights,
                    save_training_state, unwrap)
from .loss import joints_mse_loss

_AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}

# keypoints (N,K,2) image pixels and scores (N,K), in sample order -> named metrics.
Evaluator = Callable[[np.ndarray, np.ndarray], dict[str, float]]


# ----------------------------------------------------------------------------- processes

@dataclass(frozen=True)
class DistContext:
    """This process's place in the run: rank, number of processes, its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun process group when WORLD_SIZE > 1, else a single-process context.

    Under torchrun, "auto" and "cuda" mean this process's GPU (cuda:LOCAL_RANK);
    the backend is NCCL for CUDA devices and gloo for the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(0, 1, 0, resolve_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device in ("auto", "cuda"):
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev)


def cleanup_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _all_sum(ctx: DistContext, values: list[float]) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64)
    if ctx.distributed:
        # NCCL reduces CUDA tensors only.
        t = t.to(ctx.device)
        dist.all_reduce(t)
    return t.cpu().tolist()


def _gather(ctx: DistContext, obj):
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def _broadcast(ctx: DistContext, obj):
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# ----------------------------------------------------------------------------- prediction

@dataclass(frozen=True)
class Predictions:
    """Keypoints (N,K,2) in image pixels and scores (N,K) of every sample, plus the mean heatmap loss."""

    keypoints: np.ndarray
    scores: np.ndarray
    loss: float


def _one_thread_worker(_: int) -> None:
    # Workers render and crop with OpenCV; its own thread pool would compete with training.
    import cv2

    cv2.setNumThreads(1)


# Workers start as fresh processes: a forked child inherits OpenCV's thread pool in
# whatever state the parent's threads left it (the demo renders its clips first), and
# its first OpenCV call can then wait forever on a lock no thread will release.
_WORKER_CONTEXT = "spawn"


def _step_loader(stream, ctx: DistContext, workers: int, first: int, last: int) -> DataLoader:
    """The batches of steps first..last-1 of a step-indexed stream (item s = step s's whole batch)."""
    return DataLoader(stream, batch_size=None, sampler=range(first, last), num_workers=workers,
                      pin_memory=ctx.device.type == "cuda", worker_init_fn=_one_thread_worker if workers else None,
                      multiprocessing_context=_WORKER_CONTEXT if workers else None)


def stream_training_threads(threads: int, workers: int) -> int:
    """Torch threads for training on the CPU while `workers` processes render a stream.

    A rendering worker keeps a core busy; torch threads that share it wait on each
    other at every operation (measured for the demo's model on 2 cores: 0.39 s a step
    with 2 threads, 0.29 s with 1). So the training uses the cores left, never more
    than `threads`.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(threads, cores - workers))


def cosine_lr_factor(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor at `step`: linear warm-up over `warmup` steps, then a cosine from 1 down to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _loader(dataset, ctx: DistContext, batch_size: int, workers: int, shuffle: bool, seed: int,
            epoch: int) -> DataLoader:
    sampler = DistributedSampler(dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    # Workers are recreated each epoch (not persistent) so they see the dataset's epoch.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      pin_memory=ctx.device.type == "cuda", drop_last=False)


def predict_keypoints(model: nn.Module | Path, dataset, *, ctx: DistContext, layout: Layout, batch_size: int = 32,
                      workers: int = 0, flip_test: bool = True, amp: str = "none", engine: str = "torch",
                      channels_last: bool = False, progress: bool = True) -> Predictions:
    """Run the model over a (non-augmenting) `TopDownDataset`; every rank returns all samples' predictions.

    Heatmaps, the flip test and decoding are the estimator's (`PoseEstimator`, its network
    run by `engine`), so validation scores exactly what inference produces. Under DDP each rank
    predicts its shard and the shards are gathered. `model` may also be an exported ONNX file.
    """
    net = unwrap(model) if isinstance(model, nn.Module) else model
    was_training = isinstance(net, nn.Module) and net.training
    estimator = PoseEstimator(net, dataset.codec, engine=engine, flip_test=flip_test, layout=layout,
                              device=ctx.device, fold_bn=False, precision="fp32" if amp == "none" else amp,
                              channels_last=channels_last, max_batch=batch_size)
    loader = _loader(dataset, ctx, batch_size, workers, shuffle=False, seed=0, epoch=0)
    idx, kps, scores = [], [], []
    loss_sum = 0.0
    for image, target, weight, meta in tqdm(loader, desc="validate", unit="batch", leave=False,
                                            disable=not (progress and ctx.is_main)):
        hm = estimator.heatmaps(image.to(ctx.device, non_blocking=True))
        loss_sum += float(joints_mse_loss(hm, target.to(ctx.device), weight.to(ctx.device))) * len(image)
        k, s = estimator.decode(hm, meta["center"].numpy(), meta["scale"].numpy())
        idx.append(meta["index"].numpy())
        kps.append(k)
        scores.append(s)
    if isinstance(net, nn.Module):
        net.train(was_training)
    parts = _gather(ctx, (np.concatenate(idx) if idx else np.zeros(0, np.int64),
                          np.concatenate(kps) if kps else np.zeros((0, layout.num_joints, 2), np.float32),
                          np.concatenate(scores) if scores else np.zeros((0, layout.num_joints), np.float32),
                          loss_sum))
    n, k = len(dataset), layout.num_joints
    all_kps = np.zeros((n, k, 2), np.float32)
    all_scores = np.zeros((n, k), np.float32)
    # DistributedSampler pads shards by repeating samples: each index is written once per copy, same values.
    for i, kp, sc, _ in parts:
        all_kps[i] = kp
        all_scores[i] = sc
    total_loss = sum(p[3] for p in parts)
    count = sum(len(p[0]) for p in parts)
    return Predictions(all_kps, all_scores, total_loss / max(count, 1))


# ----------------------------------------------------------------------------- training

class Trainer:
    """A training run of a pose model on a `TopDownDataset`.

    Args:
        model: the bare network (weights already initialised or loaded).
        train_data: an augmenting `TopDownDataset`, or with `steps_per_epoch` a
            step-indexed stream whose item s is the whole batch of step s (`SyntheticStream`).
        val_data: a non-augmenting `TopDownDataset`, or None to skip validation.
        evaluate: val predictions -> metrics; `metric` names the one that picks `best.pth`
            (higher is better). Without it the validation loss is reported alone.
        ctx: the process context from `setup_distributed`.
        out_dir: run folder (rank 0 writes there); None writes nothing.
        lr, milestones, factor, epochs: Adam learning rate and its MultiStepLR schedule.
        schedule: "multistep" (per epoch) or "cosine" (per step, after `warmup_steps` of warm-up).
        steps_per_epoch: steps of a stream per epoch (None for a dataset).
        channels_last: NHWC activations (on the CPU, 1.2-1.5x faster steps for the small synthetic HRNet).
        batch_size: per process; val_batch_size likewise.
        amp: "none", "bf16" (CUDA, or a CPU with native bf16 such as AVX512-BF16 / AMX) or "fp16" (CUDA only).
        sync_bn: SyncBatchNorm across processes (CUDA only, under torchrun).
        config: the resolved config as plain data, stored in checkpoints.
    """

    def __init__(self, model: nn.Module, train_data, val_data=None, *, layout: Layout, ctx: DistContext,
                 evaluate: Evaluator | None = None, metric: str = "", out_dir: str | Path | None = None,
                 lr: float = 1e-3, milestones: tuple[int, ...] = (170, 200), factor: float = 0.1,
                 epochs: int = 210, batch_size: int = 32, val_batch_size: int = 32, workers: int = 4,
                 seed: int = 0, amp: str = "none", sync_bn: bool = False, flip_test: bool = True,
                 val_every: int = 1, config: dict | None = None, progress: bool = True,
                 schedule: str = "multistep", warmup_steps: int = 0, steps_per_epoch: int | None = None,
                 channels_last: bool = False):
        if amp not in _AMP_DTYPES:
            raise HrtrackError(f"train.amp must be none, bf16 or fp16, got {amp!r}")
        if amp == "fp16" and ctx.device.type != "cuda":
            raise HrtrackError(f"train.amp={amp} needs a CUDA device; this run is on {ctx.device}")
        if sync_bn and ctx.distributed and ctx.device.type != "cuda":
            raise HrtrackError("train.sync_bn needs CUDA devices (SyncBatchNorm does not run on the CPU)")
        if evaluate is not None and not metric:
            raise HrtrackError("an evaluator needs the name of its metric")
        if schedule not in ("multistep", "cosine"):
            raise HrtrackError(f"train.schedule must be multistep or cosine, got {schedule!r}")
        self.ctx = ctx
        self.layout = layout
        self.train_data, self.val_data = train_data, val_data
        self.evaluate, self.metric = evaluate, metric
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.epochs, self.batch_size, self.val_batch_size = epochs, batch_size, val_batch_size
        self.workers, self.seed, self.amp, self.flip_test = workers, seed, amp, flip_test
        self.val_every, self.progress = val_every, progress
        self.config = config or {}
        self.steps_per_epoch = steps_per_epoch
        self.schedule = schedule
        self.channels_last = channels_last

        model = model.to(ctx.device, memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        if sync_bn and ctx.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        if ctx.distributed:
            model = nn.parallel.DistributedDataParallel(
                model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        self.model = model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        if schedule == "cosine":
            total = epochs * self._epoch_steps(ctx)

            def factor_at(step: int) -> float:
                return cosine_lr_factor(step, total, warmup_steps)

            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor_at)
        else:
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(milestones), gamma=factor)
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
        self.start_epoch = 0
        self.best_metric = -math.inf
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []
        self._writer = None
        if ctx.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    # -- state ------------------------------------------------------------------------------
    def resume(self, path: str | Path) -> None:
        """Continue from a `checkpoint.pth`: weights, optimizer, schedule, epoch, best metric, history, RNG."""
        state = load_training_state(path)
        try:
            unwrap(self.model).load_state_dict(state["model"], strict=True)
        except RuntimeError as exc:
            raise HrtrackError(f"{path} does not fit the model of this config: "
                               f"{str(exc).splitlines()[0]}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"])
        self.best_metric = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])
        self.history = list(state.get("history", []))
        if "rng" in state:
            restore_rng_states(state["rng"])

    def _epoch_steps(self, ctx: DistContext) -> int:
        if self.steps_per_epoch is not None:
            return self.steps_per_epoch
        return math.ceil(math.ceil(len(self.train_data) / ctx.world_size) / self.batch_size)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # -- one epoch --------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training data; returns the loss averaged over all processes and samples/s."""
        ctx = self.ctx
        self.model.train()
        threads = torch.get_num_threads()
        if self.steps_per_epoch is not None:
            first = epoch * self.steps_per_epoch
            loader = _step_loader(self.train_data, ctx, self.workers, first, first + self.steps_per_epoch)
            if ctx.device.type == "cpu":
                torch.set_num_threads(stream_training_threads(threads, self.workers))
        else:
            self.train_data.set_epoch(epoch)
            loader = _loader(self.train_data, ctx, self.batch_size, self.workers, shuffle=True, seed=self.seed,
                             epoch=epoch)
        try:
            return self._train_steps(loader, epoch)
        finally:
            torch.set_num_threads(threads)

    def _train_steps(self, loader: DataLoader, epoch: int) -> dict[str, float]:
        ctx = self.ctx
        amp_dtype = _AMP_DTYPES[self.amp]
        loss_sum, count = 0.0, 0
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch}", unit="batch", leave=False,
                   disable=not (self.progress and ctx.is_main))
        for image, target, weight, _ in bar:
            image = image.to(ctx.device, non_blocking=True)
            if self.channels_last:
                image = image.contiguous(memory_format=torch.channels_last)
            target = target.to(ctx.device, non_blocking=True)
            weight = weight.to(ctx.device, non_blocking=True)
            with torch.autocast(ctx.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                output = self.model(image)
            loss = joints_mse_loss(output.float(), target, weight)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
            if self.schedule == "cosine":
                self.scheduler.step()
            loss_sum += loss.item() * len(image)
            count += len(image)
            bar.set_postfix(loss=f"{loss_sum / count:.3e}", lr=f"{self.lr:.1e}")
        elapsed = time.perf_counter() - start
        self._sync_buffers()
        total_loss, total_count = _all_sum(ctx, [loss_sum, float(count)])
        return {"train_loss": total_loss / max(total_count, 1.0),
                "samples_per_s": total_count / max(elapsed, 1e-9)}

    def _sync_buffers(self) -> None:
        """Give every rank rank 0's BatchNorm statistics.

        DDP broadcasts buffers before each forward, so after the last step each rank
        holds statistics updated by its own batch; validation shards and saved
        weights must come from one model.
        """
        if not self.ctx.distributed:
            return
        for buf in unwrap(self.model).buffers():
            dist.broadcast(buf, src=0)

    def validate(self) -> dict[str, float]:
        """Validation loss and the evaluator's metrics (computed on rank 0, shared with all ranks)."""
        pred = predict_keypoints(self.model, self.val_data, ctx=self.ctx, layout=self.layout,
                                 batch_size=self.val_batch_size, workers=self.workers, flip_test=self.flip_test,
                                 amp=self.amp, channels_last=self.channels_last, progress=self.progress)
        metrics = {"val_loss": pred.loss}
        if self.evaluate is not None:
            scores = self.evaluate(pred.keypoints, pred.scores) if self.ctx.is_main else None
            metrics.update(_broadcast(self.ctx, scores))
        return metrics

    # -- the run ----------------------------------------------------------------------------
    def fit(self) -> list[dict[str, float]]:
        """Train from `start_epoch` to `epochs`, validating and checkpointing; returns the epoch history."""
        ctx = self.ctx
        if ctx.is_main and self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_outputs(self.out_dir)
        for epoch in range(self.start_epoch, self.epochs):
            row: dict[str, float] = {"epoch": epoch, "lr": self.lr}
            row.update(self.train_epoch(epoch))
            if self.schedule == "multistep":
                self.scheduler.step()
            last = epoch == self.epochs - 1
            if self.val_data is not None and ((epoch + 1) % self.val_every == 0 or last):
                row.update(self.validate())
            improved = self._track_best(row, epoch)
            self.history.append(row)
            if ctx.is_main and self.out_dir is not None:
                self._write_epoch(row, epoch, improved)
            if ctx.is_main:
                tqdm.write(" ".join(f"{k}={_fmt(v)}" for k, v in row.items()))
        if ctx.is_main and self.out_dir is not None:
            save_model_weights(self.model, self.out_dir / "final_state.pth")
            if self.best_epoch < 0:
                save_model_weights(self.model, self.out_dir / "best.pth")
        if self._writer is not None:
            self._writer.close()
        return self.history

    def _track_best(self, row: dict[str, float], epoch: int) -> bool:
        if self.metric and self.metric in row:
            value = row[self.metric]
        elif not self.metric and "val_loss" in row:
            value = -row["val_loss"]
        else:
            return False
        if value > self.best_metric:
            self.best_metric, self.best_epoch = float(value), epoch
            return True
        return False

    def _write_epoch(self, row: dict[str, float], epoch: int, improved: bool) -> None:
        out = self.out_dir
        assert out is not None
        if improved:
            save_model_weights(self.model, out / "best.pth")
        save_training_state(out / "checkpoint.pth", model=self.model, optimizer=self.optimizer,
                            scheduler=self.scheduler, scaler=self.scaler, epoch=epoch + 1,
                            best_metric=self.best_metric, best_epoch=self.best_epoch, config=self.config,
                            history=self.history)
        write_bytes_atomic(out / "metrics.csv", _csv(self.history).encode("utf-8"))
        writer = self._tensorboard()
        for key, value in row.items():
            if key != "epoch":
                writer.add_scalar(key.replace("_", "/", 1) if key.startswith(("train_", "val_")) else key,
                                  value, epoch)
        writer.flush()

    def _tensorboard(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._writer


def _fmt(v: float) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"


def _csv(rows: list[dict[str, float]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------- evaluators

def coco_evaluator(split: DataSplit, *, in_vis_thre: float = 0.2, oks_nms_threshold: float = 0.9) -> Evaluator:
    """COCO keypoint AP of a split's predictions: official rescoring, OKS-NMS, pycocotools COCOeval."""
    s = split.samples
    # The official OKS area of a prediction: its padded crop window.
    areas = np.prod(s.scales * PIXEL_STD, axis=1)

    def evaluate(keypoints: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        keep, person = rescore_and_nms(s.image_ids, keypoints, scores, s.scores, areas, in_vis_thre, oks_nms_threshold)
        results = keypoint_results(s.image_ids[keep], keypoints[keep], scores[keep], person[keep])
        return evaluate_keypoints(split.coco.dataset, results)

    return evaluate


def mpii_evaluator(split: DataSplit, gt_mat: str | Path | None = None) -> Evaluator:
    """MPII PCKh (official table) of a split's predictions.

    Head boxes come from the JSON when every entry has one (hrtrack synth), else
    from the official `gt_<split>.mat` (`gt_mat`), whose people follow the JSON's order.
    """
    s = split.samples
    if np.isfinite(s.head_boxes).all():
        joints, visible, heads = s.joints, s.visible > 0, s.head_boxes
    else:
        if gt_mat is None or not Path(gt_mat).is_file():
            raise HrtrackError(f"{split.annotation} has no head boxes; PCKh needs the official gt .mat file "
                               f"({gt_mat or 'annot/gt_<split>.mat'})")
        joints, visible, heads = load_mpii_gt_mat(gt_mat)
        if len(joints) != len(s):
            raise HrtrackError(f"{gt_mat} has {len(joints)} people but {split.annotation} has {len(s)}")

    def evaluate(keypoints: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        return {f"PCKh_{k}" if not k.startswith("Mean") else k.replace("Mean", "PCKh"): v
                for k, v in pckh(keypoints, joints, visible, heads).summary().items()}

    return evaluate


def posetrack_evaluator(split: DataSplit) -> Evaluator:
    """PoseTrack frame-level mAP (poseval's definition) and PCKh@0.5 of predictions on ground-truth boxes.

    PCKh@0.5 pools every labelled joint (head size = 0.6 x head box diagonal);
    mAP ranks joints by their heatmap scores over all frames, as poseval does.
    """
    s = split.samples
    sequences = split.sequences
    assert sequences is not None
    has_head = np.isfinite(s.head_boxes).all(axis=1)
    labelled = (s.visible > 0) & has_head[:, None]
    heads = np.where(has_head[:, None], s.head_boxes, 1.0)
    firsts = np.cumsum([0] + [len(q.frames) for q in sequences])

    def evaluate(keypoints: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        err = normalised_errors(keypoints, s.joints, heads)
        metrics = {"PCKh": float(100.0 * ((err <= 0.5) & labelled).sum() / max(labelled.sum(), 1))}
        evaluator = PoseTrackEvaluator()
        for q, seq in enumerate(sequences):
            frames = []
            for f, gt in enumerate(seq.frames):
                rows = np.flatnonzero(s.image_ids == firsts[q] + f)
                n = len(rows)
                frames.append(PoseTrackFrame(gt.image, gt.is_labeled, keypoints[rows],
                                             np.ones((n, keypoints.shape[1]), bool), scores[rows],
                                             np.arange(n), scores[rows].mean(axis=1) if n else np.zeros(0),
                                             np.full((n, 4), np.nan), np.full((n, 4), np.nan)))
            evaluator.add_sequence(seq, PoseTrackSequence(seq.name, frames, seq.vid_id))
        metrics.update({f"mAP_{k}": v for k, v in column_values(evaluator.result().ap).items()})
        return metrics

    return evaluate


def split_evaluator(split: DataSplit, *, in_vis_thre: float = 0.2, oks_nms_threshold: float = 0.9,
                    mpii_gt_mat: str | Path | None = None) -> tuple[Evaluator, str]:
    """The evaluator of a split's format and the name of its headline metric (COCO AP, PCKh, mAP)."""
    if split.fmt == "coco":
        return coco_evaluator(split, in_vis_thre=in_vis_thre, oks_nms_threshold=oks_nms_threshold), "AP"
    if split.fmt == "mpii":
        return mpii_evaluator(split, mpii_gt_mat), "PCKh"
    return posetrack_evaluator(split), "mAP_Total"
