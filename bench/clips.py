"""The benchmarks' real clips: where they are and how they are read.  Data stay in ../shared/data/clips (or
$CLIPS_DIR) and are never copied into the repository."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CLIPS = Path(os.environ.get("CLIPS_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"))
if not CLIPS.exists():
    CLIPS = Path("/work/shared/data/clips")


def frame_files(clip_dir: Path) -> list[Path]:
    return sorted([*(clip_dir / "frames").glob("*.jpg"), *(clip_dir / "frames").glob("*.png")])


def read_frames(clip_dir: Path, count: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB: the clip's first `count` frames (all if None), resized to size=(W, H) with
    INTER_AREA if given."""
    files = frame_files(clip_dir)[:count or None]
    if not files:
        raise SystemExit(f"no frames in {clip_dir / 'frames'}")
    frames = []
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {f}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if size is not None and rgb.shape[1::-1] != tuple(size):
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        frames.append(rgb)
    return np.ascontiguousarray(np.stack(frames))


def read_masks(clip_dir: Path, obj_id: int | None = None, count: int | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """(T, H, W) bool: object `obj_id` of masks_ids/, or the binary masks/ when obj_id is None; resized to
    size=(W, H) with nearest neighbours if given."""
    folder = clip_dir / ("masks_ids" if obj_id is not None else "masks")
    files = sorted(folder.glob("*.png"))[:count or None]
    if not files:
        raise SystemExit(f"no masks in {folder}")
    out = []
    for f in files:
        a = np.asarray(Image.open(f))
        if obj_id is None and a.ndim == 3:
            a = np.asarray(Image.open(f).convert("L"))
        m = (a == obj_id) if obj_id is not None else (a > 127)
        if size is not None and m.shape[::-1] != tuple(size):
            m = cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        out.append(m)
    return np.stack(out)


def read_id_masks(clip_dir: Path, count: int | None = None) -> np.ndarray | None:
    """(T, H, W) object ids of masks_ids/ (0 = background), None when the clip has only binary masks."""
    folder = clip_dir / "masks_ids"
    if not folder.is_dir():
        return None
    return np.stack([np.asarray(Image.open(f)) for f in sorted(folder.glob("*.png"))[:count or None]])
