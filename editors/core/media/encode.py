"""Writing: video files with the clip's audio, RGBA layers, PNG folders and zips; each written atomically.

H.264 (mp4/mov/mkv) or VP9 (webm) for clips; ProRes 4444 (mov) or VP9 with alpha (webm) for RGBA layers.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from editors.core.media.audio import AudioRemux
from editors.core.media.images import png_bytes
from editors.core.media.limits import ClipError, av_reason
from editors.core.media.rates import as_fraction

if TYPE_CHECKING:
    from editors.core.clip import Clip

_VIDEO_OUT = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
VIDEO_OUTPUT_SUFFIXES = tuple(_VIDEO_OUT)            # what write_clip writes (besides a PNG folder)
RGBA_OUTPUT_SUFFIXES = (".zip", ".mov", ".webm")     # what write_rgba writes (besides a PNG folder)
# VP9 at constant quality (b:v 0 makes crf the target), for clips and for RGBA layers.
_VP9 = {"crf": "30", "b:v": "0", "deadline": "good", "cpu-used": "4"}


def write_clip(clip: Clip, path) -> Path:
    """Write an mp4/mov/mkv (H.264) or webm (VP9) with the clip's audio, or PNG frames for a folder path.

    The video has exactly the clip's frame count and fps. Odd sizes are padded to even ones (the
    last row/column repeated), so the file may be one pixel wider/taller than the clip.
    """
    target = Path(path)
    if str(path).endswith(("/", os.sep)) or target.is_dir():
        return _write_png_dir(clip.frames, target)
    suffix = target.suffix.lower()
    if suffix not in _VIDEO_OUT:
        raise ClipError(
            f"{target.name}: cannot write this format; use .mp4, .mov, .mkv, .webm or a folder path ending in '/'"
        )
    if clip.num_frames == 0:
        raise ClipError(f"{target.name}: the clip has no frames to write")

    def encode(tmp: Path) -> None:
        _encode_video(clip, tmp, _VIDEO_OUT[suffix])

    return _atomic_file(target, encode)


def write_rgba(frames_rgba: np.ndarray, fps: Fraction, path) -> Path:
    """RGBA layers as a .zip of PNGs, a folder of PNGs (path ending '/'), .mov ProRes 4444 or .webm VP9 alpha."""
    frames_rgba = np.asarray(frames_rgba)
    if frames_rgba.dtype != np.uint8 or frames_rgba.ndim != 4 or frames_rgba.shape[-1] != 4:
        raise ValueError(f"frames_rgba must be a (T, H, W, 4) uint8 array, got {frames_rgba.dtype} {frames_rgba.shape}")
    fps = as_fraction(fps)
    target = Path(path)
    if str(path).endswith(("/", os.sep)) or target.is_dir():
        return _write_png_dir(frames_rgba, target)
    suffix = target.suffix.lower()
    if len(frames_rgba) == 0:
        raise ClipError(f"{target.name}: there are no frames to write")
    if suffix == ".zip":
        return _atomic_file(target, lambda tmp: _write_png_zip(frames_rgba, tmp))
    if suffix == ".mov":
        return _atomic_file(target, lambda tmp: _encode_rgba_video(frames_rgba, fps, tmp, "mov"))
    if suffix == ".webm":
        return _atomic_file(target, lambda tmp: _encode_rgba_video(frames_rgba, fps, tmp, "webm"))
    raise ClipError(f"{target.name}: RGBA layers can be written as .zip, .mov, .webm or a folder path ending in '/'")


def _atomic_file(target: Path, write: Callable[[Path], None]) -> Path:
    """Run ``write`` on a hidden temp file next to ``target``, then rename it into place."""
    import av

    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder so the rename is atomic; same suffix so muxers and readers recognise the format.
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:8]}.part{target.suffix}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except av.FFmpegError as e:
        raise ClipError(f"{target.name}: writing failed ({av_reason(e)})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _write_png_zip(frames: np.ndarray, tmp: Path) -> None:
    # PNGs are already compressed: storing them keeps the zip fast to write and to open.
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, image in enumerate(frames):
            zf.writestr(f"{i:05d}.png", png_bytes(image))


def _write_png_dir(frames: np.ndarray, target: Path) -> Path:
    """Lossless ``00000.png ...`` into ``target``; written aside first so a failure leaves nothing half-done."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        names = []
        for i, image in enumerate(frames):
            name = f"{i:05d}.png"
            (tmp / name).write_bytes(png_bytes(image))
            names.append(name)
        if not target.exists():
            os.replace(tmp, target)
            return target
        # Existing folder: move frames in one by one and drop numbered frames left by a longer earlier run,
        # so the folder never mixes two results.
        for name in names:
            os.replace(tmp / name, target / name)
        for stale in target.glob("*.png"):
            if re.fullmatch(r"\d{5}\.png", stale.name) and int(stale.stem) >= len(names):
                stale.unlink()
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _even_size(height: int, width: int) -> tuple[int, int]:
    # 4:2:0 chroma (H.264, VP9) needs even sizes.
    return height + height % 2, width + width % 2


def _pad_even(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    even_h, even_w = _even_size(h, w)
    if (even_h, even_w) == (h, w):
        return image
    # Repeat the edge so no black line appears.
    return np.pad(image, ((0, even_h - h), (0, even_w - w), (0, 0)), mode="edge")


def _add_video_stream(out, codec: str, options: dict, fps: Fraction, height: int, width: int, pix_fmt: str):
    """The one video stream of ``out``: frame i gets pts i, colours are tagged as _mux_frame converts them."""
    stream = out.add_stream(codec, rate=fps, options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    # Time base 1/fps: frame i has pts i, so 30000/1001 and the frame count are exact in the file.
    stream.codec_context.time_base = Fraction(1) / fps
    stream.time_base = Fraction(1) / fps
    # Tag what we convert with (BT.709, limited range) so players do not guess.
    cc = stream.codec_context
    cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
    return stream


def _mux_frame(out, stream, image: np.ndarray, i: int, src_format: str, pix_fmt: str) -> None:
    """Encode ``image`` (``src_format``: rgb24 or rgba) as frame ``i`` of ``stream`` and mux its packets."""
    import av
    from av.video.reformatter import Colorspace

    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=src_format)
    frame = frame.reformat(format=pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range="MPEG")
    frame.pts = i
    frame.time_base = stream.codec_context.time_base
    out.mux(stream.encode(frame))


def _encode_video(clip: Clip, tmp: Path, fmt: str) -> None:
    import av

    fps = clip.fps
    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
    with av.open(str(tmp), "w", format=fmt, options=options) as out:
        if fmt == "webm":
            codec, codec_options = "libvpx-vp9", {**_VP9, "row-mt": "1"}
        else:
            codec, codec_options = "libx264", {"crf": "18", "preset": "veryfast"}
        height, width = _even_size(clip.height, clip.width)
        stream = _add_video_stream(out, codec, codec_options, fps, height, width, "yuv420p")
        audio = AudioRemux.open(clip.audio_path, out, Fraction(clip.num_frames) / fps)
        try:
            for i, image in enumerate(clip.frames):
                _mux_frame(out, stream, _pad_even(image), i, "rgb24", "yuv420p")
                if audio is not None:
                    audio.mux_until(Fraction(i + 1) / fps)  # keep audio interleaved with the video
            out.mux(stream.encode(None))
            if audio is not None:
                audio.mux_until(None)
        finally:
            if audio is not None:
                audio.close()


def _encode_rgba_video(frames: np.ndarray, fps: Fraction, tmp: Path, fmt: str) -> None:
    import av

    height, width = frames.shape[1:3]
    with av.open(str(tmp), "w", format=fmt) as out:
        if fmt == "mov":
            # ProRes 4444 has full-resolution chroma: any size goes, nothing is padded.
            codec, options, pix_fmt, pad = "prores_ks", {"profile": "4444", "vendor": "apl0"}, "yuva444p10le", False
        else:
            # VP9 keeps alpha in a second coded plane that the matroska muxer stores as BlockAdditional.
            codec, options, pix_fmt, pad = "libvpx-vp9", dict(_VP9), "yuva420p", True
            height, width = _even_size(height, width)
        stream = _add_video_stream(out, codec, options, fps, height, width, pix_fmt)
        for i, image in enumerate(frames):
            _mux_frame(out, stream, _pad_even(image) if pad else image, i, "rgba", pix_fmt)
        out.mux(stream.encode(None))
