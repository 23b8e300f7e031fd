"""Clip I/O: read any user video (or frame folder) into RGB frames, write mp4 / PNG frames / RGBA layers.

PyAV is the only media library used for video; Pillow reads and writes still images.
Decoding of untrusted files can run in a child process (``isolate=True``) so that a decoder
crash becomes a ``ClipError`` instead of taking the server down.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from editors.core.media.decode import read_in_process
from editors.core.media.images import FRAME_SUFFIXES, list_frame_files, png_bytes, read_image
from editors.core.media.isolation import read_isolated
from editors.core.media.limits import ClipError, ClipLimits, av_reason, check_input_path
from editors.core.media.rates import as_fraction

log = logging.getLogger(__name__)

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
# Audio codecs copied as they are; anything else is transcoded (AAC, or Opus for webm). mp4/mov keep
# to what browsers play (FFmpeg would also mux PCM or Opus into mp4, which most players reject).
_AUDIO_COPY = {
    "mp4": {"aac", "mp3"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"},
    "webm": {"opus", "vorbis"},
}


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
        audio = _AudioRemux.open(clip.audio_path, out, Fraction(clip.num_frames) / fps)
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


class _AudioRemux:
    """The first audio stream of ``audio_path``, trimmed to ``[0, duration)`` of the clip, into ``out``.

    Packets are copied when ``out``'s format accepts the codec, else transcoded (AAC; Opus for webm).
    Time 0 is the start of the source's video stream, i.e. frame 0 of the clip read from it.
    """

    def __init__(self, source, in_stream, out, duration: Fraction, origin: Fraction):
        self.source = source
        self.in_stream = in_stream
        self.out = out
        self.duration = duration
        self.origin = origin
        codec = in_stream.codec_context.name
        self.copy = codec in _AUDIO_COPY.get(out.format.name, ()) and codec in out.supported_codecs
        if self.copy:
            self.out_stream = out.add_stream_from_template(in_stream)
            self._packets = self._copied_packets()
        else:
            self._setup_transcode()
            self._packets = self._transcoded_packets()
        self._next = None  # (time, packet) read ahead

    @classmethod
    def open(cls, audio_path: str | None, out, duration: Fraction) -> _AudioRemux | None:
        import av

        if not audio_path:
            return None
        try:
            source = av.open(str(audio_path), metadata_errors="ignore")
        except av.FFmpegError as e:
            # An expired upload must not throw away a finished render: write it silent and say so.
            log.warning("audio not kept: %s cannot be read (%s)", audio_path, av_reason(e))
            return None
        if not source.streams.audio:
            source.close()
            return None
        videos = source.streams.video
        origin = Fraction(0)
        if videos and videos[0].start_time is not None and videos[0].time_base:
            origin = videos[0].start_time * videos[0].time_base
        return cls(source, source.streams.audio[0], out, duration, origin)

    def close(self) -> None:
        self.source.close()

    def mux_until(self, until: Fraction | None) -> None:
        """Mux packets starting before ``until`` seconds (all remaining ones for None)."""
        while True:
            if self._next is None:
                self._next = next(self._packets, None)
                if self._next is None:
                    return
            start, packet = self._next
            if until is not None and start >= until:
                return
            self.out.mux(packet)
            self._next = None

    def _copied_packets(self) -> Iterator[tuple[Fraction, object]]:
        tb = self.in_stream.time_base
        shift = round(self.origin / tb)
        for packet in self.source.demux(self.in_stream):
            if packet.pts is None or packet.size == 0:
                continue
            start = packet.pts * tb - self.origin
            length = (packet.duration or 0) * tb
            if start + length <= 0 and start < 0 and self.origin > 0:
                continue  # entirely before frame 0 (a source whose video starts later than its audio)
            if start >= self.duration:
                break  # the packet that crosses the end is kept: at most one audio frame longer
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.out_stream
            yield start, packet

    def _setup_transcode(self) -> None:
        import av

        in_cc = self.in_stream.codec_context
        channels = in_cc.channels or 2
        self.layout = "mono" if channels == 1 else "stereo"
        if self.out.format.name == "webm":
            codec, self.rate = "libopus", 48000  # webm allows Opus/Vorbis only; Opus runs at 48 kHz
        else:
            codec = "aac"
            aac_rates = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)
            self.rate = in_cc.sample_rate if in_cc.sample_rate in aac_rates else 48000
        self.out_stream = self.out.add_stream(codec, rate=self.rate, layout=self.layout)
        self.out_stream.bit_rate = 160_000
        self.resampler = av.AudioResampler(
            format=self.out_stream.codec_context.format.name, layout=self.layout, rate=self.rate
        )

    def _transcoded_packets(self) -> Iterator[tuple[Fraction, object]]:
        import av

        rate = self.rate
        total = int(self.duration * rate)  # samples that fit the video
        written = None  # samples emitted so far, counted from t 0
        skip = 0
        fmt = self.out_stream.codec_context.format.name
        planar = self.out_stream.codec_context.format.is_planar
        channels = 1 if self.layout == "mono" else 2
        out_tb = Fraction(1, rate)

        def encode(frame):
            for packet in self.out_stream.encode(frame):
                yield (packet.pts * out_tb if packet.pts is not None else Fraction(0)), packet

        def frames():
            for frame in self.source.decode(self.in_stream):
                yield frame
            yield None  # flush the resampler

        for decoded in frames():
            if decoded is not None and written is None:
                start = decoded.pts * decoded.time_base - self.origin if decoded.pts is not None else 0
                written = max(0, round(start * rate))  # audio that starts after frame 0 keeps its offset
                skip = max(0, round(-start * rate))  # audio that precedes frame 0 is cut
            for chunk in self.resampler.resample(decoded):
                samples = chunk.to_ndarray()
                # Packed formats (Opus wants s16) interleave channels along the last axis.
                step = 1 if planar else channels
                begin = 0
                if skip:
                    begin = min(skip, chunk.samples)
                    skip -= begin
                keep = min(chunk.samples - begin, total - (written or 0))
                if keep <= 0:
                    continue
                piece = np.ascontiguousarray(samples[..., begin * step : (begin + keep) * step])
                out = av.AudioFrame.from_ndarray(piece, format=fmt, layout=self.layout)
                out.sample_rate = rate
                out.pts = written or 0
                out.time_base = out_tb
                written = (written or 0) + keep
                yield from encode(out)
            if written is not None and written >= total:
                break
        yield from encode(None)
