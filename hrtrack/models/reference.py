"""The reference synthetic model: the small HRNet that ships with the code (reference/ at the repository root).

The project's own recipe (configs/synthetic/tiny.yaml) trained it once, for longer than
a demo could; `scripts/make_reference_model.py` trained and packaged it. Its
weights are stored in float16 (the repository carries at most 2 MB) and load
into the float32 network as every other checkpoint does. Beside them: its model
config (`<name>.yaml`) and a provenance file (`<name>.json`: the exact training
command, steps, seed, commit, sha256, wall time, CPU and the scores it reaches).
The demo, the synthetic benchmarks and the tracking gates use it, so that their
numbers mean the same model on every machine.

Every load checks the weights against the sha256 in the provenance: a missing,
truncated or altered file ends in one line that names it and the command that
retrains it. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HrtrackError

REFERENCE_ROOT = Path(__file__).resolve().parents[2] / "reference"
DEFAULT_REFERENCE = "synthetic_tiny"


@dataclass(frozen=True)
class ReferenceModel:
    """A verified reference model: its weights, model config and provenance."""

    name: str
    weights: Path
    model_yaml: Path
    provenance: dict[str, Any]

    @property
    def sha256(self) -> str:
        return str(self.provenance["sha256"])

    def describe(self) -> str:
        """One line naming the model for tables and logs, e.g. "reference model synthetic_tiny
        (15000 steps of configs/synthetic/tiny.yaml, sha256 0123456789ab)"."""
        p = self.provenance
        return (f"reference model {self.name} ({p['steps']} steps of {p['recipe']}, seed {p['seed']}, "
                f"sha256 {self.sha256[:12]})")


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def retrain_command(provenance: dict[str, Any] | None = None) -> str:
    """The command that trains and packages the reference model again."""
    if provenance and provenance.get("package_command"):
        return str(provenance["package_command"])
    return "python scripts/make_reference_model.py --train"


def reference_model(name: str = DEFAULT_REFERENCE, root: str | Path | None = None) -> ReferenceModel:
    """The reference model `name` under `root` (default: the repository's reference/), its sha256 verified.

    Raises HrtrackError, naming the file and the command that retrains it, when the
    provenance or the weights are missing, or the weights' sha256 differs from the
    provenance's (a truncated or altered file).
    """
    folder = Path(root) if root is not None else REFERENCE_ROOT
    meta, weights, model_yaml = folder / f"{name}.json", folder / f"{name}.pth", folder / f"{name}.yaml"
    if not meta.is_file():
        raise HrtrackError(f"reference model provenance not found: {meta}; retrain the model with: "
                           f"{retrain_command()}")
    try:
        provenance = json.loads(meta.read_text(encoding="utf-8"))
        expected = str(provenance["sha256"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HrtrackError(f"reference model provenance {meta} is unreadable ({type(exc).__name__}); restore it "
                           f"with `git checkout -- {meta.name}` or retrain with: {retrain_command()}") from None
    again = retrain_command(provenance)
    if not weights.is_file():
        raise HrtrackError(f"reference model weights not found: {weights}; retrain them with: {again}")
    actual = file_sha256(weights)
    if actual != expected:
        raise HrtrackError(f"reference model weights {weights} are truncated or altered (sha256 {actual[:12]}, "
                           f"expected {expected[:12]} from {meta.name}); restore the file or retrain it with: "
                           f"{again}")
    if not model_yaml.is_file():
        raise HrtrackError(f"reference model config not found: {model_yaml}; retrain the model with: {again}")
    return ReferenceModel(name, weights, model_yaml, provenance)
