"""Post-processing of tracked poses: gap filling, weighted Savitzky-Golay, One Euro, the lagged stage, bad settings.

Every expected number is computed here by hand or by an obviously correct
reference (np.polyfit, scipy.signal.savgol_filter, a plain loop).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import savgol_filter

from hrtrack.cli import main
from hrtrack.config import load_config
from hrtrack.errors import HrtrackError
from hrtrack.pipeline.build import build_postprocess, check_postprocess_config
from hrtrack.pipeline.config import PipelineConfig, PostprocessConfig
from hrtrack.pipeline.postprocess import OneEuroPoses, PostProcess
from hrtrack.pipeline.sources import Frame
from hrtrack.structures import Poses, rows_of
from hrtrack.tracking.interpolation import interpolate_poses
from hrtrack.tracking.smoothing import one_euro_alpha, one_euro_step, weighted_savgol

K = 3
IMAGE = np.zeros((4, 4, 3), np.uint8)


def poses(ids, keypoints, scores, person=None, boxes=None) -> Poses:
    n = len(ids)
    return Poses(np.asarray(keypoints, np.float32).reshape(n, K, 2), np.asarray(scores, np.float32).reshape(n, K),
                 np.ones(n) if person is None else person, np.zeros((n, 4)) if boxes is None else boxes, ids)


def run(stage: PostProcess, frames: list[Poses]) -> list[tuple[Frame, Poses]]:
    out = []
    for t, p in enumerate(frames):
        out += stage.push(Frame(t, f"{t:06d}.jpg", IMAGE), p)
    return out + stage.flush()


def by_track(out: list[tuple[Frame, Poses]], track: int) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """frame index -> (keypoints, scores, interpolated) of `track`."""
    found = {}
    for frame, p in out:
        hit = np.flatnonzero(p.track_ids == track)
        if len(hit):
            found[frame.index] = (p.keypoints[hit[0]], p.keypoint_scores[hit[0]], p.interpolated[hit[0]])
    return found


# ---------------------------------------------------------------- gap filling

def test_known_gap_is_filled_by_the_known_interpolation():
    """Track 5 seen at frames 0 and 4, missed at 1-3: joint 0 and 1 seen at both ends, joint 2 only at one."""
    start = poses([5], [[0, 0], [10, 100], [7, 7]], [0.8, 0.5, 0.9], person=np.array([0.7]),
                  boxes=np.array([[0, 0, 10, 20]]))
    end = poses([5], [[40, 20], [10, 60], [9, 9]], [0.6, 0.9, 0.2], person=np.array([0.9]),
                boxes=np.array([[40, 20, 50, 40]]))
    other = poses([9], [[1, 1]] * K, [0.9] * K)
    empty = Poses.empty(K)
    stage = PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=3, interpolate_decay=0.9)
    out = run(stage, [Poses.concat([start, other], K), empty, other, empty, end])
    assert [f.index for f, _ in out] == [0, 1, 2, 3, 4]
    track = by_track(out, 5)
    assert sorted(track) == [0, 1, 2, 3, 4]
    # frame u = 1, 2, 3: fraction u/4; distance to the nearer end d = 1, 2, 1; score min(ends) * 0.9^d
    for u, d in ((1, 1), (2, 2), (3, 1)):
        kp, sc, filled = track[u]
        np.testing.assert_allclose(kp[0], [10 * u, 5 * u], atol=1e-5)
        np.testing.assert_allclose(kp[1], [10, 100 - 10 * u], atol=1e-5)
        np.testing.assert_allclose(sc, [0.6 * 0.9 ** d, 0.5 * 0.9 ** d, 0.0], rtol=1e-6)
        assert filled.tolist() == [True, True, False]
        assert np.isfinite(kp).all()
    frame2 = out[2][1]
    row = np.flatnonzero(frame2.track_ids == 5)[0]
    np.testing.assert_allclose(frame2.boxes[row], [20, 10, 30, 30], atol=1e-5)
    np.testing.assert_allclose(frame2.scores[row], 0.7 * 0.81, rtol=1e-6)
    # what the tracker gave is untouched
    for u in (0, 4):
        assert not track[u][2].any()
    np.testing.assert_array_equal(track[4][0], end.keypoints[0])
    assert sorted(out[2][1].track_ids.tolist()) == [5, 9]


def test_gap_longer_than_g_is_left_alone():
    seen = poses([1], [[0, 0]] * K, [0.9] * K)
    frames = [seen, Poses.empty(K), Poses.empty(K), Poses.empty(K), seen]
    out = run(PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=2), frames)
    assert sorted(by_track(out, 1)) == [0, 4]
    out = run(PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=3), frames)
    assert sorted(by_track(out, 1)) == [0, 1, 2, 3, 4]


def test_interpolate_poses_checks_its_frame():
    p = poses([1], [[0, 0]] * K, [0.9] * K)
    with pytest.raises(HrtrackError, match="not strictly inside"):
        interpolate_poses(p, p, np.array([3]), np.array([5]), 5, threshold=0.3, decay=0.9)


# ---------------------------------------------------------------- weighted Savitzky-Golay

def test_weighted_savgol_equals_a_weighted_polyfit():
    rng = np.random.default_rng(0)
    n, w, order = 40, 9, 2
    values = rng.normal(0, 10, (n, w, 2))
    weights = rng.uniform(0.05, 1.0, (n, w)) * (rng.random((n, w)) > 0.3)
    weights[0] = 0.0                   # nothing seen: not ok
    weights[1] = 0.0
    weights[1, 6] = 0.7                # one sample: its value
    weights[2] = 0.0
    weights[2, [1, 7]] = [0.2, 0.9]    # two samples: the line through them, order lowered to 1
    values[weights == 0] = np.nan      # missing samples may hold anything
    fitted, ok = weighted_savgol(values, weights, order)
    tau = np.arange(w) - w // 2
    assert not ok[0] and ok[1:].all() and np.isfinite(fitted).all()
    for i in range(1, n):
        use = weights[i] > 0
        q = min(order, use.sum() - 1)
        for d in range(2):
            # np.polyfit weights multiply residuals, so sqrt(weight) gives the weighted least squares
            ref = np.polyval(np.polyfit(tau[use], values[i, use, d], q, w=np.sqrt(weights[i, use])), 0.0)
            assert fitted[i, d] == pytest.approx(ref, abs=1e-8)
    assert fitted[1] == pytest.approx(values[1, 6])


def test_uniform_weights_give_scipys_savgol_filter():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 5, 60)
    frames = [poses([3], np.stack([np.full(K, v), np.full(K, -v)], -1), [1.0] * K) for v in x]
    out = run(PostProcess(num_joints=K, joint_threshold=0.3, window=9, order=2), frames)
    got = np.array([p.keypoints[0, 0, 0] for _, p in out])
    np.testing.assert_allclose(got[4:-4], savgol_filter(x, 9, 2)[4:-4], atol=1e-4)


@pytest.mark.parametrize("window, order", [(3, 1), (9, 2), (15, 3)])
def test_constant_velocity_joint_is_unchanged_by_the_smoother(window, order):
    rng = np.random.default_rng(window)
    start = rng.uniform(0, 300, (K, 2))
    velocity = rng.uniform(-8, 8, (K, 2))
    frames = []
    for t in range(40):
        scores = rng.uniform(0.05, 1.0, K)     # weights vary; a few joints unseen now and then
        frames.append(poses([4], start + velocity * t, scores))
    out = run(PostProcess(num_joints=K, joint_threshold=0.3, window=window, order=order), frames)
    for t, (frame, p) in enumerate(out):
        np.testing.assert_allclose(p.keypoints[0], (start + velocity * t).astype(np.float32), atol=2e-4)


def test_smoothing_reduces_noise_and_keeps_ids_and_scores():
    rng = np.random.default_rng(2)
    truth = np.stack([np.linspace(0, 100, 50), np.linspace(50, 20, 50)], -1)
    noisy = truth[:, None] + rng.normal(0, 2.0, (50, K, 2))
    scores = rng.uniform(0.5, 1.0, (50, K))
    frames = [poses([8], noisy[t], scores[t]) for t in range(50)]
    out = run(PostProcess(num_joints=K, joint_threshold=0.3, window=9, order=2), frames)
    smooth = np.array([p.keypoints[0] for _, p in out])
    err_in = np.abs(noisy - truth[:, None])[5:-5].mean()
    err_out = np.abs(smooth - truth[:, None])[5:-5].mean()
    assert err_out < 0.65 * err_in
    assert all(p.track_ids.tolist() == [8] for _, p in out)
    np.testing.assert_array_equal(np.array([p.keypoint_scores[0] for _, p in out]), scores.astype(np.float32))


# ---------------------------------------------------------------- One Euro

def test_one_euro_follows_a_step_as_its_low_pass():
    """beta = 0: a first-order low-pass with alpha = 1 / (1 + 1 / (2 pi fc / rate)); after a step of 100
    the output is 100 (1 - (1 - alpha)^n) n frames later."""
    rate, fc = 30.0, 1.5
    alpha = 1.0 / (1.0 + rate / (2 * math.pi * fc))
    assert one_euro_alpha(fc, 1 / rate) == pytest.approx(alpha)
    value, speed = np.zeros(1), np.zeros(1)
    got = []
    for _ in range(20):
        value, speed = one_euro_step(np.full(1, 100.0), value, speed, rate=rate, min_cutoff=fc, beta=0.0,
                                     d_cutoff=1.0)
        got.append(value[0])
    np.testing.assert_allclose(got, 100 * (1 - (1 - alpha) ** np.arange(1, 21)), rtol=1e-12)
    # beta > 0 raises the cutoff with speed: closer to the step at every frame
    value, speed = np.zeros(1), np.zeros(1)
    for n in range(20):
        value, speed = one_euro_step(np.full(1, 100.0), value, speed, rate=rate, min_cutoff=fc, beta=0.05,
                                     d_cutoff=1.0)
        assert value[0] > got[n]
    assert value[0] > 99.0


def test_one_euro_reduces_the_variance_of_a_noisy_constant_by_the_computed_factor():
    """An exponential smoother y += alpha (x - y) on white noise has variance alpha / (2 - alpha) of the input's."""
    rate, fc, sigma = 25.0, 1.0, 3.0
    alpha = float(one_euro_alpha(fc, 1 / rate))
    rng = np.random.default_rng(3)
    filt = OneEuroPoses(num_joints=K, joint_threshold=0.3, rate=rate, min_cutoff=fc, beta=0.0, d_cutoff=1.0)
    ids = np.arange(100)
    out = []
    for _ in range(700):
        raw = 50.0 + rng.normal(0, sigma, (len(ids), K, 2))
        out.append(filt(poses(ids, raw, np.full((len(ids), K), 0.9))).keypoints)
    var = ((np.array(out[100:], np.float64) - 50.0) ** 2).mean()   # about the known mean: no small-sample bias
    assert var / sigma ** 2 == pytest.approx(alpha / (2 - alpha), rel=0.02)


def test_one_euro_restarts_a_joint_after_a_break():
    filt = OneEuroPoses(num_joints=K, joint_threshold=0.3, rate=30.0, min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    filt(poses([1], [[0, 0]] * K, [0.9] * K))
    moved = filt(poses([1], [[10, 10]] * K, [0.9, 0.1, 0.9]))
    assert 0 < moved.keypoints[0, 0, 0] < 10                        # filtered
    np.testing.assert_array_equal(moved.keypoints[0, 1], [10, 10])  # unseen: raw
    again = filt(poses([1], [[20, 20]] * K, [0.9] * K))
    np.testing.assert_array_equal(again.keypoints[0, 1], [20, 20])  # seen again: restarts at the raw value
    fresh = filt(poses([2], [[30, 30]] * K, [0.9] * K))             # track 1 gone, track 2 new
    np.testing.assert_array_equal(fresh.keypoints[0], [[30, 30]] * K)


# ---------------------------------------------------------------- edge cases and the lag

@pytest.mark.parametrize("smoother", ["none", "savgol", "one_euro"])
def test_empty_frames_one_frame_tracks_and_never_seen_joints(smoother):
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline",
                      [f"postprocess.smoother={smoother}", "postprocess.interpolate_gap=2",
                       "output.joint_threshold=0.4"])
    stage = build_postprocess(cfg, num_joints=K, live=False, fps=30.0)
    rng = np.random.default_rng(4)
    frames = [Poses.empty(K), poses([1], rng.uniform(0, 50, (K, 2)), [0.9, 0.0, 0.8]), Poses.empty(K),
              poses([1, 2], rng.uniform(0, 50, (2, K, 2)), [[0.9, 0.0, 0.7], [0.6, 0.6, 0.6]]),
              Poses.empty(K), Poses.empty(K), Poses.empty(K)]
    out = run(stage, frames)
    assert [f.index for f, _ in out] == list(range(7))
    assert [len(p) for _, p in out] == [0, 1, 1, 2, 0, 0, 0]   # track 1 filled at frame 2; track 2 alone
    for _, p in out:
        assert np.isfinite(p.keypoints).all() and np.isfinite(p.keypoint_scores).all()
    never = [p.keypoint_scores[p.track_ids == 1][:, 1] for _, p in out if 1 in p.track_ids]
    assert all((s == 0).all() for s in never)
    lone = out[3][1]
    np.testing.assert_array_equal(lone.keypoints[lone.track_ids == 2], frames[3].keypoints[1:])
    assert run(build_postprocess(cfg, num_joints=K, live=False, fps=30.0), [Poses.empty(K)] * 3)[2][1].keypoints.shape \
        == (0, K, 2)


@pytest.mark.parametrize("gap, window", [(0, 5), (3, None), (2, 7)])
def test_frame_t_comes_out_when_frame_t_plus_lag_arrives(gap, window):
    stage = PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=gap, window=window, keep_images=False)
    lag = gap + (window or 1) // 2
    assert stage.lag == lag
    rng = np.random.default_rng(5)
    for t in range(30):
        ids = [i for i in range(4) if rng.random() < 0.7]
        got = stage.push(Frame(t, str(t), IMAGE), poses(ids, rng.uniform(0, 9, (len(ids), K, 2)),
                                                        rng.uniform(0, 1, (len(ids), K))))
        assert [f.index for f, _ in got] == ([t - lag] if t >= lag else [])
        assert all(f.image.size == 0 for f, _ in got)   # no sink draws: images are not held
        assert len(stage._pending) == min(t + 1, lag) and len(stage._poses) <= lag + (window or 1) // 2 + 1
    assert [f.index for f, _ in stage.flush()] == list(range(30 - lag, 30))
    kept = PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=gap, window=window, keep_images=True)
    assert all(f.image is IMAGE for f, _ in run(kept, [Poses.empty(K)] * 5))


def test_state_stays_bounded_when_tracks_keep_coming_and_going():
    """A long video where every track lives one frame: only tracks that may still come back are remembered."""
    stage = PostProcess(num_joints=K, joint_threshold=0.3, interpolate_gap=4, window=5, stabilise=True,
                        keep_images=False)
    for t in range(500):
        stage.push(Frame(t, str(t), IMAGE), poses([t, 10_000 + t], np.full((2, K, 2), t), np.full((2, K), 0.9)),
                   np.array([0.5, -0.25]))
        assert len(stage._last) <= 2 * 5 and len(stage._poses) <= stage.lag + 3 and len(stage._pending) <= stage.lag
        assert len(stage._camera) == len(stage._poses)  # the camera's path is kept as far back as the poses


def test_live_sources_get_one_euro_and_files_the_chosen_smoother():
    cfg = load_config(PipelineConfig, "synthetic_tiny", "pipeline",
                      ["postprocess.smoother=savgol", "postprocess.interpolate_gap=4", "postprocess.window=5"])
    offline = build_postprocess(cfg, num_joints=K, live=False, fps=25.0)
    live = build_postprocess(cfg, num_joints=K, live=True, fps=25.0)
    assert offline.lag == 6 and offline.one_euro is None
    assert live.lag == 0 and live.one_euro is not None and live.one_euro.options["rate"] == 25.0
    assert build_postprocess(load_config(PipelineConfig, "synthetic_tiny", "pipeline"), num_joints=K, live=False,
                             fps=25.0) is None
    gap_only = load_config(PipelineConfig, "synthetic_tiny", "pipeline", ["postprocess.interpolate_gap=4"])
    assert build_postprocess(gap_only, num_joints=K, live=True, fps=25.0) is None


def test_rows_of():
    rows, found = rows_of(np.array([7, 3, 9, 1]), np.array([3, 1, 7]))
    assert found.tolist() == [True, True, False, True]
    assert rows[found].tolist() == [2, 0, 1]
    assert rows_of(np.array([1]), np.zeros(0, np.int64))[1].tolist() == [False]


# ---------------------------------------------------------------- bad settings

BAD = [
    ("interpolate_gap", -1, "postprocess.interpolate_gap must be an integer >= 0"),
    ("interpolate_decay", 0.0, "postprocess.interpolate_decay must be a number in (0, 1], got 0.0"),
    ("interpolate_decay", 1.5, "postprocess.interpolate_decay must be a number in (0, 1]"),
    ("smoother", "kalman", "postprocess.smoother must be one of none, savgol, one_euro, got 'kalman'"),
    ("window", 8, "postprocess.window must be an odd integer >= 3 (frames), got 8"),
    ("window", 1, "postprocess.window must be an odd integer >= 3"),
    ("window", -3, "postprocess.window must be an odd integer >= 3"),
    ("order", 0, "postprocess.order must be an integer in [1, window - 2] = [1, 7], got 0"),
    ("order", 8, "postprocess.order must be an integer in [1, window - 2]"),
    ("min_cutoff", 0.0, "postprocess.min_cutoff must be a finite number > 0"),
    ("beta", -1.0, "postprocess.beta must be a finite number >= 0"),
    ("d_cutoff", math.nan, "postprocess.d_cutoff must be a finite number > 0, got nan"),
    ("stabilise", "yes", "postprocess.stabilise must be true or false, got 'yes'"),
]


@pytest.mark.parametrize("key, value, message", BAD)
def test_bad_settings_name_the_setting_and_its_range(key, value, message):
    with pytest.raises(HrtrackError) as info:
        check_postprocess_config(PostprocessConfig(**{key: value}))
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("override, message", [
    ("postprocess.interpolate_gap=-2", "postprocess.interpolate_gap must be an integer >= 0 (frames), got -2"),
    ("postprocess.smoother=kalman", "postprocess.smoother must be one of none, savgol, one_euro"),
    ("postprocess.window=4", "postprocess.window must be an odd integer >= 3 (frames), got 4"),
    ("postprocess.interpolate_gap=1.5", "postprocess.interpolate_gap: expected an integer, got 1.5"),
    ("postprocess.nope=1", "unknown key 'nope'"),
])
def test_bad_settings_on_the_command_line_end_in_one_line(capsys, tmp_path, override, message):
    for verb in (["track", str(tmp_path), "--out", str(tmp_path / "r.csv"), "--format", "csv"],
                 ["track-dataset", "--images", str(tmp_path), "--annotations", str(tmp_path), "--out",
                  str(tmp_path / "o"), "--format", "csv"]):
        rc = main([*verb, "--config", "synthetic_tiny", "--set", override, "--no-progress"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o").exists()
