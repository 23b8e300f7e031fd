"""Engine choice: "classic" (CPU, OpenCV/numpy, no weights) or "diffusion" (the model engine: Wan2.1-VACE, SAM2).

"auto" takes the model engine when every requested model can run here and its weights are available, otherwise
classic, and says why before the run starts. See choose_engine and pick_sam2.
"""
from __future__ import annotations

from .devices import has_gpu
from .errors import UserError
from .registry import ModelRegistry, default_registry

ENGINES = ("auto", "classic", "diffusion")
CLASSIC = "using the classic (CPU) engine"


def choose_engine(requested: str, models: list[str], registry: ModelRegistry | None = None) -> tuple[str, str | None]:
    """(engine to run, notice for the user or None), decided before anything runs.

    auto, per model: a model runs here when there is a GPU, or when its spec is `cpu_ok` (SAM2.1-tiny/small; VACE
    is not); and its weights are available: $EDITHUB_MODELS_DIR/<name>/, the Hugging Face cache, or a reachable
    Hub. The model engine when every model qualifies, else classic with a notice naming the reason (no GPU, no
    weights and how to get them).
    diffusion: the model engine regardless; missing weights raise ModelUnavailable (with the fix), and a model
    that needs a GPU on a machine without one runs with a warning.
    """
    requested = (requested or "auto").lower()
    if requested not in ENGINES:
        raise UserError(f"Unknown engine {requested!r}: choose one of {', '.join(ENGINES)}.")
    if requested == "classic":
        return "classic", None
    registry = registry or default_registry()
    gpu = has_gpu()
    needs_gpu = [m for m in models if not registry.spec(m).cpu_ok]
    if requested == "diffusion":
        missing = [m for m in models if not registry.available(m)]
        if missing:
            registry.weights_dir(missing[0], download=True)   # raises ModelUnavailable with the fix
        if not gpu and needs_gpu:
            return "diffusion", "No GPU found: the diffusion engine runs on the CPU and will be very slow."
        return "diffusion", None
    if not gpu and needs_gpu:
        return "classic", f"No GPU here and {', '.join(needs_gpu)} needs one: {CLASSIC}."
    missing = [m for m in models if not registry.available(m)]
    if missing:
        hints = "; ".join(f"{m}: {registry.download_hint(m)}" for m in missing)
        return "classic", f"Weights for {', '.join(missing)} are not available ({hints}): {CLASSIC}."
    return "diffusion", None


SAM2_BY_SIZE = ("sam2.1-large", "sam2.1-base-plus", "sam2.1-small")   # preferred first, on a GPU


def pick_sam2(registry: ModelRegistry | None = None, *, gpu: bool | None = None) -> str:
    """The SAM2.1 model to segment with.

    On a GPU: the largest of large / base-plus / small whose weights are already on this machine (a local folder
    or the Hugging Face cache: a bigger model is not worth a download the user did not ask for); otherwise, and
    always without a GPU, sam2.1-tiny (cpu_ok, and small enough to fetch on first use).
    """
    registry = registry or default_registry()
    if has_gpu() if gpu is None else gpu:
        for name in SAM2_BY_SIZE:
            if name in registry.names and registry.available(name, local_only=True):
                return name
    return "sam2.1-tiny"
