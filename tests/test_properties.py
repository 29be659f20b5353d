"""Property-based tests (hypothesis) of the readers, the evaluator and the tracking primitives.

Readers and the evaluator get random JSON and valid files broken at random
places: they must answer with `HrtrackError` or a correct result, never another
exception. Primitives get random inputs and keep their invariants. (OKS bounds
and symmetry, one-to-one matching and box NMS subsets are in test_oks_nms.py and
test_propagate_match.py; this file covers what those leave out.)
"""

from __future__ import annotations

import copy
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hrtrack.formats.coco import CocoImage, load_coco, to_coco_keypoints
from hrtrack.formats.posetrack import (
    PoseTrackFrame,
    PoseTrackSequence,
    parse_sequence,
    read_sequence,
    to_posetrack17,
    to_posetrack18,
    to_posetrack21,
    validate_posetrack17,
)
from hrtrack.errors import HrtrackError
from hrtrack.evaluation.posetrack import PoseTrackEvaluator
from hrtrack.formats.detections import read_coco_detections
from hrtrack.skeleton import COCO_SIGMAS, POSETRACK
from hrtrack.structures import Boxes, Poses
from hrtrack.tracking.nms import merge_boxes
from hrtrack.tracking.oks import oks, oks_nms
from hrtrack.tracking.propagate import propagate_boxes, warp_poses
from hrtrack.tracking.tracker import FlowTracker

K = POSETRACK.num_joints
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- random and broken JSON

KEYS = ("annolist", "annorect", "annopoints", "point", "id", "x", "y", "score", "track_id", "image", "name",
        "is_labeled", "ignore_regions", "x1", "y1", "x2", "y2", "images", "annotations", "categories",
        "keypoints", "image_id", "file_name", "bbox", "bbox_head", "scores", "vid_id", "frame_id",
        "ignore_regions_x", "ignore_regions_y", "category_id", "num_keypoints", "area", "iscrowd",
        "segmentation", "width", "height")
# Every kind of JSON scalar, including what Python's json module also reads (NaN, Infinity, huge integers).
scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4))
json_values = st.recursive(scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=4),
                           max_leaves=12)


def _slots(obj: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) of a JSON value."""
    out = []
    stack = [obj]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            out.append((node, key))
            stack.append(child)
    return out


@st.composite
def broken(draw, base: Any) -> Any:
    """A deep copy of `base` with 1-4 random edits: a value replaced, a key deleted, a value wrapped in
    a list, a list unwrapped, or a list element duplicated."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(obj)
        if not slots:
            return draw(json_values)
        node, key = draw(st.sampled_from(slots))
        edit = draw(st.sampled_from(["replace", "delete", "wrap", "unwrap", "duplicate"]))
        if edit == "replace":
            node[key] = draw(json_values)
        elif edit == "delete":
            del node[key]
        elif edit == "wrap":
            node[key] = [node[key]]
        elif edit == "unwrap" and isinstance(node[key], list) and node[key]:
            node[key] = node[key][0]
        elif edit == "duplicate" and isinstance(node, list):
            node.insert(key, copy.deepcopy(node[key]))
    return obj


def _sequence(seed: int, frames: int = 3, people: int = 2) -> PoseTrackSequence:
    """A small valid sequence: head boxes, track ids, scores on every joint and person."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        kp = rng.uniform(0, 300, (people, K, 2)).astype(np.float32)
        visible = rng.random((people, K)) < 0.8
        visible[:, 3:5] = False  # ears are never annotated
        head = np.concatenate([kp[:, 0] - 10, kp[:, 0] + 10], 1)
        out.append(PoseTrackFrame(f"images/val/000001_x/{f:06d}.jpg", True, kp, visible,
                                  rng.random((people, K)).astype(np.float32), np.arange(people),
                                  rng.random(people).astype(np.float32), head,
                                  np.concatenate([kp.min(1), kp.max(1)], 1), [], 10_000_010_000 + f))
    return PoseTrackSequence("000001_x", out, "1")


PT17 = to_posetrack17(_sequence(0))
PT18 = to_posetrack18(_sequence(1))
PT21 = to_posetrack21(_sequence(2))
COCO_KEYPOINTS = to_coco_keypoints([
    CocoImage(1, "a.jpg", 640, 480, np.full((1, 17, 2), 50.0), np.full((1, 17), 2), [[10, 10, 90, 200]], [16000],
              [False], [[np.array([[10, 10], [90, 10], [90, 200]], np.float32)]]),
    CocoImage(2, "b.jpg", 640, 480, np.zeros((0, 17, 2)), np.zeros((0, 17)), np.zeros((0, 4)), [], []),
])
COCO_DETECTIONS = [{"image_id": 1, "category_id": 1, "bbox": [10.0, 10.0, 80.0, 190.0], "score": 0.9,
                    "file_name": "a.jpg"}, {"image_id": 2, "category_id": 1, "bbox": [5.0, 5.0, 30.0, 60.0],
                                            "score": 0.4, "file_name": "b.jpg"}]


def _through_file(obj: Any, read) -> Any:
    """Write `obj` as JSON (NaN and Infinity as Python writes them) and read it back with `read`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "file.json"
        path.write_text(json.dumps(obj))
        return read(path)


def _only_user_errors(call) -> Any:
    """The result of `call()`, or None if it raised HrtrackError; any other exception fails the test."""
    try:
        return call()
    except HrtrackError as exc:
        assert "\n" not in str(exc)
        return None


@FAST
@given(st.one_of(json_values, broken(PT17), broken(PT18), broken(PT21)))
def test_posetrack_reader_raises_only_user_errors(obj):
    seq = _only_user_errors(lambda: parse_sequence(obj, "seq.json"))
    if seq is not None:
        assert all(isinstance(f, PoseTrackFrame) for f in seq.frames)
        for fr in seq.frames:
            assert np.isfinite(fr.keypoints).all()
            assert ((fr.track_ids >= -1) & ((fr.track_ids < 10000) | (seq.format == "posetrack21"))).all()
    _only_user_errors(lambda: validate_posetrack17(obj, "seq.json"))


@FAST
@given(st.one_of(broken(PT17), broken(PT18), broken(PT21)))
def test_posetrack_files_raise_only_user_errors(obj):
    _only_user_errors(lambda: _through_file(obj, read_sequence))


def test_valid_posetrack_files_read_back():
    # The bases of the broken files are themselves valid: every failure above comes from an edit.
    for obj in (PT17, PT18, PT21):
        assert len(_through_file(obj, read_sequence).frames) == 3


@FAST
@given(st.one_of(json_values, broken(COCO_KEYPOINTS)))
def test_coco_keypoint_reader_raises_only_user_errors(obj):
    index = _only_user_errors(lambda: _through_file(obj, load_coco))
    if index is not None:
        assert set(index.imgs) == {img["id"] for img in obj["images"]}


@FAST
@given(st.one_of(json_values, broken(COCO_DETECTIONS)))
def test_coco_detection_reader_raises_only_user_errors(obj):
    dets = _only_user_errors(lambda: _through_file(obj, read_coco_detections))
    if dets is not None:
        for b in [*dets.by_image_id.values(), *dets.by_file_name.values()]:
            assert np.isfinite(b.boxes).all() and (b.boxes[:, 2:] > b.boxes[:, :2]).all()
        for image_id in (1, 2):
            b = dets(image_id=image_id)
            assert np.isfinite(b.boxes).all() and (b.boxes[:, 2:] > b.boxes[:, :2]).all()
            assert (np.diff(b.scores) <= 0).all()


def test_coco_bases_are_valid():
    assert _through_file(COCO_KEYPOINTS, load_coco).imgs.keys() == {1, 2}
    assert len(_through_file(COCO_DETECTIONS, read_coco_detections)(image_id=1)) == 1


# ---------------------------------------------------------------- the evaluator

GROUND_TRUTH = _sequence(2, frames=4, people=3)


def _check_scores(evaluator: PoseTrackEvaluator) -> None:
    result = evaluator.result()
    for name in ("ap", "ap_precision", "ap_recall"):
        values = getattr(result, name)
        assert ((values >= 0) & (values <= 100) | np.isnan(values)).all(), (name, values)
    for values in (result.precision, result.recall, result.motp):
        assert ((values >= 0) & (values <= 100) | np.isnan(values)).all()
    assert ((result.mota <= 100) | np.isnan(result.mota)).all()
    assert (result.mot_counts >= 0).all()


@FAST
@given(broken(to_posetrack17(GROUND_TRUTH)))
def test_evaluator_on_broken_prediction_files_raises_only_user_errors(obj):
    pred = _only_user_errors(lambda: parse_sequence(obj, "pred.json"))
    if pred is not None:
        evaluator = PoseTrackEvaluator(hota=True)
        if _only_user_errors(lambda: evaluator.add_sequence(GROUND_TRUTH, pred)) is None and \
                len(pred.frames) == len(GROUND_TRUTH.frames) and all((f.track_ids >= 0).all() for f in pred.frames):
            _check_scores(evaluator)


coordinates = st.floats(-1e7, 1e7, allow_nan=False, width=32)


@st.composite
def predictions(draw) -> PoseTrackSequence:
    """Random predictions for GROUND_TRUTH's frames: any joints, scores (NaN = none), unique track ids."""
    frames = []
    for gt in GROUND_TRUTH.frames:
        n = draw(st.integers(0, 4))
        kp = draw(hnp.arrays(np.float32, (n, K, 2), elements=coordinates))
        # Some predictions sit on the ground truth, so matches happen too.
        near = draw(hnp.arrays(np.bool_, (n,)))
        m = min(n, len(gt))
        kp[:m][near[:m]] = gt.keypoints[:m][near[:m]] + draw(st.floats(-3, 3))
        visible = draw(hnp.arrays(np.bool_, (n, K)))
        scores = draw(hnp.arrays(np.float32, (n, K), elements=st.floats(0, 1, width=32) | st.just(math.nan)))
        ids = np.asarray(draw(st.lists(st.integers(0, 9999), min_size=n, max_size=n, unique=True)), np.int64)
        frames.append(PoseTrackFrame(gt.image, gt.is_labeled, kp, visible, scores, ids, np.full(n, np.nan),
                                     np.full((n, 4), np.nan), np.full((n, 4), np.nan)))
    return PoseTrackSequence(GROUND_TRUTH.name, frames)


@FAST
@given(predictions(), st.booleans())
def test_evaluator_on_random_predictions_keeps_scores_in_range(pred, strict):
    evaluator = PoseTrackEvaluator(strict=strict, hota=True)
    evaluator.add_sequence(GROUND_TRUTH, pred)
    _check_scores(evaluator)


def test_ground_truth_against_itself_scores_100():
    evaluator = PoseTrackEvaluator()
    evaluator.add_sequence(GROUND_TRUTH, GROUND_TRUTH)
    result = evaluator.result()
    assert np.allclose(result.ap, 100) and np.allclose(result.mota, 100)


# ---------------------------------------------------------------- OKS-NMS, box merging, propagation, tracking

@st.composite
def pose_sets(draw, max_n: int = 8):
    n = draw(st.integers(0, max_n))
    centres = draw(hnp.arrays(np.float64, (n, 1, 2), elements=st.floats(0, 100)))
    spread = draw(hnp.arrays(np.float64, (n, K, 2), elements=st.floats(-20, 20)))
    scores = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.2, 0.5, 0.9]) | st.floats(0, 1)))
    areas = draw(hnp.arrays(np.float64, (n,), elements=st.floats(1, 5000)))
    return centres + spread, scores, areas


@FAST
@given(pose_sets(), st.floats(0.05, 0.95))
def test_oks_nms_keeps_a_subset_none_overlapping_every_drop_explained(poses, threshold):
    kp, scores, areas = poses
    keep = oks_nms(kp, np.ones(kp.shape[:2]), scores, areas, threshold, COCO_SIGMAS)
    assert len(set(keep.tolist())) == len(keep) and set(keep.tolist()) <= set(range(len(kp)))
    assert (np.diff(scores[keep]) <= 0).all()
    if len(kp):
        # OKS with the mean of the two areas, as oks_nms uses it.
        sim = oks(kp, kp, areas, COCO_SIGMAS, areas=areas)
        kept_pairs = sim[np.ix_(keep, keep)]
        assert (kept_pairs[~np.eye(len(keep), dtype=bool)] <= threshold + 1e-12).all()
        dropped = np.setdiff1d(np.arange(len(kp)), keep)
        for d in dropped:
            above = keep[(scores[keep] >= scores[d])]
            assert (sim[d, above] > threshold - 1e-12).any()


boxes_xywh = hnp.arrays(np.float32, st.tuples(st.integers(0, 6), st.just(4)), elements=st.floats(0, 200, width=32))


def _boxes(xywh: np.ndarray, scores: np.ndarray) -> Boxes:
    return Boxes(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:] + 1], 1), scores.astype(np.float32))


@FAST
@given(boxes_xywh, boxes_xywh, st.floats(0.1, 0.9), st.data())
def test_merge_boxes_output_is_a_subset_of_the_pool(det_xywh, cand_xywh, iou, data):
    det = _boxes(det_xywh, data.draw(hnp.arrays(np.float32, (len(det_xywh),), elements=st.floats(0, 1, width=32))))
    cand = _boxes(cand_xywh, data.draw(hnp.arrays(np.float32, (len(cand_xywh),), elements=st.floats(0, 1, width=32))))
    merged = merge_boxes(det, cand, iou)
    pool = {tuple(b) + (s,) for bs in (det, cand) for b, s in zip(bs.boxes.tolist(), bs.scores.tolist())}
    assert {tuple(b) + (s,) for b, s in zip(merged.boxes.tolist(), merged.scores.tolist())} <= pool
    assert (np.diff(merged.scores) <= 0).all() and len(merged) <= len(det) + len(cand)


@FAST
@given(pose_sets(max_n=5), hnp.arrays(np.float32, (2,), elements=st.floats(-300, 300, width=32)),
       st.floats(0, 0.5))
def test_propagated_boxes_stay_inside_the_image(poses, shift, extension):
    kp, scores, areas = poses
    n = len(kp)
    previous = Poses(kp.astype(np.float32), np.ones((n, K), np.float32), scores.astype(np.float32),
                     np.zeros((n, 4), np.float32), np.arange(n, dtype=np.int64))
    flow = np.broadcast_to(shift, (60, 80, 2)).astype(np.float32)
    boxes = propagate_boxes(warp_poses(previous, flow), 0.2, extension, image_size=(80, 60))
    assert len(boxes) <= n
    b = boxes.boxes
    assert ((b >= 0) & (b <= np.array([80, 60, 80, 60]))).all()
    assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()


@FAST
@given(st.lists(pose_sets(max_n=5), min_size=1, max_size=6), st.sampled_from(["greedy", "hungarian"]),
       st.integers(1, 3))
def test_tracker_ids_unique_per_frame_and_new_ids_never_reused(frames, matcher, max_age):
    tracker = FlowTracker(similarity="oks", threshold=0.3, q_frames=1, max_age=max_age, matcher=matcher,
                          sigmas=COCO_SIGMAS)
    seen: set[int] = set()
    last_seen: dict[int, int] = {}
    previous = Poses.empty(K)
    for t, (kp, scores, _) in enumerate(frames):
        n = len(kp)
        poses = Poses(kp.astype(np.float32), np.ones((n, K), np.float32), scores.astype(np.float32),
                      np.concatenate([kp.min(1), kp.max(1)], 1).astype(np.float32), None)
        previous = tracker(poses, previous, None)
        ids = previous.track_ids.tolist()
        assert len(set(ids)) == len(ids) and all(i >= 0 for i in ids)
        new = [i for i in ids if i not in seen]
        # New tracks take the next ids in order; an old id comes back only within max_age frames.
        assert new == list(range(len(seen), len(seen) + len(new)))
        assert all(t - last_seen[i] <= max_age for i in ids if i in last_seen)
        seen.update(ids)
        last_seen.update({i: t for i in ids})
