import os
import socket
import subprocess
import sys
import time
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
    from editors.core.registry import ModelRegistry
    from editors.models import default_specs

    registry = ModelRegistry(default_specs())
    registry.set_local_dir("vace-1.3b", tiny_vace_dir)
    return registry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("app") / "app.log"
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")))
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail("app.py exited:\n" + log.read_text())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("app.py did not start:\n" + log.read_text())
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def client(server_url):
    from gradio_client import Client

    return Client(server_url, verbose=False)
