"""PoseTrack 2017 / 2018 / 21 files: round trips, the 15 <-> 17 joint table, validation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hrtrack.formats.posetrack import (
    PoseTrackFrame,
    PoseTrackSequence,
    PoseTrackWriter,
    parse_sequence,
    posetrack21_people,
    read_sequence,
    sequence_files,
    to_posetrack17,
    to_posetrack18,
    to_posetrack21,
    validate_posetrack17,
    write_posetrack17,
    write_posetrack18,
    write_posetrack21,
)
import hrtrack.formats.posetrack as posetrack_module
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


@pytest.mark.parametrize("seed", [0, 1])
def test_round_trip_2021_and_its_fields(tmp_path, seed):
    seq = random_sequence(np.random.default_rng(seed))
    seq.frames[0].person_ids[:] = 1000 + np.arange(len(seq.frames[0]))
    path = tmp_path / f"{seq.name}.json"
    write_posetrack21(seq, path)
    back = read_sequence(path)
    assert back.format == "posetrack21" and read_sequence(path, "posetrack18").format == "posetrack21"
    assert_same(seq, back, boxes=True)
    obj = json.loads(path.read_text())
    for fr, image, iid in zip(seq.frames, obj["images"], [10003420000 + t for t in range(len(seq.frames))]):
        assert image["id"] == image["frame_id"] == iid and image["vid_id"] == "000342"
        assert image["has_labeled_person"] == (len(fr) > 0) and image["nframes"] == len(seq.frames)
    # person_id: the frame's where it has one, else the track id
    for fr, back_fr in zip(seq.frames, back.frames):
        expected = np.where(fr.person_ids >= 0, fr.person_ids, fr.track_ids)
        np.testing.assert_array_equal(back_fr.person_ids, expected)
    # the same bytes streamed frame by frame
    streamed = tmp_path / "streamed.json"
    writer = PoseTrackWriter(streamed, "posetrack21", seq.name, seq.vid_id)
    for fr in seq.frames:
        writer.add(fr)
    writer.close()
    assert streamed.read_bytes() == path.read_bytes()


def test_the_command_line_lists_every_posetrack_format():
    from hrtrack.commands.track import POSETRACK_FORMATS
    from hrtrack.formats.posetrack import FORMATS

    assert POSETRACK_FORMATS == FORMATS


def test_2021_told_from_2018_by_its_own_fields():
    seq = random_sequence(np.random.default_rng(4))
    obj18, obj21 = to_posetrack18(seq), to_posetrack21(seq)
    assert parse_sequence(obj18, "a.json").format == "posetrack18"
    assert parse_sequence(obj18, "a.json", ambiguous_as="posetrack21").format == "posetrack21"
    assert parse_sequence(obj21, "a.json").format == "posetrack21"
    for ann in obj21["annotations"]:          # ground truth marks images, submissions mark people
        del ann["person_id"]
    assert parse_sequence(obj21, "a.json").format == "posetrack21"
    for image in obj21["images"]:
        del image["has_labeled_person"]
    assert parse_sequence(obj21, "a.json").format == "posetrack18"
    assert parse_sequence(to_posetrack17(seq), "a.json").format == "posetrack17"
    with pytest.raises(HrtrackError, match="ambiguous_as"):
        parse_sequence(obj18, "a.json", ambiguous_as="coco")


def test_2021_joint_rule_is_the_kits(tmp_path):
    # PoseTrack21's kit ignores the visibility flag: a joint counts only when x > 0 and y > 0
    kp = np.zeros((17, 3))
    kp[0] = (5, 7, 0)        # v = 0 with positive coordinates: present
    kp[1] = (0, 9, 1)        # x = 0: absent, coordinates kept (the kit's ignore-region rule reads them)
    kp[2] = (-4, 9, 2)       # x < 0: absent
    kp[5] = (8, -1, 1)       # y < 0: absent
    kp[6] = (0, 0, 0)        # absent
    kp[3] = (30, 40, 2)      # left ear: never evaluated
    obj = {"images": [{"id": 7, "file_name": "images/val/000010_a/000000.jpg", "is_labeled": True,
                       "has_labeled_person": True, "ignore_regions_x": [], "ignore_regions_y": []}],
           "annotations": [{"image_id": 7, "track_id": 12345, "person_id": 77, "keypoints": kp.ravel().tolist(),
                            "bbox_head": [10, 20, 5, 6]}]}
    fr = parse_sequence(obj, "s.json").frames[0]
    assert np.flatnonzero(fr.visible[0]).tolist() == [0]
    np.testing.assert_array_equal(fr.keypoints[0, [1, 2, 5]], [[0, 9], [-4, 9], [8, -1]])
    assert fr.track_ids.tolist() == [12345] and fr.person_ids.tolist() == [77]   # no 10000 cap in 21
    # the kit's view: present joints, and people kept unless an ignore region leaves them nothing
    present, kept = posetrack21_people(fr, file_coordinates=True)
    assert np.flatnonzero(present[0]).tolist() == [0] and kept.tolist() == [True]
    # a region holding (5, 7) strictly inside removes it; the person stays while some joint is outside
    # the region and not at x <= 0 AND y <= 0, as (0, 9), (-4, 9) and (8, -1) are
    around = [np.array([[0, 0], [20, 0], [20, 20], [0, 20]], np.float32)]
    present, kept = posetrack21_people(fr, around, file_coordinates=True)
    assert not present.any() and kept.tolist() == [True]
    fr.keypoints[0, [1, 2, 5]] = (-1, -1)
    present, kept = posetrack21_people(fr, around, file_coordinates=True)
    assert kept.tolist() == [False]
    # frames built in memory (or read from 2017/2018 files) hold coordinates for visible joints only
    present, kept = posetrack21_people(fr, around)
    assert kept.tolist() == [False]


def test_2021_writer_needs_track_ids(tmp_path):
    seq = random_sequence(np.random.default_rng(6))
    fr = next(f for f in seq.frames if len(f))
    fr.track_ids[0] = -1
    with pytest.raises(HrtrackError, match="a person has no track id, which a PoseTrack21 file needs"):
        write_posetrack21(seq, tmp_path / "x.json")
    fr.track_ids[0] = 123456        # beyond poseval's 10000: fine in a PoseTrack21 file, not in 2018
    write_posetrack21(seq, tmp_path / "x.json")
    with pytest.raises(HrtrackError, match="does not fit a PoseTrack file"):
        write_posetrack18(seq, tmp_path / "y.json")


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


def _same_people(a, b) -> None:
    for name in ("keypoints", "visible", "joint_scores", "track_ids", "scores", "head_boxes", "boxes", "person_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whole_file_readers_equal_person_by_person(seed):
    # The readers take a whole file in a few array passes and fall back, person by person, to find an error.
    rng = np.random.default_rng(seed)
    seq = random_sequence(rng, n_frames=8)
    obj = to_posetrack17(seq)
    rects = [r for f in obj["annolist"] for r in f["annorect"]]
    assert len(rects) > 6
    for r in rects[0::3]:
        r["score"] = r["score"][0]                    # a bare person score (poseval never reads it)
    for r in rects[1::3]:
        point = r["annopoints"][0]["point"]
        if point:
            point[0]["id"] = [float(point[0]["id"][0])]   # an integral float id
            del point[-1]["score"]                     # a joint without score
        for key in ("x1", "y1", "x2", "y2"):
            r.pop(key, None)                            # no head box
    for r in rects[2::3]:
        for key in ("x1", "y1", "x2", "y2"):
            if key in r:
                r[key] = r[key][0]                      # bare head box values
    fast = posetrack_module._people17_fast(rects)
    assert fast is not None
    _same_people(fast, posetrack_module._people17_checked(obj["annolist"], "s.json"))
    for write, pt21 in ((to_posetrack18, False), (to_posetrack21, True)):
        obj = write(seq)
        anns = obj["annotations"]
        for ann in anns[::2]:
            ann.pop("scores", None)
            ann["bbox"] = None                          # a null box is no box
        slots = posetrack_module._keypoint_slots(obj, "s.json", pt21)
        fast = posetrack_module._people18_fast(anns, slots, pt21)
        assert fast is not None
        slow = posetrack_module._People(len(anns))
        for row, ann in enumerate(anns):
            posetrack_module._parse18_person(ann, slots, slow, row, "s.json", f"annotations[{row}]", pt21)
        _same_people(fast, slow)


@pytest.mark.parametrize("value", [2**63 - 1, 2**53 + 1])
def test_whole_file_reader_leaves_large_integers_to_the_checked_path(value):
    # float64 cannot hold every integer above 2**53: such values are read person by person, exactly
    obj = {"images": [{"id": 1}], "annotations": [{"image_id": 1, "track_id": value, "person_id": value,
                                                    "keypoints": [1.0] * 51}]}
    fr = parse_sequence(obj, "s.json", ambiguous_as="posetrack21").frames[0]
    assert fr.track_ids.tolist() == [value] and fr.person_ids.tolist() == [value]
    obj17 = {"annolist": [{"annorect": [{"track_id": [1], "annopoints": [{"point": [
        {"id": [0], "x": [2**63], "y": [1]}]}]}]}]}
    with pytest.raises(HrtrackError, match=r"point\[0\].x must be a finite number"):
        parse_sequence(obj17, "s.json")


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
    ("two-element head box", _frame17([_person17(x1=[0, 1])]), "annolist[0].annorect[0].x1 must be a one-element"),
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
    ("2021 no track id", {"images": [{"id": 1}], "annotations": [{"image_id": 1, "person_id": 4,
                                                                  "keypoints": [1] * 51}]},
     "annotations[0] has no 'track_id' (PoseTrack21 needs one on every person)"),
    ("2021 negative track id", {"images": [{"id": 1}], "annotations": [
        {"image_id": 1, "person_id": 4, "track_id": -2, "keypoints": [1] * 51}]}, "annotations[0].track_id = -2"),
    ("2021 bad person id", {"images": [{"id": 1}], "annotations": [
        {"image_id": 1, "person_id": "x", "track_id": 2, "keypoints": [1] * 51}]}, "annotations[0].person_id"),
    ("2021 flag", {"images": [{"id": 1, "has_labeled_person": True, "is_labeled": "yes"}]}, "images[0].is_labeled"),
    ("2021 keypoint order", {"images": [{"id": 1, "has_labeled_person": False}], "categories": [
        {"name": "person", "keypoints": ["head_bottom", "nose", *POSETRACK.joint_names[2:]]}]},
     "categories[0].keypoints must be the 17 PoseTrack keypoints in their standard order"),
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
