"""A detector's backbone on ONNX Runtime or OpenVINO; the rest of the detector stays torch.

The backbone (ResNet-50 or MobileNetV3 with its FPN, or SSDlite's feature
extractor) holds nearly all of a torchvision detector's FLOPs. The region
proposals, heads, box decoding and NMS depend on the data and stay torch, so the
detector's output contract is unchanged. The backbone is exported once per
weights to `$HRTRACK_CACHE/onnx` with a dynamic frame size (any multiple of 32
px, which torchvision's transform pads to), and the engine replaces
`model.backbone` in place: `OnnxBackbone(x) -> OrderedDict` of the same feature maps.

Features match torch's to float rounding (tests/test_detectors.py). Speed on a
CPU: docs/deployment.md (detectors, engines).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import HrtrackError
from ..fileio import atomic_path
from .export import onnx_cache_folder, require

DETECTOR_ENGINES = ("torch", "onnxruntime", "openvino")
INPUT_NAME = "images"
ONNX_OPSET = 18
# torchvision's transform pads every batch to a multiple of this; the export is dynamic in steps of it.
SIZE_STEP = 32


def check_detector_engine(engine: str) -> None:
    """HrtrackError unless `engine` is one of `DETECTOR_ENGINES`."""
    if engine not in DETECTOR_ENGINES:
        raise HrtrackError(f"detector.engine must be one of {', '.join(DETECTOR_ENGINES)}, got {engine!r}")


def _fingerprint(backbone: nn.Module, arch: str) -> str:
    digest = hashlib.sha256(f"{torch.__version__} opset{ONNX_OPSET} {arch} {backbone!r}".encode())
    for name, tensor in backbone.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]


class _Features(nn.Module):
    """The backbone with its feature maps as a tuple (what an ONNX graph returns)."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone(x).values())


def export_backbone(backbone: nn.Module, path: str | Path) -> Path:
    """Write `backbone` (normalised image batch (1,3,H,W) -> its feature maps) to an ONNX file, H and W dynamic
    in steps of `SIZE_STEP`; written atomically."""
    require("onnxscript")
    onnx = require("onnx")
    h, w = torch.export.Dim("h32", min=2, max=256), torch.export.Dim("w32", min=2, max=256)
    example = torch.zeros(1, 3, 12 * SIZE_STEP, 20 * SIZE_STEP)
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates each step
        program = torch.onnx.export(_Features(backbone).eval(), (example,), None, input_names=[INPUT_NAME],
                                    opset_version=ONNX_OPSET, dynamo=True, verbose=False,
                                    dynamic_shapes=({2: SIZE_STEP * h, 3: SIZE_STEP * w},))
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save_model(program.model_proto, str(tmp))
    return path


def cached_backbone(backbone: nn.Module, arch: str) -> Path:
    """The ONNX export of `backbone` from hrtrack's cache, exported on first use (keyed by its weights)."""
    path = onnx_cache_folder() / f"detector-{arch}-{_fingerprint(backbone, arch)}.onnx"
    if not path.is_file():
        export_backbone(backbone, path)
    return path


class OnnxBackbone(nn.Module):
    """A detector backbone run by ONNX Runtime or OpenVINO, called like the torch one.

    Args:
        path: the exported backbone (`export_backbone`).
        names: the feature maps' names, in the order the graph returns them.
        out_channels: the backbone's `out_channels` (torchvision's heads read it).
        engine: "onnxruntime" or "openvino".
        threads: the runtime's threads.
    """

    def __init__(self, path: str | Path, names: list[str], out_channels: int, *, engine: str, threads: int) -> None:
        super().__init__()
        if engine not in ("onnxruntime", "openvino"):
            raise HrtrackError(f"a detector backbone runs on onnxruntime or openvino, got {engine!r}")
        self.names = list(names)
        self.out_channels = out_channels
        self.engine = engine
        self.threads = int(threads)
        if engine == "onnxruntime":
            ort = require("onnxruntime")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # Idle workers that spin take the cores flow and HRNet need between detector calls.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        else:
            self._core = require("openvino").Core()
            self._path = str(path)
            self._compiled: dict[tuple[int, ...], object] = {}

    def _openvino(self, shape: tuple[int, ...]):
        """A request compiled for this input shape (one per frame size: static shapes run fastest)."""
        if shape not in self._compiled:
            model = self._core.read_model(self._path)
            model.reshape({0: list(shape)})
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads,
                      "INFERENCE_PRECISION_HINT": "f32"}
            self._compiled[shape] = self._core.compile_model(model, "CPU", config).create_infer_request()
        return self._compiled[shape]

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        outputs = []
        # One image at a time: the graph's batch axis is fixed at 1.
        for image in batch:
            image = image[None]
            if self.engine == "onnxruntime":
                outputs.append(self._session.run(None, {INPUT_NAME: image}))
            else:
                result = self._openvino(image.shape).infer({0: image})
                outputs.append([result[i].copy() for i in range(len(self.names))])
        return OrderedDict((name, torch.from_numpy(np.concatenate([o[i] for o in outputs])).to(x.device))
                           for i, name in enumerate(self.names))


@torch.no_grad()
def run_backbone_on(model: nn.Module, arch: str, engine: str, threads: int | None = None) -> nn.Module:
    """`model` (a torchvision detector on the CPU) with its backbone on `engine`; in place, returned.

    "torch" leaves the model as it is. The feature maps' names are read from one
    small forward pass of the torch backbone.
    """
    check_detector_engine(engine)
    if engine == "torch":
        return model
    backbone = model.backbone.eval()
    names = list(backbone(torch.zeros(1, 3, 10 * SIZE_STEP, 10 * SIZE_STEP)).keys())
    path = cached_backbone(backbone, arch)
    # SSD's extractor has no out_channels; the heads that read it were built already.
    model.backbone = OnnxBackbone(path, names, getattr(backbone, "out_channels", 0), engine=engine,
                                  threads=threads or torch.get_num_threads())
    return model
