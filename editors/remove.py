"""Remove editor: objects *and their effects* (shadows, reflections) — Generative Omnimatte, seed 000.

run() builds the trimask (remove / keep / may-change band), runs the classic or the diffusion engine and,
on request, splits each removed object into an RGBA layer over the clean background.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .core import trimask as tm
from .core.clip import Clip, write_clip, write_rgba
from .core.dispatch import DiffusionSettings, load_engine
from .core.engines import choose_engine
from .core.errors import UserError, whole_number
from .core.layers import split_object_layers

NAME = "remove"
TITLE = "Remove"
DIFFUSION_MODEL = "vace-1.3b"
# engine name -> "module:function"; each returns a core.results.RemovalResult
ENGINES = {"classic": "editors.classic.remove:remove_objects",
           "diffusion": "editors.diffusion.remove:remove_objects"}
MAX_BAND = 160                  # px; the tab's slider goes as far


@dataclass
class RemoveResult:
    clip: Clip                      # the clip without the objects (and their effects)
    background: Clip                # the clean plate (equals `clip` wherever nothing was removed)
    changed: np.ndarray             # (T,H,W) bool: pixels that differ from the input
    layers: list[np.ndarray] = field(default_factory=list)   # per removed object: (T,H,W,4) uint8 RGBA
    engine: str = "classic"
    notice: str | None = None


def _union(masks: list[np.ndarray], shape) -> np.ndarray:
    out = np.zeros(shape, bool)
    for m in masks:
        out |= m
    return out


def run(clip: Clip, remove: list[np.ndarray], keep: list[np.ndarray] = (), *, effects: bool = True,
        band: int | None = None, engine: str = "auto", layers: bool = False, steps: int = 25,
        guidance: float = 5.0, seed: int = 0, prompt: str = "", model: str = DIFFUSION_MODEL,
        registry=None, progress=None) -> RemoveResult:
    """Remove the `remove` objects ((T,H,W) bool masks) from `clip`; `keep` objects stay exactly as they are."""
    shape = (clip.num_frames, clip.height, clip.width)
    for m in list(remove) + list(keep):
        if m.shape != shape:
            raise UserError(f"A mask is {m.shape[2]}x{m.shape[1]} with {m.shape[0]} frames but the clip is "
                            f"{clip.width}x{clip.height} with {clip.num_frames}.")
    if not remove or not any(m.any() for m in remove):
        raise UserError("The mask is empty: mark the object to remove (white = object).")
    band = None if band is None else whole_number("band", band, 0, MAX_BAND)
    chosen, notice = choose_engine(engine, [model], registry)
    if effects and chosen == "classic" and clip.num_frames < 2:
        # the classic engine tells a shadow from the ground by comparing frames: one frame has none to compare
        effects = False
        notice = " ".join(filter(None, [notice, "A single frame: the classic engine needs other frames to find "
                                                "shadows and reflections, so only the object itself is removed."]))
    removed, kept = _union(remove, shape), _union(keep, shape)
    trimask = tm.make(removed, kept, band=band, effects=effects)
    diffusion = DiffusionSettings(steps, guidance, seed, prompt, model, registry)
    out = load_engine(ENGINES, chosen)(clip.frames, trimask, keep=kept, effects=effects, diffusion=diffusion,
                                       progress=progress)
    object_layers = split_object_layers(clip.frames, out.background, remove, out.layer_mask) if layers else []
    return RemoveResult(clip.with_frames(out.frames), clip.with_frames(out.background), out.changed,
                        object_layers, chosen, notice)


# ---- UI ---------------------------------------------------------------------------------------------------
def render(hub) -> None:
    import gradio as gr

    from .core import session, ui

    ui.step_guide(["Upload a clip, or take the one from the Segment tab (its objects come with it).",
                   "Tick the objects to remove (the others stay exactly as they are), or upload their masks.",
                   "Press Remove: the result, a before | after video, the clean background and RGBA layers."])
    with gr.Row(equal_height=False):
        with gr.Column(min_width=320):
            video = gr.Video(label="Video", sources=["upload"], elem_id="remove-video")
            examples = gr.Column()
            chips = gr.HTML()
            objects = gr.CheckboxGroup([], label="Objects from the Segment tab to remove (the others are kept)",
                                       visible=False, elem_id="remove-objects")
            note = gr.Markdown()
            mask_files = gr.File(label="Or object masks: one file per object (mask video, image or zip of frames)",
                                 file_count="multiple", file_types=["video", "image", ".zip"], elem_id="remove-masks")
            effects = gr.Checkbox(True, label="Also remove the object's shadow / reflection")
            with gr.Accordion("Effects and layers", open=False):
                band = gr.Slider(0, 160, 0, step=1, label="Effect band in pixels (0 = sized to the object)")
                want_layers = gr.Checkbox(True, label="Export RGBA layers (object + its effect)")
                layers_format = gr.Radio(list(ui.LAYER_FORMATS), value="PNG zip", label="Layer files")
            engine = ui.engine_input(NAME)
            steps, guidance, seed, prompt = ui.diffusion_settings("describe the background")
            button, cancel = ui.run_buttons("Remove", NAME)
        with gr.Column(min_width=320):
            result = gr.Video(label="Result", elem_id="remove-result")
            compare = gr.Video(label="Before | after", elem_id="remove-compare")
            background = gr.Video(label="Clean background")
            layer_preview = gr.Image(label="Layer preview (middle frame, first object)", type="numpy",
                                     interactive=False)
            layer_files = gr.File(label="Layers (RGBA per object)", file_count="multiple")
    effects.change(lambda on: gr.update(value=on), effects, want_layers, api_visibility="undocumented")
    session.follow(hub, video, objects, chips, note)
    state = hub.objects if hub.objects is not None else gr.State(None)

    def remove_and_save(video, masks, effects, band, engine, steps, guidance, seed, prompt, layers, chosen, state,
                        layers_format, progress):
        clip = ui.load_video(video)
        remove = ui.load_mask_files(masks, clip)
        keep = []
        if not remove:
            picked, others = session.choose_objects(state, clip, chosen)
            if not picked:
                raise UserError("Add a mask: upload one, or make one in the Segment tab for this video.")
            remove, keep = list(picked.values()), list(others.values())
        out = run(clip, remove, keep, effects=bool(effects), band=int(band or 0) or None, engine=engine,
                  layers=bool(layers), steps=int(steps), guidance=float(guidance), seed=int(seed or 0),
                  prompt=prompt or "", progress=ui.progress_callback(progress))
        folder = ui.output_dir()
        suffix = ui.LAYER_FORMATS.get(layers_format, layers_format if str(layers_format).startswith(".") else ".zip")
        layer_paths = [str(write_rgba(layer, clip.fps, folder / f"layer_{i + 1}{suffix}"))
                       for i, layer in enumerate(out.layers)]
        preview = ui.checkerboard_preview(out.layers[0][clip.num_frames // 2]) if out.layers else None
        return (ui.save_video(out.clip, folder, f"{clip.name or 'clip'}_removed"),
                ui.side_by_side(clip, out.clip, folder), ui.save_video(out.background, folder, "background"),
                layer_paths or None, preview)

    @ui.keep_on_error(5)
    def handle_ui(video, masks, effects, band, engine, steps, guidance, seed, prompt, layers, chosen, state,
                  layers_format, progress=gr.Progress()):
        return remove_and_save(video, masks, effects, band, engine, steps, guidance, seed, prompt, layers, chosen,
                               state, layers_format, progress)

    @ui.user_errors
    def handle(video, masks, effects, band, engine, steps, guidance, seed, prompt, layers, chosen, layers_format,
               progress=gr.Progress()):
        """API: the masks are uploaded files (one per object); layers_format ".zip", ".mov" or ".webm"."""
        return remove_and_save(video, masks, effects, band, engine, steps, guidance, seed, prompt, layers, chosen,
                               None, layers_format, progress)[:4]

    settings = [effects, band, engine, steps, guidance, seed, prompt, want_layers, objects]
    outputs = [result, compare, background, layer_files]
    running = button.click(ui.announce_engine([DIFFUSION_MODEL]), engine, None, api_visibility="undocumented",
                           queue=False).then(handle_ui, [video, mask_files] + settings + [state, layers_format],
                                             outputs + [layer_preview], api_visibility="undocumented",
                                             **ui.GPU_QUEUE)
    cancel.click(None, None, None, cancels=[running])
    api_format = gr.Textbox(".zip", visible=False)
    gr.Button(visible=False).click(handle, [video, mask_files] + settings + [api_format], outputs, api_name=NAME,
                                   **ui.GPU_QUEUE)
    with examples:
        gr.Examples([[str(ui.EXAMPLES / "tennis.mp4"), [str(ui.EXAMPLES / "tennis_mask.mp4")]],
                     [str(ui.EXAMPLES / "schoolgirls.mp4"), [str(ui.EXAMPLES / "schoolgirls_girl.mp4")]],
                     [str(ui.EXAMPLES / "dogs-jump.mp4"), [str(ui.EXAMPLES / "dogs-jump_dog.mp4")]]],
                    [video, mask_files], outputs, fn=_example(handle), cache_examples=True, cache_mode="lazy",
                    label="Examples (a clip and the mask of the object to remove): click one")
    return video


def _example(handle):
    """An example's result (cached on first use): the classic engine, effects and layers on."""
    def example(video, masks):
        return handle(video, masks, True, 0, "classic", 25, 5.0, 0, "", True, [], ".zip")
    return example


# ---- CLI --------------------------------------------------------------------------------------------------
def add_cli(subparsers) -> None:
    from .core import cli

    parser = subparsers.add_parser(NAME, help="remove objects and their shadows/reflections",
                                   description="Remove masked objects (and, by default, the shadows and "
                                               "reflections they cast) from a video.")
    cli.add_io_arguments(parser)
    parser.add_argument("--mask", action="append", required=True, metavar="M",
                        help="object to remove: mask video, folder of mask images, one image (all frames) or a zip "
                             "of images (one folder per object); repeat for several objects")
    parser.add_argument("--keep", action="append", default=[], metavar="K",
                        help="object that must stay exactly as it is (same forms as --mask); repeatable")
    parser.add_argument("--layers", metavar="DIR", help="also write background.mp4 and one RGBA layer per "
                                                        "object (layer_N.mov, ProRes 4444) into DIR")
    parser.add_argument("--no-effects", action="store_true", help="plain inpainting: keep shadows/reflections")
    parser.add_argument("--band", type=cli.whole(0, MAX_BAND), default=None,
                        help="width in pixels of the band where effects are searched, 0 to "
                             f"{MAX_BAND} (default: sized to the object)")
    cli.add_diffusion_arguments(parser)
    parser.set_defaults(handler=main_cli)


def main_cli(args) -> int:
    from .core import cli
    from .core.masks import load_mask_objects

    if args.layers:
        cli.check_writable(Path(args.layers), "--layers")
    clip = cli.read_input(args)
    shape = (clip.num_frames, clip.height, clip.width)
    remove = [m for path in args.mask for m in load_mask_objects(path, *shape)]
    keep = [k for path in args.keep for k in load_mask_objects(path, *shape)]
    show = cli.progress_printer(args.quiet)
    out = run(clip, remove, keep, effects=not args.no_effects, band=args.band, engine=args.engine,
              layers=bool(args.layers), steps=args.steps, guidance=args.guidance, seed=args.seed,
              prompt=args.prompt, model=args.model, progress=show)
    cli.finish_progress(args.quiet)
    cli.notice(out.notice)
    written = write_clip(out.clip, args.output)
    if args.layers:
        folder = Path(args.layers)
        write_clip(out.background, folder / "background.mp4")
        for i, layer in enumerate(out.layers):
            write_rgba(layer, clip.fps, folder / f"layer_{i + 1}.mov")
    if not args.quiet:
        print(written)
    return 0
