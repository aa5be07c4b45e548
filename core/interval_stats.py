"""What the models say about one interval: curve statistics and TSFmicro's second opinion.

:func:`interval_stats` summarises an :class:`~core.analysis.AnalysisResult` inside ``[onset,
offset]``: the mean probability of every recognition class and the peak of the smoothed spotting
score (the curve the threshold is applied to, so a model proposal's peak equals its
``spot_score``). :func:`tsfmicro_probabilities` is what ``metst recognize`` computes for one
interval: TSFmicro's class probabilities from the onset and apex frames, both cropped with the
onset's face alignment (:func:`onset_apex_crops`). The reviewer's inspector shows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.face_crop import crop_affine, warp_to_crop
from core.postprocess import NEUTRAL_CLASS_NAME, smooth_curve

if TYPE_CHECKING:
    from core.analysis import AnalysisResult
    from core.models.tsfmicro import TsfMicro
    from core.video import FrameSource

__all__ = ["IntervalStats", "interval_stats", "recog_column_names", "onset_apex_crops",
           "tsfmicro_probabilities"]


@dataclass(frozen=True)
class IntervalStats:
    """Curve statistics of one interval.

    Attributes:
        mean_probs: class name → mean per-frame probability over the interval's frames, for all
            E+1 recognition columns (neutral included), in column order; empty when the result
            has no recognition output.
        peak_spot: the highest smoothed spotting score inside the interval.
        peak_spot_frame: the frame (0-based) where it is reached (the first one on a tie).
    """

    mean_probs: dict[str, float]
    peak_spot: float
    peak_spot_frame: int


def recog_column_names(class_names: tuple[str, ...] | list[str], n_columns: int,
                       neutral_index: int = -1) -> list[str]:
    """Names of the ``n_columns`` recognition columns (E+1, neutral included).

    ``class_names`` may list all columns or the E emotions only; in the latter case the neutral
    column at ``neutral_index`` is called ``"neutral"`` (as :func:`core.postprocess.spot_intervals`
    does). Any other count gives ``"class <i>"`` names rather than a wrong label.
    """
    names = [str(name) for name in class_names]
    if len(names) == n_columns - 1:
        names.insert(neutral_index % n_columns, NEUTRAL_CLASS_NAME)
    if len(names) != n_columns:
        names = [f"class {col}" for col in range(n_columns)]
    return names


def interval_stats(result: AnalysisResult, onset_frame: int, offset_frame: int) -> IntervalStats:
    """Mean class probabilities and the smoothed spot peak of ``result`` in ``[onset, offset]``.

    Args:
        result: curves ``spot`` (T,) and ``recog`` (T, E+1) or None, with the post-processing
            settings whose ``k_p`` (half-width, frames) sets the smoothing (width 2·k_p).
        onset_frame, offset_frame: 0-based inclusive frames; the part past the curve's end is
            ignored.

    Raises:
        ValueError: ``onset_frame > offset_frame``, a negative onset, or an interval starting at
            or after the curve's last frame (T).
    """
    spot = np.asarray(result.curves.spot)
    n_frames = spot.shape[0]
    if not 0 <= onset_frame <= offset_frame:
        raise ValueError(f"need 0 <= onset_frame <= offset_frame, got {onset_frame}, "
                         f"{offset_frame}")
    if onset_frame >= n_frames:
        raise ValueError(f"interval starts at frame {onset_frame}, past the curves' last frame "
                         f"{n_frames - 1}")
    last_frame = min(offset_frame, n_frames - 1)
    k_p = result.postprocess.resolve_k_p(result.fps)
    smoothed = smooth_curve(spot, k_p)[onset_frame:last_frame + 1]  # (N,) float64
    peak_offset = int(np.argmax(smoothed))
    mean_probs: dict[str, float] = {}
    recog = result.curves.recog
    if recog is not None:
        window = np.asarray(recog, dtype=np.float64)[onset_frame:last_frame + 1]  # (N, E+1)
        names = recog_column_names(result.curves.class_names, window.shape[1],
                                   result.postprocess.neutral_index)
        mean_probs = {name: float(p) for name, p in zip(names, window.mean(axis=0), strict=True)}
    return IntervalStats(mean_probs, float(smoothed[peak_offset]), onset_frame + peak_offset)


def onset_apex_crops(source: FrameSource, onset_frame: int, apex_frame: int,
                     image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The onset and apex frames as aligned ``(S, S, 3) uint8`` BGR face crops, S = image_size.

    Both frames use the onset's crop (landmarks found in the onset frame), so the difference
    between the crops is the facial motion, not a re-alignment.

    Raises:
        ValueError: no face at the onset frame (the message names the video and the frame);
            a frame outside the video raises the source's own error.
    """
    from core.face import FaceTracker  # dlib loads on first use only

    onset_bgr, apex_bgr = source.read(onset_frame), source.read(apex_frame)
    observation = FaceTracker().update(source.read_gray(onset_frame))
    if observation is None:
        raise ValueError(f"{source.path}: no face found at the onset frame {onset_frame}")
    affine = crop_affine(observation.landmarks, image_size)
    return warp_to_crop(onset_bgr, affine, image_size), warp_to_crop(apex_bgr, affine, image_size)


def tsfmicro_probabilities(model: TsfMicro, source: FrameSource, onset_frame: int,
                           apex_frame: int) -> dict[str, float]:
    """TSFmicro's class probabilities ``{class_name: p}`` (summing to 1) for one interval."""
    from core.models.tsfmicro import predict_interval  # torch only when a model is used

    size = model.config.image_size
    onset_crop, apex_crop = onset_apex_crops(source, onset_frame, apex_frame, size)
    return predict_interval(model, onset_crop, apex_crop)
