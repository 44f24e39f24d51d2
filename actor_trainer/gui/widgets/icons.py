"""The app's line icons: hand-drawn 24 px SVGs in `resources/icons/`, tinted to the palette.

Line icons draw with `currentColor`; `icon(name)` substitutes the palette's text colour (or the
colour asked for) and renders crisp pixmaps at the usual sizes, so the same file works in light
and dark themes. Icons are cached per (name, colour); the cache is cheap to clear on a theme change.
The files are read through `actor_trainer.core.resources` (source tree, wheel and frozen build alike);
the "app" icon is the application icon's source, `resources/app-icon/actor-trainer.svg`.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from actor_trainer.core import resources

#: Every icon the app ships (file stem in resources/icons; "app" is the app icon source).
ICON_NAMES = (
    "app", "train", "stop", "refresh", "sync", "tunnel", "settings", "copy", "download",
    "check", "search", "folder", "status", "info", "user",
)  # fmt: skip
_SIZES = (16, 20, 24, 32, 48)
_APP_SIZES = (16, 24, 32, 48, 64, 128, 256)


def icon_resource(name: str) -> tuple[str, ...]:
    """Where icon `name` lives, as path parts under resources/."""
    return resources.APP_ICON_SOURCE if name == "app" else ("icons", f"{name}.svg")


def svg_text(name: str) -> str:
    """The SVG source of icon `name` (raises FileNotFoundError for an unknown name)."""
    return resources.read_text(*icon_resource(name))


def _render(svg: str, size: int, ratio: float) -> QPixmap:
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    pixels = max(1, round(size * ratio))
    pixmap = QPixmap(pixels, pixels)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, pixels, pixels))
    painter.end()
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def _device_ratio() -> float:
    screen = QGuiApplication.primaryScreen()
    return max(1.0, screen.devicePixelRatio()) if screen is not None else 1.0


@lru_cache(maxsize=128)
def _tinted(name: str, color: str, disabled_color: str) -> QIcon:
    source = svg_text(name)
    icon = QIcon()
    ratio = _device_ratio()
    normal = source.replace("currentColor", color)
    disabled = source.replace("currentColor", disabled_color)
    for size in _SIZES:
        icon.addPixmap(_render(normal, size, ratio), QIcon.Mode.Normal)
        icon.addPixmap(_render(disabled, size, ratio), QIcon.Mode.Disabled)
    return icon


def icon(name: str, color: QColor | str | None = None) -> QIcon:
    """Icon `name` drawn in `color` (default: the application palette's button text colour)."""
    palette = QGuiApplication.palette()
    if color is None:
        color = palette.color(QPalette.ColorRole.ButtonText)
    hex_color = QColor(color).name()
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText).name()
    return _tinted(name, hex_color, disabled)


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The application/window icon (full colour; not tinted)."""
    source = svg_text("app")
    icon_ = QIcon()
    for size in _APP_SIZES:
        icon_.addPixmap(_render(source, size, 1.0))
    return icon_


def clear_cache() -> None:
    """Forget tinted icons (call after the palette changed)."""
    _tinted.cache_clear()


def pixmap(name: str, size: int = 24, color: QColor | str | None = None) -> QPixmap:
    """A single pixmap of icon `name` at `size` logical pixels."""
    return icon(name, color).pixmap(QSize(size, size))
