"""Clip I/O: read any user video (or frame folder) into RGB frames, write mp4 / PNG frames / RGBA layers.

PyAV is the only media library used for video; Pillow reads and writes still images.
Decoding of untrusted files can run in a child process (``isolate=True``) so that a decoder
crash becomes a ``ClipError`` instead of taking the server down.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from editors.core.media.audio import AudioRemux
from editors.core.media.decode import read_in_process
from editors.core.media.images import FRAME_SUFFIXES, list_frame_files, png_bytes, read_image
from editors.core.media.isolation import read_isolated
from editors.core.media.limits import ClipError, ClipLimits, av_reason, check_input_path
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
_VIDEO_OUT = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


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


# --------------------------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------------------------- writing


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


def _pad_even(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return image
    # H.264 4:2:0 needs even sizes; repeat the edge so no black line appears.
    return np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _encode_video(clip: Clip, tmp: Path, fmt: str) -> None:
    import av
    from av.video.reformatter import Colorspace

    fps = clip.fps
    height, width = clip.height + clip.height % 2, clip.width + clip.width % 2
    options = {"movflags": "+faststart"} if fmt in ("mp4", "mov") else {}
    with av.open(str(tmp), "w", format=fmt, options=options) as out:
        if fmt == "webm":
            vp9 = {"crf": "30", "b:v": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
            stream = out.add_stream("libvpx-vp9", rate=fps, options=vp9)
        else:
            stream = out.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        # Time base 1/fps: frame i has pts i, so 30000/1001 and the frame count are exact in the file.
        stream.codec_context.time_base = Fraction(1) / fps
        stream.time_base = Fraction(1) / fps
        # Tag what we convert with (BT.709, limited range) so players do not guess.
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        audio = AudioRemux.open(clip.audio_path, out, Fraction(clip.num_frames) / fps)
        try:
            for i, image in enumerate(clip.frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_pad_even(image)), format="rgb24")
                frame = frame.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709, dst_color_range="MPEG")
                frame.pts = i
                frame.time_base = stream.codec_context.time_base
                out.mux(stream.encode(frame))
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
    from av.video.reformatter import Colorspace

    height, width = frames.shape[1:3]
    with av.open(str(tmp), "w", format=fmt) as out:
        if fmt == "mov":
            stream = out.add_stream("prores_ks", rate=fps, options={"profile": "4444", "vendor": "apl0"})
            pix_fmt = "yuva444p10le"
        else:
            # VP9 keeps alpha in a second coded plane that the matroska muxer stores as BlockAdditional.
            vp9 = {"crf": "30", "b:v": "0", "deadline": "good", "cpu-used": "4"}
            stream = out.add_stream("libvpx-vp9", rate=fps, options=vp9)
            pix_fmt = "yuva420p"
            if height % 2 or width % 2:
                frames = np.stack([np.pad(f, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge") for f in frames])
                height, width = frames.shape[1:3]
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = Fraction(1) / fps
        stream.time_base = Fraction(1) / fps
        cc = stream.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgba")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range="MPEG")
            frame.pts = i
            frame.time_base = stream.codec_context.time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
