"""The replace editor: the default placement, the cut-out, the classic engine end to end, the CLI verb."""
import subprocess
import sys
from fractions import Fraction

import cv2
import numpy as np
import pytest
from PIL import Image

from editors import replace
from editors.classic.cutout import plain_background_cutout, target_rgba
from editors.core.clip import Clip
from editors.core.errors import UserError
from editors.core.geometry import Box, similarity
from editors.core.placement import place, reference_transform

T, H, W = 12, 72, 96


def scene(count=T, height=H, width=W, pan=1):
    """A textured background panning by `pan` px a frame, and a red 20x16 box moving right over it."""
    rng = np.random.default_rng(1)
    wide = cv2.GaussianBlur(rng.integers(0, 255, (height, width + pan * count, 3), np.uint8), (0, 0), 1.2)
    background = np.stack([wide[:, pan * t:pan * t + width] for t in range(count)])
    source = np.zeros((count, height, width), bool)
    for t in range(count):
        source[t, 30:50, 20 + 2 * t:36 + 2 * t] = True
    frames = background.copy()
    frames[source] = (230, 30, 30)
    return frames, background, source


def tall_target(height=36, width=10):
    """A tall green ellipse with a darker stripe, RGBA (transparent around it)."""
    rgba = np.zeros((height + 6, width + 6, 4), np.uint8)
    centre, axes = ((width + 6) // 2, (height + 6) // 2), (width // 2, height // 2)
    cv2.ellipse(rgba, centre, axes, 0, 0, 360, (40, 190, 60, 255), -1)
    rgba[(height + 6) // 2, :, :3] = (10, 90, 20)
    return rgba


def test_default_placement_bottom_centre_and_height_on_the_reference_frame():
    _, _, source = scene()
    target = tall_target()
    placement = place(target, source)
    assert placement.reference == 0                     # the first frame where the box is fully visible
    silhouettes = placement.silhouettes()
    for t in (0, 5, 11):
        ours, theirs = Box.of_mask(silhouettes[t]), Box.of_mask(source[t])
        assert ours.y1 == theirs.y1 and abs(ours.height - theirs.height) <= 1
        assert abs((ours.x0 + ours.x1) / 2 - (theirs.x0 + theirs.x1) / 2) <= 0.5
    # width / area fits and --scale
    src_box = Box.of_mask(source[0])
    by_width = Box.of_mask(place(target, source, fit="width").silhouettes()[0])
    assert abs(by_width.width - src_box.width) <= 1 and by_width.height > 2 * src_box.height
    by_area = place(target, source, fit="area").silhouettes()[0]
    assert abs(by_area.sum() / source[0].sum() - 1) < 0.1         # a small shape: rasterised outline
    half = Box.of_mask(place(target, source, scale=0.5).silhouettes()[0])    # 10 px tall, 3 wide: tips thin out
    assert abs(half.height - src_box.height / 2) <= 2 and abs(half.y1 - src_box.y1) <= 1


def test_placement_follows_the_source_turning_and_growing():
    """A rigid source moved by a known similarity: the new object moves by the same one (sub-pixel)."""
    base = np.zeros((H, W), np.float32)
    cv2.ellipse(base, (40, 36), (18, 7), 0, 0, 360, 1.0, -1)
    truths = [similarity(1 + 0.02 * t, 0.04 * t, 1.5 * t, 0.5 * t) for t in range(T)]
    centre = np.array([[1, 0, 40], [0, 1, 36], [0, 0, 1.0]])
    truths = [centre @ m @ np.linalg.inv(centre) for m in truths]
    source = np.stack([cv2.warpAffine(base, m[:2], (W, H)) >= 0.5 for m in truths])
    target = tall_target(30, 8)
    placement = place(target, source, reference=0)
    corner = np.array([0.0, 0.0, 1.0])                 # a target pixel
    for t in range(T):
        expected = truths[t] @ placement.transforms[0] @ corner
        assert np.linalg.norm(placement.transforms[t] @ corner - expected) < 0.35


def test_classic_replace_end_to_end():
    frames, background, source = scene()
    clip = Clip(frames, Fraction(24))
    out = replace.run(clip, source, tall_target(), engine="classic")
    assert out.engine == "classic" and out.clip.frames.shape == frames.shape and out.clip.fps == clip.fps
    result, masks = out.clip.frames, out.masks
    assert masks.shape == source.shape and masks.any(axis=(1, 2)).all()
    # what the old object covered and the new one does not shows the background
    uncovered = source & ~out.placement.silhouettes()
    error = np.abs(result[uncovered].astype(float) - background[uncovered]).mean()
    assert error < 12, error
    assert not np.isin(result[uncovered].reshape(-1, 3), [[230, 30, 30]]).all(axis=1).any()
    # the new object is there, in its own colours
    inner = np.stack([cv2.erode(m.astype(np.uint8), np.ones((3, 3))) > 0 for m in masks])
    assert np.abs(result[inner].astype(int) - (40, 190, 60)).max(axis=1).mean() < 60
    # far from both objects: the input, bit for bit
    near = np.stack([cv2.dilate((s | m).astype(np.uint8), np.ones((41, 41))) > 0 for s, m in zip(source, masks)])
    assert np.array_equal(result[~near], frames[~near])
    assert np.array_equal(result[~out.changed], frames[~out.changed])


def test_new_object_is_hidden_where_the_old_one_was():
    frames, _, source = scene()
    hidden = source.copy()
    hidden[6:9] &= np.arange(W) < 41              # something in front of the old object's right part
    out = replace.run(Clip(frames, Fraction(24)), hidden, tall_target(), engine="classic")
    placed = out.placement.silhouettes(hide=False)
    behind, before = np.arange(W) >= 42, np.arange(W) < 40
    for t in (6, 7):                               # the new object reaches both sides of the hidden edge
        assert (placed[t] & behind).any() and not (out.masks[t] & behind).any()
        assert (out.masks[t] & before).sum() == (placed[t] & before).sum()
    assert out.masks[3].sum() == placed[3].sum()


def test_rgb_photo_on_white_is_cut_out():
    rgba = tall_target(60, 20)
    photo = np.full((100, 70, 3), 255, np.uint8)
    a = rgba[..., 3:4] / 255.0
    photo[20:86, 24:50] = (rgba[..., :3] * a + 255 * (1 - a)).astype(np.uint8)
    photo[40:42, 30:32] = 255                          # a white highlight inside the object: still object
    cut = target_rgba(photo)
    truth = np.zeros((100, 70), bool)
    truth[20:86, 24:50] = rgba[..., 3] >= 128
    got = cut[..., 3] >= 128
    assert (got & truth).sum() / (got | truth).sum() > 0.97
    assert got[40:42, 30:32].all()


def test_cut_out_refuses_what_it_cannot_separate_and_empty_targets():
    rng = np.random.default_rng(0)
    busy = rng.integers(0, 255, (80, 80, 3), np.uint8)
    with pytest.raises(UserError, match="--target-mask"):
        plain_background_cutout(busy)
    with pytest.raises(UserError, match="--target-mask"):
        plain_background_cutout(np.full((50, 50, 3), 255, np.uint8))          # nothing on it
    empty = np.zeros((20, 20, 4), np.uint8)
    empty[0, 0, 3] = 10
    with pytest.raises(UserError, match="alpha"):
        target_rgba(empty)
    with pytest.raises(UserError, match="same size"):
        target_rgba(busy, np.ones((10, 10), bool))
    _, _, source = scene()
    with pytest.raises(UserError, match="empty on every frame"):
        replace.run(Clip(np.zeros((T, H, W, 3), np.uint8), Fraction(24)), np.zeros_like(source), tall_target(),
                    engine="classic")
    with pytest.raises(UserError, match="far larger than the frame"):
        reference_transform(tall_target(), source[0], fit="width", scale=4.0)


def write_frames(folder, frames, prefix="shot_"):
    folder.mkdir(parents=True, exist_ok=True)
    for t, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{prefix}{t:03d}.png")
    return folder


def cli(*args):
    return subprocess.run([sys.executable, "-m", "editors", "replace", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def test_cli_writes_the_clip_and_the_new_masks_named_like_the_frames(tmp_path):
    frames, _, source = scene(count=8)
    write_frames(tmp_path / "frames", frames)
    write_frames(tmp_path / "masks", source.astype(np.uint8) * 255)
    Image.fromarray(tall_target(), "RGBA").save(tmp_path / "target.png")
    done = cli("--input", tmp_path / "frames", "--mask", tmp_path / "masks", "--target", tmp_path / "target.png",
               "--engine", "classic", "--masks-out", f"{tmp_path / 'new'}/", "--output", f"{tmp_path / 'out'}/",
               "--quiet")
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "new").glob("*.png"))
    assert written == [f"shot_{t:03d}.png" for t in range(8)]
    mask = np.asarray(Image.open(tmp_path / "new" / "shot_004.png"))
    assert set(np.unique(mask)) == {0, 255} and mask.ndim == 2
    assert len(list((tmp_path / "out").glob("*.png"))) == 8


@pytest.mark.parametrize("problem", ["empty alpha", "busy photo", "mask size", "empty mask"])
def test_cli_bad_input_is_exit_2_with_one_line_and_nothing_written(tmp_path, problem):
    frames, _, source = scene(count=6)
    write_frames(tmp_path / "frames", frames)
    masks = source.astype(np.uint8) * 255
    target = tall_target()
    if problem == "empty alpha":
        target[..., 3] = 0
        target[0, 0, 3] = 1
    if problem == "empty mask":
        masks[:] = 0
    if problem == "mask size":
        masks = np.stack([cv2.resize(m, (W // 2, H // 2)) for m in masks])
    write_frames(tmp_path / "masks", masks)
    if problem == "busy photo":
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 40, 3), np.uint8)).save(tmp_path / "t.png")
    else:
        Image.fromarray(target, "RGBA").save(tmp_path / "t.png")
    done = cli("--input", tmp_path / "frames", "--mask", tmp_path / "masks", "--target", tmp_path / "t.png",
               "--engine", "classic", "--masks-out", f"{tmp_path / 'new'}/", "--output", tmp_path / "out.mp4")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    expected = {"empty alpha": "no object", "busy photo": "--target-mask", "mask size": "clip's size",
                "empty mask": "empty (black on every frame)"}[problem]
    assert expected in done.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "new").exists()


def test_target_mask_and_box_prompts_cut_the_photo(tmp_path):
    frames, _, source = scene(count=6)
    photo = np.random.default_rng(2).integers(0, 255, (50, 30, 3), np.uint8)
    mask = np.zeros((50, 30), bool)
    mask[5:45, 8:22] = True
    out = replace.run(Clip(frames, Fraction(24)), source, photo, target_mask=mask, engine="classic")
    box = Box.of_mask(out.masks[0])
    assert abs(box.height - 20) <= 1 and abs(box.width - 20 * 14 / 40) <= 1.5
    from editors.core.prompts import Prompt

    plain = np.full((60, 40, 3), 250, np.uint8)
    plain[10:50, 12:28] = (200, 40, 40)
    prompted = replace.cut_out(plain, prompt=Prompt(0, 1, [], (10, 8, 30, 52)))
    assert (prompted[10:50, 12:28, 3] >= 128).mean() > 0.9 and (prompted[..., 3] >= 128).sum() < 40 * 16 * 1.3


def test_replace_endpoint_runs_the_readme_snippet(client, monkeypatch):
    """The README's /replace snippet, as written, against the served app (classic engine: no GPU here)."""
    from pathlib import Path

    from gradio_client import handle_file

    from editors.core.clip import read_clip

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    start = readme.index("# /replace")
    snippet = readme[start:readme.index("```", start)]
    assert 'api_name="/replace"' in snippet
    monkeypatch.chdir(root)
    scope = {"client": client, "handle_file": handle_file}
    exec(snippet, scope)
    source, out = read_clip(root / "examples" / "dogs-jump.mp4"), read_clip(scope["result"])
    assert (out.num_frames, out.width, out.height) == (source.num_frames, source.width, source.height)
    assert any(str(f).endswith("masks.zip") for f in scope["new_masks"])
    assert read_clip(scope["before_after"]).width == 2 * source.width + 8     # one before | after video


def test_harmonize_moves_the_new_objects_colours_toward_the_scene():
    from editors.classic.replace import harmonize_target

    frames, _, source = scene()
    dark = (frames[0] * 0.3).astype(np.uint8)               # a dim scene
    target = tall_target()
    toned = harmonize_target(target, dark, source[0])
    inside = target[..., 3] >= 128
    assert toned[..., :3][inside].mean() < target[..., :3][inside].mean() - 10
    assert np.array_equal(toned[..., 3], target[..., 3])
    out = replace.run(Clip(frames, Fraction(24)), source, target, harmonize=True, engine="classic")
    plain = replace.run(Clip(frames, Fraction(24)), source, target, engine="classic")
    assert np.array_equal(out.masks, plain.masks) and not np.array_equal(out.clip.frames, plain.clip.frames)
