"""Pieces every CLI verb shares: input/output/engine options, progress on stderr, errors as exit code 2."""
from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction

from .clip import Clip, ClipLimits, read_clip

EXIT_BAD_INPUT = 2


def add_io_arguments(parser: argparse.ArgumentParser, engine: bool = True) -> None:
    parser.add_argument("--input", "-i", required=True, metavar="VIDEO|FRAME_DIR",
                        help="input video (mp4, mov, webm, mkv, avi, gif) or a folder of PNG/JPG frames")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="output .mp4 (H.264, audio kept) or a folder path ending in / for PNG frames")
    parser.add_argument("--fps", type=Fraction, default=Fraction(24),
                        help="frame rate for a frame-folder input (default 24)")
    if engine:
        parser.add_argument("--engine", choices=["auto", "classic", "diffusion"], default="auto",
                            help="auto = diffusion when a GPU and weights are available, else classic (CPU)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def add_diffusion_arguments(parser: argparse.ArgumentParser, steps: int = 25) -> None:
    group = parser.add_argument_group("diffusion engine")
    group.add_argument("--steps", type=int, default=steps, help=f"denoising steps (default {steps})")
    group.add_argument("--guidance", type=float, default=5.0, help="classifier-free guidance scale (default 5)")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--prompt", default="", help="optional text describing the result")
    group.add_argument("--model", default="vace-1.3b", help="registry model name (vace-1.3b or vace-14b)")


def read_input(args) -> Clip:
    return read_clip(args.input, limits=ClipLimits.from_env(), image_fps=args.fps)


def progress_printer(quiet: bool):
    """progress(fraction, desc) printing one updating line on stderr."""
    if quiet:
        return None
    tty = sys.stderr.isatty()
    last = {"desc": None, "time": 0.0}

    def show(fraction, desc=""):
        now = time.monotonic()
        if desc == last["desc"] and now - last["time"] < (0.2 if tty else 5.0):
            return                      # an updating line on a terminal, a line every few seconds in logs
        last.update(desc=desc, time=now)
        text = f"{desc or 'working'}: {100 * float(fraction):3.0f}%"
        sys.stderr.write(f"\r{text:<60}" if tty else text + "\n")
        sys.stderr.flush()
    return show


def finish_progress(quiet: bool) -> None:
    if not quiet and sys.stderr.isatty():
        sys.stderr.write("\n")


def notice(text: str | None, quiet: bool = False) -> None:
    if text:
        print(f"note: {text}", file=sys.stderr)
