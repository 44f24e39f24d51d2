"""The progress area of the console: a step bar, the worker's phase, elapsed time and an ETA.

The ETA comes from the step rate seen over the last reports (a moving estimate, so it adapts when
the pace changes) and reads "—" until there are two training reports to measure a rate from.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from actor_trainer.core.models import Progress, TrainingVersion, VersionStatus, utc_now
from actor_trainer.gui.i18n import tr

NO_VALUE = "—"


def phase_word(phase: str | None) -> str:
    """The worker's phase (docs/worker-contract.md) in words."""
    words = {
        "downloading": tr("Downloading training data"),
        "caching": tr("Caching latents"),
        "training": tr("Training"),
        "saving": tr("Saving the LoRA"),
        "uploading": tr("Uploading the LoRA"),
    }
    if not phase:
        return NO_VALUE
    return words.get(phase, phase.replace("_", " ").capitalize())


def format_duration(seconds: float | None) -> str:
    """1:05, 12:40, 1:02:03; "—" for None."""
    if seconds is None:
        return NO_VALUE
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StepRateEstimator:
    """Steps per second over the last `window` training reports, and the time left from it."""

    def __init__(self, window: int = 12) -> None:
        self._samples: deque[tuple[int, float]] = deque(maxlen=window)

    def reset(self) -> None:
        self._samples.clear()

    def add(self, step: int, at: float) -> None:
        if self._samples:
            last_step, last_at = self._samples[-1]
            if step < last_step:
                self._samples.clear()  # a new attempt (RunPod /retry) started over
            elif step == last_step or at <= last_at:
                return  # a repeated poll answer tells nothing about the pace
        self._samples.append((step, at))

    @property
    def rate(self) -> float | None:
        """Steps per second, or None with fewer than two reports."""
        if len(self._samples) < 2:
            return None
        (s0, t0), (s1, t1) = self._samples[0], self._samples[-1]
        if t1 <= t0 or s1 <= s0:
            return None
        return (s1 - s0) / (t1 - t0)

    def eta(self, total: int, now: float) -> float | None:
        """Seconds left until `total`, counting down between reports; None while unknown."""
        rate = self.rate
        if rate is None:
            return None
        last_step, last_at = self._samples[-1]
        return max(0.0, (total - last_step) / rate - (now - last_at))


class RunProgressWidget(QWidget):
    """Progress of the run the console shows. `show_run` picks the run, `add_progress` feeds it."""

    def __init__(self, parent: QWidget | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(parent)
        self.setObjectName("runProgress")
        self._clock = clock
        self._estimator = StepRateEstimator()
        self._version: TrainingVersion | None = None
        self._run_key: str | None = None
        self._progress: Progress | None = None

        self.bar = QProgressBar(self)
        self.bar.setObjectName("runProgressBar")
        self.bar.setAccessibleName(tr("Training progress"))
        self.bar.setTextVisible(True)
        self.bar.setMinimumHeight(22)
        self.phase_label = self._label("runPhase")
        self.elapsed_label = self._label("runElapsed")
        self.eta_label = self._label("runEta")
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        details = QHBoxLayout()
        details.setContentsMargins(0, 0, 0, 0)
        details.setSpacing(16)
        details.addWidget(self.phase_label, 1)
        details.addWidget(self.elapsed_label)
        details.addWidget(self.eta_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.bar)
        layout.addLayout(details)

        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._refresh_times)
        self._refresh()

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # --- feeding --------------------------------------------------------------------------------

    def show_run(self, version: TrainingVersion | None) -> None:
        """Show `version` (None: no run). A different run starts a fresh rate estimate."""
        key = version.key if version is not None else None
        if key != self._run_key:
            self._estimator.reset()
            self._progress = None
            self._run_key = key
        self._version = version
        if version is not None and version.progress is not None:
            self._take(version.progress, self._clock(), estimate=False)
        self._refresh()

    def add_progress(self, progress: Progress, now: float | None = None) -> None:
        """A live report for the shown run (the caller checks it belongs to it)."""
        self._take(progress, self._clock() if now is None else now, estimate=True)
        self._refresh()

    def _take(self, progress: Progress, now: float, *, estimate: bool) -> None:
        old = self._progress
        if old is not None and old.step is not None and progress.step is not None and progress.step < old.step:
            if progress.phase == old.phase:
                return  # an older report arriving late
        self._progress = progress
        if estimate and progress.step is not None and progress.phase in (None, "training"):
            self._estimator.add(progress.step, now)

    # --- reading (what the user sees) -----------------------------------------------------------

    def eta_seconds(self, now: float | None = None) -> float | None:
        total = self._total()
        if total is None or not self._running():
            return None
        return self._estimator.eta(total, self._clock() if now is None else now)

    def _total(self) -> int | None:
        if self._progress is not None and self._progress.total:
            return self._progress.total
        if self._version is not None:
            return self._version.parameters.max_train_steps
        return None

    def _running(self) -> bool:
        return self._version is not None and not self._version.status.is_terminal

    def _elapsed(self) -> float | None:
        version = self._version
        if version is None:
            return None
        end: datetime = version.completedAt or version.failedAt or utc_now()
        if version.status.is_terminal and not (version.completedAt or version.failedAt):
            end = version.lastCheckedAt or end
        return (end - version.timestamp).total_seconds()

    # --- painting the state ---------------------------------------------------------------------

    def _refresh(self) -> None:
        version, progress = self._version, self._progress
        total = self._total()
        step = progress.step if progress is not None and progress.step is not None else 0
        if version is None:
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.bar.setFormat(tr("No run"))
        else:
            maximum = max(1, total or 1)
            status = version.status
            if status is VersionStatus.COMPLETED:
                step = maximum  # every step ran: the last poll may have come before the end
            self.bar.setRange(0, maximum)
            self.bar.setValue(min(step, maximum))
            self.bar.setFormat(self._bar_text(status, step, total))
        phase = progress.phase if progress is not None else None
        if version is not None and version.status is VersionStatus.QUEUED and phase is None:
            self.phase_label.setText(tr("Phase: Waiting for a GPU"))
        elif version is not None and version.status is VersionStatus.PENDING:
            self.phase_label.setText(tr("Phase: Submitting"))
        elif version is not None and version.status is VersionStatus.COMPLETED:
            self.phase_label.setText(tr("Phase: Finished"))
        elif version is not None and version.status.is_terminal and phase:
            self.phase_label.setText(tr("Phase: {phase} (stopped)").format(phase=phase_word(phase)))
        else:
            self.phase_label.setText(tr("Phase: {phase}").format(phase=phase_word(phase)))
        if progress is not None and progress.message:
            self.phase_label.setToolTip(progress.message)
        self._refresh_times()
        if self._running():
            self._ticker.start()
        else:
            self._ticker.stop()

    def _bar_text(self, status: VersionStatus, step: int, total: int | None) -> str:
        of = f"{step} / {total}" if total else str(step)
        if status is VersionStatus.COMPLETED:
            return tr("{of} steps — completed").format(of=of)
        if status is VersionStatus.PENDING:
            return tr("Submitting…")
        if status is VersionStatus.QUEUED:
            return tr("Queued — 0 / {total} steps").format(total=total or "?")
        if status.is_terminal:
            return tr("Stopped at {of} steps ({state})").format(of=of, state=status.label)
        percent = int(100 * step / total) if total else 0
        return tr("{of} steps ({percent}%)").format(of=of, percent=percent)

    def _refresh_times(self) -> None:
        self.elapsed_label.setText(tr("Elapsed {t}").format(t=format_duration(self._elapsed())))
        if self._version is not None and self._version.status is VersionStatus.COMPLETED:
            self.eta_label.setText(tr("ETA done"))
        else:
            eta = self.eta_seconds()
            self.eta_label.setText(tr("ETA {t}").format(t=format_duration(eta)))
