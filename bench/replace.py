"""Benchmark of the replace editor (issue 14's acceptance protocol), on real clips and real objects.

A case: a real background clip from ../shared/data/clips (static or moving camera); a rigid real cut-out (one
frame of another clip's object, through its ground-truth mask) moving over it by a smooth known similarity
(translation with a little acceleration, turning, growing or shrinking); a second real object of another shape
as the target, given as an RGBA PNG or as an RGB photo of it on plain white (PNG or JPEG). The truth is the
background clip with the target placed by the documented default rule (reference = first fully visible frame;
box bottom centre on the source's and the source's height) and moved by the same transforms, rendered
supersampled (4x4, premultiplied); where the old object was and the new one is not, the real background.

Per case: PSNR on (old ∪ new object region) for ours (the classic engine, default settings, through
`editors.replace.run`) and for the shape-unaware baseline (the target stretched into the source's box each frame,
nothing removed); IoU of our new-object masks with the true silhouettes; whether pixels far (> 16 px) from both
objects are bit-exact; fps (measured while shared).

    python bench/replace.py                         # 12 random cases, seed 0
    python bench/replace.py --cases 20 --seed 3 --save /tmp/replace_bench   # PNG strips to look at
    python bench/replace.py --cli                   # the cases through the CLI (--masks-out), not run()

Data are read from ../shared/data/clips (or $CLIPS_DIR) and never copied into the repo.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editors import replace  # noqa: E402
from editors.core import masks as M  # noqa: E402
from editors.core.clip import Clip  # noqa: E402
from editors.core.geometry import Box, scaling, similarity, translation  # noqa: E402
from editors.core.masks import load_masks  # noqa: E402
from editors.core.placement import crop_to_object, reference_transform, stretched_into_box  # noqa: E402
from editors.core.tracks import fully_visible_frame  # noqa: E402
from clips import CLIPS, frame_files, read_frames, read_masks  # noqa: E402

SIZE = (432, 240)
BACKGROUNDS = {"tennis": "moving", "car-shadow": "moving", "bmx-trees": "moving", "blackswan": "moving",
               "bedroom": "moving", "schoolgirls": "static", "dogs-jump": "static"}
OBJECTS = ([("schoolgirls", i) for i in range(1, 8)] + [("dogs-jump", i) for i in (1, 2, 3)]
           + [("tennis", None), ("car-shadow", None), ("bmx-trees", None)])
FAR = 16                       # pixels: "far from both objects"


@dataclass
class Case:
    name: str
    background: str
    start: int                 # first frame of the background clip
    frames: int
    source: tuple              # (clip, object id or None)
    target: tuple
    target_form: str           # "rgba", "white-png", "white-jpg"
    height: float              # the source's height on its first frame, share of the frame height
    start_xy: tuple            # where the source's box centre starts (pixels)
    velocity: tuple            # pixels / frame
    accel: tuple               # pixels / frame^2
    turn: tuple                # (start angle, radians per frame)
    growth: float              # log scale per frame


def cutout(clip: str, obj_id) -> np.ndarray:
    """A real object as an RGBA crop (alpha = its ground-truth mask) from the frame where it is largest and not
    cut by the border."""
    folder = CLIPS / clip
    masks = read_masks(folder, obj_id)
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    border = masks[:, 0].any(1) | masks[:, -1].any(1) | masks[:, :, 0].any(1) | masks[:, :, -1].any(1)
    areas = np.where(border, 0, areas)
    t = int(np.argmax(areas)) if areas.max() > 0 else int(np.argmax(masks.reshape(len(masks), -1).sum(axis=1)))
    frame = cv2.cvtColor(cv2.imread(str(frame_files(folder)[t])), cv2.COLOR_BGR2RGB)
    mask = masks[t]
    if mask.shape != frame.shape[:2]:
        mask = cv2.resize(mask.astype(np.uint8), frame.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    # the largest piece only (a ground-truth mask may hold stray specks)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count > 2:
        mask = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    rgba = np.dstack([frame, mask.astype(np.uint8) * 255])
    return crop_to_object(rgba)


def render(rgba: np.ndarray, transform: np.ndarray, size, supersample: int = 4):
    """(premultiplied colour float32, alpha float32) of the RGBA image moved by `transform` into a frame of
    `size` (w, h): warped at `supersample` times the resolution, then area-averaged (a reference rendering)."""
    w, h = size
    big = scaling(supersample) @ transform
    pre = rgba.astype(np.float32)
    pre[..., :3] *= pre[..., 3:4] / 255.0
    layer = cv2.warpAffine(pre, big[:2], (w * supersample, h * supersample), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    layer = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA)
    return layer[..., :3], layer[..., 3] / 255.0


def over(frame: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return np.clip(colour + frame.astype(np.float32) * (1 - alpha[..., None]) + 0.5, 0, 255).astype(np.uint8)


def motion(case: Case, t: int, size_px: float, source_shape) -> np.ndarray:
    """3x3 from the source cut-out's pixels to frame t: scaled to its height, turned about its centre, moved."""
    h, w = source_shape
    x = case.start_xy[0] + case.velocity[0] * t + 0.5 * case.accel[0] * t * t
    y = case.start_xy[1] + case.velocity[1] * t + 0.5 * case.accel[1] * t * t
    scale = size_px / h * np.exp(case.growth * t)
    return similarity(scale, case.turn[0] + case.turn[1] * t, x, y) @ translation(-(w - 1) / 2, -(h - 1) / 2)


def random_cases(count: int, seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    names = list(BACKGROUNDS)
    cases = []
    while len(cases) < count:
        background = names[len(cases) % len(names)] if len(cases) < len(names) else names[rng.integers(len(names))]
        pick = rng.choice(len(OBJECTS), 2, replace=False)
        source, target = OBJECTS[pick[0]], OBJECTS[pick[1]]
        total = len(frame_files(CLIPS / background))
        frames = int(min(total, rng.integers(24, 41)))
        start = int(rng.integers(0, total - frames + 1))
        height = float(rng.uniform(0.3, 0.55))
        w, h = SIZE
        speed = rng.uniform(0.5, 3.0)
        direction = rng.uniform(0, 2 * np.pi)
        velocity = (float(speed * np.cos(direction)), float(0.4 * speed * np.sin(direction)))
        # start so that the centre stays within the middle of the frame for the whole clip
        end_shift = np.array(velocity) * frames
        x0 = float(np.clip(w / 2 - end_shift[0] / 2 + rng.uniform(-0.15, 0.15) * w, 0.25 * w, 0.75 * w))
        y0 = float(np.clip(h / 2 - end_shift[1] / 2 + rng.uniform(-0.05, 0.1) * h, 0.35 * h, 0.65 * h))
        case = Case(f"c{len(cases)}:{background}:{source[0]}{source[1] or ''}->{target[0]}{target[1] or ''}",
                    background, start, frames, source, target,
                    ["rgba", "white-png", "white-jpg"][len(cases) % 3], height, (x0, y0), velocity,
                    (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.02, 0.02))),
                    (float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.012, 0.012))),
                    float(rng.uniform(-0.008, 0.008)))
        cases.append(case)
    return cases


def target_file(rgba: np.ndarray, form: str, folder: Path) -> Path:
    """The target as the user gives it: an RGBA PNG, or the object on plain white (PNG or JPEG) with a margin."""
    if form == "rgba":
        path = folder / "target.png"
        Image.fromarray(rgba, "RGBA").save(path)
        return path
    h, w = rgba.shape[:2]
    pad = max(8, round(0.15 * max(h, w)))
    canvas = np.full((h + 2 * pad, w + 2 * pad, 3), 255, np.float32)
    a = rgba[..., 3:4].astype(np.float32) / 255.0
    canvas[pad:pad + h, pad:pad + w] = rgba[..., :3] * a + 255 * (1 - a)
    image = Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
    path = folder / ("target.png" if form == "white-png" else "target.jpg")
    image.save(path, quality=95) if form == "white-jpg" else image.save(path)
    return path


def make_case(case: Case, folder: Path):
    """-> (input frames, source masks, truth frames, truth silhouettes, target file, baseline frames)."""
    background = read_frames(CLIPS / case.background, case.start + case.frames, SIZE)[case.start:]
    source_rgba, target_rgba = cutout(*case.source), cutout(*case.target)
    size_px = case.height * SIZE[1]
    transforms = [motion(case, t, size_px, source_rgba.shape[:2]) for t in range(case.frames)]
    frames = np.empty_like(background)
    source = np.zeros(background.shape[:3], bool)
    for t, transform in enumerate(transforms):
        colour, alpha = render(source_rgba, transform, SIZE)
        frames[t] = over(background[t], colour, alpha)
        source[t] = alpha >= 0.5
    reference = fully_visible_frame(source)
    at_reference = reference_transform(target_rgba, source[reference])
    truth = np.empty_like(background)
    silhouettes = np.zeros(source.shape, bool)
    baseline = np.empty_like(background)
    for t, transform in enumerate(transforms):
        moved = transform @ np.linalg.inv(transforms[reference]) @ at_reference
        colour, alpha = render(target_rgba, moved, SIZE)
        truth[t] = over(background[t], colour, alpha)
        silhouettes[t] = alpha >= 0.5
        box = Box.of_mask(source[t])
        baseline[t] = frames[t]
        if box is not None:
            colour, alpha = render(target_rgba, stretched_into_box(target_rgba, box), SIZE, supersample=1)
            baseline[t] = over(frames[t], colour, alpha)
    return frames, source, truth, silhouettes, target_file(target_rgba, case.target_form, folder), baseline


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    mse = float(np.mean((a[region].astype(np.float64) - b[region].astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def run_ours(frames, source, target_path: Path, folder: Path, use_cli: bool):
    """-> (result frames, new-object masks, seconds)."""
    if not use_cli:
        clip = Clip(frames, Fraction(24))
        start = time.perf_counter()
        out = replace.run(clip, source, replace.read_target(target_path), engine="classic")
        return out.clip.frames, out.masks, time.perf_counter() - start
    for name, stack in (("frames", frames), ("masks", source)):
        (folder / name).mkdir(exist_ok=True)
        for t, image in enumerate(stack):
            Image.fromarray(image.astype(np.uint8) * (255 if stack.dtype == bool else 1)).save(
                folder / name / f"{t:05d}.png")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "editors", "replace", "--input", str(folder / "frames"),
                           "--mask", str(folder / "masks"), "--target", str(target_path), "--engine", "classic",
                           "--masks-out", str(folder / "new_masks") + "/", "--output", str(folder / "out") + "/",
                           "--quiet"], capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(done.stderr)
    result = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in sorted((folder / "out").glob("*.png"))])
    masks = load_masks(folder / "new_masks", len(frames), *frames.shape[1:3])
    return result, masks, seconds


def strip(frames, ours, truth, baseline, source, silhouettes, picks) -> np.ndarray:
    rows = []
    for t in picks:
        marked = M.overlay(frames[t], source[t], alpha=0.0)
        truth_marked = M.overlay(truth[t], silhouettes[t], colour=(60, 200, 255), alpha=0.0)
        rows.append(np.concatenate([marked, ours[t], truth_marked, baseline[t]], axis=1))
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="folder for PNG strips (input | ours | truth | baseline)")
    parser.add_argument("--cli", action="store_true", help="run the CLI verb (and --masks-out) instead of run()")
    parser.add_argument("--only", help="run only cases whose name contains this")
    args = parser.parse_args()
    cases = [c for c in random_cases(args.cases, args.seed) if not args.only or args.only in c.name]
    rows = []
    print(f"{'case':58s} {'camera':7s} {'target':9s} {'ours dB':>8s} {'base dB':>8s} {'gain':>6s} "
          f"{'IoU':>5s} {'far':>5s} {'fps':>5s} {'new dB':>7s} {'uncov dB':>8s}")
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="replace-bench-") as tmp:
            folder = Path(tmp)
            frames, source, truth, silhouettes, target_path, baseline = make_case(case, folder)
            ours, masks, seconds = run_ours(frames, source, target_path, folder, args.cli)
        region = source | silhouettes
        far = ~M.dilate(region, FAR)
        ours_db, base_db = psnr(ours, truth, region), psnr(baseline, truth, region)
        iou = float((masks & silhouettes).sum() / max((masks | silhouettes).sum(), 1))
        exact = bool(np.array_equal(ours[far], frames[far]))
        uncovered = source & ~silhouettes
        parts = [psnr(ours, truth, silhouettes), psnr(ours, truth, uncovered) if uncovered.any() else float("inf")]
        fps = case.frames / seconds
        rows.append((ours_db, base_db, iou, exact, fps))
        print(f"{case.name:58s} {BACKGROUNDS[case.background]:7s} {case.target_form:9s} {ours_db:8.2f} "
              f"{base_db:8.2f} {ours_db - base_db:+6.2f} {iou:5.3f} {'exact' if exact else 'NO':>5s} {fps:5.1f} "
              f"{parts[0]:7.2f} {parts[1]:8.2f}",
              flush=True)
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            picks = sorted({0, case.frames // 2, case.frames - 1})
            image = strip(frames, ours, truth, baseline, source, silhouettes, picks)
            Image.fromarray(image).save(args.save / f"{case.name.replace(':', '_').replace('>', '')}.png")
    values = np.array([r[:3] for r in rows])
    gains = values[:, 0] - values[:, 1]
    print(f"\nmean: ours {values[:, 0].mean():.2f} dB, baseline {values[:, 1].mean():.2f} dB, gain "
          f"{gains.mean():+.2f} dB (worst {gains.min():+.2f}); IoU mean {values[:, 2].mean():.3f} (worst "
          f"{values[:, 2].min():.3f}); far pixels bit-exact in {sum(r[3] for r in rows)}/{len(rows)} cases; "
          f"fps mean {np.mean([r[4] for r in rows]):.1f} (measured while shared)")


if __name__ == "__main__":
    main()
