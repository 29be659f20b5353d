"""Device selection: `auto`, `cpu`, `cuda`, `cuda:N`, checked against what this machine has."""

from __future__ import annotations

import torch

from .errors import HrtrackError


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
