"""The hub's model catalogue: which models exist, where their weights live and how each is built.

The machinery that loads, places and evicts them is `editors.core.registry`; this module only describes them.
Nothing here imports torch, diffusers or sam2 until a loader runs.

Revisions: None follows the repo's main branch; set EDITHUB_REVISION_<NAME> (e.g. EDITHUB_REVISION_VACE_1_3B,
EDITHUB_REVISION_SAM2_1_TINY) to a commit id to pin a deployment.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from .core.registry import ModelSpec

GB = 2**30

# Hub id -> (sam2 config inside the sam2 package, checkpoint file in the repo): sam2's own HF_MODEL_ID_TO_FILENAMES.
SAM2_MODELS = {
    "facebook/sam2.1-hiera-tiny": ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt"),
    "facebook/sam2.1-hiera-small": ("configs/sam2.1/sam2.1_hiera_s.yaml", "sam2.1_hiera_small.pt"),
    "facebook/sam2.1-hiera-base-plus": ("configs/sam2.1/sam2.1_hiera_b+.yaml", "sam2.1_hiera_base_plus.pt"),
    "facebook/sam2.1-hiera-large": ("configs/sam2.1/sam2.1_hiera_l.yaml", "sam2.1_hiera_large.pt"),
}
# Small enough (39 M / 46 M parameters) to be auto's segmenter on a CPU; base-plus and large are not.
SAM2_CPU_OK = {"sam2.1-tiny", "sam2.1-small"}
# registry name -> Hub id, smallest first (pick_sam2 prefers the last one whose weights are here)
SAM2_NAMES = {
    "sam2.1-tiny": "facebook/sam2.1-hiera-tiny",
    "sam2.1-small": "facebook/sam2.1-hiera-small",
    "sam2.1-base-plus": "facebook/sam2.1-hiera-base-plus",
    "sam2.1-large": "facebook/sam2.1-hiera-large",
}


def load_vace(path: Path, device, dtype):
    """Wan2.1-VACE in diffusers format; the VAE stays float32 (Wan's VAE is unstable in half precision)."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACEPipeline

    vae = AutoencoderKLWan.from_pretrained(path, subfolder="vae", dtype=torch.float32)
    pipe = WanVACEPipeline.from_pretrained(path, vae=vae, dtype=dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_sam2(path: Path, device, dtype, *, repo_id: str = "facebook/sam2.1-hiera-tiny",
              overrides: tuple[str, ...] = ()):
    """SAM2.1 video predictor from a snapshot holding the official checkpoint file of `repo_id`."""
    from sam2.build_sam import build_sam2_video_predictor

    config, checkpoint = SAM2_MODELS[repo_id]
    predictor = build_sam2_video_predictor(config, ckpt_path=str(Path(path) / checkpoint), device=str(device),
                                           mode="eval", hydra_overrides_extra=list(overrides))
    if str(device).startswith("cpu"):
        # SAM2 stores its memory bank in bfloat16, which assumes CUDA autocast; without it (CPU) the memory
        # attention would mix bf16 inputs with fp32 weights. Feed it float32.
        predictor.memory_attention.register_forward_pre_hook(_inputs_to_float32, with_kwargs=True)
    return predictor


def _inputs_to_float32(module, args, kwargs):
    import torch

    def cast(value):
        return value.float() if isinstance(value, torch.Tensor) and value.dtype == torch.bfloat16 else value

    return tuple(cast(a) for a in args), {k: cast(v) for k, v in kwargs.items()}


def revision(name: str) -> str | None:
    """The commit pinned for `name` by EDITHUB_REVISION_<NAME>, or None (the repo's main branch)."""
    return os.environ.get("EDITHUB_REVISION_" + name.upper().replace("-", "_").replace(".", "_")) or None


def sam2_spec(name: str = "sam2.1-tiny", overrides: tuple[str, ...] = ()) -> ModelSpec:
    """The spec of one SAM2.1 size; `overrides` are hydra overrides (tests build a 256-pixel tiny model)."""
    repo_id = SAM2_NAMES[name]
    checkpoint = SAM2_MODELS[repo_id][1]
    return ModelSpec(name, repo_id, functools.partial(load_sam2, repo_id=repo_id, overrides=tuple(overrides)),
                     revision(name), approx_bytes=1 * GB, allow_patterns=(checkpoint, "*.json", "*.md"),
                     cpu_ok=name in SAM2_CPU_OK, description=f"SAM2.1 hiera {name.split('-', 1)[1]} video predictor")


def default_specs() -> list[ModelSpec]:
    specs = [
        ModelSpec("vace-1.3b", "Wan-AI/Wan2.1-VACE-1.3B-diffusers", load_vace, revision("vace-1.3b"),
                  approx_bytes=17 * GB, description="Wan2.1-VACE 1.3B: inpaint / outpaint / reference video"),
        ModelSpec("vace-14b", "Wan-AI/Wan2.1-VACE-14B-diffusers", load_vace, revision("vace-14b"),
                  approx_bytes=40 * GB, description="Wan2.1-VACE 14B: better, needs a large GPU"),
    ]
    return specs + [sam2_spec(name) for name in SAM2_NAMES]
