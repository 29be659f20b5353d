"""Frame sources: a video file, an image folder, a glob, a webcam or a stream.

Every source yields `Frame`s one at a time (a long video is never held in memory),
BGR uint8 as OpenCV decodes them, and checks that the frame size stays constant.
"""

from __future__ import annotations

import glob as globlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..errors import HrtrackError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
URL_PATTERN = r"^[a-z][a-z0-9+.-]*://"


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its index in the source, a name (file path or index) and pixels."""

    index: int
    name: str
    image: np.ndarray


def natural_key(text: str) -> list:
    """Sort key that orders "frame2" before "frame10"."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


class FrameSource:
    """Base of all sources: size/fps metadata, iteration, constant-size check."""

    fps: float = 30.0
    description: str = ""

    def __len__(self) -> int:
        raise TypeError(f"{self.description} has no known length")

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Frame]:
        size = None
        count = 0
        for frame in self.frames():
            image = frame.image
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                frame = Frame(frame.index, frame.name, image)
            elif image.shape[2] == 4:
                image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
                frame = Frame(frame.index, frame.name, image)
            if size is None:
                size = image.shape[:2]
            elif image.shape[:2] != size:
                raise HrtrackError(f"{self.description}: frame {frame.index} ({frame.name}) is "
                                   f"{image.shape[1]}x{image.shape[0]} but earlier frames are {size[1]}x{size[0]}")
            count += 1
            yield frame
        if count == 0:
            raise HrtrackError(f"{self.description}: no frames could be read")


class VideoSource(FrameSource):
    """A video file, a camera index or a stream URL, decoded with OpenCV."""

    def __init__(self, spec: str | int):
        self.spec = spec
        self.description = f"camera {spec}" if isinstance(spec, int) else str(spec)
        cap = cv2.VideoCapture(spec)
        if not cap.isOpened():
            raise HrtrackError(f"cannot open video {self.description} (not a video OpenCV can decode)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and np.isfinite(fps) and fps > 0 else 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = count if count > 0 and not isinstance(spec, int) else None
        cap.release()

    def __len__(self) -> int:
        if self._count is None:
            raise TypeError(f"{self.description} has no known length")
        return self._count

    def count_frames(self) -> int:
        """The number of frames, by reading through the file when its header does not say (slow)."""
        if self._count is not None:
            return self._count
        if self.is_live:
            raise TypeError(f"{self.description} is live: its frames cannot be counted")
        cap = cv2.VideoCapture(self.spec)
        try:
            count = 0
            while cap.grab():
                count += 1
        finally:
            cap.release()
        return count

    @property
    def is_live(self) -> bool:
        """A camera or a stream URL (frames come as they are made, with no end known)."""
        return isinstance(self.spec, int) or bool(re.match(URL_PATTERN, str(self.spec)))

    def frames(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.spec)
        try:
            index = 0
            while True:
                ok, image = cap.read()
                if not ok:
                    break
                yield Frame(index, str(index), image)
                index += 1
        finally:
            cap.release()


class ImageListSource(FrameSource):
    """Images read one at a time from a list of paths.

    Args:
        paths: image files in frame order.
        names: the name reported for each frame (default: the path).
        on_bad_image: "stop" (raise) or "skip" (warn and drop) for unreadable images.
        fps: frame rate to record for outputs.
    """

    def __init__(self, paths: Sequence[str | Path], names: Sequence[str] | None = None,
                 on_bad_image: str = "stop", fps: float = 30.0, description: str = ""):
        if on_bad_image not in ("stop", "skip"):
            raise HrtrackError(f"on_bad_image must be stop or skip, got {on_bad_image!r}")
        self.paths = [Path(p) for p in paths]
        self.names = list(names) if names is not None else [str(p) for p in self.paths]
        if len(self.names) != len(self.paths):
            raise HrtrackError("names and paths differ in length")
        self.on_bad_image = on_bad_image
        self.fps = fps
        self.description = description or (str(self.paths[0].parent) if self.paths else "image list")

    def __len__(self) -> int:
        return len(self.paths)

    def frames(self) -> Iterator[Frame]:
        for index, (path, name) in enumerate(zip(self.paths, self.names)):
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) if path.is_file() else None
            if image is not None and image.dtype != np.uint8:
                image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(image.max()), 1.0))
            if image is None:
                if self.on_bad_image == "stop":
                    raise HrtrackError(f"cannot read image {path} (missing or not an image); "
                                       f"`hrtrack track --on-bad-image skip` drops unreadable frames")
                warnings.warn(f"skipping unreadable image {path}", stacklevel=2)
                continue
            yield Frame(index, name, image)


def open_source(spec: str, on_bad_image: str = "stop", fps: float = 30.0) -> FrameSource:
    """A source from a command-line spec: a camera index ("0"), a URL, a folder of
    images, a glob pattern ("frames/*.png") or a video file."""
    if spec.isdigit():
        return VideoSource(int(spec))
    if re.match(URL_PATTERN, spec):
        return VideoSource(spec)
    path = Path(spec)
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))
        if not files:
            raise HrtrackError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        return ImageListSource(files, on_bad_image=on_bad_image, fps=fps, description=str(path))
    if any(ch in spec for ch in "*?["):
        files = sorted(globlib.glob(spec), key=natural_key)
        if not files:
            raise HrtrackError(f"no files match {spec!r}")
        return ImageListSource(files, on_bad_image=on_bad_image, fps=fps, description=spec)
    if not path.exists():
        raise HrtrackError(f"input not found: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise HrtrackError(f"empty file: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageListSource([path], on_bad_image=on_bad_image, fps=fps, description=str(path))
    return VideoSource(str(path))
