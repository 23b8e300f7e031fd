"""Clip I/O: read any user video (or frame folder) into RGB frames, write mp4 / PNG frames / RGBA layers.

PyAV is the only media library used for video; Pillow reads and writes still images.
Decoding of untrusted files can run in a child process (``isolate=True``) so that a decoder
crash becomes a ``ClipError`` instead of taking the server down.

This module holds the ``Clip`` type and ``read_clip`` and is where the public names are imported from;
the work is done in ``editors.core.media``: decode, isolation (the child process), images, encode,
audio, limits and rates.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from editors.core.media.decode import read_in_process
from editors.core.media.encode import write_clip, write_rgba
from editors.core.media.images import FRAME_SUFFIXES as FRAME_SUFFIXES  # still importable from here
from editors.core.media.images import list_frame_files, read_image
from editors.core.media.isolation import read_isolated
from editors.core.media.limits import ClipError, ClipLimits, check_input_path
from editors.core.media.rates import as_fraction

__all__ = [
    "Clip",
    "ClipError",
    "ClipLimits",
    "list_frame_files",
    "read_clip",
    "read_image",
    "write_clip",
    "write_rgba",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".gif")


@dataclass
class Clip:
    """Frames ``(T, H, W, 3) uint8 RGB`` at an exact ``fps``, plus where its audio lives."""

    frames: np.ndarray
    fps: Fraction
    audio_path: str | None = None  # media file whose first audio stream belongs to this clip (t=0 at frame 0)
    name: str = ""  # source file stem, for output names

    def __post_init__(self):
        frames = self.frames
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
            got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            raise ValueError(f"Clip.frames must be a (T, H, W, 3) uint8 array, got {got}")
        self.frames = np.ascontiguousarray(frames)  # no copy when already contiguous
        self.fps = as_fraction(self.fps)
        if self.fps <= 0:
            raise ValueError(f"Clip.fps must be positive, got {self.fps}")
        if self.audio_path is not None:
            self.audio_path = str(self.audio_path)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def duration(self) -> Fraction:
        """Seconds, exact: num_frames / fps."""
        return Fraction(self.num_frames) / self.fps

    def with_frames(self, frames: np.ndarray) -> Clip:
        """Same fps, audio and name; new frames (size and count may differ)."""
        return dataclasses.replace(self, frames=frames)


def read_clip(
    path,
    *,
    limits: ClipLimits | None = None,
    image_fps: Fraction = Fraction(24),
    isolate: bool = True,
) -> Clip:
    """Read a video file, a still image or a directory of png/jpg frames as constant-rate RGB frames.

    Display rotation is applied, variable frame rate becomes constant at the stream's nominal rate,
    any pixel format becomes 8-bit RGB. ``isolate`` decodes in a child process (crash-safe).
    """
    path = Path(path)
    limits = limits if limits is not None else ClipLimits.from_env()
    image_fps = as_fraction(image_fps)
    check_input_path(path)
    if isolate:
        frames, fps, has_audio = read_isolated(path, limits, image_fps)
    else:
        frames, fps, has_audio = read_in_process(path, limits, image_fps)
    return Clip(frames=frames, fps=fps, audio_path=str(path) if has_audio else None, name=_stem(path))


def _stem(path: Path) -> str:
    return path.name if path.is_dir() else path.stem
