"""COCO keypoint evaluation: the official HRNet post-processing, results files, and pycocotools' COCOeval.

Post-processing as the official HRNet code does it before writing results:
rescoring (person score = box score x mean of the keypoint scores above
`in_vis_thre`, 0 when none is) then, per image, greedy OKS-NMS at 0.9 with the
padded box area as the OKS area (`hrtrack.tracking.oks.oks_nms`, joints unmasked
as the official call passes no `in_vis_thre`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from ..errors import HrtrackError
from ..fileio import read_json, write_json_atomic
from ..skeleton import COCO_SIGMAS
from ..tracking.oks import oks_nms, person_scores

STAT_NAMES = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
NUM_COCO_KEYPOINTS = 17




def rescore_and_nms(image_ids: np.ndarray, keypoints: np.ndarray, keypoint_scores: np.ndarray,
                    box_scores: np.ndarray, areas: np.ndarray, in_vis_thre: float = 0.2,
                    oks_nms_threshold: float = 0.9, sigmas: np.ndarray = COCO_SIGMAS) -> tuple[np.ndarray, np.ndarray]:
    """Rescore every person, then OKS-NMS within each image (official HRNet COCO post-processing).

    Args:
        image_ids: (N,) image of each person.
        keypoints: (N,K,2) x,y pixels; keypoint_scores: (N,K).
        box_scores: (N,) detection scores.
        areas: (N,) padded box areas (the official code's `scale_w * scale_h * 200**2`).

    Returns:
        keep (P,) int64 indices of the kept people, grouped by image (sorted ids), each
        image's by decreasing new score; scores (N,) float64 new person scores.
    """
    image_ids = np.asarray(image_ids)
    scores = person_scores(box_scores, keypoint_scores, in_vis_thre)
    keep = []
    for image in np.unique(image_ids):
        idx = np.flatnonzero(image_ids == image)
        kept = oks_nms(keypoints[idx], keypoint_scores[idx], scores[idx], np.asarray(areas)[idx],
                       oks_nms_threshold, sigmas)
        keep.append(idx[kept])
    return (np.concatenate(keep) if keep else np.zeros(0, np.int64)), scores


def keypoint_results(image_ids: np.ndarray, keypoints: np.ndarray, keypoint_scores: np.ndarray,
                     scores: np.ndarray, category_id: int = 1) -> list[dict[str, Any]]:
    """COCO keypoint results: `[{"image_id", "category_id", "keypoints": [x, y, s] * K, "score"}]`.

    Args:
        image_ids: (N,) int image ids; keypoints: (N,K,2) x,y pixels; keypoint_scores: (N,K);
        scores: (N,) person scores.
    """
    kp = np.concatenate([np.asarray(keypoints, np.float64), np.asarray(keypoint_scores, np.float64)[..., None]], 2)
    return [{"image_id": int(i), "category_id": category_id, "keypoints": k.reshape(-1).tolist(), "score": float(s)}
            for i, k, s in zip(image_ids, kp, np.asarray(scores, np.float64))]


def write_keypoint_results(path: str | os.PathLike, results: list[dict[str, Any]]) -> None:
    """Write COCO keypoint results JSON atomically."""
    write_json_atomic(path, results)


def _check_results(results: Any, image_ids: set[int], name: str) -> list[dict[str, Any]]:
    if not isinstance(results, list):
        raise HrtrackError(f"{name}: COCO results must be a JSON list, got {type(results).__name__}")
    for i, r in enumerate(results):
        if not isinstance(r, dict) or not {"image_id", "keypoints", "score"} <= set(r):
            raise HrtrackError(f"{name}: result {i} needs image_id, keypoints and score")
        if r["image_id"] not in image_ids:
            raise HrtrackError(f"{name}: result {i} has image_id {r['image_id']!r}, not in the ground truth")
        kp = r["keypoints"]
        if not isinstance(kp, list) or len(kp) != 3 * NUM_COCO_KEYPOINTS:
            raise HrtrackError(f"{name}: result {i} keypoints must be {3 * NUM_COCO_KEYPOINTS} numbers")
        if not isinstance(r["score"], (int, float)) or not np.isfinite(r["score"]):
            raise HrtrackError(f"{name}: result {i} score must be a finite number, got {r['score']!r}")
    return results


def evaluate_keypoints(gt: str | os.PathLike | dict, results: str | os.PathLike | list) -> dict[str, float]:
    """COCO keypoint AP / AR with pycocotools' COCOeval.

    Args:
        gt: a COCO keypoint annotation file (path) or its loaded dict.
        results: a keypoint results file (path) or the list of result dicts.

    Returns:
        {"AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"} in [0,1]
        (pycocotools' -1 where a category of objects is absent).
    """
    gt_name = str(gt) if not isinstance(gt, dict) else "ground truth"
    # COCOeval writes flags into the ground-truth annotations: work on a copy.
    gt_obj = copy.deepcopy(gt) if isinstance(gt, dict) else read_json(gt)
    if not isinstance(gt_obj, dict) or not {"images", "annotations", "categories"} <= set(gt_obj):
        raise HrtrackError(f"{gt_name}: not a COCO annotation file (needs images, annotations, categories)")
    res_name = str(results) if not isinstance(results, list) else "results"
    res_obj = results if isinstance(results, list) else read_json(results)
    res_obj = _check_results(res_obj, {img["id"] for img in gt_obj["images"]}, res_name)
    if not res_obj:
        return {name: 0.0 for name in STAT_NAMES}
    # pycocotools prints progress on stdout; keep the CLI's output to our own tables.
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_obj
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(r) for r in res_obj])
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}
