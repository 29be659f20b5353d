"""Inference engines for the pose network: torch, ONNX Runtime and OpenVINO behind one call.

An engine maps a normalised float32 batch (B,3,h,w) to heatmaps (B,K,h/4,w/4).
`PoseEstimator` hands it the crops (and their mirrors, in the same call); crop,
flip test and decoding stay the estimator's, whatever the engine.

- "torch": the network itself, BatchNorm folded, channels_last, fp16 autocast on CUDA.
- "onnxruntime": the network exported to ONNX (`export.cached_onnx`), run by ONNX
  Runtime's CPU provider (its CUDA provider with a CUDA device, when installed).
- "openvino": the same ONNX graph compiled by OpenVINO for the CPU.
- "auto": on the CPU, the fastest installed engine as measured by
  scripts/bench_estimator.py (docs/benchmarks.md, `CPU_PREFERENCE`); on CUDA, torch.

The ONNX engines also run a file written by `hrtrack export` directly.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..device import resolve_device
from ..errors import HrtrackError
from .export import cached_onnx, check_onnx_input_size, require
from .fold import fold_batchnorm

ENGINES = ("torch", "onnxruntime", "openvino")
# Fastest first on a 2-core x86 CPU, W32-256x192 at batch 1 and 8, heatmaps within
# 1e-4 of the eager model (scripts/bench_estimator.py; docs/benchmarks.md).
CPU_PREFERENCE = ("openvino", "onnxruntime", "torch")

_AMP_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
# ONNX Runtime's graph optimisation levels by name ("all" adds its NCHWc layout transform).
ORT_LEVELS = ("disable", "basic", "extended", "all")
OPENVINO_HINTS = ("LATENCY", "THROUGHPUT")


def is_installed(engine: str) -> bool:
    """Whether `engine`'s package can be imported here (torch always can)."""
    if engine == "torch":
        return True
    try:
        return importlib.util.find_spec(engine) is not None
    except ValueError:  # a None entry in sys.modules: imports of it are blocked
        return False


def installed_engines() -> list[str]:
    """The engines of `ENGINES` whose packages are installed."""
    return [e for e in ENGINES if is_installed(e)]


def resolve_engine(engine: str, device: torch.device, onnx_file: bool = False) -> str:
    """The engine that `engine` names on `device`; "auto" picks by `CPU_PREFERENCE` on the CPU.

    With an ONNX file to run (`onnx_file`), "auto" picks among the ONNX engines.
    """
    if engine not in (*ENGINES, "auto"):
        raise HrtrackError(f"unknown engine {engine!r}; choose auto, {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    if device.type != "cpu" and not onnx_file:
        return "torch"
    candidates = [e for e in CPU_PREFERENCE if not (onnx_file and e == "torch")]
    for name in candidates:
        if is_installed(name):
            return name
    raise HrtrackError("no engine installed that runs ONNX files (onnxruntime, openvino): pip install 'hrtrack[deploy]'")


class Engine:
    """The network behind one call: float32 numpy (B,3,h,w) -> heatmaps (B,K,h/4,w/4) numpy.

    `forward` is the same on torch tensors (the estimator's path); `channels_last`
    says which memory format the engine wants its input tensors in.
    """

    name = ""
    channels_last = False

    def __init__(self, input_size: tuple[int, int], device: torch.device, metadata: dict[str, str] | None = None):
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.device = device
        self.metadata = metadata or {}

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Heatmaps of a checked, C-contiguous float32 batch."""
        raise NotImplementedError

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Heatmaps (B,K,h/4,w/4) float32 of a normalised RGB batch (B,3,h,w) float32."""
        w, h = self.input_size
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32 or batch.shape[1:] != (3, h, w):
            got = f"{batch.shape} {batch.dtype}" if isinstance(batch, np.ndarray) else type(batch).__name__
            raise HrtrackError(f"the {self.name} engine takes a float32 batch (B,3,{h},{w}), got {got}")
        return self.run(np.ascontiguousarray(batch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Heatmaps of a tensor batch, as a float32 tensor on `x`'s device."""
        y = self.run(np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy()))
        return torch.from_numpy(y).to(x.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, input {self.input_size[0]}x{self.input_size[1]}, {self.device})"


class TorchEngine(Engine):
    """The torch network: BatchNorm folded, channels_last (faster on CPU and CUDA), autocast on request.

    Args:
        precision: "auto" (fp16 autocast on CUDA, fp32 elsewhere), "fp32", "fp16" or "bf16".
        fold_bn: fold BatchNorm into the convolutions (a copy; same numbers to float rounding).
            Without it the model runs as given, in eval mode.
    """

    name = "torch"

    def __init__(self, model: nn.Module, input_size: tuple[int, int], *, device: str | torch.device = "cpu",
                 precision: str = "auto", fold_bn: bool = True, channels_last: bool = True):
        super().__init__(input_size, resolve_device(device))
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        if precision not in _AMP_DTYPES:
            raise HrtrackError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
        self.precision = precision
        self.amp_dtype = _AMP_DTYPES[precision]
        self.channels_last = channels_last
        model = fold_batchnorm(model) if fold_bn else model.eval()
        self.model = model.to(self.device, memory_format=torch.channels_last if channels_last
                              else torch.contiguous_format)

    @torch.inference_mode()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            return self.model(x).float()

    def run(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.forward(x).cpu().numpy()


class OnnxRuntimeEngine(Engine):
    """An ONNX file run by ONNX Runtime.

    Args:
        threads: intra-op threads (the operators' own parallelism); inter-op is 1, as
            HRNet's branches are too small to run side by side with profit on a few cores.
        optimization: graph optimisation level, one of `ORT_LEVELS`.
        spinning: let idle worker threads spin for work (lower latency on an idle
            machine; on a busy one they take cores that others need).
        device: "cpu", or a CUDA device for ONNX Runtime's CUDA provider (onnxruntime-gpu).
    """

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, input_size: tuple[int, int], *, threads: int,
                 device: str | torch.device = "cpu", optimization: str = "all", spinning: bool = False):
        super().__init__(input_size, resolve_device(device), check_onnx_input_size(path, input_size))
        ort = require("onnxruntime")
        if optimization not in ORT_LEVELS:
            raise HrtrackError(f"onnxruntime optimisation must be one of {', '.join(ORT_LEVELS)}, got {optimization!r}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.log_severity_level = 3  # errors only: its warnings about unused initialisers are noise here
        providers: list = ["CPUExecutionProvider"]
        if self.device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise HrtrackError("this onnxruntime has no CUDA provider (pip install onnxruntime-gpu), "
                                   "or use --engine torch on CUDA")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([self._output], {self._input: batch})[0]


class OpenVinoEngine(Engine):
    """An ONNX file compiled by OpenVINO for the CPU.

    Args:
        threads: inference threads.
        hint: "LATENCY" (one stream, all threads on each request) or "THROUGHPUT"
            (several streams; a batch is split across them and run concurrently).
        streams: stream count for THROUGHPUT (None: OpenVINO's choice).
        precision: "fp32" (heatmaps within 1e-4 of torch) or "bf16" (faster where the
            CPU has bf16 units, less exact). OpenVINO's default on such CPUs is bf16;
            this engine asks for fp32 unless told otherwise.
    """

    name = "openvino"

    def __init__(self, path: str | os.PathLike, input_size: tuple[int, int], *, threads: int,
                 device: str | torch.device = "cpu", hint: str = "THROUGHPUT", streams: int | None = None,
                 precision: str = "fp32"):
        super().__init__(input_size, resolve_device(device), check_onnx_input_size(path, input_size))
        ov = require("openvino")
        if self.device.type != "cpu":
            raise HrtrackError(f"the openvino engine runs on the CPU; got device {self.device} (use --device cpu "
                               f"or --engine torch)")
        if hint not in OPENVINO_HINTS:
            raise HrtrackError(f"openvino hint must be LATENCY or THROUGHPUT, got {hint!r}")
        if precision not in ("fp32", "bf16"):
            raise HrtrackError(f"the openvino engine runs fp32 or bf16, got precision {precision!r}")
        config = {"PERFORMANCE_HINT": hint, "INFERENCE_NUM_THREADS": int(threads),
                  "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16"}[precision]}
        if streams is not None:
            config["NUM_STREAMS"] = int(streams)
        core = ov.Core()
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._request = self.compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(self.compiled, self.requests) if self.requests > 1 else None

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self._queue is None or len(batch) < 2:
            return self._request.infer({0: batch})[0].copy()
        # THROUGHPUT: one share of the batch per stream, run concurrently.
        parts = np.array_split(batch, min(self.requests, len(batch)))
        outs: list[np.ndarray | None] = [None] * len(parts)

        def done(request, index: int) -> None:
            outs[index] = request.get_output_tensor(0).data.copy()

        self._queue.set_callback(done)
        for i, part in enumerate(parts):
            self._queue.start_async({0: np.ascontiguousarray(part)}, userdata=i)
        self._queue.wait_all()
        return np.concatenate(outs)


def build_engine(model: nn.Module | str | os.PathLike, engine: str = "auto", input_size: tuple[int, int] = (192, 256),
                 threads: int | None = None, *, device: str | torch.device = "cpu", precision: str = "auto",
                 fold_bn: bool = True, channels_last: bool = True) -> Engine:
    """An engine running `model`: a callable float32 numpy (B,3,h,w) -> heatmaps (B,K,h/4,w/4) numpy.

    Args:
        model: a torch pose network, or the path of an ONNX file (`hrtrack export`) for
            the onnxruntime and openvino engines.
        engine: "auto", "torch", "onnxruntime" or "openvino" (see the module docstring).
        input_size: the network input (w, h); an ONNX file's recorded size must match.
        threads: threads of the ONNX engines (None: torch's thread count, which
            OMP_NUM_THREADS and torch.set_num_threads set); torch uses its own.
        device: where the network runs.
        precision: "auto" (fp16 autocast on CUDA, fp32 elsewhere), "fp32", "fp16" or "bf16";
            onnxruntime runs fp32, openvino fp32 or bf16.
        fold_bn, channels_last: the torch engine's fast path (see `TorchEngine`).

    A missing optional package raises HrtrackError naming the deploy extra.
    """
    device = resolve_device(device)
    if precision != "auto" and precision not in _AMP_DTYPES:
        raise HrtrackError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    onnx_file = isinstance(model, (str, os.PathLike))
    name = resolve_engine(engine, device, onnx_file)
    if name == "torch":
        if onnx_file:
            raise HrtrackError(f"the torch engine runs a torch model, not the ONNX file {model}; "
                               f"use --engine onnxruntime or openvino")
        return TorchEngine(model, input_size, device=device, precision=precision, fold_bn=fold_bn,
                           channels_last=channels_last)
    if precision == "auto":
        precision = "fp32"
    if name == "onnxruntime" and precision != "fp32":
        raise HrtrackError(f"the onnxruntime engine runs fp32, got precision {precision!r}")
    require(name)
    threads = int(threads) if threads else torch.get_num_threads()
    if onnx_file:
        path = Path(model)
        if not path.is_file():
            raise HrtrackError(f"ONNX file not found: {path}")
    else:
        path = cached_onnx(model, input_size)
    if name == "onnxruntime":
        return OnnxRuntimeEngine(path, input_size, threads=threads, device=device)
    return OpenVinoEngine(path, input_size, threads=threads, device=device, precision=precision)
