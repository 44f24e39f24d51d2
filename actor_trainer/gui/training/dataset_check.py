"""The dataset doctor in the training tab: a summary line, badges on the thumbnail strip, and the
"Dataset check" panel with fixes and dismissals (core/dataset_doctor.py does the checking).

The check runs in a worker thread (it reads and decodes pictures; cached by content, so a re-check
is fast) with progress; fixes and dismissals too. Every result is for the actor it was started
for: a late answer about another actor is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPersistentModelIndex, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QHelpEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.dataset_doctor import (
    FIX_REMOVE,
    FIX_RENAME,
    FIX_RGB,
    FIX_ROTATE,
    DoctorReport,
    Finding,
    check_actor,
    dismiss,
)
from actor_trainer.core.library import CAPTION_SUFFIX
from actor_trainer.core.models import TrainingParameters, VersionStatus
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.training.training_images_strip import TrainingImagesStrip
from actor_trainer.gui.training.training_tab_card import counted, secondary
from actor_trainer.gui.widgets.status_style import good_colour, status_colour

CHECK_TASK = "dataset-check"
RECHECK_DELAY_MS = 400
FIX_TASK = "dataset-fix"
_Index = QModelIndex | QPersistentModelIndex

FIX_LABELS = {
    FIX_ROTATE: "Apply rotation",
    FIX_RGB: "Convert to RGB",
    FIX_REMOVE: "Remove from training",
    FIX_RENAME: "Rename",
}


def _relevant(params: TrainingParameters) -> tuple[object, ...]:
    """The parameters the doctor's findings depend on."""
    return (params.max_train_steps, params.batch_size, params.resolution, params.trigger)


def blocking_colour() -> QColor:
    return status_colour(VersionStatus.FAILED)


def warning_colour() -> QColor:
    return status_colour(VersionStatus.IN_PROGRESS)


def findings_by_tile(report: DoctorReport | None, names: list[str]) -> dict[str, list[Finding]]:
    """Tile name → the findings its badge shows: a picture's own and its caption's."""
    if report is None:
        return {}
    by_stem: dict[str, list[str]] = {}
    for name in names:
        by_stem.setdefault(name.rsplit(".", 1)[0], []).append(name)
    out: dict[str, list[Finding]] = {}
    for finding in report.findings:
        if finding.file is None:
            continue
        targets = [finding.file] if finding.file in names else []
        if not targets and finding.file.lower().endswith(CAPTION_SUFFIX):
            targets = by_stem.get(finding.file[: -len(CAPTION_SUFFIX)], [])
        for target in targets:
            out.setdefault(target, []).append(finding)
    return out


class DoctorBadgeDelegate(QStyledItemDelegate):
    """Paints a round badge in a tile's corner (red: blocks training, orange: a warning) and shows
    the findings as the tile's tooltip."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.marks: dict[str, list[Finding]] = {}

    def severity_of(self, name: str) -> str | None:
        findings = self.marks.get(name)
        if not findings:
            return None
        return "blocking" if any(f.blocking for f in findings) else "warning"

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        super().paint(painter, option, index)
        name = index.data(Qt.ItemDataRole.AccessibleTextRole)
        severity = self.severity_of(str(name)) if name else None
        if severity is None:
            return
        rect: QRect = option.rect
        size = 18
        badge = QRect(rect.right() - size - 3, rect.top() + 3, size, size)
        colour = blocking_colour() if severity == "blocking" else warning_colour()
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("white"))
        painter.setBrush(colour)
        painter.drawEllipse(badge)
        font = QFont(painter.font())
        font.setBold(True)
        font.setPixelSize(12)
        painter.setFont(font)
        painter.drawText(badge, int(Qt.AlignmentFlag.AlignCenter), "!" if severity == "blocking" else "?")
        painter.restore()

    def helpEvent(
        self, event: QHelpEvent, view: QAbstractItemView, option: QStyleOptionViewItem, index: _Index
    ) -> bool:
        name = index.data(Qt.ItemDataRole.AccessibleTextRole)
        findings = self.marks.get(str(name)) if name else None
        if event.type() == QEvent.Type.ToolTip and findings:
            lines = [str(name)] + [("⛔ " if f.blocking else "⚠ ") + f.message for f in findings]
            QToolTip.showText(event.globalPos(), "\n\n".join(lines), view)
            return True
        return super().helpEvent(event, view, option, index)


class _Progress(QObject):
    """Carries the checking thread's progress to the GUI thread (a queued signal)."""

    progressed = Signal(int, int, int)  # generation, done, total


class DatasetCheck(QWidget):
    """Summary line + the Dataset check panel, tied to the strip it badges."""

    #: the latest report for the current actor (None while none)
    reportChanged = Signal(object)
    #: a fix changed the training folder (the data box re-scans, which checks again)
    folderChanged = Signal()

    def __init__(self, ctx: Any, strip: TrainingImagesStrip, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("datasetCheck")
        self._ctx = ctx
        self._strip = strip
        self._actor_id: int | None = None
        self._params: TrainingParameters | None = None
        self._generation = 0
        self.report: DoctorReport | None = None
        self.delegate = DoctorBadgeDelegate(strip)
        strip.setItemDelegate(self.delegate)
        self._progress = _Progress(self)
        self._progress.progressed.connect(self._on_progress)
        # The findings depend on the steps, batch, resolution and trigger the form holds: re-check
        # (cheap: the pictures' facts are cached) a moment after they change.
        self._recheck_timer = QTimer(self)
        self._recheck_timer.setSingleShot(True)
        self._recheck_timer.setInterval(RECHECK_DELAY_MS)
        self._recheck_timer.timeout.connect(self.recheck)
        ctx.parameters.changed.connect(self._on_parameters)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("datasetCheckSummary")
        self.summary_label.setWordWrap(True)
        row.addWidget(self.summary_label, 1)
        self.progress = QProgressBar(self)
        self.progress.setFixedWidth(120)
        self.progress.setFixedHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        row.addWidget(self.progress)
        self.toggle_button = QPushButton(tr("Dataset check…"), self)
        self.toggle_button.setObjectName("datasetCheckButton")
        self.toggle_button.setCheckable(True)
        self.toggle_button.setToolTip(tr("What the check found in the pictures and captions, and the fixes"))
        self.toggle_button.toggled.connect(self._show_panel)
        row.addWidget(self.toggle_button)
        layout.addLayout(row)

        self.panel = QFrame(self)
        self.panel.setObjectName("datasetCheckPanel")
        self.panel.setFrameShape(QFrame.Shape.StyledPanel)
        panel_layout = QVBoxLayout(self.panel)
        top = QHBoxLayout()
        self.panel_hint = secondary("", self.panel)
        top.addWidget(self.panel_hint, 1)
        self.again_button = QPushButton(tr("Check again"), self.panel)
        self.again_button.clicked.connect(self.recheck)
        top.addWidget(self.again_button)
        panel_layout.addLayout(top)
        self.list_area = QScrollArea(self.panel)
        self.list_area.setWidgetResizable(True)
        self.list_area.setFrameShape(QFrame.Shape.NoFrame)
        self.list_area.setMaximumHeight(260)
        self.rows = QWidget(self.list_area)
        self.rows_layout = QVBoxLayout(self.rows)
        self.rows_layout.setContentsMargins(0, 0, 0, 0)
        self.list_area.setWidget(self.rows)
        panel_layout.addWidget(self.list_area)
        self.panel.hide()
        layout.addWidget(self.panel)
        self._show_report()

    # --- public ---------------------------------------------------------------------------------

    def clear(self) -> None:
        """Another actor (or none): forget the report until the next check."""
        self._generation += 1
        self._actor_id = None
        self._set_report(None)

    def check(self, actor_id: int) -> None:
        """Check this actor's data against the parameters the form holds for it (ctx.parameters)."""
        if actor_id != self._actor_id:
            self._set_report(None)
        self._actor_id = actor_id
        self._generation += 1
        generation = self._generation
        current, _error = self._ctx.parameters.current(actor_id)
        chosen = current or self._ctx.parameters.for_actor(actor_id)
        self._params = chosen
        library = self._ctx.library
        progress = self._progress

        def run() -> DoctorReport:
            actor = library.get_actor(actor_id)
            return check_actor(
                library,
                actor,
                chosen,
                progress=lambda done, total, _name: progress.progressed.emit(generation, done, total),
            )

        def done(report: DoctorReport) -> None:
            if generation == self._generation and report.actor_id == self._actor_id:
                self.progress.hide()
                self._set_report(report)

        def failed(exc: BaseException) -> None:
            if generation == self._generation:
                self.progress.hide()
                self.summary_label.setText(tr("The dataset check failed: {e}").format(e=exc))

        if self.report is None:
            self.summary_label.setText(tr("Checking the pictures…"))
        self._ctx.tasks.start(CHECK_TASK, asyncio.to_thread(run), on_done=done, on_error=failed, owner=self)

    def _on_parameters(self, actor_id: int, params: TrainingParameters | None, _error: str) -> None:
        if actor_id != self._actor_id or params is None or self._params is None:
            return
        if _relevant(params) != _relevant(self._params):
            self._recheck_timer.start()

    def recheck(self) -> None:
        if self._actor_id is not None:
            self.check(self._actor_id)

    def fix(self, finding: Finding, on_done: Callable[[], None] | None = None) -> None:
        from actor_trainer.core.dataset_doctor_fixes import apply_fix

        self._act(lambda actor_id: apply_fix(self._ctx.library, actor_id, finding).message, on_done)

    def dismiss(self, finding: Finding, on_done: Callable[[], None] | None = None) -> None:
        self._act(lambda actor_id: (dismiss(self._ctx.library, actor_id, finding), "")[1], on_done)

    # --- internals ------------------------------------------------------------------------------

    def _act(self, action: Callable[[int], str], on_done: Callable[[], None] | None) -> None:
        actor_id = self._actor_id
        if actor_id is None:
            return

        def done(message: str) -> None:
            if message:
                self.panel_hint.setText(message)
            if on_done is not None:
                on_done()
            else:
                self.recheck()

        def failed(exc: BaseException) -> None:
            self._ctx.report_error(exc, tr("The fix could not be made"))

        self._ctx.tasks.start(
            FIX_TASK, asyncio.to_thread(action, actor_id), on_done=done, on_error=failed, replace=False, owner=self
        )

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation != self._generation or total < 20:  # small sets: no flicker
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setVisible(done < total)

    def _set_report(self, report: DoctorReport | None) -> None:
        self.report = report
        self._show_report()
        self.reportChanged.emit(report)

    def _show_panel(self, visible: bool) -> None:
        self.panel.setVisible(visible)

    def _show_report(self) -> None:
        report = self.report
        self.delegate.marks = findings_by_tile(report, self._strip.images.names())
        self._strip.viewport().update()
        while self.rows_layout.count():
            item = self.rows_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        if report is None:
            self.summary_label.setText("")
            self.toggle_button.setEnabled(False)
            self.panel_hint.setText("")
            return
        self.toggle_button.setEnabled(True)
        blocking, warnings = len(report.blocking), len(report.warnings)
        if blocking:
            colour = blocking_colour()
            text = counted(
                blocking,
                "⛔ Dataset check: {n} problem blocks training",
                "⛔ Dataset check: {n} problems block training",
            )
            if warnings:
                text += counted(warnings, ", {n} warning", ", {n} warnings")
        elif warnings:
            colour = warning_colour()
            text = counted(warnings, "⚠ Dataset check: {n} warning", "⚠ Dataset check: {n} warnings")
        else:
            colour = good_colour(self.palette())
            text = counted(
                report.image_count,
                "✓ Dataset check: {n} picture, nothing to fix",
                "✓ Dataset check: {n} pictures, nothing to fix",
            )
        if report.dismissed:
            text += counted(len(report.dismissed), " ({n} dismissed)", " ({n} dismissed)")
        self.summary_label.setText(text)
        self.summary_label.setStyleSheet(f"color: {colour.name()};")
        p = report.params
        self.panel_hint.setText(
            tr("Checked against {steps} steps at {res} px.").format(steps=p.max_train_steps, res=p.resolution)
        )
        for finding in report.findings:
            self.rows_layout.addWidget(self._row(finding))
        if not report.findings:
            self.rows_layout.addWidget(secondary(tr("Nothing to fix."), self.rows))
        self.rows_layout.addStretch(1)

    def _row(self, finding: Finding) -> QWidget:
        row = QWidget(self.rows)
        row.setObjectName(f"finding:{finding.file}:{finding.code}")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 2, 0, 2)
        mark = QLabel("⛔" if finding.blocking else "⚠", row)
        mark.setStyleSheet(f"color: {(blocking_colour() if finding.blocking else warning_colour()).name()};")
        mark.setAlignment(Qt.AlignmentFlag.AlignTop)
        layout.addWidget(mark)
        text = QLabel(finding.message, row)
        text.setWordWrap(True)
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(text, 1)
        if finding.fix is not None:
            fix = QPushButton(tr(FIX_LABELS.get(finding.fix, "Fix")), row)
            fix.setObjectName("fixButton")
            fix.setToolTip(tr("The original is kept in the actor's training_data_originals folder"))
            fix.clicked.connect(lambda _checked=False, f=finding: self._fix_then_rescan(f))
            layout.addWidget(fix, 0, Qt.AlignmentFlag.AlignTop)
        if finding.dismissable:
            hide = QPushButton(tr("Dismiss"), row)
            hide.setObjectName("dismissButton")
            hide.setToolTip(tr("Accept this warning for this file (remembered in the library)"))
            hide.clicked.connect(lambda _checked=False, f=finding: self.dismiss(f))
            layout.addWidget(hide, 0, Qt.AlignmentFlag.AlignTop)
        return row

    def _fix_then_rescan(self, finding: Finding) -> None:
        # A fix changes the folder: the owner re-scans it, and a fresh scan re-checks.
        self.fix(finding, on_done=self.folderChanged.emit)
