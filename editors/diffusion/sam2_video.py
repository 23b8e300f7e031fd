"""SAM2.1 video segmentation through the shared registry: clicks / boxes on any frames, several objects,
propagation forward and backward from the prompted frames."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..core.prompts import Prompt, merge, validate
from ..core.registry import ModelRegistry, default_registry

DEFAULT_MODEL = "sam2.1-tiny"


def _write_jpeg_folder(frames: np.ndarray, folder: Path) -> None:
    """SAM2's video loader reads `<index>.jpg` frames."""
    from PIL import Image

    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index}.jpg", quality=95)


def segment_video(frames: np.ndarray, prompts: list[Prompt], *, model: str = DEFAULT_MODEL,
                  registry: ModelRegistry | None = None, progress=None) -> dict[int, np.ndarray]:
    """frames (T,H,W,3) uint8 + prompts -> {object_id: (T,H,W) bool}."""
    import torch

    count = len(frames)
    validate(prompts, *frames.shape[:3])
    # use(): one call at a time on the shared predictor, and it is not evicted while tracking
    with (registry or default_registry()).use(model) as predictor, \
            tempfile.TemporaryDirectory(prefix="edithub-sam2-") as folder, torch.inference_mode():
        _write_jpeg_folder(frames, Path(folder))
        # Frames and state stay in CPU memory: long clips fit, at a small cost in speed on a GPU.
        state = predictor.init_state(folder, offload_video_to_cpu=True, offload_state_to_cpu=True)
        for prompt in merge(prompts):
            if prompt.mask is not None:           # a drawn mask replaces clicks for that frame
                predictor.add_new_mask(state, frame_idx=prompt.frame, obj_id=prompt.object_id,
                                       mask=np.asarray(prompt.mask, bool))
                continue
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


def preview_mask(frame: np.ndarray, prompt: Prompt, *, model: str = DEFAULT_MODEL,
                 registry: ModelRegistry | None = None) -> np.ndarray:
    """One frame's mask for one object's clicks/box (live preview while clicking), (H, W) bool.

    The video predictor on a one-frame video (SAM2's image predictor needs torchvision, absent on CPU installs).
    """
    single = Prompt(0, 1, list(prompt.points), prompt.box)
    masks = segment_video(frame[None], [single], model=model, registry=registry)
    return masks[1][0]
