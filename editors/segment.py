"""Segment editor: click (or box, or draw) the object on any frame, track it through the clip.

Engines: SAM2.1 video predictor (diffusion engine's model family, GPU) or the classic CPU tracker (GrabCut-style
first mask + optical-flow tracking both ways). The masks it makes are offered to the other tabs.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import masks as M
from .core.clip import Clip, list_frame_files, write_clip
from .core.dispatch import load_engine
from .core.engines import choose_engine
from .core.errors import UserError, whole_number
from .core.prompts import NEGATIVE, POSITIVE, Prompt, merge, parse_box, parse_points, prompts_from_json, validate
from .core.tracks import Tracks

NAME = "segment"
TITLE = "Segment"
SAM2_MODEL = "sam2.1-tiny"
MAX_GROW = 128                  # px grown or shrunk; the tab's slider stays within it
SHAPES = ("mask", "hull", "box")
# engine name -> "module:function": the whole clip, and one frame's preview while clicking
ENGINES = {"classic": "editors.classic.segment:segment_video",
           "diffusion": "editors.diffusion.segment:segment_video"}
PREVIEWS = {"classic": "editors.classic.segment:preview_mask",
            "diffusion": "editors.diffusion.segment:preview_mask"}


@dataclass
class SegmentResult:
    objects: dict[int, np.ndarray]      # object id -> (T,H,W) bool
    engine: str = "classic"
    notice: str | None = None


def run(clip: Clip, prompts: list[Prompt], *, engine: str = "auto", grow: int = 0, shape: str = "mask",
        model: str = SAM2_MODEL, registry=None, progress=None) -> SegmentResult:
    """Track every prompted object through the clip, both directions from its prompted frames."""
    validate(prompts, clip.num_frames, clip.height, clip.width)
    grow = whole_number("grow", grow, -MAX_GROW, MAX_GROW)
    if shape not in SHAPES:
        raise UserError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}.")
    chosen, notice = choose_engine(engine, [model], registry)
    objects = load_engine(ENGINES, chosen)(clip.frames, prompts, model=model, registry=registry, progress=progress)
    objects = {i: M.augment(m, grow, shape) for i, m in objects.items()}
    return SegmentResult(objects, chosen, notice)


def preview(frame: np.ndarray, prompt: Prompt, *, engine: str = "auto", model: str = SAM2_MODEL,
            registry=None) -> np.ndarray:
    """The mask one object's clicks give on their frame (what the user sees while clicking)."""
    validate([Prompt(0, prompt.object_id, prompt.points, prompt.box, prompt.mask)], 1, *frame.shape[:2])
    chosen, _ = choose_engine(engine, [model], registry)
    return load_engine(PREVIEWS, chosen)(frame, prompt, model=model, registry=registry)


# ---- UI ---------------------------------------------------------------------------------------------------
def render(hub) -> None:
    import gradio as gr

    from .core import ui

    clicks = gr.State([])          # [{"frame", "object_id", "points": [[x, y, label]], "box"}] — small
    corner = gr.State(None)        # first corner of a box being drawn
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Video", sources=["upload"], elem_id="segment-video")
            frame_index = gr.Slider(0, 1, 0, step=1, label="Frame to click on", elem_id="segment-frame")
            image = gr.Image(label="Click the object (overlay = current mask)", interactive=False, type="numpy",
                             elem_id="segment-image")
            with gr.Row():
                mode = gr.Radio(["object (+)", "background (−)", "box corners"], value="object (+)",
                                label="A click adds", elem_id="segment-mode")
                object_id = gr.Number(1, precision=0, minimum=1, label="Object id")
                clear = gr.Button("Clear clicks")
            with gr.Accordion("Draw or upload a mask instead", open=False):
                editor = gr.ImageEditor(label="Paint the object on this frame", type="numpy",
                                        brush=gr.Brush(colors=["#ff3030"], color_mode="fixed"))
                use_drawing = gr.Button("Use the drawing for this object")
                upload = gr.File(label="Mask video, image, or zip of frames (one object)",
                                 file_types=["video", "image", ".zip"])
            with gr.Row():
                grow = gr.Slider(-20, 40, 0, step=1, label="Grow (+) / shrink (−) px")
                shape = gr.Radio(["mask", "hull", "box"], value="mask", label="Mask shape")
            engine = ui.engine_input(NAME)
            prompts_json = gr.Textbox(label="Prompts (JSON)", visible=False)
            button = gr.Button("Track", variant="primary", elem_id="segment-run")
        with gr.Column():
            overlay_video = gr.Video(label="Tracked masks", elem_id="segment-result")
            downloads = gr.File(label="Masks: PNG zip and mask video per object", file_count="multiple")
            status = gr.Markdown()

    def show_frame(video_value, index, prompts):
        if not video_value:
            return gr.update(), None, gr.update()
        clip = ui.cached_clip(video_value)
        index = int(min(max(index or 0, 0), clip.num_frames - 1))
        frame = clip.frames[index]
        return _overlay_prompts(frame, index, prompts, engine_name="classic"), frame, \
            gr.update(maximum=max(clip.num_frames - 1, 1))

    @ui.user_errors
    def on_upload(video_value):
        if not video_value:
            return gr.update(), None, gr.update(), [], ""
        clip = ui.cached_clip(video_value)
        return (clip.frames[0], clip.frames[0], gr.update(value=0, maximum=max(clip.num_frames - 1, 1)), [],
                f"{clip.num_frames} frames, {clip.width}x{clip.height}, {float(clip.fps):.3g} fps")

    @ui.user_errors
    def on_click(video_value, index, prompts, click_mode, obj, first_corner, engine_name, evt: gr.SelectData):
        if not video_value:
            raise UserError("Upload a video first.")
        clip = ui.cached_clip(video_value)
        index = int(index or 0)
        x, y = evt.index
        prompts = [dict(p) for p in prompts]
        entry = next((p for p in prompts if p["frame"] == index and p["object_id"] == int(obj)), None)
        if entry is None:
            entry = {"frame": index, "object_id": int(obj), "points": [], "box": None}
            prompts.append(entry)
        if click_mode == "box corners":
            if first_corner is None:
                return gr.update(), prompts, (x, y), "Now click the opposite corner of the box."
            x0, y0 = first_corner
            entry["box"] = [min(x0, x), min(y0, y), max(x0, x) + 1, max(y0, y) + 1]
            first_corner = None
        else:
            entry["points"] = entry["points"] + [[x, y, POSITIVE if click_mode.startswith("object") else NEGATIVE]]
        try:
            picture = _overlay_prompts(clip.frames[index], index, prompts, engine_name)
        except UserError as exc:      # e.g. only background clicks so far: show them, say what is missing
            picture = _overlay_prompts(clip.frames[index], index, prompts, None)
            return picture, prompts, first_corner, str(exc)
        return picture, prompts, first_corner, ""

    @ui.user_errors
    def on_drawing(video_value, index, drawing, obj, prompts):
        if drawing is None or not video_value:
            raise UserError("Paint over the object first.")
        layers = [layer for layer in drawing.get("layers") or [] if layer is not None]
        painted = np.zeros(np.asarray(drawing["background"]).shape[:2], bool)
        for layer in layers:
            painted |= M.binarize(np.asarray(layer)[..., 3] if np.asarray(layer).shape[-1] == 4 else layer)
        if not painted.any():
            raise UserError("The drawing is empty: paint over the object.")
        prompts = [p for p in prompts if not (p["frame"] == int(index) and p["object_id"] == int(obj))]
        prompts.append({"frame": int(index), "object_id": int(obj), "points": [], "box": None,
                        "mask": _save_drawn_mask(painted)})
        clip = ui.cached_clip(video_value)
        return _overlay_prompts(clip.frames[int(index)], int(index), prompts, "classic"), prompts

    @ui.user_errors
    def handle(video, prompts, engine, grow, shape, progress=gr.Progress()):
        clip = ui.load_video(video)
        out = run(clip, prompts_from_json(prompts), engine=engine, grow=int(grow), shape=shape,
                  progress=ui.progress_callback(progress))
        return _finish(clip, out)

    @ui.user_errors
    def handle_ui(video, prompts, upload_file, engine, grow, shape, state, progress=gr.Progress()):
        clip = ui.cached_clip(video) if video else ui.load_video(video)
        if upload_file:
            objects = {1: M.augment(ui.load_mask_files([upload_file], clip)[0], int(grow), shape)}
            out = SegmentResult(objects, "upload")
        else:
            out = run(clip, [_prompt_from_dict(p) for p in prompts], engine=engine, grow=int(grow), shape=shape,
                      progress=ui.progress_callback(progress))
        ui.notify(out.notice)
        result, files = _finish(clip, out)
        return result, files, _session_state(clip, out.objects, video), f"Tracked {len(out.objects)} object(s) " \
            f"with the {out.engine} engine; the Remove tab can use them now."

    def _finish(clip, out):
        folder = ui.output_dir()
        overlay = clip.with_frames(M.overlay_objects(clip.frames, out.objects))
        return ui.save_video(overlay, folder, f"{clip.name or 'clip'}_masks"), M.save_masks(out.objects, clip, folder)

    def _session_state(clip, objects, video_value):
        tracks = Tracks.from_masks(clip.frames, objects)
        return ui.SessionObjects(ui._path_of(video_value), str(tracks.save(ui.output_dir() / "tracks.npz")),
                                 tracks.ids)

    video.change(on_upload, video, [image, editor, frame_index, clicks, status], api_visibility="undocumented")
    frame_index.release(show_frame, [video, frame_index, clicks], [image, editor, frame_index],
                        api_visibility="undocumented")
    image.select(on_click, [video, frame_index, clicks, mode, object_id, corner, engine],
                 [image, clicks, corner, status], api_visibility="undocumented")
    clear.click(lambda: ([], None, ""), None, [clicks, corner, status], api_visibility="undocumented").then(
        show_frame, [video, frame_index, clicks], [image, editor, frame_index], api_visibility="undocumented")
    use_drawing.click(on_drawing, [video, frame_index, editor, object_id, clicks], [image, clicks],
                      api_visibility="undocumented")
    button.click(handle_ui, [video, clicks, upload, engine, grow, shape, hub.objects],
                 [overlay_video, downloads, hub.objects, status], api_visibility="undocumented",
                 concurrency_limit=1)
    # The API endpoint: prompts as JSON, so gradio_client users need no clicks.
    gr.Button(visible=False).click(handle, [video, prompts_json, engine, grow, shape], [overlay_video, downloads],
                                   api_name=NAME, concurrency_limit=1)
    gr.Examples([[str(ui.EXAMPLES / "tennis.mp4")], [str(ui.EXAMPLES / "dogs-jump.mp4")],
                 [str(ui.EXAMPLES / "bedroom.mp4")]], [video], label="Examples")


def _save_drawn_mask(mask: np.ndarray) -> str:
    from .core import ui

    path = ui.output_dir() / "drawn.png"
    path.write_bytes(M.mask_png(mask))
    return str(path)


def _prompt_from_dict(item: dict) -> Prompt:
    mask = M.read_mask_image(Path(item["mask"])) if item.get("mask") else None
    return Prompt(int(item["frame"]), int(item["object_id"]), [tuple(p) for p in item.get("points", [])],
                  tuple(item["box"]) if item.get("box") else None, mask)


def _overlay_prompts(frame: np.ndarray, index: int, prompts: list[dict], engine_name: str | None) -> np.ndarray:
    """The frame with each object's preview mask (if an engine is given) and its clicks / box drawn on it."""
    import cv2

    out = frame.copy()
    here = [p for p in prompts if p["frame"] == index]
    if engine_name:
        objects = {p["object_id"]: preview(frame, _prompt_from_dict({**p, "frame": 0}), engine=engine_name)
                   for p in here}
        out = M.overlay_objects(out, objects)
    radius = max(3, min(frame.shape[:2]) // 80)
    for p in here:
        for x, y, label in p["points"]:
            cv2.circle(out, (int(x), int(y)), radius, (40, 220, 40) if label == POSITIVE else (230, 40, 40), -1)
            cv2.circle(out, (int(x), int(y)), radius, (255, 255, 255), 1)
        if p.get("box"):
            x0, y0, x1, y1 = (int(v) for v in p["box"])
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), 2)
    return out


# ---- CLI --------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    from .core import cli

    parser = subparsers.add_parser(NAME, help="segment an object from a box or clicks and track it",
                                   description="Make object masks: a box or clicks on one frame, tracked through "
                                               "the whole clip in both directions. OUT is a mask video (.mp4) or a "
                                               "folder ending in / of 0/255 PNGs named like the frames.")
    cli.add_io_arguments(parser)
    prompt = parser.add_mutually_exclusive_group(required=True)
    prompt.add_argument("--box", metavar="x0,y0,x1,y1", help="box around the object, in pixels")
    prompt.add_argument("--points", metavar='"x,y,label;..."', help="clicks: label 1 = object, 0 = background")
    prompt.add_argument("--prompts", metavar="JSON", help='several objects/frames: [{"frame":0,"object_id":1,'
                                                           '"points":[[x,y,1]],"box":[x0,y0,x1,y1]}]')
    parser.add_argument("--frame", type=cli.whole(0, 10**6), default=0, help="frame the box/clicks are on (default 0)")
    parser.add_argument("--object-id", type=cli.whole(1, 255), default=1, help="id of the object (default 1)")
    parser.add_argument("--grow", type=cli.whole(-MAX_GROW, MAX_GROW), default=0,
                        help=f"grow (+) or shrink (−) the masks by pixels (at most {MAX_GROW})")
    parser.add_argument("--shape", choices=SHAPES, default="mask", help="mask shape augmentation")
    parser.add_argument("--model", default=SAM2_MODEL, help="SAM2 registry model (sam2.1-tiny ... sam2.1-large)")
    parser.set_defaults(handler=main_cli)


def main_cli(args) -> int:
    from .core import cli

    clip = cli.read_input(args)
    if args.prompts:
        prompts = prompts_from_json(args.prompts, "--prompts")
    else:
        prompts = [Prompt(args.frame, args.object_id, parse_points(args.points) if args.points else [],
                          parse_box(args.box) if args.box else None)]
    show = cli.progress_printer(args.quiet)
    out = run(clip, prompts, engine=args.engine, grow=args.grow, shape=args.shape, model=args.model, progress=show)
    cli.finish_progress(args.quiet)
    cli.notice(out.notice)
    output = args.output
    source = Path(args.input)
    names = [f.stem for f in list_frame_files(source)] if source.is_dir() else None
    for object_id, masks in sorted(out.objects.items()):
        target = output
        if len(out.objects) > 1:      # several objects: one output per object, named after its id
            if output.endswith("/"):
                target = output.rstrip("/") + f"_object{object_id}/"
            else:
                path = Path(output)
                target = str(path.with_name(f"{path.stem}_object{object_id}{path.suffix}"))
        written = M.write_masks(masks, clip, target, names)
        if not args.quiet:
            print(written)
    return 0
