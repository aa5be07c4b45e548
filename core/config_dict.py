"""One strict reader for the frozen settings dataclasses' ``from_dict`` (``XConfig``).

Settings travel as plain dicts (JSON files, checkpoints, run folders) and come back through
``XConfig.from_dict``; every such reader refuses keys the dataclass does not have — a misspelt
setting must not be silently ignored — and turns JSON lists back into the tuples the frozen
dataclasses hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

__all__ = ["checked_config_values", "config_from_dict"]

ConfigT = TypeVar("ConfigT")


def checked_config_values(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as keyword arguments of the dataclass ``cls``: lists become tuples.

    Raises:
        ValueError: naming ``cls``, the unknown keys and the expected ones.
    """
    known = {field.name for field in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; expected {sorted(known)}")
    return {key: tuple(value) if isinstance(value, list) else value
            for key, value in data.items()}


def config_from_dict(cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
    """The dataclass ``cls`` from its ``to_dict`` output (see :func:`checked_config_values`)."""
    return cls(**checked_config_values(cls, data))
