import os
import sys
from pathlib import Path

# Offline and quiet before anything imports huggingface_hub or gradio.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("EDITHUB_DEVICE", "cpu")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_vace_dir(tmp_path_factory):
    from tiny_models import build_tiny_vace

    return build_tiny_vace(tmp_path_factory.mktemp("hub") / "vace-1.3b")


@pytest.fixture(scope="session")
def tiny_sam2(tmp_path_factory):
    from tiny_models import build_tiny_sam2

    return build_tiny_sam2(tmp_path_factory.mktemp("hub") / "sam2.1-tiny")


@pytest.fixture
def tiny_registry(tiny_vace_dir):
    """A registry with the production specs whose VACE weights come from the tiny local folder."""
    from editors.core.registry import ModelRegistry, default_specs

    registry = ModelRegistry(default_specs())
    registry.set_local_dir("vace-1.3b", tiny_vace_dir)
    return registry
