"""Data files shipped with ME-TST Studio: the sample video, ROI definitions, default configs.

A package only so that the files install with the project; ``resource_path`` finds them in an
editable checkout and in an installed wheel alike.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["resource_path", "SAMPLE_VIDEO"]


def resource_path(*parts: str) -> Path:
    """Absolute path of a shipped resource, e.g. ``resource_path("rois", "metst.json")``."""
    return Path(str(files(__name__).joinpath(*parts)))


SAMPLE_VIDEO = resource_path("sample", "WolfgangLanger_Pexels.mp4")
