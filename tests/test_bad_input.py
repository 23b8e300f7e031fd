"""Bad input through the CLI, the handlers and the served API: one-line message naming the file or argument,
exit code 2, nothing written, the server still answering (issue 16). The checks every editor gets are in
test_editor_contract.py; these are the particular ones."""
import io
import logging
import math
import os
import tempfile
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from editor_contract import FPS, FRAMES, HEIGHT, WIDTH, make_clip, one_line_refusal, run_cli
from editors.core import masks as M
from editors.core.clip import Clip, read_clip, write_clip
from editors.core.errors import UserError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("bad") / "clip.mp4")


def png(path: Path, array: np.ndarray, mode=None) -> Path:
    Image.fromarray(array, mode).save(path)
    return path


def square_mask(height=HEIGHT, width=WIDTH) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[18:42, 28:70] = 255          # the red square's whole path in the contract clip
    return mask


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


# ---- remove: clips and masks the engine could not take ------------------------------------------------------
def test_one_frame_clip_is_removed_without_effects_and_says_so(tmp_path):
    """A single image has no other frame to tell a shadow from the ground: the object goes, with a note."""
    rng = np.random.default_rng(2)
    frame = rng.integers(60, 200, (1, HEIGHT, WIDTH, 3), np.uint8)
    frame[0, 20:40, 30:50] = (230, 30, 30)
    still = write_clip(Clip(frame, FPS), tmp_path / "photo.mp4")
    output = tmp_path / "clean.mp4"
    done = run_cli("remove", "--input", still, "--mask", png(tmp_path / "m.png", square_mask()), "--output", output,
                   "--engine", "classic", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "single frame" in done.stderr and "Traceback" not in done.stderr
    out = read_clip(output)
    assert out.num_frames == 1
    red = out.frames[0, 22:38, 32:48].astype(int)
    assert ((red[..., 0] - red[..., 1]) > 120).mean() < 0.05      # the red square is gone


def test_one_pixel_mask_in_a_corner(tmp_path):
    """The effect stage's crop around a 1-pixel object was under DIS flow's 12-pixel minimum (an OpenCV error)."""
    tennis = read_clip(EXAMPLES / "tennis.mp4")
    short = write_clip(tennis.with_frames(tennis.frames[:8]), tmp_path / "tennis8.mp4")
    dot = np.zeros((tennis.height, tennis.width), np.uint8)
    dot[0, 0] = 255
    output = tmp_path / "out.mp4"
    done = run_cli("remove", "--input", short, "--mask", png(tmp_path / "dot.png", dot), "--output", output,
                   "--engine", "classic", "--quiet")
    assert done.returncode == 0, done.stderr
    assert read_clip(output).num_frames == 8


def test_flow_of_images_under_the_dis_minimum():
    from editors.core.flow import Flow

    a = np.zeros((5, 7), np.uint8)
    a[2, 3] = 255
    flow = Flow("medium")(a, np.roll(a, 1, axis=1))
    assert flow.shape == (5, 7, 2) and np.isfinite(flow).all()


def test_a_soft_grey_mask_marks_only_the_object(clip_path, tmp_path):
    """Mode L, with a faint non-zero haze everywhere: the object is the bright part, not every non-zero pixel;
    the result is the one its black-and-white version gives."""
    soft = np.full((HEIGHT, WIDTH), 40, np.uint8)
    soft[square_mask() > 0] = 200
    results = {}
    for name, mask in (("soft", png(tmp_path / "soft.png", soft, "L")), ("sharp", png(tmp_path / "sharp.png",
                                                                                        square_mask()))):
        results[name] = tmp_path / f"{name}.mp4"
        done = run_cli("remove", "--input", clip_path, "--mask", mask, "--output", results[name], "--engine",
                       "classic", "--no-effects", "--quiet")
        assert done.returncode == 0, done.stderr
    before = read_clip(clip_path).frames.astype(int)
    soft_out, sharp_out = (read_clip(results[name]).frames.astype(int) for name in ("soft", "sharp"))
    assert np.abs(soft_out - sharp_out).mean() < 1.0
    far = np.s_[:, 50:, :20]                         # far from the object: kept (H.264 noise on random texture)
    assert np.abs(soft_out[far] - before[far]).mean() < 8
    assert np.abs(soft_out[:, 22:38, 34:46] - before[:, 22:38, 34:46]).mean() > 20     # the square was changed


def test_an_all_white_or_all_black_mask_is_refused(clip_path, tmp_path):
    white = png(tmp_path / "white.png", np.full((HEIGHT, WIDTH), 255, np.uint8))
    black = png(tmp_path / "black.png", np.zeros((HEIGHT, WIDTH), np.uint8))
    output = tmp_path / "never.mp4"
    for mask, says in ((white, "covers the whole frame"), (black, "empty")):
        done = run_cli("remove", "--input", clip_path, "--mask", mask, "--output", output, "--engine", "classic")
        one_line_refusal(done, mask.name, says)
    assert not output.exists()


def test_a_damaged_zip_mask_is_named(clip_path, tmp_path):
    broken = tmp_path / "my masks.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    done = run_cli("remove", "--input", clip_path, "--mask", broken, "--output", tmp_path / "never.mp4",
                   "--engine", "classic")
    one_line_refusal(done, "my masks.zip", "not a readable zip")
    assert not (tmp_path / "never.mp4").exists()


def test_band_and_frame_rate_are_bounded_before_any_work(clip_path, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        png(folder / f"{i:03d}.png", np.full((HEIGHT, WIDTH, 3), 90 + i, np.uint8))
    mask = png(tmp_path / "m.png", square_mask())
    started = time.monotonic()
    for args, says in ((["--input", clip_path, "--band", "2000"], "--band"),
                       (["--input", folder, "--fps", "-5"], "--fps"), (["--input", folder, "--fps", "0"], "--fps"),
                       (["--input", folder, "--fps", "nan"], "--fps")):
        done = run_cli("remove", *args, "--mask", mask, "--output", tmp_path / "never.mp4", "--engine", "classic")
        one_line_refusal(done, says)
    assert time.monotonic() - started < 60 and not (tmp_path / "never.mp4").exists()


def test_layers_folder_is_checked_before_the_work(clip_path, tmp_path):
    done = run_cli("remove", "--input", clip_path, "--mask", png(tmp_path / "m.png", square_mask()), "--output",
                   tmp_path / "never.mp4", "--layers", "/proc/nope/layers", "--engine", "classic")
    one_line_refusal(done, "--layers", "/proc/nope")
    assert not (tmp_path / "never.mp4").exists()


# ---- segment: boxes, clicks and prompts JSON -----------------------------------------------------------------
@pytest.mark.parametrize("args, says", [
    (["--box", "nan,nan,nan,nan"], "--box"),
    (["--box", "0,0,inf,inf"], "--box"),
    (["--box", "1,2,3"], "--box"),
    (["--points", "nan,4,1"], "--points"),
    (["--prompts", '[{"frame": 0, "box": [1, 2]}]'], "box must be 4"),
    (["--prompts", '[{"frame": 0, "box": [1, 2, 30]}]'], "box must be 4"),
    (["--prompts", '[{"frame": 0, "box": [NaN, 2, 30, 40]}]'], "box must be 4"),
    (["--prompts", '[{"frame": 0, "box": [0, 0, Infinity, Infinity]}]'], "box must be 4"),
    (["--prompts", '[{"frame": 0, "points": [[3, 4, 1, 9]]}]'], "points"),
    (["--prompts", '[{"frame": 0.5, "box": [1, 2, 30, 40]}]'], "frame"),
    (["--prompts", "[{frame: 0}]"], "not valid JSON"),
])
def test_segment_prompts_that_cannot_mean_anything(clip_path, tmp_path, args, says):
    output = tmp_path / "never.mp4"
    done = run_cli("segment", "--input", clip_path, "--output", output, "--engine", "classic", *args)
    err = one_line_refusal(done, says)
    assert ("--prompts" in err) == (args[0] == "--prompts")
    assert not output.exists()


def test_prompts_json_names_the_item_and_field():
    from editors.core.prompts import prompts_from_json, validate

    with pytest.raises(UserError, match="prompts item 2: box"):
        prompts_from_json('[{"frame": 0, "box": [1, 2, 3, 4]}, {"frame": 1, "box": [1, 2]}]')
    prompts = prompts_from_json('[{"frame": 0, "object_id": 2, "points": [[3, 4], [5, 6, 0]], "box": [1, 2, 9, 9]}]')
    assert prompts[0].points == [(3.0, 4.0, 1), (5.0, 6.0, 0)] and prompts[0].box == (1.0, 2.0, 9.0, 9.0)
    from editors.core.prompts import Prompt
    with pytest.raises(UserError, match="not a box"):      # built in Python: validate still checks
        validate([Prompt(0, 1, [], (0.0, 0.0, math.inf, math.inf))], 5, 20, 20)


# ---- masks: zips (bombs, damage, several objects), sizes --------------------------------------------------------
def test_zip_masks_are_read_in_memory_with_caps(tmp_path, monkeypatch):
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 5:15] = 255
    other = np.zeros((20, 30), np.uint8)
    other[12:18, 20:28] = 255
    frames = {f"object_1/{t:05d}.png": png_bytes(mask) for t in range(3)}
    frames.update({f"object_2/{t:05d}.png": png_bytes(other) for t in range(3)})
    frames["__MACOSX/object_1/._00000.png"] = b"junk"
    two = zip_of(tmp_path / "masks.zip", frames)
    before = set(Path(tempfile.gettempdir()).glob("edithub-mask-*"))
    objects = M.load_mask_objects(two, 3, 20, 30)
    assert len(objects) == 2 and objects[0][:, 5:10, 5:15].all() and objects[1][:, 12:18, 20:28].all()
    assert objects[0].sum() == 3 * 50 and not (objects[0] & objects[1]).any()
    with pytest.raises(UserError, match="masks.zip.*2 objects"):
        M.load_masks(two, 3, 20, 30)
    assert set(Path(tempfile.gettempdir()).glob("edithub-mask-*")) == before      # nothing unpacked to disk

    monkeypatch.setattr(M, "MAX_ZIP_MEMBER_BYTES", 1 << 20)
    bomb = zip_of(tmp_path / "bomb.zip", {"00000.png": bytes(3 << 20)})           # 3 MB of zeros, ~3 KB zipped
    assert bomb.stat().st_size < 20_000
    with pytest.raises(UserError, match="bomb.zip.*00000.png unpacks to more than 1 MB"):
        M.load_masks(bomb, 1, 20, 30)
    monkeypatch.setenv("EDITHUB_MAX_FRAMES", "4")
    many = zip_of(tmp_path / "many.zip", {f"{t:05d}.png": png_bytes(mask) for t in range(5)})
    with pytest.raises(UserError, match="many.zip.*more than 4 images"):
        M.load_masks(many, 5, 20, 30)


def test_mask_sizes_the_clip_cannot_use(tmp_path, monkeypatch):
    wide = png(tmp_path / "wide.png", np.full((20, 60), 255, np.uint8))
    with pytest.raises(UserError, match="wide.png' is 60x20 but the clip is 30x20"):
        M.load_masks(wide, 1, 20, 30)
    folder = tmp_path / "mixed"
    folder.mkdir()
    png(folder / "0.png", square_mask(20, 30))
    png(folder / "1.png", square_mask(40, 60))
    with pytest.raises(UserError, match="differ in size"):
        M.load_masks(folder, 2, 20, 30)
    big = np.zeros((200, 300), np.uint8)
    big[50:100, 50:150] = 255
    monkeypatch.setenv("EDITHUB_MAX_SIDE", "150")                # still images obey the limit too
    with pytest.raises(UserError, match="big.png.*300x200.*EDITHUB_MAX_SIDE"):
        M.load_masks(png(tmp_path / "big.png", big), 1, 20, 30)


# ---- numbers every caller passes (CLI, API and Python) ----------------------------------------------------------
def test_run_refuses_nan_and_out_of_range_settings():
    from editors import outpaint, remove, segment
    from editors.core.prompts import Prompt

    clip = Clip(np.zeros((3, 32, 32, 3), np.uint8), Fraction(24))
    masks = [np.zeros((3, 32, 32), bool)]
    masks[0][:, 8:16, 8:16] = True
    for kwargs, says in (({"guidance": math.nan}, "guidance"), ({"steps": 0}, "steps"), ({"seed": -1}, "seed"),
                         ({"band": 2000}, "band"), ({"band": math.inf}, "band")):
        with pytest.raises(UserError, match=says):
            remove.run(clip, masks, engine="classic", **kwargs)
    with pytest.raises(UserError, match="window"):
        outpaint.run(clip, ratio="1:2", engine="classic", window=math.nan)
    with pytest.raises(UserError, match="grow"):
        segment.run(clip, [Prompt(0, 1, [], (8, 8, 16, 16))], engine="classic", grow=10**6)
    from editors.core.geometry import parse_ratio
    with pytest.raises(UserError, match="between 1:100 and 100:1"):
        parse_ratio("1:1e-300")


def test_a_failing_write_is_one_line(clip_path, tmp_path, monkeypatch, capsys):
    import errno

    from editors import remove
    from editors.__main__ import main

    def full_disk(clip, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(remove, "write_clip", full_disk)
    code = main(["remove", "--input", str(clip_path), "--mask", str(png(tmp_path / "m.png", square_mask())),
                 "--output", str(tmp_path / "out.mp4"), "--engine", "classic", "--no-effects", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.splitlines() == [f"error: {tmp_path / 'out.mp4'}: No space left on device"]


# ---- the UI's error handling -------------------------------------------------------------------------------------
def test_user_errors_are_one_logged_line_and_never_show_server_paths(caplog):
    import gradio as gr

    from editors.core import ui

    @ui.user_errors
    def refuses():
        raise UserError("/tmp/gradio/4f2a9c/holiday clip.mp4: cannot be opened as a video")

    @ui.user_errors
    def breaks():
        raise KeyError("/tmp/gradio/77aa/cache/weights.bin")

    with caplog.at_level(logging.WARNING), pytest.raises(gr.Error) as refused:
        refuses()
    assert refused.value.message == "holiday clip.mp4: cannot be opened as a video"
    assert refused.value.print_exception is False              # gradio logs no traceback for it
    assert [r.getMessage() for r in caplog.records] == ["refuses refused: " + refused.value.message]
    with pytest.raises(gr.Error) as broken:
        breaks()
    assert "KeyError" in broken.value.message and "/tmp" not in broken.value.message
    assert "weights.bin" in broken.value.message


def test_old_output_folders_are_removed_with_their_files(tmp_path):
    from editors.core import ui

    old, new = tmp_path / "edithub-old", tmp_path / "edithub-new"
    for folder in (old, new):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "tracks.npz").write_bytes(b"x" * 100)
    (tmp_path / "tmpab12cd").write_bytes(b"")              # gr.File's unused temp file for an upload
    (tmp_path / "tmpfull").write_bytes(b"data")             # not empty: not ours to judge
    hours_ago = time.time() - 4 * 3600
    for path in (old, tmp_path / "tmpab12cd", tmp_path / "tmpfull"):
        os.utime(path, (hours_ago, hours_ago))
    (tmp_path / "uploaded.mp4").write_bytes(b"not ours")
    assert ui.remove_old_outputs(tmp_path, 3 * 3600) == 2
    assert not old.exists() and not (tmp_path / "tmpab12cd").exists()
    assert new.exists() and (tmp_path / "uploaded.mp4").exists() and (tmp_path / "tmpfull").exists()


# ---- through the served API: refusals name the user's file, then a normal request still works ----------------------
def test_api_refuses_bad_input_by_name_and_keeps_serving(client, clip_path, tmp_path):
    from gradio_client import handle_file

    def remove(video, masks):
        return client.predict(handle_file(str(video)), [handle_file(str(m)) for m in masks], True, 0, "classic",
                              25, 5.0, 0, "", False, [], api_name="/remove")

    def refused(call, *names):
        with pytest.raises(Exception) as error:
            call()
        message = str(error.value)
        assert "/tmp" not in message and "gradio" not in message.lower() and "Traceback" not in message, message
        for name in names:
            assert name in message, (name, message)

    broken = tmp_path / "holiday masks.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    white = png(tmp_path / "all white.png", np.full((HEIGHT, WIDTH), 255, np.uint8))
    before = set(Path(tempfile.gettempdir()).glob("edithub-mask-*"))
    refused(lambda: remove(clip_path, [broken]), "holiday masks.zip", "zip")
    refused(lambda: remove(clip_path, [white]), "all white.png", "whole frame")
    assert set(Path(tempfile.gettempdir()).glob("edithub-mask-*")) == before
    tiny = write_clip(Clip(np.zeros((3, 8, 8, 3), np.uint8), FPS), tmp_path / "tiny.mp4")
    refused(lambda: remove(tiny, [white]), "tiny.mp4", "16 pixels")
    for prompts in ('[{"frame": 0, "box": [1, 2]}]', '[{"frame": 0, "box": [NaN, 2, 3, 4]}]'):
        refused(lambda: client.predict(handle_file(str(clip_path)), prompts, "classic", 0, "mask",
                                       api_name="/segment"), "box must be 4")

    soft = np.full((HEIGHT, WIDTH), 40, np.uint8)                  # a grey soft mask works through the API too
    soft[square_mask() > 0] = 200
    result, *_ = remove(clip_path, [png(tmp_path / "soft.png", soft, "L")])
    before_frames, after = read_clip(clip_path).frames.astype(int), read_clip(result).frames.astype(int)
    assert np.abs(after[:, 50:, :20] - before_frames[:, 50:, :20]).mean() < 8
    assert np.abs(after[:, 22:38, 34:46] - before_frames[:, 22:38, 34:46]).mean() > 20
    assert read_clip(result).num_frames == FRAMES
