"""The clip's audio in a written video: the source's first audio stream, trimmed to the clip, copied or transcoded."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from editors.core.media.limits import av_reason

log = logging.getLogger(__name__)

# Audio codecs copied as they are; anything else is transcoded (AAC, or Opus for webm). mp4/mov keep
# to what browsers play (FFmpeg would also mux PCM or Opus into mp4, which most players reject).
_AUDIO_COPY = {
    "mp4": {"aac", "mp3"},
    "mov": {"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"},
    "webm": {"opus", "vorbis"},
}


class AudioRemux:
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
    def open(cls, audio_path: str | None, out, duration: Fraction) -> AudioRemux | None:
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
