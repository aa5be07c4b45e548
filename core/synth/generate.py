"""Making a synthetic dataset: :func:`generate` writes the videos, their CSVs and ``synth.json``.

Layout (the app's project layout, :mod:`core.datasets.project`)::

    <root>/synth.json                          settings, seed and the full manifest
    <root>/<subject>/<video>.mkv               lossless FFV1 (or <video>/frame_0000.png …)
    <root>/<subject>/<video>.intervals.csv     the micro-expressions (ground truth)
    <root>/<subject>/<video>.distractors.csv   blinks, macro-expressions, head jerks

Both CSVs have :data:`core.intervals_csv.INTERVAL_COLUMNS`, 0-based frames, ``source`` human and
``status`` accepted; the distractors' ``note`` starts with their kind (blink, macro,
head_jerk). Video names (``s01_v01``) are unique in the dataset.

Every random draw comes from ``numpy.random.default_rng([seed, stream, subject, video, …])``,
so the same config gives the same CSV and ``synth.json`` bytes and the same decoded frames (the
``.mkv`` files differ only in the random segment id FFmpeg's muxer writes), and adding subjects
or videos leaves the existing ones unchanged.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_write_text
from core.intervals_csv import write_intervals_csv
from core.metrics import EvalInterval
from core.progress import CancelToken, ProgressCallback, report
from core.synth.config import SynthConfig
from core.synth.events import SynthEvent, plan_events
from core.synth.footage import BaseClip, load_base
from core.synth.looks import HeadMotion, SubjectLook
from core.synth.render import VideoRenderer, open_video_writer, video_path

__all__ = ["SYNTH_VERSION", "MANIFEST_NAME", "SynthVideo", "SynthManifest", "generate",
           "event_row"]

#: Bump when the same config and seed would give different output.
SYNTH_VERSION = 1
MANIFEST_NAME = "synth.json"
_LOOK_STREAM, _VIDEO_STREAM, _NOISE_STREAM = 1, 2, 3
_PROGRESS_EVERY = 8


@dataclass(frozen=True)
class SynthVideo:
    """One generated video.

    Attributes:
        subject, video: subject folder name and video name (file stem, unique in the dataset).
        path: the video file or frame folder.
        fps, n_frames, width, height: the video's format.
        base, base_first_frame, base_n_frames: the base footage stretch it was made from.
        look: the subject's look.
        events: all events in time order (:attr:`micro_expressions` and :attr:`distractors`).
    """

    subject: str
    video: str
    path: Path
    fps: float
    n_frames: int
    width: int
    height: int
    base: str
    base_first_frame: int
    base_n_frames: int
    look: SubjectLook
    events: tuple[SynthEvent, ...]

    @property
    def micro_expressions(self) -> tuple[SynthEvent, ...]:
        return tuple(event for event in self.events if event.kind == "me")

    @property
    def distractors(self) -> tuple[SynthEvent, ...]:
        return tuple(event for event in self.events if event.kind != "me")

    def ground_truth(self) -> list[EvalInterval]:
        """The micro-expressions as :class:`core.metrics.EvalInterval` (label = emotion)."""
        return [EvalInterval(self.video, e.onset_frame, e.offset_frame, e.emotion, self.subject,
                             e.apex_frame) for e in self.micro_expressions]

    def to_dict(self, root: Path) -> dict[str, Any]:
        """JSON-safe dict; ``path`` relative to ``root``."""
        return {"subject": self.subject, "video": self.video,
                "path": self.path.relative_to(root).as_posix(), "fps": self.fps,
                "n_frames": self.n_frames, "width": self.width, "height": self.height,
                "base": self.base, "base_first_frame": self.base_first_frame,
                "base_n_frames": self.base_n_frames, "look": self.look.to_dict(),
                "events": [event.to_dict() for event in self.events]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: Path) -> SynthVideo:
        """Inverse of :meth:`to_dict`."""
        return cls(subject=data["subject"], video=data["video"], path=root / data["path"],
                   fps=float(data["fps"]), n_frames=int(data["n_frames"]),
                   width=int(data["width"]), height=int(data["height"]), base=data["base"],
                   base_first_frame=int(data["base_first_frame"]),
                   base_n_frames=int(data["base_n_frames"]),
                   look=SubjectLook.from_dict(data["look"]),
                   events=tuple(SynthEvent.from_dict(e) for e in data["events"]))


@dataclass(frozen=True)
class SynthManifest:
    """What :func:`generate` made: the config and every video with its events."""

    root: Path
    config: SynthConfig
    videos: tuple[SynthVideo, ...]

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(video.subject for video in self.videos))

    def ground_truth(self) -> list[EvalInterval]:
        """All micro-expressions of the dataset as :class:`core.metrics.EvalInterval`."""
        return [interval for video in self.videos for interval in video.ground_truth()]

    def to_dict(self) -> dict[str, Any]:
        return {"generator": "core.synth", "version": SYNTH_VERSION,
                "seed": self.config.seed, "config": self.config.to_dict(),
                "videos": [video.to_dict(self.root) for video in self.videos]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], root: Path) -> SynthManifest:
        return cls(Path(root), SynthConfig.from_dict(data["config"]),
                   tuple(SynthVideo.from_dict(v, Path(root)) for v in data["videos"]))

    @classmethod
    def load(cls, root: str | os.PathLike[str]) -> SynthManifest:
        """Read ``<root>/synth.json``; a missing or foreign file raises ``ValueError``."""
        root = Path(root)
        path = root / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: cannot read a synthetic dataset manifest ({error})") \
                from None
        if data.get("generator") != "core.synth":
            raise ValueError(f"{path}: not written by core.synth")
        return cls.from_dict(data, root)


def event_row(event: SynthEvent, video_name: str, fps: float) -> dict[str, Any]:
    """An :data:`core.intervals_csv.INTERVAL_COLUMNS` row for an event."""
    if event.kind == "me":
        note = f"synthetic ME ({event.pattern}, amplitude {event.amplitude_px:.2f} px)"
    elif event.kind == "macro":
        note = f"macro ({event.pattern}, amplitude {event.amplitude_px:.2f} px)"
    elif event.kind == "blink":
        note = f"blink (upper lid travel {event.amplitude_px:.2f} px)"
    else:
        note = (f"head_jerk ({event.amplitude_px:.2f} px, "
                f"{'returns' if event.returns else 'stays'})")
    return {"video": video_name, "onset_frame": event.onset_frame,
            "apex_frame": event.apex_frame, "offset_frame": event.offset_frame,
            "onset_s": round(event.onset_frame / fps, 4),
            "apex_s": round(event.apex_frame / fps, 4),
            "offset_s": round(event.offset_frame / fps, 4),
            "emotion": event.emotion, "confidence": 1.0, "source": "human",
            "status": "accepted", "note": note}


def generate(config: SynthConfig, out_dir: str | os.PathLike[str],
             progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
             overwrite: bool = False) -> SynthManifest:
    """Make a synthetic dataset in ``out_dir`` (layout in the module docstring).

    Args:
        config: what to make (use :meth:`SynthConfig.preset` for the usual sizes).
        out_dir: the dataset folder; created if missing.
        progress: receives ``Progress("landmarks", …)`` while the base footage is tracked, then
            ``Progress("synth", frames_done, frames_total, message=video name)``.
        cancel: stops at the next frame; the video being written is removed, ``synth.json``
            is not written.
        overwrite: allow a non-empty ``out_dir`` (same-named files are replaced, others kept).
    Returns:
        The manifest, also saved as ``<out_dir>/synth.json``.
    Raises:
        FileExistsError: ``out_dir`` is not empty and ``overwrite`` is False.
        core.video.VideoError, core.face.NoFaceError: unusable base footage (names the file).
        ValueError: the events do not fit into the videos.
    """
    root = Path(out_dir).absolute()
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root}: the folder is not empty; choose a new folder or "
                              f"allow overwriting")
    clips = [load_base(path, config.base_seconds, config.max_base_side_px, progress, cancel)
             for path in config.base_paths()]
    looks = [SubjectLook.draw(s, len(clips),
                              np.random.default_rng([config.seed, _LOOK_STREAM, s]))
             for s in range(config.n_subjects)]
    plans = [_plan_video(config, clips[look.base_index], look, subject_idx, video_idx)
             for subject_idx, look in enumerate(looks)
             for video_idx in range(config.videos_per_subject)]   # all checked before writing
    total = len(plans) * config.n_frames
    videos = [_write_video(config, plan, root, i * config.n_frames, total, progress, cancel)
              for i, plan in enumerate(plans)]
    manifest = SynthManifest(root, config, tuple(videos))
    atomic_write_text(root / MANIFEST_NAME, json.dumps(manifest.to_dict(), indent=1) + "\n")
    return manifest


@dataclass(frozen=True)
class _VideoPlan:
    """Everything random about one video, drawn before anything is written."""

    subject: str
    name: str
    subject_idx: int
    video_idx: int
    clip: BaseClip
    look: SubjectLook
    motion: HeadMotion
    phase_frames: float
    events: tuple[SynthEvent, ...]


def _plan_video(config: SynthConfig, clip: BaseClip, look: SubjectLook, subject_idx: int,
                video_idx: int) -> _VideoPlan:
    """Draw one video's head motion, loop phase and events (ValueError if they do not fit)."""
    subject = f"s{subject_idx + 1:02d}"
    rng = np.random.default_rng([config.seed, _VIDEO_STREAM, subject_idx, video_idx])
    face_width_px = look.scale * clip.face_width_px
    motion = HeadMotion.draw(config.head_motion_px * face_width_px / config.reference_face_px,
                             config.head_rotation_deg, config.head_scale,
                             config.brightness_drift, rng)
    phase_frames = float(rng.uniform(0.0, 2.0 * max(clip.n_frames - 1, 1)))
    events = plan_events(config, config.n_frames, config.fps, face_width_px,
                         look.scale * clip.eye_opening_px, rng)
    return _VideoPlan(subject, f"{subject}_v{video_idx + 1:02d}", subject_idx, video_idx, clip,
                      look, motion, phase_frames, events)


def _view_margin_px(config: SynthConfig, clip: BaseClip, look: SubjectLook) -> float:
    """How far (base pixels) head motion and jerks can move the view: the margin to keep
    inside the base frame."""
    px_scale = look.scale * clip.face_width_px / config.reference_face_px
    translation = (config.head_motion_px + 2 * config.head_jerk_px[1]) * px_scale
    half_diagonal = math.hypot(*clip.frame_size) / 2
    turn = (math.radians(config.head_rotation_deg) + config.head_scale) * half_diagonal
    return (translation + turn) / look.scale


def _write_video(config: SynthConfig, plan: _VideoPlan, root: Path, frames_before: int,
                 frames_total: int, progress: ProgressCallback | None,
                 cancel: CancelToken | None) -> SynthVideo:
    """Render and write one planned video and its two CSVs."""
    clip, look = plan.clip, plan.look
    renderer = VideoRenderer(clip, look, _view_margin_px(config, clip, look), plan.motion,
                             plan.events, config.fps, plan.phase_frames, config.base_speed,
                             config.noise_sigma,
                             (config.seed, _NOISE_STREAM, plan.subject_idx, plan.video_idx))
    folder = root / plan.subject
    path = video_path(folder, plan.name, config.video_format)
    with open_video_writer(path, config.video_format, config.fps,
                           renderer.frame_size) as writer:
        for frame_idx in range(config.n_frames):
            if cancel is not None:
                cancel.raise_if_cancelled()
            writer.write(renderer.render(frame_idx))
            if frame_idx % _PROGRESS_EVERY == 0:
                report(progress, "synth", frames_before + frame_idx, frames_total, plan.name)
    report(progress, "synth", frames_before + config.n_frames, frames_total, plan.name)
    rows = [event_row(event, path.name, config.fps) for event in plan.events]
    kinds = [event.kind for event in plan.events]
    write_intervals_csv(folder / f"{plan.name}.intervals.csv",
                        [row for row, kind in zip(rows, kinds, strict=True) if kind == "me"])
    write_intervals_csv(folder / f"{plan.name}.distractors.csv",
                        [row for row, kind in zip(rows, kinds, strict=True) if kind != "me"])
    width, height = renderer.frame_size
    return SynthVideo(plan.subject, plan.name, path, config.fps, config.n_frames, width,
                      height, str(clip.path), clip.first_frame, clip.n_frames, look,
                      plan.events)
