#!/usr/bin/env python
"""Per-frame cost of the tracking stages against the pose estimator's.

Tracking (timed together, per frame): flow propagation of the previous frame's
poses into candidate boxes, NMS merging them with the frame's detections, OKS-NMS
of the estimated poses, and association (flow-moved track poses, OKS similarity,
greedy matching, track state). The flow field itself is an input here, not timed
(its backend is a separate stage). The inputs are a synthetic scene of --people
people walking across a --width x --height frame, with jittered detections plus
false positives, so every stage does its real work.

Estimator: W32-256x192 HRNet (random weights: speed does not depend on them) on
the same number of boxes, one batched forward pass with flip test, as the
pipeline runs it.

The last line is `RESULT fraction=<tracking / estimator time per frame> ...`
(median per-frame times); the goal is a fraction of at most 0.05.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from tqdm import tqdm

from hrtrack.models import PoseEstimator, build_pose_model, load_model_config
from hrtrack.skeleton import COCO
from hrtrack.structures import Boxes, Poses
from hrtrack.tracking import FlowTracker, merge_boxes, oks_nms, propagate_boxes, warp_poses

K = COCO.num_joints


class Scene:
    """People with fixed joint offsets moving at constant velocity; estimates are the truth plus noise."""

    def __init__(self, people: int, width: int, height: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.size = (width, height)
        self.start = rng.uniform([100, 150], [width - 100, height - 150], (people, 2))
        self.velocity = rng.uniform(-4, 4, (people, 2))
        self.offsets = rng.uniform([-30, -80], [30, 80], (people, K, 2))

    def keypoints(self, t: int) -> np.ndarray:
        return (self.start + t * self.velocity)[:, None, :] + self.offsets

    def flow(self, t: int) -> np.ndarray:
        """A smooth field (mean velocity plus a gentle gradient) from frame t-1 to t."""
        width, height = self.size
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        mean = self.velocity.mean(axis=0)
        return np.stack([mean[0] + 1e-3 * (x - width / 2), mean[1] + 1e-3 * (y - height / 2)], -1)

    def detections(self, t: int) -> Boxes:
        kp = self.keypoints(t)
        boxes = np.concatenate([kp.min(1), kp.max(1)], 1) + self.rng.normal(0, 3, (len(kp), 4))
        false_pos = self.rng.uniform(0, min(self.size) - 100, (3, 2))
        boxes = np.concatenate([boxes, np.concatenate([false_pos, false_pos + 80], 1)])
        return Boxes(boxes, self.rng.uniform(0.3, 1.0, len(boxes)))

    def estimates(self, t: int, boxes: Boxes) -> Poses:
        """One pose per box: the nearest person's joints, jittered."""
        kp = self.keypoints(t)
        centers = (boxes.boxes[:, :2] + boxes.boxes[:, 2:]) / 2
        nearest = np.argmin(((centers[:, None] - kp.mean(1)[None]) ** 2).sum(-1), axis=1)
        joints = kp[nearest] + self.rng.normal(0, 2, (len(boxes), K, 2))
        return Poses(joints, self.rng.uniform(0.1, 1.0, (len(boxes), K)), boxes.scores, boxes.boxes)


def time_tracking(scene: Scene, frames: int) -> list[float]:
    tracker = FlowTracker()
    previous = Poses.empty(K)
    times = []
    for t in tqdm(range(frames), desc="tracking", unit="frame"):
        flow = scene.flow(t) if t else None
        detections = scene.detections(t)
        start = time.perf_counter()
        moved = warp_poses(previous, flow) if flow is not None else previous
        if flow is not None:
            boxes = merge_boxes(detections, propagate_boxes(moved, image_size=scene.size), 0.5)
        else:
            boxes = detections
        elapsed = time.perf_counter() - start
        poses = scene.estimates(t, boxes)  # stands in for the estimator: not timed
        start = time.perf_counter()
        areas = (poses.boxes[:, 2] - poses.boxes[:, 0]) * (poses.boxes[:, 3] - poses.boxes[:, 1])
        keep = oks_nms(poses.keypoints, poses.keypoint_scores, poses.scores, areas, 0.9, COCO.sigmas)
        previous = tracker(poses.take(keep), moved, flow)
        elapsed += time.perf_counter() - start
        if t:
            times.append(elapsed)
    return times


def time_estimator(scene: Scene, model_name: str, frames: int, device: str) -> list[float]:
    cfg = load_model_config(model_name)
    torch.manual_seed(0)
    estimator = PoseEstimator(build_pose_model(cfg), cfg.input_size, device=device)
    width, height = scene.size
    frame = scene.rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    sync = torch.cuda.synchronize if estimator.device.type == "cuda" else (lambda: None)
    boxes = scene.detections(0).take(np.arange(len(scene.start)))  # exactly --people boxes
    estimator(frame, boxes.boxes, boxes.scores)  # warm-up
    times = []
    for _ in tqdm(range(frames), desc=f"{model_name} estimator", unit="frame"):
        sync()
        start = time.perf_counter()
        estimator(frame, boxes.boxes, boxes.scores)
        sync()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10, help="people per frame (default 10)")
    parser.add_argument("--frames", type=int, default=200, help="tracked frames (default 200)")
    parser.add_argument("--estimator-frames", type=int, default=5, help="estimator runs (default 5)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--model", default="w32_256x192", help="pose model config (default w32_256x192)")
    parser.add_argument("--device", default="cpu", help="estimator device: auto, cpu, cuda[:i] (default cpu)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    scene = Scene(args.people, args.width, args.height, np.random.default_rng(args.seed))
    tracking = float(np.median(time_tracking(scene, args.frames)))
    estimator = float(np.median(time_estimator(scene, args.model, args.estimator_frames, args.device)))
    print(f"{args.people} people, {args.width}x{args.height}, {torch.get_num_threads()} torch threads")
    print(f"tracking (propagation + NMS + OKS-NMS + association): {tracking * 1e3:.3f} ms/frame (median)")
    print(f"{args.model} estimator, {args.people} crops, flip test: {estimator * 1e3:.1f} ms/frame (median)")
    print(f"RESULT fraction={tracking / estimator:.4f} tracking_ms={tracking * 1e3:.3f} "
          f"estimator_ms={estimator * 1e3:.1f}")


if __name__ == "__main__":
    main()
