"""Decoding in a child process (``read_clip(isolate=True)``): a decoder crash or hang becomes a ClipError.

The child decodes with decode.py and hands the frames back as one raw file plus a small JSON meta.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from editors.core.media.decode import decode_frames
from editors.core.media.limits import ClipError, ClipLimits, env_number

_DECODE_TIMEOUT_ENV = "EDITHUB_DECODE_TIMEOUT"


def _package_root() -> Path:
    # The folder holding editors/, put on the child's sys.path.
    return Path(__file__).resolve().parents[3]


# Imports the decoder without running editors/__init__.py: that file lists the editors, which may pull in
# gradio and torch, and every isolated read would pay for it.
_CHILD_BOOTSTRAP = """
import os, sys, types
root = sys.argv[1]
sys.path.insert(0, root)
for name in ("editors", "editors.core"):
    if name not in sys.modules:
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = module
from editors.core.media.isolation import _child_main
sys.exit(_child_main(sys.argv[2]))
"""


def read_isolated(path: Path, limits: ClipLimits, image_fps: Fraction):
    """Decode ``path`` in a child process; returns (frames, fps, has_audio) like decode.read_in_process."""
    timeout = float(env_number(_DECODE_TIMEOUT_ENV, 900.0, float))
    with tempfile.TemporaryDirectory(prefix="edithub-read-") as tmp:
        tmp = Path(tmp)
        request = {
            "path": str(path.resolve()),
            "limits": dataclasses.asdict(limits),
            "image_fps": [image_fps.numerator, image_fps.denominator],
            "frames": str(tmp / "frames.u8"),
            "meta": str(tmp / "meta.json"),
        }
        with open(tmp / "stderr.txt", "wb") as err:
            try:
                proc = subprocess.run(
                    [sys.executable, "-c", _CHILD_BOOTSTRAP, str(_package_root()), json.dumps(request)],
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    timeout=timeout,
                )
            except subprocess.TimeoutExpired:
                raise ClipError(
                    f"{path.name}: decoding took longer than {timeout:g} s and was stopped "
                    f"(set {_DECODE_TIMEOUT_ENV} to allow more time)"
                ) from None
        meta_path = tmp / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
        if meta is None or proc.returncode != 0:
            if meta and meta.get("error"):
                raise ClipError(meta["error"])
            raise ClipError(f"{path.name}: the decoder {_describe_exit(proc.returncode)}; the file is probably damaged")
        if meta.get("error"):
            raise ClipError(meta["error"])
        shape = tuple(meta["shape"])
        frames = np.fromfile(tmp / "frames.u8", dtype=np.uint8)
        if frames.size != math.prod(shape):
            raise ClipError(f"{path.name}: the decoder returned incomplete data; the file is probably damaged")
        return frames.reshape(shape), Fraction(*meta["fps"]), bool(meta["audio"])


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"crashed (signal {-code})"
    return f"failed (exit code {code})"


def _child_main(request_json: str) -> int:
    """Child side of isolate=True: decode, append raw frames to a file, write a small JSON meta."""
    request = json.loads(request_json)
    path = Path(request["path"])
    meta: dict = {}
    shape = None
    count = 0
    try:
        with open(request["frames"], "wb") as out:

            def emit(image: np.ndarray) -> None:
                nonlocal shape, count
                shape = shape or image.shape
                out.write(np.ascontiguousarray(image).data)
                count += 1

            fps, has_audio = decode_frames(path, ClipLimits(**request["limits"]), Fraction(*request["image_fps"]), emit)
        meta = {"shape": [count, *shape], "fps": [fps.numerator, fps.denominator], "audio": has_audio}
    except ClipError as e:
        meta = {"error": str(e)}
    except Exception as e:  # report anything else as a readable error rather than a traceback
        meta = {"error": f"{path.name}: cannot be decoded ({type(e).__name__}: {e})"}
    tmp_meta = request["meta"] + ".part"
    with open(tmp_meta, "w") as f:
        json.dump(meta, f)
    os.replace(tmp_meta, request["meta"])
    return 0
