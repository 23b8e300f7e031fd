"""Where models run: device and dtype choice, and the ZeroGPU wrapper.

torch is imported lazily so the classic engine, the CLI and the UI start without paying for it.
"""
from __future__ import annotations

import functools
import os


def on_zero_gpu() -> bool:
    """True on a Hugging Face ZeroGPU Space (the `spaces` package then hands out a GPU per call)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


@functools.cache
def has_gpu() -> bool:
    if os.environ.get("EDITHUB_DEVICE", "").startswith("cpu"):
        return False
    if on_zero_gpu():
        return True          # CUDA only appears inside @spaces.GPU calls there
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pick_device(prefer: str | None = None):
    """torch.device to run models on: EDITHUB_DEVICE or `prefer` if given, else cuda when present, else cpu."""
    import torch

    choice = prefer or os.environ.get("EDITHUB_DEVICE")
    if choice:
        return torch.device(choice)
    return torch.device("cuda" if has_gpu() else "cpu")


def pick_dtype(device):
    """bfloat16 on GPUs that support it (Wan was trained in it), float32 on CPU (bf16 matmuls crawl there)."""
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.bfloat16 if (on_zero_gpu() or torch.cuda.is_bf16_supported()) else torch.float16
    return torch.float32


def gpu(duration=60):
    """`@gpu(duration=seconds_or_fn)`: spaces.GPU on ZeroGPU, a plain call everywhere else.

    `duration` may be a function of the same arguments returning seconds, so short clips ask for short slots.
    """
    def wrap(fn):
        if not on_zero_gpu():
            return fn
        import spaces

        on_gpu = spaces.GPU(duration=duration)(fn)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            # ZeroGPU pickles arguments into its GPU worker: a progress closure cannot travel (pass a Progress)
            if kwargs.get("progress") is not None and not _picklable(kwargs["progress"]):
                kwargs["progress"] = None
            return on_gpu(*args, **kwargs)
        return call

    return wrap


class Progress:
    """A picklable `progress(fraction, desc)` callback forwarding to `target`, e.g. a gr.Progress.

    ZeroGPU runs @spaces.GPU functions in a worker process and pickles their arguments; a lambda around gr.Progress
    cannot travel, so gpu() used to drop it. This top-level class can, and gr.Progress pickles too: in the worker
    its updates reach the browser through ZeroGPU's relay of gradio's queue. The fraction is clamped to [0, 1].
    A target that cannot be pickled is left behind (the copy reports nothing) rather than failing the call.
    """

    __slots__ = ("target",)

    def __init__(self, target):
        self.target = target

    def __call__(self, fraction, desc: str = "") -> None:
        if self.target is not None:
            self.target(min(max(float(fraction), 0.0), 1.0), desc=desc)

    def __getstate__(self):
        return {"target": self.target if _picklable(self.target) else None}

    def __setstate__(self, state):
        self.target = state["target"]

    def __repr__(self):
        return f"Progress({self.target!r})"


def _picklable(value) -> bool:
    import pickle

    try:
        pickle.dumps(value)
        return True
    except Exception:
        return False
