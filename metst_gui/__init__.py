"""ME-TST Studio's window: PySide6 views and controllers over ``core`` and ``training``.

Views only: everything the window computes is a public function of ``core`` or ``training`` that a
script could call too. Long work (decoding, analysis, training) runs off the GUI thread.
torch is never imported here at import time, so the window opens fast.

Modules: ``app`` (the ``metst-studio`` entry point), ``main_window`` (assembles panels and menus),
``view_state`` (the shared, observable playhead), ``video_view`` and ``frame_canvas`` (the frame
display), ``frame_loader`` (decoding on a worker thread).
"""

from __future__ import annotations

__all__: list[str] = []
