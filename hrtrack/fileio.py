"""Atomic writes and validated reads shared by every writer (DESIGN.md §6).

Every output goes to a temporary file in the destination folder and is renamed
over the target, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import HrtrackError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The caller writes the temporary path by any means (cv2, torch.save, ...).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise HrtrackError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise HrtrackError(f"output folder is not writable: {folder}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=folder)
    except OSError as exc:
        raise HrtrackError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file owner-only; outputs get the usual umask-based mode.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        try:
            # Flush before the rename: a full disk must fail here, while the old file is still in place.
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, path)
        except OSError as exc:
            raise HrtrackError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise HrtrackError(f"cannot write {path}: {exc.strerror or exc}") from None


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = None) -> None:
    """Serialise `obj` as JSON and write it to `path` atomically."""
    write_bytes_atomic(path, json.dumps(obj, indent=indent).encode("utf-8"))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing, empty or malformed file raises HrtrackError naming it."""
    path = Path(path)
    if not path.is_file():
        raise HrtrackError(f"file not found: {path}")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise HrtrackError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.strip():
        raise HrtrackError(f"empty file: {path}")
    try:
        return json.loads(data, parse_int=_int64)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HrtrackError(f"{path} is not valid JSON: {exc}") from None
    except _IntegerOutOfRange as exc:
        raise HrtrackError(f"{path}: integer {exc} is outside the 64-bit range") from None
    except RecursionError:
        raise HrtrackError(f"{path}: JSON nested too deeply") from None


class _IntegerOutOfRange(ValueError):
    pass


_INT64_DIGITS = len(str(2**63))


def _int64(text: str) -> int:
    """`json.loads`'s integer parser, refusing values outside int64 before converting them.

    Readers keep ids and counts in int64 arrays; a longer integer is a broken or
    hostile file (and Python refuses to convert more than 4300 digits anyway).
    """
    if len(text) < _INT64_DIGITS:
        return int(text)
    if len(text.lstrip("-")) > _INT64_DIGITS or not -2**63 <= int(text) < 2**63:
        raise _IntegerOutOfRange(text if len(text) <= 24 else f"{text[:20]}... ({len(text)} digits)")
    return int(text)
