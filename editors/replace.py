"""Replace editor: swap an object for the one in a photo, with its own shape and size (GenVideo, seed 001).

run() cuts the new object out of its photo (RGBA alpha, a mask, a click / box, or an automatic cut-out on a plain
background), places it by the default rule (core.placement: bottom centre and height of the old object on the
reference frame, then the old object's motion), and hands both to the classic or the diffusion engine, which
remove the old object (and its shadow) and put the new one in its place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.clip import Clip
from .core.dispatch import DiffusionSettings, load_engine
from .core.engines import choose_engine
from .core.errors import UserError
from .core.placement import FITS, Placement, place
from .core.tracks import fully_visible_frame
from .core.prompts import Prompt

NAME = "replace"
TITLE = "Replace"
DIFFUSION_MODEL = "vace-1.3b"
# engine name -> "module:function"; each returns a core.results.ReplacementResult
ENGINES = {"classic": "editors.classic.replace:replace_object",
           "diffusion": "editors.diffusion.replace:replace_object"}


@dataclass
class ReplaceResult:
    clip: Clip                      # the clip with the new object
    masks: np.ndarray               # (T, H, W) bool: the new object where it is seen
    changed: np.ndarray             # (T, H, W) bool: pixels that differ from the input
    placement: Placement
    engine: str = "classic"
    notice: str | None = None


def read_target(path) -> np.ndarray:
    """The target photo as (h, w, 3) RGB or (h, w, 4) RGBA uint8 (an alpha channel or a transparent palette
    colour is kept: it marks the object)."""
    from PIL import Image, ImageOps

    path = Path(path)
    if not path.is_file():
        raise UserError(f"Target image {path.name!r} does not exist.")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            return np.asarray(image.convert("RGBA" if transparent else "RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"Target image {path.name!r} is not a readable image ({type(exc).__name__}).") from None


def cut_out(target: np.ndarray, target_mask: np.ndarray | None = None, prompt: Prompt | None = None, *,
            engine: str = "classic", registry=None) -> np.ndarray:
    """The new object as RGBA: the image's alpha, the mask given, the object a click / box marks (SAM2 with the
    diffusion engine when its weights are here, else the classic first-mask), or the automatic cut-out."""
    from .classic.cutout import target_rgba

    if prompt is not None and target_mask is None:
        from . import segment

        rgb = np.ascontiguousarray(np.asarray(target)[..., :3])
        target_mask = segment.preview(rgb, Prompt(0, 1, list(prompt.points), prompt.box),
                                      engine="auto" if engine == "diffusion" else "classic", registry=registry)
        if not target_mask.any():
            raise UserError("The click / box on the photo found no object: click inside it or draw a box around it.")
        target = rgb
    return target_rgba(target, target_mask)


def reference_frame(source: np.ndarray, frame: int | None) -> int:
    """`frame` if given (>= 0), else the first frame where the source object is fully visible."""
    return fully_visible_frame(source) if frame is None or frame < 0 else int(frame)


def run(clip: Clip, source: np.ndarray, target: np.ndarray, *, target_mask: np.ndarray | None = None,
        target_prompt: Prompt | None = None, frame: int | None = None, fit: str = "height", scale: float = 1.0,
        effects: bool = True, harmonize: bool = False, keep: np.ndarray | None = None, engine: str = "auto",
        steps: int = 25, guidance: float = 5.0, seed: int = 0, prompt: str = "", model: str = DIFFUSION_MODEL,
        registry=None, progress=None) -> ReplaceResult:
    """Replace the object `source` ((T, H, W) bool masks) of `clip` by the object of the photo `target`."""
    shape = (clip.num_frames, clip.height, clip.width)
    source = np.asarray(source, bool)
    if source.shape != shape:
        raise UserError(f"The mask is {source.shape[-1]}x{source.shape[-2]} with {source.shape[0]} frames but the "
                        f"clip is {clip.width}x{clip.height} with {clip.num_frames}.")
    if not source.any():
        raise UserError("The source object's mask is empty on every frame: mark the object to replace "
                        "(white = object).")
    if keep is not None:
        keep = np.asarray(keep, bool) & ~source
    chosen, notice = choose_engine(engine, [model], registry)
    rgba = cut_out(target, target_mask, target_prompt, engine=chosen, registry=registry)
    reference = reference_frame(source, frame)
    if harmonize and 0 <= reference < clip.num_frames:
        from .classic.replace import harmonize_target

        rgba = harmonize_target(rgba, clip.frames[reference], source[reference])
    placement = place(rgba, source, reference=reference, fit=fit, scale=scale)
    diffusion = DiffusionSettings(steps, guidance, seed, prompt, model, registry)
    out = load_engine(ENGINES, chosen)(clip.frames, source, placement, keep=keep, effects=effects,
                                       diffusion=diffusion, progress=progress)
    return ReplaceResult(clip.with_frames(out.frames), out.masks, out.changed, placement, chosen, notice)


def preview(clip: Clip, source: np.ndarray, target: np.ndarray, *, target_mask=None, target_prompt=None,
            frame: int | None = None, fit: str = "height", scale: float = 1.0, engine: str = "classic",
            registry=None) -> np.ndarray:
    """The reference frame with the new object placed on it, before running (the cut-out as `engine` makes it)."""
    from .core.placement import preview as placement_preview

    reference = reference_frame(source, frame)
    if not 0 <= reference < clip.num_frames:
        raise UserError(f"Frame {reference} is outside the clip, which has frames 0..{clip.num_frames - 1}.")
    rgba = cut_out(target, target_mask, target_prompt, engine=engine, registry=registry)
    return placement_preview(clip.frames[reference], rgba, source[reference], fit=fit, scale=scale)


def prompt_from_json(text: str | None) -> Prompt | None:
    """'{"points": [[x, y, 1], ...], "box": [x0, y0, x1, y1]}' on the photo -> Prompt, or None when empty."""
    import json

    if not text or not str(text).strip():
        return None
    try:
        data = json.loads(text)
        points = [(float(x), float(y), int(label)) for x, y, label in data.get("points") or []]
        box = tuple(float(v) for v in data["box"]) if data.get("box") else None
    except (ValueError, TypeError, KeyError, AttributeError):
        raise UserError('The photo prompt must be JSON like {"points": [[x, y, 1]], "box": [x0, y0, x1, y1]}.') \
            from None
    return Prompt(0, 1, points, box) if points or box else None


# ---- UI ---------------------------------------------------------------------------------------------------
def render(hub) -> None:
    import gradio as gr

    from .core import session, ui
    from .core.masks import save_masks

    clicks = gr.State({"points": [], "box": None, "corner": None})      # on the photo; small
    ui.step_guide(["Upload a clip, or take the one from the Segment tab (its objects come with it).",
                   "Choose the object to replace (a Segment-tab object, or upload its mask).",
                   "Upload a photo of the new object (RGBA PNG, or on a plain background; click it to refine).",
                   "Check the placement preview, then press Replace."])
    with gr.Row(equal_height=False):
        with gr.Column(min_width=320):
            video = gr.Video(label="Video", sources=["upload"], elem_id="replace-video")
            examples = gr.Column()
            chips = gr.HTML()
            object_choice = gr.Dropdown([], label="The object to replace (from the Segment tab)", visible=False,
                                        elem_id="replace-object")
            note = gr.Markdown()
            mask_file = gr.File(label="Or its mask: mask video, image or zip of frames",
                                file_types=["video", "image", ".zip"], elem_id="replace-mask")
            photo = gr.Image(label="Photo of the new object (RGBA PNG, or a photo on a plain background)",
                             type="filepath", image_mode=None, sources=["upload"], elem_id="replace-photo")
            cutout = gr.Image(label="Cut-out (click the object to refine, or draw a box)", interactive=False,
                              type="numpy", elem_id="replace-cutout")
            with gr.Row():
                click_mode = gr.Radio(["object (+)", "background (−)", "box corners"], value="object (+)",
                                      label="A click on the cut-out adds")
                clear = gr.Button("Clear clicks")
            photo_mask = gr.File(label="Mask of the photo (optional, white = object)", file_types=["image"])
            with gr.Row():
                fit = gr.Radio(list(FITS), value="height", label="Fit the new object to the old one's")
                scale = gr.Slider(0.2, 3.0, 1.0, step=0.05, label="Scale")
                frame = gr.Number(-1, precision=0, label="Reference frame (-1 = first fully visible)")
            with gr.Row():
                effects = gr.Checkbox(True, label="Also remove the old object's shadow")
                harmonize = gr.Checkbox(False, label="Match the new object's colours to the scene")
            placement_view = gr.Image(label="Placement on the reference frame (preview)", interactive=False,
                                      type="numpy", elem_id="replace-preview")
            engine = ui.engine_input(NAME)
            steps, guidance, seed, prompt = ui.diffusion_settings("describe the new object")
            button, cancel = ui.run_buttons("Replace", NAME)
            status = gr.Markdown()
        with gr.Column(min_width=320):
            result = gr.Video(label="Result", elem_id="replace-result")
            compare = gr.Video(label="Before | after", elem_id="replace-compare")
            mask_downloads = gr.File(label="The new object's masks (PNG zip, mask video)", file_count="multiple")
    state = hub.objects if hub.objects is not None else gr.State(None)
    session.follow(hub, video, object_choice, chips, note)

    def source_and_keep(clip, mask_value, choice, state_value):
        """The old object: the uploaded mask, else the chosen Segment-tab object (its others are kept)."""
        uploaded = ui.load_mask_files([mask_value] if mask_value else [], clip)
        if uploaded:
            return uploaded[0], None
        picked, others = session.choose_objects(state_value, clip, [choice] if choice else [])
        if not picked:
            raise UserError("Add the old object's mask: upload one, or make one in the Segment tab for this video.")
        others = list(others.values())
        return next(iter(picked.values())), (np.any(others, axis=0) if others else None)

    def photo_inputs(photo_value, mask_value, marks):
        if not photo_value:
            raise UserError("Upload a photo of the new object.")
        target = read_target(photo_value)
        mask = None
        if mask_value:
            from .core.masks import read_mask_image

            mask = read_mask_image(Path(ui._path_of(mask_value)))
        chosen = Prompt(0, 1, [tuple(p) for p in marks["points"]], tuple(marks["box"]) if marks["box"] else None)
        return target, mask, chosen if (chosen.points or chosen.box) else None

    def show_cutout(photo_value, mask_value, marks, engine_value):
        """The photo with the object it will take highlighted (clicks: SAM2 when the run will use the diffusion
        engine, else the classic first mask), and the clicks drawn."""
        if not photo_value:
            return None, ""
        import cv2

        from .core.masks import overlay

        try:
            target, mask, chosen = photo_inputs(photo_value, mask_value, marks)
            runs_on = choose_engine(engine_value, [DIFFUSION_MODEL])[0] if chosen is not None else "classic"
            rgba = cut_out(target, mask, chosen, engine=runs_on)
            picture = overlay(np.ascontiguousarray(target[..., :3]), rgba[..., 3] >= 128, alpha=0.35)
            message = ""
        except UserError as exc:
            picture, message = np.ascontiguousarray(read_target(photo_value)[..., :3]), f"⚠️ {exc}"
        for x, y, label in marks["points"]:
            cv2.circle(picture, (int(x), int(y)), 5, (40, 220, 40) if label else (230, 40, 40), -1)
        if marks["box"]:
            x0, y0, x1, y1 = (int(v) for v in marks["box"])
            cv2.rectangle(picture, (x0, y0), (x1 - 1, y1 - 1), (255, 220, 0), 2)
        return picture, message

    @ui.keep_on_error(3)
    def on_click(photo_value, mask_value, marks, mode, engine_value, evt: gr.SelectData):
        x, y = (int(v) for v in evt.index)
        marks = {"points": list(marks["points"]), "box": marks["box"], "corner": marks["corner"]}
        if mode == "box corners":
            if marks["corner"] is None:
                marks["corner"] = (x, y)
            else:
                x0, y0 = marks.pop("corner")
                marks["box"], marks["corner"] = [min(x0, x), min(y0, y), max(x0, x) + 1, max(y0, y) + 1], None
        else:
            marks["points"].append([x, y, 1 if mode.startswith("object") else 0])
        return (*show_cutout(photo_value, mask_value, marks, engine_value), marks)

    def show_placement(video_value, mask_value, choice, state_value, photo_value, photo_mask_value, marks, fit_value,
                       scale_value, frame_value, engine_value):
        if not video_value or not photo_value:
            return None
        try:
            clip = ui.cached_clip(video_value)
            source, _ = source_and_keep(clip, mask_value, choice, state_value)
            target, mask, chosen = photo_inputs(photo_value, photo_mask_value, marks)
            runs_on = choose_engine(engine_value, [DIFFUSION_MODEL])[0] if chosen is not None else "classic"
            return preview(clip, source, target, target_mask=mask, target_prompt=chosen, frame=int(frame_value),
                           fit=fit_value, scale=float(scale_value), engine=runs_on)
        except UserError:
            return None

    def replace_and_save(video_value, source, keep, target, mask, chosen, frame_value, fit_value, scale_value,
                         effects_value, harmonize_value, engine_value, steps_value, guidance_value, seed_value,
                         prompt_value, clip, progress):
        out = run(clip, source, target, target_mask=mask, target_prompt=chosen, frame=int(frame_value),
                  fit=fit_value, scale=float(scale_value), effects=bool(effects_value),
                  harmonize=bool(harmonize_value), keep=keep, engine=engine_value, steps=int(steps_value),
                  guidance=float(guidance_value), seed=int(seed_value or 0), prompt=prompt_value or "",
                  progress=ui.progress_callback(progress))
        folder = ui.output_dir()
        return (ui.save_video(out.clip, folder, f"{clip.name or 'clip'}_replaced"),
                ui.side_by_side(clip, out.clip, folder), save_masks({1: out.masks}, clip, folder))

    @ui.user_errors
    def handle(video_value, mask_value, photo_value, photo_mask_value, photo_prompt, frame_value, fit_value,
               scale_value, effects_value, harmonize_value, engine_value, steps_value, guidance_value, seed_value,
               prompt_value, progress=gr.Progress()):
        """API: the photo's clicks / box as JSON ('' = the automatic cut-out)."""
        clip = ui.load_video(video_value)
        source, keep = source_and_keep(clip, mask_value, None, None)
        target, mask, _ = photo_inputs(photo_value, photo_mask_value, {"points": [], "box": None})
        return replace_and_save(video_value, source, keep, target, mask, prompt_from_json(photo_prompt),
                                frame_value, fit_value, scale_value, effects_value, harmonize_value, engine_value,
                                steps_value, guidance_value, seed_value, prompt_value, clip, progress)

    @ui.keep_on_error(3)
    def handle_ui(video_value, mask_value, choice, state_value, photo_value, photo_mask_value, marks, *settings,
                  progress=gr.Progress()):
        clip = ui.load_video(video_value)
        source, keep = source_and_keep(clip, mask_value, choice, state_value)
        target, mask, chosen = photo_inputs(photo_value, photo_mask_value, marks)
        return replace_and_save(video_value, source, keep, target, mask, chosen, *settings, clip, progress)

    photo.change(lambda: {"points": [], "box": None, "corner": None}, None, clicks, api_visibility="undocumented")
    for component in (photo, photo_mask, clicks):
        component.change(show_cutout, [photo, photo_mask, clicks, engine], [cutout, status],
                         api_visibility="undocumented", **ui.GPU_QUEUE)
    cutout.select(on_click, [photo, photo_mask, clicks, click_mode, engine], [cutout, status, clicks],
                  api_visibility="undocumented", **ui.GPU_QUEUE)
    clear.click(lambda: {"points": [], "box": None, "corner": None}, None, clicks, api_visibility="undocumented")
    placement_inputs = [video, mask_file, object_choice, state, photo, photo_mask, clicks, fit, scale, frame, engine]
    for component in (video, mask_file, object_choice, photo, photo_mask, clicks, fit, scale, frame):
        trigger = component.release if component is scale else component.change
        trigger(show_placement, placement_inputs, placement_view, api_visibility="undocumented", **ui.GPU_QUEUE)
    settings = [frame, fit, scale, effects, harmonize, engine, steps, guidance, seed, prompt]
    running = button.click(ui.announce_engine([DIFFUSION_MODEL]), engine, None, api_visibility="undocumented",
                           queue=False).then(
        handle_ui, [video, mask_file, object_choice, state, photo, photo_mask, clicks] + settings,
        [result, compare, mask_downloads], api_visibility="undocumented", **ui.GPU_QUEUE)
    cancel.click(None, None, None, cancels=[running])
    photo_prompt = gr.Textbox(visible=False)
    gr.Button(visible=False).click(handle, [video, mask_file, photo, photo_mask, photo_prompt] + settings,
                                   [result, compare, mask_downloads], api_name=NAME, **ui.GPU_QUEUE)
    with examples:
        gr.Examples([[str(ui.EXAMPLES / "dogs-jump.mp4"), str(ui.EXAMPLES / "dogs-jump_dog.mp4"),
                      str(ui.EXAMPLES / "replace_target.png")]], [video, mask_file, photo],
                    [result, compare, mask_downloads], cache_examples=True, cache_mode="lazy",
                    fn=lambda video_value, mask_value, photo_value: handle(
                        video_value, mask_value, photo_value, None, "", -1, "height", 1.0, True, False, "classic",
                        25, 5.0, 0, ""),
                    label="Example (a clip, the mask of the object to replace, the new object): click it")
    return video


# ---- CLI --------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    from .core import cli

    parser = subparsers.add_parser(NAME, help="replace an object by the object in a photo",
                                   description="Replace the masked object by the object of a photo, with its own "
                                               "shape and size. Placement: on the reference frame the new object's "
                                               "box has its bottom centre on the old object's and its height; then "
                                               "it follows the old object's motion (position, scale, rotation).")
    cli.add_io_arguments(parser)
    parser.add_argument("--mask", required=True, metavar="M",
                        help="the object to replace: mask video, folder of mask images or one image (all frames)")
    parser.add_argument("--target", required=True, metavar="IMAGE",
                        help="the new object: an RGBA PNG (alpha = object) or a photo on a plain background")
    parser.add_argument("--target-mask", metavar="IMG", help="mask of the object in the photo (white = object)")
    parser.add_argument("--target-box", metavar="x0,y0,x1,y1", help="box around the object in the photo")
    parser.add_argument("--target-points", metavar='"x,y,label;..."', help="clicks on the photo (1 = object)")
    parser.add_argument("--frame", type=cli.whole(0, 10**6), default=None,
                        help="reference frame for the placement (default: the first where the object is fully seen)")
    parser.add_argument("--fit", choices=FITS, default="height", help="match the old object's box height "
                                                                      "(default), width, or silhouette area")
    parser.add_argument("--scale", type=cli.real(0.01, 100.0), default=1.0, help="times the fitted size (default 1)")
    parser.add_argument("--no-effects", action="store_true", help="keep the old object's shadow / reflection")
    parser.add_argument("--harmonize", action="store_true", help="match the new object's colours to the scene")
    parser.add_argument("--masks-out", metavar="DIR/",
                        help="write the new object's masks: a folder ending in / (0/255 PNGs named like the "
                             "frames) or a mask video")
    cli.add_diffusion_arguments(parser)
    parser.set_defaults(handler=main_cli)


def main_cli(args) -> int:
    from .core import cli
    from .core.clip import list_frame_files, write_clip
    from .core.masks import load_masks, read_mask_image, write_masks
    from .core.prompts import parse_box, parse_points

    clip = cli.read_input(args)
    source = load_masks(args.mask, clip.num_frames, clip.height, clip.width, exact_size=True)
    target = read_target(args.target)
    target_mask = read_mask_image(Path(args.target_mask)) if args.target_mask else None
    chosen = None
    if args.target_box or args.target_points:
        chosen = Prompt(0, 1, parse_points(args.target_points) if args.target_points else [],
                        parse_box(args.target_box) if args.target_box else None)
    show = cli.progress_printer(args.quiet)
    out = run(clip, source, target, target_mask=target_mask, target_prompt=chosen, frame=args.frame, fit=args.fit,
              scale=args.scale, effects=not args.no_effects, harmonize=args.harmonize, engine=args.engine,
              steps=args.steps, guidance=args.guidance, seed=args.seed, prompt=args.prompt, model=args.model,
              progress=show)
    cli.finish_progress(args.quiet)
    cli.notice(out.notice)
    written = write_clip(out.clip, args.output)
    if args.masks_out:
        source_path = Path(args.input)
        names = [f.stem for f in list_frame_files(source_path)] if source_path.is_dir() else None
        write_masks(out.masks, clip, args.masks_out, names)
    if not args.quiet:
        print(written)
    return 0
