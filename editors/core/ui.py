"""Gradio pieces every editor tab shares: error handling, progress, engine choice, inputs, outputs.

gradio is imported inside functions: the CLI never pays for it.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .clip import Clip, ClipLimits, read_clip, write_clip
from .errors import UserError
from .masks import load_masks
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
    """Turn UserError into gr.Error (shown to the user) and out-of-memory into a message that says what to do."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import gradio as gr

        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise gr.Error(str(exc)) from None
        except MemoryError:
            raise gr.Error("Ran out of memory: try a shorter or smaller clip.") from None
        except RuntimeError as exc:
            if "out of memory" in str(exc).lower():
                raise gr.Error("The GPU ran out of memory: try a shorter or smaller clip, or fewer steps.") from None
            raise

    # Handlers are written in modules with postponed annotations and import gradio locally; gradio reads the
    # annotations (gr.SelectData, gr.Progress) to inject event data, so resolve them here.
    import gradio as gr

    wrapper.__annotations__ = {k: (eval(v, {"gr": gr}) if isinstance(v, str) and v.startswith("gr.") else v)
                               for k, v in getattr(fn, "__annotations__", {}).items()}
    return wrapper


def progress_callback(progress):
    """Adapt gr.Progress to the editors' progress(fraction, desc) convention."""
    if progress is None:
        return None
    return lambda fraction, desc="": progress(min(max(float(fraction), 0.0), 1.0), desc=desc)


def notify(notice: str | None) -> None:
    if notice:
        import gradio as gr

        gr.Warning(notice)


def output_dir() -> Path:
    """A fresh folder for one request's outputs, inside gradio's temp dir (served, then cleaned up)."""
    root = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio")
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="edithub-", dir=root))


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
    return read_clip(path, limits=ClipLimits.from_env())


def cached_clip(value) -> Clip:
    """The decoded clip for previews: clicking through frames must not decode the video again each time."""
    return _cached_clip(_path_of(value))


@functools.lru_cache(maxsize=2)     # a process cache of the last clips, not per-session state
def _cached_clip(path: str) -> Clip:
    return load_video(path)


def load_mask_files(files, clip: Clip) -> list[np.ndarray]:
    """Each uploaded file is one object: a mask video, one image (all frames) or a zip of per-frame images."""
    objects = []
    for value in files or []:
        path = Path(_path_of(value))
        if path.suffix.lower() == ".zip":
            folder = Path(tempfile.mkdtemp(prefix="edithub-mask-"))
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    name = Path(member.filename).name
                    if not member.is_dir() and name.lower().endswith((".png", ".jpg", ".jpeg")):
                        (folder / name).write_bytes(archive.read(member))
            path = folder
        objects.append(load_masks(path, clip.num_frames, clip.height, clip.width))
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
