"""The checks every editor gets for free (test_editor_contract.py runs them for each name in editors.EDITORS).

An editor takes part by adding a recipe here: how to call its CLI verb on the small shared clip. Recipes are
functions (folder, clip path) -> Recipe; the folder holds the clip and whatever inputs the recipe writes.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

WIDTH, HEIGHT, FRAMES, FPS = 96, 64, 18, Fraction(30000, 1001)

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


def run_cli(*args, guard=False, env=None):
    """`python -m editors ARGS` in a child process (guard: with every network call refused)."""
    prefix = [sys.executable, "-c", NO_NETWORK] if guard else [sys.executable, "-m", "editors"]
    return subprocess.run(prefix + [str(a) for a in args], capture_output=True, text=True,
                          env=dict(os.environ, HF_HUB_OFFLINE="1", **(env or {})), timeout=600)


def one_line_refusal(done, *names) -> str:
    """A refusal as users must see it: exit 2, one line on stderr naming what is wrong, no traceback."""
    err = done.stderr.strip()
    assert done.returncode == 2, (done.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for name in names:
        assert name in err, (name, err)
    return err


def numeric_options(verb: str) -> list[str]:
    """The verb's options that take a number (from its parser): each must refuse NaN, infinities and 1e30."""
    from editors.__main__ import build_parser

    verbs = next(a for a in build_parser()._actions if getattr(a, "choices", None) and verb in a.choices)
    numeric = []
    for action in verbs.choices[verb]._actions:
        kind = getattr(action.type, "__name__", "")
        if action.option_strings and not action.choices and (kind in ("int", "float", "Fraction", "frame_rate")
                                                             or kind.startswith(("whole number", "number"))):
            numeric.append(action.option_strings[0])
    return numeric


@dataclass
class Recipe:
    args: list[str]                           # the verb's arguments besides --input / --output / --engine
    size: tuple[int, int] = (WIDTH, HEIGHT)   # (width, height) the output must have
    mask_output: bool = False                 # the output is a mask video (no audio to keep)
    extra_outputs: list[str] = field(default_factory=list)   # files the verb writes besides --output


def make_clip(path: Path, frames: int = FRAMES, fps: Fraction = FPS) -> Path:
    """A textured pan with a red square moving over it, H.264 at 29.97 fps with an AAC tone."""
    rng = np.random.default_rng(3)
    base = rng.integers(40, 215, (HEIGHT, WIDTH + 2 * frames, 3), np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        for i in range(frames):
            image = base[:, 2 * i:2 * i + WIDTH].copy()
            image[20:40, 30 + i:50 + i] = (230, 30, 30)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        samples = int(48000 * frames / float(fps))
        tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 48000)).astype(np.float32)
        for start in range(0, samples, 1024):
            chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 48000, start
            for packet in audio.encode(chunk):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                container.mux(packet)
    return path


def square_masks(folder: Path, frames: int = FRAMES) -> Path:
    """The moving square's masks as a folder of PNGs (a little larger than the square)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[18:42, 28 + i:52 + i] = 255
        Image.fromarray(mask).save(folder / f"{i:05d}.png")
    return folder


def segment_recipe(folder: Path, clip: Path) -> Recipe:
    return Recipe(["--box", "29,19,51,41"], mask_output=True)


def remove_recipe(folder: Path, clip: Path) -> Recipe:
    return Recipe(["--mask", str(square_masks(folder / "masks"))])


def outpaint_recipe(folder: Path, clip: Path) -> Recipe:
    return Recipe(["--left", "16", "--right", "16"], size=(WIDTH + 32, HEIGHT))


def target_png(path: Path) -> Path:
    """A tall green RGBA object (a rounded bar): the replace editor's target."""
    rgba = np.zeros((30, 14, 4), np.uint8)
    rgba[..., :3] = (30, 200, 60)
    rgba[2:28, 1:13, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def replace_recipe(folder: Path, clip: Path) -> Recipe:
    return Recipe(["--mask", str(square_masks(folder / "masks")), "--target", str(target_png(folder / "target.png"))])


RECIPES = {"segment": segment_recipe, "remove": remove_recipe, "outpaint": outpaint_recipe,
           "replace": replace_recipe}
