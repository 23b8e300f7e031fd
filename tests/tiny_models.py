"""Tiny random-weight models built in code and saved as local Hub-style folders.

Tests point the registry at these folders, so the very loader code production uses runs in CI, offline.
"""
from __future__ import annotations

from pathlib import Path


def build_tiny_vace(folder: Path) -> Path:
    """A WanVACEPipeline with a few-thousand-parameter transformer/VAE/UMT5, saved with save_pretrained."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACEPipeline, WanVACETransformer3DModel
    from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=256, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe = WanVACEPipeline(tokenizer=T5TokenizerFast(), text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                           transformer=transformer)
    pipe.save_pretrained(folder)
    return folder


def build_tiny_sam2(folder: Path, image_size: int = 256) -> tuple[Path, tuple[str, ...]]:
    """Random-weight SAM2.1-tiny checkpoint (official file name/format) + the overrides it was built with."""
    import torch
    from sam2.build_sam import build_sam2

    overrides = (f"++model.image_size={image_size}",)
    torch.manual_seed(0)
    model = build_sam2("configs/sam2.1/sam2.1_hiera_t.yaml", ckpt_path=None, device="cpu",
                       hydra_overrides_extra=list(overrides), apply_postprocessing=False)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, folder / "sam2.1_hiera_tiny.pt")
    return folder, overrides
