"""Clip I/O against real files made here with PyAV: rotation, VFR, odd sizes, 10-bit, audio, bad files."""

from __future__ import annotations

import io
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from editors.core.clip import (
    Clip,
    ClipError,
    ClipLimits,
    list_frame_files,
    read_clip,
    read_image,
    write_clip,
    write_rgba,
)
from editors.core.errors import UserError
from editors.core.media import decode as media_decode
from editors.core.media import encode as media_encode
from editors.core.media import isolation as media_isolation

NTSC = Fraction(30000, 1001)


# ------------------------------------------------------------------------------------------ helpers


def gray_frames(n: int, h: int = 48, w: int = 64, step: int = 12) -> np.ndarray:
    """Frame k is a flat gray of level k*step, so the frame index survives lossy coding."""
    return np.stack([np.full((h, w, 3), (k * step) % 256, np.uint8) for k in range(n)])


def frame_index(frames: np.ndarray, step: int = 12) -> list[int]:
    return [int(round(float(f.mean()) / step)) for f in frames]


def corner_frames(n: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Black frames with a white 8x8 block in the top-left corner (orientation marker)."""
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :8, :8] = 255
    return frames


def make_video(
    path: Path,
    frames: np.ndarray,
    fps: Fraction = Fraction(24),
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    pts_ms: list[int] | None = None,
    audio: str | None = None,
    audio_seconds: float | None = None,
    audio_rate: int = 44100,
    click_at: float | None = None,
) -> Path:
    """Encode ``frames`` (RGB) with PyAV; optional display rotation, explicit ms timestamps, audio."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        astream = None
        if audio:
            astream = out.add_stream(audio, rate=audio_rate, layout="mono")
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[k], Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if astream is not None:
            seconds = audio_seconds if audio_seconds is not None else len(frames) / fps
            n = int(seconds * audio_rate)
            signal = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / audio_rate)).astype(np.float32)
            if click_at is not None:
                signal[:] = 0
                k = int(click_at * audio_rate)
                signal[k : k + 48] = 0.9
            fmt = astream.codec_context.format.name
            data = (signal * 32767).astype(np.int16) if fmt.startswith("s16") else signal
            af = av.AudioFrame.from_ndarray(data[None], format=fmt, layout="mono")
            af.sample_rate, af.pts = audio_rate, 0
            out.mux(astream.encode(af))
            out.mux(astream.encode(None))
    return path


def stream_info(path: Path) -> dict:
    """Per stream type: codec, size, rate, packet count and packet time span in seconds."""
    info = {}
    with av.open(str(path)) as c:
        for s in c.streams:
            packets = [p for p in c.demux(s) if p.size]
            c.seek(0)
            first = min(p.pts for p in packets) * s.time_base
            end = max((p.pts + p.duration) for p in packets) * s.time_base
            info[s.type] = dict(
                codec=s.codec_context.name,
                width=getattr(s.codec_context, "width", None),
                height=getattr(s.codec_context, "height", None),
                packets=len(packets),
                start=first,
                end=end,
                frame_size=getattr(s.codec_context, "frame_size", 0),
                sample_rate=getattr(s.codec_context, "sample_rate", 0),
            )
    return info


def click_time(path: Path) -> float:
    """Seconds from the first video frame to the loudest click in the first audio stream."""
    with av.open(str(path)) as c:
        v0 = c.streams.video[0]
        video_start = (v0.start_time or 0) * v0.time_base
        chunks, t0 = [], None
        for f in c.decode(c.streams.audio[0]):
            if t0 is None:
                t0 = f.pts * f.time_base
            x = f.to_ndarray().astype(np.float32)
            chunks.append(x[0] if f.format.is_planar else x.reshape(-1, len(f.layout.channels))[:, 0])
        x = np.abs(np.concatenate(chunks))
        return float(t0 - video_start) + int(np.argmax(x > 0.5 * x.max())) / c.streams.audio[0].sample_rate


@pytest.fixture(params=[False, True], ids=["in-process", "isolated"])
def isolate(request):
    return request.param


# ------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("container", ["mp4", "mov"])
def test_rotated_phone_clip_comes_out_upright(tmp_path, container, isolate):
    # Stored 64x48 landscape with a marker top-left; displayed rotated 90 degrees clockwise (portrait phone).
    src = make_video(tmp_path / f"phone.{container}", corner_frames(3), rotation=-90)
    clip = read_clip(src, isolate=isolate)
    assert clip.frames.shape == (3, 64, 48, 3)  # H and W swapped
    assert clip.frames.flags["C_CONTIGUOUS"]
    # Clockwise turn: the top-left corner ends up top-right.
    f = clip.frames[0].mean(axis=2)
    assert f[:8, -8:].mean() > 200
    assert f[:8, :8].mean() < 50 and f[-8:, :8].mean() < 50 and f[-8:, -8:].mean() < 50


def test_rotation_counterclockwise_and_180(tmp_path):
    ccw = read_clip(make_video(tmp_path / "ccw.mp4", corner_frames(2), rotation=90), isolate=False)
    assert ccw.frames.shape == (2, 64, 48, 3)
    assert ccw.frames[0, -8:, :8].mean() > 200  # top-left -> bottom-left
    upside = read_clip(make_video(tmp_path / "180.mp4", corner_frames(2), rotation=180), isolate=False)
    assert upside.frames.shape == (2, 48, 64, 3)
    assert upside.frames[0, -8:, -8:].mean() > 200  # top-left -> bottom-right


def test_mirrored_display_matrix(tmp_path):
    src = tmp_path / "selfie.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(0, hflip=True)  # front cameras store a mirror image
        for image in corner_frames(2):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode(None))
    clip = read_clip(src, isolate=False)
    assert clip.frames.shape == (2, 48, 64, 3)
    assert clip.frames[0, :8, -8:].mean() > 200 and clip.frames[0, :8, :8].mean() < 50


@pytest.mark.parametrize("container", ["mp4", "mkv"])
def test_variable_frame_rate_becomes_constant(tmp_path, container):
    # A 25 fps grid over 0.8 s with one frame missing (160 ms) and one extra (300 ms).
    pts = sorted([t for t in range(0, 800, 40) if t != 160] + [300])
    src = make_video(tmp_path / f"vfr.{container}", gray_frames(len(pts)), Fraction(25), pts_ms=pts)
    clip = read_clip(src, isolate=False)
    assert clip.fps == 25
    assert clip.num_frames == 20  # round(0.8 s * 25)
    # Output frame i shows the latest source frame at or before i/25 s (to the nearest slot).
    expected = [max(k for k, t in enumerate(pts) if round(t / 40) <= i) for i in range(20)]
    assert frame_index(clip.frames) == expected
    assert expected[4] == expected[3]  # the gap repeats a frame
    assert 7 not in expected  # two frames in one slot: the later one wins


def test_odd_size_reads_and_writes_even(tmp_path):
    frames = np.zeros((4, 47, 63, 3), np.uint8)
    frames[:, :, -10:] = 255  # bright right edge
    src = make_video(tmp_path / "odd.mp4", frames, pix_fmt="yuv444p")  # 4:4:4 allows odd sizes
    clip = read_clip(src, isolate=False)
    assert clip.frames.shape == (4, 47, 63, 3)
    out = write_clip(clip, tmp_path / "out" / "odd.mp4")
    info = stream_info(out)["video"]
    assert (info["width"], info["height"]) == (64, 48)
    back = read_clip(out, isolate=False)
    assert back.frames.shape == (4, 48, 64, 3)
    # Padding repeats the edge: the added column is bright, not a black line.
    assert back.frames[:, :, -1].mean() > 200
    assert np.abs(back.frames[:, :47, :63].astype(int) - clip.frames.astype(int)).mean() < 4


def test_ten_bit_input_becomes_8bit_rgb(tmp_path, isolate):
    frames = np.zeros((3, 48, 64, 3), np.uint8)
    frames[:, :, :32] = (200, 40, 40)
    frames[:, :, 32:] = (40, 40, 200)
    src = make_video(tmp_path / "ten.mp4", frames, pix_fmt="yuv420p10le")
    with av.open(str(src)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
    clip = read_clip(src, isolate=isolate)
    assert clip.frames.dtype == np.uint8 and clip.frames.shape == (3, 48, 64, 3)
    assert np.abs(clip.frames[:, 8:-8, 4:28].astype(int) - (200, 40, 40)).max() < 12
    assert np.abs(clip.frames[:, 8:-8, 36:60].astype(int) - (40, 40, 200)).max() < 12


def test_ntsc_rate_and_count_are_exact_through_write(tmp_path, isolate):
    src = make_video(tmp_path / "ntsc.mp4", gray_frames(17), NTSC)
    clip = read_clip(src, isolate=isolate)
    assert clip.fps == NTSC and type(clip.fps) is Fraction
    assert clip.num_frames == 17
    assert clip.duration == Fraction(17) / NTSC
    for suffix in (".mp4", ".mkv"):
        out = write_clip(clip, tmp_path / f"out{suffix}")
        back = read_clip(out, isolate=isolate)
        assert back.fps == NTSC
        assert back.num_frames == 17
        assert frame_index(back.frames) == list(range(17))


def test_gif(tmp_path):
    src = make_video(tmp_path / "anim.gif", gray_frames(5, step=40), Fraction(10), codec="gif", pix_fmt="rgb8")
    clip = read_clip(src, isolate=False)
    assert clip.fps == 10 and clip.num_frames == 5
    assert clip.frames.shape[1:] == (48, 64, 3)
    assert frame_index(clip.frames, step=40) == [0, 1, 2, 3, 4]


def test_frame_directory(tmp_path, isolate):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = gray_frames(12)
    for k, image in enumerate(frames):  # unpadded names: 10 and 11 must come after 9
        Image.fromarray(image).save(folder / f"{k}.png")
    (folder / "notes.txt").write_text("not a frame")
    (folder / "._0.png").write_bytes(b"macOS resource fork")
    assert [p.name for p in list_frame_files(folder)] == [f"{k}.png" for k in range(12)]
    clip = read_clip(folder, image_fps=Fraction(12), isolate=isolate)
    assert clip.fps == 12 and clip.audio_path is None and clip.name == "frames"
    np.testing.assert_array_equal(clip.frames, frames)  # PNG in, exact frames out
    still = read_clip(folder / "3.png", isolate=False)  # one image: a one-frame clip
    np.testing.assert_array_equal(still.frames, frames[3:4])


def test_frame_directory_with_mixed_sizes_is_rejected(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(folder / "000.png")
    Image.fromarray(np.zeros((40, 64, 3), np.uint8)).save(folder / "001.jpg")
    with pytest.raises(ClipError, match=r"different sizes.*001\.jpg"):
        read_clip(folder, isolate=False)


def test_read_image_applies_exif_orientation(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    image[:8, :8] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(image).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    out = read_image(tmp_path / "photo.jpg")
    assert out.shape == (64, 48, 3) and out.dtype == np.uint8
    assert out[:8, -8:].mean() > 200  # marker moved to the top-right
    (tmp_path / "fake.png").write_text("hello")
    with pytest.raises(ClipError, match="fake.png"):
        read_image(tmp_path / "fake.png")


# ------------------------------------------------------------------------------------------ bad input


def test_empty_file(tmp_path, isolate):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(ClipError, match=r"empty\.mp4.*empty"):
        read_clip(tmp_path / "empty.mp4", isolate=isolate)


def test_text_renamed_mp4(tmp_path, isolate):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    with pytest.raises(ClipError, match=r"notes\.mp4.*cannot be opened as a video"):
        read_clip(tmp_path / "notes.mp4", isolate=isolate)


def test_missing_file():
    with pytest.raises(ClipError, match="not found"):
        read_clip("/nonexistent/clip.mp4", isolate=False)


def test_truncated_file(tmp_path, isolate):
    # Index at the end (plain PyAV/FFmpeg mp4): cutting the tail loses it.
    src = make_video(tmp_path / "whole.mp4", gray_frames(48))
    data = src.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(ClipError, match=r"cut\.mp4"):
        read_clip(tmp_path / "cut.mp4", isolate=isolate)


def test_truncated_faststart_file(tmp_path):
    # Index first (what write_clip produces): the header survives, the frames do not.
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (48, 48, 64, 3), dtype=np.uint8)  # noise: every frame costs bytes
    out = write_clip(Clip(noisy, Fraction(24)), tmp_path / "fast.mp4")
    data = out.read_bytes()
    for keep in (0.9, 0.4):
        (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(ClipError, match=r"cut\.mp4.*truncated: only [\d.]+ s of its 2\.00 s"):
            read_clip(tmp_path / "cut.mp4", isolate=False)


def test_file_without_video_stream(tmp_path, isolate):
    path = tmp_path / "voice.mp4"
    with av.open(str(path), "w") as out:
        a = out.add_stream("aac", rate=16000, layout="mono")
        af = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 16000, 0
        out.mux(a.encode(af))
        out.mux(a.encode(None))
    with pytest.raises(ClipError, match=r"voice\.mp4.*no video stream"):
        read_clip(path, isolate=isolate)


def test_decoder_crash_becomes_clip_error(tmp_path, monkeypatch):
    src = make_video(tmp_path / "fine.mp4", gray_frames(2))
    # Stand-in for a decoder segfault on a malformed file: the child dies from SIGSEGV.
    monkeypatch.setattr(media_isolation, "_CHILD_BOOTSTRAP", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(ClipError, match=r"fine\.mp4.*crashed \(SIGSEGV\)"):
        read_clip(src, isolate=True)


# ------------------------------------------------------------------------------------------ limits


def test_limits_checked_from_metadata(tmp_path, isolate):
    src = make_video(tmp_path / "ten.mp4", gray_frames(10))
    with pytest.raises(ClipError, match=r"ten\.mp4.*10 frames.*EDITHUB_MAX_FRAMES"):
        read_clip(src, limits=ClipLimits(max_frames=5), isolate=isolate)
    with pytest.raises(ClipError, match=r"64x48.*EDITHUB_MAX_SIDE"):
        read_clip(src, limits=ClipLimits(max_side=32), isolate=isolate)
    with pytest.raises(ClipError, match=r"0\.4 s.*EDITHUB_MAX_SECONDS"):
        read_clip(src, limits=ClipLimits(max_seconds=0.2), isolate=isolate)
    assert read_clip(src, limits=ClipLimits(max_frames=10, max_side=64), isolate=isolate).num_frames == 10


def test_memory_limit_names_the_size(tmp_path, isolate):
    src = make_video(tmp_path / "big.mp4", gray_frames(10))   # 10 x 64 x 48 = 30720 pixels
    with pytest.raises(ClipError, match=r"big\.mp4.*10 frames of 64x48.*EDITHUB_MAX_MEGAPIXELS"):
        read_clip(src, limits=ClipLimits(max_megapixels=0.02), isolate=isolate)
    assert read_clip(src, limits=ClipLimits(max_megapixels=0.04), isolate=isolate).num_frames == 10


def test_limits_checked_while_decoding(tmp_path, monkeypatch):
    # A file whose header declares no length (mkv has no frame count) is stopped mid-decode.
    src = make_video(tmp_path / "long.mkv", gray_frames(12))
    monkeypatch.setattr(media_decode, "_declared_seconds", lambda stream, container: None)
    emitted = []
    with pytest.raises(ClipError, match=r"long\.mkv.*more than 5 frames.*EDITHUB_MAX_FRAMES"):
        media_decode.decode_frames(src, ClipLimits(max_frames=5), Fraction(24), emitted.append)
    assert len(emitted) == 5  # stopped at the limit, not after decoding everything


def test_limits_apply_to_frame_dirs_and_env(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / f"{k:03d}.png")
    monkeypatch.setenv("EDITHUB_MAX_FRAMES", "3")
    monkeypatch.setenv("EDITHUB_MAX_SIDE", "100")
    monkeypatch.setenv("EDITHUB_MAX_SECONDS", "2.5")
    assert ClipLimits.from_env() == ClipLimits(max_frames=3, max_side=100, max_seconds=2.5)
    with pytest.raises(ClipError, match="EDITHUB_MAX_FRAMES"):
        read_clip(folder, isolate=False)  # limits default to the environment
    monkeypatch.setenv("EDITHUB_MAX_FRAMES", "lots")
    with pytest.raises(UserError, match="EDITHUB_MAX_FRAMES"):
        ClipLimits.from_env()


# ------------------------------------------------------------------------------------------ writing


def test_audio_is_kept_and_trimmed(tmp_path):
    # 30 frames of video with 1.5 s of AAC; the edited clip keeps 10 frames (1/3 s).
    src = make_video(tmp_path / "talk.mp4", gray_frames(30), NTSC, audio="aac", audio_seconds=1.5)
    clip = read_clip(src, isolate=False)
    assert clip.audio_path == str(src)
    short = clip.with_frames(clip.frames[:10])
    assert short.fps == NTSC and short.audio_path == clip.audio_path and short.name == "talk"
    out = write_clip(short, tmp_path / "short.mp4")
    info = stream_info(out)
    assert info["audio"]["codec"] == "aac"  # copied, not re-encoded
    video_end = Fraction(10) / NTSC
    assert info["video"]["end"] == video_end
    one_audio_frame = Fraction(info["audio"]["frame_size"] or 1024, info["audio"]["sample_rate"])
    assert video_end - one_audio_frame <= info["audio"]["end"] <= video_end + one_audio_frame
    assert read_clip(out, isolate=False).num_frames == 10


@pytest.mark.parametrize(
    ("source", "codec", "target", "expected"),
    [
        ("c.mp4", "aac", "out.mp4", "aac"),  # copied
        ("c.mov", "pcm_s16le", "out.mp4", "aac"),  # mp4 players want AAC: transcoded
        ("c.mp4", "aac", "out.webm", "opus"),  # webm allows Opus/Vorbis only
    ],
)
def test_audio_stays_in_sync(tmp_path, source, codec, target, expected):
    src = make_video(
        tmp_path / source, gray_frames(24), Fraction(24), audio=codec, audio_rate=48000, audio_seconds=1.0,
        click_at=0.25,
    )
    clip = read_clip(src, isolate=False)
    out = write_clip(clip, tmp_path / target)
    info = stream_info(out)
    assert info["audio"]["codec"] == expected
    assert abs(click_time(out) - 0.25) < 0.003
    assert info["audio"]["end"] - info["video"]["end"] < Fraction(25, 1000)


def test_png_directory_output_is_lossless(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (5, 47, 63, 3), dtype=np.uint8)  # odd size stays odd for PNG
    clip = Clip(frames, Fraction(24), name="noise")
    folder = tmp_path / "out" / "frames"
    (folder).mkdir(parents=True)
    (folder / "00007.png").write_bytes(b"stale frame from a longer earlier run")
    assert write_clip(clip, folder) == folder  # existing directory
    assert sorted(p.name for p in folder.iterdir()) == [f"{k:05d}.png" for k in range(5)]
    back = np.stack([np.asarray(Image.open(folder / f"{k:05d}.png")) for k in range(5)])
    np.testing.assert_array_equal(back, frames)
    new = write_clip(clip, str(tmp_path / "fresh") + "/")  # trailing slash: a new directory
    np.testing.assert_array_equal(read_clip(new, isolate=False).frames, frames)
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]


def test_write_is_atomic_and_creates_parents(tmp_path, monkeypatch):
    clip = Clip(gray_frames(3), Fraction(24))
    target = tmp_path / "a" / "b" / "out.mp4"
    assert write_clip(clip, target) == target and target.stat().st_size > 0
    before = target.read_bytes()
    calls = []

    def fail_on_third_frame(image):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return image

    monkeypatch.setattr(media_encode, "_pad_even", fail_on_third_frame)
    with pytest.raises(OSError, match="disk full"):
        write_clip(Clip(gray_frames(5), Fraction(24)), target)
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.mp4"]  # no temp file left
    monkeypatch.undo()
    with pytest.raises(ClipError, match="cannot write"):
        write_clip(clip, tmp_path / "out.avi")


def test_missing_audio_source_still_writes_video(tmp_path, caplog):
    clip = Clip(gray_frames(3), Fraction(24), audio_path=str(tmp_path / "gone.mp4"))
    out = write_clip(clip, tmp_path / "out.mp4")
    assert set(stream_info(out)) == {"video"}
    assert "gone.mp4" in caplog.text


def _rgba_frames(n=3, h=48, w=64) -> np.ndarray:
    frames = np.zeros((n, h, w, 4), np.uint8)
    frames[..., 0] = 220
    frames[..., 1] = 60
    frames[:, :, : w // 2, 3] = 255  # left half opaque, right half transparent
    return frames


def test_rgba_zip_and_directory(tmp_path):
    frames = _rgba_frames()
    frames[1, 5, 5] = (1, 2, 3, 4)
    out = write_rgba(frames, Fraction(24), tmp_path / "layers.zip")
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["00000.png", "00001.png", "00002.png"]
        back = np.stack([np.asarray(Image.open(io.BytesIO(zf.read(n)))) for n in zf.namelist()])
    np.testing.assert_array_equal(back, frames)
    folder = write_rgba(frames, Fraction(24), str(tmp_path / "layers") + "/")
    back = np.stack([np.asarray(Image.open(p)) for p in sorted(folder.iterdir())])
    assert back.shape == frames.shape
    np.testing.assert_array_equal(back, frames)


def test_rgba_prores_mov_keeps_alpha(tmp_path):
    out = write_rgba(_rgba_frames(h=47, w=63), NTSC, tmp_path / "layer.mov")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "prores" and s.average_rate == NTSC
        decoded = [f.to_ndarray(format="rgba") for f in c.decode(s)]
    assert len(decoded) == 3 and decoded[0].shape == (47, 63, 4)
    alpha = decoded[0][..., 3]
    assert alpha[:, :28].min() >= 250 and alpha[:, 35:].max() <= 5
    assert abs(int(decoded[0][10, 10, 0]) - 220) < 6


def test_rgba_vp9_webm_keeps_alpha(tmp_path):
    out = write_rgba(_rgba_frames(), Fraction(24), tmp_path / "layer.webm")
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "vp9" and s.metadata.get("alpha_mode") == "1"
        # FFmpeg's native vp9 decoder ignores alpha; libvpx decodes the alpha plane.
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        decoded = [f for p in c.demux(s) for f in decoder.decode(p if p.size else None)]
    assert len(decoded) == 3 and decoded[0].format.name == "yuva420p"
    alpha = decoded[0].to_ndarray(format="rgba")[..., 3]
    assert alpha[:, :28].min() >= 240 and alpha[:, 36:].max() <= 15


def test_isolated_and_in_process_reads_agree(tmp_path):
    src = make_video(tmp_path / "same.mp4", corner_frames(5), NTSC, rotation=-90, audio="aac")
    a = read_clip(src, isolate=False)
    b = read_clip(src, isolate=True)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert (a.fps, a.audio_path, a.name) == (b.fps, b.audio_path, b.name) == (NTSC, str(src), "same")


def test_clip_validates_frames():
    with pytest.raises(ValueError, match="uint8"):
        Clip(np.zeros((2, 4, 4, 3), np.float32), Fraction(24))
    clip = Clip(gray_frames(2)[:, :, ::2], 30)  # non-contiguous view, int fps
    assert clip.frames.flags["C_CONTIGUOUS"] and clip.fps == Fraction(30)
    other = clip.with_frames(gray_frames(4, 8, 8))
    assert (other.num_frames, other.height, other.width, other.fps) == (4, 8, 8, Fraction(30))
