"""The heatmap loss of the official HRNet code (`JointsMSELoss`, use_target_weight=True)."""

from __future__ import annotations

import torch
from torch import nn


def joints_mse_loss(output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """Mean over joints of 0.5 * MSE(pred * w, target * w), w the per-joint target weight.

    output, target (B,K,h,w); target_weight (B,K,1) or (B,K). Equal to the official
    per-joint loop: each joint's MSE averages over the batch and the heatmap
    pixels, so the whole is 0.5 * the mean over (B,K,h*w) of (w * (pred - target))^2.
    """
    b, k = output.shape[:2]
    w = target_weight.reshape(b, k, 1).to(output.dtype)
    diff = (output.reshape(b, k, -1) - target.reshape(b, k, -1).to(output.dtype)) * w
    return 0.5 * diff.pow(2).mean()


class JointsMSELoss(nn.Module):
    """`joints_mse_loss` as a module (B,K,h,w) x (B,K,h,w) x (B,K,1) -> scalar."""

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
        return joints_mse_loss(output, target, target_weight)
