"""The jitter metric (mean joint acceleration error against ground truth) on hand-made tracks with known answers."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from hrtrack.errors import HrtrackError
from hrtrack.evaluation.jitter import Jitter, jitter_folders, sequence_jitter
from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence, write_posetrack17
from hrtrack.pipeline.postprocess import PostProcess
from hrtrack.pipeline.sources import Frame
from hrtrack.skeleton import PT17_TO_PT18
from hrtrack.structures import Poses

LABELLED = np.zeros(17, bool)
LABELLED[PT17_TO_PT18] = True   # the 15 joints of PoseTrack 2017 (no ears)


def frame(keypoints, ids, visible=None, head=True) -> PoseTrackFrame:
    """A frame of people (N,17,2) with 20x20 head boxes above their first joint (head size 0.6 x 28.3 = 17 px)."""
    kp = np.asarray(keypoints, np.float32).reshape(-1, 17, 2)
    n = len(kp)
    vis = np.tile(LABELLED, (n, 1)) if visible is None else np.asarray(visible, bool)
    heads = np.concatenate([kp[:, 0] - 10, kp[:, 0] + 10], 1) if head else np.full((n, 4), np.nan)
    return PoseTrackFrame("img.jpg", True, kp, vis, np.where(vis, 0.9, np.nan), np.asarray(ids, np.int64),
                          np.ones(n), heads, np.full((n, 4), np.nan))


def walk(t: int, start: float = 100.0, speed: float = 3.0) -> np.ndarray:
    """(17,2) joints of a person moving at constant velocity, spread out so no joint is near another person's."""
    base = np.stack([np.linspace(0, 40, 17), np.linspace(0, 80, 17)], -1)
    return base + [start + speed * t, 50 + 0.5 * t]


def test_zigzag_of_amplitude_d_gives_4d():
    d, frames = 1.5, 12
    gt = PoseTrackSequence("s", [frame([walk(t)], [3]) for t in range(frames)])
    zig = [frame([walk(t) + [d * (-1) ** t, 0]], [8]) for t in range(frames)]
    result = sequence_jitter(gt, PoseTrackSequence("s", zig))
    # a_pred - a_true = d((-1)^(t+1) - 2(-1)^t + (-1)^(t-1)) = -4d(-1)^t: norm 4d, at every t from 1 to T-2
    assert result.triples == 15 * (frames - 2)
    assert result.mean == pytest.approx(4 * d)
    offset = [frame([walk(t) + [5.0, -3.0]], [8]) for t in range(frames)]
    assert sequence_jitter(gt, PoseTrackSequence("s", offset)).mean == pytest.approx(0.0, abs=1e-5)


def test_identity_switches_and_missing_joints_break_the_runs():
    frames = 10
    a, b = [walk(t, 100) for t in range(frames)], [walk(t, 300, -2.0) for t in range(frames)]
    gt = PoseTrackSequence("s", [frame([a[t], b[t]], [1, 2]) for t in range(frames)])
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1.0, (frames, 2, 17, 2))
    pred_frames = []
    for t in range(frames):
        ids = [5, 6] if t < 5 else [6, 5]             # the tracker swaps the two ids at frame 5
        vis = np.tile(LABELLED, (2, 1))
        if t == 7:
            vis[0, 9] = False                            # one joint of person a missed at frame 7
        pred_frames.append(frame([a[t] + noise[t, 0], b[t] + noise[t, 1]], ids, vis))
    got = sequence_jitter(gt, PoseTrackSequence("s", pred_frames))
    # slow reference: triples t-1,t,t+1 with the same predicted id throughout, joint present in all three
    total, count = 0.0, 0
    for person in range(2):
        for t in range(1, frames - 1):
            if (t - 1 < 5) != (t + 1 < 5):
                continue
            for j in PT17_TO_PT18:
                if person == 0 and j == 9 and 7 in (t - 1, t, t + 1):
                    continue
                e = noise[t + 1, person, j] - 2 * noise[t, person, j] + noise[t - 1, person, j]
                total += math.hypot(*e)
                count += 1
    assert got.triples == count == 2 * 15 * 6 - 3
    assert got.mean == pytest.approx(total / count, rel=1e-5)


def test_nothing_to_count_is_nan_not_an_error():
    gt = PoseTrackSequence("s", [frame([walk(t)], [1]) for t in range(2)])
    assert math.isnan(sequence_jitter(gt, gt).mean) and sequence_jitter(gt, gt).triples == 0
    empty = PoseTrackSequence("s", [frame(np.zeros((0, 17, 2)), []) for _ in range(5)])
    assert sequence_jitter(empty, empty).triples == 0
    no_heads = PoseTrackSequence("s", [frame([walk(t)], [1], head=False) for t in range(5)])
    assert sequence_jitter(no_heads, no_heads).triples == 0
    with pytest.raises(HrtrackError, match="4 frames but the ground truth"):
        sequence_jitter(gt, PoseTrackSequence("s", [frame([walk(t)], [1]) for t in range(4)]))
    assert (Jitter(3.0, 2) + Jitter(1.0, 2)).mean == 1.0


def test_folders_and_smoothing_lowers_jitter(tmp_path):
    """Noisy predictions of a walking person through the Savitzky-Golay stage: lower jitter, read from files."""
    frames = 40
    rng = np.random.default_rng(1)
    truth = [walk(t) for t in range(frames)]
    gt = PoseTrackSequence("clip", [frame([truth[t]], [1]) for t in range(frames)])
    noisy = [truth[t] + rng.normal(0, 2.0, (17, 2)) for t in range(frames)]
    stage = PostProcess(num_joints=17, joint_threshold=0.3, window=9, order=2)
    out = []
    for t in range(frames):
        out += stage.push(Frame(t, str(t), np.zeros((1, 1, 3), np.uint8)),
                          Poses(noisy[t][None], np.full((1, 17), 0.9), np.ones(1), np.zeros((1, 4)), [4]))
    out += stage.flush()
    smooth = copy.deepcopy(gt)
    raw = copy.deepcopy(gt)
    for t in range(frames):
        raw.frames[t] = frame([noisy[t]], [4])
        smooth.frames[t] = frame(out[t][1].keypoints, [4])
    for folder, seq in (("gt", gt), ("raw", raw), ("smooth", smooth)):
        (tmp_path / folder).mkdir()
        write_posetrack17(seq, tmp_path / folder / "clip.json")
    before = jitter_folders(tmp_path / "gt", tmp_path / "raw")
    after = jitter_folders(tmp_path / "gt", tmp_path / "smooth")
    assert before.triples == after.triples == 15 * (frames - 2)
    # white noise of sigma s per coordinate: |second difference| has mean s * sqrt(6) * sqrt(pi / 2)
    assert before.mean == pytest.approx(2.0 * math.sqrt(6) * math.sqrt(math.pi / 2), rel=0.1)
    assert after.mean < 0.4 * before.mean
    with pytest.raises(HrtrackError, match="no prediction for sequence clip"):
        jitter_folders(tmp_path / "gt", tmp_path)
