"""Training outputs: model weights in the official key layout, and a resumable training state.

`final_state.pth` / `best.pth` hold a plain state_dict with the official parameter
names (no `module.` prefix), loadable by `hrtrack.models.load_pose_weights`, by
`hrtrack track` and by the official code. `checkpoint.pth` holds everything a
resumed run needs to continue exactly: model, optimizer, scheduler and gradient
scaler states, the next epoch, the best metric so far, the resolved config and
the RNG states. All are written atomically and read with `weights_only=True`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import HrtrackError
from ..fileio import atomic_path, remove_stale_temporaries
from ..models.checkpoint import torch_load_safely

TRAINING_STATE_KEYS = ("model", "optimizer", "scheduler", "epoch", "best_metric", "best_epoch", "config")
# The files a run writes atomically: weights, training state, per-epoch metrics.
RUN_FILES = ("checkpoint.pth", "best.pth", "final_state.pth", "metrics.csv")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare network inside a DistributedDataParallel / DataParallel wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def model_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict on the CPU under the official key names."""
    return {k: v.detach().cpu().clone() for k, v in unwrap(model).state_dict().items()}


def _save(obj: Any, path: str | Path) -> None:
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except OSError as exc:
        raise HrtrackError(f"cannot write {path}: {exc.strerror or exc}") from None


def remove_stale_outputs(run_dir: str | Path) -> None:
    """Delete what a killed run left of its atomic writes of the run's weight and state files."""
    for name in RUN_FILES:
        remove_stale_temporaries(Path(run_dir) / name)


def save_model_weights(model: nn.Module, path: str | Path) -> None:
    """Write the model's plain state_dict (official key layout) to `path`, atomically."""
    _save(model_state(model), path)


def rng_states() -> dict[str, Any]:
    """Python, torch CPU and CUDA RNG states (augmentation itself is seeded per sample)."""
    states: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` saved (CUDA states only when CUDA is present)."""
    random.setstate(states["python"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_training_state(path: str | Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler | None,
                        epoch: int, best_metric: float, best_epoch: int, config: dict,
                        history: list[dict[str, float]] | None = None) -> None:
    """Write the resumable state after `epoch` epochs have completed (`epoch` = the next one to run).

    `history` holds the per-epoch metric rows, so a resumed run keeps its CSV.
    """
    state = {
        "model": model_state(model),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": int(epoch),
        "best_metric": float(best_metric),
        "best_epoch": int(best_epoch),
        "config": config,
        "history": list(history or []),
        "rng": rng_states(),
    }
    _save(state, path)


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read a `checkpoint.pth` written by `save_training_state`; HrtrackError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise HrtrackError(f"no training state to resume from: {path} does not exist")
    state = torch_load_safely(path)
    if not isinstance(state, dict) or any(k not in state for k in TRAINING_STATE_KEYS):
        missing = [k for k in TRAINING_STATE_KEYS if not isinstance(state, dict) or k not in state]
        raise HrtrackError(f"{path} is not an hrtrack training state (missing {', '.join(missing)})")
    return state
