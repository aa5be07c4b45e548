"""Settings of the synthetic micro-expression benchmark: :class:`SynthConfig` and its presets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.config_dict import config_from_dict
from core.datasets.emotions import FOUR_CLASS
from resources import SAMPLE_VIDEO

__all__ = ["SynthConfig", "PRESETS", "EMOTIONS", "VIDEO_FORMATS"]

#: Emotion classes the generator can draw: the 4-class protocol's classes.
EMOTIONS: tuple[str, ...] = FOUR_CLASS.classes
#: ``"ffv1"``: lossless FFV1 in Matroska (``<stem>.mkv``); ``"png"``: ``<stem>/frame_0000.png``.
VIDEO_FORMATS = ("ffv1", "png")
#: The slowest frame rate at which a 0.2 s expression still has a rise and a fall.
_MIN_FPS = 10.0

_RANGE_FIELDS = ("me_seconds", "me_amplitude_px", "blink_seconds", "blink_closure",
                 "macro_seconds", "macro_amplitude_px", "head_jerk_seconds", "head_jerk_px")


@dataclass(frozen=True)
class SynthConfig:
    """How a synthetic dataset is made; the same config and seed give the same files.

    Amplitudes named ``*_amplitude_px`` / ``head_jerk_px`` / ``head_motion_px`` are pixels on a
    face ``reference_face_px`` wide (ear to ear, dlib landmarks 0–16); they scale with the face
    size in each output video, so a 1 px expression on a 250 px face stays 1 px.
    Ranges are ``(low, high)`` tuples, sampled uniformly per event.

    Attributes:
        n_subjects: people (folders); subjects beyond the number of bases are derived from
            the bases by mirroring, scale, crop offset and brightness/contrast.
        videos_per_subject: videos per subject (different stretches of the looped footage,
            head motion, noise and events).
        seconds: length of each video.
        fps: output frame rate (base footage is resampled by time).
        seed: the random seed; everything is derived from it.
        bases: base face footage (video files, frame folders or photos); empty: the bundled
            sample video.
        video_format: ``"ffv1"`` (lossless .mkv, default; about 120 kB and 15 ms per
            512×288 frame) or ``"png"`` (frame folders; they carry no frame rate, readers
            assume 30 fps unless told, ``synth.json`` has the true one).
        me_per_minute: micro-expressions per minute of video (rounded per video).
        emotions: emotion classes drawn for micro-expressions, balanced within a video.
        me_seconds: ME length (onset → offset).
        me_amplitude_px: ME peak displacement.
        blinks_per_minute, blink_seconds, blink_closure: blinks (distractors); closure is the
            share of the eye opening the upper lid travels.
        macros_per_minute, macro_seconds, macro_amplitude_px: macro-expressions (distractors).
        head_jerks_per_minute, head_jerk_seconds, head_jerk_px: fast global head translations
            (distractors); half of them return, half stay.
        min_gap_seconds: least time between two events (no two events overlap).
        edge_seconds: no event starts or ends this close to either end of a video.
        reference_face_px: face width the pixel amplitudes refer to.
        head_motion_px: peak of the slow smooth head translation.
        head_rotation_deg: peak of the slow head roll.
        head_scale: peak relative change of the face size (slow).
        brightness_drift: peak relative change of the brightness (slow).
        noise_sigma: standard deviation of the Gaussian sensor (luma) noise, grey levels.
        base_seconds: use the calmest stretch of this length of each base video (eyes open,
            least non-rigid landmark motion); ``None``: the whole video. The bundled sample
            (an actress crying, then laughing) has no calm stretch longer than about 1 s.
        base_speed: average playback speed of the base footage (1 = real time). At the
            default 0.1 the base's own facial motion becomes a slow drift that looks like no
            expression (the stillness of a person watching a screen), so the synthetic events
            are the only expressions; at 1 the sample's laughing swamps 1-px MEs.
        max_base_side_px: bases larger than this (long side) are downscaled first.
    """

    n_subjects: int = 2
    videos_per_subject: int = 1
    seconds: float = 20.0
    fps: float = 30.0
    seed: int = 0
    bases: tuple[str, ...] = ()
    video_format: str = "ffv1"
    me_per_minute: float = 18.0
    emotions: tuple[str, ...] = EMOTIONS
    me_seconds: tuple[float, float] = (0.2, 0.5)
    me_amplitude_px: tuple[float, float] = (0.5, 2.0)
    blinks_per_minute: float = 6.0
    blink_seconds: tuple[float, float] = (0.15, 0.3)
    blink_closure: tuple[float, float] = (0.7, 0.9)
    macros_per_minute: float = 3.0
    macro_seconds: tuple[float, float] = (0.5, 4.0)
    macro_amplitude_px: tuple[float, float] = (3.0, 8.0)
    head_jerks_per_minute: float = 3.0
    head_jerk_seconds: tuple[float, float] = (0.15, 0.3)
    head_jerk_px: tuple[float, float] = (3.0, 8.0)
    min_gap_seconds: float = 0.5
    edge_seconds: float = 1.0
    reference_face_px: float = 250.0
    head_motion_px: float = 2.0
    head_rotation_deg: float = 0.5
    head_scale: float = 0.01
    brightness_drift: float = 0.04
    noise_sigma: float = 1.0
    base_seconds: float | None = 1.0
    base_speed: float = 0.1
    max_base_side_px: int = 640

    def __post_init__(self) -> None:
        for name in ("n_subjects", "videos_per_subject", "max_base_side_px"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"SynthConfig.{name} must be a positive integer, got {value!r}")
        if isinstance(self.seed, bool) or int(self.seed) != self.seed or self.seed < 0:
            raise ValueError(f"SynthConfig.seed must be an integer >= 0, got {self.seed!r}")
        if not (math.isfinite(self.fps) and self.fps >= _MIN_FPS):
            raise ValueError(f"SynthConfig.fps must be at least {_MIN_FPS:g}, got {self.fps}")
        for name in ("seconds", "reference_face_px", "base_speed"):
            _check_positive(name, getattr(self, name))
        for name in ("me_per_minute", "blinks_per_minute", "macros_per_minute",
                     "head_jerks_per_minute", "min_gap_seconds", "edge_seconds",
                     "head_motion_px", "head_rotation_deg", "head_scale", "brightness_drift",
                     "noise_sigma"):
            _check_non_negative(name, getattr(self, name))
        if self.base_seconds is not None:
            _check_positive("base_seconds", self.base_seconds)
        for name in _RANGE_FIELDS:
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"SynthConfig.{name} must be (low, high) with 0 < low <= high, "
                                 f"got {getattr(self, name)!r}")
        if self.blink_closure[1] > 1:
            raise ValueError(f"SynthConfig.blink_closure must lie in (0, 1], "
                             f"got {self.blink_closure!r}")
        unknown = [e for e in self.emotions if e not in EMOTIONS]
        if not self.emotions or unknown:
            raise ValueError(f"SynthConfig.emotions must be a non-empty selection of "
                             f"{list(EMOTIONS)}, got {list(self.emotions)}")
        if self.video_format not in VIDEO_FORMATS:
            raise ValueError(f"SynthConfig.video_format must be one of {list(VIDEO_FORMATS)}, "
                             f"got {self.video_format!r}")

    @property
    def n_frames(self) -> int:
        """Frames per video: ``round(seconds · fps)``."""
        return max(1, round(self.seconds * self.fps))

    def base_paths(self) -> tuple[Path, ...]:
        """The base footage to use: ``bases``, or the bundled sample video."""
        if self.bases:
            return tuple(Path(base) for base in self.bases)
        return (SAMPLE_VIDEO,)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict (tuples become lists)."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, data)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> SynthConfig:
        """A named preset (see :data:`PRESETS`) with ``overrides`` applied.

        ``"small"``: 2 subjects × 1 video × 20 s at 30 fps, 6 MEs per video (about 20 s to
        make, 140 MB); ``"loso"``: 6 subjects × 2 videos × 60 s, 12 MEs per video (for
        leave-one-subject-out; about 6 min, 2.5 GB); ``"large"``: 10 subjects × 2 videos ×
        120 s, 20 MEs per video (about 20 min, 8.5 GB). Times on one CPU core.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        return replace(PRESETS[name], **overrides)


def _check_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"SynthConfig.{name} must be > 0, got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"SynthConfig.{name} must be >= 0, got {value!r}")


#: The named presets of :meth:`SynthConfig.preset`.
PRESETS: dict[str, SynthConfig] = {
    "small": SynthConfig(),
    "loso": SynthConfig(n_subjects=6, videos_per_subject=2, seconds=60.0, me_per_minute=12.0),
    "large": SynthConfig(n_subjects=10, videos_per_subject=2, seconds=120.0,
                         me_per_minute=10.0),
}
