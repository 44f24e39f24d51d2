"""The webhook mode switch of the tunnel panel: ngrok tunnel / public URL / poll only.

It saves the choice in Settings (off the loop) and applies it at once: the webhook server and the
tunnel are started or stopped for the new mode (Services.apply_webhook_mode, issue 10, item 9).
"""

from __future__ import annotations

import asyncio
import os

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QWidget

from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.tunnel.tunnel_texts import MODE_WORDS, mode_word

MODES = tuple(MODE_WORDS.items())


def mode_description(mode: str, poll_seconds: float, public_url: str | None) -> str:
    """What a webhook mode means for the user, in one or two sentences."""
    every = f"{poll_seconds:g}"
    if mode == "poll":
        return tr("Webhooks are off ({mode}): the status of each run is checked every {n} s.").format(
            mode=mode_word("poll"), n=every
        )
    if mode == "public":
        return tr(
            "Webhooks go to {url} ({mode}); it must forward to this app's webhook server. "
            "Status is also checked every {n} s."
        ).format(url=public_url or "?", mode=mode_word("public"), n=every)
    return tr("RunPod delivers webhooks through the {mode}; status is also checked every {n} s as a backup.").format(
        mode=mode_word("ngrok"), n=every
    )


class WebhookModeSelector(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ctx = ctx
        self.combo = QComboBox(self)
        self.combo.setObjectName("webhookMode")
        self.combo.setAccessibleName(tr("Webhook mode"))
        for value, label in MODES:
            self.combo.addItem(tr(label), value)
        self._select(ctx.settings.webhook_mode)
        self.combo.activated.connect(self._chosen)
        self._note = QLabel(self)
        self._note.setObjectName("webhookModeNote")
        self._note.setWordWrap(True)
        self._note.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        row.addWidget(self.combo)
        row.addWidget(self._note, 1)
        self._show_note()

    def choose(self, mode: str) -> None:
        """Save `mode` as the webhook mode in Settings (what picking it in the combo does)."""
        self._select(mode)
        self._chosen(self.combo.currentIndex())

    def note(self) -> str:
        return self._note.text()

    def _select(self, mode: str) -> None:
        index = self.combo.findData(mode)
        if index >= 0:
            self.combo.setCurrentIndex(index)

    def _chosen(self, index: int) -> None:
        mode = str(self.combo.itemData(index))
        settings = self._ctx.settings
        if mode == "public" and not settings.public_url:
            # Settings with mode "public" and no URL would refuse to start: do not save that.
            self._select(settings.webhook_mode)
            self._note.setText(tr("Set the public URL in Settings first, then choose this mode."))
            return
        if mode == settings.webhook_mode:
            self._show_note()
            return
        settings.webhook_mode = mode  # type: ignore[assignment]
        self._note.setText(tr("Switching to {mode}…").format(mode=mode_word(mode)))
        self._ctx.tasks.start(
            "save-webhook-mode",
            asyncio.to_thread(settings.save),
            on_done=lambda _none: self._apply(mode),
            on_error=self._save_failed,
            owner=self,
        )

    def _apply(self, mode: str) -> None:
        self._ctx.apply_webhook_mode(
            mode,
            self._ctx.settings.public_url,
            on_done=lambda: self._show_note(saved=True),
            on_error=self._apply_failed,
            owner=self,
        )

    def _apply_failed(self, exc: BaseException) -> None:
        self._select(self._ctx.config.webhook_mode)
        self._note.setText(tr("Saved, but not applied: {error}").format(error=getattr(exc, "message", None) or exc))
        self._ctx.report_error(exc, tr("The webhook mode could not be applied"))

    def _save_failed(self, exc: BaseException) -> None:
        self._note.setText(tr("Not saved: {error}").format(error=exc))
        self._ctx.report_error(exc, tr("The webhook mode could not be saved"))

    def _show_note(self, *, saved: bool = False) -> None:
        chosen, running = self._ctx.settings.webhook_mode, self._ctx.config.webhook_mode
        env = os.environ.get("ACTOR_TRAINER_WEBHOOK_MODE")
        if env:
            note = tr("ACTOR_TRAINER_WEBHOOK_MODE={env} sets the mode at each start.").format(env=env)
        elif chosen != running:
            note = tr("Saved; now running: {mode}.").format(mode=mode_word(running))
        else:
            note = tr("Switched to {mode}.").format(mode=mode_word(running)) if saved else ""
        self._note.setText(note)
