"""SAM2.1 video segmentation through the shared registry: clicks / boxes on any frames, several objects,
propagation forward and backward from the prompted frames."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.registry import ModelRegistry, default_registry

DEFAULT_MODEL = "sam2.1-tiny"


@dataclass
class Prompt:
    """Clicks and/or a box for one object on one frame. points: [(x, y, label)], label 1 = object, 0 = not."""
    frame: int
    object_id: int = 1
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None


def _write_jpeg_folder(frames: np.ndarray, folder: Path) -> None:
    """SAM2's video loader reads `<index>.jpg` frames."""
    from PIL import Image

    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index}.jpg", quality=95)


def _merge(prompts: list[Prompt]) -> list[Prompt]:
    """One prompt per (frame, object): SAM2 takes a frame's box and clicks for an object in a single call."""
    merged: dict[tuple[int, int], Prompt] = {}
    for p in prompts:
        into = merged.setdefault((p.frame, p.object_id), Prompt(p.frame, p.object_id))
        into.points = into.points + list(p.points)
        into.box = p.box if p.box is not None else into.box
    return list(merged.values())


def segment_video(frames: np.ndarray, prompts: list[Prompt], *, model: str = DEFAULT_MODEL,
                  registry: ModelRegistry | None = None, progress=None) -> dict[int, np.ndarray]:
    """frames (T,H,W,3) uint8 + prompts -> {object_id: (T,H,W) bool}."""
    import torch

    if not prompts:
        raise UserError("Add at least one click or a box on the object.")
    count = len(frames)
    for prompt in prompts:
        if not 0 <= prompt.frame < count:
            raise UserError(f"Frame {prompt.frame} is outside the clip (0..{count - 1}).")
    predictor = (registry or default_registry()).get(model)
    with tempfile.TemporaryDirectory(prefix="edithub-sam2-") as folder, torch.inference_mode():
        _write_jpeg_folder(frames, Path(folder))
        # Frames and state stay in CPU memory: long clips fit, at a small cost in speed on a GPU.
        state = predictor.init_state(folder, offload_video_to_cpu=True, offload_state_to_cpu=True)
        for prompt in _merge(prompts):
            points = np.array([(x, y) for x, y, _ in prompt.points], np.float32) if prompt.points else None
            labels = np.array([label for _, _, label in prompt.points], np.int32) if prompt.points else None
            box = np.array(prompt.box, np.float32) if prompt.box is not None else None
            predictor.add_new_points_or_box(state, frame_idx=prompt.frame, obj_id=prompt.object_id,
                                            points=points, labels=labels, box=box)
        ids = sorted({p.object_id for p in prompts})
        out = {i: np.zeros(frames.shape[:3], bool) for i in ids}
        start = min(p.frame for p in prompts)
        done = 0
        for reverse in (False, True):
            if reverse and start == 0:
                break
            for frame_index, obj_ids, logits in predictor.propagate_in_video(state, start_frame_idx=start,
                                                                              reverse=reverse):
                for obj_id, logit in zip(obj_ids, logits):
                    out[int(obj_id)][frame_index] = (logit[0] > 0).cpu().numpy()
                done += 1
                if progress:
                    progress(min(done / (count + start), 1.0), "tracking with SAM2")
        predictor.reset_state(state)
    return out
