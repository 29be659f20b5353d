"""Top-down training samples against the official HRNet rules, written out by hand in the tests:
crops and heatmap targets, joint flipping, half-body windows, augmentation draws, the
COCO / MPII / PoseTrack sample readers, and determinism by seed."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from hrtrack.formats.posetrack import PoseTrackFrame, PoseTrackSequence
from hrtrack.datasets.topdown import (TopDownDataset, TopDownSamples, find_annotations, load_coco, load_mpii,
                                      load_posetrack, open_split, read_coco)
from hrtrack.datasets.transforms import (clean_coco_boxes, flip_joints, half_body_center_scale, keypoint_boxes,
                                         normalise_crop, sample_scale_rotation, upper_body_mask)
from hrtrack.errors import HrtrackError
from hrtrack.models import HeatmapCodec
from hrtrack.skeleton import COCO, MPII, POSETRACK

CODEC = HeatmapCodec((96, 128), (24, 32), 2.0)
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def official_affine(center, scale, rot, output_size):
    """The official get_affine_transform (three points + cv2.getAffineTransform), forward direction."""
    src_w = scale[0] * 200.0
    dst_w, dst_h = output_size
    r = math.radians(rot)
    sn, cs = math.sin(r), math.cos(r)
    src_dir = np.array([-(-0.5 * src_w) * sn, (-0.5 * src_w) * cs])
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0], src[1] = center, np.asarray(center) + src_dir
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([0, dst_w * -0.5])
    for pts in (src, dst):
        d = pts[0] - pts[1]
        pts[2] = pts[1] + np.array([-d[1], d[0]])
    return cv2.getAffineTransform(src, dst)


def official_target(joints, vis, sigma=2.0, image_size=(96, 128), heatmap_size=(24, 32)):
    """The official generate_target, joint by joint (a slow reference)."""
    k = len(joints)
    target = np.zeros((k, heatmap_size[1], heatmap_size[0]), np.float32)
    weight = np.array(vis, np.float32).copy()
    tmp = sigma * 3
    stride = np.array(image_size) / np.array(heatmap_size)
    for j in range(k):
        mu_x, mu_y = int(joints[j][0] / stride[0] + 0.5), int(joints[j][1] / stride[1] + 0.5)
        ul = [int(mu_x - tmp), int(mu_y - tmp)]
        br = [int(mu_x + tmp + 1), int(mu_y + tmp + 1)]
        if ul[0] >= heatmap_size[0] or ul[1] >= heatmap_size[1] or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        size = int(2 * tmp + 1)
        x = np.arange(0, size, 1, np.float32)
        y = x[:, None]
        g = np.exp(-((x - size // 2) ** 2 + (y - size // 2) ** 2) / (2 * sigma ** 2))
        gx = max(0, -ul[0]), min(br[0], heatmap_size[0]) - ul[0]
        gy = max(0, -ul[1]), min(br[1], heatmap_size[1]) - ul[1]
        ix = max(0, ul[0]), min(br[0], heatmap_size[0])
        iy = max(0, ul[1]), min(br[1], heatmap_size[1])
        if weight[j] > 0.5:
            target[j][iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


def textured_image(seed: int, w: int = 200, h: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def one_sample(path, center, scale, joints, vis, num_joints=17) -> TopDownSamples:
    return TopDownSamples(np.array([str(path)]), np.array([center], np.float64), np.array([scale], np.float64),
                          np.asarray(joints, np.float32).reshape(1, num_joints, 2),
                          np.asarray(vis, np.float32).reshape(1, num_joints), np.ones(1, np.float32),
                          np.zeros(1, np.int64), np.full((1, 4), np.nan, np.float32))


# ----------------------------------------------------------------------------- crops and targets

def test_validation_crop_and_targets_match_hand_computed_values(tmp_path):
    image = textured_image(0)
    path = tmp_path / "im.png"
    cv2.imwrite(str(path), image)
    # A window of exactly 96 px width at (50, 40): crop pixel (u, v) is image pixel (u + 2, v - 24).
    center, scale = (50.0, 40.0), (96 / 200.0, 128 / 200.0)
    joints = np.zeros((17, 2))
    vis = np.zeros(17)
    joints[0], vis[0] = (22.0, 16.0), 1          # crop (20, 40): heatmap peak (5, 10)
    joints[5], vis[5] = (2.0 - 26.0, 0.0), 1     # crop (-26, 24): mu = (int(-6.0), 6), window reaches column 0
    joints[6], vis[6] = (2.0 - 40.0, 0.0), 1     # crop (-40, 24): mu_x = int(-9.5) = -9, window misses the map
    joints[7], vis[7] = (30.0, 30.0), 0          # unlabelled
    ds = TopDownDataset(one_sample(path, center, scale, joints, vis), CODEC, COCO, train=False)
    crop, target, weight, meta = ds[0]

    expected_crop = image[np.clip(np.arange(128)[:, None] - 24, 0, None), np.arange(96)[None, :] + 2]
    expected_crop[:24] = 0  # rows above the image are black
    rgb = expected_crop[..., ::-1] / 255.0
    np.testing.assert_allclose(crop.numpy().transpose(1, 2, 0), (rgb - MEAN) / STD, atol=1e-5)

    assert target.shape == (17, 32, 24) and weight.shape == (17, 1)
    assert weight[:, 0].tolist() == [1.0] + [0.0] * 4 + [1.0] + [0.0] * 11
    t0 = target[0].numpy()
    assert t0[10, 5] == 1.0 and np.unravel_index(t0.argmax(), t0.shape) == (10, 5)
    assert t0[10, 6] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert t0[12, 7] == pytest.approx(math.exp(-8 / 8), rel=1e-6)
    assert t0[10, 12] == 0.0 and t0[10, 11] == pytest.approx(math.exp(-36 / 8), rel=1e-6)  # cut at 3 sigma
    # Joint 5: only column 0 (6 px right of the centre) of its window is on the map, rows 0..12.
    t5 = target[5].numpy()
    assert t5[6, 0] == pytest.approx(math.exp(-36 / 8), rel=1e-6)
    assert t5[0, 0] == pytest.approx(math.exp(-72 / 8), rel=1e-5)
    assert t5[:, 1:].sum() == 0 and (t5[13:, 0] == 0).all()
    assert target[6].sum() == 0 and target[7].sum() == 0
    assert meta["rotation"] == 0.0
    np.testing.assert_allclose(meta["center"], center)


def test_rotated_scaled_crop_equals_official_warp(tmp_path):
    image = textured_image(1)
    path = tmp_path / "im.png"
    cv2.imwrite(str(path), image)
    rng = np.random.default_rng(3)
    joints = np.column_stack([rng.uniform(40, 160, 17), rng.uniform(30, 130, 17)])
    vis = (rng.random(17) < 0.8).astype(np.float32)
    samples = one_sample(path, (100.0, 80.0), (0.6, 0.8), joints, vis)
    # Scale and rotation on, flip and half-body off: find an index-free draw by choosing the seed.
    ds = TopDownDataset(samples, CODEC, COCO, train=True, seed=0, flip=False, half_body_prob=0.0)
    for seed in range(50):
        ds.seed = seed
        center, scale, rot, flipped = ds.augment(0, image.shape[1])
        if rot != 0.0:
            break
    assert rot != 0.0 and not flipped
    crop, target, weight, _ = ds[0]
    mat = official_affine(center, scale, rot, (96, 128))
    ref = cv2.warpAffine(image, mat, (96, 128), flags=cv2.INTER_LINEAR)
    got = np.rint((crop.numpy().transpose(1, 2, 0) * STD + MEAN) * 255.0)[..., ::-1]
    assert np.abs(got - ref).max() <= 1
    moved = joints @ mat[:, :2].T + mat[:, 2]
    ref_t, ref_w = official_target(moved, vis)
    np.testing.assert_allclose(target.numpy(), ref_t, atol=1e-6)
    np.testing.assert_array_equal(weight.numpy()[:, 0], ref_w)


def test_flipped_sample_is_the_official_mirror(tmp_path):
    image = textured_image(2)
    path = tmp_path / "im.png"
    cv2.imwrite(str(path), image)
    joints = np.zeros((17, 2))
    vis = np.zeros(17)
    joints[5], vis[5] = (90.0, 60.0), 1  # left shoulder
    joints[0], vis[0] = (100.0, 40.0), 1
    ds = TopDownDataset(one_sample(path, (100.0, 80.0), (0.5, 0.66), joints, vis), CODEC, COCO, train=True,
                        scale_factor=0.0, rotation_prob=0.0, half_body_prob=0.0)
    for seed in range(50):
        ds.seed = seed
        if ds.augment(0, image.shape[1])[3]:
            break
    crop, target, weight, meta = ds[0]
    w = image.shape[1]
    mirrored = np.ascontiguousarray(image[:, ::-1])
    # The official code mirrors the image and the center (W - 1 - x) and crops the mirror.
    center = (w - 1 - 100.0, 80.0)
    np.testing.assert_allclose(meta["center"], center)
    ref = cv2.warpAffine(mirrored, official_affine(center, (0.5, 0.66), 0, (96, 128)), (96, 128),
                         flags=cv2.INTER_LINEAR)
    got = np.rint((crop.numpy().transpose(1, 2, 0) * STD + MEAN) * 255.0)[..., ::-1]
    assert np.abs(got - ref).max() <= 1
    # The left shoulder becomes the right shoulder (slot 6) at x' = W - 1 - 90.
    assert weight[5, 0] == 0 and weight[6, 0] == 1 and weight[0, 0] == 1
    mat = official_affine(center, (0.5, 0.66), 0, (96, 128))
    ref_t, _ = official_target((np.array([[w - 1 - 90.0, 60.0]]) @ mat[:, :2].T + mat[:, 2]), [1])
    np.testing.assert_allclose(target[6].numpy(), ref_t[0], atol=1e-6)


def test_flip_joints_swaps_pairs_and_mirrors_x():
    joints = np.arange(34, dtype=np.float64).reshape(17, 2)
    vis = np.ones(17)
    vis[16] = 0
    out, out_vis = flip_joints(joints, vis, 100, COCO.flip_index)
    assert out[0].tolist() == [99 - 0, 1]              # nose stays in its slot
    assert out[1].tolist() == [99 - 4, 5]              # left_eye <- right_eye (2)
    assert out[6].tolist() == [99 - 10, 11]            # right_shoulder <- left_shoulder (5)
    assert out_vis[15] == 0 and out[15].tolist() == [0, 0]  # left_ankle <- unlabelled right_ankle: zeroed
    assert out_vis[16] == 1 and out[16].tolist() == [99 - 30, 31]
    assert joints[0, 0] == 0  # input untouched
    pt, _ = flip_joints(joints, np.ones(17), 100, POSETRACK.flip_index)
    # head_bottom / head_top are not a left-right pair.
    assert pt[1].tolist() == [99 - 2, 3] and pt[2].tolist() == [99 - 4, 5]
    assert pt[3].tolist() == [99 - 8, 9]
    # Flipping twice gives the joints back.
    back, _ = flip_joints(*flip_joints(joints, np.ones(17), 100, COCO.flip_index), 100, COCO.flip_index)
    np.testing.assert_allclose(back, joints)


# ----------------------------------------------------------------------------- half-body and draws

def test_upper_body_split_matches_the_official_ids():
    assert np.flatnonzero(upper_body_mask(COCO)).tolist() == list(range(11))
    assert np.flatnonzero(upper_body_mask(POSETRACK)).tolist() == list(range(11))
    assert np.flatnonzero(upper_body_mask(MPII)).tolist() == [7, 8, 9, 10, 11, 12, 13, 14, 15]


def test_half_body_window_by_hand():
    joints = np.zeros((17, 2))
    vis = np.zeros(17)
    # Upper body: three joints spanning 30 x 90 px; lower body: two joints (too few).
    joints[[0, 5, 6]] = [[100, 50], [85, 110], [115, 140]]
    vis[[0, 5, 6]] = 1
    joints[[11, 13]] = [[100, 200], [100, 260]]
    vis[[11, 13]] = 1
    upper = upper_body_mask(COCO)
    for seed in range(5):  # whatever the draw, only the upper body qualifies
        center, scale = half_body_center_scale(joints, vis, upper, 0.75, np.random.default_rng(seed))
        np.testing.assert_allclose(center, [100, 100])
        # w = 30 < 0.75 * 90 -> w = 67.5; scale = (67.5, 90) / 200 * 1.5
        np.testing.assert_allclose(scale, [67.5 / 200 * 1.5, 90 / 200 * 1.5])
    # Lower body with 3 joints and upper with 2: the lower body is chosen.
    vis2 = np.zeros(17)
    vis2[[0, 5, 11, 13, 15]] = 1
    joints[15] = [130, 300]
    center, scale = half_body_center_scale(joints, vis2, upper, 0.75, np.random.default_rng(0))
    np.testing.assert_allclose(center, [110, 253.3333333], rtol=1e-6)
    np.testing.assert_allclose(scale, [75 / 200 * 1.5, 100 / 200 * 1.5])
    # Fewer than two selected joints: no half-body window.
    vis3 = np.zeros(17)
    vis3[0] = 1
    assert half_body_center_scale(joints, vis3, upper, 0.75, np.random.default_rng(0)) is None


def test_half_body_prefers_the_upper_body_as_officially():
    joints = np.random.default_rng(0).uniform(0, 100, (17, 2))
    upper = upper_body_mask(COCO)
    picks = []
    for seed in range(3000):
        center, _ = half_body_center_scale(joints, np.ones(17), upper, 0.75, np.random.default_rng(seed))
        picks.append(np.allclose(center, joints[upper].mean(0)))
    # P(N(0,1) < 0.5) = 0.6915 (the official `np.random.randn() < 0.5`).
    assert abs(np.mean(picks) - 0.6915) < 0.03


def test_scale_and_rotation_draws_follow_the_official_distribution():
    draws = [sample_scale_rotation(np.random.default_rng(s), 0.35, 45.0) for s in range(4000)]
    scales = np.array([d[0] for d in draws])
    rots = np.array([d[1] for d in draws])
    assert scales.min() >= 0.65 and scales.max() <= 1.35
    # Clipping at +-1 sigma: P(|N| > 1) = 0.3173, half on each side.
    assert abs(np.mean(scales == 1.35) - 0.1587) < 0.025
    assert abs(np.mean(rots != 0) - 0.6) < 0.03
    assert np.abs(rots).max() <= 90
    assert abs(np.std(rots[rots != 0]) - 45) < 4
    s, r = sample_scale_rotation(np.random.default_rng(1), 0.25, 30.0, rotation_prob=0.0)
    assert r == 0.0 and 0.75 <= s <= 1.25


def test_keypoint_boxes_and_coco_box_cleaning_by_hand():
    kp = np.array([[[10, 20], [30, 60], [0, 0]], [[5, 5], [5, 5], [5, 5]]], np.float64)
    vis = np.array([[1, 1, 0], [0, 0, 0]])
    boxes = keypoint_boxes(kp, vis, 0.15)
    # 20 x 40 box centred at (20, 40), sides x 1.15 -> 23 x 46
    np.testing.assert_allclose(boxes[0], [8.5, 17.0, 31.5, 63.0])
    assert np.isnan(boxes[1]).all()
    clean, valid = clean_coco_boxes(np.array([[-5, 10, 50, 20], [600, 400, 100, 100], [10, 10, 0.5, 0.5]]),
                                    640, 480)
    np.testing.assert_allclose(clean[0], [0, 10, 0 + 49, 10 + 19])
    np.testing.assert_allclose(clean[1], [600, 400, 639, 479])
    np.testing.assert_allclose(clean[2], [10, 10, 10, 10])
    assert valid.tolist() == [True, True, True]


def test_normalise_crop_is_rgb_imagenet():
    crop = np.zeros((2, 3, 3), np.uint8)
    crop[0, 0] = (10, 20, 30)  # B, G, R
    out = normalise_crop(crop)
    assert out.shape == (3, 2, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], (np.array([30, 20, 10]) / 255 - MEAN) / STD, rtol=1e-5)


# ----------------------------------------------------------------------------- readers

def _coco_file(tmp_path):
    def ann(i, kps, bbox, area=100.0, crowd=0):
        flat = []
        for x, y, v in kps:
            flat += [x, y, v]
        return {"id": i, "image_id": 1, "category_id": 1, "bbox": bbox, "area": area, "iscrowd": crowd,
                "keypoints": flat, "num_keypoints": sum(1 for *_, v in kps if v > 0)}

    good = [(0, 0, 0)] * 17
    good[0] = (50, 40, 2)
    good[5] = (45, 60, 1)
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO.joint_names), "skeleton": []}],
        "annotations": [
            ann(1, good, [30, 20, 41, 61]),                  # kept; x2 = min(99, 30 + 40), y2 = min(79, 20 + 60)
            ann(2, [(0, 0, 0)] * 17, [0, 0, 10, 10]),        # no keypoints
            ann(3, good, [0, 0, 10, 10], crowd=1),           # crowd
            ann(4, good, [0, 0, 10, 10], area=0.0),          # zero area
        ],
    }
    path = tmp_path / "person_keypoints_x.json"
    path.write_text(json.dumps(data))
    return path


def test_coco_reader_skips_crowd_and_empty_people_and_cleans_boxes(tmp_path):
    samples = load_coco(read_coco(_coco_file(tmp_path)), tmp_path / "images", aspect_ratio=0.75)
    assert len(samples) == 1
    # clean box x1=30, y1=20, x2=70, y2=79 -> w=40, h=59; 40 < 0.75*59 -> w = 44.25
    np.testing.assert_allclose(samples.centers[0], [50.0, 49.5])
    np.testing.assert_allclose(samples.scales[0], [44.25 / 200 * 1.25, 59 / 200 * 1.25])
    assert samples.visible[0, 0] == 1 and samples.visible[0, 5] == 1 and samples.visible[0].sum() == 2
    assert samples.joints[0, 5].tolist() == [45, 60]
    assert samples.images[0].endswith("a.jpg")


def test_mpii_reader_applies_the_official_center_scale_adjustment(tmp_path):
    entry = {"image": "x.jpg", "center": [101.0, 201.0], "scale": 2.0,
             "joints": [[11.0 + j, 21.0] for j in range(16)], "joints_vis": [1] * 15 + [0],
             "head_box": [1, 1, 11, 21]}
    path = tmp_path / "valid.json"
    path.write_text(json.dumps([entry]))
    s = load_mpii(path, tmp_path / "images")
    np.testing.assert_allclose(s.centers[0], [100.0, 200.0 + 15 * 2.0])  # 0-based, moved down 15 x scale
    np.testing.assert_allclose(s.scales[0], [2.5, 2.5])
    np.testing.assert_allclose(s.joints[0, 3], [13.0, 20.0])
    assert s.visible[0, 15] == 0
    np.testing.assert_allclose(s.head_boxes[0], [0, 0, 10, 20])


def test_posetrack_reader_boxes_from_keypoints(tmp_path):
    kp = np.zeros((2, 17, 2), np.float32)
    vis = np.zeros((2, 17), bool)
    kp[0, [0, 5, 16]] = [[100, 50], [80, 100], [120, 250]]
    vis[0, [0, 5, 16]] = True
    kp[1, 0] = [10, 10]
    vis[1, 0] = True  # a single joint: no box, skipped
    frame = PoseTrackFrame("images/val/s/000000.jpg", True, kp, vis, np.ones((2, 17)), np.array([0, 1]),
                           np.ones(2), np.array([[90, 40, 110, 60], [0, 0, 5, 5]]), np.full((2, 4), np.nan))
    unlabelled = PoseTrackFrame("images/val/s/000001.jpg", False, kp, vis, np.ones((2, 17)), np.array([0, 1]),
                                np.ones(2), np.full((2, 4), np.nan), np.full((2, 4), np.nan))
    seq = PoseTrackSequence("s", [unlabelled, frame])
    s = load_posetrack([seq], tmp_path, aspect_ratio=0.75)
    assert len(s) == 1 and s.image_ids.tolist() == [1]
    # keypoint box 40 x 200 centred at (100, 150) -> x1.15 -> 46 x 230 -> aspect 0.75 -> 172.5 x 230
    np.testing.assert_allclose(s.centers[0], [100, 150])
    np.testing.assert_allclose(s.scales[0], [172.5 / 200 * 1.25, 230 / 200 * 1.25])
    assert s.images[0] == str(tmp_path / "images/val/s/000000.jpg")
    np.testing.assert_allclose(s.head_boxes[0], [90, 40, 110, 60])


def test_synthetic_root_is_found_in_every_format(synthetic_dataset):
    root = synthetic_dataset.root
    for fmt, joints in (("coco", 17), ("mpii", 16), ("posetrack", 17)):
        split = open_split(fmt, root, "train", aspect_ratio=0.75, num_joints=joints)
        assert len(split.samples) > 0
        assert all(p.endswith(".jpg") for p in split.samples.images[:3])
        ds = TopDownDataset(split.samples, CODEC, {"coco": COCO, "mpii": MPII, "posetrack": POSETRACK}[fmt],
                            train=True)
        image, target, weight, _ = ds[0]
        assert image.shape == (3, 128, 96) and target.shape == (joints, 32, 24)
    with pytest.raises(HrtrackError, match="no coco annotations for split 'nope'"):
        find_annotations("coco", root, "nope")


# ----------------------------------------------------------------------------- determinism

def test_augmentation_is_deterministic_by_seed_epoch_and_index(synthetic_dataset):
    split = open_split("coco", synthetic_dataset.root, "train", aspect_ratio=0.75, num_joints=17)
    samples = split.samples.take(np.arange(min(12, len(split.samples))))

    def batches(seed, epoch, workers):
        ds = TopDownDataset(samples, CODEC, COCO, train=True, seed=seed)
        ds.set_epoch(epoch)
        loader = DataLoader(ds, batch_size=4, num_workers=workers)
        return [(b[0], b[1], b[3]["rotation"]) for b in loader]

    a = batches(0, 0, 0)
    b = batches(0, 0, 2)
    for (xa, ta, ra), (xb, tb, rb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ta, tb) and torch.equal(ra, rb)
    c = batches(0, 1, 0)
    d = batches(1, 0, 0)
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, c))
    assert not all(torch.equal(x[0], y[0]) for x, y in zip(a, d))
