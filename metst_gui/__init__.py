"""ME-TST Studio's window: PySide6 views and controllers over ``core`` and ``training``.

Views only: everything the window computes is a public function of ``core`` or ``training`` that a
script could call too. Long work (decoding, analysis, training) runs off the GUI thread.
torch is never imported here at import time, so the window opens fast.

Modules: ``app`` (the ``metst-studio`` entry point), ``main_window`` (assembles panels and menus),
``session_manager`` and ``session`` (the open project video as a document), ``view_state``
(the shared playhead and selection), the video (``video_view``, ``frame_canvas``, ``frame_loader``,
``overlay_source``, ``playback``, ``transport_bar``), the ``timeline`` package (curve rows,
overview, interval track), editing (``edit_actions``, ``annotation_commands``,
``inspector_panel``, ``interval_table``, ``review_queue``, ``tsfmicro_opinion``), background work
(``analysis_worker``/``analysis_panel``, ``autosave``, ``background``, ``train_process``/
``retrain_dialog``), files (``file_actions``, ``project_actions``, ``import_export_dialogs``,
``recovery_dialog``, ``recent_files``, ``project_panel``), ``model_actions``, ``file_filters``,
``shortcuts_dialog`` and ``app_log``, ``user_paths``, ``colors``. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

__all__: list[str] = []
