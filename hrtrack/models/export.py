"""ONNX export of the pose network: dynamic batch, opset 18, its input contract as metadata.

The exporter is torch.onnx's default in torch 2.14, the `torch.export`-based one
(`dynamo=True`; it needs the `onnx` and `onnxscript` packages of the deploy extra,
and nothing from the network). The legacy TorchScript exporter is deprecated there
and not used.

`hrtrack export` records in the file what a consumer needs besides the graph
(`network_metadata`; `onnx_metadata` reads it back): input size, colour
order and normalisation, joint layout and flip pairs, heatmap stride and size.

Engines built from a torch model (`build_engine(model, "onnxruntime")`) export it
once per set of weights and keep the file in `$HRTRACK_CACHE/onnx` (default
`~/.cache/hrtrack/onnx`), so only the first run with new weights pays for the export.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..config import to_dict
from ..errors import HrtrackError
from ..fileio import atomic_path, cache_root
from ..skeleton import Layout
from .checkpoint import load_pose_weights
from .codec import HEATMAP_STRIDE
from .factory import ModelConfig, build_pose_model, load_model_config

ONNX_OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "heatmaps"
DEPLOY_EXTRA = "pip install 'hrtrack[deploy]'"

# ImageNet normalisation of RGB pixels scaled to [0, 1]: the network's input contract.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def network_metadata(input_size: tuple[int, int], layout: Layout) -> dict[str, str]:
    """The input contract of a pose network with input (w, h) and joints `layout`, for an exported file.

    Values are JSON text; sizes are (w, h); `mean` and `std` apply to RGB pixels divided by 255.
    """
    w, h = input_size
    return {
        "input_size": json.dumps([w, h]),
        "input_layout": "NCHW",
        "color": "RGB",
        "mean": json.dumps(list(IMAGENET_MEAN)),
        "std": json.dumps(list(IMAGENET_STD)),
        "heatmap_stride": json.dumps(HEATMAP_STRIDE),
        "heatmap_size": json.dumps([w // HEATMAP_STRIDE, h // HEATMAP_STRIDE]),
        "num_joints": json.dumps(layout.num_joints),
        "joint_layout": layout.name,
        "joint_names": json.dumps(list(layout.joint_names)),
        "flip_pairs": json.dumps([list(p) for p in layout.flip_pairs]),
    }


def require(package: str) -> ModuleType:
    """Import an optional deploy package, or raise a one-line HrtrackError naming the extra to install."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise HrtrackError(f"{package} is not installed: {DEPLOY_EXTRA}") from None


def export_onnx(model: nn.Module, path: str | os.PathLike, *, input_size: tuple[int, int],
                metadata: Mapping[str, str] | None = None) -> Path:
    """Write `model` (normalised RGB (B,3,h,w) -> heatmaps) to an ONNX file with a dynamic batch axis.

    `input_size` is (w, h). The graph has one input "input" (B,3,h,w) float32 and one
    output "heatmaps" (B,K,h/4,w/4); `metadata` entries are stored in the file's
    metadata_props. The file is written atomically. The model is exported in eval mode
    and left in the mode it came in.
    """
    onnx = require("onnx")
    require("onnxscript")
    w, h = (int(v) for v in input_size)
    # A batch of 2: torch.export would specialise a batch of 1 to a constant.
    example = torch.zeros(2, 3, h, w, dtype=torch.float32, device=_device_of(model))
    was_training = model.training
    model.eval()
    try:
        program = torch.onnx.export(model, (example,), None, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    opset_version=ONNX_OPSET, dynamo=True, verbose=False,
                                    dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    finally:
        model.train(was_training)
    return _save(onnx, program.model_proto, metadata or {}, Path(path))


@dataclass(frozen=True)
class ExportedModel:
    """What `export_pose_model` wrote: the file, the checkpoint's kind, and how far ONNX Runtime's
    heatmaps of a random batch were from torch's (None without onnxruntime; large for int8)."""

    path: Path
    kind: str
    max_abs_diff: float | None


def export_pose_model(weights: str | os.PathLike, model_config: str | os.PathLike | ModelConfig,
                      out: str | os.PathLike, *, int8_calibration: Iterable[np.ndarray] | None = None
                      ) -> ExportedModel:
    """`hrtrack export`: a checkpoint (any kind `load_pose_weights` reads) -> an ONNX file at `out`.

    The file holds the network with a dynamic batch axis and `network_metadata`
    plus the model config, the weights' file name and kind. It is checked with
    onnx's checker and, when onnxruntime is installed, run on a seeded random
    batch beside the torch model. With `int8_calibration` (normalised crop
    batches) the file is the int8 quantisation of that network (`quantize_int8`).
    """
    out = Path(out)
    if out.suffix != ".onnx":
        raise HrtrackError(f"--out {out}: name the file *.onnx (engines recognise exported networks by it)")
    if not out.parent.is_dir():
        raise HrtrackError(f"output folder does not exist: {out.parent}")
    onnx = require("onnx")
    cfg = load_model_config(model_config)
    model = build_pose_model(cfg)
    kind = load_pose_weights(model, weights)
    metadata = {**network_metadata(cfg.input_size, cfg.joint_layout), "model_config": json.dumps(to_dict(cfg)),
                "weights": Path(weights).name, "weights_kind": kind, "producer": f"hrtrack {__version__}"}
    if int8_calibration is None:
        export_onnx(model, out, input_size=cfg.input_size, metadata=metadata)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", input_size=cfg.input_size, metadata=metadata)
            quantize_int8(fp32, out, int8_calibration)
    onnx.checker.check_model(str(out))
    diff = None
    if importlib.util.find_spec("onnxruntime") is not None:
        import onnxruntime

        w, h = cfg.input_size
        x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            expected = model.eval()(x).numpy()
        session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {INPUT_NAME: x.numpy()})[0]
        diff = float(abs(got - expected).max())
    return ExportedModel(out, kind, diff)


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike, calibration: Iterable[np.ndarray]) -> Path:
    """int8 static quantisation of an exported network with ONNX Runtime's tools.

    Weights become int8 per output channel, activations uint8 with ranges measured
    (min/max) on `calibration`, normalised crop batches (B,3,h,w) float32 from the
    data the network will see. The result is in QDQ form, which both onnxruntime and
    openvino run with int8 kernels; it keeps `src`'s metadata and adds
    "quantization". Faster, less exact: measure it on your data before use
    (docs/deployment.md). The file is written atomically.
    """
    onnx = require("onnx")
    require("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = (np.ascontiguousarray(b, np.float32) for b in calibration)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    with tempfile.TemporaryDirectory() as tmp:
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # torch's export leaves shapes that the symbolic pass cannot finish; onnx's own inference suffices.
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), Batches(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True)
        proto = onnx.load_model(str(quantized))
    del proto.metadata_props[:]
    return _save(onnx, proto, {**onnx_metadata(src), "quantization": "int8 static QDQ, per-channel weights"},
                 Path(dst))


def _save(onnx: ModuleType, proto, metadata: Mapping[str, str], path: Path) -> Path:
    """Add `metadata` to the model's metadata_props and write it to `path` atomically."""
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        onnx.save_model(proto, str(tmp))
    return path


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata_props of an ONNX file (without loading its weights)."""
    onnx = require("onnx")
    path = Path(path)
    if not path.is_file():
        raise HrtrackError(f"ONNX file not found: {path}")
    try:
        proto = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises several types for a file that is not ONNX
        raise HrtrackError(f"cannot read {path} as an ONNX model: {type(exc).__name__}") from None
    return {p.key: p.value for p in proto.metadata_props}


def check_onnx_input_size(path: str | os.PathLike, input_size: tuple[int, int]) -> dict[str, str]:
    """The file's metadata, after checking that it was exported for input (w, h) `input_size`."""
    meta = onnx_metadata(path)
    if "input_size" in meta and tuple(json.loads(meta["input_size"])) != tuple(input_size):
        fw, fh = json.loads(meta["input_size"])
        raise HrtrackError(f"{path} was exported for input {fw}x{fh} (w x h); the model config's input is "
                           f"{input_size[0]}x{input_size[1]}")
    return meta


def cached_onnx(model: nn.Module, input_size: tuple[int, int]) -> Path:
    """An ONNX export of `model` from the cache, exported on first use.

    The cache key covers the weights, the module structure, the source of the
    modules' code, the input size, the opset and the torch version, so a change to
    any of them exports afresh.
    """
    path = onnx_cache_folder() / f"{_fingerprint(model, input_size)}.onnx"
    if not path.is_file():
        export_onnx(model, path, input_size=input_size)
    return path


def onnx_cache_folder() -> Path:
    """hrtrack's folder of cached ONNX exports, created on first use (a one-line error where it cannot be)."""
    folder = cache_root() / "onnx"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HrtrackError(f"cannot create the ONNX cache folder {folder}: {exc.strerror or exc} "
                           f"(set HRTRACK_CACHE to a writable folder)") from None
    return folder


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _fingerprint(model: nn.Module, input_size: tuple[int, int]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{torch.__version__} opset{ONNX_OPSET} {tuple(input_size)} {model!r}".encode())
    sources = sorted({sys.modules[type(m).__module__].__file__ or "" for m in model.modules()})
    for source in sources:
        if source:
            digest.update(Path(source).read_bytes())
    for name, tensor in model.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {t.dtype} {tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:32]
