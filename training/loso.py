"""Leave-one-subject-out folds and the training runs built on them (LOSO and final model).

:func:`loso_folds` makes one :class:`Fold` per subject; :func:`split_samples` refuses a split
that shares a subject between training and test; :func:`training_k_p` takes ``k_p`` from the
training subjects' expression lengths only (the official ``cal_k_p`` averages over every
subject, the test subject included).

A run lives in one folder::

    RUN_DIR/run.json                   what was asked (config, data, protocol): --resume checks it
    RUN_DIR/folds/<subject>/model.pt   the fold's checkpoint
    RUN_DIR/folds/<subject>/report.json   written last: the fold is finished
    RUN_DIR/folds/<subject>/state.pt   epoch checkpoint while the fold trains (deleted after)
    RUN_DIR/report.json, report.md     pooled over the finished folds ("model", "baseline",
                                       and "reference" with a reference checkpoint)
    RUN_DIR/model.pt                   protocol "all": the model for the app

:func:`run_folds` trains and evaluates folds, skipping finished ones and resuming an
interrupted one from its last epoch; with ``parallel_folds > 1`` the folds run in spawned
processes, each with ``cores / processes`` torch threads. Progress goes to ``on_event`` as
plain dicts (``{"event": "epoch", "fold": "s01", "epoch": 3, "epochs": 50, "loss": 0.12}``),
the JSON lines of ``metst train --json-progress``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_module
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_write_text
from core.curve_models import CheckpointCurveModel
from core.models.checkpoint import load_checkpoint, save_checkpoint
from core.postprocess import k_p_from_fps, k_p_from_intervals
from training.data import VideoSample, dataset_summary, fps_of, to_sequences
from training.reports import (
    FoldReport,
    evaluate_baseline,
    evaluate_model,
    markdown_report,
    pool_fold_reports,
    read_fold_report,
    write_json,
)
from training.trainer import TrainConfig, model_roi_set, resolve_device, train_model

__all__ = ["Fold", "FoldJob", "EventCallback", "loso_folds", "all_subjects_fold",
           "split_samples", "training_k_p", "run_fold", "run_folds", "fold_dir",
           "fold_finished", "prepare_run_dir", "write_run_reports", "RunDirError", "FOLDS_DIR",
           "MODEL_FILE", "REPORT_FILE", "STATE_FILE", "RUN_FILE"]

EventCallback = Callable[[dict[str, Any]], None]
FOLDS_DIR = "folds"
MODEL_FILE = "model.pt"
REPORT_FILE = "report.json"
STATE_FILE = "state.pt"
ALL_FOLD = "all"


@dataclass(frozen=True)
class Fold:
    """Which subjects train and which are held out (none: the final model on everyone).

    ``test_videos`` (sample keys ``subject/video``) holds single videos of training subjects
    out (the held-out split of :mod:`training.holdout`); those videos are tested, not trained.
    """

    name: str
    train_subjects: tuple[str, ...]
    test_subjects: tuple[str, ...]
    test_videos: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shared = sorted(set(self.train_subjects) & set(self.test_subjects))
        if shared:
            raise ValueError(f"fold {self.name}: subjects {shared} are both trained and tested")
        if not self.train_subjects:
            raise ValueError(f"fold {self.name}: no training subject")


def loso_folds(subjects: Sequence[str]) -> list[Fold]:
    """One fold per subject (in the given order): that subject held out, the others trained."""
    unique = list(dict.fromkeys(subjects))
    if len(unique) < 2:
        raise ValueError(f"leave-one-subject-out needs at least 2 subjects, got {unique}")
    return [Fold(subject, tuple(s for s in unique if s != subject), (subject,))
            for subject in unique]


def all_subjects_fold(subjects: Sequence[str]) -> Fold:
    """The final model's "fold": every subject trains, none is held out."""
    return Fold(ALL_FOLD, tuple(dict.fromkeys(subjects)), ())


def split_samples(samples: Sequence[VideoSample], fold: Fold
                  ) -> tuple[list[VideoSample], list[VideoSample]]:
    """(training samples, test samples) of a fold; samples of other subjects are left out.

    A subject is on one side only, except for the fold's ``test_videos``: those videos of
    training subjects are tested and the subject's other videos trained.
    """
    held_out = set(fold.test_videos)
    train = [s for s in samples if s.subject in fold.train_subjects and s.key not in held_out]
    test = [s for s in samples if s.subject in fold.test_subjects or s.key in held_out]
    shared = {s.subject for s in train} & {s.subject for s in test}
    if shared - {s.subject for s in test if s.key in held_out}:
        raise ValueError(f"fold {fold.name}: a subject is on both sides")
    return train, test


def training_k_p(train: Sequence[VideoSample], fps: float, macro_policy: str) -> int:
    """``k_p`` at ``fps`` from the training samples' expression lengths (in seconds, so mixed
    frame rates agree); :func:`core.postprocess.k_p_from_fps` when they have no expression."""
    lengths = [i.n_frames * fps / s.fps for s in train for i in s.expressions(macro_policy)]
    if not lengths:
        return k_p_from_fps(fps)
    return k_p_from_intervals([max(1.0, length) for length in lengths])


def fold_dir(run_dir: Path, fold: Fold) -> Path:
    """Where a fold's files go (``RUN_DIR`` itself for the final model)."""
    return run_dir if fold.name == ALL_FOLD else run_dir / FOLDS_DIR / _safe_name(fold.name)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


@dataclass(frozen=True)
class FoldJob:
    """Everything one fold needs (picklable: it may run in another process).

    Attributes:
        fold: the split.
        index, n_folds: its position, for progress.
        directory: where its files go.
        samples: the videos of the fold's subjects.
        config: training settings.
        feature_params: the flow extraction parameters (stored in the checkpoint).
        data: what the data was (specs), stored in the checkpoint's training summary.
        base_checkpoint: a checkpoint to fine-tune from.
        reference_checkpoint: a checkpoint scored, as it is, beside the trained model.
        device: ``auto`` / ``cpu`` / ``cuda``.
        threads: torch threads (None: leave torch's default).
    """

    fold: Fold
    index: int
    n_folds: int
    directory: Path
    samples: tuple[VideoSample, ...]
    config: TrainConfig
    feature_params: Mapping[str, Any]
    data: Mapping[str, Any]
    base_checkpoint: Path | None = None
    reference_checkpoint: Path | None = None
    device: str = "auto"
    threads: int | None = None


def _base_state(job: FoldJob, class_names: Sequence[str]) -> dict[str, torch.Tensor] | None:
    """The base checkpoint's weights, checked against the model, ROI set and classes."""
    if job.base_checkpoint is None:
        return None
    model, meta = load_checkpoint(job.base_checkpoint,
                                  expected_roi_set=model_roi_set(job.config.model),
                                  expected_class_names=class_names)
    if meta.model_name != job.config.model:
        raise ValueError(f"--base {job.base_checkpoint}: a {meta.model_name} checkpoint cannot "
                         f"start a {job.config.model} model")
    return model.state_dict()


def _training_summary(job: FoldJob, train: Sequence[VideoSample], k_p: int,
                      losses: Sequence[float], weights: Sequence[float]) -> dict[str, Any]:
    return {**dataset_summary(train, job.config.labels.macro_policy),
            "data": dict(job.data), "fold": job.fold.name,
            "held_out_subjects": list(job.fold.test_subjects),
            "held_out_videos": list(job.fold.test_videos),
            "base_checkpoint": None if job.base_checkpoint is None else str(job.base_checkpoint),
            "config": job.config.to_dict(), "seed": job.config.seed, "k_p": k_p,
            "losses": list(losses), "class_weights": list(weights),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def run_fold(job: FoldJob, on_event: EventCallback | None = None) -> FoldReport | None:
    """Train one fold, save its checkpoint and (with held-out subjects) evaluate and report.

    An epoch checkpoint in the fold's folder from an interrupted run of the same settings is
    resumed. Returns the fold's report, or None for the final model (nothing held out).
    """
    started = time.perf_counter()
    emit = on_event or (lambda event: None)
    if job.threads is not None:
        torch.set_num_threads(job.threads)
    train, test = split_samples(job.samples, job.fold)
    config = job.config
    class_names = config.labels.class_names
    fps = fps_of(train)
    k_p = training_k_p(train, fps, config.labels.macro_policy)
    job.directory.mkdir(parents=True, exist_ok=True)
    emit({"event": "fold_start", "fold": job.fold.name, "index": job.index,
          "n_folds": job.n_folds, "n_train_videos": len(train), "n_test_videos": len(test),
          "k_p": k_p})

    def on_epoch(epoch: int, epochs: int, loss: float) -> None:
        emit({"event": "epoch", "fold": job.fold.name, "epoch": epoch, "epochs": epochs,
              "loss": loss})

    result = train_model(to_sequences(train, config.labels), config, class_names=class_names,
                         initial_state=_base_state(job, class_names),
                         device=resolve_device(job.device),
                         state_path=job.directory / STATE_FILE, on_epoch=on_epoch)
    checkpoint = job.directory / MODEL_FILE
    save_checkpoint(checkpoint, result.model, model_name=config.model, class_names=class_names,
                    fps=fps, roi_set=model_roi_set(config.model),
                    feature_params=job.feature_params,
                    training_summary=_training_summary(job, train, k_p, result.losses,
                                                       result.class_weights))
    (job.directory / STATE_FILE).unlink(missing_ok=True)
    done = {"event": "fold_done", "fold": job.fold.name, "checkpoint": str(checkpoint),
            "resumed_from_epoch": result.resumed_from_epoch}
    if not test:
        emit({**done, "seconds": time.perf_counter() - started})
        return None
    report = _evaluate_fold(job, checkpoint, test, k_p, result.losses, len(train), started)
    write_json(job.directory / REPORT_FILE, report.to_dict())
    scores = {"f1": report.model.spotting.f1, "baseline_f1": report.baseline.spotting.f1,
              "uf1": report.model.recognition.uf1, "seconds": report.seconds}
    if report.reference is not None:
        scores["reference_f1"] = report.reference.spotting.f1
    emit({**done, **scores})
    return report


def _evaluate_fold(job: FoldJob, checkpoint: Path, test: Sequence[VideoSample], k_p: int,
                   losses: Sequence[float], n_train: int, started: float) -> FoldReport:
    config = job.config
    model = CheckpointCurveModel(checkpoint)
    common = {"k_p": k_p, "postprocess": config.postprocess, "labels": config.labels,
              "iou_threshold": config.iou_threshold}
    reference = None
    if job.reference_checkpoint is not None:
        reference = evaluate_model(CheckpointCurveModel(job.reference_checkpoint), test,
                                   **common)
    return FoldReport(job.fold.name, k_p, evaluate_model(model, test, **common),
                      evaluate_baseline(test, **common), n_train, len(test), list(losses),
                      time.perf_counter() - started, reference)


def fold_finished(directory: Path) -> bool:
    """Whether a fold's report and checkpoint are both written."""
    return (directory / REPORT_FILE).is_file() and (directory / MODEL_FILE).is_file()


def run_folds(jobs: Sequence[FoldJob], *, parallel_folds: int = 1,
              on_event: EventCallback | None = None) -> list[FoldReport]:
    """Run every job whose fold is not finished; returns all finished folds' reports in job
    order (those finished earlier read back from their ``report.json``)."""
    emit = on_event or (lambda event: None)
    pending = []
    for job in jobs:
        if fold_finished(job.directory):
            emit({"event": "fold_skipped", "fold": job.fold.name,
                  "reason": "finished in an earlier run"})
        else:
            pending.append(job)
    if parallel_folds > 1 and len(pending) > 1:
        _run_parallel(pending, parallel_folds, emit)
    else:
        for job in pending:
            run_fold(job, emit)
    return [read_fold_report(job.directory / REPORT_FILE) for job in jobs
            if (job.directory / REPORT_FILE).is_file()]


# ------------------------------------------------------------------------ parallel folds

_event_queue: Any = None


def _worker_init(event_queue: Any) -> None:
    global _event_queue
    _event_queue = event_queue


def _run_job_in_worker(job: FoldJob) -> None:
    run_fold(job, _event_queue.put)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def _run_parallel(jobs: Sequence[FoldJob], processes: int, emit: EventCallback) -> None:
    """Folds in spawned processes (``cores / processes`` torch threads each), events relayed."""
    processes = min(processes, len(jobs))
    threads = max(1, _cores() // processes)
    context = mp.get_context("spawn")
    events = context.Queue()
    with ProcessPoolExecutor(max_workers=processes, mp_context=context,
                             initializer=_worker_init, initargs=(events,)) as pool:
        futures = [pool.submit(_run_job_in_worker, replace(job, threads=threads))
                   for job in jobs]
        try:
            while not all(f.done() for f in futures) or not events.empty():
                try:
                    emit(events.get(timeout=0.1))
                except queue_module.Empty:
                    pass
            for future in futures:
                future.result()
        except BaseException:
            for process in list((pool._processes or {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


# ------------------------------------------------------------------------------ run folder

RUN_FILE = "run.json"


class RunDirError(ValueError):
    """A run folder that cannot be used as asked (taken, or resumed with other settings)."""


def prepare_run_dir(run_dir: Path, run_info: Mapping[str, Any], *, resume: bool) -> None:
    """Create ``run_dir`` and its ``run.json``, or check them for ``--resume``.

    Without ``resume`` a folder holding a run that trained something is refused (nothing is
    overwritten); with it, the stored settings must equal ``run_info`` (RunDirError naming
    what differs). A ``run.json`` whose run never got to train is simply replaced.
    """
    path = run_dir / RUN_FILE
    if path.is_file() and _has_trained(run_dir):
        if not resume:
            raise RunDirError(f"{run_dir} already holds a run: pass --resume to continue it, "
                              f"or choose another --out folder")
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RunDirError(f"{path}: unreadable ({error})") from error
        differing = sorted(key for key in {*stored, *run_info}
                           if stored.get(key) != _plain_json(run_info.get(key)))
        if differing:
            raise RunDirError(f"{run_dir} was started with other settings ({', '.join(differing)}"
                              f" differ): --resume needs the same command")
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, run_info)


def _has_trained(run_dir: Path) -> bool:
    """Whether a run folder holds any checkpoint or epoch state."""
    return any((run_dir / name).is_file() for name in (MODEL_FILE, STATE_FILE)) or any(
        (run_dir / FOLDS_DIR).glob(f"*/{STATE_FILE}")) or any(
        (run_dir / FOLDS_DIR).glob(f"*/{MODEL_FILE}"))


def _plain_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def write_run_reports(run_dir: Path, folds: Sequence[FoldReport], *, model_name: str,
                      run_info: Mapping[str, Any]) -> dict[str, Any]:
    """``RUN_DIR/report.json`` (pooled model and baseline, and every fold) and ``report.md``."""
    pooled = pool_fold_reports(folds)
    data = {name: report.to_dict() for name, report in pooled.items()}
    data.update({"folds": {f.fold: f.to_dict() for f in folds}, "run": dict(run_info)})
    write_json(run_dir / REPORT_FILE, data)
    info = {"data": run_info.get("data_description", ""),
            "epochs": run_info.get("config", {}).get("epochs"),
            "seed": run_info.get("config", {}).get("seed")}
    atomic_write_text(run_dir / "report.md",
                      markdown_report(folds, model_name=model_name, run_info=info))
    return data
