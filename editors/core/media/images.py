"""Still images: one file as RGB, a folder's frame files in order, and frames as PNG bytes."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from editors.core.media.limits import ClipError, check_input_path

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
# Single still images are read as a one-frame clip (handy for masks and reference images).
STILL_SUFFIXES = FRAME_SUFFIXES + (".webp", ".bmp", ".tif", ".tiff")


def read_image(path) -> np.ndarray:
    """One still image as (H, W, 3) uint8 RGB, with its EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    check_input_path(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode.startswith("I;16") or img.mode in ("I", "F"):
                # 16-bit and float images: scale instead of clipping everything above 255 to white.
                arr = np.asarray(img, dtype=np.float64)
                peak = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
                gray = np.clip(arr * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
            return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, Image.DecompressionBombError):
            raise ClipError(f"{path.name}: the image is too large to open safely") from None
        raise ClipError(f"{path.name}: not a readable image ({e.__class__.__name__})") from None


def natural_key(path: Path):
    # "frame2.png" before "frame10.png"; identical to plain sorting for zero-padded names.
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", path.name.lower())]


def list_frame_files(directory) -> list[Path]:
    """The *.png / *.jpg / *.jpeg files of a directory, sorted by name (numbers compared as numbers)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ClipError(f"{directory.name or directory}: not a folder")
    files = [
        p
        for p in directory.iterdir()
        # Hidden files include macOS "._frame.png" resource forks found in zipped folders.
        if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=natural_key)


def png_bytes(image: np.ndarray) -> bytes:
    """One frame (RGB or RGBA) as a lossless PNG file's bytes."""
    from PIL import Image

    buf = io.BytesIO()
    # Level 1: PNG is lossless at any level; the higher ones cost several times the time for ~10% size.
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()

