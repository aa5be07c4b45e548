"""The settings of a retraining: starting point, extra dataset, epochs, model size.

:class:`RetrainOptions` is the form at the top of the Retrain dialog. It turns what the user chose
into ``metst train`` options (:meth:`RetrainOptions.train_options`): ``--base`` (default: the
project's current model when that is a checkpoint), ``--compare`` (the current checkpoint, so the
old model is scored beside the new one), ``--include-dataset KIND:ROOT:LABEL,...``, ``--epochs``
and ``--size``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.project import Project

__all__ = ["RetrainOptions", "project_checkpoint", "MODEL_SIZES", "DATASET_KINDS",
           "DEFAULT_EPOCHS"]

#: ``metst train --size`` choices (auto: the base checkpoint's size, else small on the CPU).
MODEL_SIZES = ("auto", "paper", "small", "tiny")
#: Datasets ``--include-dataset`` reads, with the label files each expects.
DATASET_KINDS = {"casme3": "ME label sheet (.xlsx) [all expressions .xls] [damaged .txt]",
                 "samm_lv": "long-video sheet (.xlsx) [micro FACS sheet .xlsx]"}
DEFAULT_EPOCHS = 50
_FLOW_MODEL = "flow"


def project_checkpoint(project: Project) -> Path | None:
    """The project's current model when it is a checkpoint file (None for the flow spotter or
    a missing file); a relative path is read from the project folder."""
    model = project.settings.model
    if not model or model == _FLOW_MODEL:
        return None
    path = Path(model)
    path = path if path.is_absolute() else project.root / path
    return path if path.is_file() else None


def _path_row(edit: QLineEdit, button: QPushButton) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(button)
    return row


class RetrainOptions(QWidget):
    """The retraining settings form (no signals: the dialog reads it when Start is pressed)."""

    def __init__(self, project: Project, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        current = project_checkpoint(project)
        self.base_current = QRadioButton("Fine-tune from")
        self.base_scratch = QRadioButton("From scratch")
        self.base_path = QLineEdit(str(current) if current else "")
        self.base_path.setPlaceholderText("checkpoint (.pt)")
        (self.base_current if current else self.base_scratch).setChecked(True)
        self.include_dataset = QCheckBox("Also train on a dataset")
        self.dataset_kind = QComboBox()
        self.dataset_kind.addItems(list(DATASET_KINDS))
        self.dataset_root = QLineEdit()
        self.dataset_root.setPlaceholderText("frames root folder")
        self.dataset_labels = QLineEdit()
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(DEFAULT_EPOCHS)
        self.size = QComboBox()
        self.size.addItems(list(MODEL_SIZES))
        self._build()
        self.dataset_kind.currentTextChanged.connect(self._on_kind_changed)
        self._on_kind_changed(self.dataset_kind.currentText())
        self.include_dataset.toggled.connect(self._on_include_toggled)
        self._on_include_toggled(False)

    def _build(self) -> None:
        browse_base, browse_root, browse_labels = (QPushButton("Browse…") for _ in range(3))
        browse_base.clicked.connect(self._browse_base)
        browse_root.clicked.connect(self._browse_root)
        browse_labels.clicked.connect(self._browse_labels)
        base_box = QGroupBox("Starting point")
        base_form = QFormLayout(base_box)
        base_form.addRow(self.base_current, _path_row(self.base_path, browse_base))
        base_form.addRow(self.base_scratch)
        data_box = QGroupBox("Data: this project's reviewed intervals")
        data_form = QFormLayout(data_box)
        data_form.addRow(self.include_dataset)
        self._dataset_rows = (self.dataset_kind, _path_row(self.dataset_root, browse_root),
                              _path_row(self.dataset_labels, browse_labels))
        for label, widget in zip(("Kind", "Root", "Label files"), self._dataset_rows,
                                 strict=True):
            data_form.addRow(label, widget)
        train_box = QGroupBox("Training")
        train_form = QFormLayout(train_box)
        train_form.addRow("Epochs", self.epochs)
        train_form.addRow("Model size", self.size)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for box in (base_box, data_box, train_box):
            layout.addWidget(box)

    def _on_include_toggled(self, included: bool) -> None:
        for widget in self._dataset_rows:
            widget.setEnabled(included)

    def _on_kind_changed(self, kind: str) -> None:
        self.dataset_labels.setPlaceholderText(DATASET_KINDS.get(kind, ""))

    def _browse_base(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Base checkpoint",
                                                    str(self.project.models_dir),
                                                    "Checkpoints (*.pt)")
        if path:
            self.base_path.setText(path)
            self.base_current.setChecked(True)

    def _browse_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Dataset frames root")
        if path:
            self.dataset_root.setText(path)
            self.include_dataset.setChecked(True)

    def _browse_labels(self) -> None:
        paths, _filter = QFileDialog.getOpenFileNames(self, "Label files", "",
                                                      "Label files (*.xlsx *.xls *.txt)")
        if paths:
            self.dataset_labels.setText(", ".join(paths))

    # ---------------------------------------------------------------- options

    def train_options(self) -> list[str]:
        """The ``metst train`` options for what is shown; ValueError naming what is wrong."""
        options = ["--epochs", str(self.epochs.value()), "--size", self.size.currentText()]
        if self.base_current.isChecked():
            text = self.base_path.text().strip()
            if not text or not Path(text).is_file():
                raise ValueError(f"base checkpoint {text or '(none)'}: no such file (choose "
                                 f"one, or train from scratch)")
            options += ["--base", text]
        current = project_checkpoint(self.project)
        if current is not None:
            options += ["--compare", str(current)]
        if self.include_dataset.isChecked():
            options += ["--include-dataset", self._dataset_spec()]
        return options

    def _dataset_spec(self) -> str:
        """``KIND:ROOT:LABEL,...`` for ``--include-dataset`` (checked: the paths exist and hold
        no ':' or ',', which the option uses as separators)."""
        kind = self.dataset_kind.currentText()
        root_text = self.dataset_root.text().strip()
        labels = [Path(p.strip()) for p in self.dataset_labels.text().split(",") if p.strip()]
        if not root_text or not Path(root_text).is_dir():
            raise ValueError(f"dataset root {root_text or '(none)'}: no such folder")
        if not labels:
            raise ValueError(f"{kind} needs its label files: {DATASET_KINDS[kind]}")
        for path in (Path(root_text), *labels):
            if ":" in str(path) or "," in str(path):
                raise ValueError(f"{path}: a path with ':' or ',' cannot be passed to "
                                 f"--include-dataset (rename or link it)")
        missing = [str(p) for p in labels if not p.is_file()]
        if missing:
            raise ValueError(f"label file(s) not found: {', '.join(missing)}")
        return f"{kind}:{root_text}:{','.join(str(p) for p in labels)}"
