"""`python -m editors <verb> --input VIDEO|FRAME_DIR --output OUT [--engine auto|classic|diffusion] ...`"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import load_editors
from .core.cli import EXIT_BAD_INPUT, OneLineParser
from .core.errors import UserError

log = logging.getLogger("editors")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m editors",
        description="Video editing hub: segment, remove, outpaint... a video from the command line. "
                    "Inputs are a video file or a folder of PNG/JPG frames; outputs an .mp4 (H.264, audio kept) "
                    "or a folder ending in / for PNG frames. Run `python -m editors VERB --help` for a verb's options.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log model loading and timings")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for editor in load_editors():
        editor.add_cli(verbs)
    return parser


def run_batch(args) -> int:
    """Each input of --batch through the verb; a bad input is reported and skipped, the others still run.
    Exit 0 when all succeeded, else the worst code."""
    from .core.cli import batch_arguments, batch_inputs, check_writable

    items = batch_inputs(args.batch)
    check_writable(Path(args.output), "--output")
    worst = 0
    for n, item in enumerate(items, 1):
        if not args.quiet:
            print(f"[{n}/{len(items)}] {item.name}", file=sys.stderr)
        code = run_one(batch_arguments(args, item))
        worst = max(worst, code)
    return worst


def run_one(args) -> int:
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:         # disk full, a folder removed while writing...: one line, the details with -v
        log.debug("details", exc_info=True)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return run_batch(args) if getattr(args, "batch", None) else run_one(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
