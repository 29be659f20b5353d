"""Loading pose weights: official model-zoo files, MMPose checkpoints, ImageNet HRNet
backbones and hrtrack's own training states, all through `weights_only=True`.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from torch import nn

from ..errors import HrtrackError

# Parts of the network that an ImageNet-pretrained HRNet provides (the official
# code's PRETRAINED_LAYERS); the heatmap head stays freshly initialised.
BACKBONE_PREFIXES = ("conv1.", "bn1.", "conv2.", "bn2.", "layer1.", "transition1.", "stage2.",
                     "transition2.", "stage3.", "transition3.", "stage4.")

OFFICIAL_FILES_HINT = ("official files are named like pose_hrnet_w48_384x288.pth "
                       "(HRNet model zoo: deep-high-resolution-net.pytorch)")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely and return its tensors under official key names.

    Accepts a plain state_dict, `{"state_dict": ...}` (MMPose, Lightning) or
    `{"model": ...}` (hrtrack training states); strips DataParallel's `module.` and
    renames MMPose's `backbone.` / `keypoint_head.` / `head.` keys.
    """
    path = Path(path)
    if not path.is_file():
        raise HrtrackError(f"pose weights not found: {path} ({OFFICIAL_FILES_HINT})")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsafe content"
        raise HrtrackError(f"refused to load {path}: it holds objects other than tensors ({first})") from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise HrtrackError(f"cannot read {path} as a PyTorch checkpoint: {str(exc).splitlines()[0]}") from None
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
