"""PoseTrack mAP / MOTA: numbers derived by hand, and agreement with slow references.

The references below are written from poseval's definitions with plain loops; MOT
goes through motmetrics' own `MOTAccumulator`, one per joint and sequence, as poseval does.
"""

from __future__ import annotations

import json
import math

import cv2
import motmetrics as mm
import numpy as np
import pytest
from motmetrics.lap import linear_sum_assignment as motmetrics_linear_sum_assignment

import hrtrack.evaluation.assignment as assignment
import hrtrack.evaluation.posetrack as ev
from hrtrack.cli import main
from hrtrack.formats.posetrack import (
    PoseTrackFrame,
    PoseTrackSequence,
    write_posetrack17,
    write_posetrack18,
    write_posetrack21,
)
from hrtrack.evaluation.posetrack import (
    COLUMNS,
    JOINT_NAMES,
    MIN_SCORE,
    PoseTrackEvaluator,
    average_precision,
    evaluate_folders,
    points_in_polygons,
)
from hrtrack.skeleton import PT17_TO_PT18

J = {name: j for j, name in enumerate(JOINT_NAMES)}
ClearMotFields = ev.ClearMot.FIELDS
HEAD = (0.0, 0.0, 30.0, 40.0)   # diagonal 50 -> head size 0.6 * 50 = 30 px, threshold 15 px


# ---------------------------------------------------------------- building sequences

def pose(cx: float, cy: float) -> np.ndarray:
    """15 joints (PoseTrack 2017 order) of a person standing at (cx, cy), 20 px apart."""
    return np.stack([cx + 20.0 * (np.arange(15) % 3), cy + 20.0 * (np.arange(15) // 3)], 1)


def frame(people: list[dict], ignore: list | None = None, name: str = "") -> PoseTrackFrame:
    """people: dicts with id, kp (15,2) in PoseTrack 2017 order, optional vis (15,), scores (15,), head."""
    n = len(people)
    kp = np.zeros((n, 17, 2), np.float32)
    vis = np.zeros((n, 17), bool)
    js = np.full((n, 17), np.nan, np.float32)
    head = np.full((n, 4), np.nan, np.float32)
    for i, p in enumerate(people):
        kp[i, PT17_TO_PT18] = p["kp"]
        vis[i, PT17_TO_PT18] = p.get("vis", np.ones(15, bool))
        js[i, PT17_TO_PT18] = p.get("scores", np.ones(15))
        head[i] = p.get("head", HEAD)
    ids = [p["id"] for p in people]
    return PoseTrackFrame(name, n > 0, kp, vis, js, ids, np.ones(n), head, np.full((n, 4), np.nan),
                          ignore or [])


def seq(frames: list[PoseTrackFrame], name: str = "000001_test") -> PoseTrackSequence:
    return PoseTrackSequence(name, frames, "000001")


def evaluate(pairs, strict: bool = False) -> ev.PoseTrackResult:
    e = PoseTrackEvaluator(strict=strict)
    for g, p in pairs:
        e.add_sequence(g, p)
    return e.result()


def two_people(n_frames: int, ids_a=None, ids_b=None, offset=(0.0, 0.0), origin=(0.0, 0.0)):
    """GT: A (id 1) at origin, B (id 2) 300 px right of it in every frame; predictions copy them with given ids.

    At the default origin (0, 0) some joints lie at x = 0 or y = 0, which the PoseTrack21 kit (HOTA) reads
    as absent; HOTA tests place the people at an origin inside the image.
    """
    ox, oy = origin
    gt = [frame([{"id": 1, "kp": pose(ox, oy)}, {"id": 2, "kp": pose(ox + 300, oy)}]) for _ in range(n_frames)]
    ids_a = ids_a or [10] * n_frames
    ids_b = ids_b or [20] * n_frames
    pr = [frame([{"id": ids_a[f], "kp": pose(ox, oy) + offset}, {"id": ids_b[f], "kp": pose(ox + 300, oy) + offset}])
          for f in range(n_frames)]
    return seq(gt), seq(pr)


# ---------------------------------------------------------------- hand-derived numbers

def test_perfect_predictions_score_100():
    r = evaluate([two_people(4)])
    s = r.summary()
    for table in ("mAP", "MOTA", "MOTP", "Precision", "Recall"):
        assert s[table] == {c: 100.0 for c in COLUMNS}, table
    # 2 people x 15 joints x 4 frames in AP; the last frame is left out of MOT
    assert s["counts"]["num_gt_joints"] == 120 and s["counts"]["num_objects"] == 90
    assert s["counts"]["scored_frames"] == 4 and s["counts"]["mot_frames"] == 3


@pytest.mark.parametrize("dy,hit", [(12.0, True), (11.99, True), (12.01, False)])
def test_threshold_is_inclusive_half_head_size(dy, hit):
    # head size 30: a right wrist moved by (9, 12) lies exactly 15 px = 0.5 head sizes away
    gt = seq([frame([{"id": 1, "kp": pose(0, 0)}]) for _ in range(2)])
    moved = pose(0, 0)
    moved[J["right_wrist"]] += (9.0, dy)
    pr = seq([frame([{"id": 1, "kp": moved}]) for _ in range(2)])
    r = evaluate([(gt, pr)])
    w = J["right_wrist"]
    assert r.ap[w] == (100.0 if hit else 0.0)
    # MOT sees frame 0 only: a miss plus a false positive on one object gives 100 * (1 - 2/1)
    assert r.mota[w] == (100.0 if hit else -100.0)
    assert r.summary()["mAP"]["Wrist"] == (100.0 if hit else 50.0)
    expected_motp = 100 * (1 - math.hypot(9, dy) / 30) if hit else 0.0
    assert r.motp[w] == pytest.approx(expected_motp)


def test_one_identity_switch_costs_one_over_gt_joints_per_joint():
    # A's predicted id changes 10 -> 30 at frame 2 and stays; B keeps 20. MOT uses frames 0..2.
    # B's right knee is not annotated in frame 1, so that joint has 5 objects, the others 6.
    g, p = two_people(4, ids_a=[10, 10, 30, 30])
    g.frames[1].visible[1, PT17_TO_PT18[J["right_knee"]]] = False
    r = evaluate([(g, p)])
    objects = np.full(15, 6.0)
    objects[J["right_knee"]] = 5.0
    np.testing.assert_allclose(r.mota, 100 * (1 - 1 / objects - (objects == 5) / 5))
    counts = r.summary()["per_joint"]["right_knee"]
    # the unannotated knee of B is a predicted joint with no object: one false positive
    assert (counts["num_objects"], counts["num_switches"], counts["num_false_positives"]) == (5, 1, 1)
    assert r.summary()["per_joint"]["nose"]["num_switches"] == 1
    assert (np.delete(r.ap, J["right_knee"]) == 100.0).all()
    # strict keeps frame 3: 8 objects (7 for the knee), still one switch per joint
    s = evaluate([(g, p)], strict=True)
    assert s.summary()["per_joint"]["nose"]["num_objects"] == 8
    assert s.mota[J["nose"]] == pytest.approx(100 * (1 - 1 / 8))


def test_false_positive_person_lowers_precision_by_its_count_and_score_order_moves_only_ap():
    def run(fp_score: float):
        g, p = two_people(3)
        extra = {"id": 99, "kp": pose(600, 300), "scores": np.full(15, fp_score)}
        p.frames[0] = frame([*({"id": i, "kp": k} for i, k in ((10, pose(0, 0)), (20, pose(300, 0)))), extra])
        return evaluate([(g, p)])

    low, high = run(0.5), run(2.0)
    # MOT frames 0,1: 4 objects and 4 detections per joint, 1 false positive
    for r in (low, high):
        np.testing.assert_allclose(r.precision, 100 * 4 / 5)
        np.testing.assert_allclose(r.recall, 100.0)
        np.testing.assert_allclose(r.mota, 100 * (1 - 1 / 4))
    # AP: 6 true joints per joint (3 frames x 2 people). Ranked last the FP costs nothing;
    # ranked first, precision at the k-th true positive is k/(k+1): interpolated AP = 6/7.
    np.testing.assert_allclose(low.ap, 100.0)
    np.testing.assert_allclose(high.ap, 100 * 6 / 7)


def test_ignore_regions_remove_joints_and_emptied_people():
    box = [np.array([[500, 200], [800, 200], [800, 500], [500, 500]], np.float32)]
    wrist = J["right_wrist"]
    gt_kp = pose(0, 0)
    gt_kp[wrist] = (600, 300)          # the GT wrist lies in the region: not evaluated
    pred_kp = pose(0, 0)
    pred_kp[wrist] = (700, 400)        # and so does the predicted one
    on_edge = pose(0, 0)
    on_edge[wrist] = (500, 300)        # a point on the boundary is kept (strictly inside only)

    def run(ignore, pred_wrist):
        kp = pose(0, 0)
        kp[wrist] = pred_wrist
        g = seq([frame([{"id": 1, "kp": gt_kp}], ignore) for _ in range(2)])
        p = seq([frame([{"id": 1, "kp": kp}, {"id": 2, "kp": pose(550, 250) * 0.1 + (550, 250)}], ignore)
                 for _ in range(2)])
        return evaluate([(g, p)])

    with_region = run(box, (700, 400))
    # the wrist is gone from both sides and person 2 (all joints inside) is removed
    assert with_region.num_gt_joints[wrist] == 0 and with_region.num_predicted_joints.sum() == 2 * 14
    assert with_region.summary()["counts"]["num_false_positives"] == 0
    assert with_region.ap[np.arange(15) != wrist].tolist() == [100.0] * 14
    without = run([], (700, 400))
    # without the region: the wrist misses and person 2 is a false positive on every joint
    assert without.num_gt_joints[wrist] == 2 and without.summary()["counts"]["num_false_positives"] == 16
    edge = run(box, (500, 300))
    assert edge.num_predicted_joints[wrist] == 2    # on the boundary: still predicted (a false positive)


def test_points_in_polygons_matches_opencv():
    rng = np.random.default_rng(0)
    polys = [rng.uniform(0, 100, (int(rng.integers(3, 8)), 2)).astype(np.float32) for _ in range(4)]
    polys.append(np.array([[10, 10], [60, 10], [60, 40], [10, 40]], np.float32))
    pts = np.concatenate([rng.uniform(-10, 110, (3000, 2)),
                          polys[-1].astype(np.float64),                     # vertices
                          [[35, 10], [60, 25], [10, 11.5], [35, 25]]])       # on edges, and one inside
    expected = np.array([any(cv2.pointPolygonTest(p.reshape(-1, 1, 2), (float(x), float(y)), False) > 0
                             for p in polys) for x, y in pts])
    np.testing.assert_array_equal(points_in_polygons(pts, polys), expected)
    assert not points_in_polygons(pts, []).any()


def test_empty_frame_quirk_and_strict_difference():
    # frame 1: the prediction has no people while the GT has two
    g, p = two_people(3)
    p.frames[1] = frame([])
    default, strict = evaluate([(g, p)]), evaluate([(g, p)], strict=True)
    nose = J["nose"]
    d = default.summary()["per_joint"]["nose"]
    # frames 0,1 in MOT: frame 0 = 2 objects matched; frame 1 = 1 object + 1 miss + 1 FP
    assert (d["num_objects"], d["num_misses"], d["num_false_positives"]) == (3, 1, 1)
    assert default.mota[nose] == pytest.approx(100 * (1 - 2 / 3))
    s = strict.summary()["per_joint"]["nose"]
    # strict, frames 0..2: 6 objects, the 2 of frame 1 missed, no false positive
    assert (s["num_objects"], s["num_misses"], s["num_false_positives"]) == (6, 2, 0)
    assert strict.mota[nose] == pytest.approx(100 * (1 - 2 / 6))


def test_ground_truth_emptied_by_ignore_region_is_an_empty_frame():
    region = [np.array([[-50, -50], [400, -50], [400, 200], [-50, 200]], np.float32)]
    g, p = two_people(3)
    g.frames[0].ignore_regions = region   # covers both people on both sides in frame 0
    d = evaluate([(g, p)]).summary()["per_joint"]["nose"]
    assert (d["num_objects"], d["num_misses"], d["num_false_positives"]) == (1 + 2, 1, 1)


def test_joint_without_ground_truth_ap_zero_or_nan():
    head_top = J["head_top"]
    vis = np.ones(15, bool)
    vis[head_top] = False
    g = seq([frame([{"id": 1, "kp": pose(0, 0), "vis": vis}]) for _ in range(2)])
    unpredicted = evaluate([(g, g)])
    assert unpredicted.ap[head_top] == 0.0
    # averaged in: Total = 14 x 100 / 15, and the Head group mean includes the 0
    assert unpredicted.summary()["mAP"]["Total"] == pytest.approx(1400 / 15)
    assert unpredicted.summary()["mAP"]["Head"] == pytest.approx(200 / 3)
    p = seq([frame([{"id": 1, "kp": pose(0, 0)}]) for _ in range(2)])
    predicted = evaluate([(g, p)])
    assert np.isnan(predicted.ap[head_top])
    assert predicted.summary()["mAP"]["Total"] == 100.0 and predicted.summary()["mAP"]["Head"] is None
    assert np.isnan(evaluate([(g, g)], strict=True).ap[head_top])


def test_single_scored_frame_sequence():
    g = seq([frame([{"id": 1, "kp": pose(0, 0)}]), frame([])])
    r = evaluate([(g, g)])
    assert r.summary()["counts"]["mot_frames"] == 0 and np.isnan(r.mota).all()
    assert (r.ap == 100).all()
    assert r.summary()["MOTA"]["Total"] is None
    assert evaluate([(g, g)], strict=True).summary()["MOTA"]["Total"] == 100.0


def test_documented_last_frame_example():
    # one person over 2 scored frames, predicted id 1 then 2
    g = seq([frame([{"id": 1, "kp": pose(0, 0)}]) for _ in range(2)])
    p = seq([frame([{"id": i, "kp": pose(0, 0)}]) for i in (1, 2)])
    assert evaluate([(g, p)]).summary()["MOTA"]["Total"] == 100.0
    assert evaluate([(g, p)], strict=True).summary()["MOTA"]["Total"] == 50.0


def test_motp_counts_matched_pairs_only():
    # two people 9 px apart (0.3 head sizes), predicted perfectly: MOTP 100
    g = seq([frame([{"id": 1, "kp": pose(0, 0)}, {"id": 2, "kp": pose(9, 0)}]) for _ in range(2)])
    assert evaluate([(g, g)]).summary()["MOTP"]["Total"] == 100.0
    # poseval's sum of motmetrics' recorded distances also takes the two 0.3 cross pairs
    acc = mm.MOTAccumulator(auto_id=True)
    acc.update([1, 2], [1, 2], np.array([[0.0, 0.3], [0.3, 0.0]]))
    assert acc.events["D"].sum() == pytest.approx(0.6)


def test_missing_joint_score_ranks_lowest_and_unscored_frames_never_count():
    g, p = two_people(2)
    # an extra person with no joint scores (-9999): a false positive ranked last -> AP stays 100
    p.frames[0] = frame([{"id": 10, "kp": pose(0, 0)}, {"id": 20, "kp": pose(300, 0)},
                         {"id": 30, "kp": pose(900, 900), "scores": np.full(15, np.nan)}])
    g.frames.append(frame([]))
    p.frames.append(frame([{"id": 40, "kp": pose(50, 50), "scores": np.full(15, 5.0)}]))
    r = evaluate([(g, p)])
    np.testing.assert_allclose(r.ap, 100.0)
    assert r.summary()["counts"]["scored_frames"] == 2


def test_average_precision_by_hand():
    # ranked labels 1,0,1 with 4 positives: precision 1, 1/2, 2/3; recall 1/4, 1/4, 1/2
    # interpolated: recall 0->1/4 at precision 1, 1/4->1/2 at 2/3 -> AP = 1/4 + 1/6
    ap, pre, rec = average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1]), 4)
    assert ap == pytest.approx(100 * (1 / 4 + 1 / 6))
    assert pre == pytest.approx(100 * 2 / 3) and rec == pytest.approx(50.0)
    assert average_precision(np.array([]), np.array([]), 3) == (0.0, 0.0, 0.0)
    assert np.isnan(average_precision(np.array([0.5]), np.array([0]), 0)[0])


# ---------------------------------------------------------------- slow references

def reference_ap(scores: list[float], labels: list[int], positives: int) -> float:
    """poseval's computeRPC + VOCap, loop by loop."""
    if not scores:
        return 0.0
    order = np.array(scores, np.float64).argsort()[::-1]
    precision, recall, tp = [], [], 0
    for rank, idx in enumerate(order):
        tp += labels[idx]
        recall.append(tp / positives if positives else math.nan)
        precision.append(tp / (rank + 1))
    mrec = [0.0] + recall + [1.0]
    mpre = [0.0] + precision + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    total = 0.0
    for i in range(1, len(mrec)):
        if not mrec[i] == mrec[i - 1]:
            total += (mrec[i] - mrec[i - 1]) * mpre[i]
    return 100 * total


def _people(fr: PoseTrackFrame) -> list[dict]:
    out = []
    for r in range(len(fr)):
        pts = {}
        for j in range(15):
            s = PT17_TO_PT18[j]
            if fr.visible[r, s]:
                score = float(fr.joint_scores[r, s])
                pts[j] = (float(fr.keypoints[r, s, 0]), float(fr.keypoints[r, s, 1]),
                          MIN_SCORE if math.isnan(score) else score)
        out.append({"id": int(fr.track_ids[r]), "head": [float(v) for v in fr.head_boxes[r]], "pts": pts})
    return out


def reference_poseval(pairs, strict: bool = False):
    """poseval's evaluation written out with loops: (AP (15,), MOT counts (15,5), MOTP distance sums (15,))."""
    frames = []
    for si, (g, p) in enumerate(pairs):
        for fg, fp in zip(g.frames, p.frames):
            if len(fg) + fg.unannotated_people == 0:
                continue
            gp, pp = _people(fg), _people(fp)
            if fg.ignore_regions:
                polys = [r.reshape(-1, 1, 2) for r in fg.ignore_regions]
                for people in (gp, pp):
                    for person in people:
                        person["pts"] = {j: v for j, v in person["pts"].items()
                                         if not any(cv2.pointPolygonTest(poly, v[:2], False) > 0 for poly in polys)}
                gp = [q for q in gp if q["pts"]]
                pp = [q for q in pp if q["pts"]]
            frames.append((si, gp, pp))

    scores = {j: [] for j in range(15)}
    labels = {j: [] for j in range(15)}
    positives = [0] * 15
    mot_input = []
    for si, gp, pp in frames:
        dist = [[[math.inf] * 15 for _ in gp] for _ in pp]
        for i, q in enumerate(pp):
            for k, t in enumerate(gp):
                x1, y1, x2, y2 = t["head"]
                size = 0.6 * np.linalg.norm(np.subtract([x2, y2], [x1, y1]))
                for j in range(15):
                    if j in q["pts"] and j in t["pts"]:
                        d = np.linalg.norm(np.subtract(t["pts"][j][:2], q["pts"][j][:2]))
                        dist[i][k][j] = d / size if size else (math.inf if d else math.nan)
        gt_of = [-1] * len(pp)
        if pp and gp:
            pck = [[sum(dist[i][k][j] <= 0.5 for j in range(15)) / max(len(t["pts"]), 1)
                    for k, t in enumerate(gp)] for i in range(len(pp))]
            best = [row.index(max(row)) for row in pck]
            for k in range(len(gp)):
                chosen = [(pck[i][k], i) for i in range(len(pp)) if best[i] == k]
                if chosen:
                    top = max(v for v, _ in chosen)
                    if top > 0:
                        gt_of[[i for v, i in chosen if v == top][0]] = k
        for i, q in enumerate(pp):
            for j, (_, _, s) in q["pts"].items():
                scores[j].append(s)
                labels[j].append(int(gt_of[i] >= 0 and dist[i][gt_of[i]][j] <= 0.5))
        for t in gp:
            for j in t["pts"]:
                positives[j] += 1
        mot_input.append((si, gp, pp, dist))

    ap = np.array([reference_ap(scores[j], labels[j], positives[j]) for j in range(15)])
    if strict:
        ap[np.array(positives) == 0] = np.nan

    counts = np.zeros((15, 5), np.int64)
    sum_d = np.zeros(15)
    metrics = ["num_objects", "num_misses", "num_switches", "num_false_positives", "num_detections"]
    mh = mm.metrics.create()
    for si in range(len(pairs)):
        seq_frames = [f for f in mot_input if f[0] == si]
        if not strict:
            seq_frames = seq_frames[:-1]
        for j in range(15):
            acc = mm.MOTAccumulator(auto_id=True)
            for _, gp, pp, dist in seq_frames:
                if not strict and (not gp or not pp):
                    acc.update([0], [0], np.full((1, 1), np.nan))
                    continue
                gi = [k for k, t in enumerate(gp) if j in t["pts"]]
                pi = [i for i, q in enumerate(pp) if j in q["pts"]]
                d = np.full((len(gi), len(pi)), np.nan)
                for a, k in enumerate(gi):
                    for b, i in enumerate(pi):
                        if dist[i][k][j] <= 0.5:
                            d[a, b] = dist[i][k][j]
                acc.update([gp[k]["id"] for k in gi], [pp[i]["id"] for i in pi], d)
            if not seq_frames:
                continue
            summary = mh.compute(acc, metrics=metrics, return_dataframe=False)
            counts[j] += [int(summary[m]) for m in metrics]
            events = acc.mot_events
            sum_d[j] += events[events.Type.isin(["MATCH", "SWITCH"])].D.sum()
    return ap, counts, sum_d


def random_pair(rng: np.random.Generator, name: str, n_frames: int = 7) -> tuple[PoseTrackSequence, PoseTrackSequence]:
    """Random GT and noisy predictions with crowds, id swaps, dropouts, ties, empty frames, ignore regions."""
    n = 5
    centers = rng.uniform(0, 200, (n, 2))
    centers[1] = centers[0] + rng.uniform(-6, 6, 2)        # a near-duplicate person: contested matches
    ids = rng.choice(50, n, replace=False)
    gts, prs = [], []
    for f in range(n_frames):
        centers += rng.normal(0, 3, centers.shape)
        present = rng.random(n) < 0.85
        gt_people, pr_people = [], []
        for k in np.flatnonzero(present):
            kp = pose(*centers[k]) + rng.normal(0, 1, (15, 2))
            vis = rng.random(15) < 0.85
            size = rng.uniform(15, 60)
            gt_people.append({"id": int(ids[k]), "kp": kp, "vis": vis, "head": (0, 0, size, size)})
            if rng.random() < 0.85:
                noise = rng.normal(0, 0.25 * size * 0.6 * math.sqrt(2), (15, 2))
                scores = np.round(rng.random(15), 1)
                scores[rng.random(15) < 0.05] = np.nan
                pr_people.append({"id": int(ids[k]), "kp": kp + noise, "vis": rng.random(15) < 0.9,
                                  "scores": scores})
        for _ in range(int(rng.integers(0, 3))):
            pr_people.append({"id": 0, "kp": pose(*rng.uniform(0, 200, 2)), "scores": np.round(rng.random(15), 1)})
        pr_ids = rng.choice(np.arange(100, 100 + len(pr_people) + 3), len(pr_people), replace=False)
        if rng.random() < 0.6:
            keep = [i for i, q in enumerate(pr_people) if q["id"] != 0]
            pr_ids[keep] = [pr_people[i]["id"] for i in keep]
        if rng.random() < 0.4 and len(pr_ids) > 1:
            pr_ids[:2] = pr_ids[[1, 0]]                      # identity swap
        for q, i in zip(pr_people, pr_ids):
            q["id"] = int(i)
        roll = rng.random()
        if roll < 0.1:
            gt_people = []                                   # unscored frame
        elif roll < 0.2:
            pr_people = []                                   # empty prediction
        elif roll < 0.3 and gt_people:
            gt_people[0]["vis"] = np.zeros(15, bool)         # a person without joints
        ignore = []
        if rng.random() < 0.3:
            x0, y0 = rng.uniform(0, 200, 2)
            ignore = [np.array([[x0, y0], [x0 + 90, y0], [x0 + 60, y0 + 80]], np.float32)]
        gts.append(frame(gt_people, ignore))
        prs.append(frame(pr_people))
    return seq(gts, name), seq(prs, name)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fast_equals_poseval_reference_and_motmetrics(monkeypatch, seed, strict):
    calls = []
    solver = ev.linear_sum_assignment
    monkeypatch.setattr(ev, "linear_sum_assignment", lambda c: calls.append(c.shape) or solver(c))
    rng = np.random.default_rng(seed)
    pairs = [random_pair(rng, f"{s:06d}_rand") for s in range(3)]
    fast = evaluate(pairs, strict=strict)
    ap, counts, sum_d = reference_poseval(pairs, strict=strict)
    np.testing.assert_allclose(fast.ap, ap, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(fast.mot_counts, counts)
    np.testing.assert_allclose(fast.mot_sum_distance, sum_d, rtol=1e-12, atol=1e-12)
    assert calls, "the random data must exercise contested assignments"
    assert counts[:, 2].sum() > 0, "and identity switches"


@pytest.mark.parametrize("seed", [0, 1])
def test_assignment_equals_motmetrics_with_scipy(seed):
    # Small matrices with impossible pairs (NaN, inf, -inf) and many ties (costs of 1 to 3 decimals).
    rng = np.random.default_rng(seed)
    listed = solved = 0
    for _ in range(2000):
        r, c = rng.integers(0, 7, 2)
        costs = np.round(rng.random((r, c)), int(rng.integers(1, 4)))
        impossible = rng.random((r, c)) < rng.random()
        costs[impossible] = rng.choice([np.nan, np.inf, -np.inf], int(impossible.sum()))
        rows, cols = assignment.linear_sum_assignment(costs)
        expected = motmetrics_linear_sum_assignment(costs, solver="scipy")
        assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(zip(*(e.tolist() for e in expected)))
        assert (np.diff(rows) > 0).all()
        valid = np.isfinite(costs)
        if valid.any() and assignment._unique_best_matching(costs, valid, 1e-9) is not None:
            listed += 1
        else:
            solved += 1
    assert listed > 500 and solved > 500, "both the listed matchings and scipy must be exercised"
    # more possible pairs than are listed: scipy
    costs = rng.random((5, 6))
    assert np.isfinite(costs).sum() > assignment.ENUMERATED_PAIRS
    rows, cols = assignment.linear_sum_assignment(costs)
    expected = motmetrics_linear_sum_assignment(costs, solver="scipy")
    assert sorted(zip(rows.tolist(), cols.tolist())) == sorted(zip(*(e.tolist() for e in expected)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_whole_sequence_preparation_equals_frame_by_frame(seed):
    rng = np.random.default_rng(seed)
    for g, p in (random_pair(rng, f"{s:06d}_prep") for s in range(3)):
        fast, slow = ev.scored_frames(g, p, "g", "p"), ev._scored_frames_checked(g, p, "g", "p")
        assert len(fast) == len(slow) > 0
        for a, b in zip(fast, slow):
            for name in ev.ScoredFrame.__dataclass_fields__:
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_blocks_of_frames_by_hand(monkeypatch):
    # (G, P) per frame (2, 3), (1, 3), (2, 1), (1, 1): 2 frames x 2 x 3 people x 15 joints = 180 fit in 200,
    # 3 frames x 2 x 3 x 15 = 270 do not; the last two take 2 x 2 x 1 x 15 = 60
    monkeypatch.setattr(ev, "_BLOCK_ELEMENTS", 200)
    assert ev._batches(np.array([2, 1, 2, 1]), np.array([3, 3, 1, 1])) == [(0, 2), (2, 4)]
    monkeypatch.setattr(ev, "_BLOCK_ELEMENTS", 1)
    assert ev._batches(np.array([2, 1, 2]), np.array([3, 3, 1])) == [(0, 1), (1, 2), (2, 3)]


@pytest.mark.parametrize("strict", [False, True])
def test_matching_in_blocks_gives_the_same_numbers(monkeypatch, strict):
    rng = np.random.default_rng(5)
    pairs = [random_pair(rng, f"{s:06d}_blocks", n_frames=12) for s in range(3)]
    whole = evaluate(pairs, strict).summary()
    for elements in (1, 15 * 5 * 5 * 3):
        monkeypatch.setattr(ev, "_BLOCK_ELEMENTS", elements)
        assert evaluate(pairs, strict).summary() == whole


# ---------------------------------------------------------------- files and the CLI

def _write_pairs(pairs, gt_dir, pred_dir, writer):
    gt_dir.mkdir()
    pred_dir.mkdir()
    for g, p in pairs:
        writer(g, gt_dir / f"{g.name}.json")
        writer(p, pred_dir / f"{p.name}.json")


def test_2017_and_2018_files_give_identical_results(tmp_path):
    rng = np.random.default_rng(7)
    pairs = [random_pair(rng, f"{s:06d}_file") for s in range(3)]
    for _, p in pairs:
        for f in p.frames:   # PoseTrack 2018 files cannot leave a single joint unscored
            f.joint_scores = np.nan_to_num(f.joint_scores, nan=0.05)
    _write_pairs(pairs, tmp_path / "gt17", tmp_path / "pr17", write_posetrack17)
    _write_pairs(pairs, tmp_path / "gt18", tmp_path / "pr18", write_posetrack18)
    r17 = evaluate_folders(tmp_path / "gt17", tmp_path / "pr17", progress=False).summary()
    r18 = evaluate_folders(tmp_path / "gt18", tmp_path / "pr18", progress=False).summary()
    mixed = evaluate_folders(tmp_path / "gt17", tmp_path / "pr18", progress=False).summary()
    assert r17 == r18 == mixed
    assert r17 == json.loads(json.dumps(evaluate(pairs).summary()))


def test_cli_prints_tables_and_writes_json(tmp_path, capsys):
    _write_pairs([two_people(3, origin=(50, 50))], tmp_path / "gt", tmp_path / "pred", write_posetrack17)
    (tmp_path / "pred" / "999999_other.json").write_text("not even json")   # not in the GT: ignored
    out = tmp_path / "metrics.json"
    rc = main(["evaluate", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), "--json", str(out),
               "--hota"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "Keypoint HOTA" in printed
    assert "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\" in printed
    assert "&100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 &100.0 \\\\" in printed
    summary = json.loads(out.read_text())
    assert set(summary) >= {"mAP", "MOTA", "MOTP", "Precision", "Recall", "per_joint", "counts"}
    assert set(summary["mAP"]) == set(COLUMNS) and set(summary["per_joint"]) == set(JOINT_NAMES)
    assert summary["HOTA"]["Total"]["HOTA"] == 100.0 and summary["HOTA"]["Total"]["IDSW"] == 0
    assert "& HOTA&100.0 &100.0 &100.0" in printed and "&     & Nose & Neck & Head &   LS" in printed
    assert summary["settings"] == {"strict_clear_mot": False, "strict_hota": False, "threshold": 0.5}
    assert "give --hota too" in _cli_error(tmp_path, capsys, "--strict-hota")


def _cli_error(tmp_path, capsys, *extra):
    rc = main(["evaluate", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.endswith("\n") and err.count("\n") == 1, err
    return err


def test_cli_errors_are_one_line_naming_the_file(tmp_path, capsys):
    g, p = two_people(3)
    _write_pairs([(g, p)], tmp_path / "gt", tmp_path / "pred", write_posetrack17)
    pred_file = tmp_path / "pred" / f"{p.name}.json"

    pred_file.unlink()
    assert f"{p.name}.json does not exist" in _cli_error(tmp_path, capsys)

    write_posetrack17(seq(p.frames[:2]), pred_file)
    err = _cli_error(tmp_path, capsys)
    assert str(pred_file) in err and "2 frames" in err and "has 3" in err

    obj = json.loads(json.dumps({"annolist": [{"annorect": [
        {"track_id": [4], "annopoints": [{"point": [{"id": [0], "x": [1], "y": [1], "score": [1]}]}]}] * 2}] * 3}))
    pred_file.write_text(json.dumps(obj))
    assert str(pred_file) in _cli_error(tmp_path, capsys)

    pred_file.write_text("{broken")
    assert f"{pred_file} is not valid JSON" in _cli_error(tmp_path, capsys)

    no_id = seq([frame([{"id": 1, "kp": pose(0, 0)}]) for _ in range(3)])
    no_id.frames[1].track_ids[:] = -1
    write_posetrack17(no_id, pred_file)
    assert f"{pred_file}: frame 1: a predicted person has no track_id" in _cli_error(tmp_path, capsys)

    assert "output folder does not exist" in _cli_error(tmp_path, capsys, "--json", str(tmp_path / "no" / "x.json"))

    for f in (tmp_path / "gt").iterdir():
        f.unlink()
    assert "no .json files" in _cli_error(tmp_path, capsys)
    assert "not a folder" in _cli_error(tmp_path / "missing", capsys)


# ---------------------------------------------------------------- HOTA as the PoseTrack21 kit, IDF1

def at(x: float, y: float) -> np.ndarray:
    """15 joints of a person standing at (x, y) inside the image (every joint at x > 0 and y > 0)."""
    return pose(x + 50, y + 50)


def test_hota_perfect_and_identity_change_by_hand():
    perfect = evaluate_hota([two_people(4, origin=(50, 50))])
    for name, v in perfect.hota_totals().items():
        assert v == (0.0 if name == "IDSW" else pytest.approx(100.0)), name
    # one person, predicted id 10 in frames 0-1 and 30 in frames 2-3: every joint detected;
    # each true positive's id pair covers 2 of the person's 4 frames and all of its own -> AssA 1/2
    gt = seq([frame([{"id": 1, "kp": at(0, 0)}]) for _ in range(4)])
    pr = seq([frame([{"id": i, "kp": at(0, 0)}]) for i in (10, 10, 30, 30)])
    t = evaluate_hota([(gt, pr)]).hota_totals()
    assert t["DetA"] == pytest.approx(100) and t["AssA"] == pytest.approx(50)
    assert t["HOTA"] == pytest.approx(100 * math.sqrt(0.5))
    assert t["AssRe"] == pytest.approx(50) and t["AssPr"] == pytest.approx(100)
    # IDF1: the best trajectory pair shares 2 of 4 + 4 joint detections
    assert t["IDF1"] == pytest.approx(50) and t["IDP"] == pytest.approx(50) and t["IDSW"] == 15


def test_hota_localisation_by_hand():
    # a right wrist 7.5 px = 0.25 head sizes off in every frame: similarity 1 - 0.25 / 0.5001,
    # a true positive for the 10 alphas 0.05 ... 0.50 and nothing for the 9 above
    moved = at(0, 0)
    moved[J["right_wrist"]] += (4.5, 6.0)
    gt = seq([frame([{"id": 1, "kp": at(0, 0)}]) for _ in range(3)])
    pr = seq([frame([{"id": 1, "kp": moved}]) for _ in range(3)])
    r = evaluate_hota([(gt, pr)])
    w = J["right_wrist"]
    for name in ("HOTA", "DetA", "AssA", "DetRe", "DetPr"):
        assert r.hota[name][w] == pytest.approx(100 * 10 / 19), name
    # LocA: the similarity where there are true positives, 1 (TrackEval's convention) where there are none
    assert r.hota["LocA"][w] == pytest.approx(100 * (10 * (1 - 0.25 / 0.5001) + 9) / 19)
    assert r.hota["IDF1"][w] == pytest.approx(100.0)
    others = np.arange(15) != w
    np.testing.assert_allclose(r.hota["HOTA"][others], 100.0)


def test_hota_total_is_formed_as_the_kit_by_hand():
    # Sequence A: one person, 3 frames, perfectly predicted, plus a far false positive (15 joints) in
    # frame 0. Sequence B: one person without head_top, 2 frames, predicted as id 10 then id 20.
    # Per alpha (every similarity is 1): TP = 45 + 28 = 73, FP = 15, FN = 0 -> DetA = 73 / 88.
    # AssA: A's joints 1 each; B's 14 joints 1/2 each (each pair covers 1 of 2 frames) and head_top 0,
    # so B's joint mean is 7/15; weighted by the sequences' TPs: (45 * 1 + 28 * 7/15) / 73.
    far = {"id": 99, "kp": at(600, 600)}
    a_gt = seq([frame([{"id": 1, "kp": at(0, 0)}]) for _ in range(3)], "000001_a")
    a_pr = seq([frame([{"id": 5, "kp": at(0, 0)}] + ([far] if t == 0 else [])) for t in range(3)], "000001_a")
    no_top = np.ones(15, bool)
    no_top[J["head_top"]] = False
    b_gt = seq([frame([{"id": 1, "kp": at(0, 0), "vis": no_top}]) for _ in range(2)], "000002_b")
    b_pr = seq([frame([{"id": i, "kp": at(0, 0), "vis": no_top}]) for i in (10, 20)], "000002_b")
    r = evaluate_hota([(a_gt, a_pr), (b_gt, b_pr)])
    t = r.hota_totals()
    det_a, ass_a = 73 / 88, (45 + 28 * 7 / 15) / 73
    assert t["DetA"] == pytest.approx(100 * det_a)
    assert t["AssA"] == pytest.approx(100 * ass_a)
    assert t["HOTA"] == pytest.approx(100 * math.sqrt(det_a * ass_a))
    assert t["DetRe"] == pytest.approx(100) and t["DetPr"] == pytest.approx(100 * det_a)
    # the per-joint table combines sequences joint by joint: head_top only has sequence A
    top, knee = J["head_top"], J["right_knee"]
    assert r.hota["AssA"][top] == pytest.approx(100) and r.hota["AssA"][knee] == pytest.approx(100 * 4 / 5)
    assert r.hota["DetA"][top] == pytest.approx(100 * 3 / 4) and r.hota["DetA"][knee] == pytest.approx(100 * 5 / 6)
    # the mean of the joints, hrtrack's former Total, is another number
    assert abs(np.mean(r.hota["AssA"]) - t["AssA"]) > 1


@pytest.mark.parametrize("strict_hota", [False, True])
def test_hota_empty_prediction_frame_quirk_by_hand(strict_hota):
    # one person, 3 labelled frames, predicted perfectly in frames 0-1 and not at all in frame 2.
    # The kit adds the whole sequence's 3 ground-truth joints (per joint) to FN for frame 2: DetA 2/5;
    # the frame's own count (--strict-hota) adds 1: DetA 2/3. AssA = 2 / (3 + 2 - 2) either way.
    gt = seq([frame([{"id": 1, "kp": at(0, 0)}]) for _ in range(3)])
    pr = seq([frame([{"id": 1, "kp": at(0, 0)}]) for _ in range(2)] + [frame([])])
    e = PoseTrackEvaluator(hota=True, strict_hota=strict_hota)
    e.add_sequence(gt, pr)
    r = e.result()
    det_a = 2 / 3 if strict_hota else 2 / 5
    np.testing.assert_allclose(r.hota["DetA"], 100 * det_a)
    t = r.hota_totals()
    assert t["DetA"] == pytest.approx(100 * det_a) and t["AssA"] == pytest.approx(100 * 2 / 3)
    assert t["HOTA"] == pytest.approx(100 * math.sqrt(det_a * 2 / 3))
    assert r.summary()["settings"]["strict_hota"] is strict_hota
    # a sequence without any prediction counts its ground truth once, in both modes
    empty = seq([frame([]) for _ in range(3)])
    for frames in empty.frames:
        frames.is_labeled = True
    e = PoseTrackEvaluator(hota=True, strict_hota=strict_hota)
    e.add_sequence(gt, empty)
    assert e.result().hota_totals()["DetA"] == 0.0 and e._hota.fn[0].tolist() == [3] * 15


def test_hota_joint_rule_and_frames_are_the_kits():
    # At origin (0, 0) three joints of both people lie at y = 0 (right ankle, knee, hip) and five more of A
    # at x = 0: the kit reads them as absent on both sides. Three joints then have no ground truth at all,
    # which count 0 in the sequence's joint mean of AssA: AssA = 12/15, DetA = 1, HOTA = sqrt(0.8).
    g, p = two_people(4)
    r = evaluate_hota([(g, p)])
    t = r.hota_totals()
    assert t["DetA"] == pytest.approx(100) and t["AssA"] == pytest.approx(80)
    assert t["HOTA"] == pytest.approx(100 * math.sqrt(0.8))
    assert r.hota["DetA"][J["right_ankle"]] == 0 and r.hota["DetA"][J["left_ankle"]] == 100
    # poseval's rule (mAP, MOTA) keeps every annotated joint of these PoseTrack 2017 frames
    assert r.summary()["mAP"]["Total"] == 100.0 and r.num_gt_joints.sum() == 4 * 30
    # HOTA scores the frames the ground truth marks labelled: an identity swap in an unlabelled frame
    # changes MOTA but not HOTA; a labelled frame without ground-truth people makes its predictions FP
    g, p = two_people(3, ids_a=[10, 20, 10], ids_b=[20, 10, 20], origin=(50, 50))
    g.frames[1].is_labeled = False
    g.frames.append(frame([]))
    g.frames[-1].is_labeled = True
    p.frames.append(frame([{"id": 30, "kp": at(0, 0)}]))
    r = evaluate_hota([(g, p)])
    np.testing.assert_allclose(r.hota["AssA"], 100.0)
    np.testing.assert_allclose(r.hota["DetA"], 100 * 4 / 5)
    assert r.mot_counts[:, ClearMotFields.index("num_switches")].sum() > 0


def test_hota_ignore_region_drops_people_as_the_kit(tmp_path):
    # In a frame with an ignore region the kit drops a person when each joint is inside or at x <= 0 AND
    # y <= 0. A PoseTrack21 prediction whose only joint is written at (-3, 80) is absent but keeps its
    # person, so frame 1 is not empty: FN is the frame's own 1 per joint (DetA 2/3). At (-3, -3) the
    # person is dropped, the frame is empty, and the kit's quirk adds the sequence's 3: DetA 2/5.
    region = [np.array([[500, 500], [520, 500], [510, 520]], np.float32)]
    gt = seq([frame([{"id": 1, "kp": at(0, 0)}], region if t == 1 else None) for t in range(3)])
    for xy, det_a in (((-3.0, 80.0), 2 / 3), ((-3.0, -3.0), 2 / 5)):
        lone = np.zeros(15, bool)
        lone[0] = True
        kp = at(0, 0)
        kp[0] = xy
        pr = seq([frame([{"id": 1, "kp": at(0, 0)}]), frame([{"id": 1, "kp": kp, "vis": lone}]),
                  frame([{"id": 1, "kp": at(0, 0)}])])
        pred_dir = tmp_path / f"pred{xy[1]}"
        _write_pairs([(gt, pr)], tmp_path / f"gt{xy[1]}", pred_dir, write_posetrack21)
        r = evaluate_folders(tmp_path / f"gt{xy[1]}", pred_dir, progress=False, hota=True)
        np.testing.assert_allclose(r.hota["DetA"], 100 * det_a)


def test_posetrack21_predictions_need_the_ground_truths_image_ids(tmp_path, capsys):
    g, p = two_people(3, origin=(50, 50))
    for s_ in (g, p):
        for t, f in enumerate(s_.frames):
            f.image_id = 100 + t
    p.frames[2].image_id = 7
    _write_pairs([(g, p)], tmp_path / "gt", tmp_path / "pred", write_posetrack21)
    err = _cli_error(tmp_path, capsys, "--hota")
    assert f"{tmp_path / 'pred' / (p.name + '.json')}: frame 2 has image id 7 but the ground truth" in err
    # the same predictions as a PoseTrack 2018 file are read as PoseTrack21 (their ground truth's format)
    p.frames[2].image_id = 102
    write_posetrack18(p, tmp_path / "pred" / f"{p.name}.json")
    r = evaluate_folders(tmp_path / "gt", tmp_path / "pred", progress=False, hota=True)
    assert r.hota_totals()["HOTA"] == pytest.approx(100)


def evaluate_hota(pairs) -> ev.PoseTrackResult:
    e = PoseTrackEvaluator(hota=True)
    for g, p in pairs:
        e.add_sequence(g, p)
    return e.result()


def reference_hota(pairs, strict_hota: bool = False) -> dict[str, np.ndarray]:
    """Per joint and Totals with loops: the kit's accumulation, keypoint similarity, empty-frame quirk and Total."""
    from scipy.optimize import linear_sum_assignment

    alphas = np.arange(0.05, 0.99, 0.05)
    a_n = len(alphas)
    tp, fn, fp, loc = (np.zeros((a_n, 15)) for _ in range(4))
    ass = np.zeros((3, a_n, 15))
    total_ass, total_loc = np.zeros(a_n), np.zeros(a_n)
    idtp, n_gt, n_pr = np.zeros(15), np.zeros(15), np.zeros(15)
    for g, p in pairs:
        frames = ev.hota_frames(g, p, g.name, p.name)
        if not frames:
            continue
        no_prediction = all(len(f.pr_ids) == 0 for f in frames)
        seq_tp, seq_ass, seq_loc = np.zeros((a_n, 15)), np.zeros((a_n, 15)), np.zeros((a_n, 15))
        for j in range(15):
            seq_gt = sum(int(f.gt_has[:, j].sum()) for f in frames)
            pair_tp = [dict() for _ in alphas]
            gt_count, pr_count, together = {}, {}, {}
            for f in frames:
                d = ev.joint_distances(f.gt_xy, f.gt_has, f.head_size, f.pr_xy, f.pr_has)
                for k, tid in enumerate(f.gt_ids):
                    gt_count[tid] = gt_count.get(tid, 0) + int(f.gt_has[k, j])
                for i, pid in enumerate(f.pr_ids):
                    pr_count[pid] = pr_count.get(pid, 0) + int(f.pr_has[i, j])
                sim = np.zeros((len(f.gt_ids), len(f.pr_ids)))
                for k in range(len(f.gt_ids)):
                    for i in range(len(f.pr_ids)):
                        dist = d[i, k, j]
                        sim[k, i] = max(0.0, 1 - dist / 0.5001) if np.isfinite(dist) else 0.0
                        if dist <= 0.5:
                            key = (f.gt_ids[k], f.pr_ids[i])
                            together[key] = together.get(key, 0) + 1
                if no_prediction:
                    continue
                if len(f.pr_ids) == 0:
                    fn[:, j] += seq_gt if len(f.gt_ids) and not strict_hota else f.gt_has[:, j].sum()
                    continue
                rows, cols = linear_sum_assignment(sim, maximize=True)
                for a, alpha in enumerate(alphas):
                    hits = [(r, c) for r, c in zip(rows, cols) if sim[r, c] > 0 and sim[r, c] >= alpha - 1e-15]
                    seq_tp[a, j] += len(hits)
                    fn[a, j] += f.gt_has[:, j].sum() - len(hits)
                    fp[a, j] += f.pr_has[:, j].sum() - len(hits)
                    for r, c in hits:
                        seq_loc[a, j] += sim[r, c]
                        key = (f.gt_ids[r], f.pr_ids[c])
                        pair_tp[a][key] = pair_tp[a].get(key, 0) + 1
            if no_prediction:
                fn[:, j] += seq_gt
            for a in range(a_n):
                for (gid, pid), n in pair_tp[a].items():
                    seq_ass[a, j] += n * n / max(1, gt_count[gid] + pr_count[pid] - n)
                    ass[1, a, j] += n * n / max(1, gt_count[gid])
                    ass[2, a, j] += n * n / max(1, pr_count[pid])
            gids, pids = sorted(gt_count), sorted(pr_count)
            w = np.array([[together.get((gid, pid), 0) for pid in pids] for gid in gids]).reshape(len(gids), len(pids))
            r, c = linear_sum_assignment(w, maximize=True)
            idtp[j] += w[r, c].sum()
            n_gt[j] += sum(gt_count.values())
            n_pr[j] += sum(pr_count.values())
        tp += seq_tp
        ass[0] += seq_ass
        loc += seq_loc
        for a in range(a_n):
            seq_mean_ass = np.mean([seq_ass[a, j] / max(1, seq_tp[a, j]) for j in range(15)])
            seq_mean_loc = np.mean([max(1e-10, seq_loc[a, j]) / max(1e-10, seq_tp[a, j]) for j in range(15)])
            total_ass[a] += seq_mean_ass * seq_tp[a].sum()
            total_loc[a] += seq_mean_loc * seq_tp[a].sum()
    det_a = tp / np.maximum(1, tp + fn + fp)
    ass_a = ass[0] / np.maximum(1, tp)
    t_tp, t_fn, t_fp = tp.sum(1), fn.sum(1), fp.sum(1)
    t_det = t_tp / np.maximum(1, t_tp + t_fn + t_fp)
    t_ass = total_ass / np.maximum(1, t_tp)
    return {"HOTA": 100 * np.sqrt(det_a * ass_a).mean(0), "DetA": 100 * det_a.mean(0),
            "AssA": 100 * ass_a.mean(0), "AssRe": 100 * (ass[1] / np.maximum(1, tp)).mean(0),
            "AssPr": 100 * (ass[2] / np.maximum(1, tp)).mean(0),
            "LocA": 100 * (np.maximum(1e-10, loc) / np.maximum(1e-10, tp)).mean(0),
            "IDF1": 100 * 2 * idtp / (n_gt + n_pr),
            "Total": {"HOTA": 100 * np.sqrt(t_det * t_ass).mean(), "DetA": 100 * t_det.mean(),
                      "AssA": 100 * t_ass.mean(),
                      "LocA": 100 * (np.maximum(1e-10, total_loc) / np.maximum(1e-10, t_tp)).mean()}}


@pytest.mark.parametrize("strict_hota", [False, True])
@pytest.mark.parametrize("seed", [3, 4])
def test_hota_equals_loop_reference(seed, strict_hota):
    rng = np.random.default_rng(seed)
    pairs = [random_pair(rng, f"{s:06d}_hota") for s in range(3)]
    e = PoseTrackEvaluator(hota=True, strict_hota=strict_hota)
    for g, p in pairs:
        e.add_sequence(g, p)
    fast = e.result()
    expected = reference_hota(pairs, strict_hota)
    for name, value in expected.pop("Total").items():
        assert fast.hota_totals()[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    for name, value in expected.items():
        np.testing.assert_allclose(fast.hota[name], value, rtol=1e-9, atol=1e-9, err_msg=name)
    assert any(len(f.pr_ids) == 0 and len(f.gt_ids) for g, p in pairs for f in ev.hota_frames(g, p, "", "")), \
        "the random data must exercise the empty-frame quirk"
