"""The segment editor: run() with both engines, the CLI verb, the /segment endpoint, prompt errors."""
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from editors import segment
from editors.core import masks as M
from editors.core.clip import Clip, read_clip, write_clip
from editors.core.errors import UserError
from editors.core.prompts import Prompt
from editors.core.registry import ModelRegistry
from editors.models import sam2_spec


def textured_object_clip(count=10, height=64, width=96):
    """A bright textured square sliding right over a dark noisy background."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 60, (count, height, width, 3), np.uint8)
    truth = np.zeros((count, height, width), bool)
    patch = rng.integers(150, 255, (20, 20, 3), np.uint8)
    for t in range(count):
        x = 10 + 3 * t
        frames[t, 20:40, x:x + 20] = patch
        truth[t, 20:40, x:x + 20] = True
    return Clip(frames, Fraction(24)), truth


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


def test_classic_box_on_a_middle_frame_tracks_both_ways():
    clip, truth = textured_object_clip()
    out = segment.run(clip, [Prompt(5, 1, box=(23, 18, 47, 42))], engine="classic")
    assert out.engine == "classic" and sorted(out.objects) == [1]
    assert min(iou(out.objects[1][t], truth[t]) for t in range(len(truth))) > 0.8


def test_classic_picks_the_object_up_again_after_it_was_hidden():
    """Hidden for four frames, it comes back elsewhere: empty masks while hidden, then found again."""
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 60, (14, 72, 120, 3), np.uint8)
    truth = np.zeros((14, 72, 120), bool)
    patch = rng.integers(150, 255, (20, 20, 3), np.uint8)
    for t in [*range(4), *range(8, 14)]:
        x, y = (10 + 3 * t, 20) if t < 4 else (60 + 3 * (t - 8), 40)
        frames[t, y:y + 20, x:x + 20] = patch
        truth[t, y:y + 20, x:x + 20] = True
    out = segment.run(Clip(frames, Fraction(24)), [Prompt(0, 1, box=(10, 20, 30, 40))], engine="classic")
    masks = out.objects[1]
    assert not masks[4:8].any()
    assert min(iou(masks[t], truth[t]) for t in range(8, 14)) > 0.8


def test_preview_and_track_reuse_the_first_mask_of_an_unchanged_prompt(monkeypatch):
    """Each click redraws every object's preview and Track needs the same masks: one graph cut per prompt."""
    from editors.classic import segment as classic_segment
    from editors.classic import track as classic_track

    calls = []
    real_first_mask = classic_track.first_mask

    def counted(frame, **prompt):
        calls.append(prompt)
        return real_first_mask(frame, **prompt)

    monkeypatch.setattr(classic_track, "first_mask", counted)
    monkeypatch.setattr(classic_segment, "_FIRST_MASKS", type(classic_segment._FIRST_MASKS)())   # nothing from other tests
    clip, truth = textured_object_clip()
    box_prompt = Prompt(0, 1, box=(8, 18, 32, 42))
    first = segment.preview(clip.frames[0], box_prompt, engine="classic")
    first[:] = False                                   # callers may change what they get
    again = segment.preview(clip.frames[0], box_prompt, engine="classic")
    assert len(calls) == 1 and iou(again, truth[0]) > 0.8
    segment.run(clip, [box_prompt], engine="classic")
    assert len(calls) == 1
    segment.preview(clip.frames[5], box_prompt, engine="classic")            # other pixels, same box
    segment.preview(clip.frames[0], Prompt(0, 1, box=(9, 18, 32, 42)), engine="classic")
    assert len(calls) == 3


def test_refinement_on_another_frame_and_several_objects():
    clip, truth = textured_object_clip()
    prompts = [Prompt(0, 1, [(20, 30, 1)]), Prompt(9, 1, box=(35, 18, 59, 42)), Prompt(0, 2, box=(60, 40, 90, 60))]
    out = segment.run(clip, prompts, engine="classic")
    assert sorted(out.objects) == [1, 2]
    assert np.mean([iou(out.objects[1][t], truth[t]) for t in range(10)]) > 0.8


def test_mask_shape_tools():
    masks = np.zeros((1, 20, 20), bool)
    masks[0, 5:8, 5:15] = True
    masks[0, 8:15, 5:8] = True                       # an L
    assert M.augment(masks, 0, "box")[0, 5:15, 5:15].all()
    assert M.augment(masks, 2, "mask").sum() > masks.sum()
    assert M.augment(masks, -1, "mask").sum() < masks.sum()
    hull = M.augment(masks, 0, "hull")
    assert masks.sum() < hull.sum() < M.augment(masks, 0, "box").sum()


@pytest.mark.parametrize("prompt,message", [
    (Prompt(0, 1, [(500, 10, 1)]), "outside"),
    (Prompt(0, 1, box=(30, 30, 30, 50)), "empty"),
    (Prompt(99, 1, [(5, 5, 1)]), "outside the clip"),
    (Prompt(0, 1, [(5, 5, 0)]), "at least one click"),
])
def test_bad_prompts_are_clear_errors(prompt, message):
    clip, _ = textured_object_clip(count=3)
    with pytest.raises(UserError, match=message):
        segment.run(clip, [prompt], engine="classic")


def test_sam2_engine_through_the_registry(tiny_sam2):
    folder, overrides = tiny_sam2
    registry = ModelRegistry([sam2_spec("sam2.1-tiny", overrides)], device="cpu")
    registry.set_local_dir("sam2.1-tiny", folder)
    clip, _ = textured_object_clip(count=4, height=48, width=64)
    out = segment.run(clip, [Prompt(1, 2, [(30, 30, 1)]), Prompt(2, 5, box=(1, 1, 20, 20))], engine="diffusion",
                      registry=registry, grow=1)
    assert out.engine == "diffusion" and sorted(out.objects) == [2, 5]
    assert all(m.shape == (4, 48, 64) for m in out.objects.values())


def test_cli_box_to_mask_video_and_png_folder_named_like_the_frames(tmp_path):
    clip, truth = textured_object_clip(count=6)
    frames_dir = tmp_path / "frames"
    frames_dir.mkdir()
    for t, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(frames_dir / f"img_{t:03d}.png")
    cmd = [sys.executable, "-m", "editors", "segment", "-i", str(frames_dir), "--box", "8,18,32,42", "--engine", "classic", "-q"]
    run = subprocess.run(cmd + ["-o", str(tmp_path / "masks") + "/"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    names = sorted(p.name for p in (tmp_path / "masks").glob("*.png"))
    assert names == [f"img_{t:03d}.png" for t in range(6)]
    first = np.asarray(Image.open(tmp_path / "masks" / "img_000.png"))
    assert first.ndim == 2 and set(np.unique(first)) <= {0, 255} and iou(first > 0, truth[0]) > 0.8
    run = subprocess.run(cmd + ["-o", str(tmp_path / "masks.mp4")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert read_clip(tmp_path / "masks.mp4").num_frames == 6


def test_cli_bad_prompt_exits_2(tmp_path):
    clip, _ = textured_object_clip(count=3)
    write_clip(clip, tmp_path / "in.mp4")
    run = subprocess.run([sys.executable, "-m", "editors", "segment", "-i", str(tmp_path / "in.mp4"),
                          "--points", "5,5,1", "--frame", "7", "-o", str(tmp_path / "m.mp4")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "outside the clip" in run.stderr


def test_segment_endpoint(client, tmp_path):
    from gradio_client import handle_file

    clip, truth = textured_object_clip(count=5)
    write_clip(clip, tmp_path / "in.mp4")
    prompts = json.dumps([{"frame": 0, "object_id": 1, "box": [8, 18, 32, 42]}])
    overlay, files = client.predict(handle_file(str(tmp_path / "in.mp4")), prompts, "classic", 0, "mask",
                                    api_name="/segment")
    assert read_clip(overlay).num_frames == 5
    names = sorted(f.rsplit("/", 1)[-1] for f in files)
    assert names == ["mask_object_1.mp4", "masks.zip"]
