"""The heatmap codec: keypoints <-> heatmaps, one source of truth for sizes, sigma and coordinates.

By default it is the official code's: training targets are unnormalised Gaussians
of peak 1 centred at `int(x / stride + 0.5)`, cut at +-3 sigma, weight 0 when the
window misses the map; decoding takes the argmax, then a quarter-pixel step toward
the higher neighbour when the peak lies strictly inside the map. Official
checkpoints keep their exact numbers with these defaults. Two options trade that
parity for sub-pixel accuracy:

* `dark` (Zhang et al., "Distribution-Aware Coordinate Representation for Human
  Pose Estimation", CVPR 2020): targets centred at the exact sub-pixel position,
  and decoding that smooths the heatmap with the target's Gaussian (restoring its
  maximum), takes its log and steps to the maximum of the second-order Taylor
  expansion around the argmax.
* `udp` (Huang et al., "The Devil is in the Details: Delving into Unbiased Data
  Processing for Human Pose Estimation", CVPR 2020): pixels are points at their
  centres, so the crop maps the window onto (w-1, h-1), heatmap coordinates are
  input coordinates times (heatmap size - 1) / (input size - 1), targets sit at the
  exact sub-pixel position, and the flip test needs no one-pixel shift.

The codec also owns the crop transforms (image <-> network input, image <->
heatmap), so training crops, inference crops and decoding agree. Everything is
vectorised over people and joints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..geometry import crop_matrices

# HRNet's heatmaps are a quarter of its input (the highest-resolution branch).
HEATMAP_STRIDE = 4


@dataclass(frozen=True)
class HeatmapCodec:
    """Input size (w, h), heatmap size (w, h), Gaussian sigma in heatmap pixels, and the DARK / UDP options."""

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0
    dark: bool = False
    udp: bool = False

    @classmethod
    def from_input_size(cls, input_size: tuple[int, int], sigma: float = 2.0) -> "HeatmapCodec":
        """The codec of an HRNet with input (w, h): heatmaps of (w/4, h/4)."""
        w, h = int(input_size[0]), int(input_size[1])
        return cls((w, h), (w // HEATMAP_STRIDE, h // HEATMAP_STRIDE), sigma)

    @property
    def stride(self) -> np.ndarray:
        """Input pixels per heatmap pixel (x, y): size ratio, or (size - 1) ratio under UDP."""
        size_in = np.asarray(self.input_size, np.float64)
        size_hm = np.asarray(self.heatmap_size, np.float64)
        return (size_in - 1) / (size_hm - 1) if self.udp else size_in / size_hm

    @property
    def flip_shift(self) -> int:
        """Columns to shift flipped-back heatmaps by: 1 officially (SHIFT_HEATMAP), 0 under UDP."""
        return 0 if self.udp else 1

    # -- coordinates ------------------------------------------------------------------------
    def crop_matrices(self, centers: np.ndarray, scales: np.ndarray, rotations: np.ndarray | float = 0.0,
                      inverse: bool = False) -> np.ndarray:
        """(N,2,3) affine maps from image pixels to network-input pixels (or back, with `inverse`)."""
        return crop_matrices(centers, scales, self.input_size, rotations, inverse=inverse, udp=self.udp)

    def heatmap_matrices(self, centers: np.ndarray, scales: np.ndarray, inverse: bool = False) -> np.ndarray:
        """(N,2,3) affine maps from image pixels to heatmap pixels (or back, with `inverse`)."""
        return crop_matrices(centers, scales, self.heatmap_size, inverse=inverse, udp=self.udp)

    # -- targets ----------------------------------------------------------------------------
    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N,K,2) in input pixels + visibility (N,K) -> targets (N,K,h,w), weights (N,K).

        Weights are the visibility, set to 0 where the +-3 sigma window around the
        rounded centre lies wholly outside the heatmap (then the target is all zeros).
        The Gaussian is centred on the rounded position officially, on the exact
        position with `dark` or `udp`.
        """
        kp = np.asarray(keypoints, np.float64)
        w, h = self.heatmap_size
        radius = self.sigma * 3
        exact = kp / self.stride
        # int() truncates toward zero in the official code; np.trunc keeps that.
        mu = np.trunc(exact + 0.5)
        ul = np.trunc(mu - radius)
        br = np.trunc(mu + radius + 1)
        outside = (ul[..., 0] >= w) | (ul[..., 1] >= h) | (br[..., 0] < 0) | (br[..., 1] < 0)
        weights = (np.asarray(visible, np.float32) > 0).astype(np.float32) * ~outside
        centre = exact if (self.dark or self.udp) else mu
        # The window stays the official one around the rounded centre; only the peak moves.
        dx = np.arange(w)[None, None, :] - mu[..., 0:1]
        dy = np.arange(h)[None, None, :] - mu[..., 1:2]
        ex = np.arange(w)[None, None, :] - centre[..., 0:1]
        ey = np.arange(h)[None, None, :] - centre[..., 1:2]
        gx = np.where(np.abs(dx) <= radius, np.exp(-ex ** 2 / (2 * self.sigma ** 2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-ey ** 2 / (2 * self.sigma ** 2)), 0.0)
        targets = gy[..., :, None] * gx[..., None, :] * (weights > 0)[..., None, None]
        return targets.astype(np.float32), weights

    # -- decoding ---------------------------------------------------------------------------
    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps (N,K,h,w) -> coordinates (N,K,2) in heatmap pixels and maxima (N,K).

        Coordinates of joints whose maximum is not positive are 0, as officially.
        """
        n, k, h, w = heatmaps.shape
        hm = heatmaps.float()
        flat = hm.reshape(n, k, h * w)
        maxvals, idx = flat.max(dim=2)
        px, py = idx % w, torch.div(idx, w, rounding_mode="floor")
        coords = quarter_offset(flat, px, py, w, h)
        if self.dark and n * k:
            coords = dark_refine(hm, px, py, coords, self.sigma)
        coords = coords * (maxvals > 0).unsqueeze(2)
        return coords, maxvals


def quarter_offset(flat: torch.Tensor, px: torch.Tensor, py: torch.Tensor, w: int, h: int) -> torch.Tensor:
    """The official rule: argmax (px, py) plus 0.25 toward the higher neighbour, strictly inside the map.

    flat (N,K,h*w) heatmaps; px, py (N,K) integer argmax; returns (N,K,2) float.
    """
    x, y = px.float(), py.float()
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    # Neighbour indices clamped so the gather is valid; the mask discards the rest.
    right = flat.gather(2, (py * w + (px + 1).clamp(max=w - 1)).unsqueeze(2)).squeeze(2)
    left = flat.gather(2, (py * w + (px - 1).clamp(min=0)).unsqueeze(2)).squeeze(2)
    down = flat.gather(2, ((py + 1).clamp(max=h - 1) * w + px).unsqueeze(2)).squeeze(2)
    up = flat.gather(2, ((py - 1).clamp(min=0) * w + px).unsqueeze(2)).squeeze(2)
    x = x + 0.25 * torch.sign(right - left) * inside
    y = y + 0.25 * torch.sign(down - up) * inside
    return torch.stack([x, y], dim=2)


def gaussian_modulation(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """DARK's modulation: each map (N,K,h,w) smoothed by a Gaussian of `sigma`, its maximum restored.

    The kernel spans +-(ceil(3 sigma) - 1) pixels (11 taps for sigma 2, as the
    authors' code); outside the map counts as zero.
    """
    n, k, h, w = heatmaps.shape
    radius = max(1, math.ceil(3 * sigma) - 1)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32, device=heatmaps.device)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    x = heatmaps.reshape(n * k, 1, h, w)
    x = torch.nn.functional.conv2d(x, g.view(1, 1, 1, -1), padding=(0, radius))
    x = torch.nn.functional.conv2d(x, g.view(1, 1, -1, 1), padding=(radius, 0))
    x = x.reshape(n, k, h, w)
    before = heatmaps.reshape(n, k, -1).amax(dim=2)
    after = x.reshape(n, k, -1).amax(dim=2)
    ratio = torch.where(after > 0, before / after.clamp(min=1e-12), torch.ones_like(after))
    return x * ratio[..., None, None]


def dark_refine(heatmaps: torch.Tensor, px: torch.Tensor, py: torch.Tensor, fallback: torch.Tensor,
                sigma: float) -> torch.Tensor:
    """DARK's sub-pixel step: coordinates (N,K,2) of the Taylor maximum of the log of the modulated maps.

    Around the argmax (px, py), with f = log(max(modulated map, 1e-10)): gradient by
    central differences, Hessian by differences two pixels apart (both exact for a
    quadratic, i.e. for the log of a Gaussian), offset = -H^-1 grad. Where the
    5x5 neighbourhood leaves the map or the Hessian is singular, `fallback` stays.
    """
    n, k, h, w = heatmaps.shape
    logs = gaussian_modulation(heatmaps, sigma).clamp(min=1e-10).log()
    padded = torch.nn.functional.pad(logs.reshape(n * k, 1, h, w), (2, 2, 2, 2), mode="replicate")
    padded = padded.reshape(n, k, (h + 4) * (w + 4))
    pw = w + 4

    def at(dx: int, dy: int) -> torch.Tensor:
        index = (py + 2 + dy) * pw + (px + 2 + dx)
        return padded.gather(2, index.unsqueeze(2)).squeeze(2)

    centre = at(0, 0)
    dx = 0.5 * (at(1, 0) - at(-1, 0))
    dy = 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * centre + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * centre + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    usable = (px > 1) & (px < w - 2) & (py > 1) & (py < h - 2) & (det != 0)
    safe = torch.where(usable, det, torch.ones_like(det))
    # -H^-1 g with H^-1 = [[dyy, -dxy], [-dxy, dxx]] / det
    off_x = -(dyy * dx - dxy * dy) / safe
    off_y = -(dxx * dy - dxy * dx) / safe
    refined = torch.stack([px.float() + off_x, py.float() + off_y], dim=2)
    return torch.where(usable.unsqueeze(2) & torch.isfinite(refined), refined, fallback)
