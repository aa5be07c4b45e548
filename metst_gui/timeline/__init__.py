"""The review timeline under the video: curve rows, interval tracks and an overview strip.

:class:`TimelineView` is the widget the window shows; :class:`IntervalTrack` is the editable
interval track added to it; the rows (:class:`SpottingRow`,
:class:`EmotionRow`, :class:`RoiTraceRow`), the :class:`OverviewStrip` and the
:class:`TimeAxisItem` are its parts, usable on their own.
"""

from metst_gui.timeline.curve_rows import CurveRow, CurveViewBox
from metst_gui.timeline.emotion_row import EmotionRow
from metst_gui.timeline.interval_track import IntervalTrack
from metst_gui.timeline.overview_strip import OverviewStrip
from metst_gui.timeline.roi_trace_row import RoiTraceRow
from metst_gui.timeline.spotting_row import SpottingRow
from metst_gui.timeline.time_axis import TimeAxisItem
from metst_gui.timeline.timeline_view import TimelineView

__all__ = ["TimelineView", "IntervalTrack", "CurveRow", "CurveViewBox", "SpottingRow", "EmotionRow",
           "RoiTraceRow", "OverviewStrip", "TimeAxisItem"]
