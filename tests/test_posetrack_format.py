"""PoseTrack 2017 / 2018 files: round trips, the 15 <-> 17 joint table, validation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrtrack.formats.posetrack import (
    PoseTrackFrame,
    PoseTrackSequence,
    read_sequence,
    sequence_files,
    to_posetrack17,
    to_posetrack18,
    validate_posetrack17,
    write_posetrack17,
    write_posetrack18,
)
from hrtrack.errors import HrtrackError
from hrtrack.skeleton import POSETRACK, PT17_TO_PT18

EARS = [POSETRACK.index("left_ear"), POSETRACK.index("right_ear")]


def random_sequence(rng: np.random.Generator, n_frames: int = 4, name: str = "000342_mpii_test") -> PoseTrackSequence:
    frames = []
    for fi in range(n_frames):
        n = int(rng.integers(0, 5))
        vis = rng.random((n, 17)) < 0.7
        vis[:, EARS] = False
        kp = rng.uniform(0, 640, (n, 17, 2)).astype(np.float32)
        kp[~vis] = 0
        js = np.where(vis, rng.random((n, 17)), np.nan).astype(np.float32)
        tl = rng.uniform(0, 500, (n, 2))
        head = np.concatenate([tl, tl + rng.uniform(5, 40, (n, 2))], 1)
        box = np.concatenate([tl, tl + rng.uniform(50, 200, (n, 2))], 1)
        ids = rng.choice(10000, n, replace=False)
        regions = [rng.uniform(0, 600, (int(rng.integers(3, 6)), 2)) for _ in range(int(rng.integers(0, 3)))]
        frames.append(PoseTrackFrame(f"images/val/{name}/{fi:06d}.jpg", n > 0, kp, vis, js, ids,
                                     rng.random(n), head, box, regions))
    return PoseTrackSequence(name, frames, name.split("_")[0])


def assert_same(a: PoseTrackSequence, b: PoseTrackSequence, boxes: bool) -> None:
    assert a.name == b.name and a.vid_id == b.vid_id and len(a.frames) == len(b.frames)
    for fa, fb in zip(a.frames, b.frames):
        assert fa.image == fb.image and fa.is_labeled == fb.is_labeled
        np.testing.assert_array_equal(fa.visible, fb.visible)
        np.testing.assert_array_equal(fa.keypoints[fa.visible], fb.keypoints[fb.visible])
        np.testing.assert_array_equal(fa.joint_scores[fa.visible], fb.joint_scores[fb.visible])
        np.testing.assert_array_equal(fa.track_ids, fb.track_ids)
        np.testing.assert_array_equal(fa.scores, fb.scores)
        np.testing.assert_array_equal(fa.head_boxes, fb.head_boxes)
        if boxes:
            np.testing.assert_array_equal(fa.boxes, fb.boxes)
        assert len(fa.ignore_regions) == len(fb.ignore_regions)
        for ra, rb in zip(fa.ignore_regions, fb.ignore_regions):
            np.testing.assert_array_equal(ra, rb)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_round_trips_2017_2018(tmp_path, seed):
    seq = random_sequence(np.random.default_rng(seed))
    p17, p18 = tmp_path / "17" / f"{seq.name}.json", tmp_path / "18" / f"{seq.name}.json"
    p17.parent.mkdir()
    p18.parent.mkdir()
    write_posetrack18(seq, p18)
    from18 = read_sequence(p18)
    assert_same(seq, from18, boxes=True)
    write_posetrack17(from18, p17)
    from17 = read_sequence(p17)
    assert_same(seq, from17, boxes=False)
    assert np.isnan(np.concatenate([f.boxes for f in from17.frames])).all()  # 2017 has no person box
    write_posetrack18(from17, p18)
    assert_same(from17, read_sequence(p18), boxes=True)


def test_joint_table_by_hand(tmp_path):
    # PoseTrack 2017 ids: 0 r_ankle, 8 r_shoulder, 12 head_bottom, 13 nose, 14 head_top.
    assert dict(zip(range(15), PT17_TO_PT18.tolist())) == {
        0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 6: 10, 7: 8, 8: 6, 9: 5, 10: 7, 11: 9, 12: 1, 13: 0, 14: 2}
    points = [{"id": [j], "x": [10.0 * j], "y": [j + 0.5], "score": [0.1]} for j in (0, 8, 12, 13, 14)]
    obj = {"annolist": [{"image": [{"name": "images/x/000001_a/000000.jpg"}],
                         "annorect": [{"track_id": [3], "annopoints": [{"point": points}]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(obj))
    fr = read_sequence(path).frames[0]
    assert np.flatnonzero(fr.visible[0]).tolist() == [0, 1, 2, 6, 16]
    np.testing.assert_array_equal(fr.keypoints[0, [16, 6, 1, 0, 2]],
                                  [[0, 0.5], [80, 8.5], [120, 12.5], [130, 13.5], [140, 14.5]])
    # and back: the same ids carry the same coordinates
    back = to_posetrack17(read_sequence(path))
    got = {p["id"][0]: (p["x"][0], p["y"][0]) for p in back["annolist"][0]["annorect"][0]["annopoints"][0]["point"]}
    assert got == {p["id"][0]: (p["x"][0], p["y"][0]) for p in points}


def test_2017_every_scalar_wrapped():
    obj = to_posetrack17(random_sequence(np.random.default_rng(5), n_frames=6))
    wrapped = {"x1", "y1", "x2", "y2", "score", "track_id", "id", "x", "y", "is_labeled", "imgnum", "image"}
    seen = set()

    def walk(node):
        if isinstance(node, dict):
            for key, v in node.items():
                if key in wrapped:
                    assert isinstance(v, list) and len(v) == 1, (key, v)
                    seen.add(key)
                else:
                    assert key in {"annolist", "annorect", "annopoints", "point", "ignore_regions", "name"}, key
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(obj)
    assert seen == wrapped
    validate_posetrack17(obj, "written")


def test_2018_absent_only_zero_triplet_and_ears_dropped(tmp_path):
    kp = np.zeros((17, 3))
    kp[0] = (0, 0, 1)        # at the origin but flagged: present (poseval keeps it)
    kp[5] = (5, 7, 0)        # v = 0 with coordinates: present
    kp[6] = (0, 0, 0)        # absent
    kp[3] = (30, 40, 2)      # left ear: not a PoseTrack 2017 joint, dropped
    obj = {"images": [{"id": 7, "file_name": "images/val/000010_a/000000.jpg", "vid_id": "000010",
                       "is_labeled": True}],
           "annotations": [{"image_id": 7, "track_id": 2, "keypoints": kp.ravel().tolist(),
                            "bbox": [1, 2, 3, 4], "bbox_head": [10, 20, 5, 6], "scores": list(range(17))}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(obj))
    seq = read_sequence(path)
    fr = seq.frames[0]
    assert np.flatnonzero(fr.visible[0]).tolist() == [0, 5]
    np.testing.assert_array_equal(fr.boxes[0], [1, 2, 4, 6])
    np.testing.assert_array_equal(fr.head_boxes[0], [10, 20, 15, 26])
    assert fr.joint_scores[0, 5] == 5 and np.isnan(fr.joint_scores[0, 3])
    assert seq.vid_id == "000010" and fr.image_id == 7


def test_2017_rect_without_points_dropped_empty_points_kept(tmp_path):
    obj = {"annolist": [{"image": [{"name": "a/000001_x/0.jpg"}], "annorect": [
        {"track_id": [1]}, {"track_id": [2], "annopoints": []},
        {"track_id": [3], "annopoints": [{"point": []}]}]}]}
    path = tmp_path / "s.json"
    path.write_text(json.dumps(obj))
    fr = read_sequence(path).frames[0]
    assert fr.track_ids.tolist() == [3] and not fr.visible.any()
    assert fr.unannotated_people == 2


def test_2018_image_id_convention():
    seq = random_sequence(np.random.default_rng(3), n_frames=3, name="000342_mpii_test")
    ids = [img["id"] for img in to_posetrack18(seq)["images"]]
    assert ids == [10003420000, 10003420001, 10003420002]


def test_sequence_files(tmp_path):
    for stem in ("b", "a"):
        (tmp_path / f"{stem}.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert list(sequence_files(tmp_path)) == ["a", "b"]
    with pytest.raises(HrtrackError, match="not a folder"):
        sequence_files(tmp_path / "missing")


def _frame17(rects, **extra):
    return {"annolist": [{"image": [{"name": "images/000001_x/0.jpg"}], "annorect": rects, **extra}]}


def _person17(tid=1, **over):
    rect = {"track_id": [tid], "x1": [0], "y1": [0], "x2": [10], "y2": [10],
            "annopoints": [{"point": [{"id": [0], "x": [1.0], "y": [2.0], "score": [0.5]}]}]}
    rect.update(over)
    return rect


MALFORMED = [
    ("not json", "{oops", "not valid JSON"),
    ("empty", "", "empty file"),
    ("no annolist", {"foo": []}, "no 'annolist'"),
    ("unwrapped track id", _frame17([_person17(track_id=5)]), "annolist[0].annorect[0].track_id"),
    ("unwrapped head box", _frame17([_person17(x1=0)]), "annolist[0].annorect[0].x1"),
    ("unwrapped joint x", _frame17([_person17(annopoints=[{"point": [{"id": [0], "x": 1.0, "y": [2.0]}]}])]),
     "point[0].x"),
    ("duplicate ids", _frame17([_person17(4), _person17(4)]), "track id 4 appears 2 times"),
    ("id too large", _frame17([_person17(10000)]), "track_id = 10000"),
    ("negative id", _frame17([_person17(-1)]), "track_id = -1"),
    ("joint id 15", _frame17([_person17(annopoints=[{"point": [{"id": [15], "x": [1], "y": [2]}]}])]),
     "point[0].id = 15"),
    ("string coordinate", _frame17([_person17(annopoints=[{"point": [{"id": [1], "x": ["1"], "y": [2]}]}])]),
     "point[0].x must be a finite number"),
    ("partial head box", _frame17([{k: v for k, v in _person17().items() if k != "y2"}]), "head box fields"),
    ("annolist not list", {"annolist": {}}, "annolist must be a list"),
    ("2018 unknown image", {"images": [{"id": 1}], "annotations": [{"image_id": 2, "keypoints": [0] * 51}]},
     "annotations[0].image_id = 2"),
    ("2018 short keypoints", {"images": [{"id": 1}], "annotations": [{"image_id": 1, "keypoints": [0] * 50}]},
     "annotations[0].keypoints must be a list of 51"),
    ("2018 duplicate ids", {"images": [{"id": 1}], "annotations": [
        {"image_id": 1, "track_id": 3, "keypoints": [1] * 51}, {"image_id": 1, "track_id": 3, "keypoints": [1] * 51}]},
     "track id 3 appears 2 times"),
    ("2018 bad keypoint name", {"images": [], "categories": [{"name": "person", "keypoints": ["elbow"]}]},
     "categories[0].keypoints[0]"),
]


@pytest.mark.parametrize("label,content,needle", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_name_file_and_field(tmp_path, label, content, needle):
    path = tmp_path / "000001_bad.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(HrtrackError) as info:
        read_sequence(path)
    msg = str(info.value)
    assert str(path) in msg and needle in msg and "\n" not in msg


def test_validator_requires_ids_and_scores_on_predictions():
    no_score = _frame17([_person17(annopoints=[{"point": [{"id": [0], "x": [1], "y": [2]}]}])])
    validate_posetrack17(no_score, "gt.json", prediction=False)
    with pytest.raises(HrtrackError, match=r"pred.json: annolist\[0\]: a joint has no 'score'"):
        validate_posetrack17(no_score, "pred.json")
    no_id = _frame17([{k: v for k, v in _person17().items() if k != "track_id"}])
    with pytest.raises(HrtrackError, match=r"pred.json: annolist\[0\]: a person has no 'track_id'"):
        validate_posetrack17(no_id, "pred.json")
    with pytest.raises(HrtrackError, match="pred.json: no 'annolist'"):
        validate_posetrack17({"images": []}, "pred.json")


def test_missing_file(tmp_path):
    with pytest.raises(HrtrackError, match="file not found"):
        read_sequence(tmp_path / "nope.json")
