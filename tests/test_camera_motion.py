"""The camera's shift from the flow's median, and smoothing relative to it (postprocess.stabilise)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.signal import savgol_filter

from hrtrack.config import load_config
from hrtrack.errors import HrtrackError
from hrtrack.pipeline.build import build_pipeline
from hrtrack.pipeline.config import PipelineConfig
from hrtrack.pipeline.postprocess import PostProcess
from hrtrack.pipeline.sources import Frame
from hrtrack.structures import Boxes, Poses
from hrtrack.tracking.camera_motion import camera_shift

K = 3
IMAGE = np.zeros((4, 4, 3), np.uint8)


def test_the_shift_is_the_background_not_the_people():
    # Background moves by (3.25, -1.5); people, a third of the frame, by (10, 4): the median is the background.
    flow = np.empty((360, 640, 2), np.float32)
    flow[:] = (3.25, -1.5)
    flow[:, :200] = (10.0, 4.0)
    np.testing.assert_allclose(camera_shift(flow), [3.25, -1.5])
    # A field smaller than the sampling step is used whole.
    np.testing.assert_allclose(camera_shift(np.full((4, 5, 2), 0.5, np.float32)), [0.5, 0.5])


def test_a_flow_of_the_wrong_shape_is_one_line():
    with pytest.raises(HrtrackError, match="H x W x 2 flow field, got shape"):
        camera_shift(np.zeros((10, 10, 3), np.float32))


def test_the_pipeline_reports_the_shift_of_a_moved_frame(instant_hrnet):
    # DIS on a textured frame and the same frame moved 4 px right and 2 px up: the shift is (4, -2).
    weights, model_yaml = instant_hrnet
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline", [f"estimator.model={model_yaml}"])
    pipeline = build_pipeline(cfg, weights, device="cpu").pipeline
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur((rng.random((400, 700, 3)) * 255).astype(np.uint8), (0, 0), 2.0)
    first, moved = big[20:380, 20:660], big[22:382, 16:656]
    pipeline(first, Boxes.empty())
    np.testing.assert_array_equal(pipeline.camera_shift, [0.0, 0.0])
    pipeline(moved, Boxes.empty())
    np.testing.assert_allclose(pipeline.camera_shift, [4.0, -2.0], atol=0.1)
    pipeline.reset()
    np.testing.assert_array_equal(pipeline.camera_shift, [0.0, 0.0])


def _shaken_track(frames: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,K,2) joints walking at constant velocity through a camera that shakes by up to 2 px a frame,
    and (T,2) the camera's shift from each frame to the next (zero for the first)."""
    rng = np.random.default_rng(seed)
    shifts = rng.uniform(-2, 2, (frames, 2))
    shifts[0] = 0.0
    path = np.cumsum(shifts, axis=0)
    t = np.arange(frames)[:, None, None]
    walk = rng.uniform(50, 250, (K, 2)) + rng.uniform(-5, 5, (K, 2)) * t
    return walk + path[:, None], shifts


def _smooth(joints: np.ndarray, shifts: np.ndarray, stabilise: bool) -> np.ndarray:
    stage = PostProcess(num_joints=K, joint_threshold=0.3, window=9, order=2, stabilise=stabilise)
    out = []
    for t, xy in enumerate(joints):
        p = Poses(xy[None].astype(np.float32), np.full((1, K), 0.9, np.float32), np.ones(1), np.zeros((1, 4)),
                  np.array([7]))
        out += stage.push(Frame(t, f"{t:06d}.jpg", IMAGE), p, shifts[t])
    out += stage.flush()
    return np.array([p.keypoints[0] for _, p in out], np.float64)


def test_stabilised_smoothing_keeps_the_camera_shake_and_plain_smoothing_flattens_it():
    joints, shifts = _shaken_track(40, seed=3)
    # Constant velocity relative to the camera: a quadratic fit there gives the joints back exactly.
    stable = np.abs(_smooth(joints, shifts, stabilise=True) - joints)
    assert stable.max() < 2e-3
    # Without the camera, the shake (a random walk of steps up to 2 px) is partly smoothed away: away from the
    # ends (equal weights) the output is scipy's Savitzky-Golay filter of the shaken track itself.
    smoothed = _smooth(joints, shifts, stabilise=False)
    np.testing.assert_allclose(smoothed[4:-4], savgol_filter(joints, 9, 2, axis=0)[4:-4], atol=2e-3)
    plain = np.abs(smoothed - joints)
    assert plain.mean() > 0.25 and plain.mean() > 100 * stable.mean()


def test_stabilised_smoothing_halves_the_acceleration_error_of_noisy_joints():
    joints, shifts = _shaken_track(60, seed=4)
    noisy = joints + np.random.default_rng(5).normal(0, 1.0, joints.shape)

    def acceleration_error(xy: np.ndarray) -> float:
        a = xy[2:] - 2 * xy[1:-1] + xy[:-2]
        b = joints[2:] - 2 * joints[1:-1] + joints[:-2]
        return float(np.linalg.norm(a - b, axis=-1)[4:-4].mean())

    raw = acceleration_error(noisy)
    stable = acceleration_error(_smooth(noisy, shifts, stabilise=True))
    plain = acceleration_error(_smooth(noisy, shifts, stabilise=False))
    # Noise of sigma 1 px gives a raw error near sqrt(6) * sqrt(pi/2) = 3.1; smoothing in the camera's frame
    # removes most of it, smoothing in the image's removes the noise and the shake's true accelerations.
    assert 2.5 < raw < 3.7
    assert stable < 0.5 * raw
    assert stable < 0.6 * plain


def test_no_shift_given_is_a_still_camera():
    joints, _ = _shaken_track(20, seed=6)
    still = np.zeros((20, 2))
    stage = PostProcess(num_joints=K, joint_threshold=0.3, window=9, order=2, stabilise=True)
    out = []
    for t, xy in enumerate(joints):
        p = Poses(xy[None].astype(np.float32), np.full((1, K), 0.9, np.float32), np.ones(1), np.zeros((1, 4)),
                  np.array([7]))
        out += stage.push(Frame(t, f"{t:06d}.jpg", IMAGE), p)
    out += stage.flush()
    np.testing.assert_allclose(np.array([p.keypoints[0] for _, p in out]), _smooth(joints, still, stabilise=False),
                               atol=1e-4)
