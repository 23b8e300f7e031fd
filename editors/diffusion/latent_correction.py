"""GenVideo's latent correction (seed 001) on Wan2.1-VACE: in the first denoising steps, each frame's latents
inside the edit mask are blended with its neighbours', brought over through nearest-neighbour fields of the
transformer's own features, so the new object looks the same from frame to frame.

    tap = FeatureTap(transformer.blocks[len // 2])     # a forward hook: the block's output tokens
    fields = neighbour_fields(tap.frames(shape), token_mask)   # cosine similarity, frame i -> i-1 and i+1
    latents = blend(latents, fields, latent_mask, first=references, weights=(w-1, w0, w+1))  # sum to 1

GenVideo takes the features of its UNet's up-block 2; here a middle transformer block plays that part (its
tokens are patches of 1 x 2 x 2 latent cells, so a token's match carries the cells inside it along).
"""
from __future__ import annotations

WEIGHTS = (0.2, 0.6, 0.2)       # w-1, w0, w+1: non-negative, summing to 1


class FeatureTap:
    """A forward hook on a transformer block keeping its output of the first call since `reset()` (with
    classifier-free guidance the conditional pass runs first)."""

    def __init__(self, block):
        self.block = block
        self.output = None
        self._handle = None

    def __enter__(self):
        self._handle = self.block.register_forward_hook(self._keep)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        self._handle = None

    def _keep(self, module, inputs, output):
        if self.output is None:
            self.output = (output[0] if isinstance(output, tuple) else output).detach()

    def reset(self) -> None:
        self.output = None

    def frames(self, grid: tuple[int, int, int]):
        """The kept tokens as (F, h, w, C) for a token grid (F, h, w) (batch item 0), or None."""
        if self.output is None:
            return None
        count, height, width = grid
        return self.output[0].reshape(count, height, width, -1).float()


def neighbour_fields(features, token_mask, first: int = 0) -> dict:
    """{(i, d): (h*w,) long tensor}: for each masked token of frame i (i >= first) the index of its nearest
    neighbour (cosine similarity of features (F, h, w, C)) in frame i + d, d = -1 or +1, neighbours >= first;
    unmasked tokens map to themselves. token_mask: (F, h, w) bool tensor."""
    import torch

    count, height, width, channels = features.shape
    flat = torch.nn.functional.normalize(features.reshape(count, height * width, channels), dim=-1)
    identity = torch.arange(height * width, device=features.device)
    fields = {}
    for i in range(first, count):
        chosen = token_mask[i].reshape(-1)
        if not bool(chosen.any()):
            continue
        for d in (-1, 1):
            j = i + d
            if not first <= j < count:
                continue
            similarity = flat[i][chosen] @ flat[j].T            # (P, N)
            field = identity.clone()
            field[chosen] = similarity.argmax(dim=1)
            fields[(i, d)] = field
    return fields


def blend(latents, fields: dict, latent_mask, *, patch: tuple[int, int] = (2, 2), first: int = 0,
          weights=WEIGHTS):
    """latents (1, C, F, H, W) with frame i's cells inside latent_mask ((F, H, W) bool) replaced by
    w0 * z_i + w-1 * z_{i-1}[field] + w+1 * z_{i+1}[field] (the weights of missing neighbours go to w0).
    Token fields (of an (H / ph, W / pw) grid) move each cell with its token: same place inside the patch."""
    import torch

    _, channels, count, height, width = latents.shape
    ph, pw = patch
    cols = width // pw
    y, x = torch.meshgrid(torch.arange(height, device=latents.device), torch.arange(width, device=latents.device),
                          indexing="ij")
    token = (y // ph) * cols + (x // pw)
    source = latents.clone()
    out = latents.clone()
    w_before, w_self, w_after = weights
    for i in range(first, count):
        inside = latent_mask[i]
        if not bool(inside.any()):
            continue
        total = torch.zeros_like(source[0, :, i])
        own = w_self
        for d, weight in ((-1, w_before), (1, w_after)):
            field = fields.get((i, d))
            if field is None:
                own += weight
                continue
            target = field[token]                              # (H, W) token index in frame i + d
            ty, tx = target // cols, target % cols
            cell = (ty * ph + y % ph) * width + (tx * pw + x % pw)
            moved = source[0, :, i + d].reshape(channels, -1)[:, cell.reshape(-1)].reshape(channels, height, width)
            total += weight * moved
        total += own * source[0, :, i]
        out[0, :, i] = torch.where(inside, total, source[0, :, i])
    return out
