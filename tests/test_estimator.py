"""The estimator's geometry and decoding against the official code's rules, written
out slowly in the tests, plus the flip test and the codec round trip."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from hrtrack.geometry import apply_affine, boxes_to_center_scale, crop_matrices
from hrtrack.models import HeatmapCodec, PoseEstimator, build_pose_model
from hrtrack.tracking.oks import person_scores
from hrtrack.skeleton import COCO, POSETRACK


def official_affine(center, scale, rot, output_size, inv=False):
    """The official get_affine_transform: three points, then cv2.getAffineTransform."""
    src_w = scale[0] * 200.0
    dst_w, dst_h = output_size
    r = math.radians(rot)
    src_dir = np.array([0 * math.cos(r) - (-0.5 * src_w) * math.sin(r), 0 * math.sin(r) + (-0.5 * src_w) * math.cos(r)])
    dst_dir = np.array([0, dst_w * -0.5])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + dst_dir
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]])
    return cv2.getAffineTransform(dst, src) if inv else cv2.getAffineTransform(src, dst)


def official_box2cs(x, y, w, h, aspect):
    center = np.array([x + w * 0.5, y + h * 0.5])
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    return center, np.array([w / 200.0, h / 200.0]) * 1.25


def official_decode(hm):
    """get_max_preds + the quarter-offset post-processing, loop by loop."""
    n, k, h, w = hm.shape
    coords = np.zeros((n, k, 2))
    maxvals = np.zeros((n, k))
    for i in range(n):
        for j in range(k):
            idx = int(np.argmax(hm[i, j].reshape(-1)))
            maxvals[i, j] = hm[i, j].reshape(-1)[idx]
            if maxvals[i, j] > 0:
                coords[i, j] = [idx % w, idx // w]
            px, py = int(math.floor(coords[i, j, 0] + 0.5)), int(math.floor(coords[i, j, 1] + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                d = np.array([hm[i, j, py, px + 1] - hm[i, j, py, px - 1], hm[i, j, py + 1, px] - hm[i, j, py - 1, px]])
                coords[i, j] += np.sign(d) * 0.25
    return coords, maxvals


def test_center_scale_matches_official_box2cs():
    rng = np.random.default_rng(0)
    xywh = np.column_stack([rng.uniform(0, 500, 50), rng.uniform(0, 300, 50), rng.uniform(5, 300, 50), rng.uniform(5, 300, 50)])
    c, s = boxes_to_center_scale(np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]), 0.75)
    for i, (x, y, w, h) in enumerate(xywh):
        rc, rs = official_box2cs(x, y, w, h, 0.75)
        np.testing.assert_allclose(c[i], rc, atol=1e-9)
        np.testing.assert_allclose(s[i], rs, atol=1e-9)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0])
@pytest.mark.parametrize("inverse", [False, True])
def test_crop_matrices_match_official_construction(rot, inverse):
    rng = np.random.default_rng(1)
    centers = rng.uniform(50, 600, (10, 2))
    scales = rng.uniform(0.2, 2.0, (10, 1)) * np.array([[0.75, 1.0]])
    mats = crop_matrices(centers, scales, (192, 256), rot, inverse=inverse)
    for m, c, s in zip(mats, centers, scales):
        np.testing.assert_allclose(m, official_affine(c, s, rot, (192, 256), inverse), atol=1e-4, rtol=1e-5)


def test_crop_then_inverse_round_trip():
    rng = np.random.default_rng(2)
    centers = rng.uniform(0, 600, (20, 2))
    scales = rng.uniform(0.1, 3, (20, 2))
    rot = rng.uniform(-90, 90, 20)
    pts = rng.uniform(-100, 700, (20, 17, 2))
    fwd = crop_matrices(centers, scales, (288, 384), rot)
    inv = crop_matrices(centers, scales, (288, 384), rot, inverse=True)
    assert np.abs(apply_affine(apply_affine(pts, fwd), inv) - pts).max() < 1e-3


def test_decode_matches_official_rules_on_random_heatmaps():
    rng = np.random.default_rng(3)
    hm = rng.normal(size=(4, 17, 64, 48)).astype(np.float32)
    hm[0, 0] = -1.0  # max not positive: coordinates 0
    hm[1, 1, 0, 5] = 50.0  # peak on the border: no quarter step
    coords, maxvals = HeatmapCodec((192, 256), (48, 64)).decode(torch.from_numpy(hm))
    ref_c, ref_m = official_decode(hm)
    np.testing.assert_allclose(coords.numpy(), ref_c, atol=1e-6)
    np.testing.assert_allclose(maxvals.numpy(), ref_m, atol=1e-6)
    assert coords[0, 0].tolist() == [0.0, 0.0] and coords[1, 1].tolist() == [5.0, 0.0]


def test_gaussian_peak_at_subpixel_location_decodes_within_0_3px():
    h, w = 64, 48
    ys, xs = np.mgrid[0:h, 0:w]
    for x0, y0 in [(20.3, 30.8), (10.6, 12.1), (33.25, 50.75)]:
        hm = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * 2.0 ** 2)).astype(np.float32)
        coords, maxvals = HeatmapCodec((192, 256), (48, 64)).decode(torch.from_numpy(hm)[None, None])
        assert np.hypot(coords[0, 0, 0].item() - x0, coords[0, 0, 1].item() - y0) <= 0.3
        assert maxvals[0, 0] > 0.9


def test_codec_targets_match_official_generate_target():
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2)
    kpts = np.array([[[100.3, 50.9], [1.0, 1.0], [-40.0, 10.0], [191.9, 255.9], [-13.0, 100.0], [-30.0, 10.0]]])
    vis = np.array([[1, 1, 1, 1, 0, 1]])
    targets, weights = codec.encode(kpts, vis)
    for j, (x, y) in enumerate(kpts[0]):
        ref = np.zeros((64, 48))
        mu_x, mu_y = int(x / 4 + 0.5), int(y / 4 + 0.5)
        ul, br = [int(mu_x - 6), int(mu_y - 6)], [int(mu_x + 7), int(mu_y + 7)]
        wt = float(vis[0, j])
        if ul[0] >= 48 or ul[1] >= 64 or br[0] < 0 or br[1] < 0:
            wt = 0.0
        if wt > 0:
            g = np.exp(-((np.arange(13)[None, :] - 6) ** 2 + (np.arange(13)[:, None] - 6) ** 2) / 8.0)
            gx, gy = (max(0, -ul[0]), min(br[0], 48) - ul[0]), (max(0, -ul[1]), min(br[1], 64) - ul[1])
            ix, iy = (max(0, ul[0]), min(br[0], 48)), (max(0, ul[1]), min(br[1], 64))
            ref[iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
        assert weights[0, j] == wt, j
        np.testing.assert_allclose(targets[0, j], ref, atol=1e-6, err_msg=str(j))
    # Like the official code, a window ending exactly at column 0 keeps weight 1 with an empty target.
    assert weights[0].tolist() == [1, 1, 0, 1, 0, 1] and targets[0, 5].max() == 0


def test_codec_round_trip():
    codec = HeatmapCodec((192, 256), (48, 64), sigma=2)
    rng = np.random.default_rng(4)
    kpts = rng.uniform(12, 180, (3, 17, 2)) * np.array([1, 1.3])
    targets, _ = codec.encode(kpts, np.ones((3, 17)))
    coords, _ = codec.decode(torch.from_numpy(targets))
    # Targets are centred on the rounded stride-4 position: error <= half a heatmap pixel per axis.
    assert np.abs(coords.numpy() * 4 - kpts).max() <= 2.0 + 1e-6


def test_person_scores_rescoring():
    ks = np.array([[0.9, 0.1, 0.5], [0.1, 0.1, 0.1]], np.float32)
    np.testing.assert_allclose(person_scores(np.array([0.5, 1.0]), ks), [0.5 * 0.7, 0.0], atol=1e-6)


class BlobModel(nn.Module):
    """Heatmap j = the brightness of the input (stride 4), masked to the left half for
    joints listed in `left` and to the right half otherwise: a model whose answer is
    known for any input, so the flip test's arithmetic can be checked."""

    def __init__(self, num_joints, left):
        super().__init__()
        self.num_joints = num_joints
        self.left = torch.zeros(num_joints, dtype=torch.bool)
        self.left[list(left)] = True

    def forward(self, x):
        hm = nn.functional.avg_pool2d(x.mean(1, keepdim=True), 4)
        w = hm.shape[3]
        cols = torch.arange(w, device=x.device)
        mask = torch.where(self.left[:, None], cols[None, :] < w // 2, cols[None, :] >= w // 2)
        return hm * mask[None, :, None, :].to(hm.dtype)


def _symmetric_frame():
    frame = np.zeros((256, 192, 3), np.uint8)
    cv2.circle(frame, (60, 128), 7, (255, 255, 255), -1)
    cv2.circle(frame, (191 - 60, 128), 7, (255, 255, 255), -1)
    return frame


@pytest.mark.parametrize("layout", [COCO, POSETRACK])
def test_flip_test_on_symmetric_input_gives_symmetric_joints(layout):
    # COCO's "left" joints (odd slots from 1) sit on the image's left blob.
    left = [a for a, _ in layout.flip_pairs]
    est = PoseEstimator(BlobModel(17, left), (192, 256), layout=layout, device="cpu", fold_bn=False)
    frame = _symmetric_frame()
    poses = est(frame, np.array([[0, 32, 192, 224]], np.float32))
    kp = poses.keypoints[0]
    for a, b in layout.flip_pairs:
        # Mirror images about x = 95.5 (the frame's centre), within one heatmap pixel (the official shift).
        assert abs((kp[a, 0] + kp[b, 0]) - 191.0) <= 4.0 + 1e-3, (a, b, kp[a], kp[b])
        assert abs(kp[a, 1] - kp[b, 1]) <= 1e-3
        assert kp[a, 0] < 96 < kp[b, 0]
    if layout is COCO:
        # A table without the eye swap mixes a left heatmap with a right one: the eyes land elsewhere.
        wrong = PoseEstimator(BlobModel(17, left), (192, 256), layout=POSETRACK, device="cpu", fold_bn=False)
        kp_wrong = wrong(frame, np.array([[0, 32, 192, 224]], np.float32)).keypoints[0]
        assert not np.allclose(kp_wrong[1:3], kp[1:3], atol=2.0)


def test_estimator_maps_peaks_back_to_image_pixels():
    # Without flip test the blob model's left joint peak is the left blob's centre.
    est = PoseEstimator(BlobModel(17, [1]), (192, 256), device="cpu", fold_bn=False, flip_test=False)
    frame = np.zeros((400, 600, 3), np.uint8)
    cv2.circle(frame, (250, 210), 6, (255, 255, 255), -1)
    box = np.array([[200, 100, 400, 360]], np.float32)  # the blob is in the crop's left half
    poses = est(frame, box, np.array([0.8]))
    assert np.hypot(*(poses.keypoints[0, 1] - [250, 210])) <= 4.0
    assert poses.boxes.shape == (1, 4) and poses.scores.shape == (1,)


def test_estimate_frames_batches_several_frames_and_empty_boxes():
    torch.manual_seed(0)
    model = build_pose_model("w32_256x192")
    est = PoseEstimator(model, (192, 256), device="cpu")
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(3)]
    boxes = [np.array([[10, 10, 100, 200]], np.float32), np.zeros((0, 4), np.float32),
             np.array([[0, 0, 50, 60], [100, 20, 300, 230]], np.float32)]
    out = est.estimate_frames(frames, boxes)
    assert [len(p) for p in out] == [1, 0, 2]
    single = est(frames[2], boxes[2])
    np.testing.assert_allclose(single.keypoints, out[2].keypoints, atol=1e-3)
    np.testing.assert_allclose(single.keypoint_scores, out[2].keypoint_scores, atol=1e-5)


def test_fast_path_equals_plain_path():
    torch.manual_seed(0)
    model = build_pose_model("w32_256x192")
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.fill_(2.0)
            m.running_mean.fill_(0.1)
    rng = np.random.default_rng(6)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 150, 200], [100, 30, 300, 220]], np.float32)
    fast = PoseEstimator(model, (192, 256), device="cpu", fold_bn=True, channels_last=True)
    plain = PoseEstimator(model, (192, 256), device="cpu", fold_bn=False, channels_last=False)
    x = fast.normalise(fast.crop(frame, *boxes_to_center_scale(boxes, 0.75)))
    assert (fast.heatmaps(x) - plain.heatmaps(x.contiguous())).abs().max().item() < 1e-4
