"""Temporal smoothing of joint trajectories: a weighted Savitzky-Golay fit (offline) and the One Euro filter (online).

Offline, the value at the centre of a window is a local polynomial fitted by
weighted least squares to the samples around it, the weights being the joint
scores (a weighted Savitzky-Golay filter). A polynomial of order >= 1 reproduces
a straight line exactly whatever the weights, so a joint moving at constant
velocity comes out unchanged; missing samples simply get weight 0. Online, the
One Euro filter (Casiez, Roussel and Vogel, CHI 2012) is an exponential low-pass
whose cutoff rises with the filtered speed: steady when still, little lag when
moving; it sees only the past.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import HrtrackError


def weighted_savgol(values: np.ndarray, weights: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares polynomial fit over a window, evaluated at the window's centre.

    Args:
        values: (N,W,D) samples of N signals over an odd window of W frames (centre W // 2);
            entries with weight 0 may hold anything, NaN included.
        weights: (N,W) non-negative sample weights (0 = missing).
        order: polynomial order, >= 0.

    Returns:
        fitted (N,D) float64 value of the fit at the centre, and ok (N,) bool:
        the signal had at least one weighted sample. Where a signal has fewer
        weighted samples than `order + 1`, the highest order its samples
        determine is fitted (one sample: that sample's value); where it has
        none, fitted holds 0 and ok is False.
    """
    values = np.asarray(values, np.float64)
    weights = np.asarray(weights, np.float64)
    if values.ndim != 3 or weights.shape != values.shape[:2]:
        raise HrtrackError(f"values must be (N,W,D) and weights (N,W), got {values.shape} and {weights.shape}")
    n, w, dims = values.shape
    if w % 2 == 0:
        raise HrtrackError(f"the window must have an odd number of frames, got {w}")
    if isinstance(order, bool) or not isinstance(order, int) or order < 0:
        raise HrtrackError(f"polynomial order must be an integer >= 0, got {order!r}")
    half = w // 2
    # Offsets scaled to [-1, 1] keep the normal equations well conditioned; the value at 0 is unchanged.
    tau = (np.arange(w) - half) / max(half, 1)
    weights = np.where(weights > 0, weights, 0.0)
    values = np.where(weights[:, :, None] > 0, values, 0.0)
    support = (weights > 0).sum(1)
    powers = tau[None, :] ** np.arange(2 * order + 1)[:, None]          # (2p+1, W)
    moments = weights @ powers.T                                         # (N, 2p+1): sum of w tau^m
    rhs = np.einsum("nw,mw,nwd->nmd", weights, powers[:order + 1], values)  # (N, p+1, D)
    fitted = np.zeros((n, dims))
    # Each signal is fitted with the highest order its samples determine (order + 1 samples for full order).
    fit_order = np.minimum(support - 1, order)
    for q in np.unique(fit_order[fit_order >= 0]):
        rows = fit_order == q
        hankel = np.arange(q + 1)[:, None] + np.arange(q + 1)[None, :]
        coeffs = np.linalg.solve(moments[rows][:, hankel], rhs[rows, :q + 1])   # (M, q+1, D)
        fitted[rows] = coeffs[:, 0]
    return fitted, support > 0


def one_euro_alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    """Smoothing factor of a first-order low-pass with `cutoff` Hz sampled every `dt` seconds: 1 / (1 + tau / dt)."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


def check_one_euro(min_cutoff: float, beta: float, d_cutoff: float, rate: float, prefix: str = "One Euro ") -> None:
    """HrtrackError unless the One Euro settings are finite, cutoffs and rate > 0 and beta >= 0.

    Messages name each setting as `prefix + name`.
    """
    for name, value, low_open in (("min_cutoff", min_cutoff, True), ("beta", beta, False),
                                  ("d_cutoff", d_cutoff, True), ("rate", rate, True)):
        bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        if bad or (value <= 0 if low_open else value < 0):
            raise HrtrackError(f"{prefix}{name} must be a finite number {'> 0' if low_open else '>= 0'}, "
                               f"got {value!r}")


def one_euro_step(x: np.ndarray, prev: np.ndarray, prev_speed: np.ndarray, *, rate: float, min_cutoff: float,
                  beta: float, d_cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """One sample of the One Euro filter, elementwise over any shape.

    Args:
        x: the new raw samples.
        prev: the previous filtered values; prev_speed: the previous filtered speeds (units per second).
        rate: samples per second (the frame rate).
        min_cutoff: cutoff in Hz at zero speed (lower: steadier when still).
        beta: cutoff increase per unit of speed (higher: less lag when moving).
        d_cutoff: cutoff in Hz of the speed's own low-pass.

    Returns:
        (filtered, filtered speed). Start a signal with filtered = x and speed 0.
    """
    dt = 1.0 / rate
    x = np.asarray(x, np.float64)
    speed = (x - prev) * rate
    speed = prev_speed + one_euro_alpha(d_cutoff, dt) * (speed - prev_speed)
    cutoff = min_cutoff + beta * np.abs(speed)
    return prev + one_euro_alpha(cutoff, dt) * (x - prev), speed
