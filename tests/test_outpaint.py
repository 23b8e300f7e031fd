"""The outpaint editor: run() with both engines (the diffusion one on M3DDM's coarse-to-fine schedule), the CLI
verb and the /outpaint endpoint."""
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from editors import outpaint
from editors.core.clip import Clip, read_clip, write_clip
from editors.core.errors import UserError


def panning_clip(count=9, height=40, width=48):
    rng = np.random.default_rng(5)
    world = rng.integers(0, 255, (height, width + 4 * count, 3), np.uint8)
    return Clip(np.stack([world[:, 2 * t:2 * t + width] for t in range(count)]), Fraction(25))


def test_diffusion_schedule_runs_end_to_end_on_a_tiny_model(tiny_registry):
    clip = panning_clip(count=21)
    seen = []
    out = outpaint.run(clip, width=64, height=48, anchor="center", engine="diffusion", steps=1, window=9,
                       registry=tiny_registry, progress=lambda f, d: seen.append(d))
    assert out.engine == "diffusion"
    frames = out.clip.frames
    assert frames.shape == (21, 48, 64, 3) and out.clip.fps == clip.fps
    c = out.canvas
    assert np.array_equal(frames[:, c.top:c.top + 40, c.left:c.left + 48], clip.frames)   # original exact
    new_area = np.ones((48, 64), bool)
    new_area[c.top:c.top + 40, c.left:c.left + 48] = False
    assert (frames[:, new_area] != 127).any(axis=-1).mean() > 0.5, "the new area must be generated, not grey"
    assert len({d.split(":")[0] for d in seen}) >= 2, "keyframes first, then the frames between them"


def test_classic_ratio_keeps_the_original_and_frame_count():
    clip = panning_clip()
    out = outpaint.run(clip, ratio="9:16", engine="classic")
    c = out.canvas
    assert (c.width, c.height) == (48, 85) and c.top == (85 - 40) // 2
    assert out.clip.num_frames == clip.num_frames
    assert np.array_equal(out.clip.frames[:, c.top:c.top + 40, c.left:c.left + 48], clip.frames)


def test_two_ways_of_giving_the_size_is_an_error():
    with pytest.raises(UserError, match="one way"):
        outpaint.run(panning_clip(), ratio="1:1", left=10, engine="classic")


def test_cli_outpaint_per_side_pixels(tmp_path):
    clip = panning_clip()
    write_clip(clip, tmp_path / "in.mp4")
    run = subprocess.run([sys.executable, "-m", "editors", "outpaint", "-i", str(tmp_path / "in.mp4"),
                          "--left", "8", "--right", "7", "-o", str(tmp_path / "frames") + "/", "--engine", "classic",
                          "-q"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = read_clip(tmp_path / "frames")
    assert (out.width, out.height, out.num_frames) == (63, 40, clip.num_frames)   # odd width kept in PNGs


def test_cli_outpaint_bad_size_exits_2(tmp_path):
    write_clip(panning_clip(), tmp_path / "in.mp4")
    run = subprocess.run([sys.executable, "-m", "editors", "outpaint", "-i", str(tmp_path / "in.mp4"),
                          "--width", "20", "-o", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert run.returncode == 2 and "smaller" in run.stderr


def test_outpaint_endpoint(client, tmp_path):
    from gradio_client import handle_file

    write_clip(panning_clip(), tmp_path / "in.mp4")
    result, compare = client.predict(handle_file(str(tmp_path / "in.mp4")), "1:1", 0, 0, 0, 0, 0, 0, "center",
                                     "classic", 25, 5.0, 0, "", api_name="/outpaint")
    out = read_clip(result)
    assert (out.width, out.height, out.num_frames) == (48, 48, 9)


def test_classic_fills_a_pan_from_other_frames_at_30_db():
    """A camera panning over a smooth texture: what the pan shows in other frames fills the new side bands."""
    import cv2

    rng = np.random.default_rng(7)
    count, height, width, step = 24, 48, 64, 3
    world = cv2.GaussianBlur(rng.integers(0, 255, (height, width + 24 + step * count, 3), np.uint8), (0, 0), 2)
    full = np.stack([world[:, step * t:step * t + width + 24] for t in range(count)])   # 88 wide truth
    clip = Clip(np.ascontiguousarray(full[:, :, 12:12 + width]), Fraction(25))
    out = outpaint.run(clip, left=12, right=12, engine="classic")
    new_area = np.ones((height, width + 24), bool)
    new_area[:, 12:12 + width] = False
    assert np.array_equal(out.clip.frames[:, :, 12:12 + width], clip.frames)
    # frames in the middle of the pan have seen both bands in earlier/later frames
    middle = slice(6, count - 6)
    error = out.clip.frames[middle][:, new_area].astype(np.float32) - full[middle][:, new_area]
    assert 10 * np.log10(255 ** 2 / np.mean(error ** 2)) >= 30
