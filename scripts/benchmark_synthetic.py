#!/usr/bin/env python
"""The synthetic PoseTrack benchmark: the paper's tracking ablation on seeded test beds, with oracle rows.

Variants (one table; mAP, MOTA, ID switches, keypoint HOTA, AssA, IDF1, jitter, duplicate tracks, fps):
  (a) detections only + greedy OKS on raw poses (no flow)
  (b) + flow box propagation
  (c) + flow-based pose similarity: the full FlowTrack
  (d) (c) with Hungarian matching instead of greedy
  (e) (c) with box-IoU similarity instead of flow-OKS
  (f) (c) with ground-truth person boxes instead of detections (upper bound of the detector)
  (j) (c) through the synthetic_tiny_plus preset: FlowTrack plus what pays beyond the paper
  (j1), (j2), (j3) (c) with one part alone: re-identification, gap filling, smoothing
  (k) (c) with `hrtrack track --fast`'s overlay as it applies on this CPU (hrtrack.pipeline.fast):
      keyframe detection with re-identification, no flip test, half-size flow, bf16 HRNet where
      the CPU has bf16; the detector entries are left out (the simulated detector stands in for
      every detector)
Oracle rows (no network; `hrtrack.pipeline.oracle`):
  (g) ground-truth poses through the tracker: the ceiling
  (h2), (h4) ground-truth poses with Gaussian joint noise of sigma 2 and 4 px
  (i) the real detections, propagation and NMS, with an oracle estimator (each kept
      box gets the true pose of the person it overlaps most): what detection and NMS cost
  (gj), (h4j) (g) and (h4) through the synthetic_tiny_plus preset: the identity loss left
      to the tracker itself

The test bed is the demo's held-out set (4 seeded val clips of 40 frames, 640x360,
2-5 people with crossings, occlusions, people entering and leaving) at a
difficulty (`hrtrack.synthetic.Difficulty`): the default clips, `--preset hard`,
or, with `--sweep AXIS`, the default clips with one axis moved through 3-4
levels (motion, framerate, camera, crowding, occlusion, detector; `--sweep all`
runs every axis), each level a row group of its own and one PNG per axis
(`--plots DIR`, default docs/): each metric against the level, a line per
variant. The model is the reference synthetic model that ships with the code
(reference/), so a table means the same model on every machine; --train uses a
small HRNet trained here by the demo's recipe instead (cached, like `hrtrack
demo --train`). Detections are the generator's simulated detector at the bed's
difficulty; --det-miss, --det-jitter and --det-fp override it. "dup." counts
duplicate tracks (`hrtrack.evaluation.duplicates`) per clip; jitter is the mean
joint acceleration error against the truth (`hrtrack.evaluation.jitter`,
px/frame^2). --ceiling also scores each row's outputs after a perfect
re-identification, one that knows the truth and gives every track back to its
own person (`hrtrack.evaluation.identity_ceiling`): the ceiling of any real
one. Ends with one `RESULT` line per test bed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

VARIANTS = {
    "a": ("detections + greedy OKS, no flow", ["propagation.enabled=false", "tracking.use_flow=false"]),
    "b": ("+ flow box propagation", ["propagation.enabled=true", "tracking.use_flow=false"]),
    "c": ("+ flow-OKS similarity (FlowTrack)", []),
    "d": ("FlowTrack, Hungarian matching", ["tracking.matcher=hungarian"]),
    "e": ("FlowTrack, box-IoU similarity", ["tracking.similarity=iou"]),
    "f": ("FlowTrack, ground-truth boxes", []),
    "j": ("FlowTrack + the plus preset", []),
    # Each part alone, at the settings the plus preset would give it (measured whether or not it is in it).
    "j1": ("FlowTrack + re-identification", ["tracking.reid=true"]),
    "j2": ("FlowTrack + gap filling", ["postprocess.interpolate_gap=5"]),
    "j3": ("FlowTrack + smoothing", ["postprocess.smoother=savgol", "postprocess.stabilise=true"]),
    # Its settings are `--fast`'s on this CPU (fast_overrides); bf16 only where the CPU has the instructions.
    "k": ("FlowTrack --fast (this CPU; simulated detector)", []),
}
BASE, PLUS = "synthetic_tiny", "synthetic_tiny_plus"
# Variants and oracles run through the plus preset instead of BASE.
ON_PLUS = {"j", "gj", "h4j"}
# name -> (label, boxes given to the oracle estimator, joint noise sigma in pixels)
ORACLES = {
    "g": ("oracle: ground-truth poses, hrtrack's tracker", "truth", 0.0),
    "h2": ("oracle: ground truth + joint noise sigma 2 px", "truth", 2.0),
    "h4": ("oracle: ground truth + joint noise sigma 4 px", "truth", 4.0),
    "i": ("oracle estimator on detections + propagation + NMS", "detections", 0.0),
    "gj": ("oracle (g) through the plus preset", "truth", 0.0),
    "h4j": ("oracle (h4) through the plus preset", "truth", 4.0),
}
GROUPS = ["Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"]
# axis -> (what its levels are, [(level label, Difficulty fields), ...]); each level moves one axis of the
# default clips. Speeds, pans and shakes are px/frame of a 1280x720 video at 25 fps (docs/synthetic.md).
SWEEPS = {
    "motion": ("body speed, px/frame at 720p", [("5", {"speed": 5.0}), ("10", {"speed": 10.0}),
                                                 ("15", {"speed": 15.0}), ("25", {"speed": 25.0})]),
    "framerate": ("frame-rate decimation (keep every k-th frame)", [("1", {}), ("2", {"decimation": 2}),
                                                                    ("4", {"decimation": 4})]),
    "camera": ("pan / shake px/frame at 720p, zoom per frame",
               [("still", {"pan": 0.0, "shake": 0.0, "zoom_rate": 0.0}),
                ("4/1/.0025", {"pan": 4.0, "shake": 1.0, "zoom_rate": 0.0025}),
                ("8/2/.005", {"pan": 8.0, "shake": 2.0, "zoom_rate": 0.005}),
                ("16/4/.01", {"pan": 16.0, "shake": 4.0, "zoom_rate": 0.01})]),
    "crowding": ("people in a clip / share of look-alikes",
                 [("2-5/0", {}), ("6-9/.25", {"people": (6, 9), "lookalikes": 0.25}),
                  ("12-18/.5", {"people": (12, 18), "lookalikes": 0.5}),
                  ("20-26/.5", {"people": (20, 26), "lookalikes": 0.5})]),
    "occlusion": ("frames fully hidden / out of view (half of the movers each)",
                  [("0/0", {}), ("5/10", {"occlusion_frames": 5, "reentry_frames": 10}),
                   ("10/20", {"occlusion_frames": 10, "reentry_frames": 20}),
                   ("20/30", {"occlusion_frames": 20, "reentry_frames": 30})]),
    "detector": ("misses / box jitter / false positives a frame / missed-run frames",
                 [(".1/.05/.3/0", {}),
                  (".15/.08/1/8", {"det_miss": 0.15, "det_jitter": 0.08, "det_fp": 1.0, "det_run_length": 8}),
                  (".25/.1/2/8", {"det_miss": 0.25, "det_jitter": 0.1, "det_fp": 2.0, "det_run_length": 8}),
                  (".35/.12/3/16", {"det_miss": 0.35, "det_jitter": 0.12, "det_fp": 3.0,
                                    "det_run_length": 16})]),
}
PLOTTED = ["mAP", "MOTA", "ID switches", "HOTA", "AssA", "IDF1"]


@dataclass(frozen=True)
class TestBed:
    """Held-out clips at a difficulty: their dataset root and what made them."""

    name: str
    settings: object      # hrtrack.demo.DemoSettings: seed, clips, frames, size, people
    difficulty: object    # hrtrack.synthetic.Difficulty
    root: Path

    @property
    def gt_dir(self) -> Path:
        return self.root / "annotations" / "posetrack17" / "val"

    @property
    def detections(self) -> Path:
        return self.root / "detections" / "val.json"

    def videos(self):
        from hrtrack.synthetic import SPLIT_BASE, SyntheticVideo

        s = self.settings
        return [SyntheticVideo(seed=s.seed, number=SPLIT_BASE["val"] + i, split="val", size=s.size, frames=s.frames,
                               people=s.people, difficulty=self.difficulty) for i in range(s.val_videos)]


def make_bed(name: str, settings, difficulty, cache: Path) -> TestBed:
    """The `hrtrack synth` val split of `settings` at `difficulty`, generated once and cached."""
    from hrtrack.synthetic import generate_dataset

    s = settings
    key = json.dumps({"videos": s.val_videos, "frames": s.frames, "size": s.size, "people": s.people,
                      "seed": s.seed, "difficulty": difficulty.to_dict()}, sort_keys=True)
    root = cache / f"bed-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    if not (root / "synthetic.json").is_file():
        tmp = root.with_name(root.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_dataset(tmp, videos=s.val_videos, frames=s.frames, size=s.size, people=s.people, splits=("val",),
                         seed=s.seed, difficulty=difficulty, progress=False)
        tmp.rename(root)
    return TestBed(name, settings, difficulty, root)


def gt_box_detections(bed: TestBed, out: Path) -> Path:
    """A COCO detection file with the true person boxes (score 1) of every val frame."""
    items = []
    for video in bed.videos():
        for t, (_, truth) in enumerate(video):
            for box in truth.boxes:
                x1, y1, x2, y2 = (float(v) for v in box)
                items.append({"image_id": video.image_id(t), "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                              "score": 1.0, "file_name": video.image_path(t)})
    out.write_text(json.dumps(items))
    return out


@dataclass
class Group:
    """Rows that share everything before association: one run of flow, propagation, NMS and the estimator
    (the network, or the oracle) feeds every member's own tracker and post-processing."""

    configs: dict          # row key -> PipelineConfig
    oracle: tuple | None   # (boxes, noise) of an oracle row; None: the network
    detections: Path       # the COCO detection file the rows look frames up in


def upstream(cfg) -> str:
    """What a config decides before association, as a comparable string.

    Association and post-processing change track ids and output poses only (the
    pipeline propagates the same poses whatever their ids), so rows differing in
    nothing else share one network run. Whether a flow backend is built is
    upstream too: a row without one hands its tracker no flow. So are the track
    ids under adaptive keyframes, which decide where the detector runs.
    """
    from hrtrack.config import to_dict

    settings = to_dict(cfg)
    tracking = settings.pop("tracking")
    settings.pop("postprocess")
    if cfg.detector.every > 1 and cfg.detector.adaptive:
        settings["tracking"] = tracking
    flow = cfg.propagation.enabled or (tracking["use_flow"] and tracking["similarity"] == "oks")
    return json.dumps({**settings, "flow built": flow}, sort_keys=True)


class FanOutTracker:
    """The association stage of several rows at once, in the pipeline's place for its tracker.

    The pipeline hands each frame's poses, its previous output moved by the flow,
    and the flow, once. Every row tracked the same poses (a tracker only sets
    ids), so a row's own previous output, moved, is the pipeline's with the row's
    ids: the flow is sampled once for all rows. Each row's tracker associates the
    poses with it, or with its unmoved previous output and no flow where its
    `tracking.use_flow` is off, exactly as a pipeline of its own would.
    """

    def __init__(self, trackers: dict):
        self.trackers = trackers  # row key -> (FlowTracker, use_flow)
        self.seconds = dict.fromkeys(trackers, 0.0)
        self.tracked: dict = {}
        self.reset()

    def reset(self) -> None:
        for tracker, _ in self.trackers.values():
            tracker.reset()
        self.tracked = {}

    def __call__(self, poses, previous, flow, frame=None):
        for key, (tracker, use_flow) in self.trackers.items():
            start = time.perf_counter()
            last = self.tracked.get(key, previous)
            if use_flow:
                self.tracked[key] = tracker(poses, previous.with_track_ids(last.track_ids), flow, frame=frame)
            else:
                self.tracked[key] = tracker(poses, last, None, frame=frame)
            self.seconds[key] += time.perf_counter() - start
        # The pipeline keeps the first row's output as its previous poses (the others differ in ids only).
        return next(iter(self.tracked.values()))


def run_group(group: Group, bed: TestBed, model, outs: dict) -> dict:
    """Track the bed's clips once for every row of `group`, each into `outs[key]` (PoseTrack 2017 files).

    Returns {key: frames/s}, each row timed as if it ran alone: the shared
    flow, propagation, NMS and estimator plus its own association and
    post-processing (reading images and writing files left out). Network rows
    see the frames as `track-dataset` does (the same source, detections and
    post-processing); an oracle row's ground-truth boxes go straight to the
    tracker: no propagation, no NMS can drop a true person.
    """
    import numpy as np

    from hrtrack.formats.detections import read_coco_detections
    from hrtrack.formats.posetrack import read_sequence
    from hrtrack.models.flow import build_flow
    from hrtrack.pipeline.build import build_keyframes, build_pipeline, build_postprocess, build_tracker
    from hrtrack.pipeline.oracle import OracleEstimator
    from hrtrack.pipeline.sinks import PoseTrackSink
    from hrtrack.pipeline.sources import ImageListSource
    from hrtrack.pipeline.tracking_pipeline import FlowTrackPipeline
    from hrtrack.skeleton import POSETRACK
    from hrtrack.structures import Boxes

    cfgs = group.configs
    lead = next(iter(cfgs.values()))
    # Image lists play at 30 fps, as in track-dataset.
    fan = FanOutTracker({k: (build_tracker(c.tracking, POSETRACK, fps=30.0), c.tracking.use_flow)
                         for k, c in cfgs.items()})
    truth_boxes = group.oracle is not None and group.oracle[0] == "truth"
    if group.oracle is None:
        pipeline = build_pipeline(lead, model.weights, device="cpu").pipeline
    else:
        flow = build_flow(lead.flow.method, scale=lead.flow.scale, device="cpu",
                          **({"preset": lead.flow.preset} if lead.flow.method == "dis" else {}))
        pipeline = FlowTrackPipeline(
            estimator=OracleEstimator(POSETRACK), tracker=fan, flow=flow,
            propagate=lead.propagation.enabled and not truth_boxes, extension=lead.propagation.extension,
            propagation_min_joint_score=lead.propagation.min_joint_score,
            nms_iou=1.0 if truth_boxes else lead.propagation.nms_iou,
            oks_nms_threshold=None if truth_boxes else lead.estimator.oks_nms_threshold,
            person_threshold=lead.output.person_threshold)
    pipeline.tracker = fan
    pipeline.use_flow_in_association = True  # hand the flow over; each row decides whether to use it
    dets = read_coco_detections(group.detections)
    keyframes = build_keyframes(lead)
    shared, own, frames = 0.0, dict.fromkeys(cfgs, 0.0), 0
    for video in bed.videos():
        seq = read_sequence(bed.gt_dir / f"{video.name}.json")
        if group.oracle is not None:
            pipeline.estimator = OracleEstimator(POSETRACK, noise_sigma=group.oracle[1],
                                                 rng=np.random.default_rng([bed.settings.seed, video.number]))
        pipeline.reset()
        if keyframes is not None:
            keyframes.reset()
        posts, sinks = {}, {}
        for key, cfg in cfgs.items():
            posts[key] = build_postprocess(cfg, num_joints=POSETRACK.num_joints, live=False, fps=30.0)
            if posts[key] is not None:
                posts[key].reset(keep_images=False)
            outs[key].mkdir(parents=True, exist_ok=True)
            sinks[key] = PoseTrackSink(outs[key] / f"{video.name}.json", "posetrack17", POSETRACK,
                                       cfg.output.joint_threshold, name=video.name, vid_id=seq.vid_id)
        source = ImageListSource([bed.root / f.image for f in seq.frames], names=[f.image for f in seq.frames])
        for frame, labels in zip(source, seq.frames):
            if group.oracle is not None:
                _, truth = video.render(frame.index)
                kp, labelled = truth.keypoints("posetrack")
                pipeline.estimator.set_truth(kp, labelled, truth.boxes)
            given = Boxes(truth.boxes, np.ones(len(truth), np.float32)) if truth_boxes else \
                dets(file_name=labels.image)
            if keyframes is not None and not keyframes.due():
                given = Boxes.empty()
            before = sum(fan.seconds.values())
            start = time.perf_counter()
            tracked = pipeline(frame.image, given)
            if keyframes is not None:
                keyframes.observe(tracked)
            shared += time.perf_counter() - start - (sum(fan.seconds.values()) - before)
            frames += 1
            last = frame.index == len(seq.frames) - 1
            for key, post in posts.items():
                start = time.perf_counter()
                ready = [(frame, fan.tracked[key])] if post is None else \
                    post.push(frame, fan.tracked[key], pipeline.camera_shift) + (post.flush() if last else [])
                own[key] += time.perf_counter() - start
                for done, poses in ready:
                    f = seq.frames[done.index]
                    sinks[key].add(done, poses, is_labeled=f.is_labeled, image_id=f.image_id)
        for sink in sinks.values():
            sink.close()
    return {k: frames / (shared + own[k] + fan.seconds[k]) for k in cfgs}


def score(gt_dir: Path, pred: Path) -> dict:
    """mAP per group, MOTA, ID switches, keypoint HOTA / AssA, IDF1, jitter and duplicate tracks per clip."""
    from hrtrack.evaluation.duplicates import duplicate_tracks
    from hrtrack.evaluation.jitter import jitter_folders
    from hrtrack.evaluation.posetrack import evaluate_folders
    from hrtrack.formats.posetrack import read_sequence, sequence_files

    result = evaluate_folders(gt_dir, pred, progress=False, hota=True)
    s, h = result.summary(), result.hota_totals()
    dups = [duplicate_tracks(read_sequence(p), read_sequence(pred / f"{name}.json")).tracks
            for name, p in sorted(sequence_files(gt_dir).items())]
    return {**{f"mAP {k}": v for k, v in s["mAP"].items()}, "mAP": s["mAP"]["Total"], "MOTA": s["MOTA"]["Total"],
            "ID switches": s["counts"]["num_switches"], "HOTA": h["HOTA"], "AssA": h["AssA"], "IDF1": h["IDF1"],
            "jitter": jitter_folders(gt_dir, pred).mean, "duplicate tracks": dups}


def fast_overrides(cfg, flags: frozenset[str] | None = None) -> tuple[list[str], str]:
    """`--fast`'s overlay on `cfg` as it applies on this CPU (or one with `flags`) with a detector running,
    less the detector entries (which detector, its input size and engine) that the simulated detector
    cannot show; and the line saying what it changes."""
    from hrtrack.pipeline.fast import plan_fast

    plan = plan_fast(cfg, device="cpu", runs_detector=True, need_detector_weights=False, flags=flags)
    kept = [o for o in plan.overrides if not o.startswith(("detector.model=", "detector.max_size=",
                                                            "detector.engine="))]
    notes = [n for n in plan.notes if "detector" not in n]
    return kept, "; ".join([", ".join(kept) or "nothing", *notes])


def ceiling(gt_dir: Path, pred: Path, max_gap: int) -> dict:
    """MOTA, ID switches, AssA and IDF1 after a perfect re-identification of the predicted tracks
    (hrtrack.evaluation.identity_ceiling): the ceiling of any real one."""
    from hrtrack.evaluation.identity_ceiling import ceiling_folders

    result = ceiling_folders(gt_dir, pred, max_gap)
    s, h = result.summary(), result.hota_totals()
    return {"MOTA": s["MOTA"]["Total"], "ID switches": s["counts"]["num_switches"], "AssA": h["AssA"],
            "IDF1": h["IDF1"]}


def run_bed(bed: TestBed, variants: list[str], model, overrides: list[str], det: dict, work: Path,
            max_gap: int | None = None) -> dict:
    """Every variant on one test bed: {variant: row}. Rows that differ only after the estimator share its run.

    With `max_gap`, each row also has its identity `ceiling` (tracks joined across at most that many frames).
    """
    from hrtrack.config import load_config
    from hrtrack.pipeline.config import PipelineConfig
    from hrtrack.synthetic import generate_dataset

    work.mkdir(parents=True, exist_ok=True)
    detections = bed.detections
    if any(v is not None for v in det.values()):
        moved = bed.difficulty.with_overrides(**det)
        generate_dataset(work / "dets", videos=bed.settings.val_videos, frames=bed.settings.frames,
                         size=bed.settings.size, people=bed.settings.people, splits=("val",), seed=bed.settings.seed,
                         difficulty=moved, progress=False)
        detections = work / "dets" / "detections" / "val.json"
    d = bed.difficulty.with_overrides(**det)
    print(f"[{bed.name}] detector: {d.det_miss:.0%} misses, {d.det_jitter:.0%} box jitter, {d.det_fp:g} false "
          f"positives a frame" + (f", missed runs of {d.det_run_length} frames" if d.det_run_length else ""),
          flush=True)
    gt_dets = gt_box_detections(bed, work / "gt_boxes.json")
    groups: dict = {}
    for key in variants:
        preset = PLUS if key in ON_PLUS else BASE
        if key in ORACLES:
            _, boxes, noise = ORACLES[key]
            cfg = load_config(PipelineConfig, preset, "pipeline", overrides)
            oracle, dets = (boxes, noise), detections
        else:
            given = [f"estimator.model={model.model_yaml}", *VARIANTS[key][1]]
            cfg = load_config(PipelineConfig, preset, "pipeline", [*given, *overrides])
            if key == "k":
                fast, line = fast_overrides(cfg)
                cfg = load_config(PipelineConfig, preset, "pipeline", [*given, *fast, *overrides])
                print(f"[{bed.name}] (k) --fast on this CPU: {line}", flush=True)
            oracle, dets = None, gt_dets if key == "f" else detections
        group = groups.setdefault((upstream(cfg), oracle, dets), Group({}, oracle, dets))
        group.configs[key] = cfg
    fps = {}
    for group in groups.values():
        fps.update(run_group(group, bed, model, {k: work / k for k in group.configs}))
    rows = {}
    for key in variants:
        label = (ORACLES.get(key) or VARIANTS[key])[0]
        rows[key] = {"variant": label, **score(bed.gt_dir, work / key), "fps": fps[key]}
        r = rows[key]
        print(f"[{bed.name}] ({key}) {label}: mAP {r['mAP']:.1f}  MOTA {r['MOTA']:.1f}  IDsw {r['ID switches']}  "
              f"HOTA {r['HOTA']:.1f}  AssA {r['AssA']:.1f}  IDF1 {r['IDF1']:.1f}  jitter {r['jitter']:.2f}  "
              f"dup. {'/'.join(map(str, r['duplicate tracks']))}  {r['fps']:.1f} fps", flush=True)
        if max_gap is not None:
            c = r["ceiling"] = ceiling(bed.gt_dir, work / key, max_gap)
            print(f"[{bed.name}] ({key}) identity ceiling: MOTA {c['MOTA']:.1f}  IDsw {c['ID switches']}  "
                  f"AssA {c['AssA']:.1f}  IDF1 {c['IDF1']:.1f}", flush=True)
    return rows


def print_table(title: str, rows: dict, full: bool) -> None:
    """A markdown table of one bed's rows: mAP per group (when `full`) and the tracking metrics."""
    groups = GROUPS if full else ["Total"]
    print(f"\n{title}\n")
    print("| variant | " + " | ".join(f"mAP {g}" if full else "mAP" for g in groups)
          + " | MOTA | ID sw. | HOTA | AssA | IDF1 | jitter | dup. tracks per clip | fps |")
    print("|---|" + "---:|" * (len(groups) + 8))
    for key, r in rows.items():
        cells = [f"{r[f'mAP {g}']:.1f}" for g in groups] + [
            f"{r['MOTA']:.1f}", str(r["ID switches"]), f"{r['HOTA']:.1f}", f"{r['AssA']:.1f}", f"{r['IDF1']:.1f}",
            f"{r['jitter']:.2f}", " ".join(map(str, r["duplicate tracks"])), f"{r['fps']:.1f}"]
        print(f"| ({key}) {r['variant']} | " + " | ".join(cells) + " |")
    if any("ceiling" in r for r in rows.values()):
        print("\nIdentity ceiling: the same outputs after a perfect re-identification "
              "(hrtrack.evaluation.identity_ceiling)\n")
        print("| variant | MOTA | ID sw. | AssA | IDF1 | ceiling: MOTA | ID sw. | AssA | IDF1 |")
        print("|---|" + "---:|" * 8)
        for key, r in rows.items():
            c = r["ceiling"]
            print(f"| ({key}) {r['variant']} | {r['MOTA']:.1f} | {r['ID switches']} | {r['AssA']:.1f} | "
                  f"{r['IDF1']:.1f} | {c['MOTA']:.1f} | {c['ID switches']} | {c['AssA']:.1f} | {c['IDF1']:.1f} |")


def result_line(prefix: str, rows: dict) -> str:
    """`RESULT` with today's keys (mAP, MOTA, idsw, dups) and HOTA, AssA, IDF1, jitter per variant."""
    def num(v: float) -> str:
        return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.1f}"

    def ceiling_keys(k: str, r: dict) -> str:
        c = r.get("ceiling")
        return "" if c is None else (f" {k}_idsw_ceiling={c['ID switches']} {k}_AssA_ceiling={num(c['AssA'])} "
                                     f"{k}_MOTA_ceiling={num(c['MOTA'])}")

    return "RESULT " + " ".join(
        [prefix] * bool(prefix) + [f"{k}_mAP={num(r['mAP'])} {k}_MOTA={num(r['MOTA'])} {k}_idsw={r['ID switches']} "
                                   f"{k}_dups={sum(r['duplicate tracks'])} {k}_HOTA={num(r['HOTA'])} "
                                   f"{k}_AssA={num(r['AssA'])} {k}_IDF1={num(r['IDF1'])} "
                                   f"{k}_jitter={r['jitter']:.2f}" + ceiling_keys(k, r) for k, r in rows.items()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=[*VARIANTS, *ORACLES], choices=[*VARIANTS, *ORACLES],
                        metavar="V", help="which rows to run (default: all): " + " ".join([*VARIANTS, *ORACLES]))
    parser.add_argument("--quick", action="store_true", help="the reduced demo set (2 clips of 30 frames)")
    parser.add_argument("--train", action="store_true",
                        help="a model trained here by the demo's recipe instead of the reference model")
    parser.add_argument("--preset", default="default", metavar="NAME",
                        help="difficulty preset of the test bed (hrtrack.synthetic.DIFFICULTY_PRESETS: default, hard)")
    parser.add_argument("--sweep", choices=[*SWEEPS, "all"], metavar="AXIS",
                        help="move one axis of the default clips through its levels: " + ", ".join(SWEEPS)
                             + ", or all")
    parser.add_argument("--plots", type=Path, default=Path(__file__).resolve().parents[1] / "docs",
                        help="folder for the sweep's PNG, one per axis (default: docs/)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the held-out clips (default 0, the demo's; pipeline settings were chosen on 1)")
    parser.add_argument("--det-miss", type=float, help="simulated detector: probability of missing a person")
    parser.add_argument("--det-jitter", type=float, help="simulated detector: box side noise (fraction of size)")
    parser.add_argument("--det-fp", type=float, help="simulated detector: false positives per frame")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="pipeline config override applied to every variant")
    parser.add_argument("--ceiling", type=int, nargs="?", const=25, metavar="FRAMES",
                        help="also score each row after a perfect re-identification, one that knows the truth "
                             "(joining pieces at most FRAMES apart, default 25: one second): the ceiling of "
                             "any real one")
    parser.add_argument("--json", type=Path, help="also write the tables as JSON")
    args = parser.parse_args()

    from hrtrack.demo import DemoSettings, cache_root, prepare_model
    from hrtrack.demo.figures import write_line_panels
    from hrtrack.errors import HrtrackError
    from hrtrack.synthetic import Difficulty

    try:
        base = Difficulty.preset(args.preset)
    except HrtrackError as exc:
        parser.error(str(exc))
    if args.ceiling is not None and args.ceiling < 1:
        parser.error(f"--ceiling must be at least 1 frame, got {args.ceiling}")
    if args.sweep and args.preset != "default":
        parser.error("--sweep moves one axis of the default clips; leave out --preset")
    if args.sweep and args.quick:
        parser.error("--sweep needs the full 40-frame clips (its out-of-view levels reach 30 frames); "
                     "leave out --quick")
    settings = replace(DemoSettings.quick(args.train) if args.quick else DemoSettings(train=args.train),
                       seed=args.seed)
    cache = cache_root() / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    model = None
    if any(v in VARIANTS for v in args.variants):
        model = prepare_model(settings, cache_root() / "demo")
        print(f"model: {model.description}", flush=True)
    det = {"det_miss": args.det_miss, "det_jitter": args.det_jitter, "det_fp": args.det_fp}
    axes = list(SWEEPS) if args.sweep == "all" else [args.sweep] if args.sweep else []
    beds = [[(args.preset, make_bed(args.preset, settings, base, cache))]] if not axes else [
        [(level, make_bed(f"{axis} {level}", settings, replace(base, **fields), cache))
         for level, fields in SWEEPS[axis][1]] for axis in axes]
    # The model's short name (its description up to the details in brackets) fits a plot's title.
    model_name = model.description.split(" (")[0] if model else "oracles only"
    work = Path(tempfile.mkdtemp(prefix="hrtrack-bench-"))
    tables = {}
    done = {}  # bed root -> (first bed name, its rows)
    start = time.perf_counter()
    try:
        for group, axis in zip(beds, axes or [None]):
            for level, bed in group:
                if bed.root in done:  # each axis's default level is the default bed: run it once
                    print(f"[{bed.name}] the same clips as [{done[bed.root][0]}]: the same rows", flush=True)
                    tables[bed.name] = done[bed.root][1]
                    continue
                tables[bed.name] = run_bed(bed, args.variants, model, args.overrides, det, work / f"b{len(tables)}",
                                           args.ceiling)
                done[bed.root] = (bed.name, tables[bed.name])
            if axis is not None:
                levels = [level for level, _ in group]
                series = {f"({k}) {VARIANTS.get(k, ORACLES.get(k))[0]}":
                          {m: [float(tables[bed.name][k][m]) for _, bed in group] for m in PLOTTED}
                          for k in args.variants}
                png = write_line_panels(args.plots / f"sweep_{axis}.png",
                                        f"{axis}: {SWEEPS[axis][0]} ({model_name})",
                                        levels, series, PLOTTED)
                print(f"[{axis}] plot: {png}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(tables)} test bed(s) in {time.perf_counter() - start:.0f} s")
    if model is not None:
        print(f"Model: {model.description}.")
    for name, rows in tables.items():
        print_table(f"Test bed: {name}", rows, full=not axes)
    if args.json:
        args.json.write_text(json.dumps(tables, indent=2, default=str))
    for (name, rows), prefix in zip(tables.items(), [""] * len(tables) if not axes else
                                     [f"axis={axis} level={level}" for group, axis in zip(beds, axes)
                                      for level, _ in group]):
        print(result_line(prefix if axes else (f"preset={args.preset}" if args.preset != "default" else ""), rows))


if __name__ == "__main__":
    main()
