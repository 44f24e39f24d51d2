"""Settings → GPU prices: what each RunPod Serverless GPU class costs, for the estimate under Start
(issue 13: "times the GPU's price per second — a settings table with defaults, editable, dated").

One row per GPU class (core/settings.py `GPU_CLASSES`): RunPod's default price, and the user's
price, typed in US dollars per hour (the figure people compare) and shown per second beside it
(what RunPod bills and what the settings file stores, `gpu_prices`). Only prices that differ from
the default are kept, so a later release's defaults reach the classes the user never changed.
Editing a price dates the table today (`gpu_prices_as_of`); "Reset to defaults" clears both.
Above the table, the endpoint's GPU class (`gpu_class`) the estimate uses; ACTOR_TRAINER_GPU_CLASS,
when set, wins and locks the choice.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from datetime import date

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from actor_trainer.core.settings import GPU_CLASSES, GPU_PRICES_AS_OF
from actor_trainer.gui.i18n import tr

SECONDS_PER_HOUR = 3600
HOUR_DECIMALS = 3  # RunPod's per-second prices have 5 decimals: × 3600 they have at most 3
MAX_PER_HOUR = 1000.0  # US dollars; far above any serverless GPU, low enough to catch a slip


def per_hour_text(usd_per_second: float) -> str:
    return f"${usd_per_second * SECONDS_PER_HOUR:.{HOUR_DECIMALS}f}/h"


def per_second_text(usd_per_second: float) -> str:
    """ "$0.00019/s" (at least five decimals, more only when the price has them)."""
    text = f"{usd_per_second:.9f}".rstrip("0")
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"${usd_per_second:.{max(5, min(decimals, 7))}f}/s"


class PriceBox(QDoubleSpinBox):
    """A price in US dollars per hour, 0 or more. The wheel changes it only once it has focus, so
    scrolling the Settings dialog over the table never edits a price by accident."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(0.0, MAX_PER_HOUR)
        self.setDecimals(HOUR_DECIMALS)
        self.setSingleStep(0.01)
        self.setPrefix("$")
        self.setSuffix(tr(" /h"))
        self.setKeyboardTracking(False)  # one change when the typing is done, not one per key
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setToolTip(tr("US dollars per hour, 0 or more"))

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area scrolls instead


class GpuPricesTable(QGroupBox):
    """The GPU prices section. `prices()` and `as_of()` are what Settings saves."""

    #: the user changed a price or reset them (the table's prices, its date)
    pricesEdited = Signal()

    def __init__(
        self,
        prices: dict[str, float],
        as_of: str | None,
        *,
        endpoint_class: str | None = None,
        chosen_class: str | None = None,
        today: Callable[[], date] = date.today,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(tr("GPU prices (for the cost estimate)"), parent)
        self.setObjectName("gpuPrices")
        self.today = today  # the user's calendar day: "as of" is when they looked at the prices
        self._prices = {key: float(p) for key, p in prices.items() if key in GPU_CLASSES}
        self._as_of = as_of
        self.boxes: dict[str, PriceBox] = {}
        self.per_second: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        grid.setColumnStretch(0, 1)
        # The endpoint's GPU class: the row the estimate uses (the environment's choice wins).
        self.gpu_choice = QComboBox(self)
        self.gpu_choice.setObjectName("gpuClass")
        for gpu in GPU_CLASSES.values():
            self.gpu_choice.addItem(gpu.label, gpu.key)
        in_use = endpoint_class or chosen_class
        self.gpu_choice.setCurrentIndex(max(0, self.gpu_choice.findData(chosen_class or endpoint_class)))
        if os.environ.get("ACTOR_TRAINER_GPU_CLASS"):
            self.gpu_choice.setEnabled(False)
            self.gpu_choice.setToolTip(tr("Set by ACTOR_TRAINER_GPU_CLASS; unset it to choose here."))
        choice_label = QLabel(tr("Your endpoint's &GPU"), self)
        choice_label.setBuddy(self.gpu_choice)
        grid.addWidget(choice_label, 0, 0)
        grid.addWidget(self.gpu_choice, 0, 1, 1, 3)
        headers = (tr("GPU class"), tr("RunPod default"), tr("Your price per hour"), tr("= per second"))
        for column, text in enumerate(headers):
            header = QLabel(f"<b>{text}</b>", self)
            grid.addWidget(header, 1, column)
        self.names: dict[str, QLabel] = {}
        for row, gpu in enumerate(GPU_CLASSES.values(), start=2):
            label = QLabel(gpu.label, self)
            self.names[gpu.key] = label
            label.setToolTip(tr("RunPod GPU pool {key}").format(key=gpu.key))
            default = QLabel(f"{per_hour_text(gpu.usd_per_second)} ({per_second_text(gpu.usd_per_second)})", self)
            box = PriceBox(self)
            box.setObjectName(f"gpuPrice_{gpu.key}")
            box.setAccessibleName(tr("{gpu}: your price, US dollars per hour").format(gpu=gpu.label))
            label.setBuddy(box)
            per_second = QLabel(self)
            grid.addWidget(label, row, 0)
            grid.addWidget(default, row, 1)
            grid.addWidget(box, row, 2)
            grid.addWidget(per_second, row, 3)
            self.boxes[gpu.key] = box
            self.per_second[gpu.key] = per_second
            box.valueChanged.connect(lambda value, key=gpu.key: self._edited(key, value))
        below = len(GPU_CLASSES) + 2
        self._used = in_use
        self.gpu_choice.currentIndexChanged.connect(lambda _i: self._class_chosen())
        self.as_of_label = QLabel(self)
        self.reset_button = QPushButton(tr("&Reset to defaults"), self)
        self.reset_button.clicked.connect(self.reset)
        footer = QHBoxLayout()
        footer.addWidget(self.as_of_label, 1)
        footer.addWidget(self.reset_button)
        grid.addLayout(footer, below, 0, 1, len(headers))
        self.source_note = QLabel(
            tr(
                "Defaults: RunPod Serverless flex-worker prices, read from RunPod's pricing page on {date}. "
                "RunPod bills per second while a worker runs; active workers and negotiated rates cost "
                "less, so enter what your endpoint pays. Prices apply to the estimate as soon as you save."
            ).format(date=GPU_PRICES_AS_OF),
            self,
        )
        self.source_note.setWordWrap(True)
        self.source_note.setStyleSheet("color: palette(mid);")
        grid.addWidget(self.source_note, below + 1, 0, 1, len(headers))
        self._show()

    # --- what Settings saves --------------------------------------------------------------------

    def prices(self) -> dict[str, float]:
        """The user's prices in US dollars per second, only those that differ from RunPod's default."""
        return dict(self._prices)

    def as_of(self) -> str | None:
        """When the user's prices were checked (an ISO date), or None: RunPod's defaults, undated here."""
        return self._as_of if self._prices else None

    def gpu_class(self) -> str:
        """The GPU class chosen for the endpoint (a key of GPU_CLASSES)."""
        return str(self.gpu_choice.currentData())

    def price(self, key: str) -> float:
        """The price in use for a GPU class, US dollars per second."""
        return self._prices.get(key, GPU_CLASSES[key].usd_per_second)

    # --- editing --------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to RunPod's defaults (saved only with the dialog)."""
        self._prices.clear()
        self._as_of = None
        self._show()
        self.pricesEdited.emit()

    def _edited(self, key: str, per_hour: float) -> None:
        default = GPU_CLASSES[key].usd_per_second
        if math.isclose(per_hour, round(self.price(key) * SECONDS_PER_HOUR, HOUR_DECIMALS), abs_tol=1e-9):
            return  # the same figure typed again: nothing changed (and the date stays)
        if math.isclose(per_hour, round(default * SECONDS_PER_HOUR, HOUR_DECIMALS), abs_tol=1e-9):
            self._prices.pop(key, None)  # back at the default: follow RunPod's default from now on
        else:
            self._prices[key] = round(per_hour / SECONDS_PER_HOUR, 10)
        self._as_of = self.today().isoformat()
        self._show()
        self.pricesEdited.emit()

    def _class_chosen(self) -> None:
        if self.gpu_choice.isEnabled():
            self._used = self.gpu_class()
        self._show()
        self.pricesEdited.emit()

    def _show(self) -> None:
        for key, label in self.names.items():
            label.setText(GPU_CLASSES[key].label + (tr(" — used by the estimate") if key == self._used else ""))
        for key, box in self.boxes.items():
            price = self.price(key)
            box.blockSignals(True)
            box.setValue(price * SECONDS_PER_HOUR)
            box.blockSignals(False)
            self.per_second[key].setText(per_second_text(price))
            font = box.font()
            font.setBold(key in self._prices)  # the user's own price
            box.setFont(font)
        changed = len(self._prices)
        if changed:
            when = tr("as of {date}").format(date=self._as_of) if self._as_of else tr("undated")
            text = tr("Your prices, {when}: {n} of {total} changed from RunPod's defaults (in bold)")
            text = text.format(when=when, n=changed, total=len(GPU_CLASSES))
        else:
            text = tr("RunPod's default prices, as of {date}").format(date=GPU_PRICES_AS_OF)
        self.as_of_label.setText(text)
        self.reset_button.setEnabled(changed > 0)
