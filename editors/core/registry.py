"""The shared model registry: every model the hub uses is loaded here, lazily, once, and placed on a device.

- `get(name)` resolves weights (a local override directory, else the Hub at the spec's revision), builds the
  model with the spec's loader, places it on the device and keeps it in most-recently-used order.
- Before a model is placed, least recently used models are evicted (moved off the GPU, then dropped) until the
  GPU's measured free memory holds the model plus an inference headroom (EDITHUB_INFERENCE_HEADROOM_GB, default
  3) and the optional budget (EDITHUB_MODEL_BUDGET_GB) holds every loaded model; if the new load fails the evicted
  models are put back where they were: a failed load leaves the registry as it was.
- One lock per model name: two requests for the same model load it once.
- `with registry.use(name) as model:` for inference: one caller at a time per model, and not evicted meanwhile.
- Offline or missing weights raise `ModelUnavailable`, which names the repo and how to provide it.

Local overrides: `registry.set_local_dir(name, path)`, or env `EDITHUB_MODELS_DIR=/dir` holding `/dir/<name>/`.
The catalogue of the hub's models (specs, loaders, the SAM2 table) is `editors.models`; this module is machinery.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    name: str                      # "vace-1.3b", "sam2.1-tiny"
    repo_id: str                   # Hub repo the weights come from
    load: Callable[[Path, Any, Any], Any]   # (snapshot dir, torch.device, torch.dtype) -> model
    revision: str | None = None    # pinned commit (None = the repo's main branch)
    approx_bytes: int = 0          # memory on the device once placed, for eviction before loading
    allow_patterns: tuple[str, ...] | None = None   # only these files are downloaded
    description: str = ""
    cpu_ok: bool = False           # fast enough on a CPU for "auto" to pick it on a machine without a GPU


class ModelUnavailable(UserError):
    """The weights are not here and cannot be fetched."""


def model_bytes(model) -> int:
    """Parameter + buffer bytes of a torch module or of a diffusers pipeline's components."""
    modules = []
    if hasattr(model, "components"):
        modules = [m for m in model.components.values() if hasattr(m, "parameters")]
    elif hasattr(model, "parameters"):
        modules = [model]
    elif hasattr(model, "model") and hasattr(model.model, "parameters"):
        modules = [model.model]
    total = 0
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            total += tensor.numel() * tensor.element_size()
    return total


def _move(model, device) -> None:
    if hasattr(model, "to"):
        model.to(device)


def _cuda_index(device) -> int | None:
    """The CUDA device index of `device` ("cuda" counts as 0), None when it is not a CUDA device."""
    text = str(device)
    if not text.startswith("cuda"):
        return None
    return int(text.split(":", 1)[1]) if ":" in text else 0


def _free_cuda_bytes(device) -> int | None:
    """Free memory the driver reports on `device`, or None when it cannot be measured."""
    from .devices import on_zero_gpu

    if on_zero_gpu():
        return None     # there the GPU is virtual outside @spaces.GPU calls, and ZeroGPU manages its memory
    try:
        import torch

        return int(torch.cuda.mem_get_info(_cuda_index(device))[0])
    except Exception:   # no CUDA build / driver: nothing to measure, the budget alone decides
        return None


def _empty_cuda_cache() -> None:
    try:
        import torch

        torch.cuda.empty_cache()     # blocks the caching allocator keeps are not free to mem_get_info
    except Exception:
        pass


@dataclass
class _Loaded:
    model: Any
    size: int          # bytes on its device
    device: Any        # where it lives: eviction moves only what is on the GPU being filled


DEFAULT_HEADROOM_GB = 3.0   # activations of one VACE-1.3B window at 832x480 need a few GB beyond the weights


class ModelRegistry:
    def __init__(self, specs=(), *, memory_budget: int | None = None, device=None, dtype=None,
                 inference_headroom: int | None = None):
        self._specs: dict[str, ModelSpec] = {}
        self._local_dirs: dict[str, Path] = {}
        self._hub_answers: dict[str, bool] = {}
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()   # LRU first
        self._state = threading.RLock()
        self._name_locks: dict[str, threading.Lock] = {}
        # One placement at a time: two loads must not both count the same free GPU memory as theirs.
        self._placing = threading.Lock()
        self._in_use: dict[str, int] = {}                 # name -> callers inside use(); eviction skips them
        self._inference_locks: dict[str, threading.RLock] = {}
        self.memory_budget = memory_budget
        if inference_headroom is None:
            headroom_gb = float(os.environ.get("EDITHUB_INFERENCE_HEADROOM_GB", DEFAULT_HEADROOM_GB))
            inference_headroom = int(headroom_gb * 2**30)
        self.inference_headroom = inference_headroom   # free GPU memory kept beyond the weights, for activations
        self.device = device
        self.dtype = dtype
        self.load_count: dict[str, int] = {}
        for spec in specs:
            self.register(spec)

    # ---- specs and weights -------------------------------------------------------------------------
    def register(self, spec: ModelSpec) -> None:
        with self._state:
            self._specs[spec.name] = spec

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UserError(f"Unknown model {name!r}; known: {', '.join(sorted(self._specs))}.") from None

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def set_local_dir(self, name: str, path) -> None:
        """Use pre-downloaded weights in `path` (a Hub-style snapshot folder) instead of the Hub."""
        self.spec(name)
        self._local_dirs[name] = Path(path)

    def _local_dir(self, name: str) -> Path | None:
        if name in self._local_dirs:
            return self._local_dirs[name]
        root = os.environ.get("EDITHUB_MODELS_DIR")
        if root and (Path(root) / name).is_dir():
            return Path(root) / name
        return None

    def download_hint(self, name: str) -> str:
        """How to provide the weights of `name` (huggingface_hub 2.x installs the `hf` command)."""
        spec = self.spec(name)
        rev = f" --revision {spec.revision}" if spec.revision else ""
        return f"`hf download {spec.repo_id}{rev}`, or put the files in $EDITHUB_MODELS_DIR/{spec.name}/"

    def _how_to_provide(self, spec: ModelSpec) -> str:
        return (f"Download it where the Hub is reachable ({self.download_hint(spec.name)}), "
                f"or run with --engine classic.")

    def weights_dir(self, name: str, *, download: bool = True) -> Path:
        """Local folder with the model's files; downloads (pinned revision) when allowed and needed."""
        spec = self.spec(name)
        local = self._local_dir(name)
        if local is not None:
            if not local.is_dir():
                raise ModelUnavailable(f"Weights folder for {name} not found: {local}. {self._how_to_provide(spec)}")
            return local
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        try:
            return Path(snapshot_download(spec.repo_id, revision=spec.revision, allow_patterns=spec.allow_patterns,
                                          local_files_only=offline or not download))
        except LocalEntryNotFoundError:
            why = "the Hub is offline (HF_HUB_OFFLINE=1)" if offline else "they are not in the local cache"
            raise ModelUnavailable(f"Weights for {name} ({spec.repo_id}) are not available: {why}. "
                                   f"{self._how_to_provide(spec)}") from None
        except Exception as exc:   # network errors, gated repos, bad revisions: all mean "not available"
            raise ModelUnavailable(f"Could not fetch weights for {name} ({spec.repo_id}): {exc}. "
                                   f"{self._how_to_provide(spec)}") from None

    def available(self, name: str, *, local_only: bool = False) -> bool:
        """True when the weights are on this machine (override folder or Hub cache) or, unless `local_only`,
        the Hub answers for the repo (asked once per model, with a short timeout)."""
        if name in self._loaded:
            return True
        try:
            self.weights_dir(name, download=False)
            return True
        except ModelUnavailable:
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
            if local_only or offline or self._local_dir(name) is not None:
                return False
            return self._hub_has(name)

    def _hub_has(self, name: str) -> bool:
        with self._state:
            if name in self._hub_answers:
                return self._hub_answers[name]
        if os.environ.get("SPACE_ID"):
            answer = True           # a Space reaches the Hub; no need to ask
        else:
            from huggingface_hub import HfApi

            spec = self.spec(name)
            try:
                HfApi().model_info(spec.repo_id, revision=spec.revision, timeout=5)
                answer = True
            except Exception:       # no network, firewall, gated or missing repo: all mean "not available"
                answer = False
        with self._state:
            self._hub_answers[name] = answer
        return answer

    # ---- loading -----------------------------------------------------------------------------------
    def _lock_for(self, name: str) -> threading.Lock:
        with self._state:
            return self._name_locks.setdefault(name, threading.Lock())

    def _victim(self, needed: int, device, keep: str) -> str | None:
        """The least recently used model to evict before `needed` bytes go to `device`, or None.

        ComfyUI's free_memory rule: evict while the device's measured free memory is below the model's size plus
        an inference headroom (only models on that GPU free anything there), or while the budget is exceeded.
        Models in use (`use()`) and the one being placed are never chosen.
        """
        with self._state:
            candidates = [n for n in self._loaded if n != keep and not self._in_use.get(n)]
            if not candidates:
                return None
            if self.memory_budget is not None and self.loaded_bytes() + needed > self.memory_budget:
                return candidates[0]
            index = _cuda_index(device)
            if index is None:
                return None
            on_device = [n for n in candidates if _cuda_index(self._loaded[n].device) == index]
            if not on_device:
                return None
            free = _free_cuda_bytes(device)
            return on_device[0] if free is not None and free < needed + self.inference_headroom else None

    def _evict_for(self, needed: int, device, keep: str) -> list[tuple[str, _Loaded]]:
        """Evict least recently used models until `needed` more bytes fit on `device`; returns them, in order."""
        evicted = []
        while (name := self._victim(needed, device, keep)) is not None:
            with self._state:
                entry = self._loaded.pop(name)
            evicted.append((name, entry))
            if _cuda_index(entry.device) is not None:
                log.info("evicting %s from %s", name, entry.device)
                _move(entry.model, "cpu")   # frees the GPU even while a stale reference is held somewhere
                _empty_cuda_cache()         # so the next measurement sees the memory
        return evicted

    def get(self, name: str, device=None, dtype=None):
        """The loaded model `name` (lazy; most recently used order; thread-safe).

        A model already loaded is returned where it lives, whatever `device` says.
        """
        return self._acquire(name, device, dtype)

    @contextlib.contextmanager
    def use(self, name: str, device=None, dtype=None):
        """`with registry.use(name) as model:` run one inference on the shared model.

        Loads lazily like get(); holds the model's inference lock for the whole block, so concurrent callers of
        one pipeline wait for each other (its schedulers and caches are not re-entrant); and marks the model in
        use, so eviction for another model skips it. Nested use() of the same model in one thread is allowed.
        """
        model = self._acquire(name, device, dtype, pin=True)   # pinned before waiting: a waiter keeps it too
        try:
            with self._inference_lock(name):
                yield model
        finally:
            with self._state:
                self._in_use[name] -= 1
                if not self._in_use[name]:
                    del self._in_use[name]

    def in_use(self) -> list[str]:
        """Models inside a use() block now (or waiting for one)."""
        with self._state:
            return sorted(self._in_use)

    def _inference_lock(self, name: str) -> threading.RLock:
        with self._state:
            return self._inference_locks.setdefault(name, threading.RLock())

    def _acquire(self, name: str, device=None, dtype=None, *, pin: bool = False):
        spec = self.spec(name)
        with self._state:
            if name in self._loaded:
                return self._hit(name, pin)
        with self._lock_for(name):
            with self._state:                       # another thread may have loaded it meanwhile
                if name in self._loaded:
                    return self._hit(name, pin)
            from .devices import pick_device, pick_dtype

            device = device or self.device or pick_device()
            dtype = dtype or self.dtype or pick_dtype(device)
            path = self.weights_dir(name)
            with self._placing:
                order = self.loaded()
                evicted = self._evict_for(spec.approx_bytes, device, keep=name)
                try:
                    log.info("loading %s from %s onto %s (%s)", name, path, device, dtype)
                    model = spec.load(path, device, dtype)
                    size = model_bytes(model) or spec.approx_bytes
                except BaseException as exc:
                    _free_memory()                  # what the failed load left behind, before the others return
                    self._restore(evicted, order)
                    if isinstance(exc, (UserError, KeyboardInterrupt)):
                        raise
                    raise ModelUnavailable(f"Loading {name} from {path} failed: {type(exc).__name__}: {exc}") from exc
                with self._state:
                    self._loaded[name] = _Loaded(model, size, device)
                    self.load_count[name] = self.load_count.get(name, 0) + 1
                    if pin:
                        self._in_use[name] = self._in_use.get(name, 0) + 1
                # the measured size may exceed the spec's estimate, and inference still needs its headroom
                evicted += self._evict_for(0, device, keep=name)
            del evicted
            _free_memory()
            return model

    def _hit(self, name: str, pin: bool):
        """A loaded model, marked most recently used (and in use, atomically, when pinned). Under `_state`."""
        self._loaded.move_to_end(name)
        if pin:
            self._in_use[name] = self._in_use.get(name, 0) + 1
        return self._loaded[name].model

    def _restore(self, evicted, order: list[str]) -> None:
        """Put evicted models back where they lived, in their old LRU places (`order`, LRU first, from before)."""
        for name, entry in evicted:
            with self._state:
                if name in self._loaded:            # another thread loaded it again meanwhile: keep that one
                    continue
            if _cuda_index(entry.device) is not None:
                try:
                    _move(entry.model, entry.device)
                except Exception as exc:            # it does not fit any more: dropped, loads again when asked
                    log.warning("could not put %s back on %s: %s", name, entry.device, exc)
                    continue
            with self._state:
                self._loaded[name] = entry
        with self._state:
            for name in reversed(order):
                if name in self._loaded:
                    self._loaded.move_to_end(name, last=False)

    def preload(self, *names: str, device="cuda") -> None:
        """ZeroGPU's documented pattern: build models at import time and place them on cuda there."""
        for name in names:
            self.get(name, device=device)

    def unload(self, name: str | None = None) -> None:
        with self._state:
            names = [name] if name else list(self._loaded)
            dropped = [(n, self._loaded.pop(n)) for n in names if n in self._loaded]
        for n, entry in dropped:
            if _cuda_index(entry.device) is not None and not self._in_use.get(n):
                _move(entry.model, "cpu")   # a reference kept elsewhere must not pin GPU memory
        del dropped
        _free_memory()

    def loaded(self) -> list[str]:
        """Loaded model names, least recently used first."""
        with self._state:
            return list(self._loaded)

    def device_of(self, name: str):
        """Where the loaded model `name` lives (None when it is not loaded)."""
        with self._state:
            entry = self._loaded.get(name)
            return entry.device if entry else None

    def loaded_bytes(self) -> int:
        with self._state:
            return sum(entry.size for entry in self._loaded.values())


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


@functools.cache
def default_registry() -> ModelRegistry:
    """The process-wide registry the editors use (built on first use, never at import)."""
    from ..models import default_specs   # the catalogue imports this module: resolve it only when first used

    budget = os.environ.get("EDITHUB_MODEL_BUDGET_GB")
    return ModelRegistry(default_specs(), memory_budget=int(float(budget) * 2**30) if budget else None)


# The catalogue used to live here; old imports (`from editors.core.registry import default_specs`) keep working.
_MOVED_TO_MODELS = ("default_specs", "load_vace", "load_sam2", "SAM2_MODELS")


def __getattr__(name):
    if name in _MOVED_TO_MODELS:
        from .. import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
