"""Progress of ``metst train``: JSON lines on stdout (``--json-progress``) or tqdm bars.

Each event is a plain dict with an ``"event"`` key; ``--json-progress`` prints one per line,
flushed, so a caller (the app's Retrain dialog) can follow the run. The events:

- ``features`` (``done``, ``total`` videos, ``video``): feature extraction, and ``flow``
  (``done``, ``total`` frames, ``video``) within a video being extracted;
- ``protocol`` (``protocol`` loso | holdout, ``n_folds``, ``final_model``): the evaluation chosen;
- ``fold_start`` (``fold``, ``index``, ``n_folds``, …), ``epoch`` (``fold``, ``epoch``,
  ``epochs``, ``loss``), ``fold_done`` (``fold``, ``checkpoint``, scores), ``fold_skipped``;
- ``note`` (``message``): a line for the user (warnings, skipped videos);
- ``done``: the run's result (``report`` and pooled scores, ``checkpoint`` of the app's model);
- ``error`` (``message``): the run failed (the exit code is 1, the message is on stderr too).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tqdm import tqdm

from core.progress import Progress

__all__ = ["Reporter", "fold_line"]


class Reporter:
    """Progress as JSON lines on stdout (``--json-progress``) or tqdm bars on stderr."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self._bar: tqdm | None = None
        self._bar_key: tuple[str, str] | None = None
        self._flow_percent = -1

    def event(self, event: dict[str, Any]) -> None:
        """Print one event: a JSON line, or a bar update / a summary line."""
        if self.json_lines:
            print(json.dumps(event), flush=True)
            return
        kind = event["event"]
        if kind == "epoch":
            loss = event.get("loss")
            self._progress(("epoch", event["fold"]), f"fold {event['fold']}".strip(),
                           event["epoch"], event["epochs"],
                           f"loss {loss:.4f}" if loss is not None else "")
        elif kind == "fold_done":
            self._close()
            self.line(fold_line(event))
        elif kind == "fold_skipped":
            self.line(f"fold {event['fold']}: {event['reason']}, skipped")
        elif kind == "protocol":
            self.line(f"evaluation: {event['protocol']} ({event['n_folds']} fold(s))"
                      + (", then the final model" if event.get("final_model") else ""))
        elif kind == "note":
            self.line(event["message"])
        elif kind == "done" and "checkpoint" in event:
            self.line(f"model written to {event['checkpoint']}")
        elif kind == "done" and "uar" in event:
            self.line(f"pooled over the folds: UF1 {event['uf1']:.4f}, UAR {event['uar']:.4f} "
                      f"→ {event['report']}")

    def features(self, progress: Progress) -> None:
        """Progress callback of the feature extraction: one step per video, and with JSON
        lines the frames of the video being extracted (``flow``, at most one per percent)."""
        if progress.stage == "flow" and self.json_lines and progress.total > 0:
            percent = 100 * progress.done // progress.total
            if percent != self._flow_percent:
                self._flow_percent = percent
                self.event({"event": "flow", "done": progress.done, "total": progress.total,
                            "video": progress.message})
            return
        if progress.stage != "features":
            return
        self._flow_percent = -1
        if self.json_lines:
            self.event({"event": "features", "done": progress.done, "total": progress.total,
                        "video": progress.message})
        else:
            self._progress(("video", "features"), "features", progress.done, progress.total,
                           progress.message)

    def line(self, text: str) -> None:
        """A line for the user (stdout, above any bar)."""
        if self.json_lines:
            self.event({"event": "note", "message": text})
        else:
            self._close()
            print(text, flush=True)

    def _progress(self, key: tuple[str, str], desc: str, done: int, total: int,
                  postfix: str) -> None:
        if self._bar is None or self._bar_key != key:
            self._close()
            self._bar = tqdm(total=total, desc=desc, unit=key[0], leave=False, file=sys.stderr,
                             disable=None)
            self._bar_key = key
        self._bar.total = total
        self._bar.update(done - self._bar.n)
        if postfix:
            self._bar.set_postfix_str(postfix, refresh=False)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._bar_key = None, None

    def close(self) -> None:
        self._close()


def fold_line(event: dict[str, Any]) -> str:
    if "f1" not in event:
        return f"fold {event['fold']}: trained in {event['seconds']:.0f} s → {event['checkpoint']}"
    return (f"fold {event['fold']}: spotting F1 {event['f1']:.4f} (flow spotter "
            f"{event['baseline_f1']:.4f}), UF1 {event['uf1']:.4f}, {event['seconds']:.0f} s")
