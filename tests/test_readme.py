"""The README's two set-up commands stay true: CI runs the README's test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
            if block.strip().startswith("python3 -m venv")]


def test_readme_has_exactly_two_setup_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands), "each set-up command is one line"
    assert all("pip install -q torch==2.13.0" in c for c in commands)


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    ci_script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci_script.splitlines()


def test_app_command_opens_the_bundled_sample() -> None:
    app_command = next(c for c in _readme_commands() if "metst-studio" in c)
    sample = app_command.split("metst-studio", 1)[1].split()[0]
    assert (ROOT / sample).is_file(), f"the README's sample video {sample} is missing"
    assert (ROOT / "resources" / "sample" / "CREDITS.md").is_file()
