"""Top-down training and validation samples: one person crop + heatmap targets per item.

Sources, read the way the official HRNet code reads them:

* COCO keypoints (pycocotools): crowd people, people without a labelled keypoint
  and boxes of zero area are skipped; boxes are sanitised (`clean_coco_boxes`);
  visibility 2 counts as 1. Or person boxes from a COCO detection file (testing).
* MPII (the official HRNet JSON, read 0-based by `hrtrack.formats.mpii`): the
  center moved down by 15 x scale px and the scale grown by 1.25, as officially.
* PoseTrack 2017/2018 (labelled frames, 17-slot PoseTrack layout): the box of each
  person's annotated keypoints extended by 15% (paper §4.3).

Samples are stored as arrays (no per-person objects), so DataLoader workers share
them without copying. Augmentation (`hrtrack.datasets.transforms`) draws from a
`np.random.Generator` seeded by (seed, epoch, index): the same sample is augmented
the same way whatever the number of workers or processes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import HrtrackError
from ..fileio import resolve_under
from ..geometry import apply_affine, boxes_to_center_scale
from ..models.codec import HeatmapCodec
from ..skeleton import Layout
from ..formats.coco import load_coco as read_coco
from ..formats.detections import read_coco_detections
from ..formats.mpii import NUM_JOINTS as MPII_JOINTS
from ..formats.mpii import read_mpii_json
from ..formats.posetrack import NUM_JOINTS as POSETRACK_JOINTS
from ..formats.posetrack import PoseTrackSequence, read_sequence, sequence_files
from .transforms import (clean_coco_boxes, crop_image, flip_center, flip_joints, half_body_center_scale,
                         keypoint_boxes, normalise_crop, sample_scale_rotation, upper_body_mask)

DataFormat = Literal["coco", "mpii", "posetrack"]

# PoseTrack training boxes: the keypoints' box extended by 15% in length (paper §4.3).
POSETRACK_BOX_EXTEND = 0.15


@dataclass(frozen=True)
class TopDownSamples:
    """N person samples in one joint layout of K joints.

    images (N,) str image paths; centers (N,2) and scales (N,2) float64 in the
    official convention (pixels; PIXEL_STD units); joints (N,K,2) float32 image
    pixels; visible (N,K) float32 (0 = unlabelled); scores (N,) float32 box scores
    (1 for ground truth); image_ids (N,) int64 (COCO image id, or frame ordinal);
    head_boxes (N,4) float32 x1,y1,x2,y2, NaN where unknown.
    """

    images: np.ndarray
    centers: np.ndarray
    scales: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    scores: np.ndarray
    image_ids: np.ndarray
    head_boxes: np.ndarray

    def __post_init__(self) -> None:
        lengths = {f.name: len(getattr(self, f.name)) for f in fields(self)}
        if len(set(lengths.values())) > 1:
            raise HrtrackError(f"sample arrays differ in length: {lengths}")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_joints(self) -> int:
        return self.joints.shape[1]

    def take(self, index) -> "TopDownSamples":
        """Subset by an integer index array or boolean mask."""
        return TopDownSamples(*(getattr(self, f.name)[index] for f in fields(self)))


def _samples(images: list[str], centers, scales, joints, visible, scores, image_ids, head_boxes,
             num_joints: int) -> TopDownSamples:
    n = len(images)
    return TopDownSamples(
        images=np.array(images, dtype=str).reshape(n),
        centers=np.asarray(centers, np.float64).reshape(n, 2),
        scales=np.asarray(scales, np.float64).reshape(n, 2),
        joints=np.asarray(joints, np.float32).reshape(n, num_joints, 2),
        visible=np.asarray(visible, np.float32).reshape(n, num_joints),
        scores=np.asarray(scores, np.float32).reshape(n),
        image_ids=np.asarray(image_ids, np.int64).reshape(n),
        head_boxes=np.asarray(head_boxes, np.float32).reshape(n, 4),
    )


# ----------------------------------------------------------------------------- COCO

def coco_image_dir(root: str | Path, split: str, coco) -> Path:
    """The folder the COCO file names are relative to: images/<split>/ (COCO's release) or images/.

    COCO's own files name images "000000119993.jpg" under images/<split>/; `hrtrack
    synth` names them "<split>/<seq>/000000.jpg" under images/. The first image decides.
    """
    nested = Path(root) / "images" / split
    first = next(iter(coco.imgs.values()), None)
    if first is not None and not (nested / first["file_name"]).is_file() \
            and (Path(root) / "images" / first["file_name"]).is_file():
        return Path(root) / "images"
    return nested


def load_coco(coco, image_dir: str | Path, aspect_ratio: float, num_joints: int = 17) -> TopDownSamples:
    """Ground-truth person samples of a pycocotools `COCO` (see the module docstring)."""
    person_ids = set(coco.getCatIds(catNms=["person"]))
    image_dir = Path(image_dir)
    anns = [a for a in coco.loadAnns(coco.getAnnIds(iscrowd=False))
            if a.get("category_id") in person_ids and a.get("area", 0) > 0]
    images, boxes, kps, ids = [], [], [], []
    for a in anns:
        kp = np.asarray(a.get("keypoints", []), np.float64)
        if kp.size != num_joints * 3:
            raise HrtrackError(f"COCO annotation {a.get('id')}: expected {num_joints * 3} keypoint values, "
                               f"got {kp.size}")
        if kp.max() == 0:
            continue
        img = coco.imgs[a["image_id"]]
        box, valid = clean_coco_boxes(np.asarray(a["bbox"], np.float64), img["width"], img["height"])
        if not valid[0]:
            continue
        images.append(str(resolve_under(image_dir, img["file_name"], f"COCO image {a['image_id']}")))
        boxes.append(box[0])
        kps.append(kp.reshape(num_joints, 3))
        ids.append(a["image_id"])
    kps_arr = np.asarray(kps, np.float64).reshape(-1, num_joints, 3)
    centers, scales = boxes_to_center_scale(np.asarray(boxes).reshape(-1, 4), aspect_ratio)
    n = len(images)
    return _samples(images, centers, scales, kps_arr[..., :2], np.minimum(kps_arr[..., 2], 1.0),
                    np.ones(n), ids, np.full((n, 4), np.nan), num_joints)


def load_coco_detections(detection_file: str | Path, coco, image_dir: str | Path, aspect_ratio: float,
                         num_joints: int = 17, min_score: float = 0.0) -> TopDownSamples:
    """Person samples from a COCO detection file `[{"image_id","category_id","bbox":[x,y,w,h],"score"}]`.

    The file is read by the one detection reader (`hrtrack.formats.detections`:
    zero-size boxes dropped, each image's boxes by decreasing score); detections
    scoring below `min_score` are dropped, as the official code does; joints are
    unknown (zeros, visible).
    Detections of images absent from `coco` are left out; none left is an error.
    """
    # A detection file may cover frames the keypoint file leaves out (unlabelled video frames).
    dets = {i: b for i, b in read_coco_detections(detection_file).by_image_id.items() if i in coco.imgs}
    if not dets:
        raise HrtrackError(f"{detection_file}: no image_id matches an image of the annotation file")
    image_dir = Path(image_dir)
    images, boxes, scores, ids = [], [], [], []
    for image_id, b in dets.items():
        keep = b.scores >= min_score
        images += [str(resolve_under(image_dir, coco.imgs[image_id]["file_name"], f"COCO image {image_id}"))] \
            * int(keep.sum())
        boxes.append(b.boxes[keep])
        scores.append(b.scores[keep])
        ids.append(np.full(int(keep.sum()), image_id))
    boxes_a = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    centers, scales = boxes_to_center_scale(boxes_a, aspect_ratio)
    n = len(images)
    return _samples(images, centers, scales, np.zeros((n, num_joints, 2)), np.ones((n, num_joints)),
                    np.concatenate(scores) if scores else np.zeros(0), np.concatenate(ids) if ids else np.zeros(0),
                    np.full((n, 4), np.nan), num_joints)


# ----------------------------------------------------------------------------- MPII

def load_mpii(annotation_file: str | Path, image_dir: str | Path) -> TopDownSamples:
    """Person samples of an official-HRNet MPII JSON list (read by `hrtrack.formats.mpii`).

    The official adjustment: the center moves down by 15 x scale pixels and the
    scale grows by 1.25 (unless the center is the "missing" marker -1), keeping
    the legs inside the crop. Head boxes come along when the file has them.
    """
    ann = read_mpii_json(annotation_file)
    image_dir = Path(image_dir)
    centers = ann.centers.astype(np.float64)
    scales = np.repeat(ann.scales.astype(np.float64)[:, None], 2, axis=1)
    # The reader made coordinates 0-based; the marker is -1 in the file's 1-based terms.
    present = centers[:, 0] + 1 != -1
    centers[present, 1] += 15 * scales[present, 1]
    scales[present] *= 1.25
    n = len(ann)
    images = [str(resolve_under(image_dir, im, str(annotation_file))) for im in ann.images]
    return _samples(images, centers, scales, ann.joints,
                    ann.joints_vis.astype(np.float32), np.ones(n), np.arange(n), ann.head_boxes, MPII_JOINTS)


# ----------------------------------------------------------------------------- PoseTrack

def load_posetrack(sequences: list[PoseTrackSequence], root: str | Path, aspect_ratio: float,
                   extend: float = POSETRACK_BOX_EXTEND) -> TopDownSamples:
    """Person samples of the labelled frames of PoseTrack sequences (17-slot PoseTrack layout).

    Boxes come from the annotated keypoints extended by `extend`; people with no
    annotated joint, or whose joints all coincide, are skipped. `image_ids` number
    the frames of all sequences in order (sequence by sequence), so predictions can
    be written back frame by frame.
    """
    root = Path(root)
    images, kps, vis, heads, ids = [], [], [], [], []
    ordinal = 0
    for seq in sequences:
        for frame in seq.frames:
            if frame.is_labeled and len(frame):
                n = len(frame)
                images += [str(resolve_under(root, frame.image, seq.name))] * n
                kps.append(frame.keypoints)
                vis.append(frame.visible.astype(np.float32))
                heads.append(frame.head_boxes)
                ids.append(np.full(n, ordinal))
            ordinal += 1
    k = POSETRACK_JOINTS
    kps_a = np.concatenate(kps) if kps else np.zeros((0, k, 2), np.float32)
    vis_a = np.concatenate(vis) if vis else np.zeros((0, k), np.float32)
    boxes = keypoint_boxes(kps_a, vis_a, extend)
    keep = np.isfinite(boxes).all(axis=1) & ((boxes[:, 2:] - boxes[:, :2]).max(axis=1) > 0)
    centers, scales = boxes_to_center_scale(boxes[keep], aspect_ratio)
    return _samples([im for im, kk in zip(images, keep) if kk], centers, scales, kps_a[keep], vis_a[keep],
                    np.ones(int(keep.sum())), np.concatenate(ids)[keep] if ids else np.zeros(0),
                    np.concatenate(heads)[keep] if heads else np.zeros((0, 4)), k)


def read_posetrack_folder(folder: str | Path) -> list[PoseTrackSequence]:
    """The sequences of a folder of PoseTrack 2017 or 2018 per-sequence files, sorted by name."""
    files = sequence_files(folder)
    if not files:
        raise HrtrackError(f"no PoseTrack .json files in {folder}")
    return [read_sequence(p) for p in files.values()]


# ----------------------------------------------------------------------------- dataset roots

def find_annotations(fmt: DataFormat, root: str | Path, split: str) -> Path:
    """The annotation file (COCO, MPII) or folder (PoseTrack) of a split under a dataset root.

    Both the datasets' own layouts and `hrtrack synth` output are accepted:
    COCO `annotations/person_keypoints_<split>.json` or `annotations/coco/...`;
    MPII `annot/<split>.json` or `annotations/mpii/<split>.json`; PoseTrack
    `annotations/<split>/` or `annotations/posetrack18|posetrack17/<split>/`.
    """
    root = Path(root)
    if not root.is_dir():
        raise HrtrackError(f"dataset root not found: {root}")
    if fmt == "coco":
        candidates = [root / "annotations" / "coco" / f"person_keypoints_{split}.json",
                      root / "annotations" / f"person_keypoints_{split}.json"]
        found = [p for p in candidates if p.is_file()]
    elif fmt == "mpii":
        candidates = [root / "annotations" / "mpii" / f"{split}.json", root / "annot" / f"{split}.json"]
        found = [p for p in candidates if p.is_file()]
    elif fmt == "posetrack":
        candidates = [root / "annotations" / "posetrack18" / split, root / "annotations" / "posetrack17" / split,
                      root / "annotations" / split]
        found = [p for p in candidates if p.is_dir() and any(p.glob("*.json"))]
    else:
        raise HrtrackError(f"unknown data format {fmt!r}; known: coco, mpii, posetrack")
    if not found:
        raise HrtrackError(f"no {fmt} annotations for split {split!r} under {root}; looked for "
                           + ", ".join(str(p.relative_to(root)) for p in candidates))
    return found[0]


@dataclass
class DataSplit:
    """One split of a dataset: its samples and what its evaluator needs.

    `annotation` is the COCO / MPII file or the PoseTrack folder; `coco` the
    pycocotools object (COCO only); `sequences` the PoseTrack ground truth.
    """

    fmt: DataFormat
    samples: TopDownSamples
    annotation: Path
    coco: object | None = None
    sequences: list[PoseTrackSequence] | None = None


def open_split(fmt: DataFormat, root: str | Path, split: str, *, aspect_ratio: float, num_joints: int,
               detections: str | Path | None = None, min_detection_score: float = 0.0) -> DataSplit:
    """Read the samples of one split; COCO may take person boxes from a detection file.

    `num_joints` is COCO's keypoint count; MPII (16) and PoseTrack (17) have fixed layouts.
    """
    ann = find_annotations(fmt, root, split)
    if fmt == "coco":
        coco = read_coco(ann)
        image_dir = coco_image_dir(root, split, coco)
        if detections:
            samples = load_coco_detections(detections, coco, image_dir, aspect_ratio, num_joints,
                                           min_detection_score)
        else:
            samples = load_coco(coco, image_dir, aspect_ratio, num_joints)
        return DataSplit(fmt, samples, ann, coco=coco)
    if detections:
        raise HrtrackError(f"person detections are supported for COCO data only, not {fmt}")
    if fmt == "mpii":
        return DataSplit(fmt, load_mpii(ann, Path(root) / "images"), ann)
    sequences = read_posetrack_folder(ann)
    return DataSplit(fmt, load_posetrack(sequences, root, aspect_ratio), ann, sequences=sequences)


# ----------------------------------------------------------------------------- the dataset

def read_image(path: str) -> np.ndarray:
    """An image as HxWx3 uint8 BGR (EXIF orientation ignored, as officially); HrtrackError if unreadable."""
    image = cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise HrtrackError(f"cannot read image {path}")
    return image


class TopDownDataset(Dataset):
    """Crops, heatmap targets and target weights of `TopDownSamples`.

    Item i is `(image (3,h,w) float32 normalised RGB, target (K,h/4,w/4) float32,
    target_weight (K,1) float32, meta)` with meta = {"index", "center", "scale",
    "rotation", "score"}. With `train`, the official augmentation is applied
    (module docstring of `hrtrack.datasets.transforms`), drawn from
    `np.random.default_rng((seed, epoch, index))`; call `set_epoch` before each
    epoch (DataLoader workers must not be persistent so they see it).

    Args:
        samples: the person samples.
        codec: input size, heatmap size and sigma of the targets.
        layout: joint layout (flip pairs, upper/lower body split).
        train: apply augmentation.
        seed: base seed of the augmentation.
        scale_factor, rotation_factor, rotation_prob: scale/rotation sampling (COCO 0.35,
            45, 0.6; MPII 0.25, 30).
        flip: mirror with probability 0.5.
        half_body_prob, half_body_min_joints: half-body with this probability when more
            than this many joints are labelled (COCO 0.3, 8; off when the probability <= 0).
    """

    def __init__(self, samples: TopDownSamples, codec: HeatmapCodec, layout: Layout, *, train: bool,
                 seed: int = 0, scale_factor: float = 0.35, rotation_factor: float = 45.0,
                 rotation_prob: float = 0.6, flip: bool = True, half_body_prob: float = 0.3,
                 half_body_min_joints: int = 8):
        if samples.num_joints != layout.num_joints:
            raise HrtrackError(f"the data has {samples.num_joints} joints but the model's layout "
                               f"{layout.name!r} has {layout.num_joints}")
        self.samples = samples
        self.codec = codec
        self.layout = layout
        self.train = train
        self.seed = seed
        self.epoch = 0
        self.scale_factor = scale_factor
        self.rotation_factor = rotation_factor
        self.rotation_prob = rotation_prob
        self.flip = flip
        self.half_body_prob = half_body_prob
        self.half_body_min_joints = half_body_min_joints
        self._upper = upper_body_mask(layout)
        self._flip_index = layout.flip_index
        self._aspect = codec.input_size[0] / codec.input_size[1]

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of `epoch`."""
        self.epoch = int(epoch)

    def augment(self, index: int, image_width: int) -> tuple[np.ndarray, np.ndarray, float, bool]:
        """The augmentation of sample `index` this epoch: center (2,), scale (2,), rotation, flipped."""
        s = self.samples
        center, scale = s.centers[index].copy(), s.scales[index].copy()
        if not self.train:
            return center, scale, 0.0, False
        rng = np.random.default_rng((self.seed, self.epoch, index))
        joints, vis = s.joints[index], s.visible[index]
        if vis.sum() > self.half_body_min_joints and rng.random() < self.half_body_prob:
            half = half_body_center_scale(joints, vis, self._upper, self._aspect, rng)
            if half is not None:
                center, scale = half
        mult, rotation = sample_scale_rotation(rng, self.scale_factor, self.rotation_factor, self.rotation_prob)
        scale = scale * mult
        flipped = bool(self.flip and rng.random() <= 0.5)
        if flipped:
            center = flip_center(center, image_width)
        return center, scale, rotation, flipped

    def __getitem__(self, index: int):
        s = self.samples
        image = read_image(str(s.images[index]))
        center, scale, rotation, flipped = self.augment(index, image.shape[1])
        joints, vis = s.joints[index].astype(np.float64), s.visible[index]
        if flipped:
            image = np.ascontiguousarray(image[:, ::-1])
            joints, vis = flip_joints(joints, vis, image.shape[1], self._flip_index)
        crop, mat = crop_image(image, center, scale, rotation, self.codec.input_size, udp=self.codec.udp)
        in_crop = apply_affine(joints[None], mat[None])
        target, weight = self.codec.encode(in_crop, vis[None])
        meta = {"index": index, "center": center, "scale": scale, "rotation": rotation,
                "score": float(s.scores[index])}
        return (torch.from_numpy(normalise_crop(crop)), torch.from_numpy(target[0]),
                torch.from_numpy(weight[0][:, None]), meta)
