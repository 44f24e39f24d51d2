"""Light and dark palettes on the Fusion style, following the system unless the user chose one.

`ThemeManager(app, mode)` applies "system", "light" or "dark". In "system" mode it follows
`QStyleHints.colorScheme()` live (its `colorSchemeChanged` signal). The choice itself is saved by
the caller (Settings.theme, written off the loop). A small shared stylesheet styles badges and
toasts by dynamic property, so widgets opt in with `setProperty("badge", "sandbox")`.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

from actor_trainer.gui.widgets import icons

ThemeMode = Literal["system", "light", "dark"]
THEME_MODES: tuple[ThemeMode, ...] = ("system", "light", "dark")

#: Amber badge for SANDBOX, readable in both themes (text is dark on amber, WCAG AA).
SANDBOX_BG = "#f2b705"
SANDBOX_FG = "#1f1a00"

_Role = QPalette.ColorRole
_Group = QPalette.ColorGroup

_LIGHT = {
    _Role.Window: "#f3f4f6", _Role.WindowText: "#1c1e21", _Role.Base: "#ffffff",
    _Role.AlternateBase: "#f6f7f9", _Role.ToolTipBase: "#fffbe6", _Role.ToolTipText: "#1c1e21",
    _Role.PlaceholderText: "#7b818a", _Role.Text: "#1c1e21", _Role.Button: "#f8f9fa",
    _Role.ButtonText: "#1c1e21", _Role.BrightText: "#c62828", _Role.Light: "#ffffff",
    _Role.Midlight: "#e9ebee", _Role.Mid: "#c4c8ce", _Role.Dark: "#9aa0a8", _Role.Shadow: "#5f656d",
    _Role.Highlight: "#2f6fde", _Role.HighlightedText: "#ffffff", _Role.Link: "#1f5fcf",
    _Role.LinkVisited: "#6a3fbf",
}  # fmt: skip
_DARK = {
    _Role.Window: "#1e2023", _Role.WindowText: "#e4e6ea", _Role.Base: "#292b2f",
    _Role.AlternateBase: "#303338", _Role.ToolTipBase: "#34373d", _Role.ToolTipText: "#e4e6ea",
    _Role.PlaceholderText: "#8b9099", _Role.Text: "#e4e6ea", _Role.Button: "#33363b",
    _Role.ButtonText: "#e4e6ea", _Role.BrightText: "#ff7b72", _Role.Light: "#43474e",
    _Role.Midlight: "#383b41", _Role.Mid: "#4a4e55", _Role.Dark: "#141517", _Role.Shadow: "#0c0d0e",
    _Role.Highlight: "#3d7be0", _Role.HighlightedText: "#ffffff", _Role.Link: "#79a8ff",
    _Role.LinkVisited: "#b39cff",
}  # fmt: skip
_DISABLED_LIGHT = {
    _Role.WindowText: "#9aa0a8",
    _Role.Text: "#9aa0a8",
    _Role.ButtonText: "#9aa0a8",
    _Role.Highlight: "#b8c4d8",
}
_DISABLED_DARK = {
    _Role.WindowText: "#6f747c",
    _Role.Text: "#6f747c",
    _Role.ButtonText: "#6f747c",
    _Role.Highlight: "#3a4252",
}

STYLESHEET = f"""
QLabel[badge="sandbox"] {{
    background: {SANDBOX_BG}; color: {SANDBOX_FG}; font-weight: 700;
    border-radius: 4px; padding: 1px 7px;
}}
QLabel[badge="neutral"] {{
    border: 1px solid palette(mid); border-radius: 4px; padding: 0px 6px;
}}
QFrame#toast {{
    background: palette(tool-tip-base); color: palette(tool-tip-text);
    border: 1px solid palette(mid); border-radius: 8px;
}}
QLabel#toastTitle {{ font-weight: 700; }}
"""


def build_palette(dark: bool) -> QPalette:
    """The app's palette for a light or a dark scheme."""
    palette = QPalette()
    for role, value in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(value))
    for role, value in (_DISABLED_DARK if dark else _DISABLED_LIGHT).items():
        palette.setColor(_Group.Disabled, role, QColor(value))
    return palette


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


class ThemeManager(QObject):
    """Applies a theme mode to the application and keeps "system" in step with the OS."""

    #: the applied scheme changed (True: dark)
    themeChanged = Signal(bool)

    def __init__(self, app: QApplication, mode: str = "system", parent: QObject | None = None) -> None:
        super().__init__(parent or app)
        self._app = app
        self._mode: ThemeMode = _valid(mode)
        self._dark: bool | None = None
        fusion = QStyleFactory.create("Fusion")
        if fusion is not None:
            app.setStyle(fusion)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self._on_system_scheme)
        self.apply()

    @property
    def mode(self) -> ThemeMode:
        return self._mode

    @property
    def is_dark(self) -> bool:
        return bool(self._dark)

    def set_mode(self, mode: str) -> None:
        """Switch to "system", "light" or "dark" (anything else means "system")."""
        self._mode = _valid(mode)
        self.apply()

    def apply(self) -> None:
        hints = QGuiApplication.styleHints()
        # Tell the platform too (native title bars on Windows/macOS follow it); Qt ≥ 6.8.
        if hasattr(hints, "setColorScheme"):
            wanted = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}.get(
                self._mode, Qt.ColorScheme.Unknown
            )
            hints.setColorScheme(wanted)
        dark = system_prefers_dark() if self._mode == "system" else self._mode == "dark"
        if dark == self._dark:
            return
        self._dark = dark
        self._app.setPalette(build_palette(dark))
        self._app.setStyleSheet(STYLESHEET)
        icons.clear_cache()
        self.themeChanged.emit(dark)

    def _on_system_scheme(self, _scheme: Qt.ColorScheme) -> None:
        if self._mode == "system":
            self.apply()


def _valid(mode: str) -> ThemeMode:
    for known in THEME_MODES:
        if mode == known:
            return known
    return "system"
