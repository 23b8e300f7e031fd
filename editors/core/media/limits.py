"""What a media file must satisfy to be used: ClipError (the plain-words failure), ClipLimits and its checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from editors.core.errors import UserError


class ClipError(UserError):
    """A media file cannot be used; the message names the file and the problem in plain words."""


@dataclass(frozen=True)
class ClipLimits:
    """Upper bounds on what read_clip accepts (checked from metadata first, then while decoding)."""

    max_frames: int = 1800
    max_side: int = 4096
    max_seconds: float = 600.0
    max_megapixels: float = 1000.0   # frames x width x height: bounds the memory a clip takes (3 bytes a pixel)

    @classmethod
    def from_env(cls) -> ClipLimits:
        """Defaults, overridden by EDITHUB_MAX_FRAMES / EDITHUB_MAX_SIDE / EDITHUB_MAX_SECONDS / EDITHUB_MAX_MEGAPIXELS."""
        return cls(
            max_frames=int(env_number("EDITHUB_MAX_FRAMES", cls.max_frames, int)),
            max_side=int(env_number("EDITHUB_MAX_SIDE", cls.max_side, int)),
            max_seconds=float(env_number("EDITHUB_MAX_SECONDS", cls.max_seconds, float)),
            max_megapixels=float(env_number("EDITHUB_MAX_MEGAPIXELS", cls.max_megapixels, float)),
        )


def env_number(var: str, default, kind):
    """A positive number from the environment variable ``var`` (``default`` when unset; UserError when not valid)."""
    raw = os.environ.get(var, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise UserError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
    if value <= 0:
        raise UserError(f"{var}={raw!r} must be greater than 0")
    return value


def check_input_path(path: Path) -> None:
    """A missing or empty upload is reported as such, before any decoder sees it."""
    if not path.exists():
        raise ClipError(f"{path.name or path}: file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise ClipError(f"{path.name}: the file is empty (0 bytes); the upload may have failed")


def av_reason(e: Exception) -> str:
    # PyAV messages end with the file name and errno noise; keep the FFmpeg reason only.
    return getattr(e, "strerror", None) or str(e)


def _limit_error(name: str, what: str, limit, env: str, advice: str) -> ClipError:
    return ClipError(f"{name}: {what}, more than the limit of {limit}; {advice} (or set {env} to raise the limit)")


def check_side(name: str, width: int, height: int, limits: ClipLimits) -> None:
    if width and height and max(width, height) > limits.max_side:
        raise _limit_error(
            name, f"the frames are {width}x{height} pixels", f"{limits.max_side} pixels per side",
            "EDITHUB_MAX_SIDE", "downscale the video",
        )


MIN_SIDE = 16   # the editors' optical flow, trackers and models need a few 8-pixel blocks per side


def check_min_side(name: str, width: int, height: int) -> None:
    """Clips the editors can work on (read_clip itself reads any size: a tiny image is still an image)."""
    if min(width, height) < MIN_SIDE:
        raise ClipError(f"{name}: the frames are {width}x{height} pixels; the editors need at least {MIN_SIDE} "
                        "pixels on each side (upscale the clip)")


def check_seconds(name: str, seconds, limits: ClipLimits) -> None:
    if seconds > limits.max_seconds:
        raise _limit_error(
            name, f"the clip lasts {float(seconds):.1f} s", f"{limits.max_seconds:g} s",
            "EDITHUB_MAX_SECONDS", "trim the clip",
        )


def check_pixels(name: str, count: int, width: int, height: int, limits: ClipLimits) -> None:
    if width and height and count * width * height > limits.max_megapixels * 1e6:
        raise _limit_error(
            name, f"{count} frames of {width}x{height} pixels would need {count * width * height * 3 / 2**30:.1f} GiB",
            f"{limits.max_megapixels:g} megapixels in all", "EDITHUB_MAX_MEGAPIXELS",
            "trim or downscale the clip")


def check_count(name: str, count: int, limits: ClipLimits, exact: bool = False) -> None:
    if count > limits.max_frames:
        what = f"the clip has more than {limits.max_frames} frames" if exact else f"the clip has about {count} frames"
        raise _limit_error(
            name, what, f"{limits.max_frames} frames", "EDITHUB_MAX_FRAMES", "trim the clip or lower its frame rate"
        )

