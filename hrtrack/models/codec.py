"""The heatmap codec: keypoints <-> heatmaps, one source of truth for sizes and sigma.

Encoding builds the training targets of the official code (unnormalised Gaussians
of peak 1 centred at `int(x / stride + 0.5)`, cut at +-3 sigma, weight 0 when the
window misses the map). Decoding is the official test-time rule: argmax, then a
quarter-pixel step toward the higher neighbour when the peak lies strictly inside
the map. Both are vectorised over people and joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


# HRNet's heatmaps are a quarter of its input (the highest-resolution branch).
HEATMAP_STRIDE = 4


@dataclass(frozen=True)
class HeatmapCodec:
    """Input size (w, h), heatmap size (w, h) and Gaussian sigma in heatmap pixels."""

    input_size: tuple[int, int]
    heatmap_size: tuple[int, int]
    sigma: float = 2.0

    @classmethod
    def from_input_size(cls, input_size: tuple[int, int], sigma: float = 2.0) -> "HeatmapCodec":
        """The codec of an HRNet with input (w, h): heatmaps of (w/4, h/4)."""
        w, h = int(input_size[0]), int(input_size[1])
        return cls((w, h), (w // HEATMAP_STRIDE, h // HEATMAP_STRIDE), sigma)

    @property
    def stride(self) -> np.ndarray:
        return np.asarray(self.input_size, np.float64) / np.asarray(self.heatmap_size, np.float64)

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints (N,K,2) in input pixels + visibility (N,K) -> targets (N,K,h,w), weights (N,K).

        Weights are the visibility, set to 0 where the +-3 sigma window lies wholly
        outside the heatmap (then the target is all zeros).
        """
        kp = np.asarray(keypoints, np.float64)
        w, h = self.heatmap_size
        radius = self.sigma * 3
        # int() truncates toward zero in the official code; np.trunc keeps that.
        mu = np.trunc(kp / self.stride + 0.5)
        ul = np.trunc(mu - radius)
        br = np.trunc(mu + radius + 1)
        outside = (ul[..., 0] >= w) | (ul[..., 1] >= h) | (br[..., 0] < 0) | (br[..., 1] < 0)
        weights = (np.asarray(visible, np.float32) > 0).astype(np.float32) * ~outside
        dx = np.arange(w)[None, None, :] - mu[..., 0:1]
        dy = np.arange(h)[None, None, :] - mu[..., 1:2]
        gx = np.where(np.abs(dx) <= radius, np.exp(-dx ** 2 / (2 * self.sigma ** 2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-dy ** 2 / (2 * self.sigma ** 2)), 0.0)
        targets = gy[..., :, None] * gx[..., None, :] * (weights > 0)[..., None, None]
        return targets.astype(np.float32), weights

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Heatmaps (N,K,h,w) -> coordinates (N,K,2) in heatmap pixels and maxima (N,K).

        Coordinates of joints whose maximum is not positive are 0, as officially.
        """
        n, k, h, w = heatmaps.shape
        hm = heatmaps.float()
        flat = hm.reshape(n, k, h * w)
        maxvals, idx = flat.max(dim=2)
        x = (idx % w).float()
        y = torch.div(idx, w, rounding_mode="floor").float()
        px, py = idx % w, torch.div(idx, w, rounding_mode="floor")
        inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
        # Neighbour indices clamped so the gather is valid; the mask discards the rest.
        right = flat.gather(2, (py * w + (px + 1).clamp(max=w - 1)).unsqueeze(2)).squeeze(2)
        left = flat.gather(2, (py * w + (px - 1).clamp(min=0)).unsqueeze(2)).squeeze(2)
        down = flat.gather(2, ((py + 1).clamp(max=h - 1) * w + px).unsqueeze(2)).squeeze(2)
        up = flat.gather(2, ((py - 1).clamp(min=0) * w + px).unsqueeze(2)).squeeze(2)
        x = x + 0.25 * torch.sign(right - left) * inside
        y = y + 0.25 * torch.sign(down - up) * inside
        coords = torch.stack([x, y], dim=2) * (maxvals > 0).unsqueeze(2)
        return coords, maxvals
