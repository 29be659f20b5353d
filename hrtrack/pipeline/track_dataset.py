"""`track-dataset`: the tracker over every sequence of a PoseTrack split.

One results file per ground-truth sequence, same name, exactly its frames in its
order (as CSV: `<sequence>.csv` and its per-track summary `<sequence>.tracks.csv`).
Files are written atomically when a sequence ends, so an interrupted run
loses only the sequence in progress, and a resumed run skips finished ones.
Sequences are processed independently (tracks restart per video), which is what
makes a resumed or sharded run byte-identical to an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..config import dump_config, read_yaml, to_dict
from ..errors import HrtrackError
from ..fileio import remove_stale_temporaries, resolve_under
from ..formats.detections import read_coco_detections
from ..formats.posetrack import read_sequence, sequence_files
from ..formats.track_csv import summary_path
from ..structures import Poses
from .build import (build_keyframes, build_pipeline, build_postprocess, check_detector_config,
                    check_postprocess_config, detector_fn, precomputed_fn)
from .config import PipelineConfig
from .runner import track_source
from .sinks import CsvSink, PoseTrackSink
from .sources import Frame, ImageListSource


@dataclass
class DatasetRun:
    """Sequences processed, skipped (already done) and left to other shards; frames and seconds tracked."""

    processed: int
    skipped: int
    remaining: int
    frames: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0




def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _check_same_config(cfg: PipelineConfig, saved: Path) -> None:
    """Resuming into a folder written with another config would mix two experiments' results: refuse."""
    if not saved.is_file():
        return
    # A setting the saved file lacks did not exist when it was written: its default (off) is what ran.
    old = {**_flatten(to_dict(PipelineConfig())), **_flatten(read_yaml(saved))}
    new = _flatten(to_dict(cfg))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if changed:
        key = changed[0]
        raise HrtrackError(f"{saved.parent} holds results made with another config ({key}: {old.get(key)!r} there, "
                           f"{new.get(key)!r} now); pass --overwrite to redo them or choose another --out")




class _GroundTruthFrames:
    """A sink adapter that copies each frame's is_labeled flag and image id from the ground truth."""

    def __init__(self, sink: PoseTrackSink, labeled: list[bool], image_ids: list[int | None]):
        self.sink, self.labeled, self.image_ids = sink, labeled, image_ids

    def add(self, frame: Frame, poses: Poses) -> None:
        self.sink.add(frame, poses, is_labeled=self.labeled[frame.index], image_id=self.image_ids[frame.index])

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


def track_dataset(cfg: PipelineConfig, *, images_root: Path, annotations: Path, out_dir: Path,
                  pose_weights: Path | None, detections: Path | None = None, detector_weights: Path | None = None,
                  flow_weights: Path | None = None, device: str = "auto", fmt: str = "posetrack17",
                  shard: tuple[int, int] = (0, 1), overwrite: bool = False, progress: bool = True) -> DatasetRun:
    """Track every sequence of `annotations` (this shard's share) into `out_dir` (`fmt` a PoseTrack format or "csv")."""
    check_postprocess_config(cfg.postprocess)
    check_detector_config(cfg)
    files = sequence_files(annotations)
    if not files:
        raise HrtrackError(f"no ground-truth .json files in {annotations}")
    if not images_root.is_dir():
        raise HrtrackError(f"images root not found: {images_root}")
    k, n = shard
    names = sorted(files)
    mine = names[k::n]
    if out_dir.exists() and not out_dir.is_dir():
        raise HrtrackError(f"--out {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if not overwrite:
        _check_same_config(cfg, out_dir / "config.yaml")
    suffix = ".csv" if fmt == "csv" else ".json"
    todo = [s for s in mine if overwrite or not (out_dir / f"{s}{suffix}").exists()]
    others = [s for s in names if s not in mine and not (out_dir / f"{s}{suffix}").exists()]
    if not todo:
        return DatasetRun(0, len(mine), len(others))
    sequences = {s: read_sequence(files[s]) for s in todo}
    # Every image is resolved and found before hours of work start, not when its sequence comes up.
    paths = {s: [resolve_under(images_root, fr.image, str(files[s])) for fr in seq.frames]
             for s, seq in sequences.items()}
    for s, seq_paths in paths.items():
        missing = [p for p in seq_paths if not p.is_file()]
        if missing:
            raise HrtrackError(f"{files[s]}: image {missing[0]} not found under the images root {images_root}"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    for s in todo:
        remove_stale_temporaries(out_dir / f"{s}{suffix}")
        if fmt == "csv":
            remove_stale_temporaries(summary_path(out_dir / f"{s}{suffix}"))
    built = build_pipeline(cfg, pose_weights, device=device, flow_weights=flow_weights)
    if detections is not None:
        dets = read_coco_detections(detections)
        all_names = [fr.image for seq in sequences.values() for fr in seq.frames]
        ids = {fr.image: fr.image_id for seq in sequences.values() for fr in seq.frames if fr.image_id is not None}
        try:
            dets.check_frames(file_names=all_names)
            detect = precomputed_fn(dets)
        except HrtrackError:
            if not ids:
                raise
            dets.check_frames(image_ids=list(ids.values()))
            detect = precomputed_fn(dets, image_ids=ids)
    else:
        detect = detector_fn(cfg, detector_weights=detector_weights, device=device)
    if k == 0:
        dump_config(cfg, out_dir / "config.yaml")
    layout = built.model_config.joint_layout
    # Image lists play at 30 fps (ImageListSource's rate): what the One Euro filter's cutoffs are in.
    postprocess = build_postprocess(cfg, num_joints=layout.num_joints, live=False, fps=30.0)
    keyframes = build_keyframes(cfg)
    frames, seconds = 0, 0.0
    for name in tqdm(todo, desc="sequences", unit="seq", disable=not progress):
        seq = sequences[name]
        source = ImageListSource(paths[name], names=[fr.image for fr in seq.frames], description=name)
        if fmt == "csv":
            sink = CsvSink(out_dir / f"{name}.csv", layout, cfg.output.joint_threshold)
        else:
            sink = _GroundTruthFrames(PoseTrackSink(out_dir / f"{name}.json", fmt, layout, cfg.output.joint_threshold,
                                                    name=name, vid_id=seq.vid_id),
                                      [fr.is_labeled for fr in seq.frames], [fr.image_id for fr in seq.frames])
        stats = track_source(source, detect, built.pipeline, [sink], progress=progress, desc=name,
                             postprocess=postprocess, keyframes=keyframes)
        frames, seconds = frames + stats.frames, seconds + stats.seconds
    return DatasetRun(len(todo), len(mine) - len(todo), len(others), frames, seconds)
