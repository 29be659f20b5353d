"""The synthetic test bed: body geometry, visibility against occlusion geometry, the dataset files."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from hrtrack.cli import main
from hrtrack.formats.coco import load_coco, read_coco_keypoints, write_coco_keypoints
from hrtrack.formats.detections import read_coco_detections, write_coco_detections
from hrtrack.formats.mpii import read_mpii_json, write_mpii_json
from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence, posetrack21_people, read_sequence, \
    sequence_files, validate_posetrack17, write_posetrack17, write_posetrack18, write_posetrack21
from hrtrack.geometry import PIXEL_STD
from hrtrack.skeleton import COCO, MPII, POSETRACK
from hrtrack.synthetic import SPLIT_BASE, SyntheticFrame, SyntheticVideo, generate_dataset, labeled_frames, \
    sample_script, simulate_detections
from hrtrack.synthetic.dataset import PERSON_ID_STRIDE, posetrack21_ground_truth
from hrtrack.synthetic.body import (POINT_NAMES, SYNTH_JOINT_NAMES, WALK, body_points, cycle_angles, project,
                                    sample_bodies, self_visible)
from hrtrack.synthetic.motion import Motion
from hrtrack.synthetic.scene import Camera, Effects, SceneObject

J = {name: i for i, name in enumerate(POINT_NAMES)}
QUIET = Effects(noise_sigma=0.0, blur_gain=0.0, light_amplitude=0.0, light_period=100.0, light_phase=0.0)


# ---------------------------------------------------------------- body geometry

def _pose(yaw: float, n: int = 1):
    bodies = sample_bodies(np.random.default_rng(0), n)
    angles = cycle_angles(np.full(n, WALK), np.zeros(n), np.ones(n), np.zeros(n, bool))
    points = body_points(bodies, angles)
    xy, depth = project(points, np.full(n, yaw))
    return bodies, xy[0], depth[0]


def test_left_is_image_right_when_facing_the_camera():
    _, xy, depth = _pose(0.0)
    for part in ("shoulder", "hip", "eye", "ear", "elbow"):
        assert xy[J[f"left_{part}"], 0] > xy[J[f"right_{part}"], 0], part
    _, xy, _ = _pose(np.pi)  # back view: mirrored
    for part in ("shoulder", "hip", "ear"):
        assert xy[J[f"left_{part}"], 0] < xy[J[f"right_{part}"], 0], part
    _, xy, depth = _pose(np.pi / 2)  # facing image right: the left side is the far side
    assert depth[J["left_shoulder"]] > depth[J["right_shoulder"]]
    assert xy[J["nose"], 0] > xy[J["head_center"], 0]


@pytest.mark.parametrize("yaw, eyes, nose", [(0.0, 2, True), (np.pi / 2, 1, True), (-np.pi / 2, 1, True),
                                             (np.pi, 0, False), (2.6, 0, False)])
def test_face_points_are_labelled_only_when_turned_to_the_camera(yaw, eyes, nose):
    bodies, _, depth = _pose(yaw)
    seen = self_visible(depth[None], np.array([yaw]), bodies)[0]
    assert int(seen[J["left_eye"]]) + int(seen[J["right_eye"]]) == eyes
    assert seen[J["nose"]] == nose
    body = [J[n] for n in SYNTH_JOINT_NAMES if "eye" not in n and "ear" not in n and n != "nose"]
    assert seen[body].all()  # self-occluded body joints stay labelled


def test_mpii_extra_joints_are_midpoints():
    _, xy, _ = _pose(0.7)
    np.testing.assert_allclose(xy[J["pelvis"]], (xy[J["left_hip"]] + xy[J["right_hip"]]) / 2, atol=1e-9)
    np.testing.assert_allclose(xy[J["thorax"]], (xy[J["left_shoulder"]] + xy[J["right_shoulder"]]) / 2, atol=1e-9)


def test_layouts_pick_the_right_joints():
    rng = np.random.default_rng(3)
    n = 2
    joints = rng.uniform(0, 100, (n, len(SYNTH_JOINT_NAMES), 2)).astype(np.float32)
    labeled = np.ones((n, len(SYNTH_JOINT_NAMES)), bool)
    truth = SyntheticFrame(0, "x.jpg", 1, True, np.arange(n), joints, labeled, np.zeros((n, 4), np.float32),
                           np.zeros(n, np.float32), np.zeros((n, 4), np.float32), ())
    for layout in (COCO, POSETRACK, MPII):
        kp, vis = truth.keypoints(layout.name)
        for k, name in enumerate(layout.joint_names):
            source = {"upper_neck": "head_bottom"}.get(name, name)
            np.testing.assert_array_equal(kp[:, k], joints[:, SYNTH_JOINT_NAMES.index(source)])
            assert vis[:, k].all() == (not (layout is POSETRACK and name.endswith("_ear")))


def test_labelled_frames_schedule():
    expected = np.zeros(60, bool)
    expected[15:45] = True
    expected[::4] = True
    np.testing.assert_array_equal(labeled_frames(60), expected)
    np.testing.assert_array_equal(np.flatnonzero(labeled_frames(12)), [0, 3, 4, 5, 6, 7, 8])
    assert labeled_frames(1).tolist() == [True]


# ---------------------------------------------------------------- visibility vs occlusion geometry

def _scene(people: list[tuple[float, float, float]], objects: tuple = (), size=(320, 240)) -> SyntheticVideo:
    """A one-frame clip: people (canvas x, depth scale, yaw) standing, a still camera, no noise."""
    n = len(people)
    base = sample_script(np.random.default_rng(7), size, 1, (n, n))
    x, scale, yaw = (np.array(v, np.float64)[:, None] for v in zip(*people))
    motion = Motion(action=np.full(n, WALK), amplitude=np.ones(n), wave_left=np.zeros(n, bool),
                    x=x, scale=scale, yaw=yaw, phase=np.full((n, 1), 0.6))
    camera = Camera(cx=np.array([base.layout.width / 2]), cy=np.array([base.layout.height / 2]),
                    zoom=np.ones(1), frame_size=size)
    script = replace(base, motion=motion, camera=camera, objects=objects, crowds=(), effects=QUIET)
    return SyntheticVideo.from_script(script)


def _canvas_to_frame(video: SyntheticVideo) -> np.ndarray:
    return -video.script.camera.matrix(0)[:, 2]  # canvas = frame + this offset (zoom 1)


def test_joints_behind_an_object_are_unlabelled_and_in_front_labelled():
    probe = _scene([(0.0, 0.6, 0.3)])
    layout = probe.script.layout
    cx = layout.width / 2
    ground = float(layout.ground_y(0.8))
    # A wall from the canvas top to its ground line, covering the person's right half in the image.
    rect = np.array([[cx, 0], [cx + 200, 0], [cx + 200, ground], [cx, ground]], np.float64)
    wall = SceneObject(0.8, (rect,), ((90.0, 90.0, 90.0),))
    off = _canvas_to_frame(probe)
    x0, x1 = cx - off[0], cx + 200 - off[0]
    y1 = ground - off[1]

    _, behind = _scene([(cx, 0.6, 0.3)], (wall,)).render(0)
    assert len(behind) == 1
    j = behind.joints[0]
    inside = (j[:, 0] > x0 + 1.5) & (j[:, 0] < x1 - 1.5) & (j[:, 1] < y1 - 1.5)
    outside = (j[:, 0] < x0 - 1.5) | (j[:, 0] > x1 + 1.5) | (j[:, 1] > y1 + 1.5)
    assert inside.sum() >= 3 and outside.sum() >= 3
    assert not behind.labeled[0, inside].any()
    bodies = probe.script.bodies
    angles = cycle_angles(np.full(1, WALK), np.full(1, 0.6), np.ones(1), np.zeros(1, bool))
    _, depth = project(body_points(bodies, angles), np.array([0.3]))
    faces_camera = self_visible(depth, np.array([0.3]), bodies)[0, :len(SYNTH_JOINT_NAMES)]
    np.testing.assert_array_equal(behind.labeled[0, outside], faces_camera[outside])

    _, front = _scene([(cx, 0.95, 0.3)], (wall,)).render(0)  # nearer than the wall: nothing hidden
    j = front.joints[0]
    in_frame = (j[:, 0] >= 0) & (j[:, 0] <= 319) & (j[:, 1] >= 0) & (j[:, 1] <= 239)
    np.testing.assert_array_equal(front.labeled[0], in_frame & faces_camera)


def test_joints_covered_by_a_nearer_person_are_unlabelled():
    probe = _scene([(0.0, 0.9, 0.0), (0.0, 0.55, 0.0)])
    cx = probe.script.layout.width / 2
    people = [(cx + 6, 0.9, 0.3), (cx - 15, 0.55, -0.4)]  # person 0 stands in front of person 1
    video = _scene(people)
    frame, truth = video.render(0)
    # The near person's silhouette, found independently: render it alone and diff with the empty scene.
    alone, _ = _scene([people[0], (-5000.0, 0.55, 0.0)]).render(0)
    empty, _ = _scene([(-5000.0, 0.9, 0.0), (-5000.0, 0.55, 0.0)]).render(0)
    near = (np.abs(alone.astype(int) - empty.astype(int)).sum(axis=2) > 0).astype(np.uint8)
    covered = cv2.erode(near, np.ones((5, 5), np.uint8)).astype(bool)
    clear = ~cv2.dilate(near, np.ones((5, 5), np.uint8)).astype(bool)

    assert truth.track_ids.tolist() == [0, 1]
    far = truth.joints[1]
    px = np.clip(np.rint(far).astype(int), 0, [319, 239])
    in_frame = (far[:, 0] >= 0) & (far[:, 0] <= 319) & (far[:, 1] >= 0) & (far[:, 1] <= 239)
    hidden = in_frame & covered[px[:, 1], px[:, 0]]
    free = in_frame & clear[px[:, 1], px[:, 0]]
    assert hidden.sum() >= 3 and free.sum() >= 3
    assert not truth.labeled[1, hidden].any()
    body = np.array(["eye" not in n and "ear" not in n and n != "nose" for n in SYNTH_JOINT_NAMES])
    assert truth.labeled[1, free & body].all()
    # The near person is covered by nobody.
    near_joints = truth.joints[0]
    near_in = (near_joints[:, 0] >= 0) & (near_joints[:, 0] <= 319) & (near_joints[:, 1] <= 239)
    assert truth.labeled[0, near_in & body].all()
    # Every labelled joint lies on its person's visible silhouette, inside the person box.
    for p in range(2):
        lab = truth.joints[p][truth.labeled[p]]
        b = truth.boxes[p]
        assert ((lab >= b[:2] - 1) & (lab <= b[2:] + 1)).all()


def test_joints_out_of_frame_are_unlabelled():
    probe = _scene([(0.0, 0.8, 0.0)])
    off = _canvas_to_frame(probe)
    _, truth = _scene([(off[0] + 5.0, 0.8, 0.0)]).render(0)  # standing on the left edge
    j = truth.joints[0]
    out = j[:, 0] < 0
    assert out.sum() >= 2 and (~out).sum() >= 2
    assert not truth.labeled[0, out].any()
    assert truth.boxes[0, 0] == 0  # the box is the visible part


def test_labelled_joints_are_drawn_on_the_figure(synthetic_clip):
    frames_with_people = 0
    for frame, truth in synthetic_clip:
        assert frame.shape == (216, 384, 3) and frame.dtype == np.uint8
        assert truth.joints.dtype == np.float32 and truth.labeled.shape == truth.joints.shape[:2]
        frames_with_people += len(truth) > 0
        for p in range(len(truth)):
            assert truth.labeled[p, [0, 5, 6, 11, 12, 13, 14, 15, 16, 17, 18]].any()
    assert frames_with_people >= 10


def test_track_ids_are_stable(synthetic_clip):
    """An id names one person: its pelvis moves little from frame to frame."""
    pelvis = SYNTH_JOINT_NAMES.index("pelvis")
    for (_, a), (_, b) in zip(synthetic_clip, synthetic_clip[1:]):
        common = np.intersect1d(a.track_ids, b.track_ids)
        for tid in common:
            pa = a.joints[a.track_ids == tid][0, pelvis]
            pb = b.joints[b.track_ids == tid][0, pelvis]
            assert np.linalg.norm(pa - pb) < 25
    ids = np.concatenate([t.track_ids for _, t in synthetic_clip])
    assert set(ids.tolist()) <= {0, 1, 2}


def test_render_is_random_access_and_deterministic(synthetic_clip):
    video = SyntheticVideo(seed=1, number=SPLIT_BASE["val"], split="val", size=(384, 216), frames=12, people=(3, 3))
    frame, truth = video.render(7)
    np.testing.assert_array_equal(frame, synthetic_clip[7][0])
    np.testing.assert_array_equal(truth.joints, synthetic_clip[7][1].joints)
    other, _ = SyntheticVideo(seed=2, number=SPLIT_BASE["val"], split="val", size=(384, 216), frames=12).render(7)
    assert np.abs(other.astype(int) - frame.astype(int)).mean() > 5
    with pytest.raises(IndexError):
        video.render(12)


# ---------------------------------------------------------------- simulated detections

def _truth_with_boxes(boxes: np.ndarray) -> SyntheticFrame:
    n = len(boxes)
    return SyntheticFrame(0, "images/val/x/000000.jpg", 7, True, np.arange(n),
                          np.zeros((n, len(SYNTH_JOINT_NAMES), 2), np.float32),
                          np.ones((n, len(SYNTH_JOINT_NAMES)), bool), boxes.astype(np.float32),
                          np.ones(n, np.float32), np.zeros((n, 4), np.float32), ())


def test_detections_without_noise_are_the_true_boxes():
    boxes = np.array([[10, 20, 60, 150], [100, 30, 180, 200], [200, 50, 230, 120]], np.float32)
    det = simulate_detections(_truth_with_boxes(boxes), (320, 240), np.random.default_rng(0),
                              miss=0.0, jitter=0.0, false_positives=0.0)
    order = np.lexsort(det.boxes.T[::-1])
    np.testing.assert_array_equal(det.boxes[order], boxes)
    assert (np.diff(det.scores) <= 0).all() and ((det.scores > 0) & (det.scores < 1)).all()
    none = simulate_detections(_truth_with_boxes(boxes), (320, 240), np.random.default_rng(0),
                               miss=1.0, jitter=0.0, false_positives=0.0)
    assert len(none) == 0


def test_detection_miss_jitter_and_false_positive_rates():
    rng = np.random.default_rng(4)
    boxes = np.array([[100, 50, 160, 230]], np.float32)
    truth = _truth_with_boxes(boxes)
    kept, errors, fps = 0, [], []
    trials = 3000
    for _ in range(trials):
        det = simulate_detections(truth, (640, 360), rng, miss=0.3, jitter=0.05, false_positives=0.5)
        iou_hit = _iou(det.boxes, boxes[0]) > 0.5
        kept += int(iou_hit.any())
        if iou_hit.any():
            errors.append(det.boxes[np.argmax(iou_hit)] - boxes[0])
        fps.append(int((~iou_hit).sum()))
    assert abs(kept / trials - 0.7) < 0.03
    err = np.array(errors) / np.array([60, 180, 60, 180])
    np.testing.assert_allclose(err.std(axis=0), 0.05, atol=0.006)
    assert abs(np.mean(fps) - 0.5) < 0.06


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    lt = np.maximum(boxes[:, :2], box[:2])
    rb = np.minimum(boxes[:, 2:], box[2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1) + np.prod(box[2:] - box[:2])
    return inter / (area - inter)


# ---------------------------------------------------------------- the dataset on disk

def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    opts = dict(videos=1, frames=6, size=(160, 96), people=(1, 3), splits=("val",), progress=False)
    generate_dataset(tmp_path / "a", seed=5, **opts)
    generate_dataset(tmp_path / "b", seed=5, **opts)
    generate_dataset(tmp_path / "c", seed=6, **opts)
    a, b, c = (_files(tmp_path / k) for k in "abc")
    assert a == b
    assert a.keys() == c.keys()
    differ = [k for k in a if a[k] != c[k]]
    assert "annotations/coco/person_keypoints_val.json" in differ and "images/val/010000_synth_val/000003.jpg" in differ


def test_layout_of_the_dataset(synthetic_dataset):
    root, o = synthetic_dataset.root, synthetic_dataset.options
    for split in o["splits"]:
        names = [f"{SPLIT_BASE[split] + v:06d}_synth_{split}" for v in range(o["videos"])]
        for name in names:
            assert len(list((root / "images" / split / name).glob("*.jpg"))) == o["frames"]
            assert (root / "videos" / split / f"{name}.mp4").is_file()
        for version in ("posetrack17", "posetrack18", "posetrack21"):
            assert sorted(sequence_files(root / "annotations" / version / split)) == names
        # the PoseTrack21 kit reads every file of its ground-truth folder as a sequence
        assert sorted(p.name for p in (root / "annotations" / "posetrack21" / split).iterdir()) == \
            [f"{n}.json" for n in names]
        for path in (f"annotations/coco/person_keypoints_{split}.json", f"annotations/mpii/{split}.json",
                     f"detections/{split}.json"):
            assert (root / path).is_file()
    assert not list(root.rglob(".*"))  # no temporary files left
    assert json.loads((root / "synthetic.json").read_text())["seed"] == o["seed"]


def test_posetrack_files_match_the_clip_and_pass_the_validator(synthetic_dataset, tmp_path):
    root = synthetic_dataset.root
    for v in range(2):
        video = synthetic_dataset.video("val", v)
        truths = [truth for _, truth in video]
        p17 = root / "annotations" / "posetrack17" / "val" / f"{video.name}.json"
        p18 = root / "annotations" / "posetrack18" / "val" / f"{video.name}.json"
        validate_posetrack17(json.loads(p17.read_text()), str(p17), prediction=False)
        s17, s18 = read_sequence(p17), read_sequence(p18)
        assert s17.vid_id == s18.vid_id == video.vid_id
        labeled_people = 0
        for t, (f17, f18, truth) in enumerate(zip(s17.frames, s18.frames, truths)):
            assert f18.image == f17.image == f"images/val/{video.name}/{t:06d}.jpg"
            assert f18.image_id == 10_000_000_000 + video.number * 10000 + t
            assert f17.is_labeled == f18.is_labeled == truth.is_labeled
            if not truth.is_labeled:
                assert len(f17) == len(f18) == 0
                continue
            gt = truth.posetrack()
            labeled_people += len(gt)
            for f, boxes in ((f17, False), (f18, True)):
                np.testing.assert_array_equal(f.track_ids, gt.track_ids)
                np.testing.assert_array_equal(f.visible, gt.visible)
                np.testing.assert_array_equal(f.keypoints[f.visible], gt.keypoints[gt.visible])
                np.testing.assert_array_equal(f.head_boxes, gt.head_boxes)
                if boxes:
                    np.testing.assert_array_equal(f.boxes, gt.boxes)
            assert len(f17.ignore_regions) == len(truth.ignore_regions)
        assert labeled_people > 0
        # Re-writing what was read gives the same bytes.
        write_posetrack17(s17, tmp_path / "17.json")
        write_posetrack18(s18, tmp_path / "18.json")
        assert (tmp_path / "17.json").read_bytes() == p17.read_bytes()
        assert (tmp_path / "18.json").read_bytes() == p18.read_bytes()
        # synth -> 2017 -> read -> 2018 -> read: the same joints, ids and head boxes.
        write_posetrack18(s17, tmp_path / "chain.json")
        for a, b in zip(read_sequence(tmp_path / "chain.json").frames, s18.frames):
            np.testing.assert_array_equal(a.visible, b.visible)
            np.testing.assert_array_equal(a.keypoints[a.visible], b.keypoints[b.visible])
            np.testing.assert_array_equal(a.track_ids, b.track_ids)
            np.testing.assert_array_equal(a.head_boxes, b.head_boxes)


def test_posetrack21_ground_truth_is_the_2018_one_as_the_kit_accepts_it(synthetic_dataset, tmp_path):
    root = synthetic_dataset.root
    for split in synthetic_dataset.options["splits"]:
        for v in range(synthetic_dataset.options["videos"]):
            video = synthetic_dataset.video(split, v)
            p21 = root / "annotations" / "posetrack21" / split / f"{video.name}.json"
            s18 = read_sequence(root / "annotations" / "posetrack18" / split / f"{video.name}.json")
            s21 = read_sequence(p21)
            assert s21.format == "posetrack21" and s21.vid_id == s18.vid_id
            assert "scores" not in p21.read_text()   # a prediction field
            for f18, f21 in zip(s18.frames, s21.frames, strict=True):
                assert (f21.image, f21.image_id) == (f18.image, f18.image_id)
                np.testing.assert_array_equal(f21.track_ids, f18.track_ids)
                np.testing.assert_array_equal(f21.person_ids, video.number * PERSON_ID_STRIDE + f18.track_ids)
                np.testing.assert_array_equal(f21.visible, f18.visible)   # every labelled joint at x, y > 0
                np.testing.assert_array_equal(f21.keypoints[f21.visible], f18.keypoints[f18.visible])
                np.testing.assert_array_equal(f21.head_boxes, f18.head_boxes)
                assert np.isfinite(f21.head_boxes).all()   # the kit reads bbox_head of every person
                present, kept = posetrack21_people(f21, file_coordinates=True)
                # labelled exactly where the 2018 file is and someone keeps a joint the kit reads
                assert f21.is_labeled == (f18.is_labeled and bool(present[kept].any()))
            write_posetrack21(s21, tmp_path / "again.json")
            assert (tmp_path / "again.json").read_bytes() == p21.read_bytes()


def test_posetrack21_labels_only_frames_with_someone_left_by_hand():
    head = np.array([[0, 0, 10, 10]], np.float32)
    region = [np.array([[0, 0], [100, 0], [100, 100], [0, 100]], np.float32)]

    def person(x: float) -> dict:
        vis = np.zeros((1, 17), bool)
        vis[0, 0] = True
        return dict(keypoints=np.full((1, 17, 2), x, np.float32), visible=vis, joint_scores=np.ones((1, 17)),
                    track_ids=[3], scores=[1.0], head_boxes=head, boxes=head)

    frames = [PoseTrackFrame("a.jpg", True, **person(50)),                 # nobody outside the region
              PoseTrackFrame("b.jpg", True, **person(150)),                # the nose outside: labelled
              PoseTrackFrame("c.jpg", False, **person(150)),               # not labelled in the first place
              PoseTrackFrame.empty("d.jpg", True)]                         # labelled but nobody
    frames[0].ignore_regions = frames[1].ignore_regions = region
    out = posetrack21_ground_truth(PoseTrackSequence("000007_x", frames, "000007"), 7)
    assert [f.is_labeled for f in out.frames] == [False, True, False, False]
    assert out.frames[1].person_ids.tolist() == [7 * PERSON_ID_STRIDE + 3]
    assert np.isnan(out.frames[1].joint_scores).all()


def test_frames_and_video_decode(synthetic_dataset):
    video = synthetic_dataset.video("train", 1)
    folder = synthetic_dataset.root / video.image_dir
    cap = cv2.VideoCapture(str(synthetic_dataset.root / "videos" / "train" / f"{video.name}.mp4"))
    decoded = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        decoded.append(img)
    cap.release()
    assert len(decoded) == synthetic_dataset.options["frames"]
    for t in (0, 9):
        rendered, _ = video.render(t)
        jpeg = cv2.imread(str(folder / f"{t:06d}.jpg"))
        assert jpeg.shape == rendered.shape == decoded[t].shape
        # Compression loses the sensor noise, not the picture: compare smoothed images.
        smooth = cv2.GaussianBlur(rendered, (5, 5), 0).astype(int)
        assert np.abs(cv2.GaussianBlur(jpeg, (5, 5), 0) - smooth).mean() < 2
        # mp4v is lossier: the decoded frame t must at least be nearer frame t than frame t + 3.
        later = cv2.GaussianBlur(video.render(t + 3)[0], (5, 5), 0).astype(int)
        video_frame = cv2.GaussianBlur(decoded[t], (5, 5), 0)
        assert np.abs(video_frame - smooth).mean() < np.abs(video_frame - later).mean()


def test_coco_file_scores_ap_one_against_itself(synthetic_dataset, tmp_path):
    path = synthetic_dataset.root / "annotations" / "coco" / "person_keypoints_val.json"
    coco = load_coco(path)
    anns = coco.dataset["annotations"]
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
               for a in anns if a["num_keypoints"] > 0 and not a["iscrowd"]]
    assert len(results) > 20
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0) and ev.stats[5] == pytest.approx(1.0)
    # Drop a third of the results: AP must fall, so the check above can fail.
    with contextlib.redirect_stdout(io.StringIO()):
        ev2 = COCOeval(coco, coco.loadRes(results[::3]), "keypoints")
        ev2.evaluate()
        ev2.accumulate()
        ev2.summarize()
    assert ev2.stats[0] < 0.9

    images = read_coco_keypoints(path)
    write_coco_keypoints(images, tmp_path / "coco.json")
    assert (tmp_path / "coco.json").read_bytes() == path.read_bytes()
    # The labelled frames of the clips, with the clips' COCO joints.
    video = synthetic_dataset.video("val", 0)
    by_id = {img.id: img for img in images}
    for _, truth in video:
        assert (truth.image_id in by_id) == truth.is_labeled
        if truth.is_labeled:
            img = by_id[truth.image_id]
            assert img.file_name == truth.image.removeprefix("images/")
            people = ~img.iscrowd
            kp, vis = truth.keypoints("coco")
            np.testing.assert_array_equal(img.visibility[people], vis * 2)
            np.testing.assert_array_equal(img.keypoints[people][vis], kp[vis])
            np.testing.assert_array_equal(img.boxes[people], truth.boxes)
            assert img.iscrowd.sum() == len(truth.ignore_regions)


def test_mpii_file_matches_the_clips(synthetic_dataset, tmp_path):
    path = synthetic_dataset.root / "annotations" / "mpii" / "train.json"
    ann = read_mpii_json(path)
    write_mpii_json(ann, tmp_path / "mpii.json")
    assert (tmp_path / "mpii.json").read_bytes() == path.read_bytes()
    rows = 0
    for v in range(2):
        for _, truth in synthetic_dataset.video("train", v):
            if not truth.is_labeled:
                continue
            kp, vis = truth.keypoints("mpii")
            for p in range(len(truth)):
                assert ann.images[rows] == truth.image.removeprefix("images/")
                np.testing.assert_array_equal(ann.joints_vis[rows], vis[p])
                np.testing.assert_allclose(ann.joints[rows][vis[p]], kp[p][vis[p]], atol=1e-4)
                b = truth.boxes[p]
                np.testing.assert_allclose(ann.centers[rows], (b[:2] + b[2:]) / 2, atol=1e-4)
                assert ann.scales[rows] == pytest.approx((b[3] - b[1]) / PIXEL_STD, rel=1e-5)
                np.testing.assert_allclose(ann.head_boxes[rows], truth.head_boxes[p], atol=1e-4)
                rows += 1
    assert rows == len(ann) > 0


def test_detection_file_covers_every_frame(synthetic_dataset, tmp_path):
    path = synthetic_dataset.root / "detections" / "val.json"
    dets = read_coco_detections(path)
    by_id, by_file = dets.by_image_id, dets.by_file_name
    video = synthetic_dataset.video("val", 1)
    matched = 0
    for t, (_, truth) in enumerate(video):
        dets = by_file.get(video.image_path(t))
        if len(truth) and dets is not None:
            np.testing.assert_array_equal(dets.boxes, by_id[truth.image_id].boxes)
            matched += 1
    assert matched >= 10
    records = json.loads(path.read_text())
    assert {r["category_id"] for r in records} == {1}
    ids = sorted(by_id)
    write_coco_detections(tmp_path / "d.json", ids, [by_id[i] for i in ids])
    again = read_coco_detections(tmp_path / "d.json")
    for i in ids:
        np.testing.assert_array_equal(again(image_id=i).boxes, by_id[i].boxes)
        np.testing.assert_array_equal(again(image_id=i).scores, by_id[i].scores)


# ---------------------------------------------------------------- the command

@pytest.mark.slow  # building the CLI parser imports every command, torch included (~3-5 s alone)
def test_synth_command(tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(["synth", "--out", str(out), "--videos", "1", "--frames", "3", "--size", "128x96",
               "--splits", "val", "--no-progress", "--det-miss", "0.5"])
    assert rc == 0
    assert (out / "annotations" / "posetrack18" / "val" / "010000_synth_val.json").is_file()
    assert (out / "annotations" / "posetrack21" / "val" / "010000_synth_val.json").is_file()
    assert "010000_synth_val" in capsys.readouterr().out
    assert main(["synth", "--out", str(out), "--people", "3", "2", "--no-progress"]) == 2
    assert "people" in capsys.readouterr().err
    assert main(["synth", "--out", str(out), "--det-miss", "1.5", "--no-progress"]) == 2
    assert "det-miss" in capsys.readouterr().err
