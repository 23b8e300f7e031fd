"""Build examples/ from the Apache/MIT clips in ../shared/data/clips (small: 432x240, H.264 + mask videos).

Only tennis (Apache-2.0), schoolgirls (MIT), dogs-jump (MIT) and bedroom (Apache-2.0) may be copied.
"""
from __future__ import annotations

import shutil
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from editors.core.clip import Clip, write_clip  # noqa: E402

CLIPS = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "clips")
OUT = ROOT / "examples"
SIZE = (432, 240)


def frames_of(name, count):
    files = sorted((CLIPS / name / "frames").glob("*.jpg"))[:count]
    return np.stack([cv2.resize(np.asarray(Image.open(f).convert("RGB")), SIZE, interpolation=cv2.INTER_AREA)
                     for f in files])


def masks_of(name, count, object_id=None):
    folder = "masks_ids" if object_id else "masks"
    files = sorted((CLIPS / name / folder).glob("*.png"))[:count]
    out = []
    for f in files:
        values = np.asarray(Image.open(f))
        m = (values == object_id) if object_id else values > 127
        out.append(cv2.resize(m.astype(np.uint8) * 255, SIZE, interpolation=cv2.INTER_NEAREST))
    return np.stack(out)


def save(name, frames, fps, masks=None, mask_suffix="mask"):
    write_clip(Clip(frames, Fraction(fps)), OUT / f"{name}.mp4")
    if masks is not None:
        write_clip(Clip(np.repeat(masks[..., None], 3, axis=3), Fraction(fps)), OUT / f"{name}_{mask_suffix}.mp4")
        Image.fromarray(masks[0]).save(OUT / f"{name}_{mask_suffix}_first.png")


def main():
    OUT.mkdir(exist_ok=True)
    save("tennis", frames_of("tennis", 70), 15, masks_of("tennis", 70))
    save("schoolgirls", frames_of("schoolgirls", 80), 24, masks_of("schoolgirls", 80, object_id=1), "girl")
    save("dogs-jump", frames_of("dogs-jump", 66), 24, masks_of("dogs-jump", 66, object_id=2), "dog")
    save("bedroom", frames_of("bedroom", 48), 30)
    for name in ("tennis", "schoolgirls", "dogs-jump", "bedroom"):
        shutil.copy(CLIPS / name / "LICENSE-source.txt", OUT / f"LICENSE-{name}.txt")
        shutil.copy(CLIPS / name / "SOURCE.md", OUT / f"SOURCE-{name}.md")


if __name__ == "__main__":
    main()
