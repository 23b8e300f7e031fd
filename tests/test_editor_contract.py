"""What every editor in EDITORS must do, checked the same way for each (recipes in editor_contract.py):
its verb is in `--help`; it keeps frame count, fps and audio; bad input is exit 2 with a one-line message naming
the file and nothing written; it never touches the network."""
import os
import subprocess
import sys

import pytest

from editor_contract import FPS, FRAMES, RECIPES, make_clip
from editors import EDITORS
from editors.core.clip import read_clip

# Runs the CLI with every network call refused and recorded: the verbs must work offline, with no attempt.
NO_NETWORK = """
import runpy, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args[1:] or args)
    raise OSError("network access refused by the test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.argv = ["editors"] + sys.argv[1:]
try:
    runpy.run_module("editors", run_name="__main__")
finally:
    if attempts:
        sys.stderr.write("NETWORK ATTEMPTED: %r\\n" % attempts[:3])
"""


def run_cli(*args, guard=False):
    prefix = [sys.executable, "-c", NO_NETWORK] if guard else [sys.executable, "-m", "editors"]
    return subprocess.run(prefix + [str(a) for a in args], capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=600)


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
