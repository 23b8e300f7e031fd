#!/usr/bin/env bash
# Install what the hub needs into the current python3 (a venv if one is active).
#   bash scripts/setup.sh          runtime: CPU torch, requirements, sam2 (no torchvision)
#   bash scripts/setup.sh --test   also pytest, Playwright and Debian's Chromium for the browser test
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
pip_install() { "$PYTHON" -m pip install --quiet --disable-pip-version-check "$@"; }

# torch first: a pinned CPU build here (TORCH_SPEC overrides, e.g. a CUDA build on a GPU machine); every later
# requirement is then satisfied by it instead of pulling the CUDA wheels.
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  pip_install "${TORCH_SPEC:-torch==2.13.0}"
fi
grep -v '^sam2' requirements.txt > /tmp/edithub-requirements.txt
pip_install -r /tmp/edithub-requirements.txt
# sam2 declares torchvision, which has no CPU build here; its video predictor runs without it.
if ! "$PYTHON" -c "import sam2" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 pip_install --no-deps --no-build-isolation "$(grep '^sam2' requirements.txt)"
fi

if [[ "${1:-}" == "--test" ]]; then
  pip_install -r requirements-test.txt
  if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
