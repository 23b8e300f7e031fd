"""What every editor in EDITORS must do, checked the same way for each (recipes in editor_contract.py):
its verb is in `--help`; it keeps frame count, fps and audio; bad input is exit 2 with a one-line message naming
the file and nothing written; every numeric option refuses NaN / infinities / 1e30; a wrong --output is refused
before the input is read; a clip too small to edit is refused; it never touches the network."""
import numpy as np
import pytest

from editor_contract import FPS, FRAMES, RECIPES, make_clip, numeric_options, one_line_refusal, run_cli
from editors import EDITORS
from editors.core.clip import read_clip


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("contract") / "clip.mp4")


def test_every_editor_has_a_recipe_and_a_verb():
    assert set(EDITORS) <= set(RECIPES), "add a recipe for each editor to tests/editor_contract.py"
    listed = run_cli("--help")
    assert listed.returncode == 0
    for name in EDITORS:
        assert name in listed.stdout
        assert run_cli(name, "--help").returncode == 0


@pytest.mark.parametrize("name", EDITORS)
def test_verb_keeps_frame_count_fps_and_audio(name, clip_path, tmp_path):
    recipe = RECIPES[name](tmp_path, clip_path)
    output = tmp_path / "out.mp4"
    done = run_cli(name, "--input", clip_path, "--output", output, "--engine", "classic", "--quiet", *recipe.args,
                   guard=True)
    assert done.returncode == 0, done.stderr
    assert "NETWORK" not in done.stderr
    out = read_clip(output)
    assert out.num_frames == FRAMES and out.fps == FPS
    assert (out.width, out.height) == recipe.size
    assert (out.audio_path is not None) != recipe.mask_output      # audio kept, except on mask videos


@pytest.mark.parametrize("name", EDITORS)
def test_verb_refuses_a_damaged_input_with_exit_2(name, clip_path, tmp_path):
    recipe = RECIPES[name](tmp_path, clip_path)
    broken = tmp_path / "broken holiday.mp4"
    broken.write_bytes(clip_path.read_bytes()[:300])
    output = tmp_path / "never.mp4"
    done = run_cli(name, "--input", broken, "--output", output, "--engine", "classic", *recipe.args)
    assert done.returncode == 2, done.stderr
    assert "broken holiday.mp4" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not output.exists() and not list(tmp_path.glob("*never*"))


@pytest.mark.parametrize("name", EDITORS)
def test_auto_engine_works_offline_without_touching_the_network(name, clip_path, tmp_path):
    recipe = RECIPES[name](tmp_path, clip_path)
    output = tmp_path / "auto.mp4"
    done = run_cli(name, "--input", clip_path, "--output", output, "--engine", "auto", "--quiet", *recipe.args,
                   guard=True)
    assert done.returncode == 0, done.stderr
    assert "NETWORK" not in done.stderr and output.exists()


@pytest.mark.parametrize("name", EDITORS)
def test_every_numeric_option_refuses_nan_infinity_and_absurd_values(name, clip_path, tmp_path, capsys):
    """In process (argparse refuses before any work): exit 2, one line naming the option, nothing written."""
    from editors.__main__ import main

    recipe = RECIPES[name](tmp_path, clip_path)
    options = numeric_options(name)
    assert "--fps" in options and len(options) >= 2
    output = tmp_path / "never.mp4"
    for option in options:
        for value in ("nan", "inf", "-inf", "1e30", "-1e30"):
            with pytest.raises(SystemExit) as stop:
                main([name, "--input", str(clip_path), "--output", str(output), *recipe.args, f"{option}={value}"])
            err = capsys.readouterr().err.strip()
            assert stop.value.code == 2 and len(err.splitlines()) == 1, (option, value, err)
            assert f"argument {option}" in err and "Traceback" not in err, (option, value, err)
    assert not output.exists()


@pytest.mark.parametrize("name", EDITORS)
def test_output_is_checked_before_the_input_is_read(name, clip_path, tmp_path):
    """A wrong --output is refused first (the input does not even exist here): no run is wasted on it."""
    recipe = RECIPES[name](tmp_path, clip_path)
    missing = tmp_path / "not there.mp4"
    for output, says in ((tmp_path / "result.avi", "result.avi"), ("/proc/nope/x.mp4", "/proc/nope")):
        done = run_cli(name, "--input", missing, "--output", output, "--engine", "classic", *recipe.args)
        err = one_line_refusal(done, "--output", says)
        assert "not there" not in err
    assert not list(tmp_path.glob("result*"))


@pytest.mark.parametrize("name", EDITORS)
def test_a_clip_too_small_to_edit_is_refused_with_the_minimum(name, clip_path, tmp_path):
    from editors.core.clip import Clip, write_clip

    recipe = RECIPES[name](tmp_path, clip_path)
    rng = np.random.default_rng(0)
    tiny = write_clip(Clip(rng.integers(0, 255, (FRAMES, 8, 8, 3), np.uint8), FPS), tmp_path / "tiny clip.mp4")
    output = tmp_path / "never.mp4"
    done = run_cli(name, "--input", tiny, "--output", output, "--engine", "classic", *recipe.args)
    one_line_refusal(done, "tiny clip.mp4", "8x8", "16 pixels")
    assert not output.exists()
