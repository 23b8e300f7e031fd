"""Pieces every CLI verb shares: input/output/engine options, checked numbers, outputs checked before the work,
progress on stderr, errors as exit code 2 with one line."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from .clip import Clip, ClipLimits, read_clip
from .dispatch import MAX_GUIDANCE, MAX_SEED, MAX_STEPS
from .errors import UserError, real_number, whole_number
from .media.encode import VIDEO_OUTPUT_SUFFIXES
from .media.limits import check_min_side

EXIT_BAD_INPUT = 2
MAX_FPS = 1000


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (the usage is one `--help` away), exit code 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _argument_type(check, label: str):
    """An argparse type from a check that raises UserError; argparse names the option in its message."""
    def parse(text):
        try:
            return check(text)
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix("value ").rstrip(".")) from None
    parse.__name__ = label
    return parse


def whole(low: int, high: int):
    """argparse type: a whole number in [low, high] (NaN, inf, 1e30 and fractions refused)."""
    return _argument_type(lambda text: whole_number("value", text, low, high), f"whole number {low}..{high}")


def real(low: float, high: float):
    """argparse type: a finite number in [low, high]."""
    return _argument_type(lambda text: real_number("value", text, low, high), f"number {low:g}..{high:g}")


def frame_rate(text: str) -> Fraction:
    """argparse type: 24, 29.97 or 30000/1001 frames per second (positive, at most MAX_FPS)."""
    try:
        rate = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        rate = None
    if rate is None or not 0 < rate <= MAX_FPS:
        raise argparse.ArgumentTypeError(f"the frame rate must be a number above 0 and at most {MAX_FPS} "
                                         f"(24, 29.97 or 30000/1001), not {text!r}")
    return rate


def add_io_arguments(parser: argparse.ArgumentParser, engine: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", "-i", metavar="VIDEO|FRAME_DIR",
                        help="input video (mp4, mov, webm, mkv, avi, gif) or a folder of PNG/JPG frames")
    source.add_argument("--batch", metavar="FOLDER|LIST.txt",
                        help="several inputs through this verb in one process (models load once): a folder of "
                             "videos or a text file of paths, one a line; --output is then a folder (OUT/<name>.mp4) "
                             "and a folder given to --mask / --keep / --target-mask / --edited may hold one entry "
                             "per input, named like it")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="output .mp4 (H.264, audio kept) or a folder path ending in / for PNG frames")
    parser.add_argument("--fps", type=frame_rate, default=Fraction(24),
                        help="frame rate for a frame-folder input (default 24)")
    if engine:
        parser.add_argument("--engine", choices=["auto", "classic", "diffusion"], default="auto",
                            help="auto = diffusion when a GPU and weights are available, else classic (CPU)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def add_diffusion_arguments(parser: argparse.ArgumentParser, steps: int = 25) -> None:
    group = parser.add_argument_group("diffusion engine")
    group.add_argument("--steps", type=whole(1, MAX_STEPS), default=steps, help=f"denoising steps (default {steps})")
    group.add_argument("--guidance", type=real(0, MAX_GUIDANCE), default=5.0,
                       help="classifier-free guidance scale (default 5)")
    group.add_argument("--seed", type=whole(0, MAX_SEED), default=0)
    group.add_argument("--prompt", default="", help="optional text describing the result")
    group.add_argument("--model", default="vace-1.3b", help="registry model name (vace-1.3b or vace-14b)")


# ---- outputs are checked before any work: a bad -o must not cost the whole run ------------------------------
def wants_folder(target: str) -> bool:
    return str(target).endswith(("/", os.sep)) or Path(target).is_dir()


def check_output(target: str, option: str = "--output", suffixes=VIDEO_OUTPUT_SUFFIXES) -> None:
    """`target` can be written: a known suffix (or a folder path ending in /) in a folder we may write into."""
    path = Path(target)
    if wants_folder(target):
        check_writable(path, option)
        return
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path.name}: cannot write this format; use {', '.join(suffixes)} or a folder "
                        "path ending in '/' for PNG frames.")
    if path.exists() and not path.is_file():
        raise UserError(f"{option} {target}: exists and is not a regular file.")
    check_writable(path.parent, option)


def check_writable(folder: Path, option: str) -> None:
    """The folder exists and takes a file, or can be made inside the nearest folder that does (probed, not
    created: nothing is left behind)."""
    existing = Path(os.path.abspath(folder))
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option}: cannot write into {folder}: {existing} is a file, not a folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".edithub-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise UserError(f"{option}: cannot write into {folder} ({exc.strerror or type(exc).__name__}).") from None


def read_input(args) -> Clip:
    """The verb's --output checked, then its --input read and checked (limits, minimum size)."""
    check_output(args.output)
    clip = read_clip(args.input, limits=ClipLimits.from_env(), image_fps=args.fps)
    check_min_side(Path(args.input).name, clip.width, clip.height)
    return clip


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


# ---- batch mode: one verb over several inputs, in one process (a model loads once) ----------------------------
# Options naming a per-input source (a folder may hold one entry per input, named like it) or a per-input output
# folder (gets a subfolder per input).
PER_INPUT_SOURCES = ("mask", "keep", "target_mask", "edited")
PER_INPUT_OUTPUTS = ("layers", "masks_out")


def batch_inputs(batch: str) -> list[Path]:
    """The videos of a folder (sorted by name) or the paths listed in a text file (one a line, # comments)."""
    from .clip import VIDEO_SUFFIXES

    source = Path(batch)
    if source.is_dir():
        items = sorted(p for p in source.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
    elif source.is_file():
        lines = [line.strip() for line in source.read_text(errors="replace").splitlines()]
        items = [(source.parent / line) if not Path(line).is_absolute() else Path(line)
                 for line in lines if line and not line.startswith("#")]
    else:
        raise UserError(f"--batch {source.name}: no such folder or list file.")
    if not items:
        raise UserError(f"--batch {source.name}: holds no videos (mp4, mov, webm, mkv, avi, gif).")
    stems = [p.stem for p in items]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise UserError(f"--batch {source.name}: two inputs are both named {twice[0]!r}: their outputs would clash.")
    return items


def _entry_for(value: str, stem: str) -> str:
    """A folder holding an entry named like the input (a file stem.* or a folder stem/) gives that entry."""
    folder = Path(value)
    if not folder.is_dir():
        return value
    matches = sorted(p for p in folder.iterdir() if p.stem == stem or p.name == stem)
    return str(matches[0]) if matches else value


def batch_arguments(args, item: Path) -> argparse.Namespace:
    """The verb's arguments for one input of a batch."""
    one = argparse.Namespace(**vars(args))
    one.input, one.batch = str(item), None
    one.output = str(Path(args.output) / f"{item.stem}.mp4")
    for name in PER_INPUT_SOURCES:
        value = getattr(args, name, None)
        if isinstance(value, list):
            setattr(one, name, [_entry_for(v, item.stem) for v in value])
        elif isinstance(value, str):
            setattr(one, name, _entry_for(value, item.stem))
    for name in PER_INPUT_OUTPUTS:
        value = getattr(args, name, None)
        if value:
            setattr(one, name, str(Path(value) / item.stem) + "/")
    return one
