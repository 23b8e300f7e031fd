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
            # ZeroGPU pickles arguments into its GPU worker: a progress closure cannot travel
            if kwargs.get("progress") is not None and not _picklable(kwargs["progress"]):
                kwargs["progress"] = None
            return on_gpu(*args, **kwargs)
        return call

    return wrap


def _picklable(value) -> bool:
    import pickle

    try:
        pickle.dumps(value)
        return True
    except Exception:
        return False
