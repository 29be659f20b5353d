"""The codec's sub-pixel options: DARK decoding and unbiased targets, UDP coordinates.

References are written out slowly here: DARK as the authors' code does it (OpenCV
blur of a zero-padded map, log, a 2x2 Hessian inverted with numpy, one joint at a
time) and UDP's warp matrix as MMPose's `get_warp_matrix` builds it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from hrtrack.geometry import apply_affine, crop_matrices
from hrtrack.models import HeatmapCodec, PoseEstimator, load_model_config
from hrtrack.skeleton import COCO

H, W = 64, 48


def gaussian_map(x0: float, y0: float, sigma: float = 2.0, h: int = H, w: int = W) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w]
    return np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def reference_dark(hm: np.ndarray, sigma: float) -> tuple[float, float]:
    """DARK on one map, as the authors' code: argmax, blur (zero border), max restored, log, Taylor step."""
    h, w = hm.shape
    idx = int(np.argmax(hm))
    px, py = idx % w, idx // w
    kernel = 2 * (math.ceil(3 * sigma) - 1) + 1
    border = (kernel - 1) // 2
    padded = np.zeros((h + 2 * border, w + 2 * border), np.float64)
    padded[border:-border, border:-border] = hm
    g1 = cv2.getGaussianKernel(kernel, sigma)
    blurred = cv2.sepFilter2D(padded, -1, g1, g1, borderType=cv2.BORDER_CONSTANT)[border:-border, border:-border]
    blurred *= hm.max() / blurred.max()
    f = np.log(np.maximum(blurred, 1e-10))
    dx = 0.5 * (f[py, px + 1] - f[py, px - 1])
    dy = 0.5 * (f[py + 1, px] - f[py - 1, px])
    dxx = 0.25 * (f[py, px + 2] - 2 * f[py, px] + f[py, px - 2])
    dyy = 0.25 * (f[py + 2, px] - 2 * f[py, px] + f[py - 2, px])
    dxy = 0.25 * (f[py + 1, px + 1] - f[py - 1, px + 1] - f[py + 1, px - 1] + f[py - 1, px - 1])
    offset = -np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([dx, dy])
    return px + offset[0], py + offset[1]


def test_dark_recovers_a_subpixel_gaussian_peak_where_the_quarter_offset_cannot():
    rng = np.random.default_rng(0)
    peaks = np.column_stack([rng.uniform(5, W - 6, 200), rng.uniform(5, H - 6, 200)])
    maps = torch.from_numpy(np.stack([gaussian_map(x, y) for x, y in peaks]))[None]
    dark, _ = HeatmapCodec((192, 256), (W, H), 2.0, dark=True).decode(maps)
    official, _ = HeatmapCodec((192, 256), (W, H), 2.0).decode(maps)
    dark_err = np.abs(dark[0].numpy() - peaks).max(axis=1)
    official_err = np.abs(official[0].numpy() - peaks).max(axis=1)
    assert dark_err.max() < 0.05
    # The quarter step can only land on a quarter-pixel grid: up to ~0.25 px off.
    assert official_err.max() > 0.2


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_dark_matches_the_slow_reference_on_noisy_maps(sigma):
    rng = np.random.default_rng(1)
    maps, refs = [], []
    for _ in range(20):
        hm = gaussian_map(rng.uniform(8, W - 9), rng.uniform(8, H - 9), sigma) * rng.uniform(0.3, 1.0)
        hm = hm + rng.normal(0, 0.02, hm.shape).astype(np.float32)
        maps.append(hm)
        refs.append(reference_dark(hm.astype(np.float64), sigma))
    coords, _ = HeatmapCodec((192, 256), (W, H), sigma, dark=True).decode(torch.from_numpy(np.stack(maps))[None])
    np.testing.assert_allclose(coords[0].numpy(), np.array(refs), atol=2e-3)


def test_dark_keeps_the_official_rule_where_the_neighbourhood_leaves_the_map():
    hm = np.zeros((3, H, W), np.float32)
    hm[0] = gaussian_map(1.2, 30.0)        # argmax in column 1: no 5x5 neighbourhood
    hm[1, 40, W - 2] = 1.0                  # a lone spike next to the border
    hm[2] = -1.0                            # no positive maximum: (0, 0)
    t = torch.from_numpy(hm)[None]
    dark, dmax = HeatmapCodec((192, 256), (W, H), dark=True).decode(t)
    official, omax = HeatmapCodec((192, 256), (W, H)).decode(t)
    np.testing.assert_array_equal(dark.numpy(), official.numpy())
    np.testing.assert_array_equal(dmax.numpy(), omax.numpy())
    assert dark[0, 2].tolist() == [0.0, 0.0]


def test_unbiased_targets_sit_on_the_exact_position_inside_the_official_window():
    kp = np.array([[[101.3, 50.9], [7.0, 250.2], [-40.0, 10.0]]])
    vis = np.ones((1, 3))
    targets, weights = HeatmapCodec((192, 256), (W, H), 2.0, dark=True).encode(kp, vis)
    official_t, official_w = HeatmapCodec((192, 256), (W, H), 2.0).encode(kp, vis)
    np.testing.assert_array_equal(weights, official_w)
    ys, xs = np.mgrid[0:H, 0:W]
    for j in range(2):
        mx, my = kp[0, j] / 4
        rx, ry = int(mx + 0.5), int(my + 0.5)
        window = (np.abs(xs - rx) <= 6) & (np.abs(ys - ry) <= 6)
        ref = np.where(window, np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / 8.0), 0.0)
        np.testing.assert_allclose(targets[0, j], ref, atol=1e-6)
        assert ((targets[0, j] > 0) == (official_t[0, j] > 0)).all()
    assert targets[0, 2].max() == 0


@pytest.mark.parametrize("udp", [False, True])
def test_dark_round_trip_is_subpixel_exact(udp):
    codec = HeatmapCodec((192, 256), (W, H), 2.0, dark=True, udp=udp)
    rng = np.random.default_rng(2)
    kpts = np.column_stack([rng.uniform(30, 160, 50), rng.uniform(30, 225, 50)])[None]
    targets, _ = codec.encode(kpts, np.ones((1, 50)))
    coords, _ = codec.decode(torch.from_numpy(targets))
    assert np.abs(coords[0].numpy() * codec.stride - kpts[0]).max() < 0.05 * codec.stride.max()


def mmpose_udp_warp(theta, center, size_dst, size_target):
    """MMPose's get_warp_matrix(theta, center * 2, image_size - 1, scale * 200), term by term."""
    t = np.deg2rad(theta)
    size_input = np.asarray(center) * 2
    sx, sy = size_dst[0] / size_target[0], size_dst[1] / size_target[1]
    m = np.zeros((2, 3))
    m[0, 0], m[0, 1] = math.cos(t) * sx, -math.sin(t) * sx
    m[0, 2] = sx * (-0.5 * size_input[0] * math.cos(t) + 0.5 * size_input[1] * math.sin(t) + 0.5 * size_target[0])
    m[1, 0], m[1, 1] = math.sin(t) * sy, math.cos(t) * sy
    m[1, 2] = sy * (-0.5 * size_input[0] * math.sin(t) - 0.5 * size_input[1] * math.cos(t) + 0.5 * size_target[1])
    return m


@pytest.mark.parametrize("rot", [0.0, 25.0, -70.0])
def test_udp_crop_matrices_match_mmpose_and_invert(rot):
    rng = np.random.default_rng(3)
    centers = rng.uniform(50, 600, (8, 2))
    scales = rng.uniform(0.2, 2.0, (8, 1)) * np.array([[0.75, 1.0]])
    fwd = crop_matrices(centers, scales, (96, 128), rot, udp=True)
    inv = crop_matrices(centers, scales, (96, 128), rot, inverse=True, udp=True)
    for m, c, s in zip(fwd, centers, scales):
        # MMPose turns the other way for a positive angle: our rotation keeps the official sign.
        np.testing.assert_allclose(m, mmpose_udp_warp(-rot, c, (95.0, 127.0), s * 200), atol=1e-9)
    pts = rng.uniform(-100, 700, (8, 17, 2))
    assert np.abs(apply_affine(apply_affine(pts, fwd), inv) - pts).max() < 1e-9


def test_udp_window_edges_land_on_the_first_and_last_pixel_centres():
    c, s = np.array([[320.0, 180.0]]), np.array([[0.75, 1.0]])
    m = crop_matrices(c, s, (96, 128), udp=True)
    edges = np.array([[[320 - 75.0, 180 - 100.0], [320.0, 180.0], [320 + 75.0, 180 + 100.0]]])
    np.testing.assert_allclose(apply_affine(edges, m)[0], [[0, 0], [47.5, 63.5], [95, 127]], atol=1e-9)
    # A mirrored point lands on the mirrored pixel, on the input grid and the heatmap grid alike.
    codec = HeatmapCodec((96, 128), (24, 32), udp=True)
    x = np.array([[[300.0, 170.0]]])
    mirrored = np.array([[[2 * 320.0 - 300.0, 170.0]]])
    a, b = apply_affine(x, codec.heatmap_matrices(c, s)), apply_affine(mirrored, codec.heatmap_matrices(c, s))
    assert abs(a[0, 0, 0] + b[0, 0, 0] - (24 - 1)) < 1e-9


class AlignedResample(nn.Module):
    """Heatmaps = the crop's brightness resampled with align_corners=True (pixel centres to pixel
    centres, UDP's convention), scaled to [0, 1]: a model whose correct answer is known."""

    def __init__(self, heatmap_size: tuple[int, int], num_joints: int = 17):
        super().__init__()
        self.size, self.k = heatmap_size, num_joints

    def forward(self, x):
        y = nn.functional.interpolate(x.mean(1, keepdim=True), size=self.size[::-1], mode="bilinear",
                                      align_corners=True)
        y = y - y.amin(dim=(2, 3), keepdim=True)
        return (y / y.amax(dim=(2, 3), keepdim=True)).expand(-1, self.k, -1, -1)


def test_udp_and_dark_estimator_finds_a_blob_to_a_hundredth_of_a_pixel():
    rng = np.random.default_rng(4)
    ys, xs = np.mgrid[0:360, 0:640]
    errors = {}
    for name, codec in {"official": HeatmapCodec((96, 128), (24, 32)),
                        "udp+dark": HeatmapCodec((96, 128), (24, 32), dark=True, udp=True)}.items():
        est = PoseEstimator(AlignedResample(codec.heatmap_size), codec, layout=COCO, device="cpu", fold_bn=False)
        err = []
        for _ in range(6):
            x0, y0 = rng.uniform(200, 400), rng.uniform(100, 250)
            blob = np.round(255 * np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * 12.0 ** 2))).astype(np.uint8)
            box = np.array([[x0 - 60 + rng.uniform(-10, 10), y0 - 80 + rng.uniform(-10, 10), x0 + 60, y0 + 80]])
            poses = est(np.repeat(blob[..., None], 3, axis=2), box.astype(np.float32))
            err.append(np.abs(poses.keypoints[0] - [x0, y0]).max())
        errors[name] = max(err)
    assert errors["udp+dark"] < 0.05
    assert errors["official"] > 1.0  # a heatmap pixel is ~6 image pixels here


@pytest.mark.parametrize("name", ["w32_256x192", "w48_384x288"])
def test_official_configs_keep_the_official_codec(name):
    cfg = load_model_config(name)
    codec = cfg.codec
    assert codec == HeatmapCodec.from_input_size(cfg.input_size, cfg.sigma)
    assert not codec.dark and not codec.udp and codec.flip_shift == 1
    np.testing.assert_array_equal(codec.stride, [4.0, 4.0])
    # An estimator given just the input size (how official checkpoints are often run) decodes the same way.
    est = PoseEstimator(AlignedResample(cfg.heatmap_size), cfg.input_size, layout=COCO, device="cpu", fold_bn=False)
    assert (est.codec.dark, est.codec.udp, est.codec.heatmap_size) == (False, False, cfg.heatmap_size)
