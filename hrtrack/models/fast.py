"""Inference fast path: Conv-BN folding and device selection."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import HrtrackError


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA when present; `cpu`, `cuda`, `cuda:1` are taken as given."""
    if isinstance(spec, torch.device):
        return spec
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise HrtrackError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise HrtrackError(f"device {spec!r} requested but CUDA is not available on this machine")
    return device


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
