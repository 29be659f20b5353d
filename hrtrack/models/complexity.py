"""Parameter and multiply-accumulate counts, in the paper's units.

The paper's "GFLOPs" are multiply-accumulates divided by 2^30 (DESIGN.md §4):
W48 384x288 is 35.3 GMAC decimal = 32.9 "GFLOPs".
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, int]) -> int:
    """Multiply-accumulates of one forward pass on a 1x3xHxW input; `input_size` is (w, h)."""
    counter = FlopCounterMode(display=False)
    x = torch.zeros(1, 3, input_size[1], input_size[0])
    was_training = model.training
    model.eval()
    with counter:
        model(x)
    model.train(was_training)
    # FlopCounterMode counts 2 FLOPs per multiply-accumulate.
    return counter.get_total_flops() // 2
