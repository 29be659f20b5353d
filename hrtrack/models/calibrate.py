"""Seeded weights with a trained network's magnitudes, for benchmarks and numerical checks.

Random default initialisation gives tiny activations and near-zero heatmaps, on which
speed and error comparisons say little: a 1e-4 tolerance is loose on heatmaps of 1e-3.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def calibrate_like_trained(model: nn.Module, input_size: tuple[int, int], seed: int = 0, batch: int = 8) -> nn.Module:
    """He-initialise `model`'s convolutions, measure its BatchNorm statistics on random crops and scale its
    final layer so that heatmaps peak near 1; in place, seeded, returned in eval mode.

    `input_size` is (w, h); `model` is a pose network with a `final_layer` convolution.
    """
    torch.manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    for m in norms:
        nn.init.uniform_(m.weight, 0.5, 1.5)
        nn.init.normal_(m.bias, 0.0, 0.1)
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: one pass sets the statistics
    w, h = input_size
    x = torch.randn(batch, 3, h, w)
    model.train()(x)
    peak = model.eval()(x).abs().amax()
    model.final_layer.weight /= peak
    model.final_layer.bias /= peak
    for m in norms:
        m.momentum = 0.1
    return model
