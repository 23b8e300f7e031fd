"""Segment editor: click (or box, or draw) the object on any frame, track it through the clip.

Engines: SAM2.1 video predictor (diffusion engine's model family, GPU) or the classic CPU tracker (GrabCut-style
first mask + optical-flow tracking both ways). The masks it makes are offered to the other tabs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import masks as M
from .core.clip import Clip, list_frame_files, write_clip
from .core.dispatch import load_engine
from .core.engines import choose_engine
from .core.errors import UserError, whole_number
from .core.prompts import NEGATIVE, POSITIVE, Prompt, merge, parse_box, parse_points, prompts_from_json, validate
from .core.tracks import Tracks, clip_hash

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
        start: int = 0, end: int | None = None, model: str = SAM2_MODEL, registry=None,
        progress=None) -> SegmentResult:
    """Track every prompted object through frames start..end (default: the whole clip), both directions from its
    prompted frames; masks are empty outside that range."""
    validate(prompts, clip.num_frames, clip.height, clip.width)
    grow = whole_number("grow", grow, -MAX_GROW, MAX_GROW)
    if shape not in SHAPES:
        raise UserError(f"shape must be one of {', '.join(SHAPES)}, not {shape!r}.")
    start = whole_number("start", start, 0, clip.num_frames - 1)
    end = clip.num_frames - 1 if end is None else whole_number("end", end, start, clip.num_frames - 1)
    outside = sorted({p.frame for p in prompts if not start <= p.frame <= end})
    if outside:
        raise UserError(f"Frame {outside[0]} has clicks but lies outside the tracking range {start}..{end}.")
    chosen, notice = choose_engine(engine, [model], registry)
    span = [dataclasses.replace(p, frame=p.frame - start) for p in prompts]
    tracked = load_engine(ENGINES, chosen)(clip.frames[start:end + 1], span, model=model, registry=registry,
                                           progress=progress)
    objects = {}
    for i, masks in tracked.items():
        full = np.zeros((clip.num_frames, clip.height, clip.width), bool)
        full[start:end + 1] = M.augment(masks, grow, shape)
        objects[i] = full
    return SegmentResult(objects, chosen, notice)


def preview(frame: np.ndarray, prompt: Prompt, *, engine: str = "auto", model: str = SAM2_MODEL,
            registry=None) -> np.ndarray:
    """The mask one object's clicks give on their frame (what the user sees while clicking)."""
    validate([Prompt(0, prompt.object_id, prompt.points, prompt.box, prompt.mask)], 1, *frame.shape[:2])
    chosen, _ = choose_engine(engine, [model], registry)
    return load_engine(PREVIEWS, chosen)(frame, prompt, model=model, registry=registry)


# ---- UI ---------------------------------------------------------------------------------------------------
# Each example: a clip and clicks on its first frame (the object to track).
EXAMPLE_PROMPTS = {"tennis.mp4": [{"frame": 0, "object_id": 1, "box": [150, 40, 230, 200]}],
                   "dogs-jump.mp4": [{"frame": 0, "object_id": 1, "points": [[250, 160, 1]]}],
                   "bedroom.mp4": [{"frame": 0, "object_id": 1, "points": [[178, 95, 1], [176, 40, 1]]}]}


def render(hub) -> None:
    import json

    import gradio as gr

    from .core import session, ui

    clicks = gr.State([])          # [{"frame", "object_id", "points": [[x, y, label]], "box"}] — small
    corner = gr.State(None)        # first corner of a box being drawn
    state = hub.objects if hub.objects is not None else gr.State(None)
    ui.step_guide(["Upload a clip.", "Click the object on any frame (or draw a box, or paint it); a second object: "
                   "change the object id.", "Press Track; scrub the frames to check, click again where it drifts, "
                   "Track again.", "Open Remove, Outpaint, Replace or Edit: the clip and its objects are there."])
    with gr.Row(equal_height=False):
        with gr.Column(min_width=320):
            video = gr.Video(label="Video", sources=["upload"], elem_id="segment-video")
            examples = gr.Column()
            frame_index = gr.Slider(0, 1, 0, step=1, label="Frame to click on", elem_id="segment-frame")
            image = gr.Image(label="Click the object (overlay = its mask)", interactive=False, type="numpy",
                             elem_id="segment-image")
            with gr.Row():
                mode = gr.Radio(["object (+)", "background (−)", "box corners"], value="object (+)",
                                label="A click adds", elem_id="segment-mode")
                object_id = gr.Number(1, precision=0, minimum=1, label="Object id", elem_id="segment-object")
            chips = gr.HTML(elem_id="segment-objects")
            with gr.Row():
                clear = gr.Button("Clear this object's clicks", size="sm")
                delete = gr.Button("Delete this object", size="sm", elem_id="segment-delete")
            with gr.Accordion("Draw or upload a mask instead", open=False):
                editor = gr.ImageEditor(label="Paint the object on this frame", type="numpy",
                                        brush=gr.Brush(colors=["#ff3030"], color_mode="fixed"))
                use_drawing = gr.Button("Use the drawing for this object", elem_id="segment-use-drawing")
                upload = gr.File(label="Mask video, image, or zip of frames (one object)",
                                 file_types=["video", "image", ".zip"])
            with gr.Accordion("Tracking range and mask shape", open=False):
                with gr.Row():
                    start = gr.Number(0, precision=0, minimum=0, label="Track from frame")
                    end = gr.Number(-1, precision=0, label="to frame (-1 = the last)")
                with gr.Row():
                    grow = gr.Slider(-20, 40, 0, step=1, label="Grow (+) / shrink (−) px")
                    shape = gr.Radio(["mask", "hull", "box"], value="mask", label="Mask shape")
            engine = ui.engine_input(NAME)
            prompts_json = gr.Textbox(label="Prompts (JSON)", visible=False)
            button, cancel = ui.run_buttons("Track", NAME)
            status = gr.Markdown(elem_id="segment-status")
        with gr.Column(min_width=320):
            overlay_video = gr.Video(label="Tracked masks", elem_id="segment-result")
            downloads = gr.File(label="Masks: PNG zip and mask video per object", file_count="multiple")

    def picture(clip, index, prompts, state, engine_name):
        """Frame `index` with the tracked masks (after Track) and this frame's clicks and their previews."""
        frame = session.overlay_tracked(clip.frames[index], state, index)
        return _overlay_prompts(frame, clip.frames[index], index, prompts, engine_name)

    @ui.keep_on_error(3)
    def show_frame(video_value, index, prompts, state):
        if not video_value:
            return gr.update(), None, gr.update()
        clip = ui.cached_clip(video_value)
        index = int(min(max(index or 0, 0), clip.num_frames - 1))
        return picture(clip, index, prompts, state, "classic"), clip.frames[index], \
            gr.update(maximum=max(clip.num_frames - 1, 1))

    @ui.keep_on_error(6)
    def on_upload(video_value):
        if not video_value:
            return gr.update(), None, gr.update(), [], "", gr.update()
        clip = ui.cached_clip(video_value)
        fresh = session.SessionObjects(ui._path_of(video_value), clip_hash(clip.frames))
        return (clip.frames[0], clip.frames[0], gr.update(value=0, maximum=max(clip.num_frames - 1, 1)), [],
                f"{clip.num_frames} frames, {clip.width}x{clip.height}, {float(clip.fps):.3g} fps", fresh)

    @ui.keep_on_error(4)
    def on_click(video_value, index, prompts, click_mode, obj, first_corner, engine_name, state,
                 evt: gr.SelectData):
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
            shown = picture(clip, index, prompts, state, engine_name)
        except UserError as exc:      # e.g. only background clicks so far: show them, say what is missing
            return picture(clip, index, prompts, state, None), prompts, first_corner, str(exc)
        return shown, prompts, first_corner, ""

    @ui.keep_on_error(2)
    def on_drawing(video_value, index, drawing, obj, prompts, state):
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
        return picture(clip, int(index), prompts, state, "classic"), prompts

    @ui.keep_on_error(3)
    def on_example_prompts(text, video_value, state):
        prompts = json.loads(text) if text else []
        if not prompts or not video_value:
            return gr.update(), gr.update(), gr.update()
        clip = ui.cached_clip(video_value)
        return prompts, picture(clip, 0, prompts, state, "classic"), gr.update(value=0)

    def clear_object(prompts, obj):
        return [p for p in prompts if p["object_id"] != int(obj)], None, ""

    @ui.keep_on_error(4)
    def delete_object(prompts, obj, state, video_value):
        """Forget the object: its clicks and its tracked masks (the other objects stay)."""
        prompts = [p for p in prompts if p["object_id"] != int(obj)]
        if isinstance(state, session.SessionObjects) and state.tracks and int(obj) in state.ids:
            tracks = session.load_tracks(state.tracks)
            kept = Tracks(tracks.clip_hash, tracks.shape, {i: o for i, o in tracks.objects.items() if i != int(obj)})
            path = str(kept.save(ui.output_dir() / "tracks.npz")) if kept.ids else None
            state = state.with_tracks(kept if kept.ids else None, path)
        return prompts, state, session.legend(state), f"Object {int(obj)} deleted."

    def track_and_save(clip, prompts, upload_file, engine, grow, shape, start_frame, end_frame, progress):
        end_frame = None if end_frame is None or int(end_frame) < 0 else int(end_frame)
        if upload_file:
            objects = {1: M.augment(ui.load_mask_files([upload_file], clip)[0], int(grow), shape)}
            out = SegmentResult(objects, "upload")
        else:
            out = run(clip, prompts, engine=engine, grow=int(grow), shape=shape, start=int(start_frame or 0),
                      end=end_frame, progress=ui.progress_callback(progress))
        folder = ui.output_dir()
        overlay = clip.with_frames(M.overlay_objects(clip.frames, out.objects))
        return out, ui.save_video(overlay, folder, f"{clip.name or 'clip'}_masks"), \
            M.save_masks(out.objects, clip, folder)

    @ui.user_errors
    def handle(video, prompts, engine, grow, shape, progress=gr.Progress()):
        clip = ui.load_video(video)
        return track_and_save(clip, prompts_from_json(prompts), None, engine, grow, shape, 0, -1, progress)[1:]

    @ui.keep_on_error(5)
    def handle_ui(video, prompts, upload_file, engine, grow, shape, start_frame, end_frame, state,
                  progress=gr.Progress()):
        clip = ui.cached_clip(video) if video else ui.load_video(video)
        out, result, files = track_and_save(clip, [_prompt_from_dict(p) for p in prompts], upload_file, engine,
                                            grow, shape, start_frame, end_frame, progress)
        tracks = Tracks.from_masks(clip.frames, out.objects)
        if not isinstance(state, session.SessionObjects) or state.clip_hash != tracks.clip_hash:
            state = session.SessionObjects(ui._path_of(video), tracks.clip_hash)
        state = state.with_tracks(tracks, str(tracks.save(ui.output_dir() / "tracks.npz")))
        return result, files, state, session.legend(state), \
            f"Tracked {len(out.objects)} object(s) with the {out.engine} engine: scrub the frames to check them; " \
            "the Remove, Outpaint, Replace and Edit tabs have the clip and its objects now."

    video.change(on_upload, video, [image, editor, frame_index, clicks, status, state], api_visibility="undocumented")
    frame_index.change(show_frame, [video, frame_index, clicks, state], [image, editor, frame_index],
                       api_visibility="undocumented", trigger_mode="always_last")
    image.select(on_click, [video, frame_index, clicks, mode, object_id, corner, engine, state],
                 [image, clicks, corner, status], api_visibility="undocumented")
    clear.click(clear_object, [clicks, object_id], [clicks, corner, status], api_visibility="undocumented").then(
        show_frame, [video, frame_index, clicks, state], [image, editor, frame_index], api_visibility="undocumented")
    delete.click(delete_object, [clicks, object_id, state, video], [clicks, state, chips, status],
                 api_visibility="undocumented").then(
        show_frame, [video, frame_index, clicks, state], [image, editor, frame_index], api_visibility="undocumented")
    use_drawing.click(on_drawing, [video, frame_index, editor, object_id, clicks, state], [image, clicks],
                      api_visibility="undocumented")
    prompts_json.change(on_example_prompts, [prompts_json, video, state], [clicks, image, frame_index],
                        api_visibility="undocumented")
    running = button.click(ui.announce_engine([SAM2_MODEL]), engine, None, api_visibility="undocumented",
                           queue=False).then(
        handle_ui, [video, clicks, upload, engine, grow, shape, start, end, state],
        [overlay_video, downloads, state, chips, status], api_visibility="undocumented", **ui.GPU_QUEUE).then(
        show_frame, [video, frame_index, clicks, state], [image, editor, frame_index], api_visibility="undocumented")
    cancel.click(None, None, None, cancels=[running])
    # The API endpoint: prompts as JSON, so gradio_client users need no clicks.
    gr.Button(visible=False).click(handle, [video, prompts_json, engine, grow, shape], [overlay_video, downloads],
                                   api_name=NAME, **ui.GPU_QUEUE)
    with examples:
        gr.Examples([[str(ui.EXAMPLES / name), json.dumps(prompts)] for name, prompts in EXAMPLE_PROMPTS.items()],
                    [video, prompts_json], [overlay_video, downloads], cache_examples=True, cache_mode="lazy",
                    fn=lambda video, prompts: handle(video, prompts, "classic", 0, "mask"),
                    label="Examples with clicks on the object: click one, then Track")


def _save_drawn_mask(mask: np.ndarray) -> str:
    from .core import ui

    path = ui.output_dir() / "drawn.png"
    path.write_bytes(M.mask_png(mask))
    return str(path)


def _prompt_from_dict(item: dict) -> Prompt:
    mask = M.read_mask_image(Path(item["mask"])) if item.get("mask") else None
    return Prompt(int(item["frame"]), int(item["object_id"]), [tuple(p) for p in item.get("points", [])],
                  tuple(item["box"]) if item.get("box") else None, mask)


def _overlay_prompts(shown: np.ndarray, frame: np.ndarray, index: int, prompts: list[dict],
                     engine_name: str | None) -> np.ndarray:
    """`shown` (the frame, maybe with tracked masks) with each object's preview mask on `frame` (if an engine is
    given) and its clicks / box drawn on it."""
    import cv2

    out = shown.copy()
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
