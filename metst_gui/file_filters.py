"""The file-dialog filters the window's dialogs share (one text per kind of file)."""

from __future__ import annotations

__all__ = ["VIDEO_FILE_FILTER", "CHECKPOINT_FILE_FILTER"]

VIDEO_FILE_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.webm *.mpg *.mpeg);;All files (*)"
CHECKPOINT_FILE_FILTER = "Model checkpoints (*.pt *.pth *.ckpt);;All files (*)"
