"""Events of a synthetic video: micro-expressions and the distractors, and when they happen.

An event is one record in 0-based frames: ``onset_frame`` (intensity 0, the last still frame),
``apex_frame`` (full intensity reached), ``release_frame`` (full intensity ends; equal to the
apex without a plateau) and ``offset_frame`` (intensity back to 0). The intensity rises as a
raised cosine from onset to apex and falls as one from release to offset. A head jerk that does
not return keeps full intensity after its apex (its offset is its apex).

:func:`plan_events` draws the events of one video and places them at random without overlap:
every two events are at least ``min_gap_seconds`` apart and at least ``edge_seconds`` away from
either end of the video.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from core.config_dict import config_from_dict
from core.synth.config import SynthConfig

__all__ = ["EVENT_KINDS", "EMOTION_PATTERNS", "SynthEvent", "plan_events"]

#: ``"me"`` (the labelled micro-expressions) and the distractors.
EVENT_KINDS = ("me", "macro", "blink", "head_jerk")
#: Facial action patterns per emotion (one is drawn per event).
EMOTION_PATTERNS: dict[str, tuple[str, ...]] = {
    "negative": ("AU4",),        # brow lowerer: inner brows down and together
    "positive": ("AU12",),       # lip corner puller: corners up and out
    "surprise": ("AU1+2",),      # inner and outer brow raiser
    "others": ("AU9", "AU24"),   # nose wrinkler, lip pressor
}

_ME_RISE_SHARE = (0.3, 0.45)       # onset → apex share of an ME (the fall is slower)
_MACRO_RISE_SHARE = (0.15, 0.3)
_MACRO_FALL_SHARE = (0.2, 0.35)
_BLINK_CLOSE_SHARE, _BLINK_HOLD_SHARE = 0.35, 0.1
_WEAK_SIDE_GAIN = (0.6, 1.0)       # left/right asymmetry of an expression
_LOCATION_JITTER = 0.02            # ± face widths
_SPREAD = (0.85, 1.15)             # scale of the pattern's extent


@dataclass(frozen=True)
class SynthEvent:
    """One synthetic event of a video (frames are 0-based and inclusive).

    Attributes:
        kind: one of :data:`EVENT_KINDS`.
        onset_frame, apex_frame, release_frame, offset_frame: the intensity profile (module
            docstring); ``onset ≤ apex ≤ release ≤ offset``.
        emotion: emotion class of an ME or macro-expression, else "".
        pattern: "AU4", "AU12", "AU1+2", "AU9", "AU24", "blink" or "head_jerk".
        amplitude_px: peak displacement in output pixels (a jerk's translation length).
        side_gains: (subject's right, subject's left) share of the amplitude.
        shift: location jitter of the pattern, in face widths along (face right, face up).
        spread: scale of the pattern's extent.
        direction: unit (x, y) image direction of a head jerk.
        returns: a head jerk that comes back (others always do).
    """

    kind: str
    onset_frame: int
    apex_frame: int
    release_frame: int
    offset_frame: int
    emotion: str = ""
    pattern: str = ""
    amplitude_px: float = 0.0
    side_gains: tuple[float, float] = (1.0, 1.0)
    shift: tuple[float, float] = (0.0, 0.0)
    spread: float = 1.0
    direction: tuple[float, float] = (0.0, 0.0)
    returns: bool = True

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"SynthEvent.kind must be one of {EVENT_KINDS}, got {self.kind!r}")
        if not 0 <= self.onset_frame <= self.apex_frame <= self.release_frame \
                <= self.offset_frame:
            raise ValueError(f"SynthEvent frames must satisfy 0 <= onset <= apex <= release <= "
                             f"offset, got {self.onset_frame}, {self.apex_frame}, "
                             f"{self.release_frame}, {self.offset_frame}")

    def intensity(self, frame_idx: int) -> float:
        """Intensity in [0, 1] at ``frame_idx`` (module docstring)."""
        if frame_idx <= self.onset_frame:
            return 0.0
        if frame_idx < self.apex_frame:
            progress = (frame_idx - self.onset_frame) / (self.apex_frame - self.onset_frame)
            return 0.5 - 0.5 * math.cos(math.pi * progress)
        if frame_idx <= self.release_frame or not self.returns:
            return 1.0
        if frame_idx < self.offset_frame:
            progress = (frame_idx - self.release_frame) / (self.offset_frame - self.release_frame)
            return 0.5 + 0.5 * math.cos(math.pi * progress)
        return 0.0

    def shifted(self, n_frames: int) -> SynthEvent:
        """The same event ``n_frames`` later."""
        return replace(self, onset_frame=self.onset_frame + n_frames,
                       apex_frame=self.apex_frame + n_frames,
                       release_frame=self.release_frame + n_frames,
                       offset_frame=self.offset_frame + n_frames)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe dict."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynthEvent:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        return config_from_dict(cls, data)


def plan_events(config: SynthConfig, n_frames: int, fps: float, face_width_px: float,
                eye_opening_px: float, rng: np.random.Generator) -> tuple[SynthEvent, ...]:
    """Draw and place the events of one video, in time order.

    Args:
        config: densities, ranges and gaps.
        n_frames, fps: the video's length and frame rate.
        face_width_px: the face width in output pixels (amplitudes scale with it).
        eye_opening_px: the open eye's height in output pixels (blinks close it).
        rng: the video's random generator.
    Raises:
        ValueError: the events do not fit into the video with the configured gaps.
    """
    px_scale = face_width_px / config.reference_face_px
    minutes = n_frames / fps / 60.0
    drafts = [_micro_expression(config, emotion, fps, px_scale, rng)
              for emotion in _balanced(config.emotions, round(config.me_per_minute * minutes),
                                       rng)]
    drafts += [_macro_expression(config, fps, px_scale, rng)
               for _ in range(round(config.macros_per_minute * minutes))]
    drafts += [_blink(config, fps, eye_opening_px, rng)
               for _ in range(round(config.blinks_per_minute * minutes))]
    drafts += [_head_jerk(config, fps, px_scale, rng)
               for _ in range(round(config.head_jerks_per_minute * minutes))]
    placed = _place(drafts, n_frames, math.ceil(config.min_gap_seconds * fps),
                    math.ceil(config.edge_seconds * fps), rng)
    return _bounded_jerks(placed, config.head_jerk_px[1] * px_scale)


# ------------------------------------------------------------------------------ drafting


def _balanced(options: tuple[str, ...], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` draws from ``options``: rounds of random permutations, so every option comes
    up equally often (±1) and in random order."""
    n_rounds = -(-n // len(options))
    return [options[i] for _ in range(n_rounds) for i in rng.permutation(len(options))][:n]


def _span_frames(seconds: tuple[float, float], fps: float, rng: np.random.Generator,
                 least: int) -> int:
    """An event length in frames drawn uniformly within ``seconds``, at least ``least``."""
    low = math.ceil(seconds[0] * fps - 1e-9)
    high = max(low, math.floor(seconds[1] * fps + 1e-9))
    return max(least, int(rng.integers(low, high + 1)))


def _expression_traits(rng: np.random.Generator) -> dict[str, Any]:
    """Random variation of a facial pattern: asymmetry, location jitter, extent."""
    weak = float(rng.uniform(*_WEAK_SIDE_GAIN))
    gains = (1.0, weak) if rng.random() < 0.5 else (weak, 1.0)
    shift = rng.uniform(-_LOCATION_JITTER, _LOCATION_JITTER, size=2)
    return {"side_gains": gains, "shift": (float(shift[0]), float(shift[1])),
            "spread": float(rng.uniform(*_SPREAD))}


def _pattern(emotion: str, rng: np.random.Generator) -> str:
    patterns = EMOTION_PATTERNS[emotion]
    return patterns[int(rng.integers(len(patterns)))]


def _micro_expression(config: SynthConfig, emotion: str, fps: float, px_scale: float,
                      rng: np.random.Generator) -> SynthEvent:
    span = _span_frames(config.me_seconds, fps, rng, least=2)
    apex = min(span - 1, max(1, round(span * rng.uniform(*_ME_RISE_SHARE))))
    return SynthEvent("me", 0, apex, apex, span, emotion=emotion,
                      pattern=_pattern(emotion, rng),
                      amplitude_px=float(rng.uniform(*config.me_amplitude_px)) * px_scale,
                      **_expression_traits(rng))


def _macro_expression(config: SynthConfig, fps: float, px_scale: float,
                      rng: np.random.Generator) -> SynthEvent:
    span = _span_frames(config.macro_seconds, fps, rng, least=3)
    emotion = config.emotions[int(rng.integers(len(config.emotions)))]
    apex = max(1, round(span * rng.uniform(*_MACRO_RISE_SHARE)))
    fall = max(1, round(span * rng.uniform(*_MACRO_FALL_SHARE)))
    release = max(apex, span - fall)
    return SynthEvent("macro", 0, apex, release, span, emotion=emotion,
                      pattern=_pattern(emotion, rng),
                      amplitude_px=float(rng.uniform(*config.macro_amplitude_px)) * px_scale,
                      **_expression_traits(rng))


def _blink(config: SynthConfig, fps: float, eye_opening_px: float,
           rng: np.random.Generator) -> SynthEvent:
    span = _span_frames(config.blink_seconds, fps, rng, least=2)
    apex = min(span - 1, max(1, round(span * _BLINK_CLOSE_SHARE)))
    release = min(span - 1, apex + round(span * _BLINK_HOLD_SHARE))
    closure = float(rng.uniform(*config.blink_closure))
    return SynthEvent("blink", 0, apex, release, span, pattern="blink",
                      amplitude_px=closure * eye_opening_px, **_expression_traits(rng))


def _head_jerk(config: SynthConfig, fps: float, px_scale: float,
               rng: np.random.Generator) -> SynthEvent:
    span = _span_frames(config.head_jerk_seconds, fps, rng, least=2)
    returns = bool(rng.random() < 0.5)
    apex = max(1, round(span / 2)) if returns else span
    angle = float(rng.uniform(0.0, 2.0 * math.pi))
    return SynthEvent("head_jerk", 0, apex, apex, span, pattern="head_jerk",
                      amplitude_px=float(rng.uniform(*config.head_jerk_px)) * px_scale,
                      direction=(math.cos(angle), math.sin(angle)), returns=returns)


# ------------------------------------------------------------------------------ placing


def _place(drafts: list[SynthEvent], n_frames: int, gap_frames: int, edge_frames: int,
           rng: np.random.Generator) -> list[SynthEvent]:
    """Events (drafted at frame 0) in random order at random times, never closer than
    ``gap_frames`` to each other nor ``edge_frames`` to the video's ends."""
    if not drafts:
        return []
    lengths = [event.offset_frame + 1 for event in drafts]            # frames each occupies
    needed = sum(lengths) + gap_frames * (len(drafts) - 1)
    available = n_frames - 2 * edge_frames
    slack = available - needed
    if slack < 0:
        raise ValueError(f"{len(drafts)} events need {needed} frames with their gaps, but a "
                         f"{n_frames}-frame video leaves {max(available, 0)} between its edges: "
                         f"lower the event densities or make the videos longer")
    cuts = np.sort(rng.integers(0, slack + 1, size=len(drafts)))
    extra = np.diff(np.concatenate([[0], cuts]))                      # (n,) slack before each
    order = rng.permutation(len(drafts))
    placed, frame_idx = [], edge_frames
    for i, draft_idx in enumerate(order):
        frame_idx += int(extra[i])
        placed.append(drafts[draft_idx].shifted(frame_idx))
        frame_idx += lengths[draft_idx] + gap_frames
    return placed


def _bounded_jerks(events: list[SynthEvent], max_offset_px: float) -> tuple[SynthEvent, ...]:
    """Flip the direction of a lasting head jerk that would carry the head further than
    ``max_offset_px`` from its start, so the face stays in the picture."""
    offset = np.zeros(2)
    bounded = []
    for event in events:
        if event.kind == "head_jerk" and not event.returns:
            step = event.amplitude_px * np.asarray(event.direction)
            if np.linalg.norm(offset + step) > max_offset_px:
                step = -step
                event = replace(event, direction=(-event.direction[0], -event.direction[1]))
            offset += step
        bounded.append(event)
    return tuple(bounded)
