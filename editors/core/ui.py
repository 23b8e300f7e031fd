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

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Hub:
    """What tabs share within one browser session: `objects` is a gr.State holding a
    core.session.SessionObjects (the session's clip and its tracked objects) or None."""
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


# ---- what every tab's layout shares ------------------------------------------------------------------------
# One queue for every event that may run a model: two requests never share a GPU pipeline at once.
GPU_QUEUE = {"concurrency_id": "gpu", "concurrency_limit": 1}


def step_guide(steps: list[str]):
    """A short numbered guide at the top of a tab."""
    import gradio as gr

    return gr.Markdown("  ".join(f"**{i + 1}.** {step}" for i, step in enumerate(steps)), elem_classes="steps")


def keep_on_error(outputs: int):
    """For interactive UI events (clicks, drawings, previews): a UserError becomes a warning toast and every
    output stays as it was, instead of error badges over the click image and the results."""
    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            import gradio as gr

            try:
                return fn(*args, **kwargs)
            except UserError as exc:
                gr.Warning(str(exc))
                return gr.update() if outputs == 1 else (gr.update(),) * outputs

        return user_errors(wrapper)
    return wrap


def announce_engine(models: list[str]):
    """A quick event to run before the work: says which engine will run and why (no GPU, missing weights,
    a first download), so the user knows before waiting, not after."""
    def announce(engine: str):
        from .engines import choose_engine
        from .registry import ModelUnavailable, default_registry

        try:
            chosen, notice = choose_engine(engine, models)
        except UserError as exc:
            notify(str(exc))
            return
        if chosen != "classic":
            registry = default_registry()
            for name in models:
                try:
                    registry.weights_dir(name, download=False)
                except ModelUnavailable:
                    notice = (notice + " " if notice else "") + f"Downloading the {name} weights first (once)."
        notify(notice)
    return announce


def run_buttons(label: str, editor: str):
    """The tab's run button and a Cancel button beside it."""
    import gradio as gr

    with gr.Row():
        run = gr.Button(label, variant="primary", elem_id=f"{editor}-run", scale=3)
        cancel = gr.Button("Cancel", elem_id=f"{editor}-cancel", scale=1)
    return run, cancel


def side_by_side(before: Clip, after: Clip, folder: Path, name: str = "before_after") -> str:
    """A before | after video (the shorter side padded with grey to the taller's height), the input's audio."""
    b, a = before.frames, after.frames
    height = max(b.shape[1], a.shape[1])

    def pad(frames):
        top = (height - frames.shape[1]) // 2
        return np.pad(frames, ((0, 0), (top, height - frames.shape[1] - top), (0, 0), (0, 0)), constant_values=96)

    count = min(len(b), len(a))
    gap = np.full((count, height, 8, 3), 255, np.uint8)
    frames = np.concatenate([pad(b[:count]), gap, pad(a[:count])], axis=2)
    return save_video(before.with_frames(frames), folder, name)


def checkerboard_preview(rgba: np.ndarray) -> np.ndarray:
    """An RGBA frame over a grey checkerboard (a layer preview)."""
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    board = np.where(((yy // 12 + xx // 12) % 2)[..., None] == 0, 200.0, 150.0)
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + board * (1 - alpha)).round().astype(np.uint8)


LAYER_FORMATS = {"PNG zip": ".zip", "ProRes 4444 (.mov)": ".mov", "WebM VP9 alpha (.webm)": ".webm"}
