"""A synthetic micro-expression benchmark with exact ground truth.

Real ME datasets are licensed; this generator makes look-alike data so spotting, recognition,
training and leave-one-subject-out evaluation can be tested end to end:

- **Base footage**: real face video (default: the bundled sample; any video, frame folder or
  photo), its calmest stretch looped ping-pong, resampled by time to the output fps, with slow
  head motion, brightness drift and sensor noise (:mod:`~core.synth.footage`,
  :mod:`~core.synth.looks`).
- **Micro-expressions**: local smooth displacement fields placed by the face's landmarks
  (:mod:`~core.synth.patterns`), 0.2–0.5 s, 0.5–2 px at the apex on a 250-px face, a
  raised-cosine rise and a slower fall; the emotion picks the facial action (negative AU4,
  positive AU12, surprise AU1+2, others AU9 or AU24), with random asymmetry, extent and place.
- **Distractors** the spotter must not fire on: blinks, macro-expressions (3–8 px, 0.5–4 s) and
  head jerks. Events never overlap (:mod:`~core.synth.events`).
- **Subjects**: different bases, or one base mirrored, scaled, moved and re-lit.
- **Output**: the app's project layout, lossless FFV1 video, interval CSVs and ``synth.json``
  (:mod:`~core.synth.generate`). The same seed gives the same bytes and frames.

``generate(SynthConfig.preset("small"), out_dir)`` makes 2 subjects × 20 s in well under a
minute; ``metst synth`` is the command line.
"""

from core.synth.config import EMOTIONS, PRESETS, VIDEO_FORMATS, SynthConfig
from core.synth.events import EMOTION_PATTERNS, EVENT_KINDS, SynthEvent, plan_events
from core.synth.footage import BaseClip, load_base
from core.synth.generate import (
    MANIFEST_NAME,
    SYNTH_VERSION,
    SynthManifest,
    SynthVideo,
    event_row,
    generate,
)
from core.synth.looks import HeadMotion, SubjectLook
from core.synth.render import VideoRenderer

__all__ = [
    "SynthConfig",
    "PRESETS",
    "EMOTIONS",
    "VIDEO_FORMATS",
    "SynthEvent",
    "EVENT_KINDS",
    "EMOTION_PATTERNS",
    "plan_events",
    "BaseClip",
    "load_base",
    "SubjectLook",
    "HeadMotion",
    "VideoRenderer",
    "SynthVideo",
    "SynthManifest",
    "generate",
    "event_row",
    "MANIFEST_NAME",
    "SYNTH_VERSION",
]
