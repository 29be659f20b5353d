"""Loading pose weights: official model-zoo files, MMPose checkpoints, ImageNet HRNet
backbones and hrtrack's own training states, all through `weights_only=True`.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import HrtrackError

# Parts of the network that an ImageNet-pretrained HRNet provides (the official
# code's PRETRAINED_LAYERS); the heatmap head stays freshly initialised.
BACKBONE_PREFIXES = ("conv1.", "bn1.", "conv2.", "bn2.", "layer1.", "transition1.", "stage2.",
                     "transition2.", "stage3.", "transition3.", "stage4.")

OFFICIAL_FILES_HINT = ("official files are named like pose_hrnet_w48_384x288.pth "
                       "(HRNet model zoo: deep-high-resolution-net.pytorch)")


# Lines of torch's weights-only refusal that are advice, not the reason.
_TORCH_ADVICE = ("Weights only load failed", "In PyTorch 2.6", "Please file an issue", "Check the documentation",
                 "This file can still be loaded", "(1)", "(2)", "Re-running `torch.load`")


def refusal_reason(exc: BaseException) -> str:
    """The part of a `torch.load` failure that says what went wrong (e.g. the blocked global), without advice."""
    if isinstance(exc, KeyError) and exc.args:
        return f"no {exc.args[0]!r} entry"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if not line.startswith(_TORCH_ADVICE)]
    reason = (reasons or lines or [type(exc).__name__])[0].removeprefix("WeightsUnpickler error:").strip()
    # The first sentence says what was refused; the rest tells how to allow it: no advice for a stranger's file.
    return reason.split(". ")[0].rstrip(".") or type(exc).__name__


def refused_message(path: str | Path, exc: pickle.UnpicklingError) -> str:
    """The one-line message for a checkpoint that `weights_only=True` refused."""
    return (f"refused to load {path}: cannot read it as a checkpoint of plain tensors ({refusal_reason(exc)}); "
            f"checkpoints are loaded with weights_only=True, so code or objects in them never run")


def torch_load_safely(path: str | Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, every failure a one-line HrtrackError.

    A file holding anything but tensors and plain containers (a pickle that would
    run code or build arbitrary objects) is refused, never executed.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise HrtrackError(f"empty file: {path}")
    try:
        with warnings.catch_warnings():
            # Pickles written by plain `pickle.dump` make torch warn about their protocol before refusing them.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise HrtrackError(refused_message(path, exc)) from None
    except Exception as exc:  # a truncated or foreign file makes torch raise many types; all are about the file
        raise HrtrackError(f"cannot read {path} as a PyTorch checkpoint: {refusal_reason(exc)}") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely and return its tensors under official key names.

    Accepts a plain state_dict, `{"state_dict": ...}` (MMPose, Lightning) or
    `{"model": ...}` (hrtrack training states); strips DataParallel's `module.` and
    renames MMPose's `backbone.` / `keypoint_head.` / `head.` keys.
    """
    path = Path(path)
    if not path.is_file():
        raise HrtrackError(f"pose weights not found: {path} ({OFFICIAL_FILES_HINT})")
    obj = torch_load_safely(path)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise HrtrackError(f"{path} is not a state dict of tensors (got {type(obj).__name__})")
    out = {}
    for key, value in obj.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith("backbone."):
            key = key[len("backbone."):]
        for head in ("keypoint_head.final_layer.", "head.final_layer."):
            if key.startswith(head):
                key = "final_layer." + key[len(head):]
        out[key] = value
    return out


def _is_imagenet_backbone(state: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith(("incre_modules.", "downsamp_modules.", "classifier.")) for k in state)


def _describe_fit(state: dict[str, torch.Tensor]) -> str:
    head = state.get("final_layer.weight")
    if head is None or head.dim() != 4:
        return "it has no HRNet heatmap head (final_layer.weight)"
    joints, width = head.shape[:2]
    from ..config import CONFIG_ROOT

    names = sorted(p.stem for p in (CONFIG_ROOT / "models").glob(f"w{width}_*.yaml"))
    fit = f"a W{width} model with {joints} joints"
    return f"it holds {fit}" + (f" (configs: {', '.join(names)}, with num_joints={joints})" if names else "")


def load_pose_weights(model: nn.Module, path: str | Path) -> str:
    """Load a checkpoint into `model` and return its kind: "official", "imagenet".

    Official, MMPose and hrtrack checkpoints must fit exactly (strict); an ImageNet
    HRNet contributes the backbone only. A checkpoint that does not fit raises
    HrtrackError naming the first missing / unexpected / mis-shaped keys and the
    configuration that would fit.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    if _is_imagenet_backbone(state):
        backbone = {k: v for k, v in state.items()
                    if k.startswith(BACKBONE_PREFIXES) and k in own and own[k].shape == v.shape}
        needed = [k for k in own if k.startswith(BACKBONE_PREFIXES) and not k.endswith("num_batches_tracked")]
        missing = [k for k in needed if k not in backbone]
        if missing:
            raise HrtrackError(f"{path}: ImageNet backbone does not fit this model; first missing or "
                               f"mis-shaped key: {missing[0]} ({len(missing)} in all)")
        model.load_state_dict(backbone, strict=False)
        return "imagenet"
    # Files saved before PyTorch 0.4.1 lack BatchNorm's step counter; it does not affect eval.
    for key in own:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing {missing[0]}" + (f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""))
        if unexpected:
            parts.append(f"unexpected {unexpected[0]}" + (f" (+{len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
        if misshaped:
            k = misshaped[0]
            parts.append(f"shape of {k} is {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model")
        raise HrtrackError(f"{path} does not fit the model: {'; '.join(parts)}; {_describe_fit(state)}")
    model.load_state_dict(state, strict=True)
    return "official"
