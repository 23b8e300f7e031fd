"""Outpaint editor: extend the frame on any side or to any aspect ratio (M3DDM, seed 002).

The original pixels stay bit-identical; the new area comes from other frames where a pan showed it and a
stable fallback (classic), or from Wan2.1-VACE run on M3DDM's hybrid coarse-to-fine schedule (diffusion):
sparse keyframes over the whole clip first, then the frames between them with finished keyframes as guides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.clip import Clip
from .core.dispatch import DiffusionSettings, load_engine
from .core.engines import choose_engine
from .core.errors import whole_number
from .core.geometry import Canvas, plan_canvas

NAME = "outpaint"
TITLE = "Outpaint"
DIFFUSION_MODEL = "vace-1.3b"
RATIO_PRESETS = ["9:16", "1:1", "4:5", "16:9", "21:9"]
MIN_WINDOW, MAX_WINDOW = 5, 81  # diffusion frames per model call (4k+1)
# engine name -> "module:function"; each returns the (T, H, W, 3) uint8 frames on the canvas
ENGINES = {"classic": "editors.classic.outpaint:outpaint",
           "diffusion": "editors.diffusion.outpaint:outpaint"}


@dataclass
class OutpaintResult:
    clip: Clip
    canvas: Canvas
    engine: str = "classic"
    notice: str | None = None


def plan(clip: Clip, **size) -> Canvas:
    """The canvas for this clip from width/height, ratio or per-side pixels, plus the anchor."""
    return plan_canvas(clip.width, clip.height, **size)


def run(clip: Clip, *, width=None, height=None, ratio=None, left=0, right=0, top=0, bottom=0, anchor="center",
        engine: str = "auto", steps: int = 25, guidance: float = 5.0, seed: int = 0, prompt: str = "",
        window: int = 17, model: str = DIFFUSION_MODEL, registry=None, progress=None) -> OutpaintResult:
    canvas = plan(clip, width=width, height=height, ratio=ratio, left=left, right=right, top=top, bottom=bottom,
                  anchor=anchor)
    window = whole_number("window", window, MIN_WINDOW, MAX_WINDOW)
    chosen, notice = choose_engine(engine, [model], registry)
    diffusion = DiffusionSettings(steps, guidance, seed, prompt, model, registry)
    frames = load_engine(ENGINES, chosen)(clip.frames, canvas, window=window, diffusion=diffusion,
                                          progress=progress)
    return OutpaintResult(clip.with_frames(frames), canvas, chosen, notice)


# ---- UI ---------------------------------------------------------------------------------------------------
def _size_arguments(ratio_choice, custom_ratio, width, height, left, right, top, bottom, how):
    """The UI's 'how' radio picks one way of saying the size; the others are ignored."""
    if how == "aspect ratio":
        return {"ratio": custom_ratio if ratio_choice == "custom" else ratio_choice}
    if how == "width × height":
        return {"width": int(width) or None, "height": int(height) or None}
    return {"left": int(left or 0), "right": int(right or 0), "top": int(top or 0), "bottom": int(bottom or 0)}


def canvas_preview(frame: np.ndarray, canvas) -> np.ndarray:
    """The first frame where it will sit, the new area as a checkerboard."""
    h, w = frame.shape[:2]
    yy, xx = np.mgrid[:canvas.height, :canvas.width]
    board = np.where(((yy // 16 + xx // 16) % 2)[..., None] == 0, 200, 150).astype(np.uint8)
    preview = np.repeat(board, 3, axis=2)
    preview[canvas.source(h, w)] = frame
    return preview


def render(hub) -> None:
    import gradio as gr

    from .core import session, ui

    ui.step_guide(["Upload a clip (or take the one from the Segment tab).",
                   "Say the new size: an aspect ratio, width × height, or pixels per side; check the preview.",
                   "Press Outpaint: the original pixels stay exactly as they are."])
    with gr.Row(equal_height=False):
        with gr.Column(min_width=320):
            video = gr.Video(label="Video", sources=["upload"], elem_id="outpaint-video")
            examples = gr.Column()
            how = gr.Radio(["aspect ratio", "width × height", "pixels per side"], value="aspect ratio",
                           label="New size by")
            with gr.Row() as by_ratio:
                ratio = gr.Dropdown(RATIO_PRESETS + ["custom"], value="9:16", label="Aspect ratio")
                custom_ratio = gr.Textbox("2:3", label="Custom ratio (w:h)")
            with gr.Row(visible=False) as by_size:
                width = gr.Number(0, precision=0, label="Width")
                height = gr.Number(0, precision=0, label="Height")
            with gr.Row(visible=False) as by_sides:
                left = gr.Number(0, precision=0, label="Left px")
                right = gr.Number(0, precision=0, label="Right px")
                top = gr.Number(0, precision=0, label="Top px")
                bottom = gr.Number(0, precision=0, label="Bottom px")
            anchor = gr.Dropdown(["center", "left", "right", "top", "bottom", "top-left", "top-right",
                                  "bottom-left", "bottom-right"], value="center", label="Where the original sits")
            preview = gr.Image(label="Canvas preview", interactive=False, type="numpy")
            info = gr.Markdown()
            engine = ui.engine_input(NAME)
            steps, guidance, seed, prompt = ui.diffusion_settings("describe the scene")
            button, cancel = ui.run_buttons("Outpaint", NAME)
        with gr.Column(min_width=320):
            result = gr.Video(label="Result", elem_id="outpaint-result")
            compare = gr.Video(label="Before | after", elem_id="outpaint-compare")
    session.follow(hub, video)

    def show_mode(mode):
        return (gr.update(visible=mode == "aspect ratio"), gr.update(visible=mode == "width × height"),
                gr.update(visible=mode == "pixels per side"), gr.update(visible=mode != "pixels per side"))

    how.change(show_mode, how, [by_ratio, by_size, by_sides, anchor], api_visibility="undocumented")
    size_inputs = [ratio, custom_ratio, width, height, left, right, top, bottom, how]

    def show_canvas(video_value, *values):
        if not video_value:
            return None, ""
        try:
            clip = ui.cached_clip(video_value)
            *size, anchor_value = values
            canvas = plan(clip, **_size_arguments(*size), anchor=anchor_value)
        except Exception as exc:           # a half-typed size: say why, keep the last preview
            return gr.update(), f"⚠️ {exc}"
        return canvas_preview(clip.frames[0], canvas), \
            f"{clip.width}×{clip.height} → **{canvas.width}×{canvas.height}**, original at ({canvas.left}, {canvas.top})"

    for component in [video, anchor] + size_inputs:
        component.change(show_canvas, [video] + size_inputs + [anchor], [preview, info], api_visibility="undocumented")

    def outpaint_and_save(video, size, anchor, engine, steps, guidance, seed, prompt, progress):
        clip = ui.load_video(video)
        out = run(clip, **size, anchor=anchor, engine=engine, steps=int(steps), guidance=float(guidance),
                  seed=int(seed or 0), prompt=prompt or "", progress=ui.progress_callback(progress))
        folder = ui.output_dir()
        return (ui.save_video(out.clip, folder, f"{clip.name or 'clip'}_{out.canvas.width}x{out.canvas.height}"),
                ui.side_by_side(clip, out.clip, folder))

    @ui.user_errors
    def handle(video, ratio, width, height, left, right, top, bottom, anchor, engine, steps, guidance, seed, prompt,
               progress=gr.Progress()):
        """API: every size field given (non-zero) is passed on; run() says which combinations it accepts."""
        size = {"ratio": ratio} if ratio else {}
        if int(width or 0) or int(height or 0):
            size = {**size, "width": int(width) or None, "height": int(height) or None}
        if any(int(v or 0) for v in (left, right, top, bottom)):
            size = {**size, "left": int(left or 0), "right": int(right or 0), "top": int(top or 0),
                    "bottom": int(bottom or 0)}
        return outpaint_and_save(video, size, anchor, engine, steps, guidance, seed, prompt, progress)

    @ui.keep_on_error(2)
    def handle_ui(video, ratio, custom_ratio, width, height, left, right, top, bottom, how, anchor, engine, steps,
                  guidance, seed, prompt, progress=gr.Progress()):
        size = _size_arguments(ratio, custom_ratio, width, height, left, right, top, bottom, how)
        return outpaint_and_save(video, size, anchor, engine, steps, guidance, seed, prompt, progress)

    settings = [anchor, engine, steps, guidance, seed, prompt]
    running = button.click(ui.announce_engine([DIFFUSION_MODEL]), engine, None, api_visibility="undocumented",
                           queue=False).then(handle_ui, [video] + size_inputs + settings, [result, compare],
                                             api_visibility="undocumented", **ui.GPU_QUEUE)
    cancel.click(None, None, None, cancels=[running])
    api_ratio = gr.Textbox(visible=False)
    gr.Button(visible=False).click(handle, [video, api_ratio, width, height, left, right, top, bottom] + settings,
                                   [result, compare], api_name=NAME, **ui.GPU_QUEUE)
    with examples:
        gr.Examples([[str(ui.EXAMPLES / "tennis.mp4"), "9:16"], [str(ui.EXAMPLES / "schoolgirls.mp4"), "1:1"]],
                    [video, ratio], [result, compare], cache_examples=True, cache_mode="lazy", label="Examples: click one",
                    fn=lambda video, ratio: handle(video, ratio, 0, 0, 0, 0, 0, 0, "center", "classic", 25, 5.0, 0,
                                                   ""))


# ---- CLI --------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    from .core import cli

    parser = subparsers.add_parser(NAME, help="extend the frame to a new size or aspect ratio",
                                   description="Outpaint: grow the frame to WIDTHxHEIGHT, to an aspect ratio, or by "
                                               "pixels per side. The original pixels stay exactly as they are.")
    cli.add_io_arguments(parser)
    size = parser.add_argument_group("new size (one way)")
    size.add_argument("--width", type=cli.whole(1, 10**5),
                      help="new frame width (with --height; a missing one keeps the source's)")
    size.add_argument("--height", type=cli.whole(1, 10**5), help="new frame height")
    size.add_argument("--ratio", help="target aspect ratio, e.g. 9:16, 1:1, 4:5, 16:9, 21:9 or 1.5")
    for side in ("left", "right", "top", "bottom"):
        size.add_argument(f"--{side}", type=cli.whole(0, 10**5), default=0, metavar="PX",
                          help=f"pixels to add on the {side}")
    parser.add_argument("--anchor", default="center",
                        help="where the original sits: center (default), left, right, top, bottom, top-left ...")
    parser.add_argument("--window", type=cli.whole(MIN_WINDOW, MAX_WINDOW), default=17,
                        help=f"diffusion: frames per window (4k+1, {MIN_WINDOW} to {MAX_WINDOW})")
    cli.add_diffusion_arguments(parser)
    parser.set_defaults(handler=main_cli)


def main_cli(args) -> int:
    from .core import cli
    from .core.clip import write_clip

    clip = cli.read_input(args)
    show = cli.progress_printer(args.quiet)
    out = run(clip, width=args.width, height=args.height, ratio=args.ratio, left=args.left, right=args.right,
              top=args.top, bottom=args.bottom, anchor=args.anchor, engine=args.engine, steps=args.steps,
              guidance=args.guidance, seed=args.seed, prompt=args.prompt, window=args.window, model=args.model,
              progress=show)
    cli.finish_progress(args.quiet)
    cli.notice(out.notice)
    written = write_clip(out.clip, args.output)
    if not args.quiet:
        print(written)
    return 0
