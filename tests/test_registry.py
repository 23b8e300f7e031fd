"""The shared model registry: real loading path on tiny local models, LRU eviction, locking, rollback."""
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
import torch

from editors.core.clip import Clip

from editors.core.engines import choose_engine
from editors.core.registry import ModelRegistry, ModelSpec, ModelUnavailable
from editors.models import default_specs, sam2_spec


def save_linear(folder, features):
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(torch.nn.Linear(features, features).state_dict(), folder / "weights.pt")
    return folder


def load_linear(path, device, dtype):
    state = torch.load(path / "weights.pt")
    layer = torch.nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
    layer.load_state_dict(state)
    return layer.to(device=device, dtype=dtype)


def linear_registry(tmp_path, sizes, budget=None, load=load_linear):
    specs = [ModelSpec(name, f"test/{name}", load) for name in sizes]
    registry = ModelRegistry(specs, memory_budget=budget, device="cpu", dtype=torch.float32)
    for name, features in sizes.items():
        registry.set_local_dir(name, save_linear(tmp_path / name, features))
    return registry


def test_tiny_vace_loads_through_production_loader_once(tiny_registry):
    from diffusers import WanVACEPipeline

    pipe = tiny_registry.get("vace-1.3b")
    assert isinstance(pipe, WanVACEPipeline)
    assert tiny_registry.get("vace-1.3b") is pipe
    assert tiny_registry.load_count["vace-1.3b"] == 1
    assert tiny_registry.loaded() == ["vace-1.3b"]
    assert pipe.vae.dtype == torch.float32


def test_models_dir_env_override(tmp_path, monkeypatch):
    save_linear(tmp_path / "models" / "lin", 4)
    registry = ModelRegistry([ModelSpec("lin", "test/lin", load_linear)], device="cpu", dtype=torch.float32)
    monkeypatch.setenv("EDITHUB_MODELS_DIR", str(tmp_path / "models"))
    assert registry.get("lin").in_features == 4


def test_offline_missing_weights_name_the_repo_and_the_fix():
    registry = ModelRegistry(default_specs())
    assert not registry.available("vace-1.3b")
    with pytest.raises(ModelUnavailable) as info:
        registry.get("vace-1.3b")
    message = str(info.value)
    assert "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in message and "EDITHUB_MODELS_DIR" in message
    assert registry.loaded() == []


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown model"):
        ModelRegistry(default_specs()).get("nope")


def test_lru_eviction_keeps_within_budget(tmp_path):
    # 32x32 linear = (1024 + 32) * 4 bytes = 4224 bytes each; budget fits two
    registry = linear_registry(tmp_path, {"a": 32, "b": 32, "c": 32}, budget=2 * 4224 + 100)
    registry.get("a"), registry.get("b")
    registry.get("a")                       # a becomes most recently used
    registry.get("c")                       # evicts b, the least recently used
    assert registry.loaded() == ["a", "c"]
    assert registry.loaded_bytes() <= registry.memory_budget


def test_eviction_uses_spec_size_before_loading(tmp_path):
    specs = [ModelSpec("a", "t/a", load_linear, approx_bytes=4224), ModelSpec("b", "t/b", load_linear, approx_bytes=4224)]
    registry = ModelRegistry(specs, memory_budget=5000, device="cpu", dtype=torch.float32)
    for name in "ab":
        registry.set_local_dir(name, save_linear(tmp_path / name, 32))
    seen_loaded = []

    def spying_load(path, device, dtype):
        seen_loaded.append(registry.loaded())
        return load_linear(path, device, dtype)

    registry.register(ModelSpec("b", "t/b", spying_load, approx_bytes=4224))
    registry.get("a")
    registry.get("b")
    assert seen_loaded == [[]], "a must be evicted before b is built, or both would need the memory at once"


def test_two_threads_load_once(tmp_path):
    calls = []

    def slow_load(path, device, dtype):
        calls.append(1)
        time.sleep(0.3)
        return load_linear(path, device, dtype)

    registry = linear_registry(tmp_path, {"a": 8}, load=slow_load)
    results = []
    threads = [threading.Thread(target=lambda: results.append(registry.get("a"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results[0] is results[1]


def test_failed_load_leaves_registry_as_it_was(tmp_path):
    registry = linear_registry(tmp_path, {"a": 32, "b": 32}, budget=4224 + 100)

    def broken(path, device, dtype):
        raise RuntimeError("CUDA out of memory")

    registry.register(ModelSpec("broken", "t/broken", broken, approx_bytes=4224))
    registry.set_local_dir("broken", tmp_path / "a")
    a = registry.get("a")
    with pytest.raises(ModelUnavailable, match="out of memory"):
        registry.get("broken")
    assert registry.loaded() == ["a"] and registry.get("a") is a
    assert "broken" not in registry.load_count


def test_preload_and_unload(tmp_path):
    registry = linear_registry(tmp_path, {"a": 4, "b": 4})
    registry.preload("a", "b", device="cpu")
    assert registry.loaded() == ["a", "b"]
    registry.unload("a")
    assert registry.loaded() == ["b"]
    registry.unload()
    assert registry.loaded() == []


def test_auto_engine_falls_back_to_classic_with_a_notice(tiny_registry):
    engine, notice = choose_engine("auto", ["vace-1.3b"], tiny_registry)
    assert engine == "classic" and "classic" in notice


def test_explicit_diffusion_needs_weights():
    with pytest.raises(ModelUnavailable):
        choose_engine("diffusion", ["vace-1.3b"], ModelRegistry(default_specs()))


def test_explicit_diffusion_on_cpu_warns(tiny_registry):
    engine, notice = choose_engine("diffusion", ["vace-1.3b"], tiny_registry)
    assert engine == "diffusion" and "CPU" in notice


def test_tiny_sam2_loads_through_production_loader(tiny_sam2):
    folder, overrides = tiny_sam2
    registry = ModelRegistry([sam2_spec("sam2.1-tiny", overrides)])
    registry.set_local_dir("sam2.1-tiny", folder)
    predictor = registry.get("sam2.1-tiny", device="cpu")
    assert hasattr(predictor, "init_state") and predictor.image_size == 256


# ---- GPU eviction, with a fake GPU: models that record where they are moved, a fake mem_get_info ------------
GB = 2**30


class FakeGpuModel:
    """Stands for a pipeline on a GPU: remembers every .to() and counts towards the fake GPU while there."""

    def __init__(self, name, size, device):
        self.name, self.size, self.device, self.moves = name, size, str(device), []

    def to(self, device):
        self.moves.append(str(device))
        self.device = str(device)
        return self


class FakeGpu:
    def __init__(self, total):
        self.total, self.models, self.emptied = total, [], 0

    def free(self):
        return self.total - sum(m.size for m in self.models if m.device.startswith("cuda"))

    def loader(self, name, size):
        def load(path, device, dtype):
            model = FakeGpuModel(name, size, device)
            self.models.append(model)
            return model
        return load


@pytest.fixture
def fake_gpu(monkeypatch):
    gpu = FakeGpu(10 * GB)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (gpu.free(), gpu.total))

    def empty_cache():
        gpu.emptied += 1
    monkeypatch.setattr(torch.cuda, "empty_cache", empty_cache)
    monkeypatch.delenv("EDITHUB_INFERENCE_HEADROOM_GB", raising=False)
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    return gpu


def gpu_registry(tmp_path, gpu, sizes, **options):
    """A registry configured like default_registry() (no device, no budget) whose models are fakes on 'cuda'."""
    specs = [ModelSpec(name, f"test/{name}", gpu.loader(name, size), approx_bytes=size) for name, size in sizes.items()]
    registry = ModelRegistry(specs, **options)
    for name in sizes:
        (tmp_path / name).mkdir(exist_ok=True)
        registry.set_local_dir(name, tmp_path / name)
    return registry


def test_eviction_moves_the_lru_model_off_the_gpu_by_default(tmp_path, fake_gpu):
    registry = gpu_registry(tmp_path, fake_gpu, {"a": 5 * GB, "b": 4 * GB})
    a = registry.get("a", device="cuda")
    registry.get("b", device="cuda")    # 5 GB free < 4 GB + 3 GB headroom: a must leave the GPU first
    assert a.moves == ["cpu"] and fake_gpu.emptied >= 1
    assert registry.loaded() == ["b"] and registry.device_of("b") == "cuda"


def test_headroom_is_settable_and_models_that_fit_stay(tmp_path, fake_gpu, monkeypatch):
    monkeypatch.setenv("EDITHUB_INFERENCE_HEADROOM_GB", "0.5")
    registry = gpu_registry(tmp_path, fake_gpu, {"a": 5 * GB, "b": 4 * GB})
    a = registry.get("a", device="cuda")
    registry.get("b", device="cuda")    # 5 GB free >= 4.5 GB
    assert a.moves == [] and registry.loaded() == ["a", "b"]
    assert ModelRegistry(inference_headroom=0).inference_headroom == 0


def test_only_models_on_the_filled_gpu_are_moved(tmp_path, fake_gpu):
    registry = gpu_registry(tmp_path, fake_gpu, {"cpu-model": 1 * GB, "a": 5 * GB, "b": 4 * GB})
    on_cpu = registry.get("cpu-model", device="cpu")
    a = registry.get("a", device="cuda")
    registry.get("b", device="cuda")
    assert on_cpu.moves == [] and a.moves == ["cpu"]
    assert registry.loaded() == ["cpu-model", "b"] and registry.device_of("cpu-model") == "cpu"


def test_budget_eviction_also_frees_the_gpu(tmp_path, fake_gpu):
    registry = gpu_registry(tmp_path, fake_gpu, {"a": 1 * GB, "b": 1 * GB}, memory_budget=int(1.5 * GB))
    a = registry.get("a", device="cuda")
    registry.get("b", device="cuda")
    assert a.moves == ["cpu"] and registry.loaded() == ["b"]


def test_failed_gpu_load_puts_the_evicted_model_back_on_its_device(tmp_path, fake_gpu):
    registry = gpu_registry(tmp_path, fake_gpu, {"a": 5 * GB, "c": 1 * GB})

    def broken(path, device, dtype):
        assert fake_gpu.free() == 10 * GB, "a must be off the GPU before the big model is built"
        raise RuntimeError("CUDA out of memory")

    registry.register(ModelSpec("broken", "t/broken", broken, approx_bytes=6 * GB))
    registry.set_local_dir("broken", tmp_path / "a")
    c = registry.get("c", device="cpu")
    a = registry.get("a", device="cuda")
    with pytest.raises(ModelUnavailable, match="out of memory"):
        registry.get("broken", device="cuda")
    assert a.moves == ["cpu", "cuda"] and c.moves == []
    assert registry.loaded() == ["c", "a"] and registry.get("a") is a and registry.device_of("a") == "cuda"


# ---- use(): one inference at a time per model, and never evicted while in use ---------------------------------
def test_use_serialises_inference_on_a_shared_model(tmp_path):
    registry = linear_registry(tmp_path, {"a": 8})
    inside, overlaps, outputs = [0], [], []

    def infer():
        with registry.use("a") as layer:
            inside[0] += 1
            overlaps.append(inside[0])
            time.sleep(0.2)               # long enough for the other thread to try to get in
            outputs.append(layer(torch.ones(1, 8)))
            inside[0] -= 1

    threads = [threading.Thread(target=infer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [1, 1] and len(outputs) == 2
    assert registry.load_count["a"] == 1 and registry.in_use() == []


def test_a_model_in_use_is_not_evicted(tmp_path):
    registry = linear_registry(tmp_path, {"a": 32, "b": 32}, budget=4224 + 100)
    entered, release = threading.Event(), threading.Event()

    def hold():
        with registry.use("a"):
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    try:
        registry.get("b")                    # over the budget, but a is busy: it stays
        assert registry.loaded() == ["a", "b"] and registry.in_use() == ["a"]
    finally:
        release.set()
        holder.join()
    registry.get("b")
    registry.unload("b")
    registry.get("b")                        # a is free again: the budget evicts it now
    assert registry.loaded() == ["b"]


def test_a_gpu_model_in_use_stays_on_the_gpu(tmp_path, fake_gpu):
    registry = gpu_registry(tmp_path, fake_gpu, {"a": 5 * GB, "b": 4 * GB})
    with registry.use("a", device="cuda") as a:
        registry.get("b", device="cuda")
        assert a.moves == [] and registry.loaded() == ["a", "b"]
    assert registry.in_use() == []


def test_sam2_and_vace_callers_run_inside_use(tiny_sam2, tiny_registry):
    from editors.core.prompts import Prompt
    from editors.diffusion import vace
    from editors.diffusion.sam2_video import segment_video

    folder, overrides = tiny_sam2
    registry = ModelRegistry([sam2_spec("sam2.1-tiny", overrides)], device="cpu")
    registry.set_local_dir("sam2.1-tiny", folder)
    predictor, seen = registry.get("sam2.1-tiny"), []
    predictor.init_state = lambda *a, _real=predictor.init_state, **k: seen.append(registry.in_use()) or _real(*a, **k)
    segment_video(np.zeros((2, 32, 32, 3), np.uint8), [Prompt(0, 1, [(8, 8, 1)])], registry=registry)
    assert seen == [["sam2.1-tiny"]] and registry.in_use() == []

    pipe = tiny_registry.get("vace-1.3b")
    real_call = type(pipe).__call__
    type(pipe).__call__ = lambda self, *a, **k: seen.append(tiny_registry.in_use()) or real_call(self, *a, **k)
    try:
        vace.generate(np.zeros((5, 32, 32, 3), np.uint8), np.ones((5, 32, 32), np.float32), steps=1,
                      registry=tiny_registry)
    finally:
        type(pipe).__call__ = real_call
    assert seen[1:] == [["vace-1.3b"]] and tiny_registry.in_use() == []


# ---- engine choice per model: cpu_ok, weights, pick_sam2 ------------------------------------------------------
def test_auto_picks_sam2_on_a_cpu_when_its_weights_are_there(tiny_sam2, monkeypatch):
    from editors import segment
    from editors.core.prompts import Prompt

    folder, overrides = tiny_sam2
    monkeypatch.setenv("EDITHUB_MODELS_DIR", str(folder.parent))      # .../sam2.1-tiny/sam2.1_hiera_tiny.pt
    registry = ModelRegistry([sam2_spec("sam2.1-tiny", overrides)], device="cpu")
    assert choose_engine("auto", ["sam2.1-tiny"], registry) == ("diffusion", None)
    assert registry.spec("sam2.1-tiny").cpu_ok
    clip = Clip(np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), np.uint8), Fraction(10))
    out = segment.run(clip, [Prompt(0, 1, [(8, 8, 1)])], engine="auto", registry=registry)
    assert out.engine == "diffusion" and out.notice is None


def test_auto_segment_without_sam2_weights_is_classic_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("EDITHUB_MODELS_DIR", str(tmp_path))
    engine, notice = choose_engine("auto", ["sam2.1-tiny"], ModelRegistry(default_specs()))
    assert engine == "classic"
    assert "not available" in notice and "hf download facebook/sam2.1-hiera-tiny" in notice and "classic" in notice


def test_auto_needs_a_gpu_for_vace_and_says_so(tiny_registry, monkeypatch):
    from editors.core import engines

    engine, notice = choose_engine("auto", ["vace-1.3b"], tiny_registry)
    assert engine == "classic" and "No GPU" in notice and "vace-1.3b" in notice
    assert not tiny_registry.spec("vace-1.3b").cpu_ok
    monkeypatch.setattr(engines, "has_gpu", lambda: True)
    assert choose_engine("auto", ["vace-1.3b"], tiny_registry) == ("diffusion", None)


def test_missing_weights_hint_names_hf_download():
    with pytest.raises(ModelUnavailable, match="`hf download Wan-AI/Wan2.1-VACE-1.3B-diffusers`"):
        ModelRegistry(default_specs()).get("vace-1.3b")


def test_pick_sam2_prefers_a_larger_model_on_a_gpu_only_when_its_weights_are_here(tmp_path, monkeypatch):
    from editors.core.engines import pick_sam2

    monkeypatch.setenv("EDITHUB_MODELS_DIR", str(tmp_path))
    registry = ModelRegistry(default_specs())
    assert pick_sam2(registry, gpu=True) == "sam2.1-tiny"
    (tmp_path / "sam2.1-base-plus").mkdir()
    assert pick_sam2(registry, gpu=True) == "sam2.1-base-plus"
    assert pick_sam2(registry, gpu=False) == "sam2.1-tiny"
    (tmp_path / "sam2.1-large").mkdir()
    assert pick_sam2(registry, gpu=True) == "sam2.1-large"
