"""Benchmark the classic segmentation/tracking engine on real clips with ground-truth masks.

For every clip (and, where `masks_ids/` exists, every object id separately) the engine is prompted only
by the bounding box of the frame-0 ground-truth mask; the first mask comes from `first_mask`, then
`track` propagates it through the clip.  Printed per case: mean IoU over all frames, the worst frame's
IoU, the first frame's IoU (quality of the box -> mask step) and seconds per frame of tracking.

    python bench/segment.py [--clips schoolgirls,tennis] [--max-frames 40] [--save-overlays /tmp/ov]
    python bench/segment.py --prompt-every 20   # a correcting box every 20 frames, through the editor's path

Data is read from ../shared/data/clips (relative to the repository) or --data; nothing is copied.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from editors.classic.track import first_mask, track  # noqa: E402
from editors.core.prompts import Prompt  # noqa: E402
from editors.classic.segment import segment_video  # noqa: E402
from clips import CLIPS, read_frames, read_id_masks, read_masks  # noqa: E402

DEFAULT_CLIPS = ["schoolgirls", "dogs-jump", "car-shadow", "tennis", "bmx-trees"]


def read_gt(clip_dir: Path, n: int) -> list[tuple[str, np.ndarray]]:
    """[(object name, (T,H,W) bool)]: one entry per id in masks_ids/, else the binary masks/."""
    ids = read_id_masks(clip_dir, n)
    if ids is not None:
        return [(f"id{i}", ids == i) for i in np.unique(ids) if i != 0]
    return [("", read_masks(clip_dir, None, n))]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def save_overlays(out: Path, frames: np.ndarray, pred: np.ndarray, gt: np.ndarray, every: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for t in range(0, len(frames), every):
        img = cv2.cvtColor(frames[t], cv2.COLOR_RGB2BGR)
        img[pred[t]] = (0.5 * img[pred[t]] + [0, 0, 127]).astype(np.uint8)
        cnt, _ = cv2.findContours(gt[t].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, cnt, -1, (0, 255, 0), 1)
        cv2.putText(img, f"{t} iou={iou(pred[t], gt[t]):.2f}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 255), 1)
        cv2.imwrite(str(out / f"{t:05d}.png"), img)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=CLIPS)
    ap.add_argument("--clips", default=",".join(DEFAULT_CLIPS), help="comma-separated clip names")
    ap.add_argument("--objects", default="", help="only these object names, e.g. id1,id3")
    ap.add_argument("--max-frames", type=int, default=0, help="use only the first N frames (0 = all)")
    ap.add_argument("--save-overlays", type=Path, default=None, help="write overlay PNGs here")
    ap.add_argument("--overlay-every", type=int, default=5)
    ap.add_argument("--gt-first", action="store_true",
                    help="diagnostic: track from the ground-truth frame-0 mask instead of first_mask(box)")
    ap.add_argument("--prompt-every", type=int, default=0,
                    help="also box-prompt every K-th frame (where the object is visible), as a user correcting "
                         "the tracker would; runs the segment editor's multi-prompt path")
    args = ap.parse_args(argv)

    rows = []
    print(f"{'clip':<20} {'size':>8} {'T':>4} {'iou0':>6} {'mean':>6} {'worst':>6} {'s/frame':>8}")
    for name in [c for c in args.clips.split(",") if c]:
        clip_dir = args.data / name
        frames = read_frames(clip_dir, args.max_frames)
        T, H, W = frames.shape[:3]
        for obj, gt in read_gt(clip_dir, T):
            if args.objects and obj not in args.objects.split(","):
                continue
            label = f"{name}:{obj}" if obj else name
            if not gt[0].any():
                print(f"{label:<20} absent on frame 0, skipped")
                continue
            t0 = time.perf_counter()
            if args.prompt_every:
                prompts = [Prompt(t, 1, box=box_of(gt[t])) for t in range(0, T, args.prompt_every) if gt[t].any()]
                t1 = t0
                pred = segment_video(frames, prompts)[1]
            else:
                m0 = gt[0].copy() if args.gt_first else first_mask(frames[0], box=box_of(gt[0]))
                t1 = time.perf_counter()
                pred = track(frames, 0, m0)
            t2 = time.perf_counter()
            ious = np.array([iou(pred[t], gt[t]) for t in range(T)])
            spf = (t2 - t1) / max(T - 1, 1)
            rows.append((label, ious.mean(), ious.min(), ious[0], spf, W * H))
            print(f"{label:<20} {W:>4}x{H:<4}{T:>4} {ious[0]:6.3f} {ious.mean():6.3f} {ious.min():6.3f} "
                  f"{spf:8.3f}   (first_mask {t1 - t0:.2f}s)", flush=True)
            if args.save_overlays:
                save_overlays(args.save_overlays / label.replace(":", "_"), frames, pred, gt, args.overlay_every)
    if rows:
        means = np.array([r[1] for r in rows])
        print(f"{'MEAN over ' + str(len(rows)) + ' objects':<34} {means.mean():6.3f} "
              f"{min(r[2] for r in rows):6.3f}")
        for area, lab in ((432 * 240, "432x240"), (854 * 480, "854x480")):
            s = [r[4] for r in rows if r[5] == area]
            if s:
                print(f"mean s/frame at {lab}: {np.mean(s):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
