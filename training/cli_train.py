"""``metst train``: train ME-TST / ME-TST+ (or TSFmicro) on a dataset, LOSO or on everyone.

``--protocol loso`` trains one model per held-out subject and evaluates it on that subject's
whole videos (``RUN_DIR/folds/<subject>/model.pt`` and ``report.json``, pooled in
``RUN_DIR/report.json`` and ``report.md``, with the training-free flow spotter as baseline);
``--protocol all`` trains the model for the app on every subject (``RUN_DIR/model.pt``).
``--data project`` learns from the intervals a human made, accepted or edited only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.datasets.base import Dataset
from core.flow import FlowConfig, preview_config
from core.progress import Progress
from core.store import FeatureStore
from training.data import (
    DATA_KINDS,
    DataSpec,
    VideoSample,
    combine,
    load_dataset,
    load_samples,
)
from training.labels import EMOTION_MAPPINGS, MACRO_POLICIES, LabelConfig
from training.loso import (
    FoldJob,
    all_subjects_fold,
    fold_dir,
    loso_folds,
    prepare_run_dir,
    run_fold,
    run_folds,
    write_run_reports,
)
from training.sequences import CropConfig
from training.trainer import MODEL_SIZES, TrainConfig, model_roi_set, resolve_device

__all__ = ["add_parser", "run", "train_config_from_args"]

_MODELS = ("metst", "metst_plus", "tsfmicro")
_TSFMICRO_MAPPINGS = {"3-class": "three_class", "4-class": "four_class"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (leave-one-subject-out or final)",
                       description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data", required=True, choices=DATA_KINDS, help="dataset kind")
    data.add_argument("--root", required=True, type=Path,
                      help="frames root (casme3, samm_lv) or project / synthetic folder")
    data.add_argument("--labels", nargs="+", type=Path, default=[], metavar="FILE",
                      help="label files: casme3 LABEL.xlsx [ALL_EXPRESSIONS.xls] "
                           "[DAMAGED.txt]; samm_lv LONG_VIDEOS.xlsx [MICRO_FACS.xlsx]")
    data.add_argument("--include-dataset", action="append", default=[],
                      metavar="KIND:ROOT[:LABELS,...]", help="train on this dataset too")
    data.add_argument("--subjects", nargs="+", metavar="SUBJECT",
                      help="use only these subjects")
    data.add_argument("--store", type=Path, help="feature store (default RUN_DIR/features.h5)")
    data.add_argument("--preview", action="store_true", help="fast preview features (DIS flow)")
    model = p.add_argument_group("model and run")
    model.add_argument("--model", choices=_MODELS, default="metst_plus",
                       help="model to train (default metst_plus)")
    model.add_argument("--size", choices=("auto", *MODEL_SIZES), default="auto",
                       help="model size: paper, small (CPU), tiny; auto = paper on CUDA, "
                            "small on the CPU")
    model.add_argument("--protocol", choices=("loso", "all"), default="loso",
                       help="loso: one fold per subject, with reports; all: the app's model")
    model.add_argument("--out", required=True, type=Path, metavar="RUN_DIR",
                       help="run folder")
    model.add_argument("--base", type=Path, metavar="CKPT", help="checkpoint to fine-tune from")
    model.add_argument("--resume", action="store_true",
                       help="continue an interrupted run in RUN_DIR (finished folds are kept)")
    train = p.add_argument_group("training (defaults: the official ME-TST code)")
    train.add_argument("--epochs", type=int, help="epochs (default 50)")
    train.add_argument("--lr", type=float,
                       help="peak learning rate (default 3e-4; project, synthetic 3e-3)")
    train.add_argument("--batch", type=int, help="crops per batch (default 256 casme3, 32 other)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("--crop-seconds", type=float, help="crop length in seconds (default 4)")
    train.add_argument("--official-crops", action="store_true",
                       help="the official windows: k frames, stride k/2, background drawn once")
    train.add_argument("--background-ratio", type=float,
                       help="background crops per expression crop (default 4; samm_lv 0.5)")
    train.add_argument("--soft-labels", action="store_true",
                       help="spotting target rises to the apex instead of a 0/1 box")
    train.add_argument("--macro", choices=MACRO_POLICIES, default="background",
                       help="macro-expression frames: background (default), ignore, expression")
    train.add_argument("--emotions", choices=sorted(EMOTION_MAPPINGS),
                       help="emotion classes (default 4-class; tsfmicro: 3-class)")
    train.add_argument("--neutral-weight", type=float,
                       help="neutral class weight factor (default 6; 0 = without synergy)")
    runtime = p.add_argument_group("runtime")
    runtime.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    runtime.add_argument("--workers", type=int, default=1, help="extraction processes")
    runtime.add_argument("--parallel-folds", type=int, default=1,
                         help="folds trained at once, in separate processes")
    runtime.add_argument("--json-progress", action="store_true",
                         help="JSON lines on stdout instead of progress bars")


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` the options ask for (official defaults for the data kind)."""
    size = args.size
    if size == "auto":
        size = "paper" if resolve_device(args.device).type == "cuda" else "small"
    config = TrainConfig.for_data(args.data, model=args.model, seed=args.seed,
                                  model_config=MODEL_SIZES[size][args.model])
    ratio = (args.background_ratio if args.background_ratio is not None
             else config.crops.background_ratio)
    crops = replace(config.crops, background_ratio=ratio)
    if args.official_crops:
        crops = CropConfig.official(background_ratio=ratio)
    if args.crop_seconds is not None:
        crops = replace(crops, crop_seconds=args.crop_seconds)
    labels = LabelConfig(spot_target="soft" if args.soft_labels else "hard",
                         macro_policy=args.macro, emotions=args.emotions or "4-class")
    loss = config.loss if args.neutral_weight is None else replace(
        config.loss, neutral_weight_factor=args.neutral_weight)
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch}
    return replace(config, crops=crops, labels=labels, loss=loss,
                   **{key: value for key, value in overrides.items() if value is not None})


class _Reporter:
    """Progress as JSON lines on stdout (``--json-progress``) or tqdm bars on stderr."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self._bar: tqdm | None = None
        self._bar_key: tuple[str, str] | None = None

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
            self.line(_fold_line(event))
        elif kind == "fold_skipped":
            self.line(f"fold {event['fold']}: {event['reason']}, skipped")
        elif kind == "note":
            self.line(event["message"])
        elif kind == "done" and "checkpoint" in event:
            self.line(f"model written to {event['checkpoint']}")
        elif kind == "done" and "uar" in event:
            self.line(f"pooled over the folds: UF1 {event['uf1']:.4f}, UAR {event['uar']:.4f} "
                      f"→ {event['report']}")

    def features(self, progress: Progress) -> None:
        """Progress callback of the feature extraction (one step per video)."""
        if progress.stage != "features":
            return
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


def _fold_line(event: dict[str, Any]) -> str:
    if "f1" not in event:
        return f"fold {event['fold']}: trained in {event['seconds']:.0f} s → {event['checkpoint']}"
    return (f"fold {event['fold']}: spotting F1 {event['f1']:.4f} (flow spotter "
            f"{event['baseline_f1']:.4f}), UF1 {event['uf1']:.4f}, {event['seconds']:.0f} s")


def run(args: argparse.Namespace) -> int:
    reporter = _Reporter(args.json_progress)
    try:
        if args.model == "tsfmicro":
            return _run_tsfmicro(args, reporter)
        return _run_per_frame(args, reporter)
    except (ValueError, OSError) as error:     # DatasetError, CheckpointError, RunDirError …
        message = " ".join(str(error).split()) or type(error).__name__
        if args.json_progress:
            reporter.event({"event": "error", "message": message})
        print(f"error: {message}", file=sys.stderr, flush=True)
        return 1
    finally:
        reporter.close()


def _specs(args: argparse.Namespace) -> list[DataSpec]:
    specs = [DataSpec(args.data, args.root, tuple(args.labels))]
    specs += [DataSpec.parse(text) for text in args.include_dataset]
    for spec in specs:
        if not spec.root.exists():
            raise ValueError(f"{spec.root}: no such folder (--root of --data {spec.kind})")
    return specs


def _dataset(specs: Sequence[DataSpec], labels: LabelConfig,
             subjects: Sequence[str] | None) -> Dataset:
    include_macro = labels.macro_policy != "background"
    dataset = combine([(spec.kind, load_dataset(spec, include_macro=include_macro))
                       for spec in specs])
    if subjects:
        unknown = sorted(set(subjects) - set(dataset.subjects))
        if unknown:
            raise ValueError(f"--subjects {unknown} are not in the data (its subjects are "
                             f"{dataset.subjects})")
        dataset = replace(dataset, videos=[v for v in dataset.videos if v.subject in subjects])
    if not dataset.videos:
        raise ValueError(f"{specs[0].root}: no videos found")
    return dataset


def _run_per_frame(args: argparse.Namespace, reporter: _Reporter) -> int:
    """ME-TST / ME-TST+: features, then the final model or the LOSO folds and their reports."""
    specs = _specs(args)
    config = train_config_from_args(args)
    roi_set = model_roi_set(config.model)
    flow_config = preview_config(roi_set) if args.preview else FlowConfig(roi_set=roi_set)
    run_info = {"protocol": args.protocol, "model": config.model,
                "data": [spec.to_dict() for spec in specs], "subjects": args.subjects,
                "base": None if args.base is None else str(args.base),
                "config": config.to_dict(), "features": flow_config.to_dict(),
                "data_description": ", ".join(f"{s.kind} {s.root}" for s in specs)}
    dataset = _dataset(specs, config.labels, args.subjects)
    prepare_run_dir(args.out, run_info, resume=args.resume)
    samples = _samples(args, dataset, flow_config, reporter)
    subjects = [s for s in dataset.subjects if s in {sample.subject for sample in samples}]
    started = time.perf_counter()
    common = {"samples": tuple(samples), "config": config,
              "feature_params": flow_config.to_dict(),
              "data": {"specs": run_info["data"], "name": dataset.name},
              "base_checkpoint": args.base, "device": args.device}
    if args.protocol == "all":
        fold = all_subjects_fold(subjects)
        run_fold(FoldJob(fold, 0, 1, fold_dir(args.out, fold), **common), reporter.event)
        reporter.event({"event": "done", "checkpoint": str(args.out / "model.pt"),
                        "seconds": time.perf_counter() - started})
        return 0
    folds = loso_folds(subjects)
    jobs = [FoldJob(fold, k, len(folds), fold_dir(args.out, fold), **common)
            for k, fold in enumerate(folds)]
    reports = run_folds(jobs, parallel_folds=args.parallel_folds, on_event=reporter.event)
    data = write_run_reports(args.out, reports, model_name=config.model, run_info=run_info)
    _report_pooled(args, reporter, data, len(reports), time.perf_counter() - started)
    return 0


def _samples(args: argparse.Namespace, dataset: Dataset, flow_config: FlowConfig,
             reporter: _Reporter) -> list[VideoSample]:
    """The dataset's videos with their traces (from the store, else extracted into it)."""
    for warning in dataset.warnings:
        reporter.event({"event": "note", "message": f"warning: {warning}"})
    store = FeatureStore(args.store or args.out / "features.h5")
    samples = load_samples(dataset, flow_config, store, workers=args.workers,
                           progress=reporter.features,
                           on_skip=lambda m: reporter.event({"event": "note", "message": m}))
    if not samples:
        raise ValueError(f"{args.root}: no video could be read")
    return samples


def _report_pooled(args: argparse.Namespace, reporter: _Reporter, data: dict[str, Any],
                   n_folds: int, seconds: float) -> None:
    """The ``done`` event and, on a terminal, the pooled summary line."""
    model, baseline = data["model"], data["baseline"]
    reporter.event({"event": "done", "report": str(args.out / "report.json"),
                    "f1": model["spotting"]["f1"], "baseline_f1": baseline["spotting"]["f1"],
                    "uf1": model["recognition"]["uf1"], "strs": model["strs"],
                    "seconds": seconds})
    if not args.json_progress:
        reporter.line(f"pooled over {n_folds} folds: spotting F1 {model['spotting']['f1']:.4f} "
                      f"(flow spotter {baseline['spotting']['f1']:.4f}), UF1 "
                      f"{model['recognition']['uf1']:.4f}, STRS {model['strs']:.4f} → "
                      f"{args.out / 'report.md'}")


def _run_tsfmicro(args: argparse.Namespace, reporter: _Reporter) -> int:
    """TSFmicro through :mod:`training.tsfmicro_trainer` (imported only here)."""
    try:
        from training.tsfmicro_trainer import (
            TsfMicroTrainConfig,
            loso_tsfmicro,
            train_tsfmicro,
        )
    except ImportError as error:
        raise ValueError(f"--model tsfmicro is not available in this installation "
                         f"({error})") from None
    specs = _specs(args)
    labels = LabelConfig(macro_policy=args.macro, emotions=args.emotions or "3-class")
    overrides = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch}
    config = TsfMicroTrainConfig(mapping=_TSFMICRO_MAPPINGS[labels.emotions], seed=args.seed,
                                 device=args.device,
                                 **{k: v for k, v in overrides.items() if v is not None})
    dataset = _dataset(specs, labels, args.subjects)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(p: Progress) -> None:
        if p.stage == "tsfmicro":
            reporter.event({"event": "epoch", "fold": "", "epoch": p.done, "epochs": p.total,
                            "message": p.message})

    if args.protocol == "all":
        path = train_tsfmicro(dataset, config, args.out, seed=args.seed, progress=progress,
                              base_checkpoint=args.base)
        reporter.event({"event": "done", "checkpoint": str(path)})
        return 0
    result = loso_tsfmicro(dataset, config, args.out, progress=progress)
    reporter.event({"event": "done", "report": str(args.out / "report.json"),
                    "uf1": result["pooled"]["uf1"], "uar": result["pooled"]["uar"]})
    return 0
