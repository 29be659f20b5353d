"""Optical flow backends on frame pairs related by a known warp of a textured image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hrtrack.errors import HrtrackError
from hrtrack.models.flow import DISFlow, FarnebackFlow, PtlflowFlow, build_flow, resize_flow

H, W = 240, 320
PAD = 40
MARGIN = 30  # "interior": flow near the border sees content entering the frame


def _texture(seed: int = 0) -> np.ndarray:
    """Smooth random texture, larger than the frame so warps have real content at the edges."""
    noise = np.random.default_rng(seed).random((H + 2 * PAD, W + 2 * PAD, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _pair(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames t-1, t with content at p (frame coordinates) moved to A p + b; and the true flow."""
    tex = _texture()
    # The warp in frame coordinates, conjugated into texture coordinates (offset PAD).
    shift = np.array([[1, 0, PAD], [0, 1, PAD], [0, 0, 1]], np.float64)
    full = shift @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(shift)
    moved = cv2.warpAffine(tex, full[:2], tex.shape[1::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    prev = np.ascontiguousarray(tex[PAD:PAD + H, PAD:PAD + W])
    nxt = np.ascontiguousarray(moved[PAD:PAD + H, PAD:PAD + W])
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    pts = np.stack([x, y, np.ones_like(x)], -1)
    truth = pts @ matrix.T - pts[..., :2]
    return prev, nxt, truth


def _interior_error(flow: np.ndarray, truth: np.ndarray) -> float:
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    return float(np.abs(flow[inner] - truth[inner]).max())


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy]], np.float64)


@pytest.mark.parametrize("dx,dy", [(3.0, -2.0), (2.5, 1.25), (-7.3, 4.6)])
def test_dis_recovers_translation(dx, dy):
    prev, nxt, truth = _pair(_translation(dx, dy))
    flow = DISFlow()(prev, nxt)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    assert _interior_error(flow, truth) < 0.5


def test_dis_recovers_affine_warp():
    # 1.5 degree rotation, 2% zoom and a shift about the frame center: flow varies over the frame.
    matrix = cv2.getRotationMatrix2D((W / 2, H / 2), 1.5, 1.02).astype(np.float64)
    matrix[:, 2] += [2.0, -1.5]
    prev, nxt, truth = _pair(matrix)
    assert np.ptp(truth[..., 0]) > 5  # a real affine field, not a translation
    assert _interior_error(DISFlow()(prev, nxt), truth) < 0.5


def test_reduced_resolution_rescales_vectors():
    prev, nxt, truth = _pair(_translation(6.0, -4.0))
    flow = DISFlow(scale=0.5)(prev, nxt)
    assert flow.shape == (H, W, 2)
    # Vectors measured at half size are 3, -2; they must come back as 6, -4.
    assert _interior_error(flow, truth) < 0.5


def test_farneback_recovers_translation():
    prev, nxt, truth = _pair(_translation(2.5, -1.5))
    assert _interior_error(FarnebackFlow()(prev, nxt), truth) < 0.5
    assert _interior_error(build_flow("farneback", scale=0.5)(prev, nxt), truth) < 0.5


def test_resize_flow_arithmetic():
    small = np.zeros((5, 10, 2), np.float32)
    small[...] = (2.0, 4.0)
    big = resize_flow(small, (20, 20))  # x twice, y four times larger
    assert big.shape == (20, 20, 2)
    np.testing.assert_allclose(big[..., 0], 4.0, atol=1e-6)
    np.testing.assert_allclose(big[..., 1], 16.0, atol=1e-6)
    np.testing.assert_array_equal(resize_flow(small, (10, 5)), small)  # same size: unchanged


def test_frame_pairs_are_validated():
    prev = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(HrtrackError, match="differ in size"):
        DISFlow()(prev, np.zeros((41, 50, 3), np.uint8))
    with pytest.raises(HrtrackError, match="uint8 BGR"):
        DISFlow()(prev, prev.astype(np.float32))


@pytest.mark.parametrize("kwargs,match", [({"scale": 0.0}, "scale"), ({"scale": 1.5}, "scale"),
                                          ({"scale": float("nan")}, "scale"), ({"preset": "slow"}, "preset")])
def test_dis_arguments_are_validated(kwargs, match):
    with pytest.raises(HrtrackError, match=match):
        build_flow("dis", **kwargs)


def test_opencv_backends_take_no_weights(tmp_path):
    with pytest.raises(HrtrackError, match="takes no weights"):
        build_flow("farneback", weights=tmp_path / "flow.ckpt")


# ---------------------------------------------------------------- ptlflow

def _small_pair() -> tuple[np.ndarray, np.ndarray]:
    # 140 x 204 is a multiple of neither 8 (RAFT) nor 64 (FlowNet): padding is exercised.
    # (RAFT's coarsest correlation level needs 2+ pixels per side: frames of 128 px or more.)
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (140, 204, 3), dtype=np.uint8)
    return frame, np.roll(frame, 2, axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["raft_small", "flownets"])
def test_ptlflow_random_weights_plumbing_only(name):
    """Plumbing only: random weights give meaningless vectors, but shape, dtype and padding must hold."""
    import ptlflow

    torch.manual_seed(0)
    backend = PtlflowFlow(ptlflow.get_model(name), device="cpu")
    prev, nxt = _small_pair()
    flow = backend(prev, nxt)
    assert flow.shape == (140, 204, 2) and flow.dtype == np.float32
    assert np.isfinite(flow).all()
    half = PtlflowFlow(ptlflow.get_model(name), scale=0.5, device="cpu")
    assert half(*_pair(_translation(1, 1))[:2]).shape == (H, W, 2)


@pytest.mark.slow
def test_ptlflow_plumbing_checkpoint_file_is_loaded(tmp_path):
    """Plumbing only: a checkpoint file of random weights loads into the named model, no download."""
    import ptlflow

    torch.manual_seed(1)
    source = ptlflow.get_model("raft_small")
    path = tmp_path / "raft_small.ckpt"
    torch.save({"state_dict": source.state_dict()}, path)
    prev, nxt = _small_pair()
    loaded = build_flow("raft_small", weights=path, device="cpu")
    np.testing.assert_allclose(loaded(prev, nxt), PtlflowFlow(source, device="cpu")(prev, nxt), atol=1e-4)


@pytest.mark.slow
def test_ptlflow_without_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(HrtrackError, match="needs a checkpoint") as err:
        build_flow("flownet2")
    assert "\n" not in str(err.value)
    with pytest.raises(HrtrackError, match="not found"):
        build_flow("raft", weights=tmp_path / "raft-things.ckpt")
    with pytest.raises(HrtrackError, match="unknown flow model"):
        build_flow("flownet9")
    (tmp_path / "wrong.ckpt").write_bytes(b"junk")
    with pytest.raises(HrtrackError, match="cannot load"):
        build_flow("raft_small", weights=tmp_path / "wrong.ckpt")
