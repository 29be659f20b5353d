"""Frame sources and result sinks of the pipeline."""

from __future__ import annotations

import json
import warnings

import cv2
import numpy as np
import pytest

from hrtrack.errors import HrtrackError
from hrtrack.fileio import resolve_under
from hrtrack.pipeline.sinks import CocoResultsSink, PoseTrackSink, to_posetrack_frame
from hrtrack.pipeline.sources import Frame, open_source
from hrtrack.commands.track import parse_shard
from hrtrack.formats.posetrack import read_sequence
from hrtrack.skeleton import COCO, POSETRACK
from hrtrack.structures import Poses


def _write_video(path, frames, fps=10.0):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()


def _frames(n, w=64, h=48):
    return [np.full((h, w, 3), 10 * i, np.uint8) for i in range(n)]


def test_video_source_streams_every_frame(tmp_path):
    _write_video(tmp_path / "v.mp4", _frames(7))
    src = open_source(str(tmp_path / "v.mp4"))
    got = list(src)
    assert len(src) == 7 and [f.index for f in got] == list(range(7))
    assert got[0].image.shape == (48, 64, 3) and abs(src.fps - 10.0) < 1e-6


def test_folder_is_read_in_natural_order(tmp_path):
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), np.full((8, 8, 3), i, np.uint8))
    names = [f.name for f in open_source(str(tmp_path))]
    assert [n.rsplit("/", 1)[1] for n in names] == ["frame1.png", "frame2.png", "frame10.png"]
    assert len(list(open_source(str(tmp_path / "frame*.png")))) == 3


def test_bad_inputs_raise_one_line_errors(tmp_path):
    with pytest.raises(HrtrackError, match="input not found"):
        open_source(str(tmp_path / "missing.mp4"))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(HrtrackError, match="empty file"):
        open_source(str(tmp_path / "empty.mp4"))
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all" * 100)
    with pytest.raises(HrtrackError, match="cannot open video|no frames"):
        list(open_source(str(tmp_path / "junk.mp4")))
    (tmp_path / "none").mkdir()
    with pytest.raises(HrtrackError, match="no images"):
        open_source(str(tmp_path / "none"))


def test_frame_size_change_midway_is_an_error(tmp_path):
    cv2.imwrite(str(tmp_path / "a1.png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "a2.png"), np.zeros((9, 8, 3), np.uint8))
    with pytest.raises(HrtrackError, match="frame 1 .* is 8x9 but earlier frames are 8x8"):
        list(open_source(str(tmp_path)))


def test_unreadable_image_stops_or_is_skipped(tmp_path):
    cv2.imwrite(str(tmp_path / "f1.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "f2.png").write_bytes(b"garbage")
    cv2.imwrite(str(tmp_path / "f3.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(HrtrackError, match="cannot read image .*f2.png"):
        list(open_source(str(tmp_path)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = list(open_source(str(tmp_path), on_bad_image="skip"))
    assert [f.index for f in got] == [0, 2] and "f2.png" in str(caught[0].message)


def _poses():
    kp = np.arange(2 * 17 * 2, dtype=np.float32).reshape(2, 17, 2)
    ks = np.full((2, 17), 0.9, np.float32)
    ks[1, :] = 0.1
    ks[1, 5] = 0.8
    return Poses(kp, ks, np.array([0.9, 0.5]), np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), np.array([3, 8]))


def test_coco_layout_to_posetrack_frame_maps_by_name():
    fr = to_posetrack_frame(_poses(), COCO, "images/x/000000.jpg", joint_threshold=0.4)
    # COCO eyes are not head_bottom/head_top: those slots stay empty.
    assert not fr.visible[:, 1:3].any()
    # 17 COCO joints minus the eyes (no PoseTrack slot): 15 written; ear slots keep COCO ears.
    assert fr.visible[0].sum() == 15
    assert fr.visible[1].tolist() == [j == 5 for j in range(17)]
    np.testing.assert_array_equal(fr.keypoints[0, 5], _poses().keypoints[0, COCO.index("left_shoulder")])
    assert fr.track_ids.tolist() == [3, 8]


def test_posetrack_sink_writes_atomically_and_rereads(tmp_path):
    path = tmp_path / "seq.json"
    path.write_text("previous")
    sink = PoseTrackSink(path, "posetrack17", POSETRACK, 0.4)
    sink.add(Frame(0, "images/s/000000.jpg", np.zeros((4, 4, 3), np.uint8)), _poses())
    sink.abort()
    assert path.read_text() == "previous"
    sink = PoseTrackSink(path, "posetrack17", POSETRACK, 0.4)
    sink.add(Frame(0, "images/s/000000.jpg", np.zeros((4, 4, 3), np.uint8)), _poses())
    sink.add(Frame(1, "images/s/000001.jpg", np.zeros((4, 4, 3), np.uint8)), Poses.empty(17))
    sink.close()
    seq = read_sequence(path)
    assert len(seq.frames) == 2 and len(seq.frames[1]) == 0
    assert seq.frames[0].track_ids.tolist() == [3, 8] and seq.frames[0].visible[1].sum() == 1


def test_coco_sink_streams_a_valid_json_list(tmp_path):
    sink = CocoResultsSink(tmp_path / "r.json", 0.4)
    for i in range(3):
        sink.add(Frame(i, str(i), np.zeros((4, 4, 3), np.uint8)), _poses())
    sink.close()
    items = json.loads((tmp_path / "r.json").read_text())
    assert len(items) == 6 and items[1]["keypoints"][2] == 0.0 and items[1]["keypoints"][5 * 3 + 2] == 0.8
    assert {it["track_id"] for it in items} == {3, 8}
    assert not list(tmp_path.glob(".*tmp*"))


def test_sink_output_folder_must_exist(tmp_path):
    with pytest.raises(HrtrackError, match="output folder does not exist"):
        PoseTrackSink(tmp_path / "no" / "x.json", "posetrack17", POSETRACK, 0.4)


def test_image_paths_may_not_escape_root(tmp_path):
    assert resolve_under(tmp_path, "images/a.jpg", "gt.json") == (tmp_path / "images/a.jpg").resolve()
    with pytest.raises(HrtrackError, match="escapes the images root"):
        resolve_under(tmp_path, "../../etc/passwd", "gt.json")


def test_parse_shard(monkeypatch):
    assert parse_shard("1/4") == (1, 4)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert parse_shard(None) == (1, 2)
    for bad in ("4/4", "x", "1/0"):
        with pytest.raises(HrtrackError):
            parse_shard(bad)
