"""Device choice and the ZeroGPU wrapper off Spaces."""
import torch

from editors.core import devices


def test_gpu_wrapper_is_a_plain_call_off_spaces(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)

    def work(x, progress=None):
        return x * 2, progress

    wrapped = devices.gpu(duration=lambda x, progress=None: 10)(work)
    assert wrapped is work and wrapped(3, progress="p") == (6, "p")


def test_cpu_device_and_dtype(monkeypatch):
    monkeypatch.setenv("EDITHUB_DEVICE", "cpu")
    devices.has_gpu.cache_clear()
    assert devices.pick_device().type == "cpu" and not devices.has_gpu()
    assert devices.pick_dtype(torch.device("cpu")) == torch.float32


REPORTS = []


def record(fraction, desc=""):
    REPORTS.append((fraction, desc))


def test_progress_adapter_pickles_round_trip_and_forwards():
    import pickle

    REPORTS.clear()
    copy = pickle.loads(pickle.dumps(devices.Progress(record)))
    copy(1.7, "step 3/3")
    copy(0.25, desc="tracking")
    assert REPORTS == [(1.0, "step 3/3"), (0.25, "tracking")]
    lost = pickle.loads(pickle.dumps(devices.Progress(lambda f, desc="": None)))   # cannot travel: left behind
    assert lost.target is None and lost(0.5, "x") is None


def test_gpu_wrapper_keeps_a_progress_adapter_on_zero_gpu(monkeypatch):
    import pickle
    import sys
    import types

    seen = {}

    def fake_gpu(duration=60):     # like ZeroGPU: the arguments travel to the worker by pickle
        def decorate(fn):
            def run(*args, **kwargs):
                args, kwargs = pickle.loads(pickle.dumps((args, kwargs)))
                return fn(*args, **kwargs)
            return run
        return decorate

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    monkeypatch.setenv("SPACES_ZERO_GPU", "1")

    def work(x, progress=None):
        seen["progress"] = progress
        progress(0.5, "half")
        return x + 1

    REPORTS.clear()
    assert devices.gpu(duration=10)(work)(1, progress=devices.Progress(record)) == 2
    assert isinstance(seen["progress"], devices.Progress) and REPORTS == [(0.5, "half")]
    closure = devices.gpu(duration=10)(lambda x, progress=None: progress)
    assert closure(1, progress=lambda f, desc="": None) is None    # a closure still cannot travel: dropped
