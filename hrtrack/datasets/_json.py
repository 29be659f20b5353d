"""Small JSON helpers shared by the COCO and MPII readers and writers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import HrtrackError


def float32_list(values: np.ndarray) -> list[float]:
    """Shortest decimal of each float32 value, so that writing then reading gives the same float32."""
    return [float(s) for s in np.asarray(values, np.float32).reshape(-1).astype(str)]


def short(value: Any, limit: int = 60) -> str:
    """repr() of a bad value, cut to fit an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))


def numbers(v: Any, length: int, name: str, where: str) -> np.ndarray:
    """`v` as a float64 array of exactly `length` finite numbers, else HrtrackError naming file and field."""
    if not (isinstance(v, list) and len(v) == length and all(is_number(x) for x in v)):
        raise HrtrackError(f"{name}: {where} must be a list of {length} finite numbers, got {short(v)}")
    return np.asarray(v, np.float64)


def integer(v: Any, name: str, where: str) -> int:
    if not (is_number(v) and float(v).is_integer()):
        raise HrtrackError(f"{name}: {where} must be an integer, got {short(v)}")
    return int(v)


def fields(obj: Any, keys: tuple[str, ...], name: str, where: str) -> dict:
    """`obj` checked to be an object holding every key in `keys`."""
    if not isinstance(obj, dict):
        raise HrtrackError(f"{name}: {where} must be an object, got {short(obj)}")
    for key in keys:
        if key not in obj:
            raise HrtrackError(f"{name}: {where} has no {key!r}")
    return obj
