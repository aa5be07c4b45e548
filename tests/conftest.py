"""Test-suite set-up: Qt runs offscreen (CI has no display), fixtures come from tests/fixtures/."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tiny test models gain nothing from intra-op threads, and on a busy 2-core machine torch's
# spinning threads slowed single tests tenfold. Set before torch is first imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")

pytest_plugins = ["tests.fixtures.videos", "tests.fixtures.datasets", "tests.fixtures.sessions"]
