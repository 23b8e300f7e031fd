"""Decoding in this process: a video file, a still image or a frame folder into constant-rate RGB frames.

Limits are checked from the metadata first, then while decoding, so an oversized file stops early.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from editors.core.media.images import STILL_SUFFIXES, list_frame_files, read_image
from editors.core.media.limits import (
    ClipError,
    ClipLimits,
    av_reason,
    check_count,
    check_pixels,
    check_seconds,
    check_side,
)
from editors.core.media.rates import nominal_rate


def read_in_process(path: Path, limits: ClipLimits, image_fps: Fraction):
    """All frames of ``path`` as one (T, H, W, 3) array; returns (frames, fps, has_audio)."""
    frames: list[np.ndarray] = []
    fps, has_audio = decode_frames(path, limits, image_fps, frames.append)
    return _stack(frames), fps, has_audio


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    out = np.empty((len(frames),) + frames[0].shape, np.uint8)
    for i in range(len(frames)):
        out[i] = frames[i]
        frames[i] = None  # release as we go so the peak stays near one copy
    return out


def decode_frames(path: Path, limits: ClipLimits, image_fps: Fraction, emit: Callable[[np.ndarray], None]):
    """Decode ``path`` into constant-rate RGB frames passed to ``emit``; returns (fps, has_audio)."""
    if path.is_dir():
        return _decode_frame_dir(path, limits, image_fps, emit), False
    if path.suffix.lower() in STILL_SUFFIXES:
        image = read_image(path)
        check_side(path.name, image.shape[1], image.shape[0], limits)
        emit(image)
        return image_fps, False
    return _decode_video(path, limits, emit)


def _decode_frame_dir(directory: Path, limits: ClipLimits, image_fps: Fraction, emit) -> Fraction:
    files = list_frame_files(directory)
    if not files:
        raise ClipError(f"{directory.name}: the folder has no .png/.jpg/.jpeg frames")
    check_count(directory.name, len(files), limits, exact=True)
    check_seconds(directory.name, Fraction(len(files)) / image_fps, limits)
    first_shape = None
    for file in files:
        image = read_image(file)
        if first_shape is None:
            first_shape = image.shape
            check_side(file.name, image.shape[1], image.shape[0], limits)
            check_pixels(directory.name, len(files), image.shape[1], image.shape[0], limits)
        elif image.shape != first_shape:
            raise ClipError(
                f"{directory.name}: frames have different sizes: {files[0].name} is "
                f"{first_shape[1]}x{first_shape[0]} but {file.name} is {image.shape[1]}x{image.shape[0]}"
            )
        emit(image)
    return image_fps


def _decode_video(path: Path, limits: ClipLimits, emit):
    import av

    name = path.name
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise ClipError(
            f"{name}: cannot be opened as a video ({av_reason(e)}); the file may be damaged, "
            "incomplete or not a video"
        ) from None
    try:
        with container:
            return _decode_container(container, name, limits, emit)
    except av.FFmpegError as e:
        raise ClipError(f"{name}: the video is damaged and cannot be decoded ({av_reason(e)})") from None


def _decode_container(container, name: str, limits: ClipLimits, emit):
    import av

    videos = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if not videos:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise ClipError(f"{name}: the file has no video stream (it contains {', '.join(kinds)})")
    stream = videos[0]
    has_audio = len(container.streams.audio) > 0
    fps = nominal_rate(stream) or Fraction(25)  # FFmpeg's own guess when nothing is declared

    # Limits from metadata, before any decoding.
    check_side(name, stream.codec_context.width, stream.codec_context.height, limits)
    declared = _declared_seconds(stream, container)
    width, height = stream.codec_context.width, stream.codec_context.height
    if declared is not None:
        check_seconds(name, declared, limits)
        check_count(name, round(declared * fps), limits)
        check_pixels(name, round(declared * fps), width, height, limits)
    elif stream.frames:
        check_count(name, stream.frames, limits)
        check_pixels(name, stream.frames, width, height, limits)

    stream.thread_type = "AUTO"
    tb = stream.time_base or Fraction(1, 90000)
    converter = _Converter()
    origin = None  # time of the first frame = t 0 of the clip
    emitted = 0
    pending = None  # latest decoded frame not yet known to be superseded
    last_time = Fraction(0)
    last_duration = None
    for frame in container.decode(stream):
        if frame.pts is not None:
            t = frame.pts * tb
        else:  # no timestamp: assume it follows the previous frame at the nominal rate
            t = Fraction(0) if origin is None else origin + last_time + 1 / fps
        if origin is None:
            origin = t
        rel = t - origin
        check_side(name, frame.width, frame.height, limits)
        if rel > limits.max_seconds:
            check_seconds(name, rel, limits)
        # Output frame i shows the latest frame whose time is <= i/fps, to within half a frame
        # (rounded to the nearest slot) so millisecond timestamps (mkv/webm) do not drop or repeat frames.
        slot = math.floor(rel * fps + Fraction(1, 2))
        if pending is not None:
            while emitted < slot:
                emitted += 1
                check_count(name, emitted, limits, exact=True)
                check_pixels(name, emitted, pending.width, pending.height, limits)
                emit(converter.rgb(pending))
        pending = frame
        last_time = max(last_time, rel)
        last_duration = frame.duration * tb if frame.duration else None
    if pending is None:
        raise ClipError(f"{name}: no video frame could be decoded; the file may be damaged or incomplete")
    end = last_time + (last_duration or 1 / fps)
    total = max(math.floor(end * fps + Fraction(1, 2)), emitted + 1)
    if declared is not None and stream.duration:
        # A file cut short after its index (e.g. an interrupted upload of a "fast start" mp4) demuxes
        # silently to the cut; an output shorter than the user's clip would be a silent surprise.
        missing = Fraction(stream.duration * tb) - end
        if missing > max(3 / fps, Fraction(declared) / 100):  # slack for rounded durations, not for lost data
            raise ClipError(
                f"{name}: the file is truncated: only {float(end):.2f} s of its "
                f"{float(declared):.2f} s of video could be decoded"
            )
    while emitted < total:
        emitted += 1
        check_count(name, emitted, limits, exact=True)
        emit(converter.rgb(pending))
    return fps, has_audio


def _declared_seconds(stream, container) -> Fraction | None:
    if stream.duration and stream.time_base:
        return Fraction(stream.duration) * stream.time_base
    if container.duration and container.duration > 0:
        return Fraction(container.duration, 1_000_000)
    return None


class _Converter:
    """Decoded frame -> (H, W, 3) uint8 RGB, with display rotation and a fixed size."""

    def __init__(self):
        self.size = None  # (width, height) of the first frame, before rotation
        self._cache = (None, None)

    def rgb(self, frame) -> np.ndarray:
        if self._cache[0] is frame:  # a frame repeated to fill a constant-rate gap is converted once
            return self._cache[1]
        from av.video.reformatter import Colorspace

        kwargs = {"format": "rgb24"}
        if self.size is None:
            self.size = (frame.width, frame.height)
        elif (frame.width, frame.height) != self.size:
            # Resolution changes mid-stream (WebRTC recordings): keep one size for the whole clip.
            kwargs.update(width=self.size[0], height=self.size[1], interpolation="BICUBIC")
        if int(frame.colorspace) == 2:  # unspecified: what players assume (HD -> BT.709, SD -> BT.601)
            hd = frame.width >= 1280 or frame.height > 576
            kwargs["src_colorspace"] = Colorspace.ITU709 if hd else Colorspace.ITU601
        image = frame.to_ndarray(**kwargs)
        image = np.ascontiguousarray(_apply_display_matrix(image, _display_matrix(frame)))
        self._cache = (frame, image)
        return image


def _display_matrix(frame):
    for side_data in frame.side_data:
        if side_data.type.name == "DISPLAYMATRIX":
            return np.frombuffer(bytes(side_data), dtype="<i4")[:9]
    return None


def _apply_display_matrix(image: np.ndarray, matrix) -> np.ndarray:
    """Apply an FFmpeg display matrix (multiples of 90 degrees and flips) to an (H, W, C) image."""
    if matrix is None:
        return image
    # Row-vector convention, y down: x' = a*x + c*y, y' = b*x + d*y (16.16 fixed point).
    a, b, c, d = (int(round(v / 65536)) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    if a == 0 and d == 0 and abs(b) == 1 and abs(c) == 1:
        image = image.transpose(1, 0, 2)  # rows now follow x, columns y
        flip_rows, flip_cols = b < 0, c < 0
    elif b == 0 and c == 0 and abs(a) == 1 and abs(d) == 1:
        flip_rows, flip_cols = d < 0, a < 0
    else:
        return image  # not a right-angle transform (practically never produced): show as stored
    if flip_rows:
        image = image[::-1]
    if flip_cols:
        image = image[:, ::-1]
    return image
