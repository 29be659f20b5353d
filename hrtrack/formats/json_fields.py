"""Validation of JSON values at the file boundary, shared by every reader in `hrtrack.formats`.

Each check returns the value converted (float, int, array, ...) or raises
`HrtrackError` naming the file (`name`), the field (`where`) and the bad value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import HrtrackError

# Values JSON decodes to numbers (bool is an int subclass and is rejected explicitly).
PLAIN_NUMBERS = {int, float}


def float32_list(values: np.ndarray) -> list[float]:
    """Shortest decimal of each float32 value, so that writing then reading gives the same float32."""
    return [float(s) for s in np.asarray(values, np.float32).reshape(-1).astype(str)]


def short(value: Any, limit: int = 60) -> str:
    """repr() of a bad value, cut to fit an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def is_number(v: Any) -> bool:
    """A finite float, or an int that fits int64 (ids and counts are kept in int64 arrays)."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -2**63 <= v < 2**63
    return isinstance(v, float) and math.isfinite(v)


def number(v: Any, name: str, where: str) -> float:
    """`v` as a finite float."""
    if not is_number(v):
        raise HrtrackError(f"{name}: {where} must be a finite number, got {short(v)}")
    return float(v)


def integer(v: Any, name: str, where: str) -> int:
    """`v` as an int (a float with an integral value is accepted)."""
    if not (is_number(v) and float(v).is_integer()):
        raise HrtrackError(f"{name}: {where} must be an integer, got {short(v)}")
    return int(v)


def flag(v: Any, name: str, where: str) -> bool:
    """`v` as a bool: true/false or 0/1."""
    if isinstance(v, bool) or (isinstance(v, int) and v in (0, 1)):
        return bool(v)
    raise HrtrackError(f"{name}: {where} must be true/false or 0/1, got {short(v)}")


def as_list(v: Any, name: str, where: str) -> list:
    """`v` checked to be a JSON array."""
    if not isinstance(v, list):
        raise HrtrackError(f"{name}: {where} must be a list, got {short(v)}")
    return v


def as_dict(v: Any, name: str, where: str) -> dict:
    """`v` checked to be a JSON object."""
    if not isinstance(v, dict):
        raise HrtrackError(f"{name}: {where} must be an object, got {short(v)}")
    return v


def fields(obj: Any, keys: tuple[str, ...], name: str, where: str) -> dict:
    """`obj` checked to be an object holding every key in `keys`."""
    obj = as_dict(obj, name, where)
    for key in keys:
        if key not in obj:
            raise HrtrackError(f"{name}: {where} has no {key!r}")
    return obj


def numbers(v: Any, length: int, name: str, where: str) -> np.ndarray:
    """`v` as a float64 array of exactly `length` finite numbers."""
    if isinstance(v, list) and len(v) == length and {type(x) for x in v} <= PLAIN_NUMBERS \
            and all(map(is_number, v)):
        return np.asarray(v, np.float64)
    raise HrtrackError(f"{name}: {where} must be a list of {length} finite numbers, got {short(v)}")
