"""The top-down pose estimator: boxes of a frame -> poses, in one batched forward pass.

Per box (DESIGN.md §4): center/scale with aspect 3:4 and 1.25 padding, affine crop
(OpenCV, as the official code), RGB + ImageNet normalisation, flip test (flipped
heatmaps flipped back, joints swapped, shifted one pixel), argmax + quarter-pixel
refinement, inverse affine to image pixels. Keypoint score = heatmap maximum;
person score = box score x mean of the keypoint scores above `in_vis_thre`.

Only the network call goes through an engine (torch, ONNX Runtime, OpenVINO; see
engines.py); crop, flip test and decoding are this one path for all of them.
"""

from __future__ import annotations

import json
import os
import time
from typing import Sequence

import cv2
import numpy as np
import torch
from torch import nn

from ..device import resolve_device
from ..errors import HrtrackError
from ..geometry import PIXEL_STD, apply_affine, boxes_to_center_scale
from ..skeleton import COCO, Layout
from ..structures import Poses
from ..timing import StageTimer
from ..tracking.oks import person_scores
from .codec import HeatmapCodec
from .engines import Engine, build_engine
from .export import IMAGENET_MEAN, IMAGENET_STD

class PoseEstimator:
    """Batched HRNet inference on person boxes.

    Args:
        model: a network mapping normalised RGB (B,3,h,w) to heatmaps (B,K,h/4,w/4), the
            path of an ONNX file of one (`hrtrack export`), or a built `Engine`.
        codec: the heatmap codec (input size, heatmap size, decoding), or just the
            network input (w, h), e.g. (192, 256), for the official codec of that size.
        engine: what runs the network: "torch", "onnxruntime", "openvino" or "auto"
            (the fastest installed on the CPU; see engines.py).
        threads: threads of the ONNX engines (None: torch's thread count).
        flip_test: average with the heatmaps of the mirrored crop.
        layout: joint layout; its flip pairs drive the flip test.
        device: "auto", "cpu", "cuda", "cuda:N" or a torch.device.
        fold_bn: fold BatchNorm into convolutions (same numbers, faster; torch engine).
        precision: "auto" (fp16 autocast on CUDA, fp32 on CPU), "fp32", "fp16" or "bf16".
        channels_last: NHWC memory format (faster on CPU and CUDA here; torch engine; see
            scripts/bench_estimator.py).
        max_batch: most crops (before flipping) per engine call, bounding memory.
    """

    def __init__(self, model: nn.Module | str | os.PathLike | Engine,
                 codec: HeatmapCodec | tuple[int, int] = (192, 256), *, engine: str = "torch",
                 threads: int | None = None, flip_test: bool = True, layout: Layout = COCO,
                 device: str | torch.device = "auto", fold_bn: bool = True, precision: str = "auto",
                 channels_last: bool = True, max_batch: int = 64, in_vis_thre: float = 0.2):
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise HrtrackError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        self.codec = codec if isinstance(codec, HeatmapCodec) else HeatmapCodec.from_input_size(codec)
        self.flip_test = flip_test
        self.layout = layout
        self.max_batch = max_batch
        self.in_vis_thre = in_vis_thre
        if isinstance(model, Engine):
            self.engine = model
        else:
            self.engine = build_engine(model, engine, self.input_size, threads, device=resolve_device(device),
                                       precision=precision, fold_bn=fold_bn, channels_last=channels_last)
        _check_joints(self.engine, layout)
        self.device = self.engine.device
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255
        self._flip_index = torch.as_tensor(layout.flip_index, device=self.device)

    @property
    def input_size(self) -> tuple[int, int]:
        """Network input (w, h)."""
        return self.codec.input_size

    @property
    def heatmap_size(self) -> tuple[int, int]:
        """Heatmap (w, h)."""
        return self.codec.heatmap_size

    # -- stages ---------------------------------------------------------------------------
    def crop(self, frame_bgr: np.ndarray, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """Affine crops (N,h,w,3) uint8 BGR of the scale windows, bilinear as officially."""
        mats = self.codec.crop_matrices(centers, scales)
        w, h = self.input_size
        out = np.empty((len(mats), h, w, 3), np.uint8)
        for i, m in enumerate(mats):
            cv2.warpAffine(frame_bgr, m, (w, h), dst=out[i], flags=cv2.INTER_LINEAR)
        return out

    def normalise(self, crops_bgr: np.ndarray) -> torch.Tensor:
        """uint8 BGR crops (N,h,w,3) -> normalised RGB float batch (N,3,h,w) on the device."""
        x = torch.from_numpy(crops_bgr).to(self.device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).flip(1).float()
        return (x - self._mean) / self._std

    @torch.inference_mode()
    def heatmaps(self, batch: torch.Tensor) -> torch.Tensor:
        """Heatmaps (N,K,h/4,w/4) float32 of a normalised batch, flip-averaged when enabled.

        The crops and their mirrors go to the engine in one call, in the memory format it wants.
        """
        memory_format = torch.channels_last if self.engine.channels_last else torch.contiguous_format
        outs = []
        for start in range(0, len(batch), self.max_batch):
            x = batch[start:start + self.max_batch]
            if self.flip_test:
                x = torch.cat([x, x.flip(3)])
            y = self.engine.forward(x.contiguous(memory_format=memory_format))
            if self.flip_test:
                y, yf = y.chunk(2)
                yf = yf.flip(3)[:, self._flip_index]
                # The mirrored crop's features are offset by one pixel (official SHIFT_HEATMAP; none under UDP).
                if self.codec.flip_shift:
                    yf = torch.cat([yf[..., :1], yf[..., :-1]], dim=3)
                y = (y + yf) * 0.5
            outs.append(y)
        return torch.cat(outs) if outs else torch.zeros((0, self.layout.num_joints, *self.heatmap_size[::-1]))

    def decode(self, heatmaps: torch.Tensor, centers: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps -> keypoints (N,K,2) in image pixels and keypoint scores (N,K)."""
        coords, maxvals = self.codec.decode(heatmaps)
        inv = self.codec.heatmap_matrices(centers, scales, inverse=True)
        kpts = apply_affine(coords.cpu().numpy(), inv)
        return kpts.astype(np.float32), maxvals.cpu().numpy().astype(np.float32)

    # -- public calls ---------------------------------------------------------------------
    def __call__(self, frame_bgr: np.ndarray, boxes_xyxy: np.ndarray, box_scores: np.ndarray | None = None,
                 timer: StageTimer | None = None) -> Poses:
        """Poses for all boxes (N,4) x1,y1,x2,y2 of one BGR frame, one batched forward pass."""
        return self.estimate_frames([frame_bgr], [boxes_xyxy], [box_scores], timer=timer)[0]

    def estimate_frames(self, frames_bgr: Sequence[np.ndarray], boxes_xyxy: Sequence[np.ndarray],
                        box_scores: Sequence[np.ndarray | None] | None = None, *,
                        timer: StageTimer | None = None) -> list[Poses]:
        """Poses for the boxes of several frames, crops of all frames in one batch.

        With a `timer`, the time of the crop, hrnet and decode heatmaps steps is added
        to it. On CUDA the network runs asynchronously; its time then shows up in the
        decode step, which waits for it.
        """
        if box_scores is None:
            box_scores = [None] * len(frames_bgr)
        if not len(frames_bgr) == len(boxes_xyxy) == len(box_scores):
            raise HrtrackError(f"frames, boxes and box scores must have the same length, got {len(frames_bgr)}, "
                               f"{len(boxes_xyxy)} and {len(box_scores)}")
        timer = timer if timer is not None else StageTimer()
        t = time.perf_counter()
        k = self.layout.num_joints
        crops, centers, scales, scores, counts = [], [], [], [], []
        for frame, boxes, bscores in zip(frames_bgr, boxes_xyxy, box_scores):
            if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
                raise HrtrackError(f"frame must be an HxWx3 uint8 BGR array, got {got}")
            b = np.asarray(boxes, np.float32).reshape(-1, 4)
            # A degenerate box still yields a 1-pixel window instead of a division by zero.
            b = np.concatenate([b[:, :2], np.maximum(b[:, 2:], b[:, :2] + 1.0)], axis=1)
            c, s = boxes_to_center_scale(b, self.input_size[0] / self.input_size[1])
            crops.append(self.crop(frame, c, s))
            centers.append(c)
            scales.append(s)
            scores.append(np.ones(len(b), np.float32) if bscores is None else np.asarray(bscores, np.float32))
            counts.append(len(b))
        c, s = np.concatenate(centers), np.concatenate(scales)
        if len(c) == 0:
            timer.add("crop", t)
            return [Poses.empty(k) for _ in frames_bgr]
        batch = self.normalise(np.concatenate(crops))
        t = timer.add("crop", t)
        hm = self.heatmaps(batch)
        t = timer.add("hrnet", t)
        kpts, kscores = self.decode(hm, c, s)
        box_s = np.concatenate(scores)
        person = person_scores(box_s, kscores, self.in_vis_thre).astype(np.float32)
        # The box each pose was estimated from, as x1,y1,x2,y2 of the padded crop window.
        half = s * (PIXEL_STD / 2)
        boxes = np.concatenate([c - half, c + half], axis=1).astype(np.float32)
        out, start = [], 0
        for n in counts:
            sl = slice(start, start + n)
            out.append(Poses(kpts[sl], kscores[sl], person[sl], boxes[sl]))
            start += n
        timer.add("decode heatmaps", t)
        return out


def _check_joints(engine: Engine, layout: Layout) -> None:
    """An exported file made for other joints would flip and name them wrongly: refuse it."""
    meta = engine.metadata
    if "num_joints" in meta and int(json.loads(meta["num_joints"])) != layout.num_joints:
        raise HrtrackError(f"the ONNX file has {meta['num_joints']} joints; the {layout.name!r} layout has "
                           f"{layout.num_joints}")
    if "joint_layout" in meta and meta["joint_layout"] != layout.name:
        raise HrtrackError(f"the ONNX file was exported for the {meta['joint_layout']!r} joint layout; "
                           f"the model config's is {layout.name!r}")
