"""`--fast`: one table of settings laid over the chosen preset, and the line that says what it changed.

Each entry of `FAST_OVERLAY` is a setting, its fast value and why it is there; its
speed and accuracy costs are measured in docs/deployment.md (fast mode). The
overlay goes on top of the preset; the user's own settings (`--set`, `--detector`,
`--detect-every`, `--engine`, `--flow`) go on top of the overlay, and an entry the
user set is left out. Some entries apply only where they pay:

- keyframe detection and the detector entries only when a detector runs (with a
  detection file, skipping keyframes saves nothing), and with them re-identification,
  which gives people found again at a keyframe their ids back (it costs little time
  and takes back most of the identity switches that keyframes add: 293 -> 179 on the
  hard synthetic bed, against 161 without keyframes);
- the faster detector only when its weights are in torchvision's cache and the
  user gave no weights of their own (those belong to the preset's detector), and
  only when it is cheaper than the preset's; the input-size policy only when the
  detector takes one and it shrinks the input;
- the detector's backbone on ONNX Runtime only on the CPU, with onnxruntime installed;
- bf16 HRNet only on a CPU with bf16 instructions (avx512_bf16 or amx_bf16) and
  an engine that runs it (torch, openvino); elsewhere HRNet stays as it was, and
  one line says why.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from ..config import to_dict
from ..device import resolve_device
from ..models.detector import DETECTOR_ARCHS, detector_weights_path
from ..models.engines import is_installed, resolve_engine
from ..errors import HrtrackError
from .config import PipelineConfig

# setting -> (fast value, why). The lead adjusts this table after measuring (docs/deployment.md).
FAST_OVERLAY: dict[str, tuple[Any, str]] = {
    "detector.every": (4, "the detector on every 4th frame; flow propagation carries the boxes between"),
    "detector.adaptive": (True, "and on the frame after one where tracking lost a person"),
    "tracking.reid": (True, "re-identification: a person found again at a keyframe takes back their id"),
    "detector.model": ("fasterrcnn_mobilenet_v3_large_fpn", "a MobileNetV3 Faster R-CNN"),
    "detector.max_size": (640, "frames scaled to 640 px on their longer side for the detector"),
    "detector.engine": ("onnxruntime", "the detector's backbone on ONNX Runtime"),
    "estimator.flip_test": (False, "no flip test: one HRNet pass per person instead of two"),
    "estimator.precision": ("bf16", "bf16 HRNet on a CPU with bf16 instructions"),
    "flow.scale": (0.5, "DIS flow at half the frame size"),
}

# Entries that pay only with keyframe detection, and go where it goes.
KEYFRAME_COMPANIONS = ("tracking.reid",)

# /proc/cpuinfo flags of the instructions that make bf16 and int8 networks fast.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux reports them; empty where /proc/cpuinfo does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


@dataclass(frozen=True)
class FastPlan:
    """What `--fast` does: `overrides` ("key=value", applied before the user's own), the `line` naming
    each change, and `notes`: one line per entry left out because this machine or run cannot use it."""

    overrides: tuple[str, ...]
    line: str
    notes: tuple[str, ...]

    def announce(self, prefix: str) -> None:
        """Print the line and the notes on stderr, once, each after `prefix`."""
        for text in (self.line, *self.notes):
            print(f"{prefix}: {text}", file=sys.stderr)


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _get(cfg: dict, key: str) -> Any:
    section, name = key.split(".")
    return cfg[section][name]


def plan_fast(cfg: PipelineConfig, *, user_keys: Iterable[str] = (), device: str | torch.device = "cpu",
              runs_detector: bool = True, own_detector_weights: bool = False, onnx_weights: bool = False,
              flags: frozenset[str] | None = None, need_detector_weights: bool = True) -> FastPlan:
    """The `--fast` overlay for `cfg` (the preset with the user's settings already applied).

    Args:
        user_keys: settings the user gave ("detector.every", ...): left as the user set them.
        device: where HRNet runs; bf16 is a CPU entry.
        runs_detector: False with a detection file.
        own_detector_weights: the user passed --detector-weights (for the preset's detector).
        onnx_weights: the pose weights are an ONNX file (its engine is an ONNX one).
        flags: the CPU's feature flags (None: this machine's, `cpu_flags()`).
        need_detector_weights: False where the detector runs with random weights (benchmarks): the faster
            detector is chosen without looking for its weights.
    """
    flags = cpu_flags() if flags is None else flags
    user = set(user_keys)
    now = to_dict(cfg)
    chosen: dict[str, Any] = {}
    notes: list[str] = []
    for key, (value, _) in FAST_OVERLAY.items():
        if key not in user and _get(now, key) != value:
            chosen[key] = value
    if not runs_detector:
        for key in [k for k in chosen if k.startswith("detector.") or k in KEYFRAME_COMPANIONS]:
            del chosen[key]
    if chosen.get("detector.every", cfg.detector.every) == 1:
        # The detector on every frame (the user's --detect-every 1): there is nothing to adapt.
        chosen.pop("detector.adaptive", None)
    model = chosen.get("detector.model")
    if model is not None:
        names = list(DETECTOR_ARCHS)
        if own_detector_weights or names.index(model) <= names.index(cfg.detector.model):
            del chosen["detector.model"]
        elif need_detector_weights:
            try:
                detector_weights_path(model)
            except HrtrackError:
                del chosen["detector.model"]
                notes.append(f"--fast keeps detector {cfg.detector.model}: {DETECTOR_ARCHS[model].file_name} "
                             f"(the faster {model}) is not in {Path(torch.hub.get_dir()) / 'checkpoints'}")
    detector = chosen.get("detector.model", cfg.detector.model)
    size = chosen.get("detector.max_size")
    if size is not None and (not DETECTOR_ARCHS[detector].resizable
                             or (cfg.detector.max_size is not None and cfg.detector.max_size <= size)
                             or (cfg.detector.min_size is not None and cfg.detector.min_size > size)):
        del chosen["detector.max_size"]
    on_cpu = resolve_device(device).type == "cpu"
    engine = chosen.get("detector.engine")
    if engine is not None and not (on_cpu and is_installed(engine)):
        del chosen["detector.engine"]
        if on_cpu:
            notes.append(f"--fast keeps the detector on torch: {engine} is not installed (pip install "
                         f"'hrtrack[deploy]')")
    if "estimator.precision" in chosen:
        note = _bf16_refusal(cfg, onnx_weights, flags) if on_cpu else None
        if not on_cpu or note is not None:
            # On a GPU the preset's "auto" (fp16 autocast on CUDA) is already the fast choice.
            del chosen["estimator.precision"]
        if note is not None:
            notes.append(note)
    changes = [f"{key} {_yaml(_get(now, key))} -> {_yaml(value)}" for key, value in chosen.items()]
    line = ("--fast changes " + ", ".join(changes) if changes else "--fast changes nothing here") + \
        " (docs/deployment.md, fast mode)"
    return FastPlan(tuple(f"{k}={_yaml(v)}" for k, v in chosen.items()), line, tuple(notes))


def cpu_precision(precision: str, device: str | torch.device, flags: frozenset[str] | None = None
                  ) -> tuple[str, str | None]:
    """The HRNet precision to run: bf16 asked of a CPU without bf16 instructions becomes fp32 (emulated
    bf16 is slower than fp32 there), with the one line that says so; anything else is kept, with None."""
    flags = cpu_flags() if flags is None else flags
    if precision != "bf16" or resolve_device(device).type != "cpu" or flags.intersection(BF16_FLAGS):
        return precision, None
    return "fp32", (f"estimator.precision bf16 falls back to fp32: this CPU has no bf16 instructions "
                    f"({', '.join(BF16_FLAGS)})")


def _bf16_refusal(cfg: PipelineConfig, onnx_weights: bool, flags: frozenset[str]) -> str | None:
    """Why HRNet cannot run bf16 on this CPU (one line), or None when it can."""
    if not flags.intersection(BF16_FLAGS):
        int8 = sorted(flags.intersection(INT8_FLAGS))
        hint = (f"; it has int8 ones ({', '.join(int8)}): `hrtrack export --int8` and pass the .onnx as "
                f"--pose-weights" if int8 else f" nor int8 ones ({', '.join(INT8_FLAGS)})")
        return f"--fast keeps HRNet fp32: this CPU has no bf16 instructions ({', '.join(BF16_FLAGS)}){hint}"
    if resolve_engine(cfg.estimator.engine, torch.device("cpu"), onnx_weights) == "onnxruntime":
        return "--fast keeps HRNet fp32: the onnxruntime engine runs fp32 only (--engine openvino runs bf16)"
    return None
