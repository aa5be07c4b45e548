"""Test-suite set-up: Qt runs offscreen (CI has no display), fixtures come from tests/fixtures/."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.fixtures.videos", "tests.fixtures.datasets"]
