"""Benchmark of the remove editor's classic engine: the acceptance protocol of issue 4.

A real background clip from ../shared/data/clips; a real object (its frames × its ground-truth mask) from
another clip pasted at an offset; a soft synthetic cast shadow of that object (its mask sheared / squashed /
offset / blurred, multiplying the background by 0.4–0.7, NOT in the mask) darkened onto the background.
The untouched background clip is the ground truth.

Per case: PSNR on object ∪ shadow for the classic engine (default settings: trimask.make) and for
naive per-frame cv2.inpaint of the dilated mask; whole-frame PSNR; PSNR far from object ∪ shadow vs the input
(≥ 45 dB required; inf = bit-identical); engine fps; peak memory.

    python bench/remove.py                      # all cases at 432x240 + fps at 854x480 on two cases
    python bench/remove.py --hd all             # every case at 854x480 too
    python bench/remove.py --cases tennis+girl5 --save /tmp/remove_bench   # PNG strips to look at
    python bench/remove.py --random 10 --seed 7 --hd none   # random pairings / offsets / shadows instead
    python bench/remove.py --long 300           # memory on a 300-frame 854x480 clip

"far" = pixels more than 16 px (at 432x240) from the object and its shadow (shadow strength > 0.05).
Timings: wall-clock fps and fps per CPU-second of this process (the latter is less sensitive to other
processes sharing the CPUs; OpenCV may use 2 threads, so it can exceed wall fps on an idle machine).
Data are read from ../shared/data/clips (or $CLIPS_DIR) and never copied into the repo.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editors.classic.remove import remove_objects  # noqa: E402
from editors.core import masks as M  # noqa: E402
from editors.core import trimask as tm  # noqa: E402
from editors.core.layers import composite, object_layers  # noqa: E402
from clips import CLIPS, frame_files, read_frames, read_masks  # noqa: E402



@dataclass
class Shadow:
    shear: float = 0.6       # horizontal lean per unit height (+ = to the right)
    squash: float = 0.5      # vertical flattening onto the ground (1 = upright, 0 = flat line)
    offset: tuple = (0, 0)   # extra shift (dx, dy) in 432x240 pixels
    blur: float = 2.5        # Gaussian sigma of the penumbra, 432x240 pixels
    factor: float = 0.55     # background multiplied by this under the shadow core
    tint: tuple = (1.0, 1.0, 1.0)  # per-channel factor multiplier (bluish shadows: (0.95, 1, 1.08))


@dataclass
class Case:
    name: str
    background: str
    obj: str
    obj_id: int | None       # masks_ids label, None: masks/
    offset: tuple            # (dx, dy) in 432x240 pixels
    scale: float = 1.0       # object scale about its clip's frame centre
    shadow: Shadow = field(default_factory=Shadow)
    soft_edge: bool = False  # paste with a 1-px feathered alpha instead of a hard mask


CASES = [
    Case("tennis+dog", "tennis", "dogs-jump", 1, (110, 20), 1.0, Shadow(0.7, 0.45, (0, 0), 2.5, 0.5)),
    Case("car-shadow+girl", "car-shadow", "schoolgirls", 1, (90, 10), 1.0, Shadow(-0.8, 0.4, (0, 0), 3.0, 0.6)),
    Case("bmx+tennisman", "bmx-trees", "tennis", None, (-40, 10), 0.8, Shadow(0.5, 0.35, (4, 0), 2.0, 0.45)),
    Case("schoolgirls+dog", "schoolgirls", "dogs-jump", 2, (40, 25), 1.0, Shadow(-0.4, 0.3, (0, 3), 3.5, 0.65)),
    Case("dogs-jump+car", "dogs-jump", "car-shadow", None, (30, 55), 0.8, Shadow(0.3, 0.15, (0, 2), 4.0, 0.5)),
    Case("blackswan+bmx", "blackswan", "bmx-trees", None, (30, 20), 0.9, Shadow(0.9, 0.5, (0, 0), 2.0, 0.6,
                                                                               (0.92, 1.0, 1.1))),
    Case("bedroom+girl3", "bedroom", "schoolgirls", 3, (-60, 0), 1.0, Shadow(0.5, 0.6, (0, 0), 3.0, 0.7),
         soft_edge=True),
    Case("tennis+girl5", "tennis", "schoolgirls", 5, (-120, 40), 1.2, Shadow(-1.0, 0.5, (6, 0), 1.5, 0.4)),
    Case("car-shadow+woman-offset", "car-shadow", "dogs-jump", 3, (60, 30), 1.0, Shadow(0.2, 0.2, (14, 6), 3.0, 0.5)),
    Case("bmx+woman", "bmx-trees", "dogs-jump", 3, (-60, 20), 1.0, Shadow(-0.6, 0.5, (0, 0), 2.0, 0.55)),
    Case("tennis+car", "tennis", "car-shadow", None, (20, 50), 0.7, Shadow(0.4, 0.25, (0, 2), 3.5, 0.5)),
    Case("schoolgirls+tennisman", "schoolgirls", "tennis", None, (-30, 10), 0.8, Shadow(0.8, 0.4, (0, 0), 2.5, 0.6)),
    Case("dogs-jump+girl4", "dogs-jump", "schoolgirls", 4, (120, 20), 1.0, Shadow(-1.2, 0.35, (0, 0), 2.0, 0.45)),
    Case("car-shadow+bmx", "car-shadow", "bmx-trees", None, (60, 40), 0.9, Shadow(0.6, 0.3, (8, 4), 2.5, 0.5)),
    Case("blackswan+tennisman", "blackswan", "tennis", None, (40, 10), 0.8, Shadow(-0.5, 0.6, (0, 0), 3.0, 0.55,
                                                                                    (0.95, 1.0, 1.06))),
    Case("bedroom+dog", "bedroom", "dogs-jump", 2, (60, 30), 1.0, Shadow(0.4, 0.3, (0, 0), 2.5, 0.5)),
    Case("bmx+girl6", "bmx-trees", "schoolgirls", 6, (60, 30), 1.3, Shadow(1.1, 0.45, (3, 0), 1.5, 0.4)),
]



def random_cases(count: int, seed: int) -> list[Case]:
    """Random pairings (background clip, object from another clip), offsets, scales and shadows."""
    rng = np.random.default_rng(seed)
    backgrounds = ["tennis", "car-shadow", "bmx-trees", "schoolgirls", "dogs-jump", "blackswan", "bedroom"]
    objects = ([("schoolgirls", i) for i in range(1, 8)] + [("dogs-jump", i) for i in (1, 2, 3)]
               + [("tennis", None), ("car-shadow", None), ("bmx-trees", None)])
    cases = []
    while len(cases) < count:
        bg = backgrounds[rng.integers(len(backgrounds))]
        clip, obj_id = objects[rng.integers(len(objects))]
        if clip == bg:
            continue
        shadow = Shadow(float(rng.uniform(-1.2, 1.2)), float(rng.uniform(0.2, 0.7)),
                        (int(rng.integers(-8, 9)), int(rng.integers(0, 6))), float(rng.uniform(1.5, 4.0)),
                        float(rng.uniform(0.4, 0.7)))
        case = Case(f"r{len(cases)}:{bg}+{clip}{obj_id or ''}", bg, clip, obj_id,
                    (int(rng.integers(-100, 100)), int(rng.integers(-20, 40))), float(rng.uniform(0.7, 1.2)), shadow)
        masks = make_case(case, (108, 60))[1]          # skip objects that are (nearly) out of frame
        if masks.reshape(len(masks), -1).sum(axis=1).mean() >= 12:
            cases.append(case)
    return cases


# ------------------------------------------------------------------------------------------ data

def _place(image: np.ndarray, scale: float, offset: tuple, size: tuple[int, int], interp) -> np.ndarray:
    w, h = size
    a = np.array([[scale, 0, (1 - scale) * w / 2 + offset[0]], [0, scale, (1 - scale) * h / 2 + offset[1]]],
                 np.float64)
    return cv2.warpAffine(image, a, (w, h), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def shadow_map(mask: np.ndarray, sh: Shadow, unit: float) -> np.ndarray:
    """Soft shadow (0..1) of a binary mask: flattened onto its foot line, sheared, shifted, blurred."""
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return np.zeros(mask.shape, np.float32)
    foot = float(ys.max())
    # y' = foot - squash * (foot - y);  x' = x + shear * squash * (foot - y)
    a = np.array([[1.0, -sh.shear * sh.squash, sh.shear * sh.squash * foot + sh.offset[0] * unit],
                  [0.0, sh.squash, (1 - sh.squash) * foot + sh.offset[1] * unit]], np.float64)
    flat = cv2.warpAffine(mask.astype(np.float32), a, mask.shape[::-1], flags=cv2.INTER_LINEAR)
    return np.clip(cv2.GaussianBlur(flat, (0, 0), max(0.5, sh.blur * unit)), 0, 1)


def make_case(case: Case, size: tuple[int, int]):
    """-> (input frames, object masks (T,H,W) bool, shadow strength (T,H,W) float32, ground truth)."""
    unit = size[0] / 432.0
    n = min(len(frame_files(CLIPS / case.background)), len(frame_files(CLIPS / case.obj)))
    gt = read_frames(CLIPS / case.background, n, size)
    obj = read_frames(CLIPS / case.obj, n, size)
    obj_masks = read_masks(CLIPS / case.obj, case.obj_id, n, size)
    offset = (case.offset[0] * unit, case.offset[1] * unit)
    frames = np.empty_like(gt)
    masks = np.empty(gt.shape[:3], bool)
    shadows = np.empty(gt.shape[:3], np.float32)
    factor = np.float32(case.shadow.factor) * np.asarray(case.shadow.tint, np.float32)
    for t in range(n):
        m = _place(obj_masks[t].astype(np.uint8), case.scale, offset, size, cv2.INTER_NEAREST) > 0
        o = _place(obj[t], case.scale, offset, size, cv2.INTER_LINEAR)
        s = shadow_map(m, case.shadow, unit)
        dark = gt[t].astype(np.float32) * (1.0 - s[..., None] * (1.0 - np.minimum(factor, 1.0)))
        if case.soft_edge:
            a = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 0.8 * unit)[..., None]
            comp = o.astype(np.float32) * a + dark * (1 - a)
            m = a[..., 0] > 0.02
        else:
            comp = np.where(m[..., None], o.astype(np.float32), dark)
        frames[t] = np.clip(comp + 0.5, 0, 255).astype(np.uint8)
        masks[t] = m
        shadows[t] = s
    return frames, masks, shadows, gt


# ------------------------------------------------------------------------------------------ metrics

def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray | None = None) -> float:
    if region is not None:
        if not region.any():
            return float("inf")
        a, b = a[region], b[region]
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def naive_inpaint(frames: np.ndarray, masks: np.ndarray, unit: float) -> np.ndarray:
    out = np.empty_like(frames)
    grow = max(1, round(3 * unit))
    for t in range(len(frames)):
        m = M.dilate(masks[t], grow).astype(np.uint8)
        out[t] = cv2.inpaint(frames[t], m, max(3, round(5 * unit)), cv2.INPAINT_TELEA)
    return out


def run_case(case: Case, size, save: Path | None = None, memory: bool = False) -> dict:
    unit = size[0] / 432.0
    frames, masks, shadows, gt = make_case(case, size)
    trimask = tm.make(masks)
    effect = shadows > 0.05
    target = masks | effect
    far = ~M.dilate(target, max(1, round(16 * unit)))
    outside_band = trimask == tm.KEEP

    start, cpu = time.perf_counter(), time.process_time()
    result = remove_objects(frames, trimask)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = None
    if memory:
        tracemalloc.start()
        remove_objects(frames, trimask)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    naive = naive_inpaint(frames, masks, unit)
    no_fx = remove_objects(frames, tm.make(masks), effects=False).frames

    layers = object_layers(frames, result.background, result.layer_mask)
    recomposed = composite(layers, result.background)

    row = dict(
        case=case.name, size=f"{size[0]}x{size[1]}", frames=len(frames),
        classic=psnr(result.frames, gt, target), naive=psnr(naive, gt, target),
        no_effects=psnr(no_fx, gt, target),
        shadow_only=psnr(result.frames, gt, effect & ~masks), shadow_naive=psnr(naive, gt, effect & ~masks),
        whole=psnr(result.frames, gt), whole_naive=psnr(naive, gt),
        far=psnr(result.frames, frames, far), outside_band=psnr(result.frames, frames, outside_band),
        layers=psnr(recomposed, frames), fps=len(frames) / seconds, cpu_fps=len(frames) / max(cpu, 1e-6),
        peak_mb=None if peak is None else peak / 2 ** 20,
        count_ok=result.frames.shape == frames.shape,
    )
    row["gain"] = row["classic"] - row["naive"]
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        for t in (0, len(frames) // 2, len(frames) - 1):
            det = frames[t].copy()
            det[result.changed[t]] = (0.5 * det[result.changed[t]] + [0, 127, 0]).astype(np.uint8)
            err = np.abs(result.frames[t].astype(np.int16) - gt[t]).max(axis=2).clip(0, 63).astype(np.uint8) * 4
            strip = np.vstack([np.hstack([frames[t], result.frames[t], gt[t]]),
                               np.hstack([naive[t], det, np.repeat(err[..., None], 3, axis=2)])])
            cv2.imwrite(str(save / f"{case.name}_{size[0]}_{t:03d}.png"), cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
    return row


def _fmt(v, width=7, digits=2):
    if isinstance(v, float):
        return f"{v:{width}.{digits}f}" if np.isfinite(v) else f"{'inf':>{width}}"
    return f"{str(v):>{width}}"


def print_table(rows):
    cols = [("case", 26), ("size", 8), ("frames", 6), ("classic", 7), ("naive", 7), ("gain", 7),
            ("no_effects", 10), ("shadow_only", 11), ("shadow_naive", 12), ("whole", 7), ("whole_naive", 11),
            ("far", 7), ("outside_band", 12), ("layers", 7), ("fps", 6), ("cpu_fps", 7), ("peak_mb", 7)]
    print(" ".join(f"{c:>{w}}" for c, w in cols))
    for r in rows:
        print(" ".join(_fmt(r[c], w) if c != "case" else f"{r[c]:>{w}}" for c, w in cols))


def long_memory(count: int, size=(854, 480)):
    """Peak traced memory of the engine on a long clip (the clip itself excluded)."""
    case = CASES[1]
    frames, masks, _, _ = make_case(case, size)
    reps = -(-count // len(frames))
    idx = np.concatenate([np.arange(len(frames)), np.arange(len(frames))[::-1]] * reps)[:count]
    frames, masks = frames[idx], masks[idx]
    trimask = tm.make(masks)
    clip_mb = frames.nbytes / 2 ** 20
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    result = remove_objects(frames, trimask)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    print(f"long clip {count}x{size[0]}x{size[1]}: input {clip_mb:.0f} MB, engine peak {peak:.0f} MB "
          f"(outputs: frames+background {2 * clip_mb:.0f} MB), {count / seconds:.1f} fps (traced, slower)")
    del result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="all", help="'all' or names joined by commas")
    p.add_argument("--hd", default="two", choices=["none", "two", "all"], help="cases also run at 854x480")
    p.add_argument("--save", type=Path, default=None,
                   help="folder for PNG strips (input|result|truth / naive|changed|error)")
    p.add_argument("--long", type=int, default=0, help="also measure memory on a long 854x480 clip of N frames")
    p.add_argument("--random", type=int, default=0, help="N random cases instead of the fixed ones")
    p.add_argument("--seed", type=int, default=0, help="seed of --random")
    args = p.parse_args(argv)
    if args.random:
        cases = random_cases(args.random, args.seed)
    else:
        cases = CASES if args.cases == "all" else [c for c in CASES if c.name in args.cases.split(",")]
    rows = []
    for i, case in enumerate(cases):
        rows.append(run_case(case, (432, 240), args.save, memory=(i == 0)))
        r = rows[-1]
        print(f"{r['case']:>26} classic {r['classic']:.2f} naive {r['naive']:.2f} gain {r['gain']:+.2f} "
              f"far {r['far']:.1f} fps {r['fps']:.1f}", flush=True)
    hd = [] if args.hd == "none" else (cases[:2] if args.hd == "two" else cases)
    for i, case in enumerate(hd):
        rows.append(run_case(case, (854, 480), args.save, memory=(i == 0)))
    print()
    print_table(rows)
    low = [r for r in rows if r["size"] == "432x240"]
    if low:
        print(f"\n432x240 mean: classic {np.mean([r['classic'] for r in low]):.2f} dB, "
              f"naive {np.mean([r['naive'] for r in low]):.2f} dB, gain {np.mean([r['gain'] for r in low]):+.2f} dB; "
              f"min far {min(r['far'] for r in low):.1f} dB; min layers {min(r['layers'] for r in low):.1f} dB; "
              f"engine fps mean {np.mean([r['fps'] for r in low]):.1f} wall, "
              f"{np.mean([r['cpu_fps'] for r in low]):.1f} per CPU-second")
    high = [r for r in rows if r["size"] == "854x480"]
    if high:
        print(f"854x480 mean: gain {np.mean([r['gain'] for r in high]):+.2f} dB, engine fps mean "
              f"{np.mean([r['fps'] for r in high]):.1f} wall, {np.mean([r['cpu_fps'] for r in high]):.1f} "
              "per CPU-second")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall-clock fps are noisy when shared)")
    print(f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.long:
        long_memory(args.long)


if __name__ == "__main__":
    main()
