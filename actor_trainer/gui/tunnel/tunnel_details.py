"""The tunnel panel's expanded part: where the tunnel forwards, its domain (and whether it is the
remembered, stable one), the last webhook, the webhook mode
(with its switch), the sandbox's stand-in note, and the last failure with what to do.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from actor_trainer.gui.console.console_log_model import tint, tone_color
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.tunnel.webhook_mode_selector import WebhookModeSelector


class TunnelDetails(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.forwarding = self._label("tunnelForwarding")
        self.domain = self._label("tunnelDomain")
        self._domain_caption = self._caption(tr("Domain"))
        self.last_webhook = self._label("tunnelLastWebhook")
        self.last_webhook.setText(tr("None received yet"))
        self.mode_text = self._label("tunnelModeText")
        self.sandbox_note = self._label("tunnelSandboxNote")
        self.mode_selector = WebhookModeSelector(ctx, self)

        self.error_box = QFrame(self)
        self.error_box.setObjectName("tunnelError")
        self.error_title = self._label("tunnelErrorMessage")
        self.error_hint = self._label("tunnelErrorHint")
        box = QVBoxLayout(self.error_box)
        box.setContentsMargins(10, 6, 10, 6)
        box.setSpacing(2)
        box.addWidget(self.error_title)
        box.addWidget(self.error_hint)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        rows = (
            (self._caption(tr("Tunnel")), self.forwarding),
            (self._domain_caption, self.domain),
            (self._caption(tr("Last webhook")), self.last_webhook),
        )
        for row, (caption, widget) in enumerate(rows):
            grid.addWidget(caption, row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(widget, row, 1)
        grid.addWidget(self._caption(tr("Webhook mode")), 3, 0, Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.mode_selector, 3, 1)
        grid.addWidget(self.mode_text, 4, 1)
        grid.addWidget(self.sandbox_note, 5, 1)
        grid.addWidget(self.error_box, 6, 0, 1, 2)
        grid.setColumnStretch(1, 1)

    def _label(self, name: str) -> QLabel:
        label = QLabel(self)
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        return label

    def _caption(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setStyleSheet("color: palette(placeholder-text);")
        return label

    def show_domain(self, text: str | None) -> None:
        """The tunnel's domain row (hidden while no tunnel runs)."""
        self.domain.setText(text or "")
        self.domain.setVisible(text is not None)
        self._domain_caption.setVisible(text is not None)

    def show_sandbox_note(self, text: str | None) -> None:
        self.sandbox_note.setVisible(text is not None)
        if text is not None:
            self.sandbox_note.setText(text)

    def show_error(self, error: tuple[str, str] | None) -> None:
        """Show (message, hint) in the error colour, or hide the box (None)."""
        if error is None:
            self.error_box.hide()
            return
        message, hint = error
        colour = tone_color("error", self.palette())
        self.error_title.setText(tr("Error: {message}").format(message=message))
        self.error_title.setStyleSheet(f"color: {colour.name()}; font-weight: 600;")
        self.error_hint.setText(hint)
        self.error_hint.setVisible(bool(hint))
        self.error_box.setStyleSheet(
            f"QFrame#tunnelError {{ background: {tint(colour, self.palette()).name()}; "
            f"border-left: 3px solid {colour.name()}; border-radius: 3px; }}"
        )
        self.error_box.show()
