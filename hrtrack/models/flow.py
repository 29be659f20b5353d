"""Optical flow backends behind one call: `flow(prev_bgr, next_bgr) -> (H,W,2)`.

The result is float32 displacement in pixels from the first frame to the second,
at the frames' resolution (DESIGN.md §3): pixel (x, y) of `prev_bgr` moves to
(x + u, y + v). Backends: OpenCV DIS (default), OpenCV Farneback, and any ptlflow
model by name with a local checkpoint (`flownet2` is the paper's). Every backend
can compute at reduced resolution (`scale` < 1); the field is then resized back
and its vectors multiplied by the size ratio.
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Callable, Protocol

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import HrtrackError
from .checkpoint import refusal_reason, refused_message
from ..device import resolve_device


class FlowBackend(Protocol):
    """Anything with the flow call."""

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray: ...


def _check_pair(prev_bgr: np.ndarray, next_bgr: np.ndarray) -> None:
    for name, frame in (("prev_bgr", prev_bgr), ("next_bgr", next_bgr)):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            desc = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise HrtrackError(f"flow needs (H,W,3) uint8 BGR frames; {name} is {desc}")
    if prev_bgr.shape != next_bgr.shape:
        raise HrtrackError(f"consecutive frames differ in size: {prev_bgr.shape[:2]} then {next_bgr.shape[:2]}")


def _check_scale(scale: float) -> float:
    if not (isinstance(scale, (int, float)) and 0.0 < scale <= 1.0):
        raise HrtrackError(f"flow scale must be in (0, 1], got {scale!r}")
    return float(scale)


def resize_flow(flow: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a flow field to `size` = (width, height), scaling its vectors to match.

    Args:
        flow: (h,w,2) displacement in pixels of the (w,h) image.
        size: target (width, height).

    Returns:
        (height,width,2) float32; u is multiplied by width/w and v by height/h.
    """
    h, w = flow.shape[:2]
    width, height = size
    if (w, h) == (width, height):
        return flow.astype(np.float32, copy=False)
    out = cv2.resize(flow.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_LINEAR)
    return out * np.array([width / w, height / h], np.float32)


def _at_scale(compute: Callable[[np.ndarray, np.ndarray], np.ndarray], prev_bgr: np.ndarray,
              next_bgr: np.ndarray, scale: float) -> np.ndarray:
    """Run `compute` on frames shrunk by `scale`; return the field at the frames' size."""
    _check_pair(prev_bgr, next_bgr)
    h, w = prev_bgr.shape[:2]
    if scale == 1.0:
        return compute(prev_bgr, next_bgr).astype(np.float32, copy=False)
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    shrink = [cv2.resize(f, small, interpolation=cv2.INTER_AREA) for f in (prev_bgr, next_bgr)]
    return resize_flow(compute(*shrink), (w, h))


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


class DISFlow:
    """OpenCV's dense inverse search (Kroeger et al. 2016).

    Args:
        preset: "ultrafast", "fast" or "medium" (OpenCV's presets).
        scale: compute at this fraction of the frame size.
    """

    PRESETS = {
        "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    }

    def __init__(self, preset: str = "medium", scale: float = 1.0) -> None:
        if preset not in self.PRESETS:
            raise HrtrackError(f"unknown DIS preset {preset!r}; known: {', '.join(self.PRESETS)}")
        self.preset = preset
        self.scale = _check_scale(scale)
        self._dis = cv2.DISOpticalFlow_create(self.PRESETS[preset])

    def _compute(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        return self._dis.calc(_gray(prev_bgr), _gray(next_bgr), None)

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        """(H,W,2) float32 displacement from `prev_bgr` to `next_bgr`."""
        return _at_scale(self._compute, prev_bgr, next_bgr, self.scale)


class FarnebackFlow:
    """OpenCV's Farneback polynomial-expansion flow (OpenCV's suggested parameters).

    Args:
        scale: compute at this fraction of the frame size.
        levels, winsize, iterations, poly_n, poly_sigma: `cv2.calcOpticalFlowFarneback`'s.
    """

    def __init__(self, scale: float = 1.0, levels: int = 3, winsize: int = 15, iterations: int = 3,
                 poly_n: int = 5, poly_sigma: float = 1.2) -> None:
        self.scale = _check_scale(scale)
        self.params = dict(pyr_scale=0.5, levels=levels, winsize=winsize, iterations=iterations,
                           poly_n=poly_n, poly_sigma=poly_sigma, flags=0)

    def _compute(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(_gray(prev_bgr), _gray(next_bgr), None, **self.params)

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        """(H,W,2) float32 displacement from `prev_bgr` to `next_bgr`."""
        return _at_scale(self._compute, prev_bgr, next_bgr, self.scale)


class PtlflowFlow:
    """A ptlflow model (FlowNet2, RAFT, SEA-RAFT, ...) behind the flow call.

    Frames go in as ptlflow expects them (BGR in [0,1], shape (1,2,3,H,W)),
    padded at the bottom and right by edge replication to a multiple of the
    model's `output_stride` (64 for FlowNet models) and the field is cropped back,
    so pixel coordinates and vectors are unchanged. RAFT-family models need
    frames of at least 128 px per side (their coarsest correlation level must
    keep two pixels); smaller frames give NaN.

    Args:
        model: a ptlflow model (`ptlflow.get_model(...)`), with its weights loaded.
        scale: compute at this fraction of the frame size.
        device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N".
    """

    def __init__(self, model: torch.nn.Module, scale: float = 1.0, device: str | torch.device = "auto") -> None:
        self.scale = _check_scale(scale)
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.stride = int(getattr(model, "output_stride", 1) or 1)

    @classmethod
    def from_checkpoint(cls, name: str, weights: str | os.PathLike | None, scale: float = 1.0,
                        device: str | torch.device = "auto") -> "PtlflowFlow":
        """Build ptlflow model `name` with the weights of a local checkpoint file.

        Never downloads: without a file, random weights would silently give garbage,
        so this raises instead.
        """
        scale = _check_scale(scale)
        ptlflow = _import_ptlflow()
        if ptlflow is None:
            raise HrtrackError(f"flow model {name!r} needs the ptlflow package: pip install 'hrtrack[flow]'")
        if name not in ptlflow.get_model_names():
            raise HrtrackError(f"unknown flow model {name!r}; known: {', '.join(flow_names())}")
        if weights is None:
            raise HrtrackError(f"flow model {name!r} needs a checkpoint: pass a local ptlflow .ckpt file "
                               f"(--flow-weights PATH); random weights would give meaningless flow")
        path = Path(weights)
        if not path.is_file():
            raise HrtrackError(f"flow checkpoint not found: {path}")
        if path.stat().st_size == 0:
            raise HrtrackError(f"empty file: {path}")
        try:
            # A path that exists is loaded as a file by ptlflow (torch.load with weights_only=True);
            # only names of released checkpoints would be downloaded.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Detected pickle protocol")
                model = ptlflow.get_model(name, ckpt_path=str(path))
        except pickle.UnpicklingError as exc:
            raise HrtrackError(refused_message(path, exc)) from None
        except Exception as exc:  # unreadable file, no 'state_dict', keys that do not fit
            raise HrtrackError(f"cannot load {path} into flow model {name!r}: {refusal_reason(exc)}") from None
        return cls(model, scale=scale, device=device)

    @torch.inference_mode()
    def _compute(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        h, w = prev_bgr.shape[:2]
        pair = torch.from_numpy(np.stack([prev_bgr, next_bgr])).to(self.device)
        pair = pair.permute(0, 3, 1, 2).float().div_(255.0)  # (2,3,H,W)
        pad_h = (-h) % self.stride
        pad_w = (-w) % self.stride
        if pad_h or pad_w:
            pair = F.pad(pair, (0, pad_w, 0, pad_h), mode="replicate")
        flows = self.model({"images": pair[None]})["flows"]  # (1,1,2,H',W')
        return flows[0, 0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()

    def __call__(self, prev_bgr: np.ndarray, next_bgr: np.ndarray) -> np.ndarray:
        """(H,W,2) float32 displacement from `prev_bgr` to `next_bgr`."""
        return _at_scale(self._compute, prev_bgr, next_bgr, self.scale)


# Classical backends by name; any other name is looked up in ptlflow.
FLOW_BACKENDS: dict[str, Callable[..., FlowBackend]] = {
    "dis": DISFlow,
    "farneback": FarnebackFlow,
}


def flow_names() -> list[str]:
    """Names `build_flow` accepts: the OpenCV backends, then ptlflow's models if installed."""
    ptlflow = _import_ptlflow()
    if ptlflow is None:
        return list(FLOW_BACKENDS)
    return list(FLOW_BACKENDS) + ptlflow.get_model_names()


def _import_ptlflow():
    """The ptlflow module, or None when it is not installed.

    Importing it makes some bundled models log "xFormers not available" through
    the "dinov2" logger and its dependencies warn about their own deprecations;
    none of that concerns the chosen model, so it is muted.
    """
    noisy = logging.getLogger("dinov2")
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation notices of ptlflow's own dependencies
            import ptlflow
    except ImportError:
        return None
    finally:
        noisy.setLevel(level)
    return ptlflow


def build_flow(name: str = "dis", weights: str | os.PathLike | None = None, scale: float = 1.0,
               device: str | torch.device = "auto", **options) -> FlowBackend:
    """A flow backend by name.

    Args:
        name: "dis", "farneback", or a ptlflow model name ("flownet2", "raft", ...).
        weights: local checkpoint file, required by (and only used for) ptlflow models.
        scale: compute at this fraction of the frame size, in (0, 1].
        device: device of ptlflow models ("auto" picks CUDA when present).
        options: keyword arguments of an OpenCV backend's constructor, e.g. `preset="fast"` for DIS.

    Returns:
        A callable `(prev_bgr, next_bgr) -> (H,W,2)` float32 flow.
    """
    if name in FLOW_BACKENDS:
        if weights is not None:
            raise HrtrackError(f"the {name!r} flow backend takes no weights, got {weights}")
        return FLOW_BACKENDS[name](scale=scale, **options)
    if options:
        raise HrtrackError(f"flow model {name!r} takes no options, got {', '.join(options)}")
    return PtlflowFlow.from_checkpoint(name, weights, scale=scale, device=device)
