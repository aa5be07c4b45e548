"""The layering rules of STYLE.md: metst_gui → training → core, core and training free of Qt,
and a window that opens without importing torch.

Each check runs in a subprocess, so the modules this test session already imported cannot hide
(or cause) a violation.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6")

# Imports every module of the given packages (walk_packages ignores ImportErrors unless told not
# to), prints their names, one a line.
_IMPORT_ALL_SCRIPT = textwrap.dedent("""
    import importlib
    import pkgutil
    import sys

    def import_all(package_name):
        def raise_error(module_name):
            raise ImportError(f"cannot import {module_name}")
        package = importlib.import_module(package_name)
        names = [package_name]
        for module in pkgutil.walk_packages(package.__path__, package_name + ".",
                                            onerror=raise_error):
            importlib.import_module(module.name)
            names.append(module.name)
        return names
""")


def _run_python(script: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300)


def test_import_linter_contracts_pass() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports)], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=300)
    assert result.returncode == 0, (
        f"import-linter contracts broken (pyproject.toml [tool.importlinter]):\n"
        f"{result.stdout}\n{result.stderr}")


@pytest.mark.slow
def test_core_and_training_import_without_qt() -> None:
    script = _IMPORT_ALL_SCRIPT + textwrap.dedent(f"""
        for blocked in {QT_MODULES!r}:
            sys.modules[blocked] = None  # any import of it now raises ImportError
        for name in import_all("core") + import_all("training"):
            print(name)
    """)
    result = _run_python(script)
    assert result.returncode == 0, (
        f"with {', '.join(QT_MODULES)} blocked, importing core/training failed:\n{result.stderr}")
    imported = set(result.stdout.split())
    assert {"core", "core.progress", "core.traces", "training"} <= imported, imported


def test_gui_imports_without_torch() -> None:
    script = _IMPORT_ALL_SCRIPT + textwrap.dedent("""
        names = import_all("metst_gui")
        print(" ".join(names))
        print("torch imported" if "torch" in sys.modules else "torch not imported")
    """)
    result = _run_python(script)
    assert result.returncode == 0, f"metst_gui fails to import:\n{result.stderr}"
    module_names, torch_line = result.stdout.strip().splitlines()
    assert "metst_gui.main_window" in module_names.split()
    assert torch_line == "torch not imported", (
        "importing metst_gui imports torch (the window must open fast: import it lazily)")
