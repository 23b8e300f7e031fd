"""Segmentation prompts (clicks, a box or a drawn mask on one frame, for one object) shared by both engines."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .errors import UserError

POSITIVE, NEGATIVE = 1, 0


@dataclass
class Prompt:
    """Clicks and/or a box (or a drawn mask) for one object on one frame.

    points: [(x, y, label)] with label 1 = object, 0 = not the object; box: (x0, y0, x1, y1) in pixels.
    """
    frame: int
    object_id: int = 1
    points: list[tuple[float, float, int]] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    mask: np.ndarray | None = None           # (H, W) bool drawn or uploaded on this frame


def validate(prompts: list[Prompt], num_frames: int, height: int, width: int) -> list[Prompt]:
    """Clear errors for prompts that cannot mean anything: no prompt, frame past the end, click outside, empty box."""
    if not prompts:
        raise UserError("Click on the object (or give a box) on at least one frame.")
    for p in prompts:
        if not 0 <= p.frame < num_frames:
            raise UserError(f"Frame {p.frame} is outside the clip, which has frames 0..{num_frames - 1}.")
        if p.object_id < 1:
            raise UserError(f"Object ids start at 1 (got {p.object_id}).")
        for x, y, label in p.points:
            if not (0 <= x < width and 0 <= y < height):
                raise UserError(f"The click at ({x:g}, {y:g}) is outside the {width}x{height} frame.")
            if label not in (POSITIVE, NEGATIVE):
                raise UserError(f"A click's label must be 1 (object) or 0 (background), got {label}.")
        if p.box is not None:
            x0, y0, x1, y1 = p.box
            if x1 <= x0 or y1 <= y0:
                raise UserError(f"The box {tuple(p.box)} is empty: give x0,y0,x1,y1 with x1 > x0 and y1 > y0.")
            if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                raise UserError(f"The box {tuple(p.box)} lies outside the {width}x{height} frame.")
        if p.mask is not None and not np.asarray(p.mask).any():
            raise UserError(f"The mask drawn on frame {p.frame} is empty.")
    for object_id in {p.object_id for p in prompts}:
        if not any(p.mask is not None or p.box is not None or any(label == POSITIVE for *_, label in p.points)
                   for p in prompts if p.object_id == object_id):
            raise UserError(f"Object {object_id} needs a box or at least one click on it (not only background clicks).")
    return prompts


def merge(prompts: list[Prompt]) -> list[Prompt]:
    """One prompt per (frame, object): that frame's clicks together, the last box and the last drawn mask."""
    merged: dict[tuple[int, int], Prompt] = {}
    for p in prompts:
        into = merged.setdefault((p.frame, p.object_id), Prompt(p.frame, p.object_id))
        into.points = into.points + list(p.points)
        into.box = p.box if p.box is not None else into.box
        into.mask = p.mask if p.mask is not None else into.mask
    return list(merged.values())


def parse_points(text: str) -> list[tuple[float, float, int]]:
    """"x,y,label;x,y,label" (label 1 = object, 0 = background; default 1)."""
    points = []
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        values = [v.strip() for v in item.split(",")]
        try:
            if len(values) not in (2, 3):
                raise ValueError
            points.append((float(values[0]), float(values[1]), int(values[2]) if len(values) == 3 else POSITIVE))
        except ValueError:
            raise UserError(f"Cannot read the click {item!r}: write x,y,label (label 1 = object, 0 = background).") \
                from None
    return points


def parse_box(text: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise UserError(f"Cannot read the box {text!r}: write x0,y0,x1,y1 in pixels.") from None
    return x0, y0, x1, y1


def prompts_from_json(text: str) -> list[Prompt]:
    """API form: [{"frame": 0, "object_id": 1, "points": [[x, y, 1], ...], "box": [x0, y0, x1, y1]}, ...]"""
    try:
        items = json.loads(text or "[]")
        return [Prompt(int(i.get("frame", 0)), int(i.get("object_id", 1)),
                       [(float(x), float(y), int(label)) for x, y, label in i.get("points", [])],
                       tuple(float(v) for v in i["box"]) if i.get("box") else None) for i in items]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UserError('Prompts must be JSON like [{"frame": 0, "object_id": 1, "points": [[x, y, 1]], '
                        '"box": [x0, y0, x1, y1]}].') from None
