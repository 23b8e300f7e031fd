"""Segmentation prompts (clicks, a box or a drawn mask on one frame, for one object) shared by both engines."""
from __future__ import annotations

import json
import math
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
            if not (math.isfinite(x) and math.isfinite(y)):
                raise UserError(f"The click at ({x:g}, {y:g}) is not a point: give finite pixel coordinates.")
            if not (0 <= x < width and 0 <= y < height):
                raise UserError(f"The click at ({x:g}, {y:g}) is outside the {width}x{height} frame.")
            if label not in (POSITIVE, NEGATIVE):
                raise UserError(f"A click's label must be 1 (object) or 0 (background), got {label}.")
        if p.box is not None:
            if len(p.box) != 4 or not all(math.isfinite(v) for v in p.box):
                raise UserError(f"The box {tuple(p.box)} is not a box: give 4 finite numbers x0,y0,x1,y1 in pixels.")
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


def parse_points(text: str, argument: str = "--points") -> list[tuple[float, float, int]]:
    """"x,y,label;x,y,label" (label 1 = object, 0 = background; default 1)."""
    points = []
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        values = [v.strip() for v in item.split(",")]
        try:
            if len(values) not in (2, 3):
                raise ValueError
            points.append(_point([float(values[0]), float(values[1])] + [int(v) for v in values[2:]]))
        except ValueError:
            raise UserError(f"{argument}: cannot read the click {item!r}: write x,y,label with finite pixel "
                            "coordinates (label 1 = object, 0 = background).") from None
    return points


def parse_box(text: str, argument: str = "--box") -> tuple[float, float, float, float]:
    """"x0,y0,x1,y1" in pixels: four finite numbers."""
    try:
        return _box([float(v) for v in text.split(",")])
    except ValueError:
        raise UserError(f"{argument} {text!r} is not a box: write x0,y0,x1,y1 (four finite numbers, in pixels)."
                        ) from None


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _point(values) -> tuple[float, float, int]:
    if not isinstance(values, (list, tuple)) or len(values) not in (2, 3):
        raise ValueError(values)
    label = POSITIVE if len(values) == 2 else values[2]
    if label not in (POSITIVE, NEGATIVE) or isinstance(label, float) and label != int(label):
        raise ValueError(values)
    return _number(values[0]), _number(values[1]), int(label)


def _box(values) -> tuple[float, float, float, float]:
    if not isinstance(values, (list, tuple)) or len(values) != 4:
        raise ValueError(values)
    x0, y0, x1, y1 = (_number(v) for v in values)
    return x0, y0, x1, y1


def _whole(value) -> int:
    number = _number(value)
    if number != int(number):
        raise ValueError(value)
    return int(number)


PROMPTS_FORM = '[{"frame": 0, "object_id": 1, "points": [[x, y, 1]], "box": [x0, y0, x1, y1]}]'


def prompts_from_json(text: str, argument: str = "prompts") -> list[Prompt]:
    """API form: [{"frame": 0, "object_id": 1, "points": [[x, y, 1], ...], "box": [x0, y0, x1, y1]}, ...];
    a bad item is named by its place and field (NaN, infinities, 2-value boxes, ... are refused)."""
    try:
        items = json.loads(text or "[]")
    except ValueError as exc:
        raise UserError(f"{argument} is not valid JSON ({exc.msg} at character {exc.pos}); write {PROMPTS_FORM}."
                        ) from None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        raise UserError(f"{argument} must be a JSON list like {PROMPTS_FORM}.")
    prompts = []
    for place, item in enumerate(items, 1):
        field_name = "item"
        try:
            if not isinstance(item, dict):
                raise ValueError(item)
            field_name = "frame"
            frame = _whole(item.get("frame", 0))
            field_name = "object_id"
            object_id = _whole(item.get("object_id", 1))
            field_name = "points"
            points = item.get("points") or []
            if not isinstance(points, list):
                raise ValueError(points)
            points = [_point(p) for p in points]
            field_name = "box"
            box = _box(item["box"]) if item.get("box") is not None else None
        except (ValueError, TypeError, OverflowError):
            hint = {"box": "4 finite numbers [x0, y0, x1, y1]", "points": "a list of [x, y, label] with label "
                    "1 or 0", "frame": "a whole number", "object_id": "a whole number"}.get(field_name, "a JSON object")
            raise UserError(f"{argument} item {place}: {field_name} must be {hint}; write {PROMPTS_FORM}.") from None
        prompts.append(Prompt(frame, object_id, points, box))
    return prompts
