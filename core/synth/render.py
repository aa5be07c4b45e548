"""Rendering one synthetic video frame by frame, and writing it losslessly.

Output frame ``i`` (time ``t = i / fps``) is made from the base clip at a fractional position of
its ping-pong loop (the two nearest base frames blended):

1. the base frame's landmarks are mapped through the frame's affine transform — the subject's
   look (mirror, scale, placement), then the slow head motion and any head jerk;
2. the active expression or blink adds its local displacement field ``d`` (in output pixels,
   placed by those landmarks);
3. one ``cv2.remap`` samples the base frame at ``A⁻¹(p − d(p))`` (bicubic, reflected borders),
   so every frame goes through the same interpolation, with or without an event;
4. contrast, tint, brightness drift and Gaussian luma noise (seeded per frame) are applied.

Writers put frames into a lossless FFV1 ``.mkv`` (checked to read back bit-exactly and
frame-accurately with :func:`core.video.open_source`) or a folder of PNGs, under a hidden
temporary name that is renamed when the video is complete.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from core.synth.events import SynthEvent
from core.synth.footage import BaseClip
from core.synth.looks import MIRRORED_LANDMARKS, HeadMotion, SubjectLook, output_frame_size
from core.synth.patterns import PATTERNS, FaceGeometry, displacement_field

__all__ = ["VideoRenderer", "FrameWriter", "video_path", "open_video_writer"]

_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 1]


class VideoRenderer:
    """The frames of one synthetic video; ``render(i)`` depends on ``i`` only (any order).

    Args:
        clip: base footage.
        look: the subject's look.
        margin_px: how far (base pixels) the view keeps inside the base frame's border.
        motion: the video's head motion and brightness drift.
        events: the video's events (any kinds, any order).
        fps: output frame rate.
        phase_frames: where in the clip's ping-pong loop the video starts.
        speed: base footage playback speed.
        noise_sigma: luma noise standard deviation, grey levels.
        noise_seed: seed sequence entropy of the per-frame noise.
    """

    def __init__(self, clip: BaseClip, look: SubjectLook, margin_px: float, motion: HeadMotion,
                 events: Sequence[SynthEvent], fps: float, phase_frames: float, speed: float,
                 noise_sigma: float, noise_seed: Sequence[int]) -> None:
        self.clip, self.look, self.motion, self.fps = clip, look, motion, fps
        self.frame_size = output_frame_size(clip.frame_size)
        self._events = tuple(events)
        self._phase_frames, self._speed = phase_frames, speed
        self._noise_sigma, self._noise_seed = noise_sigma, tuple(noise_seed)
        self._subject = look.affine(clip.face_centre, clip.frame_size, self.frame_size,
                                    margin_px)                                  # (3, 3)
        self._face_centre_out = self._subject[:2, :2] @ clip.face_centre + self._subject[:2, 2]
        width, height = self.frame_size
        self._grid_x, self._grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                                 np.arange(height, dtype=np.float32))

    def landmarks(self, frame_idx: int) -> np.ndarray:
        """(68, 2) float64 landmarks of output frame ``frame_idx`` (before any expression)."""
        return self._landmarks(self._base_position(frame_idx), self._affine(frame_idx))

    def render(self, frame_idx: int) -> np.ndarray:
        """Output frame ``frame_idx`` as (H, W, 3) uint8 BGR."""
        position = self._base_position(frame_idx)
        affine = self._affine(frame_idx)                                         # (3, 3)
        inverse = np.linalg.inv(affine).astype(np.float32)    # float32 maps for cv2.remap
        map_x = inverse[0, 0] * self._grid_x + inverse[0, 1] * self._grid_y + inverse[0, 2]
        map_y = inverse[1, 0] * self._grid_x + inverse[1, 1] * self._grid_y + inverse[1, 2]
        for y0, x0, field in self._fields(frame_idx, position, affine):     # field (h, w, 2)
            rows = slice(y0, y0 + field.shape[0])
            cols = slice(x0, x0 + field.shape[1])
            map_x[rows, cols] -= inverse[0, 0] * field[..., 0] + inverse[0, 1] * field[..., 1]
            map_y[rows, cols] -= inverse[1, 0] * field[..., 0] + inverse[1, 1] * field[..., 1]
        warped = cv2.remap(self.clip.frame(position), map_x, map_y, cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT_101)
        return self._photometric(warped, frame_idx)

    # -- pieces ------------------------------------------------------------------------------

    def _base_position(self, frame_idx: int) -> float:
        """Fractional base clip frame shown at output frame ``frame_idx``."""
        return self.clip.position(frame_idx / self.fps, self._phase_frames, self._speed)

    def _landmarks(self, position: float, affine: np.ndarray) -> np.ndarray:
        """(68, 2) float64 output landmarks of the base clip at ``position`` under ``affine``,
        reordered so each point keeps its meaning when the subject is mirrored."""
        landmarks = self.clip.landmarks_at(position)
        if self.look.mirror:
            landmarks = landmarks[MIRRORED_LANDMARKS]
        return landmarks @ affine[:2, :2].T + affine[:2, 2]

    def _fields(self, frame_idx: int, position: float,
                affine: np.ndarray) -> Iterator[tuple[int, int, np.ndarray]]:
        """The displacement fields of the expressions and blinks active at ``frame_idx``, as
        :func:`~core.synth.patterns.displacement_field` places them."""
        face = None
        for event in self._events:
            intensity = event.intensity(frame_idx)
            if event.pattern not in PATTERNS or intensity <= 0.0:
                continue
            if face is None:   # placed by this frame's landmarks, computed once
                face = FaceGeometry.from_landmarks(self._landmarks(position, affine))
            placed = displacement_field(face, event, intensity, self.frame_size)
            if placed is not None:
                yield placed

    def _jerk_px(self, frame_idx: int) -> np.ndarray:
        """(2,) head-jerk translation at ``frame_idx`` (lasting jerks keep theirs)."""
        jerk = np.zeros(2)
        for event in self._events:
            if event.kind == "head_jerk":
                jerk += event.intensity(frame_idx) * event.amplitude_px * np.asarray(
                    event.direction)
        return jerk

    def _affine(self, frame_idx: int) -> np.ndarray:
        """(3, 3) base pixels → output pixels at ``frame_idx``."""
        head = self.motion.affine(frame_idx / self.fps, self._face_centre_out,
                                  self._jerk_px(frame_idx))
        return head @ self._subject

    def _photometric(self, warped: np.ndarray, frame_idx: int) -> np.ndarray:
        """Look, brightness drift and luma noise: (H, W, 3) uint8 → (H, W, 3) uint8."""
        gain, bias = self.look.photometric(self.motion.brightness(frame_idx / self.fps))
        image = warped.astype(np.float32) * gain + (bias + 0.5)                 # +0.5: rounding
        if self._noise_sigma > 0:
            rng = np.random.default_rng([*self._noise_seed, frame_idx])
            noise = rng.standard_normal(warped.shape[:2], dtype=np.float32)      # (H, W)
            image += (self._noise_sigma * noise)[..., None]
        np.clip(image, 0.0, 255.0, out=image)
        return image.astype(np.uint8)


# ------------------------------------------------------------------------------ writing


class FrameWriter(Protocol):
    """Something frames are written to, in order."""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...


class _Ffv1Writer:
    """Lossless FFV1 in Matroska through OpenCV's FFmpeg backend."""

    def __init__(self, path: Path, fps: float, frame_size: tuple[int, int]) -> None:
        self._writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG,
                                       cv2.VideoWriter_fourcc(*"FFV1"), fps, frame_size)
        if not self._writer.isOpened():
            raise OSError(f"{path}: this OpenCV build cannot write FFV1 video; "
                          f"use video_format='png'")

    def write(self, frame: np.ndarray) -> None:
        self._writer.write(frame)

    def close(self) -> None:
        self._writer.release()


class _PngWriter:
    """Numbered PNGs ``frame_0000.png`` … in a folder (the generic frame-folder layout)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self._folder, self._next_idx = folder, 0

    def write(self, frame: np.ndarray) -> None:
        file = self._folder / f"frame_{self._next_idx:04d}.png"
        if not cv2.imwrite(str(file), frame, _PNG_PARAMS):
            raise OSError(f"{file}: cannot write this image")
        self._next_idx += 1

    def close(self) -> None:
        """Nothing to release."""


def video_path(folder: Path, stem: str, video_format: str) -> Path:
    """Where a video of ``video_format`` named ``stem`` goes: ``<stem>.mkv`` or ``<stem>/``."""
    return folder / (f"{stem}.mkv" if video_format == "ffv1" else stem)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def open_video_writer(path: Path, video_format: str, fps: float,
                      frame_size: tuple[int, int]) -> Iterator[FrameWriter]:
    """A writer into a hidden temporary beside ``path`` that replaces ``path`` when the block
    ends without an exception (and is removed when it raises)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial{path.suffix}")
    _remove(partial)
    writer: FrameWriter = (_Ffv1Writer(partial, fps, frame_size) if video_format == "ffv1"
                           else _PngWriter(partial))
    try:
        yield writer
        writer.close()
        _remove(path)
        partial.rename(path)
    finally:
        writer.close()
        _remove(partial)
