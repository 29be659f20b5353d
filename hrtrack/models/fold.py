"""Inference fast path: BatchNorm folded into the convolution before it."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval





def _fold_children(module: nn.Module) -> None:
    names = [n for n, _ in module.named_children()]
    children = dict(module.named_children())
    if isinstance(module, nn.Sequential):
        # Consecutive (Conv2d, BatchNorm2d) inside a Sequential: transitions, fuse units, downsamples.
        for a, b in zip(names, names[1:]):
            conv, bn = children[a], children[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, a, fuse_conv_bn_eval(conv, bn))
                setattr(module, b, nn.Identity())
    else:
        # Named pairs convN / bnN: the stem and the residual blocks.
        for name in names:
            if name.startswith("conv") and f"bn{name[4:]}" in children:
                conv, bn = children[name], children[f"bn{name[4:]}"]
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    setattr(module, name, fuse_conv_bn_eval(conv, bn))
                    setattr(module, f"bn{name[4:]}", nn.Identity())
    for child in module.children():
        _fold_children(child)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every BatchNorm folded into the conv before it.

    Folded and unfolded models agree to float rounding; the copy's state_dict no
    longer has the official key names, so save the original, not this.
    """
    folded = copy.deepcopy(model).eval()
    _fold_children(folded)
    return folded
