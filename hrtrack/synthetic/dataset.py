"""The synthetic test bed: PoseTrack-like datasets of moving human figures with exact ground truth.

`generate_dataset` writes, for each split, what the real PoseTrack release holds
(so the same commands run on both) plus the other formats the project reads:

    images/<split>/<seq>/NNNNNN.jpg              frames
    videos/<split>/<seq>.mp4                     the same frames as a video (mp4v)
    annotations/posetrack17/<split>/<seq>.json   PoseTrack 2017, as poseval reads it
    annotations/posetrack18/<split>/<seq>.json   PoseTrack 2018
    annotations/posetrack21/<split>/<seq>.json   PoseTrack21 (posetrack_data/<split>/ of its release)
    annotations/coco/person_keypoints_<split>.json   COCO keypoints of the labelled frames
    annotations/mpii/<split>.json                MPII (official HRNet JSON) of the labelled frames
    detections/<split>.json                      COCO detections derived from the ground truth

Sequences are named "%06d_synth_<split>", numbered from a fixed base per split so
names and image ids never collide across splits and a clip's content depends only
on the seed and its number. People are annotated on a PoseTrack-like subset of
frames (`labeled_frames`); detections cover every frame. Streaming access to one
clip is `SyntheticVideo`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from tqdm import tqdm

from ..errors import HrtrackError
from ..fileio import atomic_path, write_json_atomic
from ..structures import Boxes
from ..formats.coco import CocoImage, write_coco_keypoints
from ..formats.detections import write_coco_detections
from ..formats.mpii import MpiiAnnotations, write_mpii_json
from ..geometry import PIXEL_STD
from ..formats.posetrack import (PoseTrackFrame, PoseTrackSequence, posetrack21_people, write_posetrack17,
                                 write_posetrack18, write_posetrack21)
from .difficulty import Difficulty
from .script import check_clip_options
from .video import POSETRACK_EVALUATED, SyntheticFrame, SyntheticVideo

# First video number of each split: names and image ids stay unique across splits.
SPLIT_BASE = {"train": 0, "val": 10000, "test": 20000}
MAX_VIDEOS = 10000
# PoseTrack21 person ids, unique over the dataset: video number x this + track id (track ids < MAX_PEOPLE).
PERSON_ID_STRIDE = 1000
# Third key of a clip's missed-run generator ([seed, number, key]); its detector's own is 1.
RUNS_KEY = 3


def simulate_detections(truth: SyntheticFrame, frame_size: tuple[int, int], rng: np.random.Generator, *,
                        miss: float, jitter: float, false_positives: float, drop: np.ndarray | None = None) -> Boxes:
    """A detector's person boxes for one frame, derived from its ground truth.

    Each true box is dropped with probability `miss`, and always where `drop` (N,)
    bool is set; each side moves by N(0, jitter * box width or height); the score
    grows with the share of the person's joints in view and with its size (about
    0.35..0.95, plus noise); Poisson(`false_positives`) person-shaped boxes with
    mostly low scores are added. Boxes are clipped to the frame and sorted by
    decreasing score. `drop` takes nothing from `rng`: the same draws either way.
    """
    w, h = frame_size
    n = len(truth)
    keep = rng.random(n) >= miss
    if drop is not None:
        keep &= ~drop
    boxes = truth.boxes.astype(np.float64)
    size = boxes[:, 2:] - boxes[:, :2]
    moved = boxes + rng.normal(0.0, 1.0, (n, 4)) * jitter * np.tile(size, 2)
    in_view = truth.labeled[:, POSETRACK_EVALUATED].mean(axis=1)
    scores = 0.35 + 0.45 * in_view + 0.15 * np.clip(size[:, 1] / (0.5 * h), 0, 1) + rng.normal(0, 0.05, n)
    m = rng.poisson(false_positives)
    fh = rng.uniform(0.1, 0.6, m) * h
    fw = fh * rng.uniform(0.3, 0.6, m)
    fx, fy = rng.uniform(0, w, m), rng.uniform(0, h, m)
    fp = np.stack([fx - fw / 2, fy - fh / 2, fx + fw / 2, fy + fh / 2], axis=1)
    fp_scores = 0.05 + 0.6 * rng.beta(1.2, 4.0, m)
    out = np.concatenate([moved[keep], fp]).reshape(-1, 4)
    out = np.clip(out, 0, [w - 1, h - 1, w - 1, h - 1])
    x1, x2 = np.minimum(out[:, 0], out[:, 2]), np.maximum(out[:, 0], out[:, 2])
    y1, y2 = np.minimum(out[:, 1], out[:, 3]), np.maximum(out[:, 1], out[:, 3])
    out = np.stack([x1, y1, np.maximum(x2, x1 + 1), np.maximum(y2, y1 + 1)], axis=1)
    all_scores = np.clip(np.concatenate([scores[keep], fp_scores]), 0.01, 0.999)
    order = np.argsort(-all_scores, kind="stable")
    return Boxes(np.round(out[order], 2), np.round(all_scores[order], 4))


class SimulatedDetector:
    """The simulated detector of one clip, frame after frame: `simulate_detections` plus missed runs.

    A missed run makes the detector miss one person `run_length` frames in a row
    (frames of the clip, present or not), as a real detector loses someone in an
    odd pose or in blur for a while; each present person not already in a run
    starts one with probability `run_rate` a frame, drawn from `run_rng`. Frames
    must come in order. With run_length 0 nothing is drawn from `run_rng` and the
    boxes are exactly `simulate_detections`'.
    """

    def __init__(self, frame_size: tuple[int, int], rng: np.random.Generator, *, miss: float, jitter: float,
                 false_positives: float, run_length: int = 0, run_rate: float = 0.0,
                 run_rng: np.random.Generator | None = None) -> None:
        if run_length and run_rng is None:
            raise ValueError("missed runs need their own generator (run_rng)")
        self.frame_size, self.rng, self.run_rng = frame_size, rng, run_rng
        self.miss, self.jitter, self.false_positives = miss, jitter, false_positives
        self.run_length, self.run_rate = run_length, run_rate
        self._missed_until: dict[int, int] = {}  # track id -> first frame detected again
        self._last = -1

    @classmethod
    def for_clip(cls, seed: int, video: SyntheticVideo, difficulty: Difficulty | None = None) -> "SimulatedDetector":
        """The detector `hrtrack synth` runs on `video`: generators [seed, number, 1] and [seed, number, 3]."""
        d = difficulty or Difficulty()
        return cls(video.script.frame_size, np.random.default_rng([int(seed), video.number, 1]), miss=d.det_miss,
                   jitter=d.det_jitter, false_positives=d.det_fp, run_length=d.det_run_length,
                   run_rate=d.det_run_rate, run_rng=np.random.default_rng([int(seed), video.number, RUNS_KEY]))

    def __call__(self, truth: SyntheticFrame) -> Boxes:
        """Person boxes of `truth`'s frame (the frame after the previous call's)."""
        if truth.index <= self._last:
            raise ValueError(f"frames must come in order: frame {truth.index} after {self._last}")
        self._last = truth.index
        drop = None
        if self.run_length:
            t = truth.index
            running = np.array([self._missed_until.get(int(i), 0) > t for i in truth.track_ids], bool)
            starts = (self.run_rng.random(len(truth)) < self.run_rate) & ~running
            for i in truth.track_ids[starts]:
                self._missed_until[int(i)] = t + self.run_length
            drop = running | starts
        return simulate_detections(truth, self.frame_size, self.rng, miss=self.miss, jitter=self.jitter,
                                   false_positives=self.false_positives, drop=drop)


@dataclass(frozen=True)
class DatasetSummary:
    """What `generate_dataset` wrote: the root and, per split, its sequence names."""

    root: Path
    sequences: dict[str, list[str]]
    frames: int
    labeled_frames: int
    people: int


def _check_options(videos: int, splits: Sequence[str]) -> None:
    if not 1 <= videos <= MAX_VIDEOS:
        raise HrtrackError(f"videos must be in 1..{MAX_VIDEOS} per split, got {videos}")
    unknown = [s for s in splits if s not in SPLIT_BASE]
    if unknown or not splits or len(set(splits)) != len(splits):
        raise HrtrackError(f"splits must be distinct names among {', '.join(SPLIT_BASE)}, got {list(splits)}")


def generate_dataset(out: str | os.PathLike, *, videos: int = 3, frames: int = 40,
                     size: tuple[int, int] = (640, 360), people: tuple[int, int] = (2, 5),
                     splits: Sequence[str] = ("train", "val"), seed: int = 0, det_miss: float | None = None,
                     det_jitter: float | None = None, det_fp: float | None = None, fps: float = 25.0,
                     jpeg_quality: int = 90, progress: bool = True,
                     difficulty: Difficulty | None = None) -> DatasetSummary:
    """Write a synthetic dataset of `videos` clips per split under `out` (layout in the module docstring).

    difficulty: how hard the clips and detections are (None: the default);
    det_miss, det_jitter and det_fp, where given, override its detector axes.
    Deterministic in `seed`: the same arguments give byte-identical annotation and
    detection files and identical JPEGs. Existing sequences of the same names are
    replaced. synthetic.json records the options, the difficulty included, so the
    same clips (`SyntheticVideo`) and detections (`SimulatedDetector.for_clip`)
    can be made again from it.
    """
    _check_options(videos, splits)
    difficulty = (difficulty or Difficulty()).with_overrides(det_miss=det_miss, det_jitter=det_jitter,
                                                              det_fp=det_fp)
    check_clip_options(tuple(size), frames, tuple(people), fps, difficulty)
    if not 1 <= jpeg_quality <= 100:
        raise HrtrackError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    root = Path(out)
    _mkdir(root)
    names: dict[str, list[str]] = {}
    totals = np.zeros(3, np.int64)
    bar = tqdm(total=len(splits) * videos * frames, desc="synth", unit="frame", disable=not progress)
    with bar:
        for split in splits:
            names[split] = []
            coco_images: list[CocoImage] = []
            mpii_rows: list[MpiiAnnotations] = []
            det_ids, det_boxes, det_files = [], [], []
            for v in range(videos):
                video = SyntheticVideo(seed=seed, number=SPLIT_BASE[split] + v, split=split, size=size,
                                       frames=frames, people=people, fps=fps, difficulty=difficulty)
                detector = SimulatedDetector.for_clip(seed, video, difficulty)
                truths = _write_clip(root, split, video, jpeg_quality, bar)
                names[split].append(video.name)
                for truth in truths:
                    det_ids.append(truth.image_id)
                    det_files.append(truth.image)
                    det_boxes.append(detector(truth))
                labeled = [t for t in truths if t.is_labeled]
                coco_images += [_coco_image(t, video.script.frame_size) for t in labeled]
                mpii_rows.append(_mpii_rows(labeled))
                _write_posetrack(root, split, video, truths)
                totals += (len(truths), len(labeled), sum(len(t) for t in labeled))
            _mkdir(root / "annotations" / "coco")
            write_coco_keypoints(coco_images, root / "annotations" / "coco" / f"person_keypoints_{split}.json")
            _mkdir(root / "annotations" / "mpii")
            write_mpii_json(_concat_mpii(mpii_rows), root / "annotations" / "mpii" / f"{split}.json")
            _mkdir(root / "detections")
            write_coco_detections(root / "detections" / f"{split}.json", det_ids, det_boxes, det_files)
    options = {"videos": videos, "frames": frames, "size": list(size), "people": list(people),
               "splits": list(splits), "seed": seed, "det_miss": difficulty.det_miss,
               "det_jitter": difficulty.det_jitter, "det_fp": difficulty.det_fp, "fps": fps,
               "jpeg_quality": jpeg_quality, "difficulty": difficulty.to_dict()}
    write_json_atomic(root / "synthetic.json", options, indent=2)
    return DatasetSummary(root, names, int(totals[0]), int(totals[1]), int(totals[2]))


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrtrackError(f"cannot create folder {path}: {exc.strerror or exc}") from None


def _write_clip(root: Path, split: str, video: SyntheticVideo, jpeg_quality: int, bar: tqdm) -> list[SyntheticFrame]:
    """Render every frame: JPEGs into a fresh folder (renamed into place at the end) and the .mp4."""
    image_dir = root / video.image_dir
    _mkdir(image_dir.parent)
    _mkdir(root / "videos" / split)
    w, h = video.script.frame_size
    tmp_dir = image_dir.parent / f".{video.name}.tmp-{os.getpid()}"
    truths = []
    try:
        if tmp_dir.exists():  # left by an interrupted run of this process id
            shutil.rmtree(tmp_dir)
        tmp_dir.mkdir()
        with atomic_path(root / "videos" / split / f"{video.name}.mp4") as tmp_video:
            writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), video.script.frame_rate,
                                     (w, h))
            if not writer.isOpened():
                raise HrtrackError(f"OpenCV cannot write an mp4v video at {tmp_video}")
            try:
                for t, (frame, truth) in enumerate(video):
                    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
                    assert ok, "JPEG encoding of a uint8 BGR frame cannot fail"
                    (tmp_dir / f"{t:06d}.jpg").write_bytes(data.tobytes())
                    writer.write(frame)
                    truths.append(truth)
                    bar.update(1)
            finally:
                writer.release()
        if image_dir.exists():
            shutil.rmtree(image_dir)
        os.replace(tmp_dir, image_dir)
    except OSError as exc:
        raise HrtrackError(f"cannot write frames of {video.name} under {image_dir.parent}: "
                           f"{exc.strerror or exc}") from None
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)
    return truths


def _write_posetrack(root: Path, split: str, video: SyntheticVideo, truths: list[SyntheticFrame]) -> None:
    """PoseTrack 2017, 2018 and 21 files: people on labelled frames only, as in the releases."""
    frames = []
    for truth in truths:
        frame = truth.posetrack()
        if not truth.is_labeled:
            frame = PoseTrackFrame.empty(frame.image, False, frame.image_id, frame.ignore_regions)
        frames.append(frame)
    seq = PoseTrackSequence(video.name, frames, video.vid_id)
    for version, write, data in (("posetrack17", write_posetrack17, seq), ("posetrack18", write_posetrack18, seq),
                                 ("posetrack21", write_posetrack21, posetrack21_ground_truth(seq, video.number))):
        folder = root / "annotations" / version / split
        _mkdir(folder)
        write(data, folder / f"{video.name}.json")


def posetrack21_ground_truth(seq: PoseTrackSequence, number: int) -> PoseTrackSequence:
    """The PoseTrack21 ground truth of a labelled sequence: person ids, and `is_labeled` as PoseTrack21 means it.

    PoseTrack21 marks a frame labelled when it holds annotated keypoints, so a
    frame is labelled here when some person keeps a joint as its evaluation kit
    reads the frame (`posetrack21_people`); the kit cannot evaluate a labelled
    frame with ignore regions where nobody is left. Person ids are
    `number * PERSON_ID_STRIDE + track id`; joint scores, a prediction field, are left out.
    """
    frames = []
    for fr in seq.frames:
        present, kept = posetrack21_people(fr)
        frames.append(replace(fr, is_labeled=fr.is_labeled and bool(present[kept].any()),
                              joint_scores=np.full_like(fr.joint_scores, np.nan),
                              person_ids=number * PERSON_ID_STRIDE + fr.track_ids))
    return PoseTrackSequence(seq.name, frames, seq.vid_id)


def _coco_image(truth: SyntheticFrame, frame_size: tuple[int, int]) -> CocoImage:
    """COCO annotations of one labelled frame: its people, plus its crowds as iscrowd regions."""
    kp, vis = truth.keypoints("coco")
    crowd_boxes = [np.concatenate([p.min(axis=0), p.max(axis=0)]) for p in truth.ignore_regions]
    crowd_areas = [abs(cv2.contourArea(p)) for p in truth.ignore_regions]
    k = len(crowd_boxes)
    return CocoImage(
        id=truth.image_id, file_name=truth.image.removeprefix("images/"), width=frame_size[0], height=frame_size[1],
        keypoints=np.concatenate([np.where(vis[..., None], kp, 0), np.zeros((k, kp.shape[1], 2))]),
        visibility=np.concatenate([vis * 2, np.zeros((k, vis.shape[1]))]),
        boxes=np.concatenate([truth.boxes, np.reshape(crowd_boxes, (-1, 4))]),
        areas=np.concatenate([truth.areas, crowd_areas]),
        iscrowd=np.arange(len(truth) + k) >= len(truth),
        segmentations=[[] for _ in range(len(truth))] + [[p] for p in truth.ignore_regions])


def _mpii_rows(truths: list[SyntheticFrame]) -> MpiiAnnotations:
    """One MPII row per annotated person: centre and scale from the person box."""
    rows = []
    for truth in truths:
        kp, vis = truth.keypoints("mpii")
        centers = (truth.boxes[:, :2] + truth.boxes[:, 2:]) / 2
        scales = (truth.boxes[:, 3] - truth.boxes[:, 1]) / PIXEL_STD
        rows.append(MpiiAnnotations([truth.image.removeprefix("images/")] * len(truth), centers,
                                    np.maximum(scales, 1.0 / PIXEL_STD), kp, vis, truth.head_boxes))
    return _concat_mpii(rows)


def _concat_mpii(parts: list[MpiiAnnotations]) -> MpiiAnnotations:
    return MpiiAnnotations(
        [name for p in parts for name in p.images],
        np.concatenate([p.centers for p in parts]).reshape(-1, 2),
        np.concatenate([p.scales for p in parts]).reshape(-1),
        np.concatenate([p.joints for p in parts]).reshape(-1, 16, 2),
        np.concatenate([p.joints_vis for p in parts]).reshape(-1, 16),
        np.concatenate([p.head_boxes for p in parts]).reshape(-1, 4))


def describe(summary: DatasetSummary) -> str:
    """A few lines telling the user what was written."""
    lines = [f"wrote {summary.frames} frames ({summary.labeled_frames} labelled, {summary.people} annotated "
             f"people) to {summary.root}"]
    for split, seqs in summary.sequences.items():
        lines.append(f"  {split}: {len(seqs)} sequences ({seqs[0]} .. {seqs[-1]})")
    return "\n".join(lines)

