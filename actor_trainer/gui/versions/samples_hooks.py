"""Where issue 12's views join the versions panel: the samples section in the details, and the
Try and Compare windows it opens (kept here so the panel needs two lines)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from actor_trainer.core.models import TrainingVersion
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.versions.samples_section import SamplesSection

if TYPE_CHECKING:
    from actor_trainer.gui.compare.compare_window import CompareWindow
    from actor_trainer.gui.versions.try_panel import TryPanel


def install_samples_section(ctx: AppContext, content: QWidget, parent: QWidget) -> SamplesSection:
    """Add the samples section at the end of the details' content and wire its buttons."""
    section = SamplesSection(ctx, content)
    layout = content.layout()
    if layout is not None:
        layout.addWidget(section)
    section.tryRequested.connect(lambda actor_id, key: open_try(ctx, actor_id, key, parent))
    section.compareRequested.connect(lambda actor_id, key: open_compare(ctx, actor_id, key, parent))
    return section


def _version(ctx: AppContext, key: str) -> TrainingVersion | None:
    return next((v for v in ctx.versions.versions() if v.key == key), None)


def open_try(ctx: AppContext, actor_id: int, key: str, parent: QWidget | None = None) -> TryPanel | None:
    from actor_trainer.gui.versions.try_panel import TryPanel

    version, summary = _version(ctx, key), ctx.summary(actor_id)
    if version is None or summary is None:
        return None
    panel = TryPanel(ctx, actor_id, version, version.parameters.trigger_for(summary.actor), parent)
    panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    panel.show()
    panel.raise_()
    return panel


def open_compare(
    ctx: AppContext, actor_id: int, key: str | None = None, parent: QWidget | None = None
) -> CompareWindow:
    from actor_trainer.gui.compare.compare_window import CompareWindow

    window = CompareWindow(ctx, actor_id, key, parent)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    window.show()
    window.raise_()
    return window
