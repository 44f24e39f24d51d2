"""One translation function for every user-visible string, from day one."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication


def tr(text: str, context: str = "ActorTrainer") -> str:
    """Translate `text` (Qt's translator when one is installed; the English text otherwise)."""
    return QCoreApplication.translate(context, text)
