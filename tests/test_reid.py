"""Re-identification: lost tracks stay dormant and take back people who look like them, near where they left.

Hand-made tracks: a figure painted in known colours (shirt, trousers, skin, hair) on a plain frame, its
PoseTrack joints known, fed to the tracker frame by frame as the pipeline does. The descriptor is checked
against a slow reference written here; the whole pipeline on a synthetic clip with a re-entering walker.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from hrtrack.config import load_config
from hrtrack.errors import HrtrackError
from hrtrack.models.flow import DISFlow
from hrtrack.pipeline.build import build_tracker, check_reid_config
from hrtrack.pipeline.config import PipelineConfig
from hrtrack.pipeline.oracle import OracleEstimator
from hrtrack.pipeline.tracking_pipeline import FlowTrackPipeline
from hrtrack.skeleton import COCO, POSETRACK
from hrtrack.structures import Boxes, Poses
from hrtrack.synthetic import SPLIT_BASE, Difficulty, SyntheticVideo
from hrtrack.tracking.appearance import Appearance, PartColours, appearance_similarity
from hrtrack.tracking.reid import ReIdentifier
from hrtrack.tracking.tracker import FlowTracker

K = 17
H, W = 180, 320
# A standing figure in the PoseTrack layout, joints relative to the top of its head (x centred), ~36 x 114 px.
FIGURE = np.array([[0, 12], [0, 20], [0, 0], [0, 0], [0, 0], [12, 26], [-12, 26], [16, 46], [-16, 46],
                   [18, 64], [-18, 64], [8, 66], [-8, 66], [9, 90], [-9, 90], [9, 114], [-9, 114]], np.float32)
LABELLED = np.ones(K, bool)
LABELLED[[3, 4]] = False  # PoseTrack never labels the ears
# Looks, BGR: shirt, trousers, skin, hair.
RED = {"shirt": (40, 40, 200), "pants": (90, 60, 30), "skin": (150, 190, 230), "hair": (20, 20, 30)}
GREEN = {"shirt": (60, 170, 60), "pants": (40, 40, 40), "skin": (60, 90, 140), "hair": (80, 170, 220)}
# The red figure's kit on another face: darker skin, fair hair.
RED_KIT_OTHER_FACE = {**RED, "skin": GREEN["skin"], "hair": GREEN["hair"]}


def _joints(x: float, y: float = 30.0) -> np.ndarray:
    return FIGURE + np.array([x, y], np.float32)


def _paint(frame: np.ndarray, kp: np.ndarray, look: dict) -> None:
    """A figure over `kp` (PoseTrack layout): shirt on torso and upper arms, skin on forearms and face, hair on top."""
    p = np.round(kp).astype(np.int32)
    cv2.fillConvexPoly(frame, p[[5, 6, 12, 11]], look["shirt"])
    for a, b, part, width in ((5, 7, "shirt", 7), (6, 8, "shirt", 7), (7, 9, "skin", 6), (8, 10, "skin", 6),
                              (11, 13, "pants", 9), (12, 14, "pants", 9), (13, 15, "pants", 9),
                              (14, 16, "pants", 9)):
        cv2.line(frame, tuple(p[a]), tuple(p[b]), look[part], width)
    top, bottom = p[2], p[1]
    cv2.circle(frame, tuple((top + bottom) // 2), 10, look["skin"], -1)
    cv2.rectangle(frame, tuple(top + [-10, -2]), tuple(top + [10, 6]), look["hair"], -1)


def _frame(people: list[tuple[float, dict]]) -> tuple[np.ndarray, Poses]:
    """A grey frame with the figures (x of each head, look) and their poses (labelled joints score 1)."""
    frame = np.full((H, W, 3), 128, np.uint8)
    kps = [_joints(x) for x, _ in people]
    for kp, (_, look) in zip(kps, people):
        _paint(frame, kp, look)
    n = len(people)
    kp = np.stack(kps) if n else np.zeros((0, K, 2), np.float32)
    scores = np.tile(LABELLED.astype(np.float32), (n, 1))
    lo = kp[:, LABELLED].min(1) - 6 if n else np.zeros((0, 2))
    hi = kp[:, LABELLED].max(1) + 6 if n else np.zeros((0, 2))
    return frame, Poses(kp, scores, np.ones(n, np.float32), np.concatenate([lo, hi], 1))


def _size() -> float:
    """sqrt of the box area `_frame` gives a figure: the re-identifier's person size."""
    wh = FIGURE[LABELLED].max(0) - FIGURE[LABELLED].min(0) + 12
    return float(np.sqrt(wh[0] * wh[1]))


def _reid(max_frames: int = 10, threshold: float = 0.5, gate: float = 0.05, min_parts: int = 2) -> ReIdentifier:
    return ReIdentifier(PartColours(POSETRACK.joint_names), max_frames=max_frames, threshold=threshold, gate=gate,
                        min_parts=min_parts)


class _Video:
    """Feeds a tracker as the pipeline does (no flow here: nothing moves between frames but the figures)."""

    def __init__(self, tracker: FlowTracker):
        self.tracker = tracker
        self.previous = Poses.empty(K)

    def __call__(self, people: list[tuple[float, dict]]) -> list[int]:
        frame, poses = _frame(people)
        self.previous = self.tracker(poses, self.previous, None, frame=frame)
        return self.previous.track_ids.tolist()


def _run(reid: ReIdentifier | None, frames: list[list[tuple[float, dict]]]) -> list[list[int]]:
    video = _Video(FlowTracker(sigmas=POSETRACK.sigmas, reid=reid))
    return [video(people) for people in frames]


def _away_and_back(before: int, absent: int, back: list[tuple[float, dict]], x: float = 80.0,
                   step: float = 2.0) -> list[list[tuple[float, dict]]]:
    """The red figure walking right for `before` frames, nobody for `absent` frames, then `back`."""
    return [[(x + step * t, RED)] for t in range(before)] + [[]] * absent + [back]


# ---------------------------------------------------------------- the tracker with a re-identifier

def test_known_reentry_takes_its_id_back():
    last_x = 80.0 + 2.0 * 4
    frames = _away_and_back(5, 6, [(last_x + 4, RED)]) + [[(last_x + 6, RED), (250.0, GREEN)]]
    ids = _run(_reid(), frames)
    assert ids[:5] == [[0]] * 5 and ids[5:11] == [[]] * 6
    assert ids[11] == [0]
    # No id was spent on the returning figure: the next new person gets 1.
    assert ids[12] == [0, 1]
    # Without re-identification FlowTrack gives it a new id.
    assert _run(None, frames)[11] == [1]


@pytest.mark.parametrize("look,expected", [(RED, 0), (GREEN, 1), (RED_KIT_OTHER_FACE, 1)])
def test_only_the_same_look_is_reidentified(look, expected):
    # Another figure in the same place: other clothes, or the same kit on another face, starts a new track.
    ids = _run(_reid(), _away_and_back(5, 6, [(90.0, look)]))
    assert ids[-1] == [expected]


def test_descriptor_tells_the_looks_apart():
    reid = _reid()
    apps = [reid.describe(*_frame([(100.0, look)])) for look in (RED, RED, GREEN, RED_KIT_OTHER_FACE)]
    stacked = Appearance(np.concatenate([a.features for a in apps]), np.concatenate([a.valid for a in apps]))
    sim = appearance_similarity(stacked, stacked, reid.scales, min_parts=2)
    assert sim[0, 1] == pytest.approx(1.0)
    assert sim[0, 2] < 0.1 and sim[0, 3] < 0.5 < sim[0, 0]


@pytest.mark.parametrize("absent,expected", [(10 - 1, 0), (10, 1)])
def test_dormant_for_max_frames_only(absent, expected):
    # Last seen at frame 4; back after `absent` empty frames, i.e. absent + 1 frames later.
    # max_frames 10: 10 frames after it was last seen it is still dormant, 11 frames after it is gone.
    ids = _run(_reid(max_frames=10), _away_and_back(5, absent, [(90.0, RED)]))
    assert ids[-1] == [expected]


@pytest.mark.parametrize("fraction,expected", [(0.95, 0), (1.05, 1)])
def test_gate_grows_with_the_frames_elapsed(fraction, expected):
    gate, absent = 0.05, 6
    elapsed = absent + 1
    reach = _size() * (1 + gate * elapsed)  # one size, plus `gate` sizes per frame of absence
    last_x = 80.0 + 2.0 * 4
    ids = _run(_reid(gate=gate), _away_and_back(5, absent, [(last_x + fraction * reach, RED)]))
    assert ids[-1] == [expected]


def test_far_reappearance_gets_a_new_id():
    ids = _run(_reid(gate=0.0), _away_and_back(5, 3, [(270.0, RED)]))
    assert ids[-1] == [1]


def test_half_seen_return_gets_its_id_once_it_can_be_compared():
    # Back with only its head and shoulders labelled (2 joints of the face/hair segment, no limb), it cannot be
    # compared and starts a new track; once it is seen whole, that young track takes the old id back.
    frames = _away_and_back(5, 4, [(90.0, RED)]) + [[(91.0, RED)]]
    video = _Video(FlowTracker(sigmas=POSETRACK.sigmas, reid=_reid(min_parts=3)))
    ids = [video(people) for people in frames[:-2]]
    frame, poses = _frame(frames[-2])
    partial = poses.keypoint_scores.copy()
    partial[:, 5:] = 0.0
    video.previous = video.tracker(Poses(poses.keypoints, partial, poses.scores, poses.boxes), video.previous, None,
                                   frame=frame)
    ids.append(video.previous.track_ids.tolist())
    ids.append(video(frames[-1]))
    assert ids[4:] == [[0], [], [], [], [], [1], [0]]


def test_ids_stay_unique_when_two_people_match_one_dormant_track():
    # Two red figures come back where one left: only one (the Hungarian optimum) takes the id.
    ids = _run(_reid(gate=1.0), _away_and_back(5, 3, [(90.0, RED), (200.0, RED)]))
    assert sorted(ids[-1]) == [0, 1]


def test_two_trackers_do_not_share_dormant_pools():
    red_video = _away_and_back(5, 3, [(90.0, RED)])
    # The other tracker never sees the red figure before it appears: a new track there, whatever the first holds.
    green_video = [[(200.0, GREEN)]] * 5 + [[]] * 3 + [[(90.0, RED)]]
    alone_red, alone_green = _run(_reid(), red_video), _run(_reid(), green_video)
    a, b = _Video(FlowTracker(sigmas=POSETRACK.sigmas, reid=_reid())), \
        _Video(FlowTracker(sigmas=POSETRACK.sigmas, reid=_reid()))
    got_a, got_b = [], []
    for p, q in zip(red_video, green_video):
        got_a.append(a(p))
        got_b.append(b(q))
    assert got_a == alone_red and got_b == alone_green
    assert got_a[-1] == [0] and got_b[-1] == [1]


def test_one_reidentifier_serves_one_tracker():
    reid = _reid()
    FlowTracker(sigmas=POSETRACK.sigmas, reid=reid)
    with pytest.raises(HrtrackError, match="another tracker"):
        FlowTracker(sigmas=POSETRACK.sigmas, reid=reid)


def test_reset_forgets_the_dormant_tracks():
    video = _Video(FlowTracker(sigmas=POSETRACK.sigmas, reid=_reid()))
    for people in _away_and_back(5, 3, [])[:-1]:
        video(people)
    video.tracker.reset()
    video.previous = Poses.empty(K)
    assert len(video.tracker.reid) == 0
    assert video([(90.0, RED)]) == [0] and video([(200.0, GREEN), (92.0, RED)]) == [1, 0]


def test_reid_needs_the_frame():
    frame, poses = _frame([(90.0, RED)])
    with pytest.raises(HrtrackError, match="needs the frame"):
        FlowTracker(sigmas=POSETRACK.sigmas, reid=_reid())(poses, Poses.empty(K), None)


# ---------------------------------------------------------------- the descriptor against a slow reference

def _reference_descriptor(frame: np.ndarray, kp: np.ndarray, scores: np.ndarray, model: PartColours):
    """One person's (P,6) mean and spread of Lab per part, and (P,) validity, sample by sample."""
    names = POSETRACK.joint_names
    h, w = frame.shape[:2]
    feats, valid = [], []
    for part in model.parts:
        lab = []
        for start, end in part.segments:
            s = [kp[names.index(j)] for j in start if scores[names.index(j)] > model.min_joint_score]
            e = [kp[names.index(j)] for j in end if scores[names.index(j)] > model.min_joint_score]
            if not s or not e:
                continue
            a, b = np.mean(s, 0), np.mean(e, 0)
            d = b - a
            if math.hypot(*d) < 1.0:
                continue
            normal = np.array([-d[1], d[0]])
            for t in np.linspace(part.along[0], part.along[1], 5):
                for u in np.linspace(-part.across, part.across, 3):
                    x, y = a + t * d + u * normal
                    xi, yi = math.floor(x + 0.5), math.floor(y + 0.5)
                    if 0 <= xi < w and 0 <= yi < h:
                        pixel = frame[yi, xi].astype(np.float32)[None, None] / 255
                        lab.append(cv2.cvtColor(pixel, cv2.COLOR_BGR2Lab)[0, 0])
        lab = np.array(lab, np.float64).reshape(-1, 3)
        ok = len(lab) >= 15 / 2
        valid.append(ok)
        feats.append(np.r_[lab.mean(0), lab.std(0)] if len(lab) else np.zeros(6))
    return np.array(feats), np.array(valid)


def test_part_colours_match_a_slow_reference():
    rng = np.random.default_rng(11)
    frame = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (0, 0), 3.0)
    kp = np.stack([_joints(x, y) for x, y in ((40, 20), (150, 60), (300, 100), (-20, 40))])
    kp += rng.normal(0, 3, kp.shape).astype(np.float32)
    scores = rng.uniform(0, 1, (4, K)).astype(np.float32)
    scores[0] = 1.0
    poses = Poses(kp, scores, np.ones(4), np.zeros((4, 4)))
    model = PartColours(POSETRACK.joint_names)
    got = model(frame, poses)
    assert got.features.shape == (4, 7, 6) and got.valid.shape == (4, 7)
    for i in range(4):
        feats, valid = _reference_descriptor(frame, kp[i], scores[i], model)
        np.testing.assert_array_equal(got.valid[i], valid)
        np.testing.assert_allclose(got.features[i][valid], feats[valid], atol=1e-3)
    assert got.valid[0].all() and not got.valid[3].all()  # the last figure stands half out of the frame


def test_appearance_similarity_matches_a_slow_reference():
    rng = np.random.default_rng(12)
    a = Appearance(rng.normal(50, 20, (3, 7, 6)).astype(np.float32), rng.random((3, 7)) < 0.7)
    b = Appearance(rng.normal(50, 20, (4, 7, 6)).astype(np.float32), rng.random((4, 7)) < 0.7)
    b.valid[0] = False
    scales = np.array([8.0, 8, 8, 16, 16, 16])
    got = appearance_similarity(a, b, scales, min_parts=2)
    for i in range(3):
        for j in range(4):
            d2 = [np.mean(((a.features[i, p].astype(np.float64) - b.features[j, p]) / scales) ** 2)
                  for p in range(7) if a.valid[i, p] and b.valid[j, p]]
            want = math.exp(-0.5 * sum(d2) / len(d2)) if len(d2) >= 2 else 0.0
            assert got[i, j] == pytest.approx(want, rel=1e-6, abs=1e-12)
    assert (got[:, 0] == 0).all()


def test_parts_follow_the_layout():
    assert PartColours(POSETRACK.joint_names).part_names == (
        "torso", "upper arms", "forearms", "thighs", "shins", "face", "hair")
    # COCO has no head_top: its head is placed on the line from the shoulders through the nose.
    coco = PartColours(COCO.joint_names)
    assert coco.part_names == PartColours(POSETRACK.joint_names).part_names
    assert coco.parts[5].segments == ((("left_shoulder", "right_shoulder"), ("nose",)),)
    with pytest.raises(HrtrackError, match="no body part"):
        PartColours(("a", "b"))


# ---------------------------------------------------------------- settings

def _tracking(**changes):
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"tracking.{k}={v}" for k, v in changes.items()])
    return cfg.tracking


def test_settings_become_frames_at_the_source_rate():
    assert build_tracker(_tracking(), POSETRACK, fps=25.0).reid is None  # off by default
    tracker = build_tracker(_tracking(reid="true", reid_seconds=0.4, reid_gate=1.5), POSETRACK, fps=30.0)
    assert tracker.reid.max_frames == 12 and tracker.reid.gate == pytest.approx(0.05)
    assert build_tracker(_tracking(reid="true", reid_seconds=2), POSETRACK, fps=25.0).reid.max_frames == 50
    # Fewer seconds than a frame still keep a track for one frame.
    assert build_tracker(_tracking(reid="true", reid_seconds=0.01), POSETRACK, fps=25.0).reid.max_frames == 1


@pytest.mark.parametrize("key,value,message", [
    ("reid_seconds", -1, r"tracking.reid_seconds must be a number in \(0, 60\]"),
    ("reid_seconds", 0, "tracking.reid_seconds"),
    ("reid_seconds", 61, "tracking.reid_seconds"),
    ("reid_seconds", float("nan"), "tracking.reid_seconds"),
    ("reid_threshold", 1.0, r"tracking.reid_threshold must be a number in \[0, 1\)"),
    ("reid_threshold", -0.1, "tracking.reid_threshold"),
    ("reid_gate", -0.5, r"tracking.reid_gate must be a number in \[0, 100\]"),
    ("reid_gate", float("inf"), "tracking.reid_gate"),
])
def test_bad_settings_name_the_setting_and_its_range(key, value, message):
    from dataclasses import replace

    bad = replace(_tracking(), **{key: value})
    with pytest.raises(HrtrackError, match=message):
        check_reid_config(bad)
    # Checked whether re-identification is on or off, before anything is built.
    with pytest.raises(HrtrackError, match=message):
        build_tracker(replace(bad, reid=True), POSETRACK, fps=25.0)


@pytest.mark.parametrize("kwargs,message", [
    ({"max_frames": 0}, "max_frames"), ({"max_frames": 2.5}, "max_frames"), ({"threshold": 1.0}, "threshold"),
    ({"gate": -1.0}, "gate"), ({"momentum": 0.0}, "momentum"), ({"min_parts": 0}, "min_parts"),
])
def test_reidentifier_validates_its_arguments(kwargs, message):
    with pytest.raises(HrtrackError, match=message):
        ReIdentifier(PartColours(POSETRACK.joint_names), **{"max_frames": 10, **kwargs})


# ---------------------------------------------------------------- end to end

def _clip_ids(reid: bool) -> tuple[list[dict[int, int]], list[dict[int, int]]]:
    """Track a synthetic clip whose walker leaves and comes back; per frame {true id: output id} and joints seen."""
    # Clip 22 of these settings: walker 0 is in view for frames 0-6, out of view for 6 frames, back from
    # frame 13 (one joint, then five, then fully in view from frame 16).
    video = SyntheticVideo(seed=0, number=SPLIT_BASE["val"] + 22, split="val", size=(320, 180), frames=30,
                           people=(1, 2), difficulty=Difficulty(reentry_frames=6, reentry_share=1.0))
    oracle = OracleEstimator(POSETRACK)
    tracker = build_tracker(_tracking(reid=str(reid).lower()), POSETRACK, fps=25.0)
    pipeline = FlowTrackPipeline(estimator=oracle, tracker=tracker, flow=DISFlow("medium"), propagate=False,
                                 nms_iou=1.0, oks_nms_threshold=None, person_threshold=0.1)
    ids, joints = [], []
    for frame, truth in video:
        kp, labelled = truth.keypoints("posetrack")
        oracle.set_truth(kp, labelled, truth.boxes)
        out = pipeline(frame, Boxes(truth.boxes, np.ones(len(truth), np.float32)))
        assert len(out) == len(truth)  # ground-truth boxes, no NMS: one pose per true person, in order
        ids.append(dict(zip(truth.track_ids.tolist(), out.track_ids.tolist())))
        joints.append(dict(zip(truth.track_ids.tolist(), labelled.sum(1).tolist())))
    return ids, joints


@pytest.mark.slow
def test_reentering_walker_keeps_its_id_through_the_pipeline():
    off, joints = _clip_ids(reid=False)
    on, _ = _clip_ids(reid=True)
    seen = [t for t, j in enumerate(joints) if 0 in j]
    gap = [t for t in range(seen[0], seen[-1]) if t not in seen]
    assert len(gap) == 6  # the clip is what the test is about
    before, after = [t for t in seen if t < gap[0]], [t for t in seen if t > gap[-1] and joints[t][0] >= 10]
    assert before and after
    first = off[before[0]][0]
    assert {off[t][0] for t in before} == {on[t][0] for t in before} == {first}
    # FlowTrack alone: a new id after the gap. With re-identification: the old one, once the walker is in view.
    assert all(off[t][0] != first for t in after)
    assert all(on[t][0] == first for t in after)
