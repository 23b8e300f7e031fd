"""One browser session's clip and objects, shared by the tabs: the Segment tab makes them, the others use them.

`SessionObjects` is what a gr.State holds (paths and small values only: frames and models never live in
session state). A tab that `follow`s the session opens with the session's video and offers its objects, and
uses the objects only on the very clip they were made on (content hash).
"""
from __future__ import annotations

import dataclasses
import functools
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError
from .masks import OBJECT_COLOURS
from .tracks import Tracks


@dataclass
class SessionObjects:
    """The session's clip (`video`, its content hash) and, once tracked, its objects (`tracks`: a Tracks file)."""
    video: str
    clip_hash: str
    tracks: str | None = None
    ids: list[int] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)

    def load(self, clip) -> Tracks | None:
        """The tracked objects, if there are any and they belong to this clip (same content), else None."""
        if not self.tracks or not Path(self.tracks).exists():
            return None
        tracks = load_tracks(self.tracks)
        return tracks if tracks.belongs_to(clip.frames) else None

    def label(self, object_id: int) -> str:
        return f"{object_id} · {self.names.get(object_id) or f'object {object_id}'}"

    @property
    def labels(self) -> list[str]:
        return [self.label(i) for i in self.ids]

    def with_tracks(self, tracks: Tracks | None, path: str | None) -> SessionObjects:
        ids = tracks.ids if tracks else []
        names = {i: self.names.get(i) or tracks.objects[i].name for i in ids} if tracks else {}
        return dataclasses.replace(self, tracks=path if tracks else None, ids=ids, names=names)


@functools.lru_cache(maxsize=4)       # scrubbing reads the same file on every slider move
def load_tracks(path: str) -> Tracks:
    return Tracks.load(path)


def object_ids(chosen: list[str] | None) -> list[int]:
    """Object ids from a picker's ticked labels ("3 · player" -> 3)."""
    return [int(str(label).split("·")[0].strip()) for label in chosen or []]


def choose_objects(state: SessionObjects | None, clip, chosen: list[str] | None) -> tuple[dict, dict]:
    """(chosen objects' masks, the others' masks) of the session for this clip; refuses an empty choice."""
    tracks = state.load(clip) if isinstance(state, SessionObjects) else None
    if tracks is None:
        if isinstance(state, SessionObjects) and state.ids:
            raise UserError("The Segment tab's objects were made on another video: track them on this one, or "
                            "upload masks.")
        return {}, {}
    ids = object_ids(chosen)
    if not ids:
        raise UserError("Choose at least one object (tick it in the object list), or upload a mask.")
    masks = {i: obj.masks for i, obj in tracks.objects.items()}
    return {i: m for i, m in masks.items() if i in ids}, {i: m for i, m in masks.items() if i not in ids}


def legend(state: SessionObjects | None) -> str:
    """HTML: each object's colour chip, id and name (the colours the overlays use)."""
    if not isinstance(state, SessionObjects) or not state.ids:
        return ""
    chips = []
    for i in state.ids:
        r, g, b = (int(v) for v in OBJECT_COLOURS[(i - 1) % len(OBJECT_COLOURS)])
        chips.append(f'<span style="display:inline-block;margin-right:1em"><span style="display:inline-block;'
                     f'width:0.9em;height:0.9em;border-radius:50%;background:rgb({r},{g},{b});'
                     f'vertical-align:middle"></span> {html.escape(state.label(i))}</span>')
    return "<div>" + "".join(chips) + "</div>"


def follow(hub, video, picker=None, chips=None, note=None) -> None:
    """Wire a tab to the session: when the Segment tab's clip or objects change, the tab opens with that video
    (unless the user uploaded another one in this tab) and offers its objects, all ticked; a note says when the
    tab's video is not the one the objects were made on."""
    import gradio as gr

    if hub.objects is None:
        return
    own = gr.State(False)           # the user uploaded this tab's video: the session must not replace it
    video.upload(lambda: True, None, own, api_visibility="undocumented")
    video.clear(lambda: False, None, own, api_visibility="undocumented")
    extras = [c for c in (picker, chips, note) if c is not None]

    def offer(state, current, mine):
        """(picker, chips, note) updates for the tab's current video."""
        same = isinstance(state, SessionObjects) and (not current or _path(current) == state.video
                                                      or _same_content(current, state))
        ids = isinstance(state, SessionObjects) and bool(state.ids)
        updates = []
        if picker is not None:
            labels = state.labels if ids else []
            single = isinstance(picker, gr.Dropdown) and not picker.multiselect     # one object: the first
            chosen = (labels[:1] if single else labels) if same else []
            updates.append(gr.update(choices=labels, value=(chosen[0] if chosen else None) if single else chosen,
                                     visible=ids))
        if chips is not None:
            updates.append(legend(state) if same else "")
        if note is not None:
            updates.append("" if same or not ids else
                           "⚠️ The Segment tab's objects belong to another video: upload masks for this one, or "
                           "track it in the Segment tab.")
        return updates

    def on_session(state, current, mine):
        if not isinstance(state, SessionObjects):
            updates = (gr.update(),) * (1 + len(extras))
        else:
            follows = not mine
            shown = state.video if follows else current
            updates = (gr.update(value=state.video) if follows and _path(current) != state.video else gr.update(),
                       *offer(state, shown, mine))
        return updates if extras else updates[0]

    hub.objects.change(on_session, [hub.objects, video, own], [video] + extras, api_visibility="undocumented")
    if extras:
        video.change(lambda current, state, mine: tuple(offer(state, current, mine)), [video, hub.objects, own],
                     extras, api_visibility="undocumented")


def _path(value) -> str | None:
    from .ui import _path_of

    return _path_of(value)


def _same_content(value, state: SessionObjects) -> bool:
    from .tracks import clip_hash
    from .ui import cached_clip

    try:
        return clip_hash(cached_clip(value).frames) == state.clip_hash
    except UserError:
        return False


def overlay_tracked(frame: np.ndarray, state: SessionObjects | None, index: int) -> np.ndarray:
    """The frame with the session's tracked masks of that frame drawn on it (scrubbing after Track)."""
    from .masks import overlay_objects

    if not isinstance(state, SessionObjects) or not state.tracks or not Path(state.tracks).exists():
        return frame
    tracks = load_tracks(state.tracks)
    if not 0 <= index < tracks.shape[0] or tracks.shape[1:] != frame.shape[:2]:
        return frame
    return overlay_objects(frame, {i: obj.masks[index] for i, obj in tracks.objects.items()})
