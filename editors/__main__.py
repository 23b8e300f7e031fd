"""`python -m editors <verb> --input VIDEO|FRAME_DIR --output OUT [--engine auto|classic|diffusion] ...`"""
from __future__ import annotations

import argparse
import logging
import sys

from . import load_editors
from .core.cli import EXIT_BAD_INPUT
from .core.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m editors",
        description="Video editing hub: segment, remove, outpaint... a video from the command line. "
                    "Inputs are a video file or a folder of PNG/JPG frames; outputs an .mp4 (H.264, audio kept) "
                    "or a folder ending in / for PNG frames. Run `python -m editors VERB --help` for a verb's options.")
    parser.add_argument("--verbose", "-v", action="store_true", help="log model loading and timings")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for editor in load_editors():
        editor.add_cli(verbs)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.handler(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
