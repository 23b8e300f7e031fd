"""The video editing hub's editors. Each module is one editor: run(), render() (its tab), add_cli() (its verb).

Nothing heavy is imported here: `load_editors()` imports the modules when the app or the CLI needs them.
"""
from __future__ import annotations

import importlib

# Tab order in the app, verb order in the CLI.
EDITORS = ("segment", "remove", "outpaint", "replace")


def load_editors():
    return [importlib.import_module(f"{__name__}.{name}") for name in EDITORS]
