"""The replace editor's diffusion engine (GenVideo on VACE) on the tiny random VACE, through the real registry
loader: InvEdit, latent correction, background protection, the steered pipeline, and the pieces alone."""
from fractions import Fraction
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from editors import replace
from editors.core.clip import Clip
from editors.diffusion import invedit
from editors.diffusion import latent_correction as lc
from editors.diffusion import replace as engine


def small_scene(count=9, size=64):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (count, size, size, 3), np.uint8)
    source = np.zeros((count, size, size), bool)
    for t in range(count):
        source[t, 22:42, 12 + t:28 + t] = True
    frames[source] = (250, 20, 20)
    target = np.zeros((34, 14, 4), np.uint8)
    target[..., :3] = (20, 200, 40)
    target[2:32, 2:12, 3] = 255
    return Clip(frames, Fraction(24)), source, target


def test_diffusion_replace_runs_every_genvideo_stage_through_the_registry(tiny_registry, monkeypatch):
    steers = []

    class Recording(engine.GenVideoSteer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            steers.append(self)

    calls = []
    original = invedit.difference_map
    monkeypatch.setattr(engine, "GenVideoSteer", Recording)
    monkeypatch.setattr(invedit, "difference_map", lambda *a, **k: calls.append(1) or original(*a, **k))
    clip, source, target = small_scene()
    out = replace.run(clip, source, target, engine="diffusion", steps=5, registry=tiny_registry)
    assert out.engine == "diffusion"
    assert out.clip.frames.shape == clip.frames.shape
    steer = steers[0]
    assert calls and steer.work is not None                       # InvEdit ran on the window
    regenerated = steer.mask(clip.frames.shape[1:3])
    assert regenerated[source].all()                              # the old object is always regenerated
    assert regenerated[out.placement.silhouettes()].all()          # and so is the placed silhouette
    assert steer.corrected_steps == 1                              # latent correction: the first fifth of 5 steps
    assert np.array_equal(out.masks, out.placement.silhouettes())
    untouched = ~out.changed
    assert untouched.any() and np.array_equal(out.clip.frames[untouched], clip.frames[untouched])
    pipe = tiny_registry.get("vace-1.3b")
    assert type(pipe.scheduler).__name__ == "UniPCMultistepScheduler"   # the shared pipeline is left as it was
    assert all(not block._forward_hooks for block in pipe.transformer.blocks)


def test_steered_pipeline_shares_modules_with_a_first_order_scheduler(tiny_registry):
    pipe = tiny_registry.get("vace-1.3b")
    steered = engine.steered_pipeline(pipe)
    assert steered.transformer is pipe.transformer and steered.vae is pipe.vae
    assert type(steered.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert steered.scheduler.config.shift == pipe.scheduler.config.flow_shift
    assert {"noise_pred", "conditioning_latents"} <= set(steered._callback_tensor_inputs)
    assert "noise_pred" not in type(pipe)._callback_tensor_inputs


def test_neighbour_fields_find_the_shifted_features_and_blend_moves_latents_along():
    torch.manual_seed(0)
    base = torch.randn(4, 6, 8)                                   # (h, w, C) tokens of frame 0
    shifted = torch.roll(base, shifts=1, dims=1)                  # frame 1: everything one token to the right
    features = torch.stack([base, shifted, torch.roll(shifted, 1, dims=1)])
    mask = torch.ones(3, 4, 6, dtype=torch.bool)
    fields = lc.neighbour_fields(features, mask)
    # token (r, c) of frame 1 is token (r, c - 1) of frame 0
    expected = (torch.arange(4)[:, None] * 6 + (torch.arange(6)[None] - 1) % 6).reshape(-1)
    assert torch.equal(fields[(1, -1)], expected)
    # latents that move like the features are unchanged by the blend (every neighbour agrees)
    cells = torch.randn(1, 5, 4 * 2, 6 * 2)
    latents = torch.stack([cells, torch.roll(cells, 2, dims=3), torch.roll(cells, 4, dims=3)], dim=2)
    blended = lc.blend(latents, fields, torch.ones(3, 8, 12, dtype=torch.bool))
    assert torch.allclose(blended, latents, atol=1e-5)
    # outside the mask nothing moves; weights sum to 1 (a constant stays constant)
    flat = torch.ones(1, 2, 3, 8, 12)
    inside = torch.zeros(3, 8, 12, dtype=torch.bool)
    inside[1, :4] = True
    assert torch.allclose(lc.blend(flat * 3, fields, inside, weights=(0.3, 0.4, 0.3)), flat * 3)


def test_feature_tap_keeps_the_first_call_and_comes_off():
    block = torch.nn.Linear(3, 3)
    with lc.FeatureTap(block) as tap:
        first = block(torch.ones(1, 4, 3))
        block(torch.zeros(1, 4, 3))                               # the unconditional pass: not kept
        assert torch.equal(tap.frames((1, 2, 2)).reshape(1, 4, 3), first.detach())
        tap.reset()
        assert tap.frames((1, 2, 2)) is None
    assert not block._forward_hooks


def test_background_protection_pins_the_outside_to_the_renoised_source():
    blocks = torch.nn.ModuleList([torch.nn.Identity(), torch.nn.Identity()])
    steered = SimpleNamespace(transformer=SimpleNamespace(blocks=blocks, config=SimpleNamespace(patch_size=(1, 2, 2))))
    frames, h, w = 3, 4, 4
    z_source = torch.randn(1, 2, frames, h, w)
    noise = torch.randn(1, 2, frames + 1, h, w)
    latent_mask = torch.zeros(frames, h, w, dtype=torch.bool)
    latent_mask[1, 1:3, 1:3] = True
    steer = engine.GenVideoSteer(np.zeros((1, 8, 8), bool), np.zeros((1, 8, 8), bool), None, None)
    callback = steer._callback(steered, z_source, noise, latent_mask, 1, {"num_inference_steps": 2})
    pipeline = SimpleNamespace(scheduler=SimpleNamespace(sigmas=torch.tensor([1.0, 0.4, 0.0])))
    latents = torch.randn(1, 2, frames + 1, h, w)
    middle = callback(pipeline, 0, None, {"latents": latents})["latents"]
    outside = ~latent_mask[None, None].expand(1, 2, frames, h, w)
    assert torch.allclose(middle[:, :, 1:][outside], invedit.renoise(z_source, noise[:, :, 1:], 0.4)[outside])
    assert torch.equal(middle[:, :, 1:][~outside], latents[:, :, 1:][~outside])      # inside: the model's
    last = callback(pipeline, 1, None, {"latents": latents})["latents"]
    assert torch.allclose(last[:, :, 1:][outside], z_source[outside])                  # sigma 0: the source


def test_invedit_mask_thresholds_inside_the_region_and_keeps_the_core():
    count, size = 5, 64
    difference = np.zeros((2, 8, 8), np.float32)
    difference[:, 2:5, 2:4] = 1.0                                  # where the conditionings disagree
    difference[:, 7, 7] = 0.2
    region = np.zeros((count, size, size), bool)
    region[:, 8:48, 8:48] = True
    core = np.zeros_like(region)
    core[:, 30:40, 30:40] = True
    mask = invedit.mask_from_difference(difference, region, core)
    assert mask[core].all() and not mask[~(region | core)].any()
    assert mask[:, 20:36, 18:30].all()                             # the disagreement, at pixel size
    assert not mask[:, 56:, 56:].any()
    assert invedit.latent_frame_of(0) == 0 and invedit.latent_frame_of(4) == 1 and invedit.latent_frame_of(5) == 2


@pytest.mark.parametrize("frame,expected", [(0, 0), (1, 1), (4, 1), (8, 2)])
def test_latent_frames_of_wans_causal_vae(frame, expected):
    assert invedit.latent_frame_of(frame) == expected
