"""Keyframe detection: the detector on every K-th frame (and sooner when tracking loses a person), flow
propagation carrying the people between, on a known sequence: a textured scene and one person translating by a
known displacement per frame, the ground-truth poses in the estimator's place (the oracle)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from hrtrack.errors import HrtrackError
from hrtrack.models.flow import DISFlow
from hrtrack.pipeline.keyframes import KeyframeSchedule
from hrtrack.pipeline.oracle import OracleEstimator
from hrtrack.pipeline.runner import track_source
from hrtrack.pipeline.sources import Frame, FrameSource
from hrtrack.pipeline.tracking_pipeline import FlowTrackPipeline
from hrtrack.skeleton import POSETRACK
from hrtrack.structures import Boxes, Poses
from hrtrack.tracking.tracker import FlowTracker

SIZE = (192, 144)       # frame w, h
SHIFT = (5.0, 2.0)      # the scene's displacement per frame, px: the flow everywhere
FRAMES = 10
# A standing person: 17 PoseTrack joints (x, y) in frame 0, about 40 x 80 px.
PERSON = np.array([[60, 30], [60, 36], [60, 20], [0, 0], [0, 0], [50, 42], [70, 42], [46, 58], [74, 58],
                   [44, 72], [76, 72], [54, 76], [66, 76], [53, 94], [67, 94], [52, 110], [68, 110]], np.float32)
LABELLED = np.ones(17, bool)
LABELLED[[3, 4]] = False  # PoseTrack's ears are never labelled


def _scene() -> np.ndarray:
    """A smooth random texture larger than the frame, so a window sliding over it is a translating scene."""
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (SIZE[1] + 40, SIZE[0] + 80, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def _truth(t: int) -> np.ndarray:
    return PERSON + np.float32(t) * np.array(SHIFT, np.float32)


def _box(t: int) -> np.ndarray:
    joints = _truth(t)[LABELLED]
    return np.concatenate([joints.min(axis=0) - 4, joints.max(axis=0) + 4]).astype(np.float32)


class Scene(FrameSource):
    """Frame t shows the scene moved by t x SHIFT (whole pixels: SHIFT is integral)."""

    description = "translating scene"

    def __init__(self, frames: int = FRAMES):
        self.count = frames
        self.scene = _scene()

    def __len__(self) -> int:
        return self.count

    def frames(self):
        dx, dy = (int(v) for v in SHIFT)
        for t in range(self.count):
            x0, y0 = 60 - dx * t, 30 - dy * t
            yield Frame(t, f"{t:06d}.jpg", np.ascontiguousarray(self.scene[y0:y0 + SIZE[1], x0:x0 + SIZE[0]]))


class CountingDetector:
    """The detector of the known sequence (the person's box, score 0.9), recording which frames it saw."""

    def __init__(self):
        self.seen: list[int] = []
        self.calls = 0

    def __call__(self, frames) -> list[Boxes]:
        self.calls += 1
        self.seen.extend(f.index for f in frames)
        return [Boxes(_box(f.index)[None], np.array([0.9], np.float32)) for f in frames]


class TruthOnFrame:
    """A sink that gives the oracle each next frame's truth (hidden frames: nobody) and keeps the output."""

    def __init__(self, oracle: OracleEstimator, hidden: set[int] = frozenset()):
        self.oracle, self.hidden = oracle, hidden
        self.out: list[Poses] = []
        self._show(0)

    def _show(self, t: int) -> None:
        if t in self.hidden:
            self.oracle.set_truth(np.zeros((0, 17, 2)), np.zeros((0, 17), bool), np.zeros((0, 4)))
        else:
            self.oracle.set_truth(_truth(t)[None], LABELLED[None], _box(t)[None])

    def add(self, frame: Frame, poses: Poses) -> None:
        self.out.append(poses)
        self._show(frame.index + 1)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _pipeline(oracle: OracleEstimator) -> FlowTrackPipeline:
    tracker = FlowTracker(similarity="oks", threshold=0.3, q_frames=1, max_age=1, matcher="greedy",
                          sigmas=POSETRACK.sigmas)
    return FlowTrackPipeline(estimator=oracle, tracker=tracker, flow=DISFlow("medium"), propagate=True,
                             person_threshold=0.1)


def _run(every: int | None, adaptive: bool = False, hidden: set[int] = frozenset(), frames: int = FRAMES):
    oracle = OracleEstimator(POSETRACK)
    sink = TruthOnFrame(oracle, hidden)
    detector = CountingDetector()
    schedule = None if every is None else KeyframeSchedule(every, adaptive=adaptive)
    stats = track_source(Scene(frames), detector, _pipeline(oracle), [sink], detect_batch=4, progress=False,
                         keyframes=schedule)
    return detector, sink.out, stats


# ---------------------------------------------------------------- the schedule alone

def test_schedule_every_k_and_its_reset():
    schedule = KeyframeSchedule(3)
    empty = Poses.empty(17)
    due = []
    for _ in range(10):
        due.append(schedule.due())
        schedule.observe(empty)
    assert [t for t, d in enumerate(due) if d] == [0, 3, 6, 9]
    schedule.reset()
    assert schedule.due() and not schedule.due()
    assert all(KeyframeSchedule(1).due() for _ in range(5))


@pytest.mark.parametrize("every", [0, -1, -3, 2.0, True, "3"])
def test_schedule_rejects_k_below_one_with_the_range(every):
    with pytest.raises(HrtrackError, match=r"detector.every \(--detect-every\) must be an integer >= 1") as err:
        KeyframeSchedule(every)
    assert "\n" not in str(err.value) and repr(every) in str(err.value)


# ---------------------------------------------------------------- the runner on the known sequence

def test_k3_runs_the_detector_exactly_on_frames_0_3_6_9():
    detector, out, stats = _run(every=3)
    assert detector.seen == [0, 3, 6, 9]
    assert detector.calls == 4  # one keyframe per call
    assert stats.frames == FRAMES and stats.detected == 4


def test_without_a_schedule_every_frame_is_detected_in_batches():
    detector, _, stats = _run(every=None)
    assert detector.seen == list(range(FRAMES))
    assert detector.calls == 3  # chunks of 4, 4 and 2 frames
    assert stats.detected == FRAMES


def test_person_detected_on_a_keyframe_is_carried_by_the_flow_between():
    detector, out, _ = _run(every=4)
    assert detector.seen == [0, 4, 8]
    # One person on every frame, one track id throughout.
    assert [len(p) for p in out] == [1] * FRAMES
    assert {int(p.track_ids[0]) for p in out} == {int(out[0].track_ids[0])}
    for t in range(1, FRAMES):
        if t in detector.seen:
            continue
        # No detection here: the box HRNet saw is the previous pose's joint box moved by the flow (SHIFT) and
        # extended by 15% a side, then padded to the crop window (aspect 3:4, x1.25) around the same centre.
        joints = _truth(t - 1)[LABELLED] + np.array(SHIFT, np.float32)
        lo, hi = joints.min(axis=0), joints.max(axis=0)
        w, h = (hi - lo) * 1.3
        w, h = max(w, 0.75 * h), max(h, w / 0.75)
        want = np.concatenate([(lo + hi) / 2 - 0.625 * np.array([w, h]), (lo + hi) / 2 + 0.625 * np.array([w, h])])
        np.testing.assert_allclose(out[t].boxes[0], want, atol=1.0)
        # The oracle then gave that box the person's true pose, in place in this frame.
        np.testing.assert_allclose(out[t].keypoints[0][LABELLED], _truth(t)[LABELLED], atol=1e-4)


def test_adaptive_detects_the_frame_after_a_lost_person_and_counts_k_from_there():
    # Frame 4 hides the person: propagation loses it, so frame 5 is detected, then 8 (= 5 + 3).
    detector, out, _ = _run(every=3, adaptive=True, hidden={4})
    assert detector.seen == [0, 3, 5, 8]
    assert len(out[4]) == 0 and len(out[5]) == 1 and len(out[6]) == 1
    fixed, fixed_out, _ = _run(every=3, adaptive=False, hidden={4})
    assert fixed.seen == [0, 3, 6, 9]
    # Without the rule nobody is found again until the next keyframe.
    assert [len(p) for p in fixed_out[4:7]] == [0, 0, 1]


def test_adaptive_changes_nothing_while_no_one_is_lost():
    detector, _, _ = _run(every=3, adaptive=True)
    assert detector.seen == [0, 3, 6, 9]


# ---------------------------------------------------------------- the command line

def _clip(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    dets = []
    for frame in Scene(6).frames():
        cv2.imwrite(str(frames / frame.name), frame.image)
        x1, y1, x2, y2 = (float(v) for v in _box(frame.index))
        dets.append({"image_id": frame.index, "file_name": frame.name, "category_id": 1,
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "score": 0.9})
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    return frames, tmp_path / "dets.json"


@pytest.fixture(scope="module")
def tiny(instant_hrnet):
    weights, model_yaml = instant_hrnet
    return ["--pose-weights", str(weights), "--set", f"estimator.model={model_yaml}",
            "--set", "estimator.flip_test=false", "--set", "estimator.engine=torch", "--set",
            "output.person_threshold=0", "--set", "output.joint_threshold=-1", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("flag", [["--detect-every", "0"], ["--detect-every", "-2"], ["--set", "detector.every=0"],
                                  ["--detect-every", "0", "--fast"]])
def test_cli_refuses_k_below_one_in_one_line(capsys, tmp_path, tiny, one_thread, flag):
    from hrtrack.cli import main

    frames, dets = _clip(tmp_path)
    rc = main(["track", str(frames), *tiny, "--detections", str(dets), "--out", str(tmp_path / "r.json"), *flag])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1, err
    assert "detector.every (--detect-every) must be an integer >= 1" in err[0]
    assert not (tmp_path / "r.json").exists()


def test_cli_detection_file_with_k_reads_only_keyframes(capsys, tmp_path, tiny, one_thread):
    from hrtrack.cli import main

    frames, dets = _clip(tmp_path)
    out = tmp_path / "r.json"
    # The random network's joints score near 0: every joint may define a propagated box.
    assert main(["track", str(frames), *tiny, "--detections", str(dets), "--out", str(out),
                 "--detect-every", "3", "--set", "propagation.min_joint_score=-1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("6 frames (detector on 2), ")
    frames_out = json.loads(out.read_text())["annolist"]
    assert len(frames_out) == 6 and all(len(f["annorect"]) >= 1 for f in frames_out)
    saved = (tmp_path / "r.config.yaml").read_text()
    assert "every: 3" in saved
