"""Training throughput on this machine: samples/s of a full training step (forward, JointsMSELoss,
backward, Adam) for HRNet-W32 256x192 and the tiny synthetic config, and of the data pipeline
(JPEG read, augmentation, crop, targets) on a synthetic set.

    python scripts/bench_training.py                # both models, CPU
    python scripts/bench_training.py --device cuda --batch-size 32

The last line is `RESULT w32_256x192=<samples/s> tiny=<samples/s> data=<samples/s> device=...`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hrtrack.synthetic import generate_dataset
from hrtrack.datasets.topdown import TopDownDataset, open_split
from hrtrack.models import build_pose_model
from hrtrack.device import resolve_device
from hrtrack.training import joints_mse_loss, load_train_config, model_config_of

MODELS = {"w32_256x192": "coco_w32_256x192", "tiny": "synthetic/tiny"}


def step_rate(config: str, batch_size: int, steps: int, device: torch.device) -> float:
    """Samples/s of training steps on random crops and targets (after one warm-up step)."""
    mc = model_config_of(load_train_config(config))
    torch.manual_seed(0)
    model = build_pose_model(mc).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    w, h = mc.input_size
    x = torch.randn(batch_size, 3, h, w, device=device)
    target = torch.rand(batch_size, mc.num_joints, h // 4, w // 4, device=device)
    weight = torch.ones(batch_size, mc.num_joints, 1, device=device)
    elapsed = 0.0
    for i in range(steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = joints_mse_loss(model(x), target, weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            elapsed += time.perf_counter() - start
    return batch_size * steps / elapsed


def data_rate(root: Path, samples: int) -> float:
    """Samples/s of the augmenting dataset (one process) at the tiny config's input size."""
    mc = model_config_of(load_train_config("synthetic/tiny"))
    split = open_split("posetrack", root, "train", aspect_ratio=mc.input_size[0] / mc.input_size[1], num_joints=17)
    data = TopDownDataset(split.samples, mc.codec, mc.joint_layout, train=True)
    idx = np.arange(samples) % len(data)
    data[0]
    start = time.perf_counter()
    for i in idx:
        data[int(i)]
    return samples / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch-size", type=int, default=8, help="crops per step for W32 (default 8)")
    parser.add_argument("--tiny-batch-size", type=int, default=32, help="crops per step for tiny (default 32)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--data", type=Path, help="a `hrtrack synth` root (default: a small one made in /tmp)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    rates = {"w32_256x192": step_rate(MODELS["w32_256x192"], args.batch_size, args.steps, device),
             "tiny": step_rate(MODELS["tiny"], args.tiny_batch_size, args.steps, device)}
    for name, rate in rates.items():
        print(f"{name:>12s}: {rate:8.1f} training samples/s on {device} ({torch.get_num_threads()} threads)")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp)
            generate_dataset(root, videos=2, frames=16, size=(640, 360), splits=("train",), seed=0, progress=False)
        data = data_rate(root, 200)
    print(f"{'data':>12s}: {data:8.1f} samples/s (read + augment + crop + targets, one process)")
    print(f"RESULT w32_256x192={rates['w32_256x192']:.2f} tiny={rates['tiny']:.1f} data={data:.0f} device={device}")


if __name__ == "__main__":
    main()
