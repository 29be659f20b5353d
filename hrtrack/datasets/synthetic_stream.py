"""A streamed synthetic training source: every batch freshly rendered, a pure function of (seed, step).

A fixed folder of clips is read again every epoch and the small model learns it by
heart; a stream never repeats a person, so CPU time goes to learning. Item `step`
of `SyntheticStream` is the whole training batch of that step: `clips_per_batch`
clips, one frame of each, `crops_per_frame` people of that frame (cycling when the
frame has fewer), each with its own augmentation. A clip serves `clip_reuse`
steps (other frames, other augmentations), so its scene is set up once per
worker and reused; the batch itself never depends on that cache, the number of
workers or the order they run in. Those steps are spread out: consecutive steps
share no clip, because gradients that keep returning to the same few scenes for
a stretch of steps train a small network far worse at equal cost (measured in
docs/training.md).

Each crop follows the boxes the tracker will give the network: the person's
silhouette box (what the detector sees) or the box of its labelled joints
extended by 15% of its size on each side (what flow propagation makes), each
side jittered by a fraction of the box size, then the official scale / rotation
/ flip augmentation. Frames go through a JPEG round trip at the quality
`hrtrack synth` writes, so the network sees the artefacts of the held-out frames.
With `supervise_hidden`, joints the generator knows are hidden (covered, turned
away, outside the frame) are taught as absent (an all-zero target with weight 1)
instead of being left out of the loss, so the network learns to give them low
scores: an emitted hidden joint is a false positive in PoseTrack's MOTA and AP.
"""

from __future__ import annotations

from collections import OrderedDict

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import HrtrackError
from ..geometry import apply_affine, boxes_to_center_scale, joint_boxes
from ..models.codec import HeatmapCodec
from ..skeleton import Layout
from ..synthetic import SyntheticVideo, sample_script
from ..synthetic.script import check_clip_options
from .transforms import crop_image, flip_joints, normalise_crop, sample_scale_rotation

# Mixed into the clip seeds so streamed clips never coincide with `hrtrack synth`'s (seeded by [seed, number]).
STREAM_KEY = 7_919
# Clip ids of stand-ins for clips where a few drawn frames show nobody: past every regular clip id.
STAND_IN_OFFSET = 1 << 40
# The joint-box extension of flow propagation (FlowTrack, paper §3.3): this fraction of the
# box's width (height) is added on each side, as `tracking.propagate_boxes` does.
PROPAGATION_EXTEND = 0.15


class SyntheticStream(Dataset):
    """Training batches rendered on the fly from the synthetic generator; item `step` is step's batch.

    Item s is `(images (B,3,h,w) float32, targets (B,K,h/4,w/4), weights (B,K,1), meta)`
    with meta = {"step", "clip", "frame", "person", "flipped"} (B,) and "center",
    "scale" (B,2), "rotation" (B,): which person each crop shows and the crop window
    (`codec.crop_matrices(center, scale, rotation)`; a flipped crop is then mirrored).
    The same (seed, step, rank) always gives the same batch.

    Args:
        codec: input size, heatmap size, sigma and coordinates of the crops and targets.
        layout: joint layout ("posetrack" or "coco"; its flip pairs mirror the crops).
        batch_size: crops per step (a multiple of `crops_per_frame`).
        seed: seed of the clips and the augmentation.
        frame_size, people, clip_frames: the clips (as `hrtrack synth --size --people --frames`).
        crops_per_frame: crops taken from each rendered frame.
        clip_reuse: steps that draw frames from each clip (see `clip_id`).
        box_jitter: standard deviation of each box side's shift, as a fraction of the box size.
        scale_factor, rotation_factor, rotation_prob, flip: the official augmentation.
        supervise_hidden: teach hidden joints as absent (see the module docstring).
        jpeg_quality: JPEG round trip of every frame (0: none).
        rank, world_size: this process's share under DDP (other ranks draw other clips).
    """

    def __init__(self, codec: HeatmapCodec, layout: Layout, *, batch_size: int, seed: int = 0,
                 frame_size: tuple[int, int] = (640, 360), people: tuple[int, int] = (2, 5), clip_frames: int = 40,
                 crops_per_frame: int = 4, clip_reuse: int = 8, box_jitter: float = 0.05,
                 scale_factor: float = 0.25, rotation_factor: float = 30.0, rotation_prob: float = 0.6,
                 flip: bool = True, supervise_hidden: bool = True, jpeg_quality: int = 90, rank: int = 0,
                 world_size: int = 1):
        if layout.name not in ("posetrack", "coco"):
            raise HrtrackError(f"synthetic training data comes in the posetrack or coco joint layout, "
                               f"not {layout.name!r}")
        if crops_per_frame < 1 or batch_size < 1 or batch_size % crops_per_frame:
            raise HrtrackError(f"batch_size ({batch_size}) must be a positive multiple of crops_per_frame "
                               f"({crops_per_frame})")
        if clip_reuse < 1:
            raise HrtrackError(f"clip_reuse must be at least 1, got {clip_reuse}")
        if not 0 <= jpeg_quality <= 100:
            raise HrtrackError(f"jpeg_quality must be in 0..100 (0: no JPEG round trip), got {jpeg_quality}")
        check_clip_options(tuple(frame_size), clip_frames, tuple(people), 25.0)
        self.codec, self.layout = codec, layout
        self.batch_size, self.seed = batch_size, int(seed)
        self.frame_size, self.people, self.clip_frames = tuple(frame_size), tuple(people), int(clip_frames)
        self.crops_per_frame, self.clip_reuse = crops_per_frame, clip_reuse
        self.box_jitter = box_jitter
        self.scale_factor, self.rotation_factor, self.rotation_prob = scale_factor, rotation_factor, rotation_prob
        self.flip, self.supervise_hidden, self.jpeg_quality = flip, supervise_hidden, jpeg_quality
        self.rank, self.world_size = rank, world_size
        self._aspect = codec.input_size[0] / codec.input_size[1]
        self._flip_index = np.asarray(layout.flip_index)
        self._clips: OrderedDict[int, SyntheticVideo] = OrderedDict()

    @property
    def clips_per_batch(self) -> int:
        return self.batch_size // self.crops_per_frame

    # -- the draw ---------------------------------------------------------------------------
    def clip_id(self, step: int, slot: int) -> int:
        """The clip that fills `slot` of `step`'s batch.

        With C clips per batch, step s takes row s mod C of C x C lanes, so consecutive
        steps share no clip (with C > 1) and each lane is drawn every C steps. A lane
        keeps its clip for clip_reuse draws; the lanes change clips at staggered
        draws, so that new scenes are set up at an even pace rather than all at once.
        """
        c = self.clips_per_batch
        lane = (step % c) * c + slot
        generation = (step // c + lane * self.clip_reuse // (c * c)) // self.clip_reuse
        return (generation * self.world_size + self.rank) * c * c + lane

    def clip(self, clip_id: int) -> SyntheticVideo:
        """The clip `clip_id`: its script drawn from (seed, STREAM_KEY, clip_id); recent ones are kept set up."""
        if clip_id not in self._clips:
            rng = np.random.default_rng([self.seed, STREAM_KEY, clip_id])
            script = sample_script(rng, self.frame_size, self.clip_frames, self.people)
            self._clips[clip_id] = SyntheticVideo.from_script(script, number=clip_id % 1_000_000, split="train")
            # Least recently drawn first: every lane draws its clip each C steps, so the C x C clips
            # in use stay; C more leave room for stand-ins.
            while len(self._clips) > self.clips_per_batch * (self.clips_per_batch + 1):
                self._clips.popitem(last=False)
        self._clips.move_to_end(clip_id)
        return self._clips[clip_id]

    def frame(self, video: SyntheticVideo, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Frame t (JPEG round trip) with its annotated people: joints (N,K,2), labelled (N,K), boxes (N,4)."""
        image, truth = video.render(t)
        if self.jpeg_quality:
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
            assert ok, "JPEG encoding of a uint8 BGR frame cannot fail"
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
        joints, labelled = truth.keypoints(self.layout.name)
        return image, joints.astype(np.float64), labelled, truth.boxes.astype(np.float64)

    def sample_box(self, joints: np.ndarray, labelled: np.ndarray, box: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
        """A tracker-like box (4,) for one person: silhouette or extended joint box, sides jittered."""
        if rng.random() < 0.5 and labelled.sum() >= 2:
            boxes, _ = joint_boxes(joints[None], labelled[None].astype(np.float32), 0.5, PROPAGATION_EXTEND)
            joint_box = boxes[0].astype(np.float64)
            if (joint_box[2:] - joint_box[:2]).min() > 1:
                box = joint_box
        size = np.maximum(box[2:] - box[:2], 1.0)
        return box + rng.normal(0.0, self.box_jitter, 4) * np.tile(size, 2)

    def __getitem__(self, step: int):
        step = int(step)
        k, h, w = self.layout.num_joints, self.codec.input_size[1], self.codec.input_size[0]
        b = self.batch_size
        images = np.empty((b, 3, h, w), np.float32)
        targets = np.empty((b, k, *self.codec.heatmap_size[::-1]), np.float32)
        weights = np.empty((b, k), np.float32)
        meta = {name: np.zeros(b, np.int64) for name in ("clip", "frame", "person", "flipped")}
        meta.update(center=np.zeros((b, 2)), scale=np.zeros((b, 2)), rotation=np.zeros(b))
        for slot in range(self.clips_per_batch):
            rng = np.random.default_rng([self.seed, STREAM_KEY, step, self.rank, slot])
            cid, t, (image, joints, labelled, boxes) = self._pick(self.clip_id(step, slot), rng)
            order = rng.permutation(len(boxes))
            for q in range(self.crops_per_frame):
                i = slot * self.crops_per_frame + q
                p = int(order[q % len(order)])
                images[i], targets[i], weights[i], window = self._crop(image, joints[p], labelled[p], boxes[p], rng)
                meta["clip"][i], meta["frame"][i], meta["person"][i] = cid, t, p
                meta["center"][i], meta["scale"][i], meta["rotation"][i], meta["flipped"][i] = window
        meta["step"] = np.full(b, step, np.int64)
        return (torch.from_numpy(images), torch.from_numpy(targets), torch.from_numpy(weights[..., None]),
                {name: torch.from_numpy(v) for name, v in meta.items()})

    def _pick(self, cid: int, rng: np.random.Generator) -> tuple[int, int, tuple]:
        """(clip id, frame, frame data) of a frame showing someone: frames drawn from clip `cid`, or, when
        a few draws find nobody (everyone walked out), from stand-in clips numbered past all regular ones."""
        for attempt in range(4):
            clip_id = cid + attempt * STAND_IN_OFFSET
            video = self.clip(clip_id)
            for _ in range(8):
                t = int(rng.integers(self.clip_frames))
                frame = self.frame(video, t)
                if len(frame[3]):
                    return clip_id, t, frame
        raise HrtrackError(f"synthetic clip {cid} (seed {self.seed}) and its stand-ins show nobody in 32 drawn "
                           f"frames; try other data.stream.people or frame_size")

    def _crop(self, image: np.ndarray, joints: np.ndarray, labelled: np.ndarray, box: np.ndarray,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
        """Normalised crop (3,h,w), targets (K,h/4,w/4), weights (K,) and the window (center, scale, rotation, flipped)."""
        center, scale = boxes_to_center_scale(self.sample_box(joints, labelled, box, rng)[None], self._aspect)
        mult, rotation = sample_scale_rotation(rng, self.scale_factor, self.rotation_factor, self.rotation_prob)
        scale = scale * mult
        crop, mat = crop_image(image, center[0], scale[0], rotation, self.codec.input_size, udp=self.codec.udp)
        in_crop = apply_affine(joints[None], mat[None])[0]
        vis = labelled.astype(np.float32)
        flipped = bool(self.flip and rng.random() <= 0.5)
        if flipped:
            # Mirroring the crop array maps pixel x to w - 1 - x in either coordinate convention.
            crop = np.ascontiguousarray(crop[:, ::-1])
            in_crop, vis = flip_joints(in_crop, vis, crop.shape[1], self._flip_index)
        target, weight = self.codec.encode(in_crop[None], vis[None])
        if self.supervise_hidden:
            weight = np.ones_like(weight)
        return normalise_crop(crop), target[0], weight[0], (center[0], scale[0], rotation, flipped)
