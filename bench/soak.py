"""Soak test of the served app: N clients x M rounds on every endpoint, classic engine, the small example clips.

Starts app.py on a free loopback port with its own GRADIO_TEMP_DIR (or takes --url of one already running on this
machine, with --pid for its process stats), then prints the server's RSS, open file handles and threads, its temp
dir's size, errors and latency per endpoint: before the rounds (after one warm-up call per endpoint), after them,
and (with --cache-age) after gradio's delete_cache and ui.output_dir() have had time to clean up. --burst K then
sends K jobs at once to check that a full queue answers with its message (start with --queue-size small).

    python bench/soak.py                              # 4 clients x 5 rounds, 24-frame clips
    python bench/soak.py --clients 8 --rounds 10 --frames 0 --cache-age 60 --burst 12 --queue-size 4

Bounded (rounds, per-call timeout) and loopback only: a --url that is not 127.0.0.1 / localhost is refused.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EXAMPLES = ROOT / "examples"
# clip, mask of one object in it (also gives /segment its box)
CLIPS = [("tennis.mp4", "tennis_mask.mp4"), ("schoolgirls.mp4", "schoolgirls_girl.mp4"),
         ("dogs-jump.mp4", "dogs-jump_dog.mp4")]
ENDPOINTS = ("/segment", "/remove", "/outpaint", "/replace", "/edit")


# ---- the inputs ---------------------------------------------------------------------------------------------------
def prepare_inputs(folder: Path, frames: int) -> list[dict]:
    """The example clips (first `frames` frames; 0 = all) with their masks and the mask's box on frame 0."""
    import numpy as np

    from editors.core.clip import read_clip, write_clip
    from editors.core.masks import bounding_box, load_masks

    cases = []
    for clip_name, mask_name in CLIPS:
        clip = read_clip(EXAMPLES / clip_name)
        masks = load_masks(EXAMPLES / mask_name, clip.num_frames, clip.height, clip.width)
        if frames:
            clip, masks = clip.with_frames(clip.frames[:frames]), masks[:frames]
        video = write_clip(clip, folder / clip_name)
        mask = write_clip(clip.with_frames(np.repeat(masks[..., None].astype(np.uint8) * 255, 3, axis=3)),
                          folder / mask_name)
        cases.append({"video": str(video), "mask": str(mask), "box": bounding_box(masks[0]),
                      "size": f"{clip.width}x{clip.height}x{clip.num_frames}"})
    return cases


def arguments(endpoint: str, case: dict):
    """The endpoint's positional arguments (README's API section), classic engine."""
    from gradio_client import handle_file

    video = handle_file(case["video"])
    if endpoint == "/segment":
        x0, y0, x1, y1 = case["box"]
        return [video, f'[{{"frame": 0, "object_id": 1, "box": [{x0}, {y0}, {x1}, {y1}]}}]', "classic", 0, "mask"]
    if endpoint == "/remove":
        return [video, [handle_file(case["mask"])], True, 0, "classic", 25, 5.0, 0, "", True, []]
    if endpoint == "/outpaint":
        return [video, "1:1", 0, 0, 0, 0, 0, 0, "center", "classic", 25, 5.0, 0, ""]
    return None                 # listed by the app but no recipe here yet


# ---- the server ---------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(temp_dir: Path, cache_age: int | None, queue_size: int | None, log_path: Path):
    port = free_port()
    env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port),
               GRADIO_TEMP_DIR=str(temp_dir), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               HF_HUB_DISABLE_TELEMETRY="1")
    if cache_age:
        env["EDITHUB_CACHE_AGE"] = str(cache_age)
    if queue_size:
        env["EDITHUB_QUEUE_SIZE"] = str(queue_size)
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"app.py exited:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}/"
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("app.py did not start within 180 s")


def server_stats(pid: int | None, temp_dir: Path | None) -> dict:
    stats = {}
    if pid:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        stats["rss_mb"] = int(fields["VmRSS"].split()[0]) / 1024
        stats["threads"] = int(fields["Threads"])
        stats["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        stats["children"] = len(children)
    if temp_dir is not None and temp_dir.exists():
        files = [p for p in temp_dir.rglob("*") if p.is_file()]
        stats["temp_mb"] = sum(p.stat().st_size for p in files) / 2**20
        stats["temp_files"] = len(files)
        stats["temp_dirs"] = sum(1 for p in temp_dir.rglob("*") if p.is_dir())
    stats["tmp_mask_dirs"] = len(list(Path(tempfile.gettempdir()).glob("edithub-mask-*")))   # the old zip leak
    return stats


# ---- the load ------------------------------------------------------------------------------------------------------
def client_loop(url, endpoints, cases, rounds, index, downloads, results, timeout):
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=str(downloads / f"client{index}"))
    for r in range(rounds):
        for endpoint in endpoints:
            case = cases[(index + r) % len(cases)]
            started = time.monotonic()
            try:
                job = client.submit(*arguments(endpoint, case), api_name=endpoint)
                job.result(timeout=timeout)
                results.append((endpoint, time.monotonic() - started, None))
            except Exception as exc:           # noqa: BLE001  every failure is counted and shown
                results.append((endpoint, time.monotonic() - started, f"{type(exc).__name__}: {exc}"[:200]))


def burst(url, count, case, timeout) -> dict:
    """`count` /outpaint jobs at once from one client: those past the queue's size are refused with its message."""
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=False)
    jobs = [client.submit(*arguments("/outpaint", case), api_name="/outpaint") for _ in range(count)]
    done, refused, other = 0, [], []
    for job in jobs:
        try:
            job.result(timeout=timeout)
            done += 1
        except Exception as exc:               # noqa: BLE001
            (refused if "queue" in str(exc).lower() else other).append(f"{type(exc).__name__}: {exc}"[:160])
    return {"sent": count, "done": done, "refused": len(refused), "message": refused[:1], "other": other[:3]}


def show(label: str, stats: dict) -> None:
    print(f"{label:<22}" + "  ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                     for k, v in stats.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an app already running on this machine (loopback); default: start one")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, for RSS / handles")
    parser.add_argument("--temp-dir", type=Path, help="with --url: the server's GRADIO_TEMP_DIR, for its size")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--frames", type=int, default=24, help="first frames of each example clip (0 = all)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a call may take")
    parser.add_argument("--cache-age", type=int, help="started app: EDITHUB_CACHE_AGE seconds; then wait for the "
                                                      "clean-up and measure the temp dir again")
    parser.add_argument("--queue-size", type=int, help="started app: EDITHUB_QUEUE_SIZE")
    parser.add_argument("--burst", type=int, default=0, help="then send this many jobs at once (queue full?)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (inputs, app log, temp dir)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 32 and 1 <= args.rounds <= 100):
        parser.error("keep it bounded: 1..32 clients, 1..100 rounds")

    work = Path(tempfile.mkdtemp(prefix="edithub-soak-"))
    process = None
    try:
        if args.url:
            if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
                parser.error("loopback only: --url must be http://127.0.0.1:PORT/ or http://localhost:PORT/")
            url, pid, temp_dir = args.url, args.pid, args.temp_dir
        else:
            temp_dir = work / "gradio"
            process, url = start_app(temp_dir, args.cache_age, args.queue_size, work / "app.log")
            pid = process.pid
        cases = prepare_inputs(work, args.frames)
        from gradio_client import Client

        listed = set(Client(url, verbose=False).view_api(print_info=False, return_format="dict")["named_endpoints"])
        endpoints = [e for e in ENDPOINTS if e in listed and arguments(e, cases[0]) is not None]
        skipped = [e for e in ENDPOINTS if e in listed and e not in endpoints]
        print(f"server {url}  endpoints {' '.join(endpoints)}" + (f"  (listed, no recipe: {skipped})" if skipped
                                                                   else ""))
        print("clips " + ", ".join(f"{Path(c['video']).name} {c['size']}" for c in cases))
        show("at start", server_stats(pid, temp_dir))
        warm = []
        client_loop(url, endpoints, cases, 1, 0, work, warm, args.timeout)
        warm_errors = [e for e in warm if e[2]]
        before = server_stats(pid, temp_dir)
        show("after warm-up", before)

        results: list = []
        threads = [threading.Thread(target=client_loop, args=(url, endpoints, cases, args.rounds, i, work, results,
                                                              args.timeout)) for i in range(args.clients)]
        samples, running = [], threading.Event()
        running.set()

        def sample():                  # RSS while the load runs: does it level off?
            while running.is_set():
                samples.append((len(results), server_stats(pid, None).get("rss_mb", 0.0)))
                time.sleep(2)

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic()
        sampler.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        running.clear()
        if pid and samples:
            total = max(len(results), 1)
            marks = [max((rss for done, rss in samples if done <= total * q / 4), default=0.0) for q in (1, 2, 3, 4)]
            print("RSS by quarter of the calls (max MB): " + "  ".join(f"{m:.0f}" for m in marks))
        time.sleep(2)
        after = server_stats(pid, temp_dir)
        show(f"after {args.clients}x{args.rounds}", after)

        print(f"\n{'endpoint':<11}{'calls':>6}{'errors':>7}{'mean s':>8}{'p50 s':>7}{'worst s':>8}")
        for endpoint in endpoints:
            times = [t for e, t, err in results if e == endpoint and not err]
            errors = [err for e, _, err in results if e == endpoint and err]
            calls = len(times) + len(errors)
            print(f"{endpoint:<11}{calls:>6}{len(errors):>7}{statistics.mean(times) if times else 0:>8.2f}"
                  f"{statistics.median(times) if times else 0:>7.2f}{max(times, default=0):>8.2f}")
            for err in errors[:3]:
                print(f"    {err}")
        total_errors = sum(1 for *_, err in results if err) + len(warm_errors)
        print(f"{len(results)} calls in {wall:.0f} s ({len(results) / wall:.2f} calls/s), {total_errors} errors "
              f"(warm-up {len(warm_errors)})")
        for key in ("rss_mb", "fds", "threads", "temp_mb", "temp_files"):
            if key in before:
                print(f"growth {key}: {after[key] - before[key]:+.1f} over {len(results)} calls")

        if args.cache_age and process is not None:
            wait = min(args.cache_age, 3600) + args.cache_age + 5
            print(f"\nwaiting {wait} s for delete_cache (age {args.cache_age} s) ...")
            time.sleep(wait)
            client_loop(url, endpoints[-1:], cases, 1, 0, work, [], args.timeout)   # output_dir() sweeps on a call
            time.sleep(2)
            show("after clean-up", server_stats(pid, temp_dir))
            left = [p for p in temp_dir.rglob("*") if p.is_file()]
            ours = [p for p in left if any(part.startswith("edithub-") for part in p.relative_to(temp_dir).parts)]
            print(f"  left: {len(ours)} files in edithub-* request folders, {len(left) - len(ours)} in gradio's "
                  "cache (the inputs, re-touched by each upload of the same file, and the examples)")
        if args.burst:
            print(f"\nburst: {burst(url, args.burst, cases[0], args.timeout)}")
            show("after burst", server_stats(pid, temp_dir))
        if process is not None:
            log = (work / "app.log").read_text()
            print(f"\nserver log: {log.count('Traceback')} tracebacks, {log.count('refused:')} refusals")
        return 1 if total_errors else 0
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
