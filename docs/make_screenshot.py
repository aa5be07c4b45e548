"""Take the screenshot of the review window used in the README and docs (offscreen, no display).

Opens the bundled sample video in a fresh temporary project, runs the training-free analysis from
the window, selects the first proposal, turns the landmark and ROI overlays on, and saves
``docs/images/review_window.png``::

    .venv/bin/python docs/make_screenshot.py [--out docs/images/review_window.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "images" / "review_window.png")
    parser.add_argument("--size", default="1600x1000", help="window size WxH")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="metst-screenshot-"))
    os.environ["METST_STUDIO_DATA_DIR"] = str(scratch / "data")

    from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QSettings
    from PySide6.QtWidgets import QApplication

    QCoreApplication.setOrganizationName("ME-TST-screenshot")
    QCoreApplication.setApplicationName("ME-TST Studio")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(scratch))
    app = QApplication(sys.argv[:1])

    from metst_gui.main_window import MainWindow
    from resources import SAMPLE_VIDEO

    def wait_until(condition, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while not condition() and time.monotonic() < deadline:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        return bool(condition())

    width, height = (int(v) for v in args.size.split("x"))
    window = MainWindow()
    window.resize(width, height)
    window.show()
    window.open_path(SAMPLE_VIDEO)
    if not wait_until(lambda: window.session is not None, 60):
        print("error: the sample video did not open", file=sys.stderr)
        return 1
    window.analysis_panel.run()
    if not wait_until(lambda: window.session.result is not None, 300):
        print("error: the analysis did not finish", file=sys.stderr)
        return 1
    proposals = window.session.annotations.annotations
    if proposals:
        window.selection.select(proposals[0].id)
        window.playhead.set_frame(proposals[0].apex_frame)
    window.video_view.landmarks_action.setChecked(True)
    window.video_view.roi_boxes_action.setChecked(True)
    wait_until(lambda: False, 3)        # frame, overlays and rows settle
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"wrote {args.out}")
    window.sessions.close_session = lambda: True   # leave the scratch project as it is
    window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return 0


if __name__ == "__main__":
    sys.exit(main())
