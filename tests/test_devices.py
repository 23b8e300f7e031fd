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
