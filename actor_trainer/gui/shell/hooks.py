"""The desktop app's process-wide hooks, installed and removed by `actor_trainer.app`.

- Unexpected errors: `sys.excepthook` (`make_excepthook`), `threading.excepthook`
  (`thread_excepthook`) and the event loop's exception handler (`make_loop_handler`) log them and,
  on the GUI thread, show them in the error dialog, every text scrubbed of secrets.
- Signals: SIGINT/SIGTERM close the app in order (`install_signal_handlers`); the previous
  handlers are saved and put back (`current_signal_handlers`, `restore_signal_handlers`).
- Start-up failures: an unexpected start-up exception becomes one sentence for the user
  (`unexpected_startup_failure`); a failure is shown once the loop has ended (`show_startup_failure`).

Qt is imported only when a hook runs, like the rest of the start-up code.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from actor_trainer import APP_NAME
from actor_trainer.app_logging import FILE_ONLY, LogSetup
from actor_trainer.core.errors import ActorTrainerError

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from actor_trainer.gui.shell.error_dialog import ErrorReporter

# These are the start-up code's log lines: they keep its logger name.
log = logging.getLogger("actor_trainer.app")


# --- signals --------------------------------------------------------------------------------------


def install_signal_handlers(loop: asyncio.AbstractEventLoop, request_quit: Callable[[], None]) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %d: closing", signum)
        loop.call_soon_threadsafe(request_quit)

    for sig in _handled_signals():
        signal.signal(sig, on_signal)


def _handled_signals() -> list[signal.Signals]:
    return [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])


def current_signal_handlers() -> dict[signal.Signals, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in _handled_signals()}


def restore_signal_handlers(saved: dict[signal.Signals, Any]) -> None:
    for sig, handler in saved.items():
        signal.signal(sig, handler)


# --- unexpected errors ----------------------------------------------------------------------------


def make_excepthook(app: QApplication, reporter: ErrorReporter, logs: LogSetup) -> Any:
    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            return
        log.critical("unhandled exception", exc_info=(exc_type, exc, tb))
        from PySide6.QtCore import QThread

        if QThread.currentThread() is app.thread():
            details = logs.scrub("".join(traceback.format_exception(exc_type, exc, tb)))
            reporter.report(_title_for(exc), logs.scrub(f"{exc_type.__name__}: {exc}"), details)

    return hook


def thread_excepthook(hook_args: threading.ExceptHookArgs) -> None:
    if hook_args.exc_type is SystemExit:
        return
    log.error(
        "unhandled exception in thread %s",
        getattr(hook_args.thread, "name", "?"),
        exc_info=(hook_args.exc_type, hook_args.exc_value, hook_args.exc_traceback),  # type: ignore[arg-type]
    )


def make_loop_handler(reporter: ErrorReporter, logs: LogSetup) -> Any:
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message") or "unhandled error in the event loop")
        exc = context.get("exception")
        if not isinstance(exc, BaseException) or isinstance(exc, (asyncio.CancelledError, ConnectionError)):
            # Peers hanging up and similar transport noise: worth a log line, not a dialog.
            log.warning("%s%s", message, f": {exc!r}" if exc is not None else "")
            return
        log.error("%s", message, exc_info=exc)
        details = logs.scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        reporter.report(_title_for(exc), logs.scrub(f"{type(exc).__name__}: {exc}"), details)

    return handler


def _title_for(exc: BaseException) -> str:
    from actor_trainer.gui.i18n import tr

    if isinstance(exc, ActorTrainerError):
        return tr("Something failed")
    return tr("Unexpected error (a bug)")


# --- start-up failures ----------------------------------------------------------------------------


def unexpected_startup_failure(exc: Exception, logs: LogSetup) -> ActorTrainerError:
    """A bug stopped the start-up: the traceback goes to the log file, the user gets a sentence."""
    log.critical("start-up failed", exc_info=exc, extra=FILE_ONLY)
    where = str(logs.file) if logs.file is not None else "stderr"
    return ActorTrainerError(
        f"an unexpected error stopped the start-up ({type(exc).__name__}: {logs.scrub(str(exc))}).",
        f"This is a bug; the details are in {where}.",
    )


def show_startup_failure(exc: ActorTrainerError, app: QApplication) -> None:
    text = f"{APP_NAME} could not start: {exc.message}"
    print(text, file=sys.stderr)
    if exc.hint:
        print(exc.hint, file=sys.stderr)
    log.error("could not start: %s", exc.message, extra=FILE_ONLY)
    if _headless():
        return
    from PySide6.QtWidgets import QMessageBox

    from actor_trainer.gui.i18n import tr

    box = QMessageBox(QMessageBox.Icon.Critical, tr("{app} could not start").format(app=APP_NAME), exc.message)
    box.setInformativeText(exc.hint)
    box.exec()


def _headless() -> bool:
    return os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc")
