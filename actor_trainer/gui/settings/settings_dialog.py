"""Settings: RunPod endpoint and key, storage, webhook mode and tunnel, library folder, GPU prices.

Secrets go to the OS keyring (never to the settings file); a value that comes from an environment
variable is shown as such and cannot be edited here. Each section has a "Test" button that really
talks to the service with the values typed (RunPod `/health`, a bucket listing, a delivery through
the tunnel). The webhook mode and the GPU prices (gpu_prices_table.py) apply when saved; the other
changes when the app restarts ("Save and restart" does that at once).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from PySide6.QtCore import QMargins, QSize, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from actor_trainer.core.errors import ActorTrainerError
from actor_trainer.core.runpod_health import EndpointHealth
from actor_trainer.core.settings import RUNPOD_API_ROOT, Secrets, Settings, StorageConfig
from actor_trainer.core.tunnel_status import DeliveryResult
from actor_trainer.gui.context import AppContext
from actor_trainer.gui.i18n import tr
from actor_trainer.gui.settings.fields import FittingScrollArea, SecretField
from actor_trainer.gui.settings.gpu_prices_table import GpuPricesTable
from actor_trainer.gui.tunnel.tunnel_texts import MODE_WORDS

WEBHOOK_MODES = tuple(MODE_WORDS.items())  # the same words everywhere (gui/tunnel/tunnel_texts.py)
#: samples and Try need contract v2 (docs/worker-contract.md); "auto" follows what the workers state
CONTRACT_CHOICES = (
    ("auto", tr("Automatic (what the endpoint's workers state)")),
    ("2", tr("2: samples, kept checkpoints and Try")),
    ("1", tr("1: training only")),
)

Done = Callable[[str], None]  # a test's answer, in words
Failed = Callable[[BaseException], None]
#: a section's test: it asks the AppContext for a check and answers through `Done` / `Failed`
Test = Callable[[Done, Failed], None]


class SettingsDialog(QDialog):
    """Edit the settings file and the keyring. `saved` is emitted after a successful save."""

    saved = Signal()
    restartRequested = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, secrets: Secrets | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.secrets = secrets or Secrets()
        self.settings = ctx.settings.model_copy(deep=True)
        self.setWindowTitle(tr("Settings"))
        # The sections scroll when the screen is short (a 1366×768 laptop, a test result that
        # wraps to several lines); the note and the buttons stay in view below them.
        self.content = QWidget()
        self.content.setObjectName("settingsContent")
        sections = QVBoxLayout(self.content)
        sections.setContentsMargins(0, 0, 4, 0)
        sections.addWidget(self._runpod_box())
        sections.addWidget(self._storage_box())
        sections.addWidget(self._webhook_box())
        sections.addWidget(self._library_box())
        s = self.settings
        self.gpu_prices = GpuPricesTable(
            s.gpu_prices, s.gpu_prices_as_of, endpoint_class=ctx.config.gpu_class, chosen_class=s.gpu_class
        )
        sections.addWidget(self.gpu_prices)
        sections.addStretch(1)
        self.scroll_area = FittingScrollArea(self)
        self.scroll_area.setObjectName("settingsScroll")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area.setWidget(self.content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scroll_area, 1)
        self.restart_note = QLabel(
            tr("The webhook mode and GPU prices apply at once; the rest when Actor Trainer restarts."), self
        )
        self.restart_note.setStyleSheet("color: palette(mid);")
        layout.addWidget(self.restart_note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self)
        self.restart_button = buttons.addButton(tr("Save and restart"), QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._save_clicked)
        buttons.rejected.connect(self.reject)
        self.restart_button.clicked.disconnect()
        self.restart_button.clicked.connect(self._save_and_restart)
        layout.addWidget(buttons)
        screen = (parent.screen() if parent is not None else None) or self.screen()
        self.fit_to(screen.availableGeometry().size())

    def fit_to(self, available: QSize) -> None:
        """Size the dialog for a screen of `available` size: wide enough for every label and field,
        as tall as its sections when they fit, else the screen's height less room for the title
        bar (the sections then scroll)."""
        bar = self.scroll_area.verticalScrollBar().sizeHint().width()
        width = max(self.content.minimumSizeHint().width(), 600) + bar
        self.scroll_area.setMinimumWidth(min(width, available.width() - 40))
        layout = self.layout()
        margins = layout.contentsMargins() if layout is not None else QMargins()
        below = (
            sum(w.sizeHint().height() for w in (self.restart_note, self.restart_button.parentWidget()) if w is not None)
            + 24
        )
        wanted = self.content.sizeHint().height() + below + margins.top() + margins.bottom()
        height = min(wanted, available.height() - 80)  # the window's title bar and the desktop's panel
        self.scroll_area.setMinimumHeight(min(200, height))
        self.resize(min(width + margins.left() + margins.right(), available.width() - 40), height)

    # --- sections -------------------------------------------------------------------------------

    def _test_row(self, label: str, run: Test) -> tuple[QWidget, QLabel]:
        row = QWidget(self)
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        button = QPushButton(label, row)
        result = QLabel(row)
        result.setWordWrap(True)
        result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        h.addWidget(button)
        h.addWidget(result, 1)
        button.clicked.connect(lambda: self._run_test(run, button, result))
        return row, result

    def _runpod_box(self) -> QGroupBox:
        box = QGroupBox(tr("RunPod Serverless"), self)
        form = QFormLayout(box)
        self.endpoint_id = QLineEdit(self.settings.runpod_endpoint_id or "", box)
        self.endpoint_id.setPlaceholderText(tr("empty: use the built-in sandbox"))
        self.api_root = QLineEdit(self.settings.runpod_api_root, box)
        self.api_key = SecretField("runpod_api_key", self.secrets, box)
        self.contract = QComboBox(box)
        for value, words in CONTRACT_CHOICES:
            self.contract.addItem(words, value)
        self.contract.setCurrentIndex(max(0, self.contract.findData(self.settings.worker_contract)))
        if os.environ.get("ACTOR_TRAINER_WORKER_CONTRACT"):  # the environment wins (core/settings.py)
            self.contract.setEnabled(False)
            self.contract.setToolTip(tr("Set by ACTOR_TRAINER_WORKER_CONTRACT; unset it to choose here."))
        form.addRow(tr("Endpoint ID"), self.endpoint_id)
        form.addRow(tr("API key"), self.api_key)
        form.addRow(tr("API root"), self.api_root)
        form.addRow(tr("Worker contract"), self.contract)
        row, self.runpod_result = self._test_row(tr("Test connection"), self._test_runpod)
        form.addRow("", row)
        return box

    def _storage_box(self) -> QGroupBox:
        box = QGroupBox(tr("Storage (S3-compatible)"), self)
        form = QFormLayout(box)
        s = self.settings
        self.bucket = QLineEdit(s.s3_bucket or "", box)
        self.bucket.setPlaceholderText(tr("empty: the sandbox's local folder"))
        self.prefix = QLineEdit(s.s3_prefix, box)
        self.s3_endpoint = QLineEdit(s.s3_endpoint_url or "", box)
        self.s3_endpoint.setPlaceholderText(tr("AWS by default; e.g. https://<account>.r2.cloudflarestorage.com"))
        self.region = QLineEdit(s.s3_region or "", box)
        self.access_key = QLineEdit(s.s3_access_key_id or "", box)
        self.secret_key = SecretField("s3_secret_access_key", self.secrets, box)
        self.url_style = QComboBox(box)
        self.url_style.addItem(tr("s3:// URLs (the worker has bucket credentials)"), "s3")
        self.url_style.addItem(tr("presigned https:// URLs"), "presigned")
        self.url_style.setCurrentIndex(max(0, self.url_style.findData(s.url_style)))
        form.addRow(tr("Bucket"), self.bucket)
        form.addRow(tr("Prefix"), self.prefix)
        form.addRow(tr("Endpoint URL"), self.s3_endpoint)
        form.addRow(tr("Region"), self.region)
        form.addRow(tr("Access key ID"), self.access_key)
        form.addRow(tr("Secret access key"), self.secret_key)
        form.addRow(tr("Training URLs"), self.url_style)
        row, self.storage_result = self._test_row(tr("Test bucket"), self._test_storage)
        form.addRow("", row)
        return box

    def _webhook_box(self) -> QGroupBox:
        box = QGroupBox(tr("Webhook and tunnel"), self)
        form = QFormLayout(box)
        s = self.settings
        self.mode = QComboBox(box)
        for value, label in WEBHOOK_MODES:
            self.mode.addItem(tr(label), value)
        self.mode.setCurrentIndex(max(0, self.mode.findData(s.webhook_mode)))
        self.public_url = QLineEdit(s.public_url or "", box)
        self.public_url.setPlaceholderText("https://trainer.example.com")
        self.ngrok_token = SecretField("ngrok_authtoken", self.secrets, box)
        self.ngrok_domain = QLineEdit(s.ngrok_domain or "", box)  # empty: the dev domain, remembered
        self.ngrok_domain.setPlaceholderText(tr("your account's dev domain (remembered after the first start)"))
        self.poll = QDoubleSpinBox(box)
        self.poll.setRange(1, 3600)
        self.poll.setSuffix(" s")
        self.poll.setValue(s.poll_seconds)
        self.port = QSpinBox(box)
        self.port.setRange(0, 65535)
        self.port.setSpecialValueText(tr("any free port"))
        self.port.setValue(s.webhook_port or 0)
        form.addRow(tr("Mode"), self.mode)
        form.addRow(tr("Public URL"), self.public_url)
        form.addRow(tr("ngrok auth token"), self.ngrok_token)
        form.addRow(tr("ngrok domain"), self.ngrok_domain)
        form.addRow(tr("Webhook port"), self.port)
        form.addRow(tr("Poll every"), self.poll)
        row, self.tunnel_result = self._test_row(tr("Test delivery (starts the tunnel)"), self._test_tunnel)
        button = row.findChild(QPushButton)
        assert button is not None  # _test_row made it
        self.tunnel_test_button = button
        self.tunnel_test_button.setToolTip(
            tr(
                "Sends a test webhook through the public URL to this app. In ngrok mode a stopped tunnel is "
                "started first and keeps running afterwards (stop it in the Tunnel panel)."
            )
        )
        form.addRow("", row)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()
        return box

    def _library_box(self) -> QGroupBox:
        box = QGroupBox(tr("Library"), self)
        h = QHBoxLayout(box)
        self.library = QLineEdit(self.settings.data_dir or "", box)
        self.library.setPlaceholderText(str(self.ctx.config.data_dir))
        browse = QPushButton(tr("Browse…"), box)
        browse.clicked.connect(self._browse)
        h.addWidget(self.library, 1)
        h.addWidget(browse)
        return box

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        self.public_url.setEnabled(mode == "public")
        self.ngrok_token.setEnabled(mode == "ngrok" and not self.ngrok_token.from_env)
        self.ngrok_domain.setEnabled(mode == "ngrok")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Choose a library folder"), self.library.text())
        if folder:
            self.library.setText(folder)

    # --- tests ----------------------------------------------------------------------------------

    def _run_test(self, run: Test, button: QPushButton, result: QLabel) -> None:
        button.setEnabled(False)
        result.setText(tr("testing…"))

        def done(text: str) -> None:
            button.setEnabled(True)
            result.setText("✓ " + text)

        def failed(exc: BaseException) -> None:
            button.setEnabled(True)
            text = f"{exc.message} {exc.hint}" if isinstance(exc, ActorTrainerError) else str(exc)
            result.setText("✗ " + text)

        run(done, failed)

    def _secret(self, field: SecretField) -> str | None:
        typed = field.value()
        return typed if typed is not None else self.secrets.get(field.name)

    def _test_runpod(self, done: Done, failed: Failed) -> None:
        endpoint = self.endpoint_id.text().strip()

        def answered(health: EndpointHealth) -> None:
            done(health.summary() if endpoint else tr("sandbox endpoint answers: ") + health.summary())

        self.ctx.check_endpoint(
            endpoint or None,
            api_root=self.api_root.text().strip() or RUNPOD_API_ROOT,
            api_key=self._secret(self.api_key) if endpoint else None,
            on_done=answered,
            on_error=failed,
            owner=self,
        )

    def _test_storage(self, done: Done, failed: Failed) -> None:
        bucket = self.bucket.text().strip()
        if not bucket:
            if self.ctx.config.storage is None:
                self.ctx.check_storage(None, on_done=done, on_error=failed, owner=self)
            else:
                done(tr("no bucket set: the sandbox's local folder would be used"))
            return
        typed = StorageConfig(
            bucket=bucket,
            prefix=self.prefix.text().strip(),
            endpoint_url=self.s3_endpoint.text().strip() or None,
            region=self.region.text().strip() or None,
            access_key_id=self.access_key.text().strip() or None,
            secret_access_key=self._secret(self.secret_key),
            url_style="s3",
        )
        self.ctx.check_storage(typed, on_done=done, on_error=failed, owner=self)

    def _test_tunnel(self, done: Done, failed: Failed) -> None:
        typed = self.public_url.text().strip() if self.ctx.config.webhook_mode == "public" else ""
        was_running = bool(self.ctx.tunnel_status().public_url)

        def delivered(result: DeliveryResult) -> None:
            text = tr("delivered through {url} in {ms} ms").format(url=result.url, ms=round(result.seconds * 1000))
            if not typed and not was_running and self.ctx.tunnel_status().public_url:
                text += tr(" — the tunnel was started for this test and keeps running (stop it in the Tunnel panel)")
            done(text)

        self.ctx.check_delivery(typed or None, on_done=delivered, on_error=failed, owner=self)

    # --- saving ---------------------------------------------------------------------------------

    def collect(self) -> Settings:
        """The settings as typed (validated by the model)."""
        s = self.settings.model_copy(deep=True)
        s.runpod_endpoint_id = self.endpoint_id.text().strip() or None
        s.runpod_api_root = self.api_root.text().strip() or RUNPOD_API_ROOT
        s.worker_contract = self.contract.currentData()
        s.gpu_class = self.gpu_prices.gpu_class()
        s.s3_bucket = self.bucket.text().strip() or None
        s.s3_prefix = self.prefix.text().strip()
        s.s3_endpoint_url = self.s3_endpoint.text().strip() or None
        s.s3_region = self.region.text().strip() or None
        s.s3_access_key_id = self.access_key.text().strip() or None
        s.url_style = self.url_style.currentData()
        s.webhook_mode = self.mode.currentData()
        s.public_url = self.public_url.text().strip() or None
        s.ngrok_domain = self.ngrok_domain.text().strip() or None
        s.ngrok_remembered_domain = self.ctx.settings.ngrok_remembered_domain  # a tunnel start may have set it
        s.webhook_port = self.port.value() or None
        s.poll_seconds = self.poll.value()
        s.data_dir = self.library.text().strip() or None
        s.gpu_prices, s.gpu_prices_as_of = self.gpu_prices.prices(), self.gpu_prices.as_of()
        return s

    def _persist(self, settings: Settings, typed: dict[str, str]) -> None:
        """Runs in a worker thread: the typed secrets to the keyring, then the settings file."""
        for name, value in typed.items():
            self.secrets.set(name, value.strip() or None)
        settings.save()

    def _save(self, then: Callable[[], None]) -> None:
        try:
            settings = self.collect()
        except ValueError as exc:
            self.ctx.report_error(exc, tr("A setting is invalid"))
            return

        before = self.ctx.settings

        def done(_: None) -> None:
            self.ctx.settings = settings
            if settings.webhook_mode != self.ctx.config.webhook_mode and not os.environ.get(
                "ACTOR_TRAINER_WEBHOOK_MODE"
            ):
                self.ctx.apply_webhook_mode(settings.webhook_mode, settings.public_url)  # at once, not at restart
            pricing = (settings.gpu_prices, settings.gpu_prices_as_of, settings.gpu_class)
            if pricing != (before.gpu_prices, before.gpu_prices_as_of, before.gpu_class):
                self.ctx.apply_gpu_prices(*pricing)  # the estimate, at once
            self.saved.emit()
            then()

        typed = {
            f.name: value for f in (self.api_key, self.secret_key, self.ngrok_token) if (value := f.value()) is not None
        }  # read on the GUI thread, written off it
        self.ctx.tasks.start(
            "settings-save",
            asyncio.to_thread(self._persist, settings, typed),
            on_done=done,
            on_error=lambda exc: self.ctx.report_error(exc, tr("Settings were not saved")),
            owner=self,
        )

    def _save_clicked(self) -> None:
        self._save(self.accept)

    def _save_and_restart(self) -> None:
        def restart() -> None:
            self.accept()
            self.restartRequested.emit()

        self._save(restart)
