"""The remove editor end to end: run() with both engines, the CLI verb, layers."""
import subprocess
import sys
from fractions import Fraction

import av
import numpy as np
import pytest

from editors import remove
from editors.core.clip import Clip, read_clip, write_clip
from editors.core.errors import UserError
from editors.diffusion import vace


def moving_square_clip(count=12, height=40, width=56):
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (height, width + count, 3), np.uint8)
    frames = np.stack([background[:, t:t + width] for t in range(count)])
    masks = np.zeros((count, height, width), bool)
    for t in range(count):
        masks[t, 10:22, 8 + t:20 + t] = True
    frames[masks] = (250, 20, 20)
    return Clip(frames, Fraction(24)), masks


def test_diffusion_engine_runs_through_the_registry_and_keeps_the_rest(tiny_registry):
    clip, masks = moving_square_clip()
    out = remove.run(clip, [masks], engine="diffusion", steps=2, registry=tiny_registry, effects=True)
    assert out.engine == "diffusion" and "CPU" in out.notice
    assert out.clip.frames.shape == clip.frames.shape and out.clip.fps == clip.fps
    assert out.changed[masks].all()
    untouched = ~out.changed
    assert np.array_equal(out.clip.frames[untouched], clip.frames[untouched])
    assert not np.array_equal(out.clip.frames[masks], clip.frames[masks])


def test_vace_windows_cover_a_clip_longer_than_one_window(tiny_registry):
    clip, masks = moving_square_clip(count=21, height=32, width=48)
    calls = []
    generated = vace.generate(clip.frames, masks.astype(np.float32), steps=1, max_window=9, overlap=4,
                              registry=tiny_registry, progress=lambda f, d: calls.append(f))
    assert generated.shape == clip.frames.shape and generated.dtype == np.uint8
    assert vace.plan_windows(21, 9, 4) == [(0, 9), (5, 14), (10, 19), (12, 21)]
    assert calls[-1] == pytest.approx(1.0) and len(calls) == 4


@pytest.mark.parametrize("count,expected", [(1, 1), (5, 5), (6, 9), (81, 81), (200, 81)])
def test_window_lengths_are_4k_plus_1(count, expected):
    assert vace.window_length(count) == expected


def test_model_size_is_a_multiple_of_16_within_the_area():
    h, w = vace.model_size(1080, 1920, 832 * 480)
    assert h % 16 == 0 and w % 16 == 0 and h * w <= 832 * 480 * 1.05 and abs(w / h - 16 / 9) < 0.05


def test_classic_remove_with_layers_recomposes(tmp_path):
    clip, masks = moving_square_clip(count=10)
    out = remove.run(clip, [masks], engine="classic", layers=True)
    assert out.engine == "classic" and len(out.layers) == 1
    layer = out.layers[0].astype(np.float32)
    alpha = layer[..., 3:] / 255
    recomposed = layer[..., :3] * alpha + out.background.frames.astype(np.float32) * (1 - alpha)
    mse = np.mean((recomposed - clip.frames) ** 2)
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-10)) >= 40


def test_empty_or_mismatched_masks_are_clear_errors():
    clip, masks = moving_square_clip()
    with pytest.raises(UserError, match="empty"):
        remove.run(clip, [np.zeros_like(masks)], engine="classic")
    with pytest.raises(UserError, match="frames"):
        remove.run(clip, [masks[:5]], engine="classic")


def make_clip_with_audio(path, frames=47, fps=Fraction(30000, 1001), size=(320, 180)):
    """A 29.97 fps H.264 clip with an AAC tone, made with PyAV."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        rng = np.random.default_rng(1)
        base = rng.integers(0, 255, (size[1], size[0] + frames * 2, 3), np.uint8)
        for i in range(frames):
            image = base[:, i * 2:i * 2 + size[0]].copy()
            image[60:120, 100 + i:160 + i] = (20, 200, 20)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        samples = int(48000 * frames / float(fps))
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = tone[None, start:start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)


def test_cli_remove_keeps_frames_fps_size_and_audio(tmp_path):
    source, mask, output = tmp_path / "in.mp4", tmp_path / "mask.png", tmp_path / "out.mp4"
    make_clip_with_audio(source)
    image = np.zeros((180, 320), np.uint8)
    image[55:125, 95:215] = 255
    from PIL import Image

    Image.fromarray(image).save(mask)
    run = subprocess.run([sys.executable, "-m", "editors", "remove", "--input", str(source), "--mask", str(mask),
                          "--output", str(output), "--engine", "classic"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 180)
        assert stream.average_rate == Fraction(30000, 1001)
        assert len(container.streams.audio) == 1
    clip = read_clip(output)
    assert clip.num_frames == 47 and clip.fps == Fraction(30000, 1001)
    green = (clip.frames[..., 1] > 150) & (clip.frames[..., 0] < 80)
    assert green.sum() < 0.05 * 47 * 60 * 60, "the masked object should be gone"


def test_cli_layers_and_png_output(tmp_path):
    clip, masks = moving_square_clip(count=8)
    write_clip(clip, tmp_path / "in.mp4")
    write_clip(Clip(np.repeat(masks[..., None].astype(np.uint8) * 255, 3, 3), clip.fps), tmp_path / "m.mp4")
    run = subprocess.run([sys.executable, "-m", "editors", "remove", "-i", str(tmp_path / "in.mp4"),
                          "--mask", str(tmp_path / "m.mp4"), "-o", str(tmp_path / "frames") + "/",
                          "--layers", str(tmp_path / "layers"), "--engine", "classic", "-q"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 8
    assert (tmp_path / "layers" / "background.mp4").exists() and (tmp_path / "layers" / "layer_1.mov").exists()


def test_cli_bad_input_exits_2_with_a_message(tmp_path):
    bad = tmp_path / "movie.mp4"
    bad.write_text("this is not a video")
    run = subprocess.run([sys.executable, "-m", "editors", "remove", "-i", str(bad), "--mask", str(bad),
                          "-o", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert run.returncode == 2 and "movie.mp4" in run.stderr and "Traceback" not in run.stderr


def test_cli_diffusion_engine_with_weights_from_models_dir(tmp_path, tiny_vace_dir):
    clip, masks = moving_square_clip(count=6, height=32, width=48)
    write_clip(clip, tmp_path / "in.mp4")
    from PIL import Image

    Image.fromarray(masks[0].astype(np.uint8) * 255).save(tmp_path / "m.png")
    env = dict(__import__("os").environ, EDITHUB_MODELS_DIR=str(tiny_vace_dir.parent))
    run = subprocess.run([sys.executable, "-m", "editors", "remove", "-i", str(tmp_path / "in.mp4"),
                          "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "out.mp4"), "--engine", "diffusion",
                          "--steps", "1"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "CPU" in run.stderr                        # the user is told the diffusion engine runs on the CPU
    assert read_clip(tmp_path / "out.mp4").num_frames == 6


def test_cli_diffusion_without_weights_says_how_to_get_them(tmp_path):
    clip, masks = moving_square_clip(count=4)
    write_clip(clip, tmp_path / "in.mp4")
    from PIL import Image

    Image.fromarray(masks[0].astype(np.uint8) * 255).save(tmp_path / "m.png")
    run = subprocess.run([sys.executable, "-m", "editors", "remove", "-i", str(tmp_path / "in.mp4"),
                          "--mask", str(tmp_path / "m.png"), "-o", str(tmp_path / "out.mp4"), "--engine", "diffusion"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in run.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_out_of_gpu_memory_retries_smaller_then_says_what_to_do(tiny_registry):
    import torch

    pipe = tiny_registry.get("vace-1.3b")
    sizes = []
    real_call = type(pipe).__call__

    def failing(self, *args, **kwargs):
        sizes.append((kwargs["height"], kwargs["width"]))
        if len(sizes) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return real_call(self, *args, **kwargs)

    clip, masks = moving_square_clip(count=5, height=64, width=96)
    type(pipe).__call__ = failing
    try:
        out = vace.generate(clip.frames, masks.astype(np.float32), steps=1, max_area=64 * 96, registry=tiny_registry)
        assert out.shape == clip.frames.shape
        assert sizes[1][0] * sizes[1][1] < sizes[0][0] * sizes[0][1]
        type(pipe).__call__ = lambda self, *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("again"))
        with pytest.raises(UserError, match="ran out of memory"):
            vace.generate(clip.frames, masks.astype(np.float32), steps=1, registry=tiny_registry)
    finally:
        type(pipe).__call__ = real_call


def test_layers_of_two_objects_recompose():
    clip, masks = moving_square_clip(count=8, width=80)
    second = np.zeros_like(masks)
    second[:, 26:36, 50:62] = True
    out = remove.run(clip, [masks, second], engine="classic", layers=True)
    assert len(out.layers) == 2
    composed = out.background.frames.astype(np.float32)
    for layer in out.layers:
        alpha = layer[..., 3:].astype(np.float32) / 255
        composed = layer[..., :3] * alpha + composed * (1 - alpha)
    mse = np.mean((composed - clip.frames) ** 2)
    assert 10 * np.log10(255 ** 2 / max(mse, 1e-10)) >= 40
    assert out.layers[0][..., 3][second].max() == 0, "the second object is not in the first layer"
