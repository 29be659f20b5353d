"""The identity ceiling (a perfect re-identification of whole predicted tracks) on hand-made tracks with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from hrtrack.errors import HrtrackError
from hrtrack.evaluation.identity_ceiling import ceiling_folders, relabelled, stitched_ids
from hrtrack.evaluation.posetrack import evaluate_folders
from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence, write_posetrack17
from hrtrack.skeleton import PT17_TO_PT18

LABELLED = np.zeros(17, bool)
LABELLED[PT17_TO_PT18] = True   # the 15 joints of PoseTrack 2017
FRAMES = 10


def person(t: int, x0: float) -> np.ndarray:
    """(17,2) joints of a person walking right, 60 px wide: people 300 px apart never come near."""
    base = np.stack([np.linspace(0, 60, 17), np.linspace(0, 120, 17)], -1)
    return base + [x0 + 4.0 * t, 80.0]


def frame(people: list[np.ndarray], ids: list[int]) -> PoseTrackFrame:
    kp = np.asarray(people, np.float32).reshape(-1, 17, 2)
    n = len(kp)
    vis = np.tile(LABELLED, (n, 1))
    heads = np.concatenate([kp[:, 0] - 10, kp[:, 0] + 10], 1)
    return PoseTrackFrame("img.jpg", True, kp, vis, np.where(vis, 0.9, np.nan), np.asarray(ids, np.int64),
                          np.ones(n), heads, np.full((n, 4), np.nan))


def truth() -> PoseTrackSequence:
    """Person 0 at x=100 and person 1 at x=400, both in every frame."""
    return PoseTrackSequence("s", [frame([person(t, 100), person(t, 400)], [0, 1]) for t in range(FRAMES)])


def split_and_lost(gap: tuple[int, int] = (4, 6)) -> PoseTrackSequence:
    """Person 0 tracked as 5, lost for frames gap[0]..gap[1]-1, then tracked as 7; person 1 as 6 throughout."""
    frames = []
    for t in range(FRAMES):
        people, ids = [person(t, 400)], [6]
        if not gap[0] <= t < gap[1]:
            people.append(person(t, 100))
            ids.append(5 if t < gap[0] else 7)
        frames.append(frame(people, ids))
    return PoseTrackSequence("s", frames)


def swapped() -> PoseTrackSequence:
    """Both people tracked throughout, but their tracks swap people at frame 5."""
    return PoseTrackSequence("s", [frame([person(t, 100), person(t, 400)], [5, 6] if t < 5 else [6, 5])
                                   for t in range(FRAMES)])


def _scores(tmp_path, gt: PoseTrackSequence, pred: PoseTrackSequence, max_gap: int) -> tuple[int, int]:
    """ID switches of `pred` as it is and at its ceiling."""
    (tmp_path / "gt").mkdir(exist_ok=True)
    (tmp_path / "pred").mkdir(exist_ok=True)
    write_posetrack17(gt, tmp_path / "gt" / "s.json")
    write_posetrack17(pred, tmp_path / "pred" / "s.json")
    before = evaluate_folders(tmp_path / "gt", tmp_path / "pred", progress=False).summary()
    after = ceiling_folders(tmp_path / "gt", tmp_path / "pred", max_gap).summary()
    return before["counts"]["num_switches"], after["counts"]["num_switches"]


def test_a_person_lost_for_two_frames_is_joined_and_their_switches_go(tmp_path):
    gt, pred = truth(), split_and_lost()
    assert stitched_ids(gt, pred, max_gap=3) == {7: 5}
    # Coming back as 7 switches each of person 0's 15 joints once; joined, none switch.
    assert _scores(tmp_path, gt, pred, max_gap=3) == (15, 0)


def test_pieces_further_apart_than_max_gap_stay_apart(tmp_path):
    gt, pred = truth(), split_and_lost()
    # Track 5 ends at frame 3 and 7 starts at frame 6: 3 frames apart.
    assert stitched_ids(gt, pred, max_gap=2) == {}
    assert _scores(tmp_path, gt, pred, max_gap=2) == (15, 15)


def test_a_track_that_moves_onto_another_person_is_beyond_any_relabelling(tmp_path):
    gt, pred = truth(), swapped()
    # Each track covers each person for 5 frames, and both live throughout: nothing to join.
    assert stitched_ids(gt, pred, max_gap=25) == {}
    assert _scores(tmp_path, gt, pred, max_gap=25) == (30, 30)


def test_relabelled_changes_only_the_given_ids():
    pred = split_and_lost()
    out = relabelled(pred, {7: 5})
    assert [f.track_ids.tolist() for f in out.frames] == [[6, 5]] * 4 + [[6]] * 2 + [[6, 5]] * 4
    assert [f.track_ids.tolist() for f in pred.frames][-1] == [6, 7]  # the input is left as it was
    assert relabelled(pred, {}) is pred


@pytest.mark.parametrize("max_gap", [0, -3, 2.5, True])
def test_max_gap_out_of_range_is_one_line(max_gap):
    with pytest.raises(HrtrackError, match=r"max_gap must be an integer >= 1"):
        stitched_ids(truth(), split_and_lost(), max_gap=max_gap)
