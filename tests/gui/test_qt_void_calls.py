"""Guard for the PySide6 6.12.0 / Python 3.11 crash that made us pin PySide6-Essentials<6.12.

On that release every call of a void Qt method drops one reference to ``None``; after a few
thousand calls the interpreter aborts with "Fatal Python error: none_dealloc". The loop runs in a
subprocess so that an abort fails this test instead of killing pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.gui

N_VOID_CALLS = 100_000
#: References to None that unrelated objects may drop meanwhile (the interpreter's own
#: bookkeeping moved it by 1 in about 1 run of 5); the bug drops one per call, 100,000 in all.
NOISE_REFERENCES = 100

_VOID_CALLS_SCRIPT = textwrap.dedent(f"""
    import gc
    import sys
    from PySide6.QtCore import QCoreApplication, QTimer

    app = QCoreApplication([])
    timer = QTimer()
    gc.collect()
    gc.disable()  # a collection during the loop would release unrelated references to None
    refcount_before = sys.getrefcount(None)
    for _ in range({N_VOID_CALLS}):
        timer.stop()  # a void method: returns None
    refcount_after = sys.getrefcount(None)
    print(refcount_before, refcount_after)
""")


def test_void_qt_calls_keep_none_alive() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", _VOID_CALLS_SCRIPT], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, (
        f"{N_VOID_CALLS} void Qt calls killed Python (rc {result.returncode}); a PySide6 release "
        f"that leaks None references? stderr:\n{result.stderr[-2000:]}")
    refcount_before, refcount_after = (int(word) for word in result.stdout.split())
    assert refcount_after >= refcount_before - NOISE_REFERENCES, (
        f"sys.getrefcount(None) fell from {refcount_before} to {refcount_after} over "
        f"{N_VOID_CALLS} void Qt calls: this PySide6 leaks references to None")
