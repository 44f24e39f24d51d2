"""The main window's docks and panels, built in two steps so the window paints first (issue 11, item 3).

`WindowDocks` (before `show()`): the three docks with their objectNames, areas and tabbing, and the
Console | Versions tab bar, holding empty placeholders. That is all `restoreState` needs, so the
remembered layout is on screen at the first paint.

`WindowPanels` (right after the first paint, or at once when something asks for a panel): the
training tab (the central widget), the console, the versions panel, the tunnel panel and the
queue panel. Their modules are imported only then, so the first paint does not wait for them.
With no layout to restore (the very first start, or a layout Qt refused) the window makes them
before it is shown, as the docks' default sizes come from the panels' own size hints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QTabWidget, QWidget

from actor_trainer.gui.i18n import tr

if TYPE_CHECKING:
    from actor_trainer.gui.console.console_panel import ConsolePanel
    from actor_trainer.gui.context import AppContext
    from actor_trainer.gui.queue.queue_panel import QueuePanel
    from actor_trainer.gui.training.training_tab import ActorTrainingTab
    from actor_trainer.gui.tunnel.tunnel_panel import TunnelPanel
    from actor_trainer.gui.versions.versions_panel import VersionsPanel

SIDE_DOCK = "runsDock"
TUNNEL_DOCK = "tunnelDock"
QUEUE_DOCK = "queueDock"
CONSOLE_TAB, VERSIONS_TAB = 0, 1
PLACEHOLDER = "panelPlaceholder"


def _dock(window: QMainWindow, name: str, title: str, widget: QWidget) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    return dock


class WindowDocks:
    """The docks, placed and named, before any panel exists."""

    @staticmethod
    def placeholder(parent: QWidget) -> QWidget:
        """An empty widget where a panel goes once it is made."""
        widget = QWidget(parent)
        widget.setObjectName(PLACEHOLDER)
        return widget

    def __init__(self, window: QMainWindow) -> None:
        self._window = window
        #: the dock placeholders the panels replace (deleted then)
        self.placeholders = [self.placeholder(window) for _ in range(3)]
        self.side_tabs = QTabWidget(window)
        self.side_tabs.setObjectName("runsTabs")
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(self.placeholders[0], tr("Console"))
        self.side_tabs.addTab(self.placeholders[1], tr("Versions"))
        self.side_dock = _dock(window, SIDE_DOCK, tr("Console and versions"), self.side_tabs)
        # Scrollable, so the tunnel panel's row of controls never sets the window's minimum width.
        self.tunnel_scroll = QScrollArea(window)
        self.tunnel_scroll.setObjectName("tunnelScroll")
        self.tunnel_scroll.setWidgetResizable(True)
        self.tunnel_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.tunnel_scroll.setWidget(self.placeholder(self.tunnel_scroll))  # replaced (and deleted) by setWidget
        self.tunnel_dock = _dock(window, TUNNEL_DOCK, tr("Tunnel"), self.tunnel_scroll)
        self.queue_dock = _dock(window, QUEUE_DOCK, tr("Queue"), self.placeholders[2])
        #: the window restored a remembered layout into these docks (set by the window)
        self.restored = False
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.side_dock)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.tunnel_dock)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)
        window.tabifyDockWidget(self.side_dock, self.queue_dock)
        self.side_dock.raise_()

    def fit_tunnel(self, panel: QWidget, compact: bool) -> None:
        """One line when the tunnel is healthy; room for the details otherwise."""
        if compact:
            height = panel.sizeHint().height() + 2 * self.tunnel_scroll.frameWidth()
            self.tunnel_scroll.setMaximumHeight(height)
            self._window.resizeDocks([self.tunnel_dock], [height], Qt.Orientation.Vertical)
        else:
            self.tunnel_scroll.setMaximumHeight(16_777_215)
            self._window.resizeDocks([self.tunnel_dock], [panel.sizeHint().height() + 8], Qt.Orientation.Vertical)


@dataclass
class WindowPanels:
    training_tab: ActorTrainingTab
    console: ConsolePanel
    versions: VersionsPanel
    tunnel_panel: TunnelPanel
    queue_panel: QueuePanel


def build_panels(window: QMainWindow, ctx: AppContext, docks: WindowDocks) -> WindowPanels:
    """Make the panels and put them in the central area and the docks, in place of the placeholders."""
    from actor_trainer.gui.console.console_panel import ConsolePanel
    from actor_trainer.gui.queue.queue_panel import QueuePanel
    from actor_trainer.gui.training.training_tab import ActorTrainingTab
    from actor_trainer.gui.tunnel.tunnel_panel import TunnelPanel
    from actor_trainer.gui.versions.versions_panel import VersionsPanel

    panels = WindowPanels(
        training_tab=ActorTrainingTab(ctx, window),
        console=ConsolePanel(ctx, window),
        versions=VersionsPanel(ctx, window),
        tunnel_panel=TunnelPanel(ctx, window),
        queue_panel=QueuePanel(ctx, window),
    )
    window.setCentralWidget(panels.training_tab)  # Qt deletes the central placeholder
    tabs = docks.side_tabs
    current = tabs.currentIndex()
    tabs.blockSignals(True)  # the same tab stays current: nothing changed for whoever listens
    for index, (panel, title) in enumerate(((panels.console, tr("Console")), (panels.versions, tr("Versions")))):
        tabs.removeTab(index)
        tabs.insertTab(index, panel, title)
    tabs.setCurrentIndex(max(current, 0))
    tabs.blockSignals(False)
    docks.tunnel_scroll.setWidget(panels.tunnel_panel)  # deletes its placeholder
    panels.tunnel_panel.compactChanged.connect(lambda compact: docks.fit_tunnel(panels.tunnel_panel, compact))
    docks.queue_dock.setWidget(panels.queue_panel)
    for placeholder in docks.placeholders:
        placeholder.deleteLater()
    docks.placeholders.clear()
    return panels
