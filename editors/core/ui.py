"""Gradio pieces every editor tab shares: error handling, progress, engine choice, inputs, outputs.

gradio is imported inside functions: the CLI never pays for it.
"""
from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .clip import Clip, ClipLimits, read_clip, write_clip
from .errors import UserError
from .masks import load_mask_objects
from .media.limits import check_min_side
from .tracks import Tracks

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class SessionObjects:
    """What the Segment tab hands to the other tabs: the clip's file and its tracked objects' file (core.tracks).
    Paths only: frames and models never live in session state."""
    video: str
    tracks: str
    ids: list[int]

    def load(self, clip: Clip) -> Tracks | None:
        """The tracked objects, if they belong to this clip (same content), else None."""
        if not Path(self.tracks).exists():
            return None
        tracks = Tracks.load(self.tracks)
        return tracks if tracks.belongs_to(clip.frames) else None


@dataclass
class Hub:
    """What tabs share within one browser session: `objects` is a gr.State holding a SessionObjects or None."""
    objects: Any = None          # gr.State


def user_errors(fn):
    """Turn UserError into gr.Error (shown to the user, logged as one line), out-of-memory into a message that
    says what to do, and any other failure into a short message without server paths (its traceback logged)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import gradio as gr

        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            message = without_paths(str(exc))
        except MemoryError:
            message = "Ran out of memory: try a shorter or smaller clip."
        except gr.Error:
            raise
        except Exception as exc:
            if "out of memory" in str(exc).lower():
                message = "The GPU ran out of memory: try a shorter or smaller clip, or fewer steps."
            else:
                log.exception("%s failed", fn.__name__)
                message = f"Something went wrong ({type(exc).__name__}: {without_paths(str(exc))[:300]})."
        log.warning("%s refused: %s", fn.__name__, message)
        raise gr.Error(message, print_exception=False) from None

    # Handlers are written in modules with postponed annotations and import gradio locally; gradio reads the
    # annotations (gr.SelectData, gr.Progress) to inject event data, so resolve them here.
    import gradio as gr

    wrapper.__annotations__ = {k: (eval(v, {"gr": gr}) if isinstance(v, str) and v.startswith("gr.") else v)
                               for k, v in getattr(fn, "__annotations__", {}).items()}
    return wrapper


_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\\/\s'\"]+)+[\\/]([^\\/\s'\"]+)")


def without_paths(text: str) -> str:
    """A message with every absolute path cut to its file name: server temp folders are not the user's business."""
    return _PATH.sub(lambda match: match.group(1), text)


def progress_callback(progress):
    """Adapt gr.Progress to the editors' progress(fraction, desc) convention."""
    if progress is None:
        return None
    return lambda fraction, desc="": progress(min(max(float(fraction), 0.0), 1.0), desc=desc)


def notify(notice: str | None) -> None:
    if notice:
        import gradio as gr

        gr.Warning(notice)


def cache_age_s() -> int:
    """How long outputs are kept (EDITHUB_CACHE_AGE seconds, default 3 h): gradio's delete_cache removes the files
    it served after that long (app.py), output_dir() the request folders, with whatever else they hold."""
    from .media.limits import env_number

    return int(env_number("EDITHUB_CACHE_AGE", 3 * 3600, int))


def output_dir() -> Path:
    """A fresh folder for one request's outputs, inside gradio's temp dir (served, then cleaned up: folders older
    than cache_age_s() go, with whatever gradio did not track in them)."""
    root = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    root.mkdir(parents=True, exist_ok=True)
    remove_old_outputs(root, cache_age_s())
    return Path(tempfile.mkdtemp(prefix="edithub-", dir=root))


def remove_old_outputs(root: Path, age_s: float) -> int:
    """Remove what requests left under root more than age_s ago: the edithub-* output folders, and the empty tmp*
    files gradio's gr.File makes for every uploaded file and never uses (gradio 6.31, File._process_single_file);
    how many went."""
    removed, now = 0, time.time()
    for path in [*root.glob("edithub-*"), *root.glob("tmp*")]:
        try:
            stat = path.lstat()
            if now - stat.st_mtime <= age_s:
                continue
            if path.is_dir() and path.name.startswith("edithub-"):
                shutil.rmtree(path, ignore_errors=True)
            elif path.is_file() and stat.st_size == 0:
                path.unlink()
            else:
                continue
            removed += 1
        except OSError:
            continue            # another worker removed it first
    return removed


def _path_of(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):            # gradio_client / FileData shapes
        value = value.get("path") or value.get("video", {}).get("path")
    return getattr(value, "name", value) or None


def load_video(value) -> Clip:
    path = _path_of(value)
    if not path:
        raise UserError("Upload a video first.")
    clip = read_clip(path, limits=ClipLimits.from_env())
    check_min_side(Path(path).name, clip.width, clip.height)
    return clip


def cached_clip(value) -> Clip:
    """The decoded clip for previews: clicking through frames must not decode the video again each time."""
    return _cached_clip(_path_of(value))


@functools.lru_cache(maxsize=2)     # a process cache of the last clips, not per-session state
def _cached_clip(path: str) -> Clip:
    return load_video(path)


def load_mask_files(files, clip: Clip) -> list[np.ndarray]:
    """Each uploaded file is one object: a mask video, one image (all frames) or a zip of per-frame images (a zip
    with one folder per object, like the Segment tab's masks.zip, gives each folder's object)."""
    objects = []
    for value in files or []:
        objects += load_mask_objects(_path_of(value), clip.num_frames, clip.height, clip.width)
    return objects


def session_objects(state: SessionObjects | None, clip: Clip) -> dict[int, np.ndarray]:
    """Masks made in the Segment tab for this very clip (same content), or {}."""
    tracks = state.load(clip) if isinstance(state, SessionObjects) else None
    return {i: obj.masks for i, obj in tracks.objects.items()} if tracks else {}


def engine_input(editor: str, label="Engine"):
    import gradio as gr

    return gr.Radio(["auto", "classic", "diffusion"], value="auto", label=label, elem_id=f"{editor}-engine",
                    info="auto = diffusion when a GPU and weights are available, else classic (CPU)")


def diffusion_settings(prompt_hint: str):
    """The diffusion engine's knobs, folded away: (steps, guidance, seed, prompt) components."""
    import gradio as gr

    with gr.Accordion("Diffusion settings", open=False):
        steps = gr.Slider(1, 50, 25, step=1, label="Steps")
        guidance = gr.Slider(1.0, 10.0, 5.0, step=0.5, label="Guidance")
        seed = gr.Number(0, precision=0, label="Seed")
        prompt = gr.Textbox("", label=f"Prompt (optional: {prompt_hint})")
    return steps, guidance, seed, prompt


def save_video(clip: Clip, folder: Path, name: str) -> str:
    return str(write_clip(clip, folder / f"{name}.mp4"))


def before_after(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The middle frame before and after, for gr.ImageSlider."""
    middle = len(before) // 2
    return before[middle], after[min(middle, len(after) - 1)]
