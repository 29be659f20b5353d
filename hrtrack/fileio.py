"""Atomic writes and validated reads shared by every writer (DESIGN.md §6).

Every output goes to a temporary file in the destination folder and is renamed
over the target, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import HrtrackError


class AtomicWrite:
    """A temporary file `tmp` beside `target`: `commit()` flushes it and renames it over `target`,
    `discard()` deletes it, leaving any previous `target` intact.

    For writers that stream over many calls (results files, videos); one-shot
    writes use `atomic_path`.
    """

    def __init__(self, target: str | os.PathLike) -> None:
        self.target = Path(target)
        folder = self.target.parent if str(self.target.parent) else Path(".")
        if not folder.is_dir():
            raise HrtrackError(f"output folder does not exist: {folder}")
        if not os.access(folder, os.W_OK):
            raise HrtrackError(f"output folder is not writable: {folder}")
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp" + self.target.suffix,
                                       dir=folder)
        except OSError as exc:
            raise HrtrackError(f"cannot write {self.target}: {exc.strerror or exc}") from None
        os.close(fd)
        self.tmp = Path(tmp)
        # mkstemp makes the file owner-only; outputs get the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)

    def commit(self) -> None:
        """Move the finished temporary file into place; on failure delete it and raise HrtrackError."""
        try:
            # Flush before the rename: a full disk must fail here, while the old file is still in place.
            with open(self.tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.target)
        except OSError as exc:
            self.discard()
            raise HrtrackError(f"cannot write {self.target}: {exc.strerror or exc}") from None

    def discard(self) -> None:
        """Delete the temporary file (nothing happens to `target`)."""
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`.

    The caller writes the temporary path by any means (cv2, torch.save, ...).
    """
    write = AtomicWrite(path)
    try:
        yield write.tmp
    except BaseException:
        write.discard()
        raise
    write.commit()


def remove_stale_temporaries(path: str | os.PathLike) -> None:
    """Delete what a killed process left of an atomic write of `path` (`atomic_path`'s temporary files).

    Call it before writing `path` again in a new run; only that one target's
    temporaries are touched, so other writers in the folder are left alone.
    """
    path = Path(path)
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp{glob.escape(path.suffix)}"):
        tmp.unlink(missing_ok=True)


def cache_root() -> Path:
    """hrtrack's cache folder: $HRTRACK_CACHE, else ~/.cache/hrtrack."""
    return Path(os.environ.get("HRTRACK_CACHE", Path.home() / ".cache" / "hrtrack"))


def resolve_under(root: str | os.PathLike, relative: str, where: str) -> Path:
    """`root / relative`, refusing paths that escape `root` (e.g. "../../etc/passwd" or "/etc/passwd").

    The annotation's path is normalised as text, not through the file system: a
    symbolic link the user placed inside the root (an `images` folder linked to
    another disk) is the user's choice and is followed; ".." in a file is not.
    `where` names the file the path came from, for the error message.
    """
    base = Path(root).resolve()
    path = Path(os.path.normpath(base / relative))
    if base != path and base not in path.parents:
        raise HrtrackError(f"{where}: image path {relative!r} escapes the images root {root}")
    return path


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
