"""The ``metst`` command line: one sub-command per module (``metst extract …``).

Every sub-command calls the same public ``core`` functions the GUI uses, shows a progress bar on a
terminal, prints one summary line per input, and exits non-zero with a one-line reason on bad input
(other inputs are still processed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from training import (
    cli_analyze,
    cli_evaluate,
    cli_extract,
    cli_recognize,
    cli_synth,
    cli_train,
)

__all__ = ["main", "build_parser"]

_COMMANDS = {
    "extract": cli_extract,
    "analyze": cli_analyze,
    "recognize": cli_recognize,
    "synth": cli_synth,
    "train": cli_train,
    "evaluate": cli_evaluate,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metst", description="ME-TST Studio: micro-expression spotting and recognition.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``metst`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(_COMMANDS[args.command].run(args))
    except KeyboardInterrupt:
        print("metst: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
