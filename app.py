"""The video editing hub: one tab per editor, each also an API endpoint (gradio_client) and a CLI verb.

`python app.py` serves it (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT are honoured). This file only composes.
"""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from editors.core.devices import on_zero_gpu  # noqa: E402  (light: no torch, no gradio)

if on_zero_gpu():
    import spaces  # noqa: F401  ZeroGPU must be imported before anything touches CUDA

from editors import load_editors  # noqa: E402

INTRO = """# Video editing hub
Upload a clip, **segment** the object with a few clicks, then **remove** it together with its shadow,
**replace** it by the object of a photo, **outpaint** the frame to a new aspect ratio, and more. Runs on a GPU
with Wan2.1-VACE and SAM2, or on any CPU with the classic engine. Frame count, fps and audio are kept."""


def build_demo(editors=None):
    import gradio as gr

    from editors.core.ui import Hub, cache_age_s

    editors = load_editors() if editors is None else editors
    age = cache_age_s()         # served files (gradio) and request folders (ui.output_dir) go after this long
    with gr.Blocks(title="Video editing hub", delete_cache=(min(3600, age), age), analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        hub = Hub(objects=gr.State(None))
        with gr.Tabs():
            for editor in editors:
                with gr.Tab(editor.TITLE, id=editor.NAME):
                    editor.render(hub)
    return demo


def main() -> None:
    if on_zero_gpu():
        from editors.core.registry import default_registry

        default_registry().preload(*filter(None, os.environ.get("EDITHUB_PRELOAD", "vace-1.3b").split(",")))
    demo = build_demo()
    demo.queue(max_size=int(os.environ.get("EDITHUB_QUEUE_SIZE", "16")), default_concurrency_limit=1)
    demo.launch(max_file_size=os.environ.get("EDITHUB_MAX_UPLOAD", "500mb"), enable_monitoring=False,
                show_error=True)


if __name__ == "__main__":
    main()
