"""GUI tests never touch the user's real data folder or settings (both go to a temporary folder),
never block on a modal message box, and leave no QThread or thread-pool job running; the
retraining tests share one synthetic project."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QThread, QThreadPool

POOL_DONE_TIMEOUT_MS = 5000


def _running_qthreads() -> list[QThread]:
    """Every QThread wrapped in Python that is still running (the main thread excepted)."""
    main_thread = QThread.currentThread()
    running = []
    for obj in gc.get_objects():
        # type() rather than isinstance(): isinstance touches every object's __class__, and some
        # (torch's deprecated aliases) warn when touched.
        if issubclass(type(obj), QThread) and obj is not main_thread:
            try:
                if obj.isRunning():
                    running.append(obj)
            except RuntimeError:  # its C++ object is already deleted
                continue
    return running


@pytest.fixture(scope="session", autouse=True)
def isolated_user_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """METST_STUDIO_DATA_DIR (implicit projects, the log) and QSettings in a temporary folder."""
    root = tmp_path_factory.mktemp("user_data")
    previous = os.environ.get("METST_STUDIO_DATA_DIR")
    os.environ["METST_STUDIO_DATA_DIR"] = str(root / "data")
    QCoreApplication.setOrganizationName("ME-TST-tests")
    QCoreApplication.setApplicationName("ME-TST Studio tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "settings"))
    yield root
    if previous is None:
        os.environ.pop("METST_STUDIO_DATA_DIR", None)
    else:
        os.environ["METST_STUDIO_DATA_DIR"] = previous


@pytest.fixture(autouse=True)
def no_unexpected_message_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """A modal message box would block an offscreen test until CI's timeout: fail at once
    instead. Tests that expect one patch these again (their patch wins)."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(*args: object, **kwargs: object) -> None:
        texts = [a for a in args if isinstance(a, str)]
        raise AssertionError(f"unexpected modal message box: {texts}")

    for name in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, name, unexpected)
    monkeypatch.setattr(QMessageBox, "exec", unexpected)


@pytest.fixture(scope="session")
def synthetic_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``metst synth``: 3 subjects × one 4-s video at 30 fps, one reviewed ME each. Shared by
    the whole run: tests copy it before writing settings or models into it."""
    from training.cli import main as metst

    root = tmp_path_factory.mktemp("retrain") / "synth"
    assert metst(["synth", str(root), "--subjects", "3", "--seconds", "4"]) == 0
    return root


@pytest.fixture
def running_qthreads() -> Callable[[], list[QThread]]:
    """The running QThreads (main thread excepted), for tests that check a thread mid-run."""
    return _running_qthreads


@pytest.fixture(autouse=True)
def no_qthread_left_running() -> Iterator[None]:
    """pytest-qt closes the test's widgets before this teardown runs: no thread may survive,
    and the jobs queued on Qt's global thread pool must finish."""
    yield
    pool_done = QThreadPool.globalInstance().waitForDone(POOL_DONE_TIMEOUT_MS)
    running = _running_qthreads()
    assert not running, f"threads left running: {[t.objectName() for t in running]}"
    assert pool_done, f"thread-pool jobs still running after {POOL_DONE_TIMEOUT_MS} ms"
