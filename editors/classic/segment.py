"""The segment editor's classic engine: a first mask on each prompted frame (track.first_mask, cached), every
frame tracked from its nearest prompted frame (track.track), so a correction on a later frame takes over there."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from ..core.errors import UserError
from ..core.prompts import Prompt, merge
from . import track

# First masks by (frame, box, clicks): the tab redraws every object's preview on each click and slider move, and
# Track needs the same masks again; a graph cut costs 0.2-1 s at 432x240 and about 3 s at 854x480.
_FIRST_MASKS: OrderedDict[tuple, np.ndarray] = OrderedDict()
_FIRST_MASKS_LOCK = threading.Lock()
_FIRST_MASKS_KEPT = 16


def preview_mask(frame: np.ndarray, prompt: Prompt, **_engine_settings) -> np.ndarray:
    """The first mask one object's prompt gives on its frame (what the user sees while clicking), (H, W) bool."""
    if prompt.mask is not None:
        return np.asarray(prompt.mask, bool)
    points = tuple((int(x), int(y), int(label)) for x, y, label in prompt.points)
    box = tuple(float(v) for v in prompt.box) if prompt.box is not None else None
    key = (hashlib.blake2b(np.ascontiguousarray(frame).data, digest_size=16).digest(), frame.shape, box, points)
    with _FIRST_MASKS_LOCK:
        if key in _FIRST_MASKS:
            _FIRST_MASKS.move_to_end(key)
            return _FIRST_MASKS[key].copy()
    mask = track.first_mask(frame, box=prompt.box, points=list(points))
    with _FIRST_MASKS_LOCK:
        _FIRST_MASKS[key] = mask
        while len(_FIRST_MASKS) > _FIRST_MASKS_KEPT:
            _FIRST_MASKS.popitem(last=False)
    return mask.copy()


def segment_video(frames: np.ndarray, prompts: list[Prompt], *, progress=None,
                  **_engine_settings) -> dict[int, np.ndarray]:
    """Each object: a first mask on each prompted frame; every frame is tracked from its nearest prompted frame
    (so a refinement on a later frame takes over from there)."""
    merged = {(p.object_id, p.frame): p for p in merge(prompts)}
    count = len(frames)
    objects = {}
    ids = sorted({object_id for object_id, _ in merged})
    for n, object_id in enumerate(ids):
        keys = sorted(frame for oid, frame in merged if oid == object_id)
        out = np.zeros(frames.shape[:3], bool)
        for k, frame in enumerate(keys):
            lo = 0 if k == 0 else (keys[k - 1] + frame) // 2 + 1
            hi = count if k == len(keys) - 1 else (frame + keys[k + 1]) // 2 + 1
            prompt = merged[(object_id, frame)]
            first = preview_mask(frames[frame], prompt)
            if not first.any():
                raise UserError(f"No object found from the clicks on frame {frame}: click inside the object, "
                                "or draw a box around it.")

            def sub_progress(fraction, desc="", n=n, k=k):
                if progress:
                    progress((n + (k + fraction) / len(keys)) / len(ids), f"tracking object {object_id}")

            out[lo:hi] = track.track(frames[lo:hi], frame - lo, first, progress=sub_progress)
        objects[object_id] = out
    return objects
