"""``metst train``: train ME-TST / ME-TST+ (or TSFmicro) on a dataset, LOSO or on everyone.

``--protocol loso`` trains one model per held-out subject and evaluates it on that subject's
whole videos (``RUN_DIR/folds/<subject>/model.pt`` and ``report.json``, pooled in
``RUN_DIR/report.json`` and ``report.md``, with the training-free flow spotter as baseline);
``--protocol holdout`` trains once and tests on held-out videos (the last 20 % of each
subject's videos, see training/holdout.py; ``RUN_DIR/folds/holdout/``); ``--protocol auto`` is
loso with at least 3 subjects that have expressions, else holdout. ``--protocol all`` trains
the model for the app on every subject (``RUN_DIR/model.pt``); ``--final-model`` trains it too
after a loso / holdout evaluation. ``--compare CKPT`` (default: the ``--base`` checkpoint)
scores that checkpoint, as it is, on the same videos (the "reference" rows of the reports);
``--model`` / ``--size auto`` default to the base's model and size.
``--data project`` learns from the intervals a human made, accepted or edited only.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.datasets.base import Dataset
from core.flow import FlowConfig, preview_config
from core.models.checkpoint import read_checkpoint_meta
from core.progress import Progress
from core.store import FeatureStore
from training.cli_progress import Reporter
from training.data import (
    DATA_KINDS,
    DataSpec,
    VideoSample,
    combine,
    load_dataset,
    load_samples,
)
from training.holdout import choose_protocol, holdout_fold
from training.labels import EMOTION_MAPPINGS, MACRO_POLICIES, LabelConfig, is_micro
from training.loso import (
    MODEL_FILE,
    REPORT_FILE,
    FoldJob,
    all_subjects_fold,
    fold_dir,
    loso_folds,
    prepare_run_dir,
    run_fold,
    run_folds,
    write_run_reports,
)
from training.reports import score_summary
from training.sequences import CropConfig
from training.trainer import (
    MODEL_SIZES,
    TRAINABLE_MODELS,
    TrainConfig,
    model_roi_set,
    resolve_device,
)

__all__ = ["add_parser", "run", "train_config_from_args"]

_MODELS = ("metst", "metst_plus", "tsfmicro")
_PROTOCOLS = ("loso", "holdout", "auto", "all")
_DEFAULT_MODEL = "metst_plus"
_OWN_CONFIG_KEYS = ("in_channels", "n_classes", "class_names")   # set from the data
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
    model.add_argument("--model", choices=_MODELS,
                       help="model to train (default: the --base checkpoint's, else metst_plus)")
    model.add_argument("--size", choices=("auto", *MODEL_SIZES), default="auto",
                       help="model size: paper, small (CPU), tiny; auto = the --base "
                            "checkpoint's, else paper on CUDA, small on the CPU")
    model.add_argument("--protocol", choices=_PROTOCOLS, default="loso",
                       help="loso: one fold per subject, with reports; holdout: held-out "
                            "videos; auto: loso with >= 3 subjects, else holdout; all: the "
                            "app's model")
    model.add_argument("--final-model", action="store_true",
                       help="with loso / holdout / auto: then train the app's model on "
                            "everything (RUN_DIR/model.pt)")
    model.add_argument("--out", required=True, type=Path, metavar="RUN_DIR",
                       help="run folder")
    model.add_argument("--base", type=Path, metavar="CKPT", help="checkpoint to fine-tune from")
    model.add_argument("--compare", type=Path, metavar="CKPT",
                       help="score this checkpoint too, as it is, on the evaluation videos "
                            "(default: the --base checkpoint)")
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
    """The :class:`TrainConfig` the options ask for (official defaults for the data kind;
    ``--size auto`` with a ``--base`` of the same model: the base's size)."""
    model_name = args.model or _DEFAULT_MODEL
    size = args.size
    model_config = _base_model_config(args.base, model_name) if size == "auto" else None
    if size == "auto":
        size = "paper" if resolve_device(args.device).type == "cuda" else "small"
    if model_config is None:
        model_config = MODEL_SIZES[size][model_name]
    config = TrainConfig.for_data(args.data, model=model_name, seed=args.seed,
                                  model_config=model_config)
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


def _base_model_config(base: Path | None, model_name: str) -> dict[str, Any] | None:
    """The size settings of a ``--base`` checkpoint of ``model_name`` (None: no such base)."""
    if base is None:
        return None
    meta = read_checkpoint_meta(base)
    if meta.model_name != model_name:
        return None         # refused with a clear message when training starts
    return {k: v for k, v in meta.config.items() if k not in _OWN_CONFIG_KEYS}


def _model_name(args: argparse.Namespace) -> str:
    """``--model``, else the ``--base`` checkpoint's model, else metst_plus."""
    if args.model is not None:
        return str(args.model)
    return _DEFAULT_MODEL if args.base is None else read_checkpoint_meta(args.base).model_name


def run(args: argparse.Namespace) -> int:
    reporter = Reporter(args.json_progress)
    try:
        args = argparse.Namespace(**{**vars(args), "model": _model_name(args)})
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
        if specs[0].kind == "project":
            raise ValueError(f"{specs[0].root}: no reviewed videos, so no micro-expression "
                             "intervals to learn from (a video counts once a human made, "
                             "accepted, edited or rejected one of its intervals)")
        raise ValueError(f"{specs[0].root}: no videos found")
    if not any(is_micro(i, labels.macro_policy) for v in dataset.videos for i in v.intervals):
        raise ValueError(f"{', '.join(str(s.root) for s in specs)}: no micro-expression "
                         f"intervals to learn from (a project's intervals count once a human "
                         f"made, accepted or edited them)")
    return dataset


def _run_per_frame(args: argparse.Namespace, reporter: Reporter) -> int:
    """ME-TST / ME-TST+: features, then the final model or the LOSO folds and their reports."""
    specs = _specs(args)
    config = train_config_from_args(args)
    roi_set = model_roi_set(config.model)
    flow_config = preview_config(roi_set) if args.preview else FlowConfig(roi_set=roi_set)
    run_info = {"protocol": args.protocol, "model": config.model,
                "data": [spec.to_dict() for spec in specs], "subjects": args.subjects,
                "base": None if args.base is None else str(args.base),
                "compare": None if args.compare is None else str(args.compare),
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
              "base_checkpoint": args.base, "device": args.device,
              "reference_checkpoint": _reference(args.compare or args.base, roi_set, reporter)}
    if args.protocol == "all":
        fold = all_subjects_fold(subjects)
        run_fold(FoldJob(fold, 0, 1, fold_dir(args.out, fold), **common), reporter.event)
        reporter.event({"event": "done", "checkpoint": str(args.out / "model.pt"),
                        "seconds": time.perf_counter() - started})
        return 0
    protocol = args.protocol
    if protocol == "auto":
        protocol = choose_protocol(samples, config.labels.macro_policy)
    folds = loso_folds(subjects) if protocol == "loso" else [holdout_fold(samples)]
    n_jobs = len(folds) + int(args.final_model)
    reporter.event({"event": "protocol", "protocol": protocol, "n_folds": len(folds),
                    "subjects": subjects, "test_videos": list(folds[0].test_videos),
                    "final_model": args.final_model})
    jobs = [FoldJob(fold, k, n_jobs, fold_dir(args.out, fold), **common)
            for k, fold in enumerate(folds)]
    reports = run_folds(jobs, parallel_folds=args.parallel_folds, on_event=reporter.event)
    data = write_run_reports(args.out, reports, model_name=config.model, run_info=run_info)
    checkpoint = None
    if args.final_model:
        fold = all_subjects_fold(subjects)
        run_fold(FoldJob(fold, len(folds), n_jobs, fold_dir(args.out, fold), **common),
                 reporter.event)
        checkpoint = args.out / MODEL_FILE
    _report_pooled(args, reporter, data, len(reports), time.perf_counter() - started,
                   checkpoint)
    return 0


def _reference(path: Path | None, roi_set: str, reporter: Reporter) -> Path | None:
    """The checkpoint to score beside the trained model, if its features are this run's."""
    if path is None:
        return None
    meta = read_checkpoint_meta(path)
    if meta.model_name not in TRAINABLE_MODELS or meta.roi_set != roi_set:
        reporter.line(f"warning: {path} is a {meta.model_name} model on ROI set "
                      f"{meta.roi_set}, not {roi_set}: it is not compared")
        return None
    return path


def _samples(args: argparse.Namespace, dataset: Dataset, flow_config: FlowConfig,
             reporter: Reporter) -> list[VideoSample]:
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


def _report_pooled(args: argparse.Namespace, reporter: Reporter, data: dict[str, Any],
                   n_folds: int, seconds: float, checkpoint: Path | None = None) -> None:
    """The ``done`` event (with the final model's ``checkpoint`` when one was trained) and,
    on a terminal, the pooled summary line."""
    model, baseline = data["model"], data["baseline"]
    done = {"event": "done", "report": str(args.out / REPORT_FILE),
            "f1": model["spotting"]["f1"], "baseline_f1": baseline["spotting"]["f1"],
            "uf1": model["recognition"]["uf1"], "strs": model["strs"], "seconds": seconds}
    done["scores"] = {name: score_summary(data[name])
                      for name in ("model", "baseline", "reference") if name in data}
    if checkpoint is not None:
        done["checkpoint"] = str(checkpoint)
    reporter.event(done)
    if not args.json_progress:
        reporter.line(f"pooled over {n_folds} folds: spotting F1 {model['spotting']['f1']:.4f} "
                      f"(flow spotter {baseline['spotting']['f1']:.4f}), UF1 "
                      f"{model['recognition']['uf1']:.4f}, STRS {model['strs']:.4f} → "
                      f"{args.out / 'report.md'}")


def _run_tsfmicro(args: argparse.Namespace, reporter: Reporter) -> int:
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
